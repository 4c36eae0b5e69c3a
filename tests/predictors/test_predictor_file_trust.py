"""A predictor file never runs code (issue #24): its metadata is plain JSON, its estimator is loaded by
skops with an explicit list of trusted types, anything else is refused in one line naming the type, and
files in the old pickle format are refused unread with a line saying how to refit."""

import json
import os
import pickle
import subprocess
import sys
import zipfile

import joblib
import numpy as np
import pytest
import skops.io

from predictors import PredictorError, create_predictor, load_predictor, save_predictor
from predictors.artifact import ESTIMATOR_MEMBER, METADATA_MEMBER, read_predictor_metadata
from search_spaces import create_space


class Payload:
    """Unpickling this creates `marker`: the stand-in for an attacker's code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def nb201_table(tmp_path_factory):
    space = create_space("nb201")
    folder = tmp_path_factory.mktemp("table")
    rows = [space.to_arch_str(space.sample(seed)) for seed in range(30)]
    table = folder / "table.csv"
    table.write_text("arch_str,cpu\n" + "".join(
        f"{arch},{1 + space.cost_features(space.from_arch_str(arch))['computed_macs'] / 1e8:.4f}\n" for arch in rows))
    return space, rows, table


@pytest.fixture(scope="module")
def fitted(nb201_table):
    space, rows, _ = nb201_table
    configs = [space.from_arch_str(arch) for arch in rows]
    latency = np.array([1 + space.cost_features(c)["computed_macs"] / 1e8 for c in configs])
    return create_predictor("ridge", space=space).fit(configs, latency)


def predict_through_the_cli(path, table, out):
    return subprocess.run([sys.executable, "-m", "nas.cli", "predictor", "predict", str(path), "--table", str(table),
                           "--out", str(out)], capture_output=True, text=True)


def test_a_payload_in_an_old_pickle_file_never_runs(fitted, nb201_table, tmp_path):
    """The issue's attack: a format-2 joblib file whose metadata holds a __reduce__ payload."""
    _, _, table = nb201_table
    marker = tmp_path / "payload-ran"
    record = {"format": 2, "space": {"name": "nb201", "arguments": {}},
              "metadata": {"predictor": "ridge", "payload": Payload(marker),
                           "versions": {"format": 2, "scikit-learn": __import__("sklearn").__version__}},
              "predictor_pickle": pickle.dumps(fitted)}
    joblib.dump(record, tmp_path / "old.joblib")
    result = predict_through_the_cli(tmp_path / "old.joblib", table, tmp_path / "out.csv")
    assert not marker.exists(), "the payload ran"
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "old pickle format" in result.stderr and "refit" in result.stderr
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(PredictorError, match="old pickle format"):
        read_predictor_metadata(tmp_path / "old.joblib")
    assert not marker.exists()


def test_the_metadata_is_plain_json_and_reads_without_the_estimator(fitted, tmp_path):
    path = save_predictor(fitted, tmp_path / "p.joblib", {"profile": "x86-cpu-ort", "mape": np.float64(0.25)})
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == {METADATA_MEMBER, ESTIMATOR_MEMBER}
        header = json.loads(archive.read(METADATA_MEMBER))
    assert header["metadata"]["profile"] == "x86-cpu-ort" and header["metadata"]["mape"] == 0.25
    assert header["space"] == {"name": "nb201", "arguments": {}}
    _rewrite(path, estimator=b"not a skops file at all")  # the estimator is never touched to read metadata
    assert read_predictor_metadata(path)["predictor"] == "ridge"
    with pytest.raises(PredictorError, match="checksum") as error:
        load_predictor(path)
    assert "\n" not in str(error.value)


def test_an_untrusted_type_in_the_estimator_is_refused_naming_it(fitted, tmp_path):
    path = save_predictor(fitted, tmp_path / "p.joblib", {})
    smuggled = fitted.__class__(space=fitted.space).set_params(alpha=fitted.alpha)
    smuggled.__dict__.update(fitted.__dict__)
    smuggled.extra_ = os.system  # what an attacker would call
    _rewrite(path, estimator=skops.io.dumps(smuggled), fix_checksum=True)
    with pytest.raises(PredictorError, match=r"untrusted type '(posix|nt)\.system'") as error:
        load_predictor(path)
    assert "\n" not in str(error.value)


def test_the_cli_refuses_an_untrusted_type_in_one_line(fitted, nb201_table, tmp_path):
    _, _, table = nb201_table
    path = save_predictor(fitted, tmp_path / "p.joblib", {})
    _rewrite(path, estimator=skops.io.dumps({"estimator": fitted, "extra": os.system}), fix_checksum=True)
    result = predict_through_the_cli(path, table, tmp_path / "out.csv")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "untrusted type" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_saved_predictor_round_trips_through_the_cli(fitted, nb201_table, tmp_path):
    space, rows, table = nb201_table
    path = save_predictor(fitted, tmp_path / "p.joblib", {})
    result = predict_through_the_cli(path, table, tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    loaded, _ = load_predictor(path)
    configs = [space.from_arch_str(arch) for arch in rows]
    np.testing.assert_array_equal(loaded.predict(configs), fitted.predict(configs))


def test_an_oversized_member_is_refused_before_it_is_read(fitted, tmp_path):
    path = save_predictor(fitted, tmp_path / "p.joblib", {})
    _rewrite(path, metadata=b"{" + b" " * (2 << 20) + b"}")
    with pytest.raises(PredictorError, match="metadata.json.*larger than"):
        read_predictor_metadata(path)


def _rewrite(path, estimator=None, metadata=None, fix_checksum=False):
    """Replace the estimator or metadata member of a predictor file, as an attacker or a bad disk would."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if estimator is not None:
        members[ESTIMATOR_MEMBER] = estimator
        if fix_checksum:
            import hashlib

            header = json.loads(members[METADATA_MEMBER])
            header["estimator_sha256"] = hashlib.sha256(estimator).hexdigest()
            members[METADATA_MEMBER] = json.dumps(header).encode()
    if metadata is not None:
        members[METADATA_MEMBER] = metadata
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
