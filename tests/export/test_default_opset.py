"""Every registered network family at the default opset, through the default (dynamo) exporter, in every
precision it offers: the file passes onnx.checker's full check and has that opset, agrees with torch, runs one
integer kernel per int8 layer (both int8 schemes) and one MatMulNBits per int4 layer, and the same network
gives the same bytes. Chosen as the default because it passes these (docs/decisions.md, #27)."""

import numpy as np
import onnx
import pytest
import torch

pytestmark = pytest.mark.slow  # 5 cases of two dynamo exports each: a minute or more on two busy cores

from nas.models.onnx_export import (DEFAULT_OPSET, check_onnx, export_onnx, integer_kernels, nbits_kernels,
                                    onnxruntime_logits)
from search_spaces import create_space

SMALL = {
    "vit": {"image_size": 8, "in_channels": 1, "num_classes": 10, "depth_choices": [2]},
    "mbv3": {"image_size": 16, "in_channels": 1, "num_classes": 10, "width_mult": 0.25, "depth_choices": [1]},
    "text_encoder": {"vocab_size": 50, "max_length": 12, "num_classes": 3, "embed_dim_choices": [32],
                     "depth_choices": [2]},
}
# fp32 and int8 with the default scheme (ort-dynamic) at the default opset are the space contract's
# (tests/contracts/test_space_contract.py: every space and variant, parity and kernels); here what it does
# not export: the other int8 scheme and int4.
CASES = [(space, "int8", "trt-qdq") for space in SMALL]
CASES += [(space, "int4", "ort-dynamic") for space in ("vit", "text_encoder")]  # mbv3 has no int4 blocks


def inputs_of(space, count):
    torch.manual_seed(1)
    if space.input_range is None:
        return torch.randn(count, *space.input_shape)
    return torch.randint(*space.input_range, (count, *space.input_shape))


@pytest.mark.parametrize("name, precision, scheme", CASES, ids=lambda value: str(value))
def test_default_opset_checks_hold_in_every_family_and_precision(name, precision, scheme, tmp_path):
    precisions = ["fp32"] if precision == "fp32" else ["fp32", precision]
    space = create_space(name, **SMALL[name], precisions=precisions, int8_scheme=scheme)
    torch.manual_seed(0)
    network = space.build_supernet().eval().extract(space.at_precision(space.largest(), precision))
    samples = inputs_of(space, 6)
    calibration = [samples[:3].numpy()] if scheme == "trt-qdq" else None
    paths = [export_onnx(network, space.input_shape, tmp_path / f"{copy}.onnx", calibration=calibration)
             for copy in ("a", "b")]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    check_onnx(paths[0])
    model = onnx.load(str(paths[0]))
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == DEFAULT_OPSET
    int8 = network.int8_weights() if hasattr(network, "int8_weights") else {}
    int4 = network.int4_weights() if hasattr(network, "int4_weights") else {}
    assert len(int8) > 0 if precision == "int8" else not int8
    assert len(int4) > 0 if precision == "int4" else not int4
    if int8:
        assert integer_kernels(paths[0], scheme) == len(int8)
    if int4:
        assert nbits_kernels(paths[0]) == len(int4)
    runtime = onnxruntime_logits(paths[0], samples.numpy(), batch_size=1 if int8 else 6)
    with torch.no_grad():
        expected = network(samples).numpy()
    tolerance = 1e-4 if precision == "fp32" else 5e-2  # quantized: torch's fake quantization, not the same kernels
    assert np.abs(runtime - expected).max() < tolerance * max(1.0, np.abs(expected).max())
    assert (runtime.argmax(1) == expected.argmax(1)).all()


def test_at_the_default_opset_gelu_is_one_node_that_onnx_runtime_fuses(tmp_path):
    """Why 20: at opset 18 the dynamo exporter writes GELU as Div, Erf, Add, Mul, Mul, which ONNX Runtime's CPU
    provider leaves unfused (the file ran 4-14% slower than TorchScript's); at 20 it writes ONNX's Gelu."""
    from nas.models.onnx_export import optimized_operators

    space = create_space("vit", **SMALL["vit"])
    network = space.build_supernet().eval().extract(space.largest())
    default = export_onnx(network, space.input_shape, tmp_path / "default.onnx")
    assert "Gelu" in {node.op_type for node in onnx.load(str(default)).graph.node}
    assert optimized_operators(default)["Erf"] == 0
    old = export_onnx(network, space.input_shape, tmp_path / "18.onnx", opset=18)
    assert optimized_operators(old)["Erf"] > 0
