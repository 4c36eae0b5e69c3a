"""Supernet training with the sandwich rule and in-place distillation.

Each step trains the largest sub-network on the labels, then the smallest and `random_subnets`
random ones on the largest's soft predictions (in-place distillation), accumulating the gradients
of all of them into one optimiser step on the shared weights. As in once-for-all's progressive
shrinking, the first `largest_only_fraction` of the epochs train the largest network alone: on small
data, distilling from a teacher that has not learnt anything yet stalls the whole supernet (measured on
mnist5k: 71% validation accuracy after 15 sandwich epochs from scratch, 97% when the largest trains
alone for the first half of 16). A checkpoint is written atomically
after every epoch; training resumes from it.

Batches come through a `torch.utils.data.DataLoader` (nas.training.loader). Training runs on `device`
(auto: the first CUDA device, else CPU), with automatic mixed precision on CUDA (bf16 where supported,
else fp16 with a gradient scaler). Under torchrun it trains data-parallel (nas.training.distributed).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.models.checkpoint import differing_arguments, load_checkpoint, save_checkpoint
from nas.data import Dataset
from nas.errors import HwnasError
from nas.models.device import amp_dtype, autocast, resolve_device
from nas.training import distributed

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 15  # passes over the training split
    batch_size: int = 32
    learning_rate: float = 1.5e-3  # peak AdamW learning rate (linear warm-up, then cosine decay)
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1  # share of the steps spent warming up
    random_subnets: int = 2  # random sub-networks per step, besides the largest and the smallest
    largest_only_fraction: float = 0.5  # share of the epochs that train only the largest network
    label_smoothing: float = 0.1  # for the largest sub-network's loss on the labels
    augment: bool = True  # apply the data set's own augmentation (e.g. small random affine warps of images)
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = all cores
    device: str = "auto"  # auto (the first CUDA device if torch has one, else CPU), cpu, cuda or cuda:N
    amp: bool = True  # automatic mixed precision on CUDA (bf16 where supported, else fp16); CPU stays fp32
    loader_workers: int = 0  # DataLoader worker processes (0: batches are read in the training process)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "random_subnets", "loader_workers", "threads"):
            if getattr(self, name) < (0 if name in ("random_subnets", "loader_workers", "threads") else 1):
                raise HwnasError(f"training field {name!r} must be a positive integer, got {getattr(self, name)!r}")
        if not 0.0 <= self.largest_only_fraction <= 1.0:
            raise HwnasError(f"training field 'largest_only_fraction' must be between 0 and 1, "
                             f"got {self.largest_only_fraction!r}")
        if not self.learning_rate > 0:
            raise HwnasError(f"training field 'learning_rate' must be > 0, got {self.learning_rate!r}")


def learning_rate_at(step: int, total_steps: int, config: TrainingConfig) -> float:
    warmup = max(1, int(config.warmup_fraction * total_steps))
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_supernet(space: Any, dataset: Dataset, checkpoint_path: Path, config: TrainingConfig = TrainingConfig(),
                   resume: bool = True, progress: bool = True,
                   initial_weights: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or resume training) and return the final checkpoint dict. `initial_weights` (a state dict,
    e.g. of an fp32 supernet to fine-tune with quantization-aware training) seed a fresh run only.
    Under torchrun (WORLD_SIZE > 1) every rank calls this; rank 0 alone writes the checkpoint and logs."""
    import torch
    from tqdm.auto import tqdm

    from nas.models.evaluate import subnet_accuracy
    from nas.training.loader import training_loader

    checkpoint_path = Path(checkpoint_path)
    device = distributed.rank_device(resolve_device(config.device))
    distributed.start(device)
    rank, world = distributed.rank(), distributed.world_size()
    progress = progress and rank == 0
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    supernet = space.build_supernet().to(device)
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    precision = amp_dtype(device, config.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == torch.float16)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = np.random.default_rng(config.seed)
    start_epoch, history = 0, []
    identity = {"name": space.name, "arguments": space.arguments}
    found = _resumable(checkpoint_path, resume, identity, space, dataset) if rank == 0 else None
    found = distributed.from_rank_zero(found, device)  # every rank resumes rank 0's checkpoint
    if found and found.get("error"):
        raise HwnasError(found["error"])
    if found:
        state = found["state"]
        supernet.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        sampler = np.random.default_rng(state["sampler_seed"])
        start_epoch, history = state["epoch"], list(state["history"])
        if start_epoch >= config.epochs:
            return state
    elif initial_weights is not None:
        supernet.load_state_dict(initial_weights, strict=True)

    loader, batches = training_loader(dataset.x_train, dataset.y_train, config.batch_size, config.loader_workers,
                                      pin_memory=device.type == "cuda", rank=rank, world_size=world)
    steps_per_epoch = len(batches)
    total_steps = steps_per_epoch * config.epochs
    largest, smallest = space.largest(), space.smallest()
    parameters = [p for p in supernet.parameters() if p.requires_grad]
    settings = {**asdict(config), "device_used": str(device), "world_size": world,
                "amp_dtype": None if precision is None else str(precision).replace("torch.", "")}
    state: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        supernet.train()
        batches.new_epoch(generator)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, unit="step")
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, seen (this rank)
        digest = distributed.subnet_digest()
        started = time.perf_counter()
        for step_in_epoch, (batch, target) in enumerate(bar):
            share = 1.0 if world == 1 else len(target) / len(batches.global_batch(step_in_epoch))
            if config.augment and dataset.augmentation is not None:
                batch = dataset.augmentation(batch, generator if world == 1 else _rank_generator(generator, rank))
            batch, target = batch.to(device, non_blocking=True), target.to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(epoch * steps_per_epoch + step_in_epoch, total_steps, config)
            optimizer.zero_grad(set_to_none=True)
            shrinking = epoch >= int(config.largest_only_fraction * config.epochs)
            students = [smallest] + [space.sample(sampler) for _ in range(config.random_subnets)] if shrinking else []
            digest.update(repr([space.config_id(student) for student in students]).encode())
            loss, teacher_logits = _sandwich_step(supernet, batch, target, largest, students, config, share,
                                                  device, precision, scaler)
            distributed.average_gradients(parameters, device)
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(supernet.parameters(), 5.0)
            scaler.step(optimizer)
            scaler.update()
            totals += torch.tensor([loss.item() * len(target), (teacher_logits.argmax(1) == target).sum().item(),
                                    len(target)], dtype=torch.float64)
            bar.set_postfix(loss=f"{totals[0] / totals[2]:.3f}", acc=f"{totals[1] / totals[2]:.3f}")
        seconds = time.perf_counter() - started  # the steps alone, without validation
        distributed.check_same_subnets(digest, epoch + 1)
        totals = distributed.sum_over_ranks(totals, device)
        distributed.broadcast_buffers(supernet)  # BatchNorm statistics: rank 0's, on every rank
        validation = (dataset.x_val, dataset.y_val, dataset.x_train)
        record = {"epoch": epoch + 1, "train_loss": float(totals[0] / totals[2]),
                  "train_accuracy": float(totals[1] / totals[2]), "train_seconds": round(seconds, 3),
                  "val_accuracy_largest": subnet_accuracy(space, supernet, largest, *validation),
                  "val_accuracy_smallest": subnet_accuracy(space, supernet, smallest, *validation)}
        history.append(record)
        if progress:
            LOGGER.info(f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.3f}, "
                        f"val accuracy largest {record['val_accuracy_largest']:.3f}, "
                        f"smallest {record['val_accuracy_smallest']:.3f}")
        state = _on_cpu({"space": identity, "dataset": dataset.name, "model": supernet.state_dict(),
                         "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                         "sampler_seed": int(sampler.integers(2**63)), "epoch": epoch + 1, "training": settings,
                         "history": history, **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {})})
        if rank == 0:
            save_checkpoint(checkpoint_path, state)
    distributed.barrier()
    return state


def _resumable(checkpoint_path: Path, resume: bool, identity: dict, space: Any, dataset: Dataset) -> dict | None:
    """{"state": the checkpoint to resume} or {"error": why it cannot be}; None without a checkpoint."""
    if not checkpoint_path.exists():
        return None
    if not resume:
        return {"error": f"{checkpoint_path} already exists; resume it or choose another run folder"}
    try:
        state = load_checkpoint(checkpoint_path)
    except HwnasError as error:
        return {"error": str(error)}
    if state["space"] != identity or state["dataset"] != dataset.name:
        different = differing_arguments(state["space"].get("arguments", {}), identity["arguments"])
        detail = f" (space arguments that differ: {', '.join(different)})" if different else ""
        return {"error": f"{checkpoint_path} was trained for space {state['space']['name']!r} on "
                         f"{state['dataset']!r}, not {space.name!r} on {dataset.name!r}{detail}; use another run folder"}
    return {"state": state}


def _sandwich_step(supernet: Any, batch: Any, target: Any, largest: dict, students: list, config: TrainingConfig,
                   share: float, device: Any, precision: Any, scaler: Any) -> tuple[Any, Any]:
    """Forward and backward of the largest network on the labels and of each student on its soft
    predictions; each loss weighted by this rank's share of the global batch. Returns (loss, logits)."""
    import torch.nn.functional as F

    with autocast(device, precision):
        teacher_logits = supernet(batch, largest).float()
    loss = F.cross_entropy(teacher_logits, target, label_smoothing=config.label_smoothing)
    scaler.scale(loss if share == 1.0 else loss * share).backward()
    teacher = teacher_logits.detach().softmax(dim=1)
    for student in students:
        with autocast(device, precision):
            student_logits = supernet(batch, student).float()
        distillation = F.kl_div(student_logits.log_softmax(dim=1), teacher, reduction="batchmean")
        scaler.scale(distillation if share == 1.0 else distillation * share).backward()
    return loss, teacher_logits


def _rank_generator(generator: Any, rank: int) -> Any:
    """With several ranks, each augments its own shard with a generator of its own, seeded from one draw of
    the shared generator (so the shared one stays in step on every rank, whatever the shard sizes)."""
    import torch

    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(seed + rank)


def _on_cpu(value: Any) -> Any:
    """The checkpoint's tensors on the CPU (a CUDA run's checkpoint loads anywhere)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value
