"""The ONNX-exporter contract, run over every registered exporter (`EXPORTERS.in_order()` at collection time):
on a small network with int8 blocks, at the exporter's lowest opset, the file passes onnx.checker's full check,
has that opset, runs with a dynamic batch, agrees with torch (fp32 within 1e-4), quantizes to one integer
kernel per int8 layer, and the same network gives the same bytes; an opset outside its range is one line."""

import numpy as np
import onnx
import pytest
import torch

from nas.errors import HwnasError
from nas.models.onnx_export import check_onnx, export_onnx, integer_kernels, onnxruntime_logits
from nas.models.onnx_exporters import EXPORTERS, OnnxExporter, create_exporter
from search_spaces import create_space


@pytest.mark.parametrize("name", EXPORTERS.in_order())
def test_every_exporter_writes_checked_equal_quantizable_files(name, tmp_path):
    exporter = create_exporter(name)
    assert isinstance(exporter, OnnxExporter) and EXPORTERS.describe(name)
    space = create_space("text_encoder", vocab_size=50, max_length=12, num_classes=3, embed_dim_choices=[32],
                         depth_choices=[1], precisions=["fp32", "int8"])
    torch.manual_seed(0)
    network = space.build_supernet().eval().extract(space.at_precision(space.largest(), "int8"))
    opset = exporter.min_opset  # (the torchscript fallback's FutureWarning shows in the warnings summary)
    paths = [export_onnx(network, space.input_shape, tmp_path / f"{copy}.onnx", opset=opset, exporter=name)
             for copy in ("a", "b")]
    fp32 = export_onnx(network.as_fp32(), space.input_shape, tmp_path / "fp32.onnx", opset=opset, exporter=name)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    for path in (paths[0], fp32):
        check_onnx(path)
        assert next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")) == opset
    assert integer_kernels(paths[0], network.int8_scheme) == len(network.int8_weights()) > 0
    tokens = torch.randint(1, 50, (4, *space.input_shape))
    with torch.no_grad():
        expected = network.as_fp32()(tokens).numpy()
    np.testing.assert_allclose(onnxruntime_logits(fp32, tokens.numpy(), batch_size=4), expected, atol=1e-4, rtol=0)
    with pytest.raises(HwnasError, match=f"from {exporter.min_opset} to {exporter.max_opset} with the {name}") as error:
        export_onnx(network, space.input_shape, tmp_path / "x.onnx", opset=exporter.max_opset + 1, exporter=name)
    assert "\n" not in str(error.value)
