"""What travels with an exported model, checked without training: the preprocessing record of each kind of
data set, the vocabulary file and its checksum, the ONNX metadata read back (or refused in one line), and
the model card's YAML front matter, which must parse to what was meant."""

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from nas.data import load_dataset
from nas.data.dataset import Dataset
from nas.data.preprocessing import (array_images, describe_preprocessing, image_arrays, read_vocabulary,
                                    sentence_ids, vocabulary_bytes)
from nas.data.text import encode, tokenize, tokenizer_record
from nas.errors import HwnasError
from nas.export.deployment import annotate_onnx, deployment_record, model_metadata, read_metadata
from nas.export.model_card import card_markdown, front_matter
from nas.models.onnx_export import export_onnx

PROFILE = SimpleNamespace(name="x86-cpu-ort", backend="onnxruntime", batch_size=1)
SPACE = SimpleNamespace(name="vit", version=1, arguments={"image_size": 8}, config_id=lambda config: "c" * 16)


def _text_dataset():
    sentences = ["A fine film.", "a FINE, fine mess!", "mess again", "a film", "fine", "mess"]
    tokens = [tokenize(sentence) for sentence in sentences]
    vocabulary = {"fine": 2, "a": 3, "mess": 4, "film": 5}
    ids = encode(tokens, vocabulary, max_length=4)
    labels = np.array([1, 0, 0, 1, 1, 0])
    return Dataset("reviews", ids, labels, ids, labels, ids, labels, num_classes=2,
                   input_arguments={"vocab_size": 6, "max_length": 4}, class_names=("rotten", "fresh"),
                   preprocessing=tokenizer_record(vocabulary, max_length=4)), sentences


def test_an_image_record_states_the_normalisation_the_split_got_and_rebuilds_it_from_pixels(digits, tmp_path):
    record, vocabulary = describe_preprocessing(digits)
    assert vocabulary is None and record["kind"] == "image" and record["input_shape"] == [1, 8, 8]
    assert record["mean"] == digits.preprocessing["mean"] and record["label_names"] == [str(d) for d in range(10)]
    # digits are 0..16 / 16; as 8-bit pixels 0..255 they are on the same [0, 1] scale the record promises
    from sklearn.datasets import load_digits

    from nas.data import split_indices

    bunch = load_digits()
    train, _, _ = split_indices(bunch.target)
    rebuilt = array_images((bunch.images[train[:5]] / 16.0)[:, None], record, "test")
    np.testing.assert_array_equal(rebuilt, digits.x_train[:5])  # bit for bit what training saw
    with pytest.raises(HwnasError, match="must be"):
        array_images(np.zeros((2, 9, 9)), record, "input 'x.npz'")


def test_a_raw_npz_record_refuses_image_files(tmp_path):
    images = np.random.default_rng(0).normal(size=(30, 1, 4, 4)) * 50
    np.savez(tmp_path / "mine.npz", x=images, y=np.repeat(np.arange(3), 10))
    data = load_dataset(str(tmp_path / "mine.npz"))
    record, _ = describe_preprocessing(data)
    assert record["pixels"] == "raw" and record["label_names"] is None
    with pytest.raises(HwnasError, match="raw values of an .npz"):
        image_arrays([tmp_path / "a.png"], record)


def test_a_text_record_and_its_vocabulary_file_rebuild_the_token_ids(tmp_path):
    data, sentences = _text_dataset()
    folder = tmp_path / "models"
    deployment = deployment_record(data, PROFILE, "f" * 16, folder)
    record = deployment["preprocessing"]
    assert record["kind"] == "text" and record["tokenizer"]["lowercase"] and record["vocabulary_size"] == 6
    assert "vocabulary" not in record and record["label_names"] == ["rotten", "fresh"]
    data_bytes = (folder / "vocab.json").read_bytes()
    assert hashlib.sha256(data_bytes).hexdigest() == record["vocabulary_sha256"]
    assert data_bytes == vocabulary_bytes(dict(reversed(list(data.preprocessing["vocabulary"].items()))))
    vocabulary = read_vocabulary(folder / "vocab.json", record["vocabulary_sha256"])
    np.testing.assert_array_equal(sentence_ids(sentences, record, vocabulary), data.x_test)
    (folder / "vocab.json").write_text(json.dumps({**vocabulary, "extra": 9}))
    with pytest.raises(HwnasError, match="not the one the model was exported with"):
        read_vocabulary(folder / "vocab.json", record["vocabulary_sha256"])


def test_onnx_metadata_is_deterministic_read_back_and_missing_metadata_is_one_line(digits, tmp_path):
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    deployment = deployment_record(digits, PROFILE, "f" * 16, tmp_path)
    paths = [export_onnx(network, (1, 8, 8), tmp_path / f"{name}.onnx") for name in "ab"]
    import onnx

    with pytest.raises(HwnasError, match="carries no hwnas metadata"):
        read_metadata({p.key: p.value for p in onnx.load(str(paths[0])).metadata_props}, "model 'a.onnx'")
    for path in paths:
        annotate_onnx(path, model_metadata(deployment, SPACE, {"depth": 1}))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    metadata = read_metadata({p.key: p.value for p in onnx.load(str(paths[0])).metadata_props}, "a")
    assert metadata["preprocessing"] == deployment["preprocessing"] and metadata["config"]["config"] == {"depth": 1}
    assert metadata["profile"]["fingerprint"] == "f" * 16
    broken = {key: "{" for key in ("hwnas.preprocessing", "hwnas.config", "hwnas.profile", "hwnas.version")}
    with pytest.raises(HwnasError, match="hwnas.preprocessing is not valid JSON"):
        read_metadata(broken, "model 'b.onnx'")


def _card(preprocessing):
    return {"config_id": "a" * 16, "space": {"name": "vit", "version": 1}, "trial": 3, "parameters": 1000,
            "macs": 2e6, "val_accuracy": 0.9, "test_accuracy_torch": 0.91, "test_accuracy_onnxruntime": 0.905,
            "hardware_profile": "x86-cpu-ort", "profile_fingerprint": "0123456789abcdef", "latency_ms": 0.12,
            "latency_runs": 50, "latency_iqr_ms": 0.001, "search_latency_ms": 0.12, "predicted_latency_ms": None,
            "artifacts": {}, "config": {"depth": 1}, "file": "a.onnx", "sha256": "0" * 64, "hwnas_version": "0.1.0",
            "dataset": preprocessing["dataset"], "preprocessing": preprocessing}


@pytest.mark.parametrize("kind", ["image", "text"])
def test_the_card_opens_with_yaml_front_matter_that_parses_to_the_hugging_face_fields(kind, digits, tmp_path):
    data = digits if kind == "image" else _text_dataset()[0]
    card = _card(deployment_record(data, PROFILE, "f" * 16, tmp_path)["preprocessing"])
    text = card_markdown(card)
    assert text.startswith("---\n") and text == card_markdown(card)
    front = yaml.safe_load(text.split("---\n")[1])
    assert front == json.loads(json.dumps(front_matter(card)))
    assert front["library_name"] == "hwnas" and f"{kind}-classification" in front["tags"]
    assert front["profile_fingerprint"] == "0123456789abcdef" and front["datasets"] == [data.name]
    splits = [(r["dataset"]["split"], r["metrics"][0]["value"]) for r in front["model-index"][0]["results"]]
    assert splits == [("test", 0.905), ("test", 0.91), ("validation", 0.9)]
    assert ("vocabulary_sha256" in front) == (kind == "text")
    assert "## Input" in text


def test_an_npz_declaring_a_huge_array_is_refused_before_it_is_read(tmp_path):
    import io
    import zipfile
    from pathlib import Path

    from nas.export.predict_inputs import input_batches

    header = io.BytesIO()  # a few bytes on disk that declare 100 GiB of float64
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (16_000_000, 1, 28, 28)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(1000))
    record = {"kind": "image", "channels": 1, "image_size": 28, "pixels": "unit", "mean": [0.1], "std": [0.3]}
    with pytest.raises(HwnasError, match="declares more than 2 GiB"):
        list(input_batches([tmp_path / "bomb.npz"], record, Path(tmp_path)))
    np.savez_compressed(tmp_path / "fine.npz", x=np.full((3, 28, 28), 255, dtype=np.uint8))
    (names, batch), = input_batches([tmp_path / "fine.npz"], record, Path(tmp_path))
    assert names == [f"{tmp_path / 'fine.npz'}[{row}]" for row in range(3)]
    np.testing.assert_allclose(batch, (1.0 - 0.1) / 0.3, rtol=1e-6)  # integers are 8-bit pixels: / 255
