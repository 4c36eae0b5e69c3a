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
