"""`hwnas audit`: how far the supernet's accuracies can be trusted for this run.

K sub-networks (the measured front first, then networks spread over the space by cost) are each trained
alone from fresh weights with the run's recipe, and optionally fine-tuned from the weights they inherit
from the supernet; all are scored on the test split. The inherited accuracy is what the search believed;
the stand-alone one is what training that network would give. audit.json keeps one row per network and the
summary (nas.audit.fidelity), RUN/report/audit.png plots one against the other.

Every training writes its checkpoint under RUN/audit/<config_id>/ after each epoch and its result when it
ends, in files named by a digest of the recipe: a killed audit continues where it stopped, and a finished
network is not trained again (another --epochs or --seed trains afresh, beside the old files).

A stand-alone accuracy is itself noisy: the same network trained with another seed lands elsewhere, by
most of a point on a small data set. `--repeats R` trains each network R times (seeds seed .. seed+R-1;
the first is the training a single-repeat audit made, reused) and compares the supernet with their mean;
the summary then gives the trainings' spread and the mean |gap| that this spread alone would show
(nas.audit.fidelity).

Under torchrun (`hwnas audit --nproc N`, as `hwnas train`) every rank runs the audit and each stand-alone
training is data-parallel over the ranks (the supernet's own loop, nas.training.distributed): the ranks
train the networks one after another, each on its shard of every batch. Rank 0 alone holds the lock and
writes (checkpoints, results, audit.json, the plot, the cards); whether a training finished before is
rank 0's answer, so ranks on machines that do not share the run folder agree (docs/decisions.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from nas.audit.fidelity import seed_spread_points, summarize
from nas.audit.selection import check_count, select_networks
from nas.errors import HwnasError
from nas.run_folder import RunFolder, write_atomically

RESULT_FORMAT = "hwnas-audit-result"
MAX_REPEATS = 10  # stand-alone trainings per network; the noise of their mean falls as 1/sqrt(repeats)


@dataclass(frozen=True)
class AuditConfig:
    subnets: int = 12  # networks to train alone (the front's first, then spread over the space by cost)
    epochs: int | None = None  # stand-alone epochs; None: as many as the supernet was trained for
    finetune_epochs: int = 0  # epochs of fine-tuning each network from its inherited weights (0: none)
    seed: int = 0  # picks the spread networks and seeds every training
    repeats: int = 1  # stand-alone trainings per network, seeded seed, seed+1, ...; their mean is the truth
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int | None = None  # torch intra-op threads of the trainings (0: all cores); None: the supernet's

    def __post_init__(self) -> None:
        check_count(self.subnets)
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 0):
            raise HwnasError(f"--threads must be 0 or a positive integer, got {self.threads!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise HwnasError(f"--epochs must be a positive integer, got {self.epochs!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or \
                not 1 <= self.repeats <= MAX_REPEATS:
            raise HwnasError(f"--repeats must be an integer from 1 to {MAX_REPEATS}, got {self.repeats!r}")
        if not isinstance(self.finetune_epochs, int) or self.finetune_epochs < 0:
            raise HwnasError(f"--finetune-epochs must be 0 or a positive integer, got {self.finetune_epochs!r}")


def audit(run_path: str | Path, config: AuditConfig = AuditConfig(), progress: bool = True,
          dataset: str | None = None, on_network: Callable[[dict], None] | None = None) -> dict:
    """Audit the run (see the module's doc); returns what audit.json holds. `dataset`: the run's data set at a
    new path, if it moved. `on_network(row)` is called as each network's row is complete."""
    import contextlib

    from nas.models.device import resolve_device
    from nas.training import distributed

    target = distributed.rank_device(resolve_device(config.device))  # checked before the run is read
    distributed.start(target)
    rank_zero = distributed.rank() == 0
    try:
        with RunFolder(run_path).lock("audit", exclusive=False) if rank_zero else \
                contextlib.nullcontext(RunFolder(run_path)) as run:
            return _audit(run, config, progress and rank_zero, dataset, target, on_network)
    finally:
        distributed.stop()


def check_audit(run_path: str | Path, config: AuditConfig, dataset: str | None = None) -> None:
    """What `audit` would refuse before it trains (no trained supernet, data moved, more networks than the
    space holds), checked in this process: `hwnas audit --nproc N` calls it before starting N processes, so
    bad input is one line, not one per rank."""
    from nas.export.network import load_entries
    from nas.models.checkpoint import open_run
    from nas.models.device import resolve_device

    resolve_device(config.device)
    run = RunFolder(run_path)
    space, _, _ = open_run(run, dataset, load_data=False)
    front_file = run.path / "front.json"
    select_networks(space, load_entries(front_file, "search") if front_file.exists() else [], config.subnets,
                    config.seed)


def _audit(run: RunFolder, config: AuditConfig, progress: bool, dataset: str | None, target: Any,
           on_network: Callable[[dict], None] | None) -> dict:
    from tqdm.auto import tqdm

    from nas.export.network import load_entries
    from nas.models.checkpoint import load_checkpoint, open_run
    from nas.report.audit_plot import audit_figure
    from nas.report.plots import save_png
    from nas.training.standalone import standalone_recipe

    space, supernet, data = open_run(run, dataset)
    checkpoint = load_checkpoint(run.checkpoint)
    front_file = run.path / "front.json"
    front = load_entries(front_file, "search") if front_file.exists() else []
    networks = select_networks(space, front, config.subnets, config.seed)
    settings = {**checkpoint.get("training", {}), "seed": config.seed}
    supernet_epochs = int(checkpoint.get("epoch", settings.get("epochs", 1)))
    recipe = standalone_recipe(settings, config.epochs or supernet_epochs, config.device)
    if config.threads is not None:  # where it runs, not what it trains: not part of the results' digests
        recipe = replace(recipe, threads=config.threads)
    supernet = supernet.to(target)
    rows = []
    bar = tqdm(networks, desc="auditing networks", unit="network", disable=not progress)
    for network in bar:
        bar.set_postfix(network=network["config_id"])
        row = _audit_network(run, space, supernet, data, network, recipe, config.repeats, config.finetune_epochs,
                             checkpoint.get("structure_sha256", ""), progress)
        rows.append(row)
        if on_network is not None:
            on_network(row)
    report = {"run": str(run.path), "space": space.key, "dataset": data.name, "supernet_epochs": supernet_epochs,
              "epochs": recipe.epochs, "finetune_epochs": config.finetune_epochs, "seed": config.seed,
              "repeats": config.repeats,
              "device": str(target), "front_file": front_file.exists(), "recipe": asdict(recipe),
              "networks": rows, "summary": summarize(rows)}
    if not _rank_zero():
        return report
    write_atomically(run.path / "audit.json", json.dumps(report, indent=2, sort_keys=True))
    seeds = f" (mean of {config.repeats} seeds, +- 1 sd)" if config.repeats > 1 else ""
    save_png(audit_figure(rows, f"{space.name} on {data.name}: {len(rows)} networks, "
                                f"{recipe.epochs} stand-alone epochs{seeds}"), run.path / "report" / "audit.png")
    from nas.audit.cards import add_audit_to_cards

    add_audit_to_cards(run.models, rows, report["summary"])
    return report


def _audit_network(run: RunFolder, space: Any, supernet: Any, data: Any, network: dict, recipe: Any,
                   repeats: int, finetune_epochs: int, supernet_digest: str, progress: bool) -> dict:
    """One network's row: inherited test accuracy (evaluated now), stand-alone (the mean of `repeats`
    trainings, seeded recipe.seed onwards) and fine-tuned test accuracy (trained, or read from the result
    of an earlier, finished training)."""
    import numpy as np

    from nas.models.evaluate import evaluation_network, subnet_accuracy

    config, config_id = network["config"], network["config_id"]
    inherited = subnet_accuracy(space, supernet, config, data.x_test, data.y_test, data.x_train)
    folder = run.path / "audit" / config_id
    identity = {"space": space.key, "config_id": config_id, "dataset": data.name}
    seeds = [recipe.seed + repeat for repeat in range(repeats)]
    trainings = [_trained_result(folder, "standalone", {**identity, "recipe": _recipe_key(seeded)}, config,
                                 lambda: space.build_network(config), data, seeded, progress)
                 for seeded in (replace(recipe, seed=seed) for seed in seeds)]
    tests = [training["test_accuracy"] for training in trainings]
    validations = [training["val_accuracy"] for training in trainings if training["val_accuracy"] is not None]
    standalone = float(np.mean(tests))
    costs = space.cost_features(config)
    row = {**network, "params": int(costs.get("params", 0)), "macs": float(costs.get("macs", 0.0)),
           "inherited_test_accuracy": inherited, "standalone_test_accuracy": standalone,
           "standalone_test_accuracies": tests, "standalone_seeds": seeds,
           "standalone_sd_points": seed_spread_points(tests),
           "standalone_val_accuracy": float(np.mean(validations)) if validations else None,
           "standalone_epochs": recipe.epochs,
           "standalone_train_seconds": round(sum(training["train_seconds"] for training in trainings), 3),
           "gap_points": 100.0 * (inherited - standalone),
           "finetuned_test_accuracy": None}
    if finetune_epochs:
        inherited_network = evaluation_network(space, supernet, config, data.x_train).cpu()
        tuned = _trained_result(folder, "finetune",
                                {**identity, "recipe": _recipe_key(replace(recipe, epochs=finetune_epochs)),
                                 "supernet": supernet_digest},
                                config, lambda: copy.deepcopy(inherited_network), data,
                                replace(recipe, epochs=finetune_epochs), progress)
        row.update(finetuned_test_accuracy=tuned["test_accuracy"], finetune_epochs=finetune_epochs)
    return row


def _trained_result(folder: Path, kind: str, identity: dict, config: dict, make_network: Callable[[], Any],
                    data: Any, recipe: Any, progress: bool) -> dict:
    """{"test_accuracy", "val_accuracy", "train_seconds"} of the network trained alone: read from
    FOLDER/KIND-DIGEST.json when that training finished before, else trained (resuming its checkpoint)."""
    from nas.models.evaluate import accuracy, predict_logits
    from nas.models.device import module_device
    from nas.training import distributed
    from nas.training.standalone import train_network

    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    result_path = folder / f"{kind}-{digest}.json"
    found = _read_result(result_path, identity) if _rank_zero() and result_path.exists() else None
    found = distributed.from_rank_zero(found, distributed.rank_device(_device(recipe)))
    if found is not None:
        return found
    network, state = train_network(config, make_network, identity, data, folder / f"{kind}-{digest}.pt", recipe,
                                   progress=progress)
    history = state.get("history") or [{}]
    result = {"format": RESULT_FORMAT, "identity": identity,
              "test_accuracy": accuracy(predict_logits(network, data.x_test, device=module_device(network)),
                                        data.y_test),
              "val_accuracy": history[-1].get("val_accuracy_largest"),
              "train_seconds": round(sum(epoch.get("train_seconds", 0.0) for epoch in history), 3)}
    result = distributed.from_rank_zero(result, distributed.rank_device(_device(recipe)))  # one report on every rank
    if _rank_zero():
        write_atomically(result_path, json.dumps(result, indent=2, sort_keys=True))
    return result


def _rank_zero() -> bool:
    from nas.training import distributed

    return distributed.rank() == 0


def _device(recipe: Any) -> Any:
    from nas.models.device import resolve_device

    return resolve_device(recipe.device)


def _read_result(path: Path, identity: dict) -> dict | None:
    """A finished training's result, or None (to train again) when the file is damaged or not this one's."""
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT or result.get("identity") != identity:
        return None
    if not isinstance(result.get("test_accuracy"), float) or not 0.0 <= result["test_accuracy"] <= 1.0:
        return None
    return result


def _recipe_key(recipe: Any) -> dict:
    """What of the recipe decides the trained weights (not where or with how many threads it ran)."""
    return {key: value for key, value in asdict(recipe).items()
            if key not in ("device", "threads", "loader_workers")}


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def summary_line(report: dict) -> str:
    summary = report["summary"]
    tau, rho, front = summary["kendall_tau"], summary["spearman"], summary["front"]
    text = (f"{summary['networks']} networks: Kendall tau {'-' if tau is None else f'{tau:.3f}'}, Spearman "
            f"{'-' if rho is None else f'{rho:.3f}'}, inherited - stand-alone {_points(summary['mean_gap_points'])} "
            f"points on average (largest |gap| {summary['largest_abs_gap_points']:.2f})")
    if front["networks"]:
        share = "-" if front["same_order_share"] is None else f"{front['same_order_share']:.0%}"
        text += (f"; front ({front['networks']}): mean |gap| {front['mean_abs_gap_points']:.2f} points, "
                 f"{share} of its pairs in the same order")
    noise = summary.get("standalone_noise")
    if noise:
        text += (f"; stand-alone over {noise['repeats']} seeds: sd {noise['sd_points']:.2f} points a network, "
                 f"so a supernet without error would still show a mean |gap| of about "
                 f"{noise['mean_abs_gap_floor_points']:.2f}")
    if "finetuned" in summary:
        tuned = summary["finetuned"]
        text += (f"; fine-tuned {report['finetune_epochs']} epochs: mean |gap| {tuned['mean_abs_gap_points']:.2f} "
                 f"points ({'closes' if tuned['closes_gap'] else 'does not close'} the gap of "
                 f"{tuned['inherited_mean_abs_gap_points']:.2f})")
    return text


def format_audit(report: dict) -> str:
    """The audited networks, one line each, then the summary line."""
    header = f"{'network':<18}{'front':>6}{'params':>9}{'inherited':>11}{'stand-alone':>13}{'sd pts':>8}" \
             f"{'gap pts':>9}{'fine-tuned':>12}"
    lines = [header, "-" * len(header)]
    for row in report["networks"]:
        tuned, spread = row["finetuned_test_accuracy"], row.get("standalone_sd_points")
        lines.append(f"{row['config_id']:<18}{'yes' if row['on_front'] else '':>6}{row['params']:>9}"
                     f"{row['inherited_test_accuracy']:>11.4f}{row['standalone_test_accuracy']:>13.4f}"
                     f"{'-' if spread is None else f'{spread:.2f}':>8}"
                     f"{row['gap_points']:>+9.2f}{'-' if tuned is None else f'{tuned:.4f}':>12}")
    return "\n".join(lines + [summary_line(report), f"written: {report['run']}/audit.json, "
                                                    f"{report['run']}/report/audit.png"])
