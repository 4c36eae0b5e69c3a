"""Flags that were silently ignored or meant something else now say so (issue #24, defect 9)."""

import pytest

from nas.cli import main


def test_space_args_null_is_refused_not_read_as_no_arguments(tmp_path, capsys):
    code = main(["train", "--run", str(tmp_path / "run"), "--dataset", "digits", "--space-args", "null", "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0
    assert "--space-args must be a JSON object of name: value, got null" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"vit"'])
def test_space_args_must_be_an_object(tmp_path, capsys, text):
    assert main(["train", "--run", str(tmp_path / "run"), "--dataset", "digits", "--space-args", text,
                 "--quiet"]) == 2
    assert "--space-args must be a JSON object" in capsys.readouterr().err


def test_bundle_onnx_without_the_elastic_format_is_refused_before_anything_is_written(tmp_path, capsys):
    """It used to be ignored: the user asked for ONNX files inside a bundle that was never written."""
    run = tmp_path / "run"
    code = main(["export", "--run", str(run), "--format", "onnx", "--bundle-onnx", "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "--bundle-onnx stores each ONNX file inside the elastic bundle" in error
    assert not run.exists()


def argparse_outcome(argv, capsys):
    """(exit code, stderr) of an argv that argparse itself refuses or answers."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv", [["spaces"], ["devices"], ["export", "--run", "missing"],
                                  ["extract", "--run", "missing", "--trial", "0", "--out", "x.pt"],
                                  ["measurements", "--run", "missing", "--export", "x.csv"]])
def test_seed_is_refused_by_verbs_that_draw_no_random_numbers(argv, capsys, tmp_path, monkeypatch):
    """It used to be accepted and ignored: `hwnas spaces --seed 3` exited 0 as if the seed meant something."""
    monkeypatch.chdir(tmp_path)
    code, error = argparse_outcome(argv + ["--seed", "3"], capsys)
    assert code == 2 and error.count("\n") == 1 and "unrecognized arguments: --seed 3" in error
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.pt").exists()


def test_seed_is_offered_exactly_where_it_is_used():
    """demo, train, profile, fit, search and audit pass it on (training, sampling, the held-out split, the
    sampler, the audited networks); the predictor and bench actions pass it to their fits and searches."""
    from nas.cli import build_parser

    def seeded(parser, prefix=""):
        found = set()
        for action in parser._actions:
            if "--seed" in action.option_strings:
                found.add(prefix.strip())
            for name, sub in (getattr(action, "choices", None) or {}).items() if action.nargs == "A..." else ():
                found |= seeded(sub, f"{prefix} {name}")
        return found

    assert seeded(build_parser()) == {"demo", "train", "profile", "fit", "search", "audit", "predictor evaluate",
                                      "predictor fit", "bench search"}


@pytest.mark.parametrize("argv, says", [
    (["train"], "the following arguments are required: --run"),
    (["profile", "--run", "r", "--count", "many"], "argument --count: invalid int value: 'many'"),
    (["no-such-verb"], "invalid choice: 'no-such-verb'"),
    (["predictor", "fit", "--space", "nb201"], "the following arguments are required: --table"),
    (["search", "--run", "r", "--sampler", "best"], "argument --sampler: invalid choice: 'best'"),
])
def test_every_argparse_error_is_one_line_with_exit_2(argv, says, capsys):
    """argparse printed its usage and then the error: two lines (more for a verb with many options)."""
    code, error = argparse_outcome(argv, capsys)
    assert code == 2 and error.count("\n") == 1 and says in error, error
    assert error.startswith("hwnas") and ": error: " in error and "usage:" not in error


def test_help_still_prints_the_usage(capsys):
    code = None
    try:
        main(["profile", "--help"])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("usage: hwnas profile") and "--count" in out and "--seed" in out


TINY_VIT = ('{"depth_choices": [1, 2], "embed_dim_choices": [48], "num_heads_choices": [1, 2], '
            '"mlp_ratio_choices": [1.0, 2.0], "precisions": ["fp32"]}')


@pytest.mark.parametrize("count, says", [
    ("10000", "--count 10000: space 'vit' holds only 20 distinct networks; ask for at most 20"),
    ("2000000", "--count must be between 8 (the predictor needs measurements to fit) and 1,000,000, got 2000000"),
])
def test_a_count_larger_than_the_space_is_refused_at_once(tmp_path, capsys, count, says):
    """It used to draw 100 configs per missing network (a million draws here, about a minute) before
    profiling the 20 networks there are."""
    import time

    run = tmp_path / "run"
    started = time.perf_counter()
    code = main(["profile", "--run", str(run), "--space", "vit", "--dataset", "digits", "--space-args", TINY_VIT,
                 "--count", count, "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and says in error, error
    assert time.perf_counter() - started < 20 and not (run / "measurements.db").exists()
