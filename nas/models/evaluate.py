"""Accuracy of a network, or of a supernet under a config, on a split read batch by batch (an array, or a
lazy Dataset such as an image folder's: see nas.data.batches)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from nas.data.batches import first_inputs, input_batches
from nas.models.device import module_device


def predict_logits(forward: Callable, images: Any, batch_size: int = 500, device: Any = None) -> np.ndarray:
    """`forward` on `images` (an array or a Dataset of samples) in batches, on `device` (default CPU); fp32
    logits as an array."""
    import torch

    outputs = []
    with torch.no_grad():
        for chunk in input_batches(images, batch_size):
            batch = torch.from_numpy(chunk)
            outputs.append(forward(batch if device is None else batch.to(device)).float().cpu().numpy())
    return np.concatenate(outputs)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


CALIBRATION_BATCH_SIZE = 64


def calibration_batches(space: Any, inputs: Any, device: Any = None) -> list:
    """The first `space.calibration_samples` training inputs, in batches (the split is fixed, so every
    sub-network is calibrated on the same samples), on `device` (default CPU)."""
    import torch

    first = first_inputs(inputs, int(space.calibration_samples))
    return [torch.from_numpy(batch).to(device or "cpu") for batch in input_batches(first, CALIBRATION_BATCH_SIZE)]


def evaluation_network(space: Any, supernet: Any, config: Mapping[str, Any], calibration_inputs: Any) -> Any:
    """The extracted sub-network `config`, ready to evaluate or export: the space's `calibrate` hook runs
    on a few training inputs when the space asks for it (`calibration_samples` > 0, e.g. BatchNorm
    statistics of an elastic CNN). It is built and calibrated on the supernet's device."""
    device = module_device(supernet)
    network = supernet.extract(config).to(device)
    if getattr(space, "calibration_samples", 0):
        space.calibrate(network, calibration_batches(space, calibration_inputs, device))
    return network


def subnet_accuracy(space: Any, supernet: Any, config: Mapping[str, Any], images: Any, labels: np.ndarray,
                    calibration_inputs: Any) -> float:
    """Accuracy of the sub-network `config`: through the supernet's weights directly, or, for a space that
    calibrates its sub-networks, through the calibrated extracted network."""
    if not getattr(space, "calibration_samples", 0):
        return supernet_accuracy(supernet, config, images, labels)
    return accuracy(subnet_logits(space, supernet, config, images, calibration_inputs), labels)


def subnet_logits(space: Any, supernet: Any, config: Mapping[str, Any], images: Any,
                  calibration_inputs: Any) -> np.ndarray:
    """Logits of the sub-network `config` on `images`, as `subnet_accuracy` computes them."""
    supernet.eval()
    if not getattr(space, "calibration_samples", 0):
        return predict_logits(lambda batch: supernet(batch, config), images, device=module_device(supernet))
    network = evaluation_network(space, supernet, config, calibration_inputs)
    return predict_logits(network, images, device=module_device(supernet))


def supernet_accuracy(supernet: Any, config: Mapping[str, Any], images: Any, labels: np.ndarray) -> float:
    """Accuracy of the sub-network `config`, inheriting the supernet's weights (on the supernet's device)."""
    supernet.eval()
    return accuracy(predict_logits(lambda batch: supernet(batch, config), images, device=module_device(supernet)),
                    labels)
