"""Benchmark of the elastic bundle against standalone exports, on a run whose front was exported.

    python scripts/bench_export.py --run runs/demo [--models DIR] [--out DIR] [--switches 5]

Reads RUN/models/index.json (or DIR/index.json) (written by `hwnas export` or `hwnas demo`), writes into --out (default
RUN/bench_export/) one standalone sub-network checkpoint per model (`hwnas extract`'s format) and one
elastic bundle of them all, and prints one JSON object:

- sizes: the bundle, each standalone checkpoint, their sum and the largest; bundle / sum and bundle /
  largest (target: at most 1.2x the largest);
- switching: seconds to load the bundle, and the median seconds of `module(variant)` over `--switches`
  rounds through every variant;
- parity: for every variant, the largest |logit difference| on the test split between the bundle's
  module and its standalone checkpoint (must be <= 1e-5), and, for reference, against the supernet
  and against the exported ONNX file under ONNX Runtime.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.models.checkpoint import load_supernet  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.export.elastic import ElasticModel, write_bundle  # noqa: E402
from nas.models.evaluate import evaluation_network, predict_logits  # noqa: E402
from nas.export.elastic_format import bundle_variants  # noqa: E402
from nas.models.onnx_export import onnxruntime_logits  # noqa: E402
from nas.models.subnet import load_subnet, save_subnet  # noqa: E402

PARITY_TOLERANCE = 1e-5


def bench(run: Path, models: Path, out: Path, switches: int) -> dict:
    import numpy as np

    cards = json.loads((models / "index.json").read_text())
    space, supernet, state = load_supernet(run / "supernet.pt")
    dataset = load_dataset(state["dataset"])
    out.mkdir(parents=True, exist_ok=True)
    variants = bundle_variants(cards)
    # as export writes them (BatchNorm statistics recalibrated where the space has them)
    networks = {v["name"]: evaluation_network(space, supernet, v["config"], dataset.x_train) for v in variants}
    standalone = {v["name"]: save_subnet(out / f"{v['name']}.pt", space, v["config"], networks[v["name"]])
                  for v in variants}
    bundle = write_bundle(out / "elastic.pt", space, supernet, variants, networks=networks)
    calibrated = bool(getattr(space, "calibration_samples", 0))  # then the supernet's own forward differs

    started = time.perf_counter()
    model = ElasticModel.load(bundle)
    load_seconds = time.perf_counter() - started
    times = []
    for _ in range(switches):
        for variant in model.variants:
            started = time.perf_counter()
            model.module(variant)
            times.append(time.perf_counter() - started)

    parity = {}
    for variant in model.variants:
        module = model.module(variant)
        bundled = predict_logits(module, dataset.x_test)
        alone = predict_logits(load_subnet(standalone[variant.name]), dataset.x_test)
        supernet.eval()
        shared = None if calibrated else predict_logits(lambda batch, config=variant.config: supernet(batch, config),
                                                        dataset.x_test)
        onnx_file = models / f"{variant.name}.onnx"
        int8 = len(module.int8_weights()) if hasattr(module, "int8_weights") else 0
        runtime = onnxruntime_logits(onnx_file, dataset.x_test, batch_size=1 if int8 else 256)
        parity[variant.name] = {"vs_standalone": float(np.abs(bundled - alone).max()),
                                "vs_supernet": None if shared is None else float(np.abs(bundled - shared).max()),
                                # for reference: the exported ONNX file under ONNX Runtime (int8 layers round
                                # differently in the last bit, so only fp32 variants agree to ~1e-6)
                                "vs_onnx_file": float(np.abs(bundled - runtime).max()), "int8_layers": int8}
    sizes = {name: path.stat().st_size for name, path in standalone.items()}
    onnx_sizes = {card["config_id"]: card["file_bytes"] for card in cards}
    worst = max(entry["vs_standalone"] for entry in parity.values())
    return {
        "run": str(run), "models": str(models), "variants": len(variants), "space": space.key,
        "bundle_bytes": bundle.stat().st_size,
        "standalone_bytes": sizes, "standalone_sum_bytes": sum(sizes.values()),
        "standalone_largest_bytes": max(sizes.values()),
        "bundle_over_sum": bundle.stat().st_size / sum(sizes.values()),
        "bundle_over_largest": bundle.stat().st_size / max(sizes.values()),
        "target_bundle_over_largest": 1.2,
        "onnx_sum_bytes": sum(onnx_sizes.values()), "onnx_largest_bytes": max(onnx_sizes.values()),
        "supernet_parameter_bytes": 4 * sum(p.numel() for p in supernet.parameters()),
        "load_seconds": load_seconds,
        "switch_seconds_median": statistics.median(times), "switch_seconds_max": max(times),
        "switches_timed": len(times),
        "parity": parity, "parity_max_abs_logit_difference": worst,
        "parity_ok": worst <= PARITY_TOLERANCE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run folder with models/index.json")
    parser.add_argument("--models", default=None, help="the exported models' folder (default RUN/models)")
    parser.add_argument("--out", default=None, help="where to write the checkpoints and bundle (RUN/bench_export)")
    parser.add_argument("--switches", type=int, default=5, help="rounds through every variant (default 5)")
    args = parser.parse_args()
    run = Path(args.run)
    models = Path(args.models) if args.models else run / "models"
    if not (models / "index.json").is_file():
        parser.error(f"{models}/index.json not found: run `hwnas export --run {run}` first")
    out = Path(args.out) if args.out else run / "bench_export"
    print(json.dumps(bench(run, models, out, args.switches), indent=2))


if __name__ == "__main__":
    main()
