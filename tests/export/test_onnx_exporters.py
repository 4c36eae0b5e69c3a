"""The ONNX exporters (nas.models.onnx_exporters): the dynamo exporter writes a graph ONNX Runtime runs and
quantizes as the TorchScript one did (integer kernels, parity), the same network gives the same bytes, it
asks nothing of a deprecated API, and what it cannot export is said in one line; the TorchScript fallback
warns that it is deprecated."""

import hashlib
import warnings

import numpy as np
import onnx
import pytest
import torch

from nas.errors import HwnasError
from nas.models.onnx_export import DEFAULT_OPSET, check_onnx, export_onnx, integer_kernels, onnxruntime_logits
from nas.models.onnx_exporters import EXPORTERS, create_exporter
from search_spaces import create_space


def small_int8_vit():
    space = create_space("vit", image_size=8, in_channels=1, num_classes=10, depth_choices=(1, 2),
                         precisions=["fp32", "int8"])
    torch.manual_seed(0)
    config = space.at_precision(space.smallest(), "int8")
    return space, space.build_supernet().eval().extract(config)


def test_dynamo_exports_int8_with_one_kernel_per_layer_same_bytes_and_no_deprecated_api(tmp_path):
    space, network = small_int8_vit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = export_onnx(network, space.input_shape, tmp_path / "a.onnx")
    deprecated = [str(w.message) for w in caught if "TorchScript" in str(w.message) or "dynamo=False" in str(w.message)]
    assert not deprecated, deprecated
    second = export_onnx(network, space.input_shape, tmp_path / "b.onnx")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    check_onnx(first)
    model = onnx.load(str(first))
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == DEFAULT_OPSET == 20
    assert not any(node.metadata_props for node in model.graph.node)  # debugging records stripped
    assert integer_kernels(first, network.int8_scheme) == len(network.int8_weights()) > 0
    images = torch.randn(5, *space.input_shape)
    with torch.no_grad():
        expected = network(images).numpy()
    got = onnxruntime_logits(first, images.numpy(), batch_size=1)
    np.testing.assert_allclose(got, expected, atol=0.02 * float(np.abs(expected).max()), rtol=0)
    # the batch dimension is dynamic: a batch of 5 in one call runs too
    assert onnxruntime_logits(first, images.numpy(), batch_size=5).shape == expected.shape


def test_the_registry_built_once_per_process_gives_the_public_calls_bytes(tmp_path, monkeypatch):
    """The exporter reuses one operator registry per opset (torch-internal call); the file must be exactly
    what the public torch.onnx.export(dynamo=True) writes, for a static and a dynamic batch."""
    from nas.models import onnx_exporters

    space, network = small_int8_vit()
    network = network.as_fp32()
    writer = create_exporter("dynamo")
    example = torch.zeros(1, *space.input_shape)
    opset = onnx_exporters.DEFAULT_OPSET
    assert onnx_exporters._torchlib_registry(opset) is not None  # the fast path is the one taken here
    for dynamic in (False, True):
        fast = writer.write(network, example, tmp_path / f"fast-{dynamic}.onnx", opset, dynamic).read_bytes()
        monkeypatch.setitem(onnx_exporters._REGISTRIES, opset, None)  # as where torch's internal API moved
        public = writer.write(network, example, tmp_path / f"public-{dynamic}.onnx", opset, dynamic).read_bytes()
        monkeypatch.undo()
        assert fast == public


def test_dynamo_refuses_opsets_it_does_not_write_in_one_line(tmp_path):
    space, network = small_int8_vit()
    with pytest.raises(HwnasError, match="from 18 to 20 with the dynamo exporter, got 17") as error:
        export_onnx(network.as_fp32(), space.input_shape, tmp_path / "x.onnx", opset=17)
    assert "\n" not in str(error.value) and not (tmp_path / "x.onnx").exists()


class DataDependent(torch.nn.Module):
    """Control flow on a tensor's value: torch.export cannot trace it (TorchScript would freeze one branch)."""

    def forward(self, x):
        return x * 2 if x.sum() > 0 else x - 1


def test_what_dynamo_cannot_export_is_one_line_naming_the_network_and_the_fallback(tmp_path):
    with pytest.raises(HwnasError, match="the dynamo ONNX exporter cannot export DataDependent: .*--exporter "
                                         "torchscript") as error:
        export_onnx(DataDependent(), (3,), tmp_path / "x.onnx")
    assert "\n" not in str(error.value)


def test_torchscript_fallback_warns_that_it_is_deprecated_and_still_exports(tmp_path):
    space, network = small_int8_vit()
    assert create_exporter("torchscript").deprecated and not create_exporter("dynamo").deprecated
    with pytest.warns(FutureWarning, match="deprecated"):
        path = export_onnx(network.as_fp32(), space.input_shape, tmp_path / "ts.onnx", opset=17,
                           exporter="torchscript")
    check_onnx(path)
    assert EXPORTERS.in_order() == ["dynamo", "torchscript"]
