"""The baseline for a token data set: logistic regression on a bag of words (the same tokens, vocabulary
and split as the text_encoder sees), with C chosen on the validation split. Prints JSON.

    python scripts/bench_text_baseline.py [--dataset rotten-tomatoes]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.sparse import csr_matrix


def features(sequence: np.ndarray, bigrams: bool) -> set:
    tokens = sequence[sequence > 0].tolist()
    return set(tokens) | (set(zip(tokens, tokens[1:])) if bigrams else set())


def bag_of_words(ids: np.ndarray, columns: dict, bigrams: bool) -> csr_matrix:
    """Binary presence of each id (padding left out), optionally of each adjacent pair of ids too; only
    the features in `columns` (those of the training split) count."""
    rows, cols = [], []
    for row, sequence in enumerate(ids):
        present = [columns[feature] for feature in features(sequence, bigrams) if feature in columns]
        rows.extend([row] * len(present))
        cols.extend(present)
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(columns)))


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from nas.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="rotten-tomatoes")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    results = {"dataset": args.dataset, "train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test),
               "majority_class_test_accuracy": float(np.bincount(data.y_test).max() / len(data.y_test))}
    for bigrams in (False, True):
        started = time.perf_counter()
        seen = sorted(set().union(*(features(sequence, bigrams) for sequence in data.x_train)), key=str)
        columns = {feature: index for index, feature in enumerate(seen)}
        x_train, x_val, x_test = (bag_of_words(x, columns, bigrams) for x in (data.x_train, data.x_val, data.x_test))
        scored = []
        for c in (0.03, 0.1, 0.3, 1.0, 3.0):
            model = LogisticRegression(C=c, max_iter=2000).fit(x_train, data.y_train)
            scored.append((model.score(x_val, data.y_val), c, model))
        val_accuracy, c, model = max(scored, key=lambda item: item[0])
        results["unigrams+bigrams" if bigrams else "unigrams"] = {
            "C": c, "val_accuracy": float(val_accuracy), "test_accuracy": float(model.score(x_test, data.y_test)),
            "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
