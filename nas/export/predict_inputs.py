"""The raw inputs of `hwnas predict`, read in batches and turned into a model's input by the preprocessing
record the model carries (nas.data.preprocessing), and nothing else.

An input is an image file (PNG or JPEG), a folder of them (every image under it, sorted by path), a text
file with one sentence per line (blank lines are skipped; an input is named FILE:LINE), or an `.npz` in a
data set's layout (`x` images, or `input_ids` with an optional `attention_mask`; rows named FILE[ROW]).
A batch is decoded only when it is run, so memory does not grow with the number of inputs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from nas.data.folder import IMAGE_SUFFIXES
from nas.data.preprocessing import VOCABULARY_FILE, array_ids, array_images, image_arrays, read_vocabulary, sentence_ids
from nas.errors import HwnasError

BATCH = 256  # inputs decoded and run at a time
MAX_NPZ_ARRAY_BYTES = 2 << 30  # an .npz array declaring more is refused before it is read
ALLOWED = "PNG or JPEG images, a folder of them, a .txt file (one sentence per line) or an .npz"
KINDS = {"image": "an image", "text": "a text file", "npz": "an .npz"}


def input_kind(path: Path) -> str:
    """'image', 'folder', 'text' or 'npz'; a missing path or another suffix raises one line."""
    if not path.exists():
        raise HwnasError(f"input {str(path)!r} does not exist; allowed: {ALLOWED}")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in (".txt", ".npz"):
        return suffix[1:].replace("txt", "text")
    raise HwnasError(f"input {str(path)!r}: unknown kind of file {path.suffix or '(no suffix)'!r}; allowed: {ALLOWED}")


def folder_images(folder: Path) -> list[Path]:
    images = sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".")
                    and path.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise HwnasError(f"input folder {str(folder)!r} holds no PNG or JPEG images")
    return images


def check_inputs(paths: list[Path], record: dict[str, Any]) -> list[tuple[Path, str]]:
    """Each input with its kind, all checked before anything runs: it exists, and the model takes it."""
    checked = [(path, input_kind(path)) for path in paths]
    for path, kind in checked:
        takes = {"image": ("image", "folder", "npz"), "text": ("text", "npz")}[record["kind"]]
        if kind not in takes:
            raise HwnasError(f"input {str(path)!r} is {KINDS.get(kind, 'a folder of images')}, but the model takes "
                             f"{record['kind']} inputs ({', '.join(KINDS.get(k, 'a folder of images') for k in takes)})")
    return checked


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(items, BATCH)):
        yield chunk


def _sentences(path: Path) -> Iterator[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield f"{path}:{number}", line.rstrip("\n")
    except UnicodeDecodeError as error:
        raise HwnasError(f"input {str(path)!r} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def _declared_bytes(archive: Any, key: str) -> int:
    """The bytes the array `key` of an open .npz says it holds, read from its header (nothing is allocated)."""
    with archive.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
    return int(np.prod(shape, dtype=np.float64)) * dtype.itemsize


def _npz_batches(path: Path, record: dict[str, Any]) -> Iterator[tuple[list[str], np.ndarray]]:
    key = "x" if record["kind"] == "image" else "input_ids"
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive:
                raise HwnasError(f"input {str(path)!r} holds no array {key!r}, which a model of {record['kind']} "
                                 f"inputs reads (arrays: {', '.join(archive.files) or 'none'})")
            for name in (key, "attention_mask"):  # a compressed archive may declare far more than its size
                if name in archive and _declared_bytes(archive, name) > MAX_NPZ_ARRAY_BYTES:
                    raise HwnasError(f"input {str(path)!r}: array {name!r} declares more than "
                                     f"{MAX_NPZ_ARRAY_BYTES >> 30} GiB; split it into smaller .npz files")
            inputs = array_images(archive["x"], record, f"input {str(path)!r}") if key == "x" \
                else array_ids(archive, record, f"input {str(path)!r}")
    except HwnasError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable archive
        raise HwnasError(f"input {str(path)!r} is not a readable .npz ({str(error).splitlines()[0][:160]})") from None
    for start in range(0, len(inputs), BATCH):
        yield [f"{path}[{row}]" for row in range(start, min(start + BATCH, len(inputs)))], inputs[start:start + BATCH]


def input_batches(paths: list[Path], record: dict[str, Any], model_folder: Path) -> Iterator[tuple[list[str], np.ndarray]]:
    """(names, model inputs) batch by batch, in the order given (a folder's images sorted by path)."""
    checked = check_inputs(paths, record)
    vocabulary = None
    if any(kind == "text" for _, kind in checked) and record.get("tokenizer"):
        vocabulary = read_vocabulary(model_folder / record.get("vocabulary_file", VOCABULARY_FILE),
                                     record["vocabulary_sha256"])
    for path, kind in checked:
        if kind == "npz":
            yield from _npz_batches(path, record)
        elif kind == "text":
            for chunk in _chunks(_sentences(path)):
                yield [name for name, _ in chunk], sentence_ids([text for _, text in chunk], record, vocabulary or {})
        else:
            files = folder_images(path) if kind == "folder" else [path]
            for chunk in _chunks(iter(files)):
                yield [str(file) for file in chunk], image_arrays(chunk, record)
