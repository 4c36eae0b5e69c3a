"""Issue #24: the search space inside a predictor file goes through the same argument bounds as
--space-args. skops restores a space without its constructor, so a file could carry a space whose
arguments the bounds refuse (or choices its arguments do not give) and it was used as it was."""

import json
import zipfile

import numpy as np
import pytest

from nas.cli import main
from predictors import PredictorError, create_predictor, load_predictor, save_predictor
from predictors.artifact import METADATA_MEMBER
from search_spaces import create_space
from search_spaces.space import Choice

TINY = {"image_size": 8, "depth_choices": [1, 2], "embed_dim_choices": [48, 64], "num_heads_choices": [1, 2],
        "mlp_ratio_choices": [1.0, 2.0]}


def fitted_file(path, tamper=lambda space: None):
    """A ridge predictor fitted on 16 networks of a tiny vit space, `tamper`ed, then saved as a consistent file."""
    space = create_space("vit", **TINY)
    configs = space.sample_distinct(16, 0)
    latency = np.array([1 + space.cost_features(config)["macs"] / 1e6 for config in configs])
    predictor = create_predictor("ridge", space=space).fit(configs, latency)
    tamper(space)
    save_predictor(predictor, path, {})
    return path


def test_an_untampered_file_loads_with_a_space_built_by_create_space(tmp_path):
    predictor, metadata = load_predictor(fitted_file(tmp_path / "p.joblib"))
    assert metadata["space"] == {"name": "vit", "arguments": create_space("vit", **TINY).arguments}
    assert predictor.space.choices == create_space("vit", **TINY).choices
    assert len(predictor.predict([create_space("vit", **TINY).largest()])) == 1


def test_space_arguments_beyond_the_bounds_are_refused(tmp_path):
    """It loaded before: depth 100 and its blocks, which `create_space` (and --space-args) refuse."""
    path = fitted_file(tmp_path / "p.joblib",
                       lambda space: space.arguments.__setitem__("depth_choices", [1, 2, 100]))
    with pytest.raises(PredictorError, match=r"its space 'vit': space argument 'depth_choices' must be a non-empty "
                                             r"list of at most 64 positive numbers, each <= 32") as caught:
        load_predictor(path)
    assert "\n" not in str(caught.value)


def test_choices_that_the_arguments_do_not_give_are_refused(tmp_path):
    path = fitted_file(tmp_path / "p.joblib",
                       lambda space: space.choices.__setitem__("embed_dim", Choice("embed_dim", (48, 64, 4096))))
    with pytest.raises(PredictorError, match="its space 'vit' holds choices that its arguments do not give"):
        load_predictor(path)


def test_metadata_naming_another_space_is_refused(tmp_path):
    path = fitted_file(tmp_path / "p.joblib")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(members[METADATA_MEMBER])
    header["space"]["arguments"]["depth_choices"] = [1, 2, 3]
    members[METADATA_MEMBER] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(PredictorError, match="its metadata names space .* but its estimator holds"):
        load_predictor(path)


def test_predict_refuses_it_in_one_line(tmp_path, capsys):
    path = fitted_file(tmp_path / "p.joblib",
                       lambda space: space.arguments.__setitem__("embed_dim_choices", [48, 100_000]))
    table = tmp_path / "t.csv"
    table.write_text("x\n1\n")
    code = main(["predictor", "predict", str(path), "--table", str(table), "--out", str(tmp_path / "out.csv")])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "space argument 'embed_dim_choices'" in error
    assert not (tmp_path / "out.csv").exists()


def test_a_table_that_is_not_csv_text_is_refused_in_one_line(tmp_path, capsys):
    """Found by the fuzz test: a binary file (here the start of an SQLite file) given as --table ended in a
    UnicodeDecodeError traceback."""
    table = tmp_path / "table.csv"
    table.write_bytes(b"SQLite format 3\x00\xfb\xff")
    code = main(["predictor", "fit", "--space", "nb201", "--table", str(table), "--target", "cpu",
                 "--out", str(tmp_path / "p.joblib")])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and f"table '{table}' is not" in error, error
