"""Precision choices: the fake quantization is the runtime's arithmetic, exported int8 layers run integer
kernels, and a precision the target does not run is refused."""

import numpy as np
import pytest
import torch

from hw_profiles import HardwareProfile, ProfileError, load_profile
from hw_profiles.host import has_int8_dot_product
from hw_profiles.profile import INT8_SCHEMES
from nas.models.onnx_export import export_onnx, integer_kernels, onnxruntime_logits, optimized_operators
from search_spaces import ConfigError, create_space
from search_spaces.quantization import PRECISIONS, create_scheme, scheme_names
from search_spaces.quantization.ort_dynamic import fake_quantize_activation, fake_quantize_weight
from nas.registry import RegistryError

JOINT = {"image_size": 8, "precisions": ["fp32", "int8"]}


class OneLinear(torch.nn.Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(inputs, outputs)

    def forward(self, x):
        return self.fc(x)


def _round_half_even(values: np.ndarray) -> np.ndarray:
    return np.rint(values)  # numpy, torch and ONNX Runtime all round halves to even


def _weight_integers(weight: np.ndarray, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric integers and scales, as ONNX Runtime's quantizer writes them."""
    absmax = np.abs(weight).max(axis=1, keepdims=True).astype(np.float64)
    scale = (2.0 * absmax / (2 * qmax)).astype(np.float32)
    scale = np.where(scale < np.finfo(np.float32).tiny, np.float32(1.0), scale)
    return np.clip(_round_half_even(weight / scale), -qmax, qmax).astype(np.int64), scale


def integer_reference(scheme_name: str, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The arithmetic a scheme promises, computed with integers: quantized operands, an exact int64
    accumulation, one rescale. Independent of torch and of the host's int8 kernels."""
    sample = x.reshape(-1, x.shape[-1])
    if scheme_name == "trt-qdq":  # symmetric int8 activations, one scale per tensor (calibrated on x)
        weights, weight_scale = _weight_integers(weight, 127)
        activation_scale = np.float32(2.0) * np.abs(sample).max() / np.float32(2 * 127)
        activations = np.clip(_round_half_even(sample / activation_scale), -127, 127).astype(np.int64)
    else:  # ort-dynamic: asymmetric uint8 activations over the tensor's range (including 0)
        weights, weight_scale = _weight_integers(weight, 64)
        low, high = np.float32(min(sample.min(), 0.0)), np.float32(max(sample.max(), 0.0))
        activation_scale = (high - low) / np.float32(255)
        zero_point = _round_half_even(np.clip(-low / activation_scale, 0, 255))
        activations = (np.clip(_round_half_even(sample / activation_scale) + zero_point, 0, 255)
                       - zero_point).astype(np.int64)
    accumulated = activations @ weights.T  # exact
    output = accumulated.astype(np.float64) * (np.float64(activation_scale) * weight_scale.T.astype(np.float64))
    return (output + bias).astype(np.float32).reshape(*x.shape[:-1], weight.shape[0])


def _one_layer_samples(inputs: int) -> list:
    generator = torch.Generator().manual_seed(1)
    samples = [torch.randn(1, 49, inputs, generator=generator) * scale + shift
               for scale, shift in [(1, 0), (0.01, 0), (30, 0), (1, 3), (2, -5)]]
    samples.append(torch.relu(torch.randn(1, 49, inputs, generator=generator)))  # no negative values
    return samples


def _one_layer(inputs: int, outputs: int) -> OneLinear:
    torch.manual_seed(inputs)
    layer = OneLinear(inputs, outputs).eval()
    with torch.no_grad():
        layer.fc.weight.mul_(torch.linspace(0.1, 10.0, outputs)[:, None])  # very different channel ranges
    return layer


@pytest.mark.parametrize("scheme_name", scheme_names())
@pytest.mark.parametrize("inputs,outputs", [(96, 288), (48, 10), (130, 64)])
def test_fake_linear_is_the_scheme_integer_arithmetic_on_one_layer(scheme_name, inputs, outputs):
    layer, scheme = _one_layer(inputs, outputs), create_scheme(scheme_name)
    weight, bias = layer.fc.weight.detach().numpy(), layer.fc.bias.detach().numpy()
    for x in _one_layer_samples(inputs):
        with torch.no_grad():
            got = scheme.fake_linear(x, layer.fc.weight, layer.fc.bias).numpy()
            fp32 = layer(x).numpy()
        expected = integer_reference(scheme_name, x.numpy(), weight, bias)
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= 1e-5 * scale  # exact up to float rounding
        assert np.abs(fp32 - expected).max() > 1e-4 * scale  # and it is really quantized


def test_the_integer_reference_sees_the_saturation_of_an_int16_pair_sum():
    """The reference is exact where an AVX2 kernel is not: two full-range products of 255 * 127 overflow
    int16 when added, and the reference still gives their true sum."""
    weight = np.array([[1.0, 1.0]], dtype=np.float32)
    x = np.array([[[10.0, 10.0]]], dtype=np.float32)  # both quantize to 127 (trt-qdq) on a 127 weight
    assert integer_reference("trt-qdq", x, weight, np.zeros(1, np.float32)).item() == pytest.approx(20.0, rel=1e-6)
    assert 255 * 127 * 2 > 2**15 - 1 >= 255 * 64 * 2
    assert not create_scheme("trt-qdq").exact_without_int8_dot_product
    assert create_scheme("ort-dynamic").exact_without_int8_dot_product


@pytest.mark.parametrize("scheme_name", scheme_names())
@pytest.mark.parametrize("inputs,outputs", [(96, 288), (48, 10), (130, 64)])
def test_onnxruntime_runs_the_scheme_arithmetic_on_one_layer(tmp_path, scheme_name, inputs, outputs):
    scheme = create_scheme(scheme_name)
    if not (scheme.exact_without_int8_dot_product or has_int8_dot_product()):
        pytest.skip(f"{scheme_name} uses full-range int8 weights: ONNX Runtime's CPU kernel without VNNI/AMX "
                    f"adds product pairs in saturating int16 here, so it is no reference for the scheme "
                    f"(the integer reference test checks the arithmetic instead)")
    layer = _one_layer(inputs, outputs)
    weight, bias = layer.fc.weight.detach().numpy(), layer.fc.bias.detach().numpy()
    export_onnx(layer, (49, inputs), tmp_path / "fp32.onnx")
    for x in _one_layer_samples(inputs):
        # A static-scale scheme calibrated on the sample itself has the sample's range, as the reference does.
        assert scheme.quantize_onnx(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", {"fc.weight": layer.fc.weight},
                                    calibration=[x.numpy()]) == 1
        expected = integer_reference(scheme_name, x.numpy(), weight, bias)
        got = onnxruntime_logits(tmp_path / "int8.onnx", x.numpy(), batch_size=1)
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


def test_fake_quantization_passes_gradients_straight_through():
    scheme = create_scheme("ort-dynamic")
    x = torch.randn(2, 5, 8, requires_grad=True)
    weight = torch.randn(4, 8, requires_grad=True)
    scheme.fake_linear(x, weight, None).sum().backward()
    # d/dx of x_q @ w_q^T is w_q (straight through the rounding of x), and d/dw is x_q
    with torch.no_grad():
        weight_q, x_q = fake_quantize_weight(weight), fake_quantize_activation(x)
    assert not torch.equal(weight_q, weight) and not torch.equal(x_q, x)
    torch.testing.assert_close(x.grad, weight_q.sum(0).expand(2, 5, 8))
    torch.testing.assert_close(weight.grad, x_q.sum((0, 1)).expand(4, 8))


@pytest.mark.parametrize("scheme_name", scheme_names())
def test_exported_int8_layers_run_integer_kernels_and_fp32_layers_do_not(tmp_path, scheme_name):
    space = create_space("vit", **JOINT, int8_scheme=scheme_name)
    supernet = space.build_supernet().eval()
    mixed = {**space.largest(), "block1.precision": "int8", "block3.precision": "int8"}
    network = supernet.extract(mixed)
    assert sorted(network.int8_weights()) == sorted(f"blocks.{b}.{layer}.weight" for b in (1, 3)
                                                    for layer in ("qkv", "proj", "fc1", "fc2"))
    path = export_onnx(network, space.input_shape, tmp_path / "mixed.onnx")
    operators = optimized_operators(path)
    assert integer_kernels(path, scheme_name) == 8
    assert operators["MatMul"] + operators["FusedMatMul"] > 0  # fp32 blocks and attention stay float

    fp32_path = export_onnx(supernet.extract(space.largest()), space.input_shape, tmp_path / "fp32.onnx")
    assert integer_kernels(fp32_path, scheme_name) == 0


def test_ort_dynamic_runs_fused_dynamic_kernels_and_trt_qdq_carries_explicit_qdq_nodes(tmp_path):
    import onnx

    for scheme_name, kernel in [("ort-dynamic", "DynamicQuantizeMatMul"), ("trt-qdq", "MatMulIntegerToFloat")]:
        space = create_space("vit", **JOINT, int8_scheme=scheme_name)
        network = space.build_supernet().eval().extract({**space.largest(), "block0.precision": "int8"})
        path = export_onnx(network, space.input_shape, tmp_path / f"{scheme_name}.onnx")
        assert optimized_operators(path)[kernel] == 4
        nodes = [node.op_type for node in onnx.load(str(path)).graph.node]
        if scheme_name == "trt-qdq":  # what TensorRT reads: a Q/DQ pair per activation, a DQ per int8 weight
            assert nodes.count("QuantizeLinear") == 4 and nodes.count("DequantizeLinear") == 8
        else:
            assert "QuantizeLinear" not in nodes


def test_precision_is_a_per_block_choice_ordered_by_bits():
    space = create_space("vit", **JOINT)
    assert space.choices["block0.precision"].values == ("int8", "fp32")
    assert space.largest()["block0.precision"] == "fp32" and space.smallest()["block0.precision"] == "int8"
    costs = space.cost_features({**space.largest(), "block0.precision": "int8"})
    assert costs["int8_linear_macs"] > 0 and costs["int8_blocks"] == 1
    assert costs["int8_linear_macs"] + costs["fp32_linear_macs"] == costs["linear_macs"]
    # one precision: no precision keys, and the same key as a space made before precisions existed
    assert "block0.precision" not in create_space("vit").choices
    assert create_space("vit", precisions=["fp32"]).key == create_space("vit").key
    int8_only = create_space("vit", precisions=["int8"])
    assert all(block.precision == "int8" for block in int8_only.shape(int8_only.largest()).blocks)


def test_unsupported_precision_is_rejected_with_the_allowed_ones():
    space = create_space("vit", **JOINT)
    with pytest.raises(ConfigError, match=r"'block0.precision' = 'fp16' is not allowed; allowed: int8, fp32"):
        space.validate({**space.largest(), "block0.precision": "fp16"})
    with pytest.raises(ConfigError, match="unknown config key 'block0.precision'"):
        create_space("vit").validate({**create_space("vit").largest(), "block0.precision": "int8"})
    with pytest.raises(ConfigError, match=r"'precisions' must be a non-empty list from \['int4', 'int8', 'fp32'\]"):
        create_space("vit", precisions=["fp16"])
    with pytest.raises(RegistryError, match="unknown int8_scheme 'tensorrt-qdq'; known: ort-dynamic, trt-qdq"):
        create_space("vit", precisions=["int8"], int8_scheme="tensorrt-qdq")


def test_profile_that_does_not_run_int8_refuses_an_int8_space(tmp_path):
    from hw_profiles import MeasurementStore
    from nas.profiling.profiler import Profiler

    fp32_only = HardwareProfile(name="fp32-only", backend="onnxruntime", precisions=("fp32",))
    space = create_space("vit", **JOINT)
    with pytest.raises(ProfileError, match="offers precision 'int8', which profile 'fp32-only' does not run"):
        Profiler(space, space.build_supernet(), fp32_only, MeasurementStore(tmp_path / "m.db"))
    assert not (tmp_path / "m.db").exists() or MeasurementStore(tmp_path / "m.db").count() == 0


def test_profile_int8_schemes_are_the_registered_ones():
    assert set(INT8_SCHEMES) == set(scheme_names())
    assert set(load_profile("x86-cpu-ort").precisions) <= set(PRECISIONS) | {"fp16"}
    with pytest.raises(ProfileError, match="field 'int8_scheme' is required when 'precisions' include int8"):
        HardwareProfile(name="p", backend="onnxruntime", precisions=("fp32", "int8"))
    with pytest.raises(ProfileError, match=r"field 'int8_scheme' must be one of \['ort-dynamic', 'trt-qdq'\]"):
        HardwareProfile.from_dict({"name": "p", "backend": "onnxruntime", "precisions": ["int8"],
                                   "int8_scheme": "bogus"})


@pytest.mark.slow
def test_mixed_precision_accuracy_matches_onnxruntime_on_real_data(trained_digits_run, digits, tmp_path):
    from nas.models.checkpoint import load_supernet
    from nas.models.evaluate import accuracy, predict_logits

    space, supernet, _ = load_supernet(trained_digits_run / "supernet.pt")
    assert space.precisions == ("int8", "fp32")  # the default profile declares int8
    rng = np.random.default_rng(3)
    checked = 0
    while checked < 4:
        config = space.sample(rng)
        network = supernet.extract(config)
        if not network.int8_weights():
            continue
        path = export_onnx(network, space.input_shape, tmp_path / f"{checked}.onnx")
        torch_logits = predict_logits(network, digits.x_test)
        runtime_logits = onnxruntime_logits(path, digits.x_test, batch_size=1)
        assert abs(accuracy(torch_logits, digits.y_test) - accuracy(runtime_logits, digits.y_test)) <= 0.005
        assert (torch_logits.argmax(1) == runtime_logits.argmax(1)).mean() >= 0.99
        checked += 1


def test_init_from_fine_tunes_an_fp32_supernet_into_a_mixed_precision_one(tmp_path, digits):
    from nas import pipeline
    from nas.models.checkpoint import load_checkpoint
    from nas.errors import HwnasError
    from nas.training.train import TrainingConfig

    fp32_run, joint_run = tmp_path / "fp32", tmp_path / "joint"
    pipeline.train(fp32_run, dataset="digits", space_arguments={"precisions": ["fp32"]},
                   training=TrainingConfig(epochs=1, threads=2), progress=False)
    fp32_state = load_checkpoint(fp32_run / "supernet.pt")
    assert "precisions" not in fp32_state["space"]["arguments"]
    # a learning rate of ~0: the fine-tuned weights must still be the fp32 supernet's
    pipeline.train(joint_run, dataset="digits", init_from=fp32_run / "supernet.pt",
                   training=TrainingConfig(epochs=1, threads=2, learning_rate=1e-12, weight_decay=0.0),
                   progress=False)
    joint_state = load_checkpoint(joint_run / "supernet.pt")
    assert joint_state["space"]["arguments"]["precisions"] == ["int8", "fp32"]
    for name, value in fp32_state["model"].items():
        if "running" not in name and "num_batches" not in name:  # BatchNorm statistics do move
            torch.testing.assert_close(joint_state["model"][name], value, atol=1e-6, rtol=0)
    with pytest.raises(HwnasError, match=r"differs from 'vit' in \['embed_dim_choices'\]; only precisions may differ"):
        pipeline.train(tmp_path / "other", dataset="digits", space_arguments={"embed_dim_choices": [48, 64]},
                       init_from=fp32_run / "supernet.pt", training=TrainingConfig(epochs=1), progress=False)
    assert not (tmp_path / "other").exists()  # nothing written on bad input


@pytest.mark.slow
def test_bench_int8_speedup_times_real_integer_kernels(tmp_path, run_script):
    """scripts/bench_int8_speedup.py end to end, on a profile with a short protocol: every int8 model it
    times runs ONNX Runtime's integer kernels (2 per MLP, 4 per block of the vit), and it names the CPU's
    int8 instructions."""
    import json

    profile = tmp_path / "fast.yaml"
    profile.write_text("name: fast\nbackend: onnxruntime\nthreads: 1\nprecisions: [fp32, int8]\n"
                       "int8_scheme: ort-dynamic\nwarmup_ms: 1\nwarmup_runs: 1\nmin_repeats: 5\nmin_time_ms: 1\n")
    result = run_script("bench_int8_speedup.py", "--profile", profile, "--sessions", "1",
                        "--mlp-widths", "32", "--vit-widths", "64")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [row["int8_integer_kernels"] for row in report["mlp"]] == [2]
    default, wider = report["vit_largest"]
    assert default["int8_integer_kernels"] == 4 * default["depth"] and wider["embed_dim"] == 64
    assert all(row["speedup"] > 0 and len(row["int8_session_medians_ms"]) == 1 for row in report["mlp"] + [default])
    assert set(report["cpu_int8_flags"]) >= {"avx2", "avx512_vnni", "amx_int8"}


def test_bench_int8_speedup_refuses_a_profile_without_ort_int8(run_script):
    result = run_script("bench_int8_speedup.py", "--profile", "nvidia-gpu-torch")
    assert result.returncode == 2 and "does not run ort-dynamic int8" in result.stderr


def test_export_judges_int8_accuracy_only_where_onnxruntime_is_the_scheme_arithmetic():
    from nas.export.formats import runtime_is_exact_reference

    assert runtime_is_exact_reference("ort-dynamic")  # reduced-range weights: exact on every x86 CPU
    assert runtime_is_exact_reference("trt-qdq") == has_int8_dot_product()
    assert has_int8_dot_product(frozenset({"avx2", "avx512_vnni"})) and not has_int8_dot_product(frozenset({"avx2"}))
