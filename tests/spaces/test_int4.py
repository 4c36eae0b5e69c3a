"""int4 weights: the fake quantization is MatMulNBits' arithmetic, an exported network runs one MatMulNBits
kernel per int4 layer (beside its int8 kernels), and a target that does not run int4 refuses it."""

import numpy as np
import pytest
import torch

from hw_profiles import HardwareProfile, ProfileError, load_profile
from hw_profiles.profile import INT4_SCHEMES
from nas.models.onnx_export import export_onnx, integer_kernels, nbits_kernels, onnxruntime_logits
from search_spaces import ConfigError, create_space
from search_spaces.quantization import int4_blockwise
from tests.spaces.test_quantization import OneLinear

JOINT = {"image_size": 8, "precisions": ["fp32", "int8", "int4"]}


@pytest.mark.parametrize("inputs,outputs,block_size", [(48, 144, 32), (96, 40, 16), (100, 30, 64)])
def test_fake_int4_is_matmulnbits_arithmetic_on_one_layer(tmp_path, inputs, outputs, block_size):
    torch.manual_seed(inputs)
    layer = OneLinear(inputs, outputs).eval()
    with torch.no_grad():
        layer.fc.weight[0, :5] = 0.0  # a partly zero block
        layer.fc.weight[1, :block_size] = 0.0  # an all-zero block
    x = torch.randn(3, 5, inputs)
    source = tmp_path / "fp32.onnx"
    torch.onnx.export(layer, (x,), str(source), dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}})
    target = tmp_path / "int4.onnx"
    assert int4_blockwise.quantize_onnx(source, target, {"fc.weight": layer.fc.weight}, block_size) == 1
    assert nbits_kernels(target) == 1
    runtime = onnxruntime_logits(target, x.numpy())
    fake = int4_blockwise.fake_linear(x, layer.fc.weight, layer.fc.bias, block_size).detach().numpy()
    np.testing.assert_allclose(runtime, fake, atol=1e-5, rtol=0)  # the same weights; only summation order
    assert np.abs(fake - layer(x).detach().numpy()).max() > 1e-3  # and it is not fp32


def test_codes_are_symmetric_4_bit_blocks_packed_two_per_byte():
    weight = torch.tensor([[-7.0, 7.0, 3.5, 0.0] + [0.0] * 12 + [1.0] * 16])
    codes, scales = int4_blockwise.quantize_blocks(weight, 16)
    assert codes.shape == (1, 2, 16) and scales.tolist() == [[1.0, float(np.float32(1.0) / np.float32(7))]]
    assert codes[0, 0, :4].tolist() == [-7, 7, 4, 0]  # 3.5 rounds half to even
    packed, flat_scales = int4_blockwise.packed_weight(weight, 16)
    assert packed.shape == (1, 2, 8) and packed.dtype == np.uint8 and flat_scales.shape == (2,)
    assert packed[0, 0, 0] == (8 - 7) | ((8 + 7) << 4)  # even element in the low nibble, zero point 8
    fake = int4_blockwise.fake_quantize_weight(weight.requires_grad_(), 16)
    fake.sum().backward()
    assert torch.equal(weight.grad, torch.ones_like(weight))  # straight-through


def test_mixed_fp32_int8_int4_network_runs_one_kernel_per_quantized_layer(tmp_path):
    space = create_space("vit", **JOINT)
    assert space.choices["block0.precision"].values == ("int4", "int8", "fp32")
    assert space.arguments["int4_block_size"] == 32
    config = {**space.largest(), "block0.precision": "int4", "block1.precision": "int8", "block2.precision": "int4"}
    network = space.build_supernet().eval().extract(config)
    assert len(network.int4_weights()) == 8 and len(network.int8_weights()) == 4
    path = export_onnx(network, space.input_shape, tmp_path / "mixed.onnx")
    assert nbits_kernels(path) == 8 and integer_kernels(path, "ort-dynamic") == 4
    x = torch.randn(6, *space.input_shape)
    runtime = onnxruntime_logits(path, x.numpy(), batch_size=1)  # dynamic int8: one sample per call
    with torch.no_grad():
        expected = network(x).numpy()
    assert (runtime.argmax(1) == expected.argmax(1)).all() and np.abs(runtime - expected).max() < 1e-2
    costs = space.cost_features(config)
    assert costs["int4_blocks"] == 2 and costs["int4_linear_macs"] > 0
    assert "int4_blocks" not in create_space("vit", image_size=8, precisions=["fp32", "int8"]).cost_features(
        create_space("vit", image_size=8, precisions=["fp32", "int8"]).largest())  # old feature names kept


def test_a_profile_without_int4_refuses_an_int4_space_in_one_line(tmp_path):
    from hw_profiles import MeasurementStore
    from nas.profiling.profiler import Profiler, precision_arguments

    space = create_space("vit", **JOINT)
    with pytest.raises(ProfileError) as raised:
        Profiler(space, space.build_supernet(), load_profile("x86-cpu-ort"), MeasurementStore(tmp_path / "m.db"))
    assert "offers precision 'int4', which profile 'x86-cpu-ort' does not run" in str(raised.value)
    assert "\n" not in str(raised.value)
    int4_profile = load_profile("x86-cpu-ort-int4")
    assert int4_profile.precisions == ("fp32", "int8", "int4") and int4_profile.int4_scheme in INT4_SCHEMES
    assert precision_arguments(int4_profile, "vit")["precisions"] == ["fp32", "int8", "int4"]
    assert precision_arguments(int4_profile, "mbv3")["precisions"] == ["fp32", "int8"]  # mbv3 has no int4
    with pytest.raises(ProfileError, match="field 'int4_scheme' is required when 'precisions' include int4"):
        HardwareProfile(name="p", backend="onnxruntime", precisions=("fp32", "int4"))


def test_int4_arguments_are_checked():
    assert set(INT4_SCHEMES) == {int4_blockwise.SCHEME}
    with pytest.raises(ConfigError, match=r"'int4_block_size' must be one of \[16, 32, 64, 128, 256\]"):
        create_space("vit", precisions=["int4"], int4_block_size=24)
    with pytest.raises(ConfigError, match=r"'precisions' must be a non-empty list from \['int8', 'fp32'\]"):
        create_space("mbv3", precisions=["int4", "fp32"])
    assert create_space("vit", precisions=["int8", "fp32"]).key == create_space("vit", precisions=["fp32", "int8"]).key
    assert "int4_block_size" not in create_space("vit", precisions=["int8", "fp32"]).arguments


def test_the_searched_onnx_format_counts_int4_kernels_for_the_card(tmp_path, digits):
    from nas.export.formats import ExportOptions, create_format

    space = create_space("vit", **digits.space_arguments(), precisions=["fp32", "int8", "int4"])
    config = {**space.smallest(), "block0.precision": "int4"}
    network = space.build_supernet().eval().extract(config)
    searched = create_format("onnx")
    path = searched.write(network, space.input_shape, tmp_path / "m.onnx", ExportOptions())
    result = searched.verify(path, network, digits)
    assert result["int4_layers"] == result["int4_kernels"] == 4 and result["int8_layers"] == 0
    assert result["verified"] and result["max_abs_logit_difference"] <= 1e-4  # int4 alone: logits agree
