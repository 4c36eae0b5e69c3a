"""One export, several devices: `hwnas export --profiles A,B` re-times every exported network's ONNX file
(the `onnx` artifact, the network as searched) on each listed hardware profile that runs on this machine, so
the model cards and the elastic bundle carry one latency per profile and `ElasticModel.select(...,
profile=...)` picks per device. A profile that cannot run here (a GPU profile on a CPU machine) is skipped
with its one-line reason, said on stderr and recorded, never silently.

Which networks: the run's front (`--trials pareto`, the default) and the front of every listed profile that
was searched in the run (`hwnas search --profile B`, its front under profiles/B/), each network once, so
`select(profile=B)` can return a network of B's own front (`searched_fronts`). A listed profile never
searched in the run adds no front of its own: the others' networks are still timed on it (or it is skipped,
where it cannot run here), and stderr says so, naming `hwnas search --profile B`.

The run's own profile keeps the latency its card was re-timed with; the others are timed through the same
measurement protocol (their YAML's), one file at a time, nothing stored in the run's measurement store
except the reference's log (as every re-timing of an artifact).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from nas.errors import HwnasError

LOGGER = logging.getLogger(__name__)


def parse_profiles(text: str | Sequence[str] | None) -> list[str]:
    """The profile names (or YAML paths) of "A,B" in order, each once; [] for None."""
    if text is None:
        return []
    names = list(text) if not isinstance(text, str) else [part.strip() for part in text.split(",")]
    names = [name for name in names if name]
    if not names:
        raise HwnasError(f"--profiles must name hardware profiles, e.g. x86-cpu-ort,x86-cpu-ort-2t; got {text!r}")
    return list(dict.fromkeys(names))


def load_profiles(names: Sequence[str]) -> list[Any]:
    """The HardwareProfiles of `names` (an unknown one fails here, before anything is written)."""
    from hw_profiles import load_profile

    return [load_profile(name) for name in names]


def searched_fronts(run: Any, profiles: Sequence[Any], own: str) -> list[dict]:
    """The networks of the run's front (on its own profile `own`) and of the fronts searched on `profiles`
    (HardwareProfiles; one never searched adds nothing, with a warning), each once, in that order; each
    entry's `fronts` says whose fronts hold it, with the trial and the latency measured there. The entries of
    another profile's front carry no latency of their own (theirs was measured on that profile, not on `own`,
    which the card compares its re-timing with)."""
    from nas.export.network import load_entries

    by_config: dict[str, dict] = {}
    names = [own] + [profile.name for profile in profiles if profile.name != own]
    for name in dict.fromkeys(names):
        files = run.profile_files(None if name == own else name)
        if not files.front.exists():
            if name == own:
                run.require(files.front, "search")
            LOGGER.warning(f"warning: --profiles: {name} was never searched in this run, so it adds no front of its "
                           f"own (its latencies cover the other profiles' fronts); for its own front run `hwnas "
                           f"search --run {run.path} --profile {name}` first")
            continue
        for entry in load_entries(files.front, f"search --profile {name}" if name != own else "search"):
            key = json.dumps(entry["config"], sort_keys=True)
            searched = {"trial": entry.get("trial"), "latency_ms": entry.get("latency_ms")}
            if key not in by_config:
                by_config[key] = dict(entry) if name == own else {"config": entry["config"], "trial": None,
                                                                  "val_accuracy": entry["val_accuracy"]}
                by_config[key]["fronts"] = {}
            by_config[key]["fronts"][name] = searched
    return list(by_config.values())


def unavailable_reason(profile: Any) -> str | None:
    """Why `profile` cannot be timed on this machine (None: it can)."""
    from hw_profiles import create_backend

    ready, reason = create_backend(profile).available()
    return None if ready else (reason or "its backend is not available here")


def card_latency(card: Mapping[str, Any]) -> dict:
    """The latency of a model card's own re-timing, in the per-profile form."""
    return {"latency_ms": card["latency_ms"], "latency_iqr_ms": card.get("latency_iqr_ms"),
            "profile_fingerprint": card.get("profile_fingerprint")}


def latencies_on_profiles(profiles: Sequence[Any], space: Any, supernet: Any, cards: list[dict], folder: Path,
                          store: Any, networks: Mapping[str, Any]) -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """({config_id: {profile name: {latency_ms, latency_iqr_ms, profile_fingerprint}}}, {skipped profile: why}).
    Each card's own profile keeps the card's latency; every other profile in `profiles` that runs here times
    each card's ONNX file (folder/<card's file>), or its network (`networks`, by config_id) where the profile's
    backend times modules. `store`: the run's measurement store (reference logs)."""
    from nas.export.formats import create_format
    from nas.profiling.profiler import Profiler

    searched = create_format("onnx")
    latencies = {card["config_id"]: {card["hardware_profile"]: card_latency(card)} for card in cards}
    skipped: dict[str, str] = {}
    for profile in profiles:
        pending = [card for card in cards if profile.name not in latencies[card["config_id"]]]
        if not pending:
            continue
        reason = unavailable_reason(profile)
        if reason is not None:
            skipped[profile.name] = reason
            LOGGER.warning(f"warning: --profiles: {profile.name} does not run here, not timed: {reason}")
            continue
        profiler = Profiler(space, supernet, profile, store)
        for card in pending:
            path = Path(folder) / card["file"]
            model = searched.timing_model(path, networks.get(card["config_id"]), profiler.model_format)
            measurement = profiler.time_model(path.name, model)
            latencies[card["config_id"]][profile.name] = {
                "latency_ms": measurement.median_ms, "latency_iqr_ms": measurement.iqr_ms,
                "profile_fingerprint": profiler.fingerprint}
    return latencies, skipped


def dispatch_rows(variants: Sequence[Any], latency_of: Any, select: Any) -> list[dict]:
    """The budget ranges of one profile: [{from_ms, to_ms (None: no upper end), variant, latency_ms,
    accuracy}], each range the budgets for which `select(budget)` picks that variant. The choice changes
    only at a variant's latency, so selecting at each distinct latency gives every range."""
    steps = sorted({latency_of(variant) for variant in variants})
    rows: list[dict] = []
    for index, budget in enumerate(steps):
        chosen = select(budget)
        upper = steps[index + 1] if index + 1 < len(steps) else None
        if rows and rows[-1]["variant"] == chosen.name:
            rows[-1]["to_ms"] = upper
            continue
        rows.append({"from_ms": budget, "to_ms": upper, "variant": chosen.name,
                     "latency_ms": latency_of(chosen), "accuracy": chosen.accuracy})
    return rows
