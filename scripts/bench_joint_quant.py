"""Joint architecture + per-block precision search against architecture-only searches at all-fp32 and
at all-int8, on one trained mixed-precision supernet, timed for real on ONNX Runtime (one pinned thread).

Three searches with the same number of trials, the same sampler and seed, the same latency predictor
and the same measurement budget (networks timed for real from each search's front):

* `joint`: architecture and every block's precision;
* `fp32`:  architecture only, every block fp32;
* `int8`:  architecture only, every block int8.

Each front is scored by its hypervolume in (test accuracy, measured latency) against one reference point
shared by the three, and by the fastest measured latency that reaches a range of test accuracies. The
script also times the largest network at all-fp32 and all-int8 in several fresh sessions and checks the
torch / ONNX Runtime accuracy parity of random mixed-precision networks.

    .venv/bin/python scripts/bench_joint_quant.py --run runs/demo      # reuse a `make demo` run
    .venv/bin/python scripts/bench_joint_quant.py --run runs/bench     # trains, profiles, fits first

With `--latency-ms B` every front keeps to the budget B by the straddle rule (nas.search.front): a
predicted trial whose 90% interval straddles B is measured before it enters the front, one whose
interval lies wholly above B is not measured.

Prints one JSON object (and writes it to <run>/bench_joint_quant.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEARCHES = ("joint", "fp32", "int8")


def _prepare(run_path: Path, profile_name: str, count: int) -> None:
    """Train, profile and fit the run if it lacks those steps (each resumes what exists)."""
    from nas import pipeline
    from nas.run_folder import RunFolder

    run = RunFolder(run_path)
    if not run.checkpoint.exists():
        pipeline.train(run_path, profile_name=profile_name, progress=False)
    if not run.predictor.exists():
        pipeline.profile(run_path, profile_name, count=count, progress=False)
        pipeline.fit(run_path, progress=False)


def _largest_speedup(space, supernet, dataset, profiler, sessions: int) -> dict:
    """Largest network at all-fp32 vs all-int8: medians of `sessions` fresh ONNX Runtime sessions each,
    taken in turns (fp32, int8, fp32, ...) so that a slow spell of this shared machine hits both alike."""
    from hw_profiles.in_turns import session_medians_in_turns
    from nas.models.evaluate import accuracy, predict_logits
    from nas.models.onnx_export import export_onnx, integer_kernels, onnxruntime_logits

    result = {}
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-") as folder:
        networks, paths = {}, {}
        for precision in ("fp32", "int8"):
            networks[precision] = supernet.extract(space.at_precision(space.largest(), precision))
            paths[precision] = export_onnx(networks[precision], space.input_shape, Path(folder) / f"{precision}.onnx")
        medians = session_medians_in_turns(profiler.backend, paths, space.input_shape, sessions)
        for precision, path in paths.items():
            network = networks[precision]
            result[precision] = {
                "session_medians_ms": medians[precision],
                "median_ms": float(np.median(medians[precision])),
                "test_accuracy_torch": accuracy(predict_logits(network, dataset.x_test), dataset.y_test),
                "test_accuracy_onnxruntime": accuracy(onnxruntime_logits(path, dataset.x_test, batch_size=1),
                                                      dataset.y_test),
                "integer_kernels": integer_kernels(path, space.int8_scheme),
            }
    result["speedup"] = result["fp32"]["median_ms"] / result["int8"]["median_ms"]
    result["accuracy_drop_points"] = 100 * (result["fp32"]["test_accuracy_torch"]
                                            - result["int8"]["test_accuracy_torch"])
    return result


def _parity(space, supernet, dataset, count: int, seed: int) -> dict:
    """Torch vs ONNX Runtime test accuracy of random configs that mix fp32 and int8 blocks."""
    from nas.models.evaluate import accuracy, predict_logits
    from nas.models.onnx_export import export_onnx, onnxruntime_logits

    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwnas-parity-") as folder:
        while len(rows) < count:
            config = space.sample(rng)
            network = supernet.extract(config)
            int8_layers = len(network.int8_weights())
            if not 0 < int8_layers < 4 * config["depth"]:
                continue  # mixed only
            path = export_onnx(network, space.input_shape, Path(folder) / "model.onnx")
            torch_accuracy = accuracy(predict_logits(network, dataset.x_test), dataset.y_test)
            runtime_accuracy = accuracy(onnxruntime_logits(path, dataset.x_test, batch_size=1), dataset.y_test)
            rows.append({"config_id": space.config_id(config), "int8_layers": int8_layers,
                         "torch": torch_accuracy, "onnxruntime": runtime_accuracy,
                         "difference_points": 100 * abs(torch_accuracy - runtime_accuracy)})
    return {"configs": rows, "max_difference_points": max(row["difference_points"] for row in rows)}


def _search(name: str, space, supernet, dataset, predictor, profiler, folder: Path, trials: int, budget: int,
            sampler: str, seed: int, latency_ms: float | None = None) -> dict:
    from nas.models.evaluate import supernet_accuracy
    from nas.search.front import measured_front
    from nas.search.evaluators import PredictedEvaluator
    from nas.search.driver import SearchConfig, completed_trials, open_study, run_search

    fixed = () if name == "joint" else tuple((key, name) for key in space.precision_keys)
    storage = folder / f"study-{name}.db"
    storage.unlink(missing_ok=True)  # a fresh study: the three searches start equal
    started = time.perf_counter()
    config = SearchConfig(trials=trials, sampler=sampler, seed=seed, fixed=fixed)  # searched on predicted latency
    study = run_search(open_study(storage, config, space), space, PredictedEvaluator(space, supernet, dataset, predictor),
                       config, progress=False)
    trials_done = completed_trials(study)
    # with --latency-ms, the straddle rule (nas.search.front): a trial whose 90% interval straddles the
    # budget is measured before it enters the front; one wholly above it is not measured
    front, measured = measured_front(trials_done, profiler, latency_ms, min_models=budget, max_measured=budget,
                                     progress=False)
    for entry in front:
        entry["test_accuracy"] = supernet_accuracy(supernet, entry["config"], dataset.x_test, dataset.y_test)
    return {"trials": len(trials_done), "measured": len(measured),
            "measured_straddling": sum(m.get("budget_side") == "straddles" for m in measured),
            "seconds": time.perf_counter() - started,
            "front": [{"config_id": e["config_id"], "latency_ms": e["latency_ms"], "val_accuracy": e["val_accuracy"],
                       "test_accuracy": e["test_accuracy"],
                       "int8_blocks": sum(e["config"].get(f"block{i}.precision") == "int8"
                                          for i in range(e["config"]["depth"])),
                       "depth": e["config"]["depth"]} for e in front]}


def _test_front(entries: list[dict]) -> list[dict]:
    """The members of a front that stay non-dominated in (test accuracy, measured latency)."""
    from nas.search.pareto import pareto_mask

    if not entries:
        return []
    mask = pareto_mask(np.array([e["test_accuracy"] for e in entries]), np.array([e["latency_ms"] for e in entries]))
    return sorted((e for e, keep in zip(entries, mask) if keep), key=lambda e: e["latency_ms"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/bench-joint-quant", help="run folder with a mixed-precision supernet")
    parser.add_argument("--profile", default="x86-cpu-ort")
    parser.add_argument("--count", type=int, default=120, help="networks to profile if the run has no predictor")
    parser.add_argument("--trials", type=int, default=600, help="trials per search")
    parser.add_argument("--budget", type=int, default=24, help="networks measured for real per search")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="latency budget of the fronts: trials whose interval straddles it are measured first")
    parser.add_argument("--sampler", default="nsga2")
    parser.add_argument("--sessions", type=int, default=3, help="fresh sessions timing the largest network")
    parser.add_argument("--parity", type=int, default=8, help="random mixed-precision configs checked for parity")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from predictors import load_predictor

    from nas import pipeline
    from nas.search.pareto import hypervolume
    from nas.run_folder import RunFolder, write_atomically

    run_path = Path(args.run)
    _prepare(run_path, args.profile, args.count)
    run = RunFolder(run_path)
    space, supernet, dataset = pipeline.open_run(run)
    if "int8" not in getattr(space, "precisions", ()) or "fp32" not in space.precisions:
        print(f"bench_joint_quant: {run.checkpoint} is a {space!r} supernet; it needs fp32 and int8 precisions "
              f"(train it with a profile that declares int8)", file=sys.stderr)
        return 2
    profiler = pipeline.run_profiler(run, space, supernet, args.profile)
    predictor, metadata = load_predictor(run.predictor)
    if metadata.get("interval") is not None:  # each predicted trial then keeps its 90% interval
        from predictors import with_intervals

        predictor = with_intervals(predictor, metadata, str(run.predictor))

    report = {"run": str(run_path), "profile": profiler.profile.name, "protocol": profiler.profile.protocol,
              "fingerprint": profiler.fingerprint,
              "space": space.key, "dataset": dataset.name, "trials": args.trials, "budget": args.budget,
              "latency_ms": args.latency_ms, "sampler": args.sampler, "seed": args.seed,
              "predictor_held_out": metadata.get("held_out")}
    report["largest"] = _largest_speedup(space, supernet, dataset, profiler, args.sessions)
    report["parity"] = _parity(space, supernet, dataset, args.parity, args.seed)
    searches = {name: _search(name, space, supernet, dataset, predictor, profiler, run_path, args.trials,
                              args.budget, args.sampler, args.seed, args.latency_ms) for name in SEARCHES}
    fronts = {name: _test_front(result["front"]) for name, result in searches.items()}
    everything = [e for front in fronts.values() for e in front]
    if not all(fronts.values()):
        print(f"bench_joint_quant: a search found no measured network within --latency-ms {args.latency_ms}; "
              f"raise the budget", file=sys.stderr)
        return 2
    reference = (min(e["test_accuracy"] for e in everything) - 0.01, 1.05 * max(e["latency_ms"] for e in everything))
    for name, result in searches.items():
        points = fronts[name]
        result["hypervolume"] = hypervolume(np.array([e["test_accuracy"] for e in points]),
                                            np.array([e["latency_ms"] for e in points]), reference)
    # accuracies every front reaches: from the highest of their lowest to the lowest of their highest
    low = max(min(e["test_accuracy"] for e in front) for front in fronts.values())
    high = min(max(e["test_accuracy"] for e in front) for front in fronts.values())
    matched = []
    for target in np.linspace(low, high, 5) if high >= low else []:
        row = {"test_accuracy_at_least": float(target)}
        for name, front in fronts.items():
            row[f"{name}_ms"] = min(e["latency_ms"] for e in front if e["test_accuracy"] >= target - 1e-9)
        matched.append(row)
    report["reference_point"] = {"test_accuracy": reference[0], "latency_ms": reference[1]}
    report["searches"] = searches
    report["latency_at_matched_accuracy"] = matched
    report["joint_has_largest_hypervolume"] = all(
        searches["joint"]["hypervolume"] >= searches[name]["hypervolume"] for name in SEARCHES)
    text = json.dumps(report, indent=2)
    write_atomically(run_path / "bench_joint_quant.json", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
