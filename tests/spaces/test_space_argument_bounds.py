"""Space arguments are bounded (issue #24): a space that asks for more than a sane size is refused with a
ConfigError naming the argument and its bound before anything is built, so a small supernet.pt cannot make
hwnas allocate hundreds of MB. Every argument the project's tests, scripts and defaults use is admitted."""

import subprocess
import sys
import textwrap

import pytest
import torch

from search_spaces import ConfigError, create_space, space_names


@pytest.mark.parametrize("space, arguments, named", [
    ("vit", {"embed_dim_choices": [1024]}, "embed_dim_choices"),
    ("vit", {"num_heads_choices": [64]}, "num_heads_choices"),
    ("vit", {"depth_choices": [100]}, "depth_choices"),
    ("vit", {"image_size": 4096}, "image_size"),
    ("vit", {"depth_choices": list(range(1, 200))}, "depth_choices"),
    ("text_encoder", {"vocab_size": 10 ** 7}, "vocab_size"),
    ("text_encoder", {"max_length": 10 ** 6}, "max_length"),
    ("mbv3", {"width_mult": 50.0}, "width_mult"),
    ("mbv3", {"resolution_choices": [4096]}, "resolution_choices"),
    ("mbv3", {"num_classes": 10 ** 7}, "num_classes"),
])
def test_an_oversized_argument_is_refused_naming_it_and_its_bound(space, arguments, named):
    with pytest.raises(ConfigError, match=f"'{named}' must be .*<= ") as error:
        create_space(space, **arguments)
    assert "\n" not in str(error.value)


def test_a_space_whose_largest_network_is_too_big_is_refused():
    with pytest.raises(ConfigError, match="largest network has .* parameters, more than"):
        create_space("text_encoder", vocab_size=65536, embed_dim_choices=[768], num_heads_choices=[16],
                     head_dim=128, depth_choices=[24], mlp_ratio_choices=[8.0])


@pytest.mark.parametrize("space, arguments", [
    ("vit", {"embed_dim_choices": [64, 128, 192, 256], "num_heads_choices": [2, 4, 8], "depth_choices": [2, 4, 6],
             "mlp_ratio_choices": [2.0, 3.0, 4.0]}),
    ("mbv3", {"width_mult": 0.25, "resolution_choices": [160, 192, 224], "image_size": 16}),
    ("text_encoder", {"vocab_size": 8000, "max_length": 48}),
] + [(name, {}) for name in space_names()])
def test_what_the_project_uses_is_admitted(space, arguments):
    create_space(space, **arguments)


def test_a_small_checkpoint_asking_for_a_wide_supernet_is_refused_before_it_allocates(tmp_path):
    """The issue's file: a valid, resealed supernet.pt of a few kB whose arguments ask for width 1024."""
    from nas.models.checkpoint import FORMAT, FORMAT_VERSION, seal

    arguments = {**create_space("vit").arguments, "embed_dim_choices": [1024], "num_heads_choices": [4]}
    state = seal({"format": FORMAT, "format_version": FORMAT_VERSION, "space": {"name": "vit", "arguments": arguments},
                  "dataset": "mnist5k", "model": {}})
    torch.save(state, tmp_path / "supernet.pt")
    assert (tmp_path / "supernet.pt").stat().st_size < 4096
    script = textwrap.dedent(f"""
        import resource
        from nas.errors import HwnasError
        from nas.models.checkpoint import load_supernet
        import torch, search_spaces  # imported before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_supernet({str(tmp_path / "supernet.pt")!r})
        except HwnasError as error:
            print("refused:", error)
        print("grew_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "refused:" in result.stdout and "embed_dim_choices" in result.stdout, result.stdout + result.stderr
    grew_kb = int(result.stdout.split("grew_kb")[1])
    assert grew_kb < 30_000, f"loading grew the process by {grew_kb} kB"
