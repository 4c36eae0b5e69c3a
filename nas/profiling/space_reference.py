"""The interleaved protocol's reference network for a search space: the space's middle network.

The interleaved protocol (hw_profiles.protocol) ranks candidates by the ratio of their latency to a
reference network's, timed run for run in the same windows, so that a machine slowing down moves both
alike. That holds only as far as the reference slows down the way the candidates do. The fixed reference
of hw_profiles.reference (a matrix-multiply MLP) does not: on a shared machine a ViT of many small
operators and int8 kernels and a chain of large fp32 MatMuls respond differently to what the neighbours
do, and their ratio moved 4-6% (median) and 10-20% (90th percentile) between passes over the same networks
minutes apart. A network of the same space moves with them: 1.3-2% and 3.5-6.5%
(benchmarks/profiling/README.md; docs/decisions.md).

The reference is the space's `middle()` config, extracted from a supernet built afresh with seeded weights
(latency does not depend on the weights' values, and seeded weights make the file the same in every run of
the space on this machine, so one calibrated baseline serves them all) and exported as every candidate is.
Its identity in the measurement key is `reference_identity(space)`; its bytes' SHA-256 names its baseline
file (hw_profiles.reference).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

REFERENCE_SEED = 0  # the seed of the supernet weights the reference is extracted with


def reference_identity(space: Any) -> str:
    """What the reference's file is made from, for the measurement key (nas.profiling.profiler)."""
    return f"space-middle:{space.config_id(space.middle())}:seed{REFERENCE_SEED}"


def reference_model(space: Any) -> bytes:
    """The ONNX bytes of the space's reference network (a few seconds: one supernet built and one export)."""
    import torch

    from nas.models.onnx_export import export_onnx

    # seeded throughout (the export draws an example input too); the caller's random state is left as it was
    with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="hwnas-reference-") as folder:
        torch.manual_seed(REFERENCE_SEED)
        network = space.build_supernet().eval().extract(space.middle())
        return export_onnx(network, space.input_shape, Path(folder) / "reference.onnx").read_bytes()
