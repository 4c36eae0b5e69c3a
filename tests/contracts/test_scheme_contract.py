"""The int8-scheme contract, run over every registered scheme (`SCHEMES.names()` at collection time, so a
newly registered scheme is tested without anyone listing it): the scheme knows its name, its torch side
(`fake_linear`) keeps F.linear's shape, really quantizes (changes the output) and passes gradients, and its
ONNX side rewrites one linear layer into a kernel among its `integer_operators()`.

What each scheme's arithmetic is exactly (against an integer reference and ONNX Runtime) is checked in
tests/spaces/test_quantization.py; this is the minimum any scheme must meet. `check_scheme(name, folder)`
is the whole check; tests/contracts/test_registry.py calls it on a throwaway scheme registered for the test.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nas.models.onnx_export import export_onnx, integer_kernels
from search_spaces.quantization import create_scheme, scheme_names
from search_spaces.quantization.scheme import SCHEMES, QuantizationScheme

INPUTS, OUTPUTS = 24, 12


def check_scheme(name: str, folder: Path) -> None:
    """The contract on the registered int8 scheme `name` (`folder`: where the one-layer ONNX files go)."""
    scheme = SCHEMES.create(name)
    assert isinstance(scheme, QuantizationScheme) and scheme.name == name
    operators = scheme.integer_operators()
    assert operators and all(isinstance(operator, str) and operator for operator in operators), operators

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, INPUTS, generator=generator, requires_grad=True)
    weight = torch.randn(OUTPUTS, INPUTS, generator=generator, requires_grad=True)
    bias = torch.randn(OUTPUTS, generator=generator)
    quantized = scheme.fake_linear(x, weight, bias)
    exact = F.linear(x, weight, bias)
    assert quantized.shape == exact.shape and quantized.dtype == exact.dtype
    assert torch.isfinite(quantized).all() and not torch.equal(quantized, exact), f"{name} does not quantize"
    assert (quantized - exact).abs().max() < 0.1 * exact.abs().max(), f"{name} is far from the fp32 layer"
    quantized.sum().backward()  # straight-through: training sees the rounding but gets gradients
    assert x.grad is not None and weight.grad is not None
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0 and weight.grad.abs().sum() > 0

    layer = torch.nn.Linear(INPUTS, OUTPUTS).eval()
    export_onnx(layer, (5, INPUTS), folder / "fp32.onnx")
    calibration = [torch.randn(1, 5, INPUTS, generator=generator).numpy() for _ in range(4)]
    assert scheme.quantize_onnx(folder / "fp32.onnx", folder / "int8.onnx", {"weight": layer.weight},
                                calibration=calibration) == 1
    assert integer_kernels(folder / "int8.onnx", name) == 1, f"{name}: ONNX Runtime runs no {operators} kernel"


@pytest.mark.parametrize("name", scheme_names())
def test_every_scheme_quantizes_one_layer_in_torch_and_onnx(name, tmp_path):
    check_scheme(name, tmp_path)


def test_create_scheme_serves_one_instance_per_name():
    """Schemes hold no state: every caller of create_scheme(name) shares one instance."""
    for name in scheme_names():
        assert create_scheme(name) is create_scheme(name)
