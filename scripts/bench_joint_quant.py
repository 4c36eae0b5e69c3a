"""The fair race: joint architecture x per-block precision search against architecture-only searches at one
precision, and against searching first and quantizing after, on one trained mixed-precision supernet.

Searches with the same sampler, seed, latency predictor, number of trials and measurement budget, three
objectives (validation accuracy, predicted latency, deployed file size; `nas.models.file_size`):

* `joint`: architecture and every block's precision (the space's: fp32, int8 and, with a profile that
  runs it, int4);
* `fp32`, `int8`, `int4`: architecture only, every block at that precision;
* `sequential`: half the trials search the architecture at fp32; the other half are split between the
  networks of that search's front, each searching only its blocks' precisions (the way tools that quantize
  after searching work);
* `joint-sensitivity` (only when asked for, with `--sampler guided`): `joint`, the guided sampler's
  accuracy surrogate also reading each config's summed block sensitivity (nas.models.sensitivity).

A sampler that searches only (accuracy, latency) (guided) gets those two objectives; sizes are still
computed for every trial and the fronts scored in three, and in (test accuracy, latency) too.

Each search's front is measured for real (at most `--budget` networks, by non-domination in the three
objectives on predicted latency), its networks' test accuracies taken, and scored by the hypervolume in
(test accuracy, measured latency, size) against one reference point per seed, and at matched accuracy
(within 0.5 points of the best fp32 network's test accuracy) by the smallest and the fastest network it
found. The script also times the largest network at each precision (fresh sessions, in turns), reports
each block's sensitivity (validation loss increase of the largest network with only that block at a low
precision, on one validation batch: nas.models.sensitivity) and checks the torch / ONNX Runtime accuracy
parity of random mixed-precision networks.

    .venv/bin/python scripts/bench_joint_quant.py --run runs/race --profile x86-cpu-ort-int4 --seeds 0 1 2

Prints one JSON object (and writes it to <run>/bench_joint_quant.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIRECTIONS = ("maximize", "minimize", "minimize")  # test accuracy, latency, size
MATCHED_POINTS = 0.005  # "matched accuracy": within half a point of the best fp32 network


def _prepare(run_path: Path, profile_name: str, count: int, epochs: int) -> None:
    """Train, profile and fit the run if it lacks those steps (each resumes what exists)."""
    from nas import pipeline
    from nas.run_folder import RunFolder
    from nas.training.train import TrainingConfig

    run = RunFolder(run_path)
    if not run.checkpoint.exists():
        pipeline.train(run_path, profile_name=profile_name, training=TrainingConfig(epochs=epochs), progress=False)
    if not run.predictor.exists():
        pipeline.profile(run_path, profile_name, count=count, progress=False)
        pipeline.fit(run_path, progress=False)


def _largest(space, supernet, dataset, profiler, sessions: int) -> dict:
    """The largest network at each precision: medians of `sessions` fresh sessions taken in turns, file
    sizes, test accuracy under torch and ONNX Runtime."""
    from hw_profiles.in_turns import session_medians_in_turns
    from nas.models.evaluate import accuracy, predict_logits
    from nas.models.onnx_export import export_onnx, onnxruntime_logits
    from nas.profiling.profiler import input_spec

    result = {}
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-") as folder:
        networks = {precision: supernet.extract(space.at_precision(space.largest(), precision))
                    for precision in space.precisions}
        paths = {precision: export_onnx(network, space.input_shape, Path(folder) / f"{precision}.onnx")
                 for precision, network in networks.items()}
        # the space's input spec, not its bare shape (float32): a text space's networks read int64 token ids;
        # beside the space's reference network, as profiling times them
        medians = session_medians_in_turns(profiler.backend, paths, input_spec(space), sessions,
                                           reference=profiler.reference)
        for precision, path in paths.items():
            result[precision] = {
                "session_medians_ms": medians[precision], "median_ms": float(np.median(medians[precision])),
                "size_mb": path.stat().st_size / 1e6,
                "test_accuracy_torch": accuracy(predict_logits(networks[precision], dataset.x_test), dataset.y_test),
                "test_accuracy_onnxruntime": accuracy(onnxruntime_logits(path, dataset.x_test, batch_size=1),
                                                      dataset.y_test)}
    return result


def _parity(space, supernet, dataset, count: int, seed: int) -> dict:
    """Torch vs ONNX Runtime test accuracy of random configs that mix precisions."""
    from nas.models.evaluate import accuracy, predict_logits
    from nas.models.onnx_export import export_onnx, onnxruntime_logits

    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwnas-parity-") as folder:
        while len(rows) < count:
            config = space.sample(rng)
            if len({space.block_precision(config, i) for i in range(config["depth"])}) < 2:
                continue  # mixed only
            network = supernet.extract(config)
            path = export_onnx(network, space.input_shape, Path(folder) / "model.onnx")
            torch_accuracy = accuracy(predict_logits(network, dataset.x_test), dataset.y_test)
            runtime_accuracy = accuracy(onnxruntime_logits(path, dataset.x_test, batch_size=1), dataset.y_test)
            rows.append({"config_id": space.config_id(config), "precisions": [space.block_precision(config, i)
                                                                              for i in range(config["depth"])],
                         "torch": torch_accuracy, "onnxruntime": runtime_accuracy,
                         "difference_points": 100 * abs(torch_accuracy - runtime_accuracy)})
    return {"configs": rows, "max_difference_points": max(row["difference_points"] for row in rows)}


def _study(space, supernet, dataset, predictor, storage: Path, trials: int, sampler: str, seed: int,
           fixed: tuple, sensitivity: dict | None = None) -> list[dict]:
    """Completed trials of one fresh study on predicted latency: three objectives, or (accuracy, latency)
    for a sampler that searches only those (guided); every trial has its size either way. `sensitivity`
    (per-block increases) goes to the guided sampler's accuracy surrogate."""
    from nas.errors import HwnasError
    from nas.search.driver import SearchConfig, completed_trials, open_study, run_search
    from nas.search.evaluators import PredictedEvaluator
    from nas.search.objectives import check_sampler

    storage.unlink(missing_ok=True)  # a fresh study: every search starts equal
    objectives = "accuracy,latency,size"
    try:
        check_sampler(tuple(objectives.split(",")), sampler)
    except HwnasError:
        objectives = "accuracy,latency"
    config = SearchConfig(trials=trials, sampler=sampler, seed=seed, fixed=fixed, objectives=objectives)
    evaluator = PredictedEvaluator(space, supernet, dataset, predictor, with_size=True)
    study = open_study(storage, config, space, sensitivity=sensitivity)
    trials = completed_trials(run_search(study, space, evaluator, config, progress=False))
    return [{**t, "size_mb": t["size_mb"] if "size_mb" in t else evaluator.size_mb(t["config"])} for t in trials]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Non-domination ranks in (accuracy up, latency down, size down)."""
    from nas.search.objectives import pareto_mask_nd

    ranks, remaining, rank = np.full(len(values), -1), np.arange(len(values)), 0
    while len(remaining):
        front = pareto_mask_nd(values[remaining], DIRECTIONS)
        ranks[remaining[front]] = rank
        remaining, rank = remaining[~front], rank + 1
    return ranks


def _search_trials(name: str, space, supernet, dataset, predictor, folder: Path, trials: int, sampler: str,
                   seed: int, sensitivity: dict | None = None) -> list[dict]:
    arguments = (space, supernet, dataset, predictor)
    if name == "joint":
        return _study(*arguments, folder / "study-joint.db", trials, sampler, seed, ())
    if name == "joint-sensitivity":  # joint, the accuracy surrogate also reading the blocks' sensitivity
        return _study(*arguments, folder / "study-joint-sensitivity.db", trials, sampler, seed, (), sensitivity)
    at_fp32 = tuple((key, "fp32") for key in space.precision_keys)
    if name != "sequential":
        return _study(*arguments, folder / f"study-{name}.db", trials, sampler, seed,
                      tuple((key, name) for key in space.precision_keys))
    first = _study(*arguments, folder / "study-sequential-arch.db", trials // 2, sampler, seed, at_fp32)
    values = np.array([[t["val_accuracy"], t["latency_ms"], t["size_mb"]] for t in first])
    front = [t for t, rank in zip(first, _ranks(values)) if rank == 0]
    each = max(1, (trials - trials // 2) // len(front))
    found = list(first)
    for index, entry in enumerate(front):  # the architecture fixed; only its blocks' precisions searched
        architecture = tuple((key, value) for key, value in entry["config"].items()
                             if key not in space.precision_keys)
        live = [key for key in space.precision_keys if int(key[5:key.index(".")]) < entry["config"]["depth"]]
        dead = tuple((key, "fp32") for key in space.precision_keys if key not in live)
        found += _study(*arguments, folder / f"study-sequential-{index}.db", min(each, 3 ** len(live)), sampler,
                        seed, architecture + dead)
    return found


def _measured_front(trials: list[dict], profiler, supernet, dataset, budget: int,
                    latency_ms: float | None = None) -> tuple[list[dict], int]:
    """Measure the trials' networks rank by rank (three objectives, predicted latency) up to `budget`; the
    front of the measured ones in (test accuracy, measured latency, size). With a latency budget, the
    straddle rule (nas.search.front.budget_side): a trial whose predicted interval lies wholly above the
    budget is not measured, the others are, and only a measured latency within the budget enters the front."""
    from nas.models.evaluate import supernet_accuracy
    from nas.search.front import budget_side
    from nas.search.objectives import pareto_mask_nd

    unique = list({t["config_id"]: t for t in trials}.values())
    if latency_ms is not None:
        unique = [t for t in unique
                  if budget_side({"predicted_latency_ms": t["latency_ms"], **t}, latency_ms) != "over"]
    if not unique:
        return [], 0
    ranks = _ranks(np.array([[t["val_accuracy"], t["latency_ms"], t["size_mb"]] for t in unique]))
    chosen = [t for _, t in sorted(zip(ranks, range(len(unique))), key=lambda pair: pair[0])][:budget]
    chosen = [unique[index] for index in chosen]
    measured = []
    for found in profiler.measure_all([t["config"] for t in chosen], progress=False):
        trial = next(t for t in chosen if t["config_id"] == found.config_id)
        measured.append({"config_id": trial["config_id"], "config": trial["config"], "size_mb": trial["size_mb"],
                         "val_accuracy": trial["val_accuracy"], "predicted_latency_ms": trial["latency_ms"],
                         "latency_ms": found.latency_ms,
                         "test_accuracy": supernet_accuracy(supernet, trial["config"], dataset.x_test,
                                                            dataset.y_test)})
    feasible = [m for m in measured if latency_ms is None or m["latency_ms"] <= latency_ms]
    if not feasible:
        return [], len(measured)
    values = np.array([[m["test_accuracy"], m["latency_ms"], m["size_mb"]] for m in feasible])
    front = [m for m, keep in zip(feasible, pareto_mask_nd(values, DIRECTIONS)) if keep]
    return sorted(front, key=lambda m: m["latency_ms"]), len(measured)


def _describe(space, entry: dict) -> dict:
    precisions = [space.block_precision(entry["config"], i) for i in range(entry["config"]["depth"])]
    return {**{key: entry[key] for key in ("config_id", "latency_ms", "size_mb", "test_accuracy", "val_accuracy")},
            "depth": entry["config"]["depth"], "embed_dim": entry["config"]["embed_dim"], "precisions": precisions}


def _race(space, supernet, dataset, predictor, profiler, folder: Path, names: tuple, args, seed: int,
          sensitivity: dict | None = None) -> dict:
    from nas.search.objectives import hypervolume_nd

    searches = {}
    for name in names:
        started = time.perf_counter()
        trials = _search_trials(name, space, supernet, dataset, predictor, folder, args.trials, args.sampler, seed,
                                sensitivity)
        front, measured = _measured_front(trials, profiler, supernet, dataset, args.budget, args.latency_ms)
        searches[name] = {"trials": len({t["config_id"] for t in trials}), "measured": measured,
                          "seconds": time.perf_counter() - started, "front": [_describe(space, e) for e in front]}
    everything = [e for result in searches.values() for e in result["front"]]
    reference = (min(e["test_accuracy"] for e in everything) - 0.01, 1.05 * max(e["latency_ms"] for e in everything),
                 1.05 * max(e["size_mb"] for e in everything))
    best_fp32 = max(e["test_accuracy"] for e in searches["fp32"]["front"]) if "fp32" in searches else None
    for result in searches.values():
        points = np.array([[e["test_accuracy"], e["latency_ms"], e["size_mb"]] for e in result["front"]])
        result["hypervolume"] = hypervolume_nd(points, DIRECTIONS, reference)
        # (test accuracy, measured latency) alone: what a two-objective sampler (guided) searches
        result["hypervolume_accuracy_latency"] = hypervolume_nd(points[:, :2], DIRECTIONS[:2], reference[:2])
        matched = [e for e in result["front"] if best_fp32 is not None and e["test_accuracy"] >= best_fp32
                   - MATCHED_POINTS - 1e-9]
        result["matched_smallest"] = min(matched, key=lambda e: (e["size_mb"], e["latency_ms"])) if matched else None
        result["matched_fastest"] = min(matched, key=lambda e: (e["latency_ms"], e["size_mb"])) if matched else None
    return {"seed": seed, "reference_point": reference, "best_fp32_test_accuracy": best_fp32, "searches": searches}


def _summary(races: list[dict], names: tuple) -> dict:
    """Per search: hypervolumes by seed; joint minus each other, paired by seed (mean, sd, wins)."""
    volumes = {name: [race["searches"][name]["hypervolume"] for race in races] for name in names}
    summary = {"hypervolume": volumes}
    if "joint" in names:
        for name in names:
            if name == "joint":
                continue
            differences = [j - o for j, o in zip(volumes["joint"], volumes[name])]
            summary[f"joint_minus_{name}"] = {
                "differences": differences, "mean": statistics.mean(differences),
                "sd": statistics.stdev(differences) if len(differences) > 1 else None,
                "joint_at_least_as_large": sum(d >= 0 for d in differences), "seeds": len(differences)}
    if {"joint", "joint-sensitivity"} <= set(names):  # does the sensitivity feature help? paired by seed
        for kind in ("hypervolume", "hypervolume_accuracy_latency"):
            differences = [race["searches"]["joint-sensitivity"][kind] - race["searches"]["joint"][kind]
                           for race in races]
            summary[f"sensitivity_minus_joint_{kind}"] = {
                "differences": differences, "median": statistics.median(differences), "worst": min(differences),
                "feature_at_least_as_large": sum(d >= 0 for d in differences), "seeds": len(differences)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/bench-joint-quant", help="run folder with a mixed-precision supernet")
    parser.add_argument("--profile", default="x86-cpu-ort-int4")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs if the run has no supernet")
    parser.add_argument("--count", type=int, default=120, help="networks to profile if the run has no predictor")
    parser.add_argument("--trials", type=int, default=600, help="trials per search (predicted latency)")
    parser.add_argument("--budget", type=int, default=24, help="networks measured for real per search")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="latency budget of the fronts: a trial whose predicted interval lies wholly above it "
                             "is not measured, one that straddles it is measured before it may enter the front")
    parser.add_argument("--sampler", default="nsga2", help="a sampler that takes three objectives")
    parser.add_argument("--sessions", type=int, default=3, help="fresh sessions timing the largest network")
    parser.add_argument("--parity", type=int, default=8, help="random mixed-precision configs checked for parity")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--searches", default=None,
                        help="comma-separated subset (default: all the space allows but joint-sensitivity: the "
                             "joint search with the guided sampler's accuracy surrogate reading the blocks' "
                             "sensitivity, for --sampler guided)")
    args = parser.parse_args(argv)

    from predictors import load_predictor

    from nas import pipeline
    from nas.models.sensitivity import precision_sensitivity
    from nas.run_folder import RunFolder, write_atomically

    run_path = Path(args.run)
    _prepare(run_path, args.profile, args.count, args.epochs)
    run = RunFolder(run_path)
    space, supernet, dataset = pipeline.open_run(run)
    if len(getattr(space, "precisions", ())) < 2:
        print(f"bench_joint_quant: {run.checkpoint} is a {space!r} supernet with one precision; train it with a "
              f"profile that declares several (x86-cpu-ort-int4)", file=sys.stderr)
        return 2
    names = ("joint", *space.precisions[::-1], "sequential")
    if args.searches:
        names = tuple(name for name in args.searches.split(",") if name in names + ("joint-sensitivity",))
    profiler = pipeline.run_profiler(run, space, supernet, args.profile)
    predictor, metadata = load_predictor(run.predictor)
    report = {"run": str(run_path), "profile": profiler.profile.name, "fingerprint": profiler.fingerprint,
              "space": space.key, "dataset": dataset.name, "trials": args.trials, "budget": args.budget,
              "latency_ms": args.latency_ms, "sampler": args.sampler, "seeds": args.seeds, "searches": list(names),
              "predictor_held_out": metadata.get("held_out")}
    report["largest"] = _largest(space, supernet, dataset, profiler, args.sessions) if args.sessions else None
    report["sensitivity"] = precision_sensitivity(space, supernet, dataset)
    report["parity"] = _parity(space, supernet, dataset, args.parity, args.seeds[0]) if args.parity else None
    races = [_race(space, supernet, dataset, predictor, profiler, run_path, names, args, seed,
                   report["sensitivity"]["increase"]) for seed in args.seeds]
    report["races"], report["summary"] = races, _summary(races, names)
    text = json.dumps(report, indent=2)
    write_atomically(run_path / "bench_joint_quant.json", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
