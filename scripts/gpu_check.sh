#!/usr/bin/env bash
# GPU check of training on CUDA, ready to run on a lent GPU (at most 8 minutes on one H100): trains the
# default vit supernet on mnist5k on CUDA with AMP, reports samples/s and peak GPU memory, profiles 20
# networks on nvidia-gpu-torch, fits, searches 30 trials and exports. Prints one JSON object; where there
# is no CUDA GPU it prints {"ok": false, "reason": ...} and exits 1.
#   scripts/gpu_check.sh [RUN_FOLDER]      (EPOCHS=15 by default; PYTHON=python)
set -u
cd "$(dirname "$0")/.."
RUN="${1:-$(mktemp -d)/gpu-check}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HWNAS_GPU_CHECK_RUN="$RUN" HWNAS_GPU_CHECK_EPOCHS="${EPOCHS:-15}"
timeout 480 "${PYTHON:-python}" - <<'PY'
import json, os, sys, time

report = {"ok": False, "run": os.environ["HWNAS_GPU_CHECK_RUN"]}
try:
    import torch
except ImportError as error:
    print(json.dumps({**report, "reason": f"torch is not installed: {error}"})); sys.exit(1)
report["torch"] = torch.__version__
if not torch.cuda.is_available():
    build = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build, no GPU visible"
    print(json.dumps({**report, "reason": f"no CUDA GPU: torch {torch.__version__} ({build})"})); sys.exit(1)
try:
    from nas import pipeline
    from nas.data import load_dataset
    from nas.search.driver import SearchConfig
    from nas.training.train import TrainingConfig

    run, epochs = report["run"], int(os.environ["HWNAS_GPU_CHECK_EPOCHS"])
    report.update(gpu=torch.cuda.get_device_name(0), amp_dtype="bfloat16" if torch.cuda.is_bf16_supported()
                  else "float16", epochs=epochs)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    last = pipeline.train(run, dataset="mnist5k", training=TrainingConfig(epochs=epochs, device="cuda", amp=True),
                          profile_name="nvidia-gpu-torch", progress=False)
    seconds = time.perf_counter() - start
    samples = epochs * len(load_dataset("mnist5k").y_train)
    report["training"] = {"seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 1),
                          "peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1), **last}
    steps = {}
    for name, call in (("profile", lambda: pipeline.profile(run, "nvidia-gpu-torch", count=20, progress=False)),
                       ("fit", lambda: pipeline.fit(run, progress=False)),
                       ("search", lambda: pipeline.search(run, SearchConfig(trials=30), progress=False, device="cuda")),
                       ("export", lambda: pipeline.export(run, progress=False, device="cuda"))):
        start = time.perf_counter()
        result = call()
        steps[name] = {"seconds": round(time.perf_counter() - start, 2),
                       **({"count": len(result)} if isinstance(result, list) else {})}
    report["steps"] = steps
    report["ok"] = True
except Exception as error:  # noqa: BLE001 - the reason goes into the JSON
    report["reason"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
print(json.dumps(report, indent=2))
sys.exit(0 if report["ok"] else 1)
PY
status=$?
if [ "$status" -eq 124 ]; then
  echo "{\"ok\": false, \"run\": \"$RUN\", \"reason\": \"ran past 8 minutes (timeout 480 s)\"}"
fi
exit "$status"
