"""The elastic bundle checks more than its tensors (issue #24): its shapes, variant metadata and embedded
ONNX files are checksummed, a shape is checked against the space's supernet before anything of that
size is allocated, and an ONNX file must match its variant's onnx_sha256. On an untrained small ViT."""

import hashlib
import io

import pytest
import torch

from nas import ElasticModel
from nas.errors import HwnasError
from nas.export.elastic import bundle_bytes
from nas.models.checkpoint import structure_checksum
from search_spaces import create_space


@pytest.fixture(scope="module")
def bundle_state():
    space = create_space("vit", image_size=8, in_channels=1, num_classes=10, embed_dim_choices=[32, 48])
    supernet = space.build_supernet().eval()
    configs = [space.smallest(), space.largest()]
    onnx = {space.config_id(c): f"onnx bytes of {i}".encode() for i, c in enumerate(configs)}
    variants = [{"name": space.config_id(c), "config": c, "accuracy": 0.8 + 0.1 * i, "latency_ms": 0.1 * (i + 1),
                 "onnx_sha256": hashlib.sha256(onnx[space.config_id(c)]).hexdigest()} for i, c in enumerate(configs)]
    return torch.load(io.BytesIO(bundle_bytes(space, supernet, variants, onnx)), weights_only=True)


def written(state, path, reseal):
    """`state` saved at `path`; with `reseal`, its structure checksum recomputed as a careful editor would."""
    if reseal:
        state = {**state, "structure_sha256": structure_checksum(
            {key: value for key, value in state.items() if key != "structure_sha256"})}
    torch.save(state, path)
    return path


def refused(path, message):
    with pytest.raises(HwnasError, match=message) as error:
        ElasticModel.load(path)
    assert "\n" not in str(error.value)


def test_a_sound_bundle_loads_with_its_onnx_files(bundle_state, tmp_path):
    bundle = ElasticModel.load(written(bundle_state, tmp_path / "elastic.pt", reseal=False))
    assert bundle.onnx(bundle.variants[0]) == b"onnx bytes of 0"


@pytest.mark.parametrize("reseal", [False, True], ids=["as-damaged", "resealed"])
def test_an_enlarged_shape_is_refused_before_it_is_allocated(bundle_state, tmp_path, reseal):
    source = next(iter(bundle_state["shapes"]))
    state = {**bundle_state, "shapes": {**bundle_state["shapes"], source: [12000, 12000]}}
    refused(written(state, tmp_path / "elastic.pt", reseal),
            "has shape \\[12000, 12000\\], its space's supernet" if reseal else "do not match their checksum")


def test_edited_variant_metadata_is_refused(bundle_state, tmp_path):
    variants = [dict(record) for record in bundle_state["variants"]]
    variants[1]["latency_ms"] = 0.01  # the slow variant now claims to be the fastest
    refused(written({**bundle_state, "variants": variants}, tmp_path / "elastic.pt", reseal=False),
            "space, variants, shapes or ONNX files do not match their checksum")


@pytest.mark.parametrize("reseal", [False, True], ids=["as-damaged", "resealed"])
def test_an_edited_onnx_file_is_refused(bundle_state, tmp_path, reseal):
    name = bundle_state["variants"][0]["name"]
    state = {**bundle_state, "onnx": {**bundle_state["onnx"], name: b"another network"}}
    refused(written(state, tmp_path / "elastic.pt", reseal),
            f"ONNX file of variant '{name}' does not match its onnx_sha256" if reseal else "do not match their checksum")


def test_a_bundle_without_the_seal_is_refused_with_what_to_do(bundle_state, tmp_path):
    state = {key: value for key, value in bundle_state.items() if key != "structure_sha256"}
    refused(written({**state, "format_version": 1}, tmp_path / "elastic.pt", reseal=False),
            "format version 1, written before.*hwnas export --format elastic")
