"""How much faster int8 runs than fp32 on this CPU, by layer width: what the joint precision search can gain.

Times, on one hardware profile (default `x86-cpu-ort`: one pinned core, ONNX Runtime, the profile's
measurement protocol), each model at fp32 and at int8 as the profile's `int8_scheme` exports it
(`ort-dynamic`: int8 per-channel weights, uint8 activations quantized at run time). fp32 and int8
take turns, one fresh session each, `--sessions` times; the speedup is the ratio of the two medians.

* MLPs (Linear - GELU - Linear, hidden width 4x) on 49 tokens (the vit space's 7 x 7 patches) of
  each `--mlp-widths` width: one layer's gain, without the rest of a block;
* the vit space's largest network (default choices), and the largest network of vit spaces made
  wider (`--vit-widths`; 8 heads of 16, MLP ratio 4): a whole network, stem, attention products,
  LayerNorms and head included, which stay fp32. Untrained weights: latency does not depend on them.

It also reports the CPU's integer dot-product instructions (VNNI, AMX), which decide the int8 gain.

    .venv/bin/python scripts/bench_int8_speedup.py                     # about 2 minutes
    .venv/bin/python scripts/bench_int8_speedup.py --vit-widths 192 256 384 --sessions 7

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKENS = 49
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def _mlp(width: int, int8: bool):
    import torch

    class Mlp(torch.nn.Module):
        """An MLP that tells export_onnx which layers run at int8, as the spaces' networks do."""

        int8_scheme = "ort-dynamic"

        def __init__(self) -> None:
            super().__init__()
            generator = torch.Generator().manual_seed(width)
            self.up, self.down = torch.nn.Linear(width, 4 * width), torch.nn.Linear(4 * width, width)
            for layer in (self.up, self.down):
                with torch.no_grad():
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / layer.in_features ** 0.5)

        def forward(self, x):
            return self.down(torch.nn.functional.gelu(self.up(x)))

        def int8_weights(self) -> dict:
            return {"up.weight": self.up.weight, "down.weight": self.down.weight} if int8 else {}

        def as_fp32(self):
            return self

    return Mlp().eval()


def _compare(backend, paths: dict[str, Path], input_shape: tuple[int, ...], sessions: int) -> dict:
    from hw_profiles.in_turns import session_medians_in_turns
    from nas.models.onnx_export import integer_kernels

    medians = session_medians_in_turns(backend, paths, input_shape, sessions)
    fp32, int8 = statistics.median(medians["fp32"]), statistics.median(medians["int8"])
    return {"fp32_ms": fp32, "int8_ms": int8, "speedup": fp32 / int8,
            "int8_integer_kernels": integer_kernels(paths["int8"], "ort-dynamic"),
            "fp32_session_medians_ms": medians["fp32"], "int8_session_medians_ms": medians["int8"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="x86-cpu-ort", help="a profile whose int8_scheme is ort-dynamic")
    parser.add_argument("--sessions", type=int, default=5, help="fresh sessions per model and precision")
    parser.add_argument("--mlp-widths", type=int, nargs="*", default=[96, 192, 384, 1024])
    parser.add_argument("--vit-widths", type=int, nargs="*", default=[128, 192, 256])
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")

    from hw_profiles import create_backend, load_profile
    from hw_profiles.host import cpu_flags
    from search_spaces import create_space

    from nas.models.onnx_export import export_onnx

    profile = load_profile(args.profile)
    if profile.int8_scheme != "ort-dynamic" or "int8" not in profile.precisions:
        parser.error(f"profile {profile.name!r} does not run ort-dynamic int8 (int8_scheme: {profile.int8_scheme})")
    backend = create_backend(profile)
    available, reason = backend.available()
    if not available:
        print(f"bench_int8_speedup: profile {profile.name!r} cannot run here: {reason}", file=sys.stderr)
        return 2
    flags = cpu_flags()
    report = {"profile": profile.name, "protocol": profile.protocol, "fingerprint": profile.fingerprint(),
              "environment": backend.environment(),
              "cpu_int8_flags": {flag: flag in flags for flag in INT8_FLAGS}, "sessions": args.sessions,
              "mlp": [], "vit_largest": []}
    with tempfile.TemporaryDirectory(prefix="hwnas-int8-") as folder:
        folder = Path(folder)
        for width in args.mlp_widths:
            paths = {precision: export_onnx(_mlp(width, precision == "int8"), (TOKENS, width),
                                            folder / f"mlp{width}-{precision}.onnx") for precision in ("fp32", "int8")}
            row = {"tokens": TOKENS, "width": width, **_compare(backend, paths, (TOKENS, width), args.sessions)}
            report["mlp"].append(row)
            print(f"mlp {TOKENS}x{width}: {row['speedup']:.2f}x", file=sys.stderr)
        shapes = [{}] + [{"embed_dim_choices": [64, width], "num_heads_choices": [2, 8], "mlp_ratio_choices": [2.0, 4.0]}
                         for width in args.vit_widths]
        for arguments in shapes:
            space = create_space("vit", precisions=["fp32", "int8"], **arguments)
            supernet, largest = space.build_supernet().eval(), space.largest()
            networks = {precision: supernet.extract(space.at_precision(largest, precision))
                        for precision in ("fp32", "int8")}
            paths = {precision: export_onnx(network, space.input_shape, folder / f"vit-{precision}.onnx")
                     for precision, network in networks.items()}
            row = {"space_arguments": arguments, "embed_dim": largest["embed_dim"], "depth": largest["depth"],
                   "num_heads": largest["block0.num_heads"], "mlp_ratio": largest["block0.mlp_ratio"],
                   "parameters": sum(parameter.numel() for parameter in networks["fp32"].parameters()),
                   **_compare(backend, paths, space.input_shape, args.sessions)}
            report["vit_largest"].append(row)
            print(f"vit largest, width {row['embed_dim']}: {row['speedup']:.2f}x", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
