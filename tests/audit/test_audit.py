"""`hwnas audit` on a tiny real run (digits as an .npz, a six-network ViT space, one epoch): which networks it
picks, that its numbers come from the networks it trained, that a killed audit resumes without training a
finished network again, and the one-line refusals."""

import json
import shutil

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from nas.audit import AuditConfig, audit
from nas.cli import main

pytestmark = pytest.mark.slow

# 2 networks of depth 1 and 4 of depth 2: six in all
SIX_NETWORKS = json.dumps({"depth_choices": [1, 2], "embed_dim_choices": [48], "num_heads_choices": [1],
                           "mlp_ratio_choices": [1.0, 2.0]})


@pytest.fixture(scope="module")
def searched_run(tmp_path_factory, digits, fast_profile):
    """(folder, run, data file): trained one epoch, searched (six trials), its front exported."""
    folder = tmp_path_factory.mktemp("audit")
    images = np.concatenate([digits.x_train, digits.x_val, digits.x_test])[:, 0]
    labels = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    np.savez(folder / "digits.npz", x=images, y=labels)
    run, profile = str(folder / "run"), fast_profile
    for step in (["train", "--run", run, "--dataset", str(folder / "digits.npz"), "--profile", profile,
                  "--space-args", SIX_NETWORKS, "--epochs", "1", "--batch-size", "64"],
                 ["search", "--run", run, "--trials", "6", "--sampler", "random"],
                 ["export", "--run", run]):
        assert main([*step, "--quiet"]) == 0, step
    return folder, folder / "run", folder / "digits.npz"


@pytest.fixture(scope="module")
def audited(searched_run):
    """The audit killed after its first network (a KeyboardInterrupt, as Ctrl-C raises), then run again
    through the CLI: (run, the first network's id, its files' mtimes before, the networks trained again)."""
    import nas.training.standalone as standalone

    _, run, _ = searched_run
    finished = []

    def stop_after_the_first(row):
        finished.append(row["config_id"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit(run, AuditConfig(subnets=3, epochs=1), progress=False, on_network=stop_after_the_first)
    assert not (run / "audit.json").exists()
    first = finished[0]
    before = {path.name: path.stat().st_mtime_ns for path in (run / "audit" / first).iterdir()}
    trained, train_network = [], standalone.train_network

    def counting(config, *arguments, **keywords):
        trained.append(keywords.get("identity", arguments[1] if len(arguments) > 1 else {}).get("config_id"))
        recipes.append(arguments[4] if len(arguments) > 4 else keywords["recipe"])
        return train_network(config, *arguments, **keywords)

    import torch

    recipes, threads = [], torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(standalone, "train_network", counting)
        try:
            assert main(["audit", "--run", str(run), "--subnets", "3", "--epochs", "1", "--threads", "1",
                         "--quiet"]) == 0
        finally:
            torch.set_num_threads(threads)
    assert recipes and all(recipe.threads == 1 for recipe in recipes)  # --threads reaches every training
    return run, first, before, trained


def checkpoint_accuracy(space, data, config, checkpoint):
    """Test accuracy of the network a stand-alone checkpoint holds, evaluated here from its weights."""
    import torch

    from nas.models.checkpoint import load_checkpoint
    from nas.models.evaluate import accuracy, predict_logits

    network = space.build_network(config)
    network.load_state_dict({key.removeprefix("network."): value
                             for key, value in load_checkpoint(checkpoint)["model"].items()})
    with torch.no_grad():
        return accuracy(predict_logits(network.eval(), data.x_test), data.y_test)


def test_a_killed_audit_resumes_without_training_a_finished_network_again(audited):
    run, first, before, trained = audited
    report = json.loads((run / "audit.json").read_text())
    ids = [row["config_id"] for row in report["networks"]]
    assert len(set(ids)) == 3 and ids[0] == first
    assert first not in trained and sorted(trained) == sorted(ids[1:])
    assert {path.name: path.stat().st_mtime_ns for path in (run / "audit" / first).iterdir()} == before


def test_the_numbers_come_from_the_networks_it_trained(audited):
    from nas.models.checkpoint import open_run
    from nas.models.evaluate import subnet_accuracy
    from nas.run_folder import RunFolder

    run = audited[0]
    report = json.loads((run / "audit.json").read_text())
    rows = report["networks"]
    space, supernet, data = open_run(RunFolder(run))
    for row in rows:  # stand-alone: the checkpoint it trained; inherited: the supernet's weights
        (checkpoint,) = (run / "audit" / row["config_id"]).glob("standalone-*.pt")
        assert checkpoint_accuracy(space, data, row["config"], checkpoint) == row["standalone_test_accuracy"]
        assert subnet_accuracy(space, supernet, row["config"], data.x_test, data.y_test, data.x_train) == \
            pytest.approx(row["inherited_test_accuracy"])
    inherited = [row["inherited_test_accuracy"] for row in rows]
    standalone = [row["standalone_test_accuracy"] for row in rows]
    summary = report["summary"]
    if len(set(inherited)) > 1 and len(set(standalone)) > 1:
        assert summary["kendall_tau"] == pytest.approx(kendalltau(inherited, standalone).statistic)
        assert summary["spearman"] == pytest.approx(spearmanr(inherited, standalone).statistic)
    else:
        assert summary["kendall_tau"] is None
    gaps = 100 * (np.array(inherited) - np.array(standalone))
    assert summary["mean_gap_points"] == pytest.approx(gaps.mean())
    assert summary["largest_abs_gap_points"] == pytest.approx(np.abs(gaps).max())
    front_ids = {entry["config_id"] for entry in json.loads((run / "front.json").read_text())}
    assert [row["on_front"] for row in rows] == [row["config_id"] in front_ids for row in rows]
    front = [row for row in rows if row["on_front"]]
    assert front == rows[:len(front)] and len(front) == min(3, len(front_ids))  # the front first
    pairs = [(a, b) for i, a in enumerate(front) for b in front[i + 1:]]
    same = [np.sign(a["inherited_test_accuracy"] - b["inherited_test_accuracy"]) ==
            np.sign(a["standalone_test_accuracy"] - b["standalone_test_accuracy"]) for a, b in pairs]
    assert summary["front"]["pairs"] == len(pairs)
    assert summary["front"]["same_order_share"] == (pytest.approx(np.mean(same)) if pairs else None)
    assert (run / "report" / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_exported_cards_carry_the_audit_and_a_finished_audit_trains_nothing(audited, capsys):
    run = audited[0]
    report = json.loads((run / "audit.json").read_text())
    exported = {card["config_id"] for card in json.loads((run / "models" / "index.json").read_text())}
    for row in report["networks"]:
        if row["config_id"] in exported:
            card = json.loads((run / "models" / f"{row['config_id']}.json").read_text())
            assert card["audit"]["standalone_test_accuracy"] == row["standalone_test_accuracy"]
            assert "Audit (`hwnas audit`)" in (run / "models" / f"{row['config_id']}.md").read_text()
    checkpoints = {path: path.stat().st_mtime_ns for path in (run / "audit").rglob("*.pt")}
    capsys.readouterr()
    assert main(["audit", "--run", str(run), "--subnets", "3", "--epochs", "1", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["networks"] == report["networks"]
    assert {path: path.stat().st_mtime_ns for path in (run / "audit").rglob("*.pt")} == checkpoints


def test_the_spread_networks_are_reproducible_from_the_seed(digits):
    from nas.audit.selection import select_networks
    from search_spaces import create_space

    space = create_space("vit", **digits.space_arguments())
    chosen = select_networks(space, [], 5, seed=3)
    assert chosen == select_networks(space, [], 5, seed=3)
    assert [row["config"] for row in chosen[:2]] == [space.largest(), space.smallest()]
    assert len({row["config_id"] for row in chosen}) == 5 and not any(row["on_front"] for row in chosen)


def test_bad_input_is_one_line_and_writes_nothing(searched_run, tmp_path, capsys):
    folder, run, data = searched_run
    (tmp_path / "untrained").mkdir()
    cases = [
        (["--run", str(run), "--subnets", "7"], "holds only 6 distinct networks; ask for at most 6"),
        (["--run", str(run), "--subnets", "1"], "--subnets must be an integer from 2 to 1000"),
        (["--run", str(run), "--epochs", "0"], "--epochs must be a positive integer"),
        (["--run", str(run), "--finetune-epochs", "-1"], "--finetune-epochs must be 0 or a positive integer"),
        (["--run", str(run), "--threads", "-1"], "--threads must be 0 or a positive integer"),
        (["--run", str(run), "--repeats", "0"], "--repeats must be an integer from 1 to 10"),
        (["--run", str(run), "--repeats", "11"], "--repeats must be an integer from 1 to 10"),
        (["--run", str(tmp_path / "untrained")], "supernet.pt does not exist; run `hwnas train"),
    ]
    listing = sorted(path.relative_to(run) for path in run.rglob("*"))

    def refused(arguments, message):
        capsys.readouterr()
        assert main(["audit", *arguments, "--quiet"]) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, (arguments, error)

    for arguments, message in cases:
        refused(arguments, message)
    moved = folder / "moved.npz"
    shutil.move(data, moved)
    try:
        refused(["--run", str(run), "--subnets", "2"], "is missing (moved or deleted); give --dataset NEW_PATH")
    finally:
        shutil.move(moved, data)
    assert sorted(path.relative_to(run) for path in run.rglob("*")) == listing


def test_fine_tuning_starts_from_the_inherited_weights_and_reuses_the_stand_alone_trainings(audited):
    from nas.models.checkpoint import load_checkpoint

    run = audited[0]
    before = {path: path.stat().st_mtime_ns for path in (run / "audit").rglob("standalone-*")}
    assert main(["audit", "--run", str(run), "--subnets", "2", "--epochs", "1", "--finetune-epochs", "1",
                 "--quiet"]) == 0
    assert {path: path.stat().st_mtime_ns for path in before} == before  # no stand-alone training again
    report = json.loads((run / "audit.json").read_text())
    rows = report["networks"]
    for row in rows:
        folder = run / "audit" / row["config_id"]
        (tuned,) = folder.glob("finetune-*.pt")
        (scratch,) = folder.glob("standalone-*.pt")
        # the first epoch of fine-tuning starts where the supernet left the network, far above fresh weights
        assert load_checkpoint(tuned)["history"][0]["train_accuracy"] > \
            load_checkpoint(scratch)["history"][0]["train_accuracy"]
    tuned = report["summary"]["finetuned"]
    truth = [row["standalone_test_accuracy"] for row in rows]
    after = np.mean([abs(100 * (row["finetuned_test_accuracy"] - row["standalone_test_accuracy"])) for row in rows])
    before_gap = np.mean([abs(row["gap_points"]) for row in rows])
    assert tuned["mean_abs_gap_points"] == pytest.approx(after)
    assert tuned["inherited_mean_abs_gap_points"] == pytest.approx(before_gap)
    assert tuned["closes_gap"] == (after < before_gap) and len(truth) == tuned["networks"] == 2


def test_repeats_train_more_seeds_reuse_the_first_and_compare_with_their_mean(audited, tmp_path, capsys):
    """--repeats 2 on an audited run: the seed-0 trainings are reused, each network is trained once more
    with seed 1, and the row's stand-alone accuracy is the mean of the two networks' test accuracies."""
    import nas.training.standalone as standalone
    from nas.models.checkpoint import open_run
    from nas.run_folder import RunFolder

    run = tmp_path / "run"
    shutil.copytree(audited[0], run)
    single = {row["config_id"]: row for row in json.loads((run / "audit.json").read_text())["networks"]}
    seeds, train_network = [], standalone.train_network

    def counting(config, *arguments, **keywords):
        seeds.append((arguments[4] if len(arguments) > 4 else keywords["recipe"]).seed)
        return train_network(config, *arguments, **keywords)

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(standalone, "train_network", counting)
        assert main(["audit", "--run", str(run), "--subnets", "2", "--epochs", "1", "--repeats", "2"]) == 0
    assert seeds == [1, 1]  # one new training a network; seed 0's were found
    assert "stand-alone over 2 seeds" in capsys.readouterr().out
    report = json.loads((run / "audit.json").read_text())
    space, _, data = open_run(RunFolder(run))
    for row in report["networks"]:
        tests = row["standalone_test_accuracies"]
        assert row["standalone_seeds"] == [0, 1] and tests[0] == single[row["config_id"]]["standalone_test_accuracy"]
        measured = [checkpoint_accuracy(space, data, row["config"], checkpoint)
                    for checkpoint in (run / "audit" / row["config_id"]).glob("standalone-*.pt")]
        assert sorted(measured) == sorted(tests)  # each accuracy is one of the networks it trained
        assert row["standalone_test_accuracy"] == pytest.approx(np.mean(tests))
        assert row["standalone_sd_points"] == pytest.approx(100 * np.std(tests, ddof=1))
        assert row["gap_points"] == pytest.approx(100 * (row["inherited_test_accuracy"] - np.mean(tests)))
    noise = report["summary"]["standalone_noise"]
    spreads = [100 * np.std(row["standalone_test_accuracies"], ddof=1) for row in report["networks"]]
    assert report["repeats"] == noise["repeats"] == 2
    assert noise["sd_points"] == pytest.approx(np.sqrt(np.mean(np.square(spreads))))
