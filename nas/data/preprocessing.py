"""What a model's input needs, exactly as the training pipeline made its arrays (the preprocessing record that
travels with every exported model), and applying that record, and nothing else, to raw inputs.

Images: each file is decoded as an image folder's files are (nas.data.folder_images.decode: converted to the
record's channel count, the shorter side resized to `image_size` (bilinear) and the centre square cut out),
its 8-bit pixels divided by 255 (16-bit ones by 65535), then each channel normalised as
(value - mean[c]) / std[c] in float32 with the training split's mean and std. That is the arithmetic the
built-in image sets and image folders apply, so the test split's own files give the very arrays the
model was verified on. A run trained on an `.npz` of raw values ("pixels": "raw") cannot map an image
file to its values: it takes arrays in the data set's layout only.

Text: each sentence is lower-cased, split into the matches of the tokenizer's pattern, mapped through the
vocabulary (a word it lacks is `unknown_id`), cut or padded with `pad_id` to `max_length` ids. The
vocabulary itself is a separate file (vocab.json, word -> id) whose SHA-256 the record holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from nas.data.dataset import Dataset
from nas.errors import HwnasError

RESIZE_RULE = "shorter side resized to image_size (bilinear), then the centre image_size x image_size square"
PIXEL_RULES = {"unit": "8-bit pixels / 255, 16-bit pixels / 65535 (values in [0, 1])",
               "raw": "the values of the data set's array as stored; image files cannot be mapped to them"}
NORMALISE_RULE = "(value - mean[channel]) / std[channel], in float32"
TOKENIZER_RULE = "lower-case the sentence, then take the pattern's matches in order"
VOCABULARY_FILE = "vocab.json"
MAX_VOCABULARY_BYTES = 64 << 20  # a vocab.json larger than this is refused before it is read


def describe_preprocessing(data: Dataset) -> tuple[dict[str, Any], dict[str, int] | None]:
    """(the preprocessing record of `data`'s inputs, its vocabulary or None). The record is plain JSON data;
    the vocabulary (word -> id) goes into a file of its own (`vocabulary_bytes`)."""
    steps = dict(data.preprocessing or {})
    record: dict[str, Any] = {"dataset": data.name, "num_classes": data.num_classes,
                              "input_shape": [int(side) for side in data.input_shape],
                              "label_names": list(data.class_names) if data.class_names is not None else None}
    if data.input_arguments is None:  # images
        channels, size, _ = data.input_shape
        pixels = steps.get("pixels", "raw")
        record.update(kind="image", layout="NCHW", image_size=int(size), channels=int(channels),
                      channel_order="grayscale" if channels == 1 else "RGB", pixels=pixels,
                      pixel_rule=PIXEL_RULES[pixels], resize=RESIZE_RULE, normalise=NORMALISE_RULE,
                      mean=[float(v) for v in steps["mean"]], std=[float(v) for v in steps["std"]])
        return record, None
    record.update(kind="text", max_length=int(data.input_shape[0]), pad_id=int(steps.get("pad_id", 0)))
    vocabulary = steps.get("vocabulary")
    if vocabulary is None:  # a user's .npz of token ids: no tokenizer is known
        record.update(tokenizer=None, tokens="token ids as in the data set's input_ids (id 0 is padding)")
        return record, None
    record.update(tokenizer={"lowercase": bool(steps["lowercase"]), "pattern": steps["pattern"], "rule": TOKENIZER_RULE},
                  truncation="the first max_length tokens", padding="pad_id after the last token",
                  unknown_id=int(steps["unknown_id"]), vocabulary_size=len(vocabulary) + 2)
    return record, dict(vocabulary)


def vocabulary_bytes(vocabulary: dict[str, int]) -> bytes:
    """vocab.json's bytes: the word -> id mapping in id order (the same vocabulary gives the same bytes)."""
    ordered = dict(sorted(vocabulary.items(), key=lambda item: item[1]))
    return (json.dumps(ordered, ensure_ascii=True, indent=0) + "\n").encode()


def read_vocabulary(path: Path, sha256: str) -> dict[str, int]:
    """The vocabulary at `path`, checked against the SHA-256 its model's record holds; one-line HwnasError
    when it is missing, too large, changed or not a word -> id mapping."""
    if not path.is_file():
        raise HwnasError(f"vocabulary {str(path)!r} is missing: a text model needs the {VOCABULARY_FILE} exported "
                         f"beside it")
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        raise HwnasError(f"vocabulary {str(path)!r} is larger than {MAX_VOCABULARY_BYTES >> 20} MiB; not read")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise HwnasError(f"vocabulary {str(path)!r} is not the one the model was exported with (its SHA-256 "
                         f"differs from {sha256[:16]}...)")
    vocabulary = json.loads(data)
    if not isinstance(vocabulary, dict) or not all(isinstance(v, int) for v in vocabulary.values()):
        raise HwnasError(f"vocabulary {str(path)!r} is not a JSON object of word: id")
    return vocabulary


def image_arrays(paths: Sequence[Path], record: dict[str, Any]) -> np.ndarray:
    """(len(paths), C, S, S) float32: the image files as the model's input, by the record's rule."""
    from nas.data.folder_images import decode

    if record.get("pixels") != "unit":
        raise HwnasError(f"this model was trained on the raw values of an .npz ({record.get('dataset')!r}), which no "
                         f"image file maps to; give an .npz of the same layout instead")
    size, channels = record["image_size"], record["channels"]
    batch = np.empty((len(paths), channels, size, size), dtype=np.float32)
    for row, path in enumerate(paths):
        batch[row] = decode(Path(path), size, channels)
    return normalise_images(batch, record)


def normalise_images(batch: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """(value - mean) / std per channel in float32, as the training arrays were made (in place)."""
    mean = np.asarray(record["mean"], dtype=np.float64).astype(np.float32)[None, :, None, None]
    std = np.asarray(record["std"], dtype=np.float64).astype(np.float32)[None, :, None, None]
    batch -= mean
    batch /= std
    return batch


def array_images(images: np.ndarray, record: dict[str, Any], where: str) -> np.ndarray:
    """An .npz's `x` (N, H, W) or (N, C, H, W) as the model's input: values as a data set file holds them
    (for a model of image pixels, integer arrays are 8-bit pixels and are divided by 255), normalised."""
    images = images[:, None] if images.ndim == 3 else images
    expected = (record["channels"], record["image_size"], record["image_size"])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise HwnasError(f"{where}: 'x' must be (N, {expected[1]}, {expected[2]}) or (N, {', '.join(map(str, expected))}) "
                         f"for this model, got shape {images.shape}")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise HwnasError(f"{where}: 'x' must hold real numbers, got dtype {images.dtype}")
    batch = images.astype(np.float32)
    if record.get("pixels") == "unit" and np.issubdtype(images.dtype, np.integer):
        batch /= 255.0
    return normalise_images(batch, record)


def sentence_ids(sentences: Iterable[str], record: dict[str, Any], vocabulary: dict[str, int]) -> np.ndarray:
    """(len(sentences), max_length) int64 token ids, by the record's tokenizer and the vocabulary."""
    tokenizer = record.get("tokenizer")
    if tokenizer is None:
        raise HwnasError(f"this model was trained on token ids ({record.get('dataset')!r}) with no tokenizer; give an "
                         f".npz with 'input_ids' instead of sentences")
    pattern = re.compile(tokenizer["pattern"])
    rows = [pattern.findall(sentence.lower() if tokenizer["lowercase"] else sentence) for sentence in sentences]
    ids = np.full((len(rows), record["max_length"]), record["pad_id"], dtype=np.int64)
    for row, tokens in enumerate(rows):
        encoded = [vocabulary.get(token, record["unknown_id"]) for token in tokens[:record["max_length"]]]
        ids[row, :len(encoded)] = encoded
    return ids


def array_ids(archive: Any, record: dict[str, Any], where: str) -> np.ndarray:
    """An .npz's `input_ids` (N, L) (and optional 0/1 `attention_mask`) as the model's input."""
    ids = np.asarray(archive["input_ids"])
    if ids.ndim != 2 or ids.shape[1] != record["max_length"] or not np.issubdtype(ids.dtype, np.integer):
        raise HwnasError(f"{where}: 'input_ids' must be (N, {record['max_length']}) integers for this model, got "
                         f"shape {ids.shape} dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if "attention_mask" in archive:
        mask = np.asarray(archive["attention_mask"])
        if mask.shape != ids.shape:
            raise HwnasError(f"{where}: 'attention_mask' must have the shape of 'input_ids', {ids.shape}")
        ids = np.where(mask == 1, ids, record["pad_id"])
    return ids
