"""What int4 weights (MatMulNBits) cost or save against fp32 and int8 on this CPU, and how much smaller the file is.

Times, on one hardware profile (default `x86-cpu-ort-int4`: one pinned core, ONNX Runtime, the profile's
interleaved measurement protocol), the largest network of the vit space (default choices, and spaces made
wider with `--vit-widths`: 8 heads of 16, MLP ratio 4) with every block at fp32, at int8 (`ort-dynamic`) and
at int4 (block-wise weights, `--block-size`, fp32 activations). The three take turns, one fresh session each,
`--sessions` times; each row gives the medians, the ratios to fp32 and the exported files' sizes.
Untrained weights: latency does not depend on them.

    .venv/bin/python scripts/bench_int4_speedup.py                      # about a minute on a quiet core
    .venv/bin/python scripts/bench_int4_speedup.py --vit-widths 192 256 --sessions 5

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

PRECISIONS = ("fp32", "int8", "int4")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="x86-cpu-ort-int4", help="a profile that runs int8 and int4")
    parser.add_argument("--sessions", type=int, default=3, help="fresh sessions per model and precision")
    parser.add_argument("--vit-widths", type=int, nargs="*", default=[256])
    parser.add_argument("--block-size", type=int, default=32, help="int4 weights per scale")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")

    from hw_profiles import create_backend, load_profile
    from hw_profiles.in_turns import session_medians_in_turns
    from nas.models.onnx_export import export_onnx, integer_kernels, nbits_kernels
    from search_spaces import create_space

    profile = load_profile(args.profile)
    if not {"int8", "int4"} <= set(profile.precisions):
        parser.error(f"profile {profile.name!r} does not run int8 and int4 (its precisions: {list(profile.precisions)})")
    backend = create_backend(profile)
    available, reason = backend.available()
    if not available:
        print(f"bench_int4_speedup: profile {profile.name!r} cannot run here: {reason}", file=sys.stderr)
        return 2
    report = {"profile": profile.name, "protocol": profile.protocol, "fingerprint": profile.fingerprint(),
              "environment": backend.environment(), "sessions": args.sessions, "block_size": args.block_size,
              "vit_largest": []}
    shapes = [{}] + [{"embed_dim_choices": [64, width], "num_heads_choices": [2, 8], "mlp_ratio_choices": [2.0, 4.0]}
                     for width in args.vit_widths]
    with tempfile.TemporaryDirectory(prefix="hwnas-int4-") as folder:
        for arguments in shapes:
            space = create_space("vit", precisions=list(PRECISIONS), int4_block_size=args.block_size, **arguments)
            supernet, largest = space.build_supernet().eval(), space.largest()
            paths = {precision: export_onnx(supernet.extract(space.at_precision(largest, precision)),
                                            space.input_shape, Path(folder) / f"vit-{precision}.onnx")
                     for precision in PRECISIONS}
            medians = session_medians_in_turns(backend, paths, space.input_shape, args.sessions)
            ms = {precision: statistics.median(values) for precision, values in medians.items()}
            row = {"space_arguments": arguments, "embed_dim": largest["embed_dim"], "depth": largest["depth"],
                   **{f"{precision}_ms": ms[precision] for precision in PRECISIONS},
                   "int8_speedup": ms["fp32"] / ms["int8"], "int4_speedup": ms["fp32"] / ms["int4"],
                   **{f"{precision}_bytes": paths[precision].stat().st_size for precision in PRECISIONS},
                   "int8_integer_kernels": integer_kernels(paths["int8"], "ort-dynamic"),
                   "int4_kernels": nbits_kernels(paths["int4"]),
                   "session_medians_ms": medians}
            report["vit_largest"].append(row)
            print(f"vit largest, width {row['embed_dim']}: int8 {row['int8_speedup']:.2f}x, "
                  f"int4 {row['int4_speedup']:.2f}x; bytes {row['fp32_bytes']} / {row['int8_bytes']} / "
                  f"{row['int4_bytes']}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
