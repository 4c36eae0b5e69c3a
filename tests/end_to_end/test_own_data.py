"""Bringing one's own data: an .npz file and an image folder through every verb of the CLI, and a run that
remembers its data (run.json: path, content digest, preprocessing), moved or changed afterwards; `hwnas
predict` on each run's own test files reaches exactly its card's accuracy."""

import json
import shutil

import numpy as np
import pytest

from nas.cli import main
from nas.data import split_indices
from nas.data.folder import list_folder

pytestmark = pytest.mark.slow

SMALL_VIT = json.dumps({"depth_choices": [1, 2], "embed_dim_choices": [32, 48], "num_heads_choices": [1, 2],
                        "mlp_ratio_choices": [1.0, 2.0]})


def run_every_verb(run, dataset, profile, *train_extra):
    """train -> profile -> fit -> search -> export -> extract through the CLI; the exported cards."""
    steps = [
        ["train", "--run", run, "--dataset", dataset, "--profile", profile, "--space-args", SMALL_VIT,
         "--epochs", "1", "--batch-size", "64", *train_extra],
        ["profile", "--run", run, "--profile", profile, "--count", "8"],
        ["fit", "--run", run, "--model", "ridge"],
        ["search", "--run", run, "--trials", "6", "--sampler", "random"],
        ["export", "--run", run],
        ["extract", "--run", run, "--trial", "0", "--out", f"{run}/subnet.pt"],
    ]
    for step in steps:
        assert main([*step, "--quiet"]) == 0, step
    return json.loads(open(f"{run}/models/index.json").read())


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory, fast_profile, digits):
    folder = tmp_path_factory.mktemp("npz")
    images = np.concatenate([digits.x_train, digits.x_val, digits.x_test])[:, 0]
    labels = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    np.savez(folder / "mine.npz", x=images, y=labels)
    run = folder / "run"
    cards = run_every_verb(str(run), str(folder / "mine.npz"), fast_profile)
    return folder, run, cards


def test_an_npz_run_is_reopened_by_every_verb(npz_run):
    folder, run, cards = npz_run
    assert cards and all(card["verified"] for card in cards)
    record = json.loads((run / "run.json").read_text())["data"]
    assert record["kind"] == "file" and record["path"] == str((folder / "mine.npz").resolve())
    assert record["digest"].startswith("sha256:") and record["image_size"] == 8 and record["channels"] == 1
    assert (run / "subnet.pt").is_file()


def _accuracy_of_predict(capsys, model, inputs, labels, out):
    """The top-1 accuracy of `hwnas predict MODEL INPUTS...` (through the CLI) against `labels`."""
    assert main(["predict", str(model), *map(str, inputs), "--out", str(out)]) == 0
    capsys.readouterr()
    chosen = [result["predictions"][0]["label"] for result in json.loads(out.read_text())]
    return float((np.array(chosen) == labels).mean())


def test_predict_on_the_npz_runs_test_rows_gives_the_cards_accuracy_and_refuses_image_files(npz_run, capsys,
                                                                                           write_digits, digits):
    folder, run, cards = npz_run
    with np.load(folder / "mine.npz") as archive:
        images, labels = archive["x"], archive["y"]
    _, _, test = split_indices(labels)
    np.savez(folder / "test-rows.npz", x=images[test])  # the data set's layout, raw values as stored
    for card in cards:
        accuracy = _accuracy_of_predict(capsys, run / "models" / card["file"], [folder / "test-rows.npz"], labels[test],
                                        folder / "p.json")
        assert accuracy == card["test_accuracy_onnxruntime"], card["file"]
    png = next(write_digits(folder / "pngs", digits, count=1).rglob("*.png"))
    assert main(["predict", str(run / "models" / cards[0]["file"]), str(png)]) == 2
    error = capsys.readouterr().err
    assert "raw values of an .npz" in error and len(error.strip().splitlines()) == 1


def test_a_moved_npz_is_accepted_with_the_same_digest_and_a_changed_one_refused(npz_run, capsys):
    folder, run, _ = npz_run
    moved = folder / "elsewhere" / "renamed.npz"
    moved.parent.mkdir()
    shutil.move(folder / "mine.npz", moved)
    before = (run / "run.json").read_text()
    assert main(["fit", "--run", str(run), "--model", "ridge", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "is missing (moved or deleted); give --dataset NEW_PATH" in error and len(error.strip().splitlines()) == 1
    assert (run / "run.json").read_text() == before
    changed = folder / "changed.npz"
    with np.load(moved) as archive:
        np.savez(changed, x=archive["x"][::-1], y=archive["y"][::-1])
    predictor = (run / "predictor.json").read_bytes()
    assert main(["fit", "--run", str(run), "--model", "ridge", "--dataset", str(changed), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"--dataset {str(changed)!r} is not the run's data set" in error and len(error.strip().splitlines()) == 1
    assert (run / "run.json").read_text() == before and (run / "predictor.json").read_bytes() == predictor
    assert main(["extract", "--run", str(run), "--trial", "1", "--out", str(folder / "s.pt"),
                 "--dataset", str(moved)]) == 0
    assert json.loads((run / "run.json").read_text())["data"]["path"] == str(moved.resolve())
    assert main(["search", "--run", str(run), "--trials", "6", "--sampler", "random", "--resume", "--quiet"]) == 0
    np.savez(moved, x=np.zeros((30, 8, 8)), y=np.repeat(np.arange(3), 10))  # changed in place
    assert main(["export", "--run", str(run), "--out", str(folder / "x"), "--quiet"]) == 2
    assert "changed after the run recorded it" in capsys.readouterr().err
    assert not (folder / "x").exists()


def test_an_image_folder_trains_searches_and_exports_with_onnx_runtime_equal_to_torch(tmp_path, fast_profile, digits,
                                                                                        write_digits, monkeypatch,
                                                                                        capsys):
    root = write_digits(tmp_path / "digits-folder", digits, count=400)  # PNGs, 8 and 16 pixels, RGB and grayscale
    monkeypatch.setenv("HWNAS_IMAGE_CACHE_MB", "0")  # the lazy path of large folders: every verb decodes per item
    run = tmp_path / "run"
    cards = run_every_verb(str(run), str(root), fast_profile, "--image-size", "8")
    assert cards
    for card in cards:
        assert card["verified"] and card["test_accuracy_onnxruntime"] == card["test_accuracy_torch"], card
    record = json.loads((run / "run.json").read_text())["data"]
    assert record["kind"] == "folder" and (record["image_size"], record["channels"]) == (8, 3)
    assert record["class_names"] == [f"digit-{label}" for label in range(10)] and len(record["mean"]) == 3
    # the folder's own test files, by the folder's split, give exactly the card's ONNX Runtime accuracy
    listing = list_folder(root)
    _, _, test = split_indices(listing.labels)
    for card in cards:
        accuracy = _accuracy_of_predict(capsys, run / "models" / card["file"], [listing.files[i] for i in test],
                                        listing.labels[test], tmp_path / "p.json")
        assert accuracy == card["test_accuracy_onnxruntime"], card["file"]
    shutil.move(root, tmp_path / "moved")  # a moved folder is found again by its digest
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "again"), "--dataset",
                 str(tmp_path / "moved"), "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "index.json").read_text())
    assert [card["test_accuracy_torch"] for card in again] == [card["test_accuracy_torch"] for card in cards]
