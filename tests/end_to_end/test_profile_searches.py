"""One run searched on two hardware profiles (x86-cpu-ort, the run's own, and x86-cpu-ort-2t): each search keeps
its own predictor, study and front (the own profile at the run's top, the other under profiles/NAME/), and
`hwnas export --profiles A,B` bundles the union of both fronts, every network timed on both, so that
`select(profile=B)` chooses among B's own front. Bad input is one line, exit 2, nothing written."""

import json
import shutil

import pytest

from nas.cli import main
from nas.errors import HwnasError
from nas.run_folder import RunFolder

pytestmark = pytest.mark.slow
OWN, OTHER = "x86-cpu-ort", "x86-cpu-ort-2t"


def test_profile_files_keep_the_own_profile_at_the_top_and_others_apart(tmp_path):
    run = RunFolder(tmp_path)
    run.update_settings(profile=OWN)
    assert run.profile_files().path == tmp_path and run.profile_files(OWN).own
    other = run.profile_files(OTHER)
    assert other.path == tmp_path / "profiles" / OTHER and not other.own and other.front.name == "front.json"
    assert run.searched_profiles() == []
    with pytest.raises(HwnasError, match="cannot name a folder of the run"):
        run.profile_files("../elsewhere")


def test_a_run_searched_on_two_profiles_exports_the_union_of_their_fronts(trained_digits_run, tmp_path, capsys,
                                                                         caplog):
    from nas.export.elastic import ElasticModel

    run = tmp_path / "run"
    shutil.copytree(trained_digits_run, run)
    search = ["search", "--run", str(run), "--trials", "4", "--sampler", "random", "--quiet"]
    assert main(search) == 0
    assert main(["profile", "--run", str(run), "--profile", OTHER, "--count", "8", "--quiet"]) == 0
    assert main(["fit", "--run", str(run), "--profile", OTHER, "--model", "ridge", "--quiet"]) == 0
    assert main([*search, "--profile", OTHER, "--seed", "1"]) == 0
    settings = json.loads((run / "run.json").read_text())
    assert settings["profile"] == OWN and settings["search"]["seed"] == 0  # the other search left them alone
    other = run / "profiles" / OTHER
    for name in ("front.json", "study.db", "trials.csv", "pareto.csv", "pareto.png", "predictor.joblib",
                 "predictor.json", "search.json"):
        assert (other / name).exists(), name
    assert not (run / "predictor.joblib").exists()  # fitted on the other profile only
    assert json.loads((other / "predictor.json").read_text())["profile"] == OTHER
    assert json.loads((other / "search.json").read_text())["search"]["seed"] == 1
    assert RunFolder(run).searched_profiles() == [OWN, OTHER]
    fronts = {OWN: json.loads((run / "front.json").read_text()), OTHER: json.loads((other / "front.json").read_text())}

    # a listed profile never searched adds no front (its latencies would cover the others'), and says so
    from hw_profiles import load_profile
    from nas.export.profiles import searched_fronts

    entries = searched_fronts(RunFolder(run), [load_profile("x86-cpu-ort-4t"), load_profile(OTHER)], OWN)
    assert {json.dumps(e["config"], sort_keys=True) for e in entries} == {
        json.dumps(e["config"], sort_keys=True) for front in fronts.values() for e in front}
    assert all("x86-cpu-ort-4t" not in entry["fronts"] for entry in entries)
    assert "x86-cpu-ort-4t was never searched in this run" in caplog.text

    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()  # the warnings above (a busy machine, the unsearched profile) are not the errors' output
    for arguments, message in [
            (["export", "--run", str(run), "--profiles", "no-such-profile"], "no-such-profile"),
            (["search", "--run", str(run), "--profile", "no-such-profile", "--trials", "1"], "no-such-profile")]:
        assert main([*arguments, "--quiet"]) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written (no models/)

    assert main(["export", "--run", str(run), "--format", "onnx,elastic", "--profiles", f"{OWN},{OTHER}",
                 "--quiet"]) == 0
    cards = {card["config_id"]: card for card in json.loads((run / "models" / "index.json").read_text())}
    searched = {name: {entry["config_id"] for entry in front} for name, front in fronts.items()}
    assert set(cards) == searched[OWN] | searched[OTHER]
    for config_id, card in cards.items():
        assert set(card["latencies"]) == {OWN, OTHER}
        assert set(card["fronts"]) == {name for name in fronts if config_id in searched[name]}
    for entry in fronts[OTHER]:  # measured on the other profile in its search: recorded as such
        assert cards[entry["config_id"]]["fronts"][OTHER]["latency_ms"] == entry["latency_ms"]

    model = ElasticModel.load(run / "models" / "elastic.pt")
    assert model.profiles == [OWN, OTHER] and set(model.dispatch_table()) == {OWN, OTHER}
    for variant in model.variants:
        if variant.name in searched[OTHER]:  # B's own front: in the bundle, chosen on B at its latency there
            on_other = variant.latencies[OTHER]["latency_ms"]
            assert model.select(latency_ms=on_other, profile=OTHER).accuracy >= variant.accuracy
