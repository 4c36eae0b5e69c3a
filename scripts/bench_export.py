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
  and against the exported ONNX file under ONNX Runtime;
- exporters (#27): for the first `--exporter-models` models, the seconds to export each with torch's dynamo
  exporter and with the deprecated TorchScript one (same network, same opset), or with `--opsets A,B` with the
  dynamo exporter at opset A and at opset B, the logit parity and ONNX Runtime test accuracy of each file
  with torch on the test split, their integer (and MatMulNBits) kernels, and the latency of both files through the run
  profile's own protocol (Profiler.time_model: interleaved with the reference), timed in turns (ABBA);
- predict (#27): `hwnas predict` on `--predict-images` PNG files (preprocessing, softmax and the output file
  included) against a bare ONNX Runtime session fed by hand-written PIL + numpy preprocessing, in turns
  (target: hwnas predict within 2x). Wall-clock seconds of whole runs (not a latency: a throughput, on a
  shared machine; the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
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
EXPORTERS = ("dynamo", "torchscript")


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


def exporter_comparison(run: Path, cards: list, out: Path, count: int, variants: tuple | None = None) -> list[dict]:
    """Per model: export seconds, parity and integer kernels of the file of each of the two `variants` ((label,
    exporter, opset): by default dynamo against TorchScript, both at the default opset, what export ships;
    `--opsets A,B`: dynamo at A against dynamo at B), and their latency on the run's profile, in turns
    (first, second, second, first)."""
    import numpy as np

    from nas.models.onnx_exporters import DEFAULT_OPSET

    variants = variants or (("dynamo", "dynamo", DEFAULT_OPSET), ("torchscript", "torchscript", DEFAULT_OPSET))

    from nas.models.checkpoint import open_run
    from nas.models.onnx_export import export_onnx, integer_kernels, nbits_kernels
    from nas.profiling.profiler import run_profiler
    from nas.run_folder import RunFolder

    space, supernet, dataset = open_run(RunFolder(run))
    profiler = run_profiler(RunFolder(run), space, supernet)
    labels = [label for label, _, _ in variants]
    for label, exporter, opset in variants:  # the first export of a process imports and builds what later ones reuse
        export_onnx(evaluation_network(space, supernet, cards[0]["config"], dataset.x_train), space.input_shape,
                    out / f"warm-up.{label}.onnx", opset=opset, exporter=exporter)
    rows = []
    for card in cards[:count]:
        network = evaluation_network(space, supernet, card["config"], dataset.x_train)
        int8 = len(network.int8_weights()) if hasattr(network, "int8_weights") else 0
        int4 = len(network.int4_weights()) if hasattr(network, "int4_weights") else 0
        torch_logits = predict_logits(network, dataset.x_test)
        row = {"config_id": card["config_id"], "int8_layers": int8, "int4_layers": int4,
               "profile": profiler.profile.name}
        for label, exporter, opset in variants:
            path = out / f"{card['config_id']}.{label}.onnx"
            started = time.perf_counter()
            export_onnx(network, space.input_shape, path, opset=opset, exporter=exporter)
            export_seconds = time.perf_counter() - started
            runtime = onnxruntime_logits(path, dataset.x_test, batch_size=1 if int8 else 256)
            row[label] = {"exporter": exporter, "opset": opset, "export_seconds": export_seconds,
                          "file_bytes": path.stat().st_size,
                          "max_abs_logit_difference": float(np.abs(runtime - torch_logits).max()),
                          "test_accuracy_runtime": float((runtime.argmax(1) == dataset.y_test).mean()),
                          "integer_kernels": integer_kernels(path, network.int8_scheme) if int8 else 0,
                          "nbits_kernels": nbits_kernels(path) if int4 else 0, "latency_ms": []}
        for label in (*labels, *reversed(labels)):  # ABBA: a slow spell of the machine hits both
            path = out / f"{card['config_id']}.{label}.onnx"
            row[label]["latency_ms"].append(profiler.time_model(path.name, path.read_bytes()).median_ms)
        for label in labels:
            row[label]["latency_ms_median"] = statistics.median(row[label]["latency_ms"])
        row[f"latency_{labels[0]}_over_{labels[1]}"] = (row[labels[0]]["latency_ms_median"]
                                                        / row[labels[1]]["latency_ms_median"])
        rows.append(row)
    return rows


def opset_variants(text: str) -> tuple:
    """--opsets "A,B": the dynamo exporter at opset A and at opset B."""
    opsets = [int(part) for part in text.split(",")]
    if len(opsets) != 2 or opsets[0] == opsets[1]:
        raise ValueError(f"--opsets must be two different opsets, e.g. 20,18; got {text!r}")
    return tuple((f"dynamo-opset{opset}", "dynamo", opset) for opset in opsets)


def write_images(folder: Path, count: int) -> list[int]:
    """`count` digits (sklearn's 8x8 images, cycled) as 8-bit grayscale PNG files; their labels."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    for index in range(count):
        row = index % len(digits.images)
        pixels = np.round(digits.images[row] / 16.0 * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{index:05d}.png")
        labels.append(int(digits.target[row]))
    return labels


def bare_session(model_path: Path, files: list[Path]) -> list[int]:
    """The baseline: an ONNX Runtime session fed by hand-written preprocessing (PIL decode, shorter side
    resized, centre crop, /255, the card's mean and std), 256 images a run (one for dynamic int8)."""
    import numpy as np
    import onnx
    import onnxruntime
    from PIL import Image

    model = onnx.load(str(model_path))
    record = json.loads({p.key: p.value for p in model.metadata_props}["hwnas.preprocessing"])
    size, channels = record["image_size"], record["channels"]
    mean = np.asarray(record["mean"], np.float32)[None, :, None, None]
    std = np.asarray(record["std"], np.float32)[None, :, None, None]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    step = 1 if any(node.op_type == "DynamicQuantizeLinear" for node in model.graph.node) else 256
    labels = []
    for start in range(0, len(files), 256):
        batch = []
        for file in files[start:start + 256]:
            with Image.open(file) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                scale = size / min(image.size)
                image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                                     Image.BILINEAR)
                left, top = (image.width - size) // 2, (image.height - size) // 2
                pixels = np.asarray(image.crop((left, top, left + size, top + size)), np.float32) / 255.0
            batch.append(pixels[None] if channels == 1 else pixels.transpose(2, 0, 1))
        inputs = (np.stack(batch) - mean) / std
        for offset in range(0, len(inputs), step):
            logits = session.run(None, {"input": inputs[offset:offset + step].astype(np.float32)})[0]
            labels.extend(int(label) for label in logits.argmax(1))
    return labels


def predict_comparison(models: Path, cards: list, out: Path, count: int, rounds: int) -> dict:
    """Throughput (images per second) of `hwnas predict` and of the bare session, `rounds` each in turns."""
    from nas.export.predict import predict_command

    card = max(cards, key=lambda c: c["test_accuracy_torch"])
    model_path = models / card["file"]
    folder = out / "predict-images"
    truth = write_images(folder, count)
    files = sorted(folder.glob("*.png"))
    seconds = {"hwnas_predict": [], "bare_session": []}
    for round_index in range(rounds):
        order = ("hwnas_predict", "bare_session") if round_index % 2 == 0 else ("bare_session", "hwnas_predict")
        for name in order:
            started = time.perf_counter()
            if name == "hwnas_predict":
                predict_command(str(model_path), [str(folder)], out=str(out / "predictions.json"))
            else:
                bare = bare_session(model_path, files)
            seconds[name].append(time.perf_counter() - started)
    predicted = [entry["predictions"][0]["label"] for entry in json.loads((out / "predictions.json").read_text())]
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {"model": card["file"], "images": count, "rounds": rounds, "seconds": seconds,
            "images_per_second": {name: count / value for name, value in medians.items()},
            "hwnas_over_bare_seconds": medians["hwnas_predict"] / medians["bare_session"], "target_at_most": 2.0,
            "labels_agree": predicted == bare,
            "accuracy": sum(int(a == b) for a, b in zip(predicted, truth)) / count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run folder with models/index.json")
    parser.add_argument("--models", default=None, help="the exported models' folder (default RUN/models)")
    parser.add_argument("--out", default=None, help="where to write the checkpoints and bundle (RUN/bench_export)")
    parser.add_argument("--switches", type=int, default=5, help="rounds through every variant (default 5)")
    parser.add_argument("--exporter-models", type=int, default=3,
                        help="models whose dynamo and TorchScript exports are compared (default 3; 0: none)")
    parser.add_argument("--opsets", default=None, metavar="A,B",
                        help="compare the dynamo exporter at opset A against opset B instead of dynamo against "
                             "TorchScript (e.g. 20,18; the ratio is A's latency over B's)")
    parser.add_argument("--predict-images", type=int, default=1000, help="images for the predict throughput (0: none)")
    parser.add_argument("--predict-rounds", type=int, default=3, help="timed runs of each, in turns (default 3)")
    args = parser.parse_args()
    run = Path(args.run)
    models = Path(args.models) if args.models else run / "models"
    if not (models / "index.json").is_file():
        parser.error(f"{models}/index.json not found: run `hwnas export --run {run}` first")
    out = Path(args.out) if args.out else run / "bench_export"
    load_before = os.getloadavg()
    result = bench(run, models, out, args.switches)
    cards = json.loads((models / "index.json").read_text())
    if args.exporter_models > 0:
        try:
            variants = opset_variants(args.opsets) if args.opsets else None
        except ValueError as error:
            parser.error(str(error))
        result["exporters"] = exporter_comparison(run, cards, out, args.exporter_models, variants)
    if args.predict_images > 0:
        result["predict"] = predict_comparison(models, cards, out, args.predict_images, args.predict_rounds)
    result["environment"] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": " ".join(sys.argv),
                             "commit": _commit(), "load_average_before": load_before,
                             "load_average_after": os.getloadavg()}
    print(json.dumps(result, indent=2))


def _commit() -> str:
    import subprocess

    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
