"""Standalone sub-network checkpoints and the elastic bundle, on a briefly trained supernet (digits):
extract -> load gives the same outputs, the bundle stores shared weights once and rebuilds every
variant exactly, `select` picks the best variant that fits, and broken files give one-line errors."""

import io

import pytest
import torch

from nas import ElasticModel, load_subnet
from nas.models.checkpoint import load_supernet, structure_checksum, tensor_checksums
from nas.export.elastic import bundle_bytes, slice_sources, write_bundle
from nas.errors import HwnasError
from nas.models.subnet import save_subnet
from search_spaces import create_space, space_names


@pytest.fixture(scope="module")
def trained(trained_digits_run):
    space, supernet, _ = load_supernet(trained_digits_run / "supernet.pt")
    return space, supernet


@pytest.fixture(scope="module")
def front(trained):
    """Four networks as a front would list them: largest, smallest and two in between; made-up but
    consistent numbers for accuracy and latency (select is tested on these, not measured here)."""
    space, _ = trained
    configs = [space.smallest(), space.sample(3), space.sample(5), space.largest()]
    return [{"name": space.config_id(c), "config": c, "accuracy": 0.80 + 0.05 * i, "latency_ms": 0.1 * (i + 1),
             "hardware_profile": "x86-cpu-ort"} for i, c in enumerate(configs)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, trained, front):
    space, supernet = trained
    return write_bundle(tmp_path_factory.mktemp("bundle") / "elastic.pt", space, supernet, front)


def test_extracted_checkpoint_rebuilds_the_same_network_without_the_supernet(tmp_path, trained, digits):
    space, supernet = trained
    config = space.sample(7)
    path = save_subnet(tmp_path / "subnet.pt", space, config, supernet.extract(config))
    network = load_subnet(path)
    images = torch.from_numpy(digits.x_test[:50])
    with torch.no_grad():
        torch.testing.assert_close(network(images), supernet(images, config), atol=1e-5, rtol=0)
    # the file is the sub-network's own size: its weights (fp32) plus a little metadata, not the supernet's
    own = 4 * sum(p.numel() for p in network.parameters())
    supernet_bytes = 4 * sum(p.numel() for p in supernet.parameters())
    assert own < path.stat().st_size < own + 60_000 < supernet_bytes


def test_bundle_stores_the_union_once_and_every_variant_equals_its_standalone_extraction(
        tmp_path, trained, front, bundle, digits):
    space, supernet = trained
    model = ElasticModel.load(bundle)
    assert [v.name for v in model.variants] == [v["name"] for v in front]
    images = torch.from_numpy(digits.x_test[:20])
    sizes = []
    for entry in front:
        standalone = save_subnet(tmp_path / f"{entry['name']}.pt", space, entry["config"],
                                 supernet.extract(entry["config"]))
        sizes.append(standalone.stat().st_size)
        with torch.no_grad():
            difference = (model.module(entry["name"])(images) - load_subnet(standalone)(images)).abs().max()
        assert float(difference) <= 1e-5
    # the front holds the largest network, so the union of slices is the largest variant's weights
    assert bundle.stat().st_size <= 1.2 * max(sizes) and bundle.stat().st_size < 0.8 * sum(sizes)


def test_a_module_owns_its_weights(trained, bundle, front):
    model = ElasticModel.load(bundle)
    first = model.module(front[-1]["name"])
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.zero_()
    second = model.module(front[-1]["name"])
    assert any(float(p.detach().abs().sum()) > 0 for p in second.parameters())


def test_select_returns_the_best_variant_that_fits(bundle, front):
    model = ElasticModel.load(bundle)
    assert model.select(latency_ms=0.25).name == front[1]["name"]  # the most accurate within 0.25 ms
    assert model.select(latency_ms=10).name == front[-1]["name"]
    assert model.select(min_accuracy=0.84).name == front[1]["name"]  # the fastest reaching 0.84
    assert model.select(latency_ms=0.35, min_accuracy=0.81).name == front[2]["name"]
    with pytest.raises(HwnasError, match=f"no variant runs within 0.05 ms on x86-cpu-ort: the fastest, "
                                         f"{front[0]['name']}, takes 0.1000 ms"):
        model.select(latency_ms=0.05)
    with pytest.raises(HwnasError, match=f"no variant reaches accuracy 0.99: the most accurate, {front[-1]['name']}"):
        model.select(min_accuracy=0.99)
    with pytest.raises(HwnasError, match="both runs within 0.15 ms and reaches accuracy 0.9"):
        model.select(latency_ms=0.15, min_accuracy=0.9)
    with pytest.raises(HwnasError, match="needs a latency budget"):
        model.select()
    with pytest.raises(HwnasError, match="has no variant 'nope'"):
        model.module("nope")


def _one_line_error(load, path, message):
    with pytest.raises(HwnasError, match=message) as caught:
        load(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", ["bundle", "subnet"])
def test_truncated_corrupt_and_foreign_files_give_one_line_errors(tmp_path, trained, bundle, kind):
    space, supernet = trained
    load = ElasticModel.load if kind == "bundle" else load_subnet
    good = bundle if kind == "bundle" else save_subnet(tmp_path / "s.pt", space, space.smallest(),
                                                       supernet.extract(space.smallest()))
    data = good.read_bytes()
    middle = len(data) // 2  # inside the tensor data
    cases = {"truncated.pt": data[: len(data) // 2], "garbage.pt": b"\x00not a torch file" * 50,
             "flipped.pt": data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:],
             "flipped-weights.pt": data[:middle] + bytes(b ^ 0x55 for b in data[middle:middle + 64]) + data[middle + 64:]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        _one_line_error(load, tmp_path / name, "is corrupt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    _one_line_error(load, tmp_path / "foreign.pt", "is not an hwnas")
    _one_line_error(load, tmp_path / "missing.pt", "does not exist")


def test_a_bundle_whose_values_do_not_fit_its_slices_is_refused(tmp_path, trained, front):
    space, supernet = trained
    state = torch.load(io.BytesIO(bundle_bytes(space, supernet, front[:2])), weights_only=True)
    source = next(iter(state["values"]))
    state["values"][source] = state["values"][source][:-1]
    state["checksums"] = tensor_checksums(state["values"])  # consistent checksums, inconsistent values
    torch.save(_resealed(state), tmp_path / "short.pt")
    _one_line_error(ElasticModel.load, tmp_path / "short.pt", f"tensor '{source}' holds")
    state["variants"][0]["slices"] = {"x": {"source": "nope", "ranges": [[0, 1]], "shape": [1]}}
    torch.save(_resealed(state), tmp_path / "bad-slice.pt")
    _one_line_error(ElasticModel.load, tmp_path / "bad-slice.pt", "slice source 'nope' has no stored tensor")
    state = torch.load(io.BytesIO(bundle_bytes(space, supernet, front[:1])), weights_only=True)
    state["space"]["version"] = "999"
    torch.save(_resealed(state), tmp_path / "old.pt")
    _one_line_error(ElasticModel.load, tmp_path / "old.pt", "version '999'")


def _resealed(state):
    """`state` with its structure checksum recomputed, as a careful editor would: the checks after it still hold."""
    return {**state, "structure_sha256": structure_checksum({k: v for k, v in state.items() if k != "structure_sha256"})}


@pytest.mark.parametrize("name", space_names())
def test_weight_slices_are_what_extract_copies(name):
    """Contract for every space with a supernet: `weight_slices` describes extract() exactly."""
    space = create_space(name, **({"image_size": 8} if name == "vit" else {}))
    if not space.has_supernet:
        pytest.skip(f"{name} has no supernet")
    supernet = space.build_supernet().eval()
    if not hasattr(supernet, "weight_slices"):
        pytest.skip(f"{name}'s supernet has no weight_slices: it cannot be bundled")
    state = slice_sources(supernet)
    for config in [space.largest(), space.smallest(), space.sample(1), space.sample(2)]:
        extracted = supernet.extract(config).state_dict()
        slices = supernet.weight_slices(config)
        assert set(slices) == set(extracted)
        for key, part in slices.items():
            part.check(tuple(state[part.source].shape))
            assert torch.equal(part.apply(state[part.source]), extracted[key]), key


def test_a_bundle_can_carry_each_variants_onnx_file(tmp_path, trained, front, bundle):
    from nas.models.onnx_export import export_onnx, onnxruntime_logits

    space, supernet = trained
    entry = front[-1]  # the largest network, fp32
    network = supernet.extract(entry["config"])
    onnx_file = export_onnx(network, space.input_shape, tmp_path / "largest.onnx")
    with_onnx = write_bundle(tmp_path / "with-onnx.pt", space, supernet, front[-1:],
                             onnx_files={entry["name"]: onnx_file.read_bytes()})
    model = ElasticModel.load(with_onnx)
    (tmp_path / "copy.onnx").write_bytes(model.onnx(entry["name"]))
    images = torch.randn(4, *space.input_shape)
    with torch.no_grad():
        expected = model.module(entry["name"])(images).numpy()
    assert abs(onnxruntime_logits(tmp_path / "copy.onnx", images.numpy()) - expected).max() <= 1e-4
    with pytest.raises(HwnasError, match="holds no ONNX files"):
        ElasticModel.load(bundle).onnx(entry["name"])
