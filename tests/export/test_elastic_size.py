"""`ElasticModel.select(size_mb=...)`: a size budget on the variants' files, alone or with the others."""

import pytest

from nas import ElasticModel
from nas.errors import HwnasError
from nas.export.elastic import write_bundle
from search_spaces import create_space


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    space = create_space("vit", image_size=8)
    configs = [space.smallest(), space.sample(3), space.sample(5), space.largest()]
    front = [{"name": space.config_id(c), "config": c, "accuracy": 0.80 + 0.05 * i, "latency_ms": 0.1 * (i + 1),
              "size_mb": (0.2, 0.4, 0.6, 0.8)[i], "hardware_profile": "x86-cpu-ort"} for i, c in enumerate(configs)]
    path = write_bundle(tmp_path_factory.mktemp("bundle") / "elastic.pt", space, space.build_supernet(), front)
    return ElasticModel.load(path), front, space


def test_select_by_size_alone_and_with_the_other_budgets(sized):
    model, front, _ = sized
    assert [v.size_mb for v in model.variants] == [0.2, 0.4, 0.6, 0.8]
    assert model.select(size_mb=0.5).name == front[1]["name"]  # the most accurate file within 0.5 MB
    assert model.select(size_mb=0.7, latency_ms=0.25).name == front[1]["name"]
    assert model.select(size_mb=0.7, min_accuracy=0.84).name == front[1]["name"]  # the fastest reaching it
    with pytest.raises(HwnasError, match=f"no variant's file is within 0.1 MB: the smallest, {front[0]['name']}, "
                                         f"is 0.2000 MB"):
        model.select(size_mb=0.1)
    with pytest.raises(HwnasError, match="no variant reaches accuracy 0.9"):
        model.select(size_mb=0.5, min_accuracy=0.9)  # judged among the variants within the size


def test_a_bundle_without_sizes_says_so_in_one_line(tmp_path, sized):
    _, front, space = sized
    unsized = [{key: value for key, value in entry.items() if key != "size_mb"} for entry in front]
    model = ElasticModel.load(write_bundle(tmp_path / "old.pt", space, space.build_supernet(), unsized))
    assert model.select(latency_ms=0.25).name == front[1]["name"]
    with pytest.raises(HwnasError, match="records no file size for variant .*; re-export it to select by size"):
        model.select(size_mb=1.0)
