"""Bounded fuzz of the CLI (issue #24): bad arguments to every verb, and damaged copies of every file hwnas
reads, each run through the verb that reads it, in-process. The outcome is success, or exit 2 with one
line on stderr; never a traceback, never a temporary file left in the run folder. Runs in `make test`."""

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nas.cli import main

BAD_NUMBERS = ["-1", "0", "nan", "inf", "-inf", "x", "", "1e400", "2.5", "0x10"]
BAD_TEXT = ["", "null", "[]", "{", '{"depth": 99}', "../missing", "/", "\x00"[:0] + "é", "a" * 300]
COUNTS = ["100000", "1000000", "99999999"]  # above the run's space (22,140 networks), and above the cap
FORGED_SHAPES = [(2 ** 40,), (45, 8, 8000), (10 ** 5, 10 ** 5), (0, 8, 8), (45, 8, 8, 1, 1), (-1, 8, 8)]
RUNS = {"count": 0}


def outcome_is_clean(argv, capsys, run=None):
    """Run the CLI; success, or exit 2 with one line on stderr. argparse's own exit counts as a line too."""
    RUNS["count"] += 1
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: usage errors
        code = exit_.code
    out, error = capsys.readouterr()
    assert code in (0, 2), (argv, code, error[-2000:])
    if code == 2:
        lines = [line for line in error.splitlines() if line.strip()]
        assert lines and "Traceback" not in error, (argv, error[-2000:])
        assert lines[-1].startswith("hwnas") and ": error: " in lines[-1], (argv, error[-2000:])
    if run is not None:
        assert not [p for p in run.rglob("*") if ".tmp" in p.name], (argv, list(run.rglob("*")))
    return code


def verb_arguments(run, profile, data):
    """(base argv, {option: values}) for each verb, kept on the tiny run so a valid draw stays cheap."""
    card = next(p for p in (run / "models").glob("*.json") if p.name != "index.json")
    numbers = st.sampled_from(BAD_NUMBERS)
    text = st.sampled_from(BAD_TEXT)
    return {
        "train": (["train", "--run", str(run), "--dataset", str(data), "--profile", str(profile), "--epochs", "1"],
                  {"--batch-size": numbers, "--learning-rate": numbers, "--largest-only-fraction": numbers,
                   "--space-args": text, "--space": text, "--init-from": text, "--seed": numbers}),
        "profile": (["profile", "--run", str(run), "--profile", str(profile)],
                    {"--count": numbers, "--workers": numbers, "--strategy": text, "--space": text,
                     "--space-args": text, "--dataset": text}),
        "fit": (["fit", "--run", str(run)], {"--model": text}),
        "search": (["search", "--run", str(run), "--trials", "1", "--resume"],
                   {"--trials": numbers, "--latency-ms": numbers, "--sampler": text, "--storage": text}),
        "export": (["export", "--run", str(run)], {"--trials": text, "--format": text, "--opset": numbers,
                                                   "--out": text}),
        "extract": (["extract", "--run", str(run), "--out", str(run / "x.pt")],
                    {"--trial": numbers, "--config": st.sampled_from(BAD_TEXT + [str(card)])}),
        "measurements": (["measurements", "--run", str(run)], {"--import": text, "--export": text}),
        "report": (["report", str(run)], {"--storage": text}),
        "spaces": (["spaces"], {"--profile": text}),
        "predictor": (["predictor", "predict", str(run / "predictor.joblib")], {"--table": text, "--out": text}),
    }


@pytest.fixture(scope="module", autouse=True)
def inside_a_scratch_folder(tmp_path_factory):
    """Relative paths drawn by the fuzz ("null", "../missing") land in a scratch folder, not the checkout."""
    import os

    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("scratch") / "")
    (Path.cwd() / "inner").mkdir()
    os.chdir("inner")
    yield
    os.chdir(before)


@pytest.fixture(scope="module")
def fuzz_run(complete_run, tmp_path_factory):
    run, profile, data = complete_run
    copy = tmp_path_factory.mktemp("fuzz") / "run"
    shutil.copytree(run, copy)
    return copy, profile, data


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_arguments_to_every_verb(fuzz_run, capsys, data):
    run, profile, npz = fuzz_run
    verbs = verb_arguments(run, profile, npz)
    base, options = verbs[data.draw(st.sampled_from(sorted(verbs)))]
    chosen = data.draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=2, unique=True))
    argv = list(base)
    for option in chosen:
        argv += [option, data.draw(options[option])]
    if "--export" in argv and "--import" in argv:
        argv = argv[:argv.index("--export")] + argv[argv.index("--export") + 2:]
    outcome_is_clean(argv + ["--quiet"] * (argv[0] not in ("report", "predictor", "measurements")), capsys, run)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_refused_seeds_and_counts(fuzz_run, capsys, data):
    """The checks added after the first fuzz, drawn apart so the 100 draws above stay as they were:
    --seed on the verbs that draw no random numbers, and --count above the run's space or the cap."""
    run, profile, _ = fuzz_run
    seedless = {"export": ["export", "--run", str(run)], "extract": ["extract", "--run", str(run), "--trial", "0",
                                                                  "--out", str(run / "x.pt")],
                "measurements": ["measurements", "--run", str(run), "--export", str(run / "m.csv")],
                "spaces": ["spaces"], "devices": ["devices"], "report": ["report", str(run)]}
    if data.draw(st.booleans()):
        argv = seedless[data.draw(st.sampled_from(sorted(seedless)))] + ["--seed", data.draw(st.sampled_from(
            BAD_NUMBERS + ["3"]))]
    else:
        argv = ["profile", "--run", str(run), "--profile", str(profile), "--quiet", "--count",
                data.draw(st.sampled_from(COUNTS)), "--strategy", data.draw(st.sampled_from(["random", "diverse"]))]
    assert outcome_is_clean(argv, capsys, run) == 2, argv  # each is refused, never run


def damaged(original: bytes, how: str, where: float, junk: bytes) -> bytes:
    cut = int(len(original) * where)
    return {"truncate": original[:cut], "flip": original[:cut] + bytes([original[cut % max(1, len(original))] ^ 0xFF])
            + original[cut + 1:], "replace": junk, "splice": original[:cut] + junk + original[cut:]}[how]


FILES = {  # file in the run (or beside it) -> the argv that reads it
    "run.json": lambda run, profile, data: ["extract", "--run", str(run), "--config", str(card(run)),
                                            "--out", str(run / "x.pt")],
    "supernet.pt": lambda run, profile, data: ["extract", "--run", str(run), "--config", str(card(run)),
                                               "--out", str(run / "x.pt")],
    "front.json": lambda run, profile, data: ["report", str(run)],
    "measurements.db": lambda run, profile, data: ["fit", "--run", str(run), "--quiet"],
    "predictor.joblib": lambda run, profile, data: ["predictor", "predict", str(run / "predictor.joblib"),
                                                    "--table", str(run / "trials.csv"), "--out", str(run / "p.csv")],
    "trials.csv": lambda run, profile, data: ["measurements", "--run", str(run), "--import", str(run / "trials.csv")],
    "models/card": lambda run, profile, data: ["extract", "--run", str(run), "--config", str(card(run)),
                                               "--out", str(run / "x.pt")],
    "profile": lambda run, profile, data: ["spaces", "--profile", str(profile)],
}


def card(run):
    return next(p for p in (run / "models").glob("*.json") if p.name != "index.json")


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FILES)), how=st.sampled_from(["truncate", "flip", "replace", "splice"]),
       where=st.floats(0, 1), junk=st.one_of(st.binary(max_size=64), st.sampled_from(
           [b"", b"{}", b"[]", b"null", b'{"depth": 1e999}', b"\xff\xfe", b"nan", b"- !!python/object:os.system x"])))
def test_damaged_files_are_refused_in_one_line(fuzz_run, capsys, tmp_path_factory, name, how, where, junk):
    run, profile, data = fuzz_run
    work = tmp_path_factory.mktemp("damaged")
    copy, profile_copy = work / "run", work / "profile.yaml"
    shutil.copytree(run, copy)
    shutil.copy(profile, profile_copy)
    target = {"models/card": card(copy), "profile": profile_copy}.get(name, copy / name)
    target.write_bytes(damaged(target.read_bytes(), how, where, junk))
    outcome_is_clean(FILES[name](copy, profile_copy, data), capsys, copy)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(how=st.sampled_from(["truncate", "flip", "replace", "splice", "header"]), where=st.floats(0, 1),
       junk=st.binary(max_size=64), shape=st.sampled_from(FORGED_SHAPES))
def test_damaged_npz_is_refused_in_one_line(complete_run, capsys, tmp_path_factory, how, where, junk, shape):
    _, profile, data = complete_run
    work = tmp_path_factory.mktemp("npz")
    path = work / "data.npz"
    if how == "header":  # the images' .npy header claims another shape (numpy would allocate it first)
        forged_header(data, path, shape)
    else:
        path.write_bytes(damaged(data.read_bytes(), how, where, junk))
    outcome_is_clean(["train", "--run", str(work / "run"), "--dataset", str(path), "--profile", str(profile),
                      "--epochs", "1", "--batch-size", "64", "--quiet"], capsys, work)


def forged_header(original, path, shape):
    """A copy of the .npz `original` whose x.npy header says `shape` (its data unchanged)."""
    import io
    import zipfile

    import numpy as np

    with zipfile.ZipFile(original) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    stream = io.BytesIO(members["x.npy"])
    np.lib.format.read_magic(stream)  # numpy writes small arrays in format 1.0
    _, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                  "fortran_order": fortran, "shape": shape})
    members["x.npy"] = header.getvalue() + stream.read()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_zz_fuzz_counts(capsys):
    print(f"fuzz inputs run: {RUNS['count']}")
    assert RUNS["count"] == 0 or RUNS["count"] >= 100
