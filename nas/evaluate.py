"""Accuracy of a network, or of a supernet under a config, on arrays."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np


def predict_logits(forward: Callable, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    import torch

    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            outputs.append(forward(torch.from_numpy(images[start:start + batch_size])).numpy())
    return np.concatenate(outputs)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def supernet_accuracy(supernet: Any, config: Mapping[str, Any], images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the sub-network `config`, inheriting the supernet's weights."""
    supernet.eval()
    return accuracy(predict_logits(lambda batch: supernet(batch, config), images), labels)
