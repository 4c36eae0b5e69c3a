"""Per-block precision sensitivity of a trained supernet: the validation-loss increase of the largest network
when only one block runs at a lower precision (`SearchSpace.precision_sensitivity` chooses the configs).

Measured on one validation batch (the split's first `batch_size` samples, so it is deterministic) with the
fake quantization that training and evaluation use, through the same forward as `subnet_accuracy`
(the supernet's weights, or the calibrated extracted network for a space that calibrates). Cheap: one
forward of the largest network per block and precision, e.g. 9 for a four-block space with three precisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.data.batches import first_inputs
from nas.models.evaluate import subnet_logits

SENSITIVITY_BATCH = 256  # validation samples the losses are measured on


def precision_sensitivity(space: Any, supernet: Any, dataset: Any, batch_size: int = SENSITIVITY_BATCH) -> dict:
    """{"batch": samples used, "baseline_loss", "increase": {block key: {precision: loss increase}}} of the
    largest network (cross-entropy, mean over the batch); `increase` is empty for a space with one precision."""
    import torch
    import torch.nn.functional as F

    images = first_inputs(dataset.x_val, batch_size)
    labels = torch.from_numpy(np.asarray(dataset.y_val[: len(images)])).long()

    def loss(config: dict) -> float:
        logits = subnet_logits(space, supernet, config, images, dataset.x_train)
        return float(F.cross_entropy(torch.from_numpy(logits), labels))

    return {"batch": len(images), **space.precision_sensitivity(loss)}


def summed_sensitivity(space: Any, increase: dict, config: dict) -> float:
    """The sum of `increase` (as `precision_sensitivity` gives it) over the blocks of `config` that are
    active and run below the largest network's precision: an additive estimate of what its precisions
    cost it."""
    inactive = space.inactive_keys(config)
    return float(sum(by_precision.get(config.get(key), 0.0) for key, by_precision in increase.items()
                     if key not in inactive))
