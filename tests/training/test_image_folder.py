"""Image folders (root/<class>/<image>): real digits written as PNG and JPEG files of two sizes and modes
(`write_digits`, in conftest.py)."""

import json

import numpy as np
import pytest
from PIL import Image

from nas.cli import main
from nas.data import describe_source, load_dataset, open_source
from nas.errors import HwnasError


def test_a_mixed_folder_becomes_an_rgb_dataset_of_its_median_size(tmp_path, digits, write_digits):
    root = write_digits(tmp_path / "mixed", digits, big_every=2)  # half 8x8, half 16x16: median 12
    data = load_dataset(str(root))
    assert data.input_shape == (3, 12, 12) and data.num_classes == 10
    assert data.class_names == tuple(f"digit-{label}" for label in range(10))
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 120
    # normalised with the training split's own per-channel statistics, in place
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert data.preprocessing["image_size"] == 12 and data.preprocessing["channels"] == 3
    sized = load_dataset(str(root), image_size=8)
    assert sized.input_shape == (3, 8, 8)
    record = describe_source(str(root), sized)
    assert record["digest"].startswith("folder-sha256:") and record["class_names"][0] == "digit-0"
    reopened, same = open_source(record)
    assert same == record and np.array_equal(reopened.x_test, sized.x_test)


def test_an_all_grayscale_folder_has_one_channel_and_a_grayscale_image_equals_its_pixels(tmp_path, digits,
                                                                                         write_digits):
    root = write_digits(tmp_path / "gray", digits, rgb_every=0, big_every=10**6)
    data = load_dataset(str(root))
    assert data.input_shape == (1, 8, 8)
    mean, std = data.preprocessing["mean"][0], data.preprocessing["std"][0]
    first = sorted((root / data.class_names[data.y_train[0]]).iterdir())
    pixels = [np.asarray(Image.open(path), dtype=np.float32) / 255 for path in first]
    restored = data.x_train[0, 0] * std + mean
    assert any(np.allclose(restored, image, atol=1e-5) for image in pixels)


def test_fixed_split_folders_and_jpeg(tmp_path, digits, write_digits):
    root = tmp_path / "split"
    for name, count in (("train", 60), ("val", 30), ("test", 30)):
        write_digits(root / name, digits, count=count, classes=3, suffix=".jpg")
    data = load_dataset(str(root))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (60, 30, 30)
    assert data.class_names == ("digit-0", "digit-1", "digit-2") and data.preprocessing["split"] == "folders"
    (root / "val").rename(tmp_path / "val")
    with pytest.raises(HwnasError, match="no val/ subfolder"):
        load_dataset(str(root))


def _bad_folders(tmp_path, digits, write_digits):
    empty = tmp_path / "empty"
    empty.mkdir()
    one = write_digits(tmp_path / "one", digits, count=20, classes=1)
    few = write_digits(tmp_path / "few", digits, count=40, classes=3)
    for path in sorted((few / "digit-2").iterdir())[2:]:
        path.unlink()
    garbage = write_digits(tmp_path / "garbage", digits, count=40, classes=3)
    (garbage / "digit-1" / "broken.png").write_bytes(b"this is not an image")
    truncated = write_digits(tmp_path / "truncated", digits, count=40, classes=3, big_every=1)
    whole = (truncated / "digit-0").iterdir().__next__()
    whole.write_bytes(whole.read_bytes()[:60])
    return [
        (empty, "holds no images"),
        (one, "has one class ('digit-0'); it needs at least 2"),
        (few, "class 'digit-2' has 2 images; every class needs at least 3"),
        (garbage, f"image {str(garbage / 'digit-1' / 'broken.png')!r} cannot be read"),
        (truncated, f"image {str(whole)!r} cannot be decoded"),
    ]


def test_bad_folders_give_one_line_and_write_nothing(tmp_path, digits, write_digits, capsys):
    cases = [(["--dataset", str(folder)], message) for folder, message in _bad_folders(tmp_path, digits, write_digits)]
    good = write_digits(tmp_path / "good", digits, count=40, classes=3)
    cases += [(["--dataset", str(good), "--image-size", "1"], "--image-size must be an integer from 2 to 1024"),
              (["--dataset", "digits", "--image-size", "8"], "--image-size applies to an image folder only"),
              (["--dataset", str(tmp_path / "nowhere")], "or an image folder")]
    run = tmp_path / "run"
    for arguments, message in cases:
        assert main(["train", "--run", str(run), *arguments, "--epochs", "1", "--quiet"]) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and error.startswith("hwnas: error: "), (arguments, error)
        assert len(error.strip().splitlines()) == 1, error
        assert not run.exists()


def test_a_trained_run_refuses_other_data_and_keeps_its_record(tmp_path, digits, write_digits, capsys):
    from nas import pipeline
    from nas.training.train import TrainingConfig

    root = write_digits(tmp_path / "folder", digits, count=60, classes=3)
    run = tmp_path / "run"
    pipeline.train(run, dataset=str(root), training=TrainingConfig(epochs=1, threads=2), progress=False,
                   space_arguments={"depth_choices": [1], "embed_dim_choices": [32], "num_heads_choices": [1],
                                    "mlp_ratio_choices": [1.0]}, profile_name=None)
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    record = json.loads((run / "run.json").read_text())["data"]
    assert record["kind"] == "folder" and record["image_size"] == 8 and record["channels"] == 3
    other = write_digits(tmp_path / "other", digits, count=45, classes=3)
    for arguments, message in [(["--dataset", str(other)], "is not the run's data set"),
                               (["--dataset", "digits"], "not a built-in data set"),
                               (["--dataset", str(root), "--image-size", "12"], "was trained at image size 8")]:
        assert main(["train", "--run", str(run), *arguments, "--epochs", "2", "--quiet"]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_a_run_without_a_data_record_keeps_its_run_json_when_other_data_is_refused(tmp_path, trained_digits_run,
                                                                                   write_digits, digits, capsys):
    import shutil

    run = tmp_path / "old-run"
    shutil.copytree(trained_digits_run, run)
    settings = json.loads((run / "run.json").read_text())
    settings.pop("data", None)  # as runs trained before run.json recorded its data
    (run / "run.json").write_text(json.dumps(settings))
    before = (run / "run.json").read_bytes()
    folder = write_digits(tmp_path / "folder", digits, count=60, classes=3)
    assert main(["train", "--run", str(run), "--dataset", str(folder), "--epochs", "3", "--quiet"]) == 2
    assert "was trained for space" in capsys.readouterr().err
    assert (run / "run.json").read_bytes() == before
