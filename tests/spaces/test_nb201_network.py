"""The NAS-Bench-201 cell as a real CIFAR-size network (search_spaces.nb201_network), as the timing script
(scripts/time_nb201_cells.py) builds and exports it."""

import numpy as np
import pytest
import torch

from search_spaces import create_space
from search_spaces.nb201_network import INPUT_SHAPE, build_nb201_network

CELLS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|",  # a dead 1x1 edge
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


@pytest.mark.parametrize("arch_str", CELLS)
def test_the_network_has_the_parameters_the_space_counts_and_exports_to_what_torch_computes(arch_str, tmp_path):
    from nas.models.onnx_export import export_onnx, onnxruntime_logits

    space = create_space("nb201")
    config = space.from_arch_str(arch_str)
    torch.manual_seed(0)
    network = build_nb201_network(space, config)
    assert sum(p.numel() for p in network.parameters()) == space.cost_features(config)["params"]
    images = torch.randn(3, *INPUT_SHAPE)
    with torch.no_grad():
        logits = network(images)
    assert logits.shape == (3, 10)
    path = export_onnx(network, INPUT_SHAPE, tmp_path / "cell.onnx")
    np.testing.assert_allclose(onnxruntime_logits(path, images.numpy(), batch_size=3), logits.numpy(), rtol=1e-4, atol=1e-4)


def test_a_cell_that_carries_nothing_to_its_output_gives_the_same_logits_for_every_image():
    space = create_space("nb201")
    network = build_nb201_network(space, space.from_arch_str(CELLS[-1]))
    with torch.no_grad():
        logits = network(torch.randn(2, *INPUT_SHAPE))
    torch.testing.assert_close(logits[0], logits[1])
