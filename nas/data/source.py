"""What a run remembers of its data (run.json's "data") and how a later verb reopens exactly that.

A built-in data set is remembered by name. A file (`.npz`) or an image folder is remembered by its absolute
path, a content digest (a file: SHA-256 of its bytes; a folder: SHA-256 of its sorted file list with each
file's size) and its preprocessing (image size, channels, per-channel mean and std of the training split).
Reopening checks the digest: a changed data set is refused, and a moved one is found again through a new
path whose digest matches (`--dataset NEW_PATH`).

A text data set tokenized here (the built-in `rotten-tomatoes`) has a vocabulary: training writes it into
the run as `vocab.json` and records its SHA-256 (`"vocabulary": {"file": "vocab.json", "digest": ...}`);
every later verb encodes the text with that file, and refuses it in one line when it changed or is missing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.data.dataset import DATASETS, Dataset
from nas.data.folder import file_digest, folder_digest, load_image_folder
from nas.data.text import check_vocabulary
from nas.errors import HwnasError

VOCABULARY_FILE = "vocab.json"
MAX_VOCABULARY_BYTES = 16 << 20  # a vocabulary file larger than this is refused unread


def describe_source(spec: str, data: Dataset) -> dict[str, Any]:
    """The run.json record of the data set `spec` (a built-in name or a path) that loaded as `data`."""
    if spec in DATASETS:
        record: dict[str, Any] = {"kind": "builtin", "name": spec}
        if data.vocabulary is not None:
            digest = "sha256:" + hashlib.sha256(vocabulary_bytes(data.vocabulary)).hexdigest()
            record["vocabulary"] = {"file": VOCABULARY_FILE, "digest": digest}
        return record
    path = Path(spec).resolve()
    record: dict[str, Any] = {"kind": "folder" if path.is_dir() else "file", "path": str(path),
                              "digest": content_digest(path), "name": data.name}
    if data.input_arguments is not None:
        record["input_arguments"] = dict(data.input_arguments)
    record.update(data.preprocessing or {})
    if data.class_names is not None:
        record["class_names"] = list(data.class_names)
    return record


def vocabulary_bytes(vocabulary: dict[str, int]) -> bytes:
    """The vocab.json a run holds: word -> id, in id order, as UTF-8 JSON."""
    ordered = dict(sorted(vocabulary.items(), key=lambda item: item[1]))
    return (json.dumps(ordered, ensure_ascii=False, indent=0) + "\n").encode("utf-8")


def read_vocabulary(record: dict[str, Any], folder: Path | None) -> dict[str, int]:
    """The run's vocab.json, checked against the SHA-256 that `record` holds; one-line HwnasError when it
    is missing, changed or not a vocabulary."""
    entry = record["vocabulary"]
    if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str) or entry.get("file") != VOCABULARY_FILE:
        raise HwnasError(f"run.json's data record has a damaged 'vocabulary' entry ({entry!r}); train the run again")
    if folder is None:
        raise HwnasError(f"data set {record['name']!r} was tokenized with the vocabulary of its run; open it "
                         f"through its run folder")
    path = Path(folder) / VOCABULARY_FILE
    if not path.is_file():
        raise HwnasError(f"{path} is missing: the run's data set {record['name']!r} is tokenized with it; restore it, "
                         f"or train a new run")
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        raise HwnasError(f"{path} changed after the run recorded it (it is over {MAX_VOCABULARY_BYTES >> 20} MiB); "
                         f"restore it, or train a new run")
    content = path.read_bytes()
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    if digest != entry["digest"]:
        raise HwnasError(f"{path} changed after the run recorded it (digest {_short(digest)}, recorded "
                         f"{_short(entry['digest'])}); restore it, or train a new run")
    try:
        vocabulary = json.loads(content.decode("utf-8"))
    except ValueError:
        raise HwnasError(f"{path} is not UTF-8 JSON; restore it, or train a new run") from None
    return check_vocabulary(vocabulary, str(path))


def content_digest(path: str | Path) -> str:
    return folder_digest(path) if Path(path).is_dir() else file_digest(path)


def describe_record(record: dict[str, Any]) -> str:
    return repr(record["name"]) if record.get("kind") == "builtin" else repr(record.get("path"))


def _short(digest: str) -> str:
    kind, _, value = digest.partition(":")
    return f"{kind}:{value[:12]}"


def open_source(record: dict[str, Any], override: str | None = None, load: bool = True,
                folder: str | Path | None = None) -> tuple[Dataset | None, dict]:
    """(the data set of `record`, loaded when `load`, else None after its digest is checked; the record, with
    its new path when `override` is the moved data set). `folder`: the run folder, which holds the
    vocabulary of a text data set. One-line HwnasError when the data set (or its vocabulary) is missing or
    changed, or when `override` is not the recorded data set."""
    from nas.data.loading import load_dataset, load_npz

    if not isinstance(record, dict) or record.get("kind") not in ("builtin", "file", "folder"):
        raise HwnasError(f"run.json's 'data' record is damaged ({record!r}); train the run again")
    if record["kind"] == "builtin":
        if override is not None and override != record["name"]:
            raise HwnasError(f"--dataset {override!r}: this run was trained on the built-in data set "
                             f"{record['name']!r}; leave --dataset out or use another run folder")
        if "vocabulary" not in record:
            return (load_dataset(record["name"]) if load else None), record
        vocabulary = read_vocabulary(record, None if folder is None else Path(folder))
        return (DATASETS.get(record["name"])(vocabulary=vocabulary) if load else None), record
    recorded = record["path"]
    if override is not None and override in DATASETS:
        raise HwnasError(f"--dataset {override!r}: this run was trained on {recorded!r}, not a built-in data set; "
                         f"give its path (or leave --dataset out)")
    path = Path(override if override is not None else recorded)
    if not path.exists():
        if override is not None:
            raise HwnasError(f"--dataset {override!r} does not exist")
        raise HwnasError(f"the run's data set {recorded!r} is missing (moved or deleted); give --dataset NEW_PATH, "
                         f"accepted when its content digest is {_short(record['digest'])}")
    digest = content_digest(path)
    if digest != record["digest"]:
        if override is not None:
            raise HwnasError(f"--dataset {override!r} is not the run's data set: its content digest "
                             f"{_short(digest)} differs from {_short(record['digest'])} of {recorded!r}; "
                             f"train a new run on it")
        raise HwnasError(f"the run's data set {recorded!r} changed after the run recorded it (content digest "
                         f"{_short(digest)}, recorded {_short(record['digest'])}); restore it, or train a new run")
    current = {**record, "path": str(path.resolve())}
    if not load:
        return None, current
    if record["kind"] == "folder":
        data = load_image_folder(path, image_size=record["image_size"], normalisation=(record["mean"], record["std"]))
    else:
        data = load_npz(path)
    return replace(data, name=record.get("name", data.name)), current


def same_source(previous: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether two records name the same data (a moved file or folder with the same digest is the same)."""
    if previous.get("kind") != record.get("kind"):
        return False
    if record["kind"] == "builtin":
        return previous.get("name") == record["name"]
    return previous.get("digest") == record["digest"]
