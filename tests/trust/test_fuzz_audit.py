"""Bounded fuzz of `hwnas audit` (issues #24, #28), apart from test_fuzz_cli.py so its draws stay as they
were: bad arguments, and damaged copies of what an audit reads back (its checkpoints, its results, its
audit.json, the export's cards) and the run's bad states (untrained, data moved, more networks asked for
than the space holds). The outcome is success, or exit 2 with one line; never a traceback, never a
temporary file left in the run folder."""

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nas.audit import AuditConfig, audit
from tests.trust.test_fuzz_cli import BAD_NUMBERS, BAD_TEXT, COUNTS, damaged, outcome_is_clean

AUDIT = ["--subnets", "2", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module", autouse=True)
def inside_a_scratch_folder(tmp_path_factory):
    """Relative paths drawn by the fuzz land in a scratch folder, not the checkout."""
    import os

    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("scratch-audit"))
    yield
    os.chdir(before)


@pytest.fixture(scope="module")
def audited_run(complete_run, tmp_path_factory):
    """A copy of the trust suite's complete run, audited once (2 networks, 1 epoch)."""
    run, profile, data = complete_run
    copy = tmp_path_factory.mktemp("fuzz-audit") / "run"
    shutil.copytree(run, copy)
    audit(copy, AuditConfig(subnets=2, epochs=1, device="cpu"), progress=False)
    return copy


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_audit_arguments(audited_run, capsys, data):
    numbers = st.sampled_from(BAD_NUMBERS)
    options = {"--subnets": st.sampled_from(BAD_NUMBERS + COUNTS + ["1", "2"]), "--epochs": numbers,
               "--finetune-epochs": numbers, "--seed": numbers, "--nproc": numbers,
               "--device": st.sampled_from(BAD_TEXT + ["cuda:9", "tpu"]), "--dataset": st.sampled_from(BAD_TEXT)}
    argv = ["audit", "--run", str(audited_run), *AUDIT]
    for option in data.draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=2, unique=True)):
        argv += [option, data.draw(options[option])]
    outcome_is_clean(argv, capsys, audited_run)


def audit_files(run):
    """{name: path} of one file of each kind the audit reads back in `run`."""
    folder = sorted((run / "audit").iterdir())[0]
    return {"audit.json": run / "audit.json", "standalone.pt": next(folder.glob("standalone-*.pt")),
            "standalone.json": next(folder.glob("standalone-*.json")),
            "models/index.json": run / "models" / "index.json"}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(["audit.json", "standalone.pt", "standalone.json", "models/index.json"]),
       how=st.sampled_from(["truncate", "flip", "replace", "splice"]), where=st.floats(0, 1),
       junk=st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"{}", b"[]", b"null", b'{"format": 1e999}'])))
def test_damaged_audit_files_are_refused_in_one_line_or_rebuilt(audited_run, capsys, tmp_path_factory, name, how,
                                                                 where, junk):
    copy = tmp_path_factory.mktemp("damaged-audit") / "run"
    shutil.copytree(audited_run, copy)
    files = audit_files(copy)
    target = files[name]
    if name == "standalone.pt":  # the checkpoint is read back only while its training is unfinished
        files["standalone.json"].unlink()
    target.write_bytes(damaged(target.read_bytes(), how, where, junk))
    if outcome_is_clean(["audit", "--run", str(copy), *AUDIT], capsys, copy) == 0:
        report = json.loads((copy / "audit.json").read_text())  # a damaged file never reaches the report
        assert len(report["networks"]) == 2
        assert all(0.0 <= row["standalone_test_accuracy"] <= 1.0 for row in report["networks"])


def refused(argv, capsys, run=None) -> str:
    """The one line of a refused command (exit 2, checked by outcome_is_clean)."""
    from nas.cli import main

    capsys.readouterr()
    code = main(argv)
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1 and "Traceback" not in error, (argv, error)
    if run is not None:
        assert not [p for p in run.rglob("*") if ".tmp" in p.name], argv
    return error


def test_untrained_run_moved_data_and_too_many_networks_are_one_line(audited_run, capsys, tmp_path):
    (tmp_path / "untrained").mkdir()
    assert "does not exist; run `hwnas train" in refused(["audit", "--run", str(tmp_path / "untrained"), *AUDIT],
                                                         capsys)
    assert [path.name for path in (tmp_path / "untrained").iterdir()] in ([], [".lock"])  # the run's lock only
    moved = tmp_path / "moved"
    shutil.copytree(audited_run, moved)
    settings_file = moved / "run.json"
    record = json.loads(settings_file.read_text())
    shutil.copy(record["data"]["path"], tmp_path / "data.npz")
    record["data"]["path"] = str(tmp_path / "data.npz")
    settings_file.write_text(json.dumps(record))
    (tmp_path / "data.npz").unlink()
    listing = {path.relative_to(moved): path.stat().st_mtime_ns for path in moved.rglob("*") if path.name != ".lock"}
    for argv, message in ((["audit", "--run", str(moved), *AUDIT], "is missing (moved or deleted)"),
                          (["audit", "--run", str(moved), "--nproc", "2", *AUDIT], "is missing (moved or deleted)"),
                          (["audit", "--run", str(moved), "--subnets", "100000", "--quiet"], "--subnets must be"),
                          (["audit", "--run", str(moved), "--dataset", str(audited_run / "run.json"), *AUDIT],
                           "run.json")):
        assert message in refused(argv, capsys, moved), argv
    assert {path.relative_to(moved): path.stat().st_mtime_ns for path in moved.rglob("*")
            if path.name != ".lock"} == listing
