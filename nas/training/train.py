"""Supernet training with the sandwich rule and in-place distillation.

Each step trains the largest sub-network on the labels, then the smallest and `random_subnets`
random ones on the largest's soft predictions (in-place distillation), accumulating the gradients
of all of them into one optimiser step on the shared weights. As in once-for-all's progressive
shrinking, the first `largest_only_fraction` of the epochs train the largest network alone: on small
data, distilling from a teacher that has not learnt anything yet stalls the whole supernet (measured on
mnist5k: 71% validation accuracy after 15 sandwich epochs from scratch, 97% when the largest trains
alone for the first half of 16). A checkpoint is written atomically
after every epoch; training resumes from it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.models.checkpoint import differing_arguments, load_checkpoint, save_checkpoint
from nas.data import Dataset
from nas.errors import HwnasError

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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "random_subnets"):
            if getattr(self, name) < (0 if name == "random_subnets" else 1):
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
    e.g. of an fp32 supernet to fine-tune with quantization-aware training) seed a fresh run only."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from nas.models.evaluate import subnet_accuracy

    checkpoint_path = Path(checkpoint_path)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    supernet = space.build_supernet()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = np.random.default_rng(config.seed)
    start_epoch, history = 0, []
    identity = {"name": space.name, "arguments": space.arguments}
    if checkpoint_path.exists():
        if not resume:
            raise HwnasError(f"{checkpoint_path} already exists; resume it or choose another run folder")
        state = load_checkpoint(checkpoint_path)
        if state["space"] != identity or state["dataset"] != dataset.name:
            different = differing_arguments(state["space"].get("arguments", {}), identity["arguments"])
            detail = f" (space arguments that differ: {', '.join(different)})" if different else ""
            raise HwnasError(f"{checkpoint_path} was trained for space {state['space']['name']!r} on "
                             f"{state['dataset']!r}, not {space.name!r} on {dataset.name!r}{detail}; "
                             f"use another run folder")
        supernet.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        sampler = np.random.default_rng(state["sampler_seed"])
        start_epoch, history = state["epoch"], list(state["history"])
        if start_epoch >= config.epochs:
            return state
    elif initial_weights is not None:
        supernet.load_state_dict(initial_weights, strict=True)

    images, labels = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
    steps_per_epoch = math.ceil(len(labels) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    largest, smallest = space.largest(), space.smallest()
    state: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        supernet.train()
        order = torch.randperm(len(labels), generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, unit="step")
        loss_sum = correct = seen = 0.0
        for step_in_epoch in bar:
            index = order[step_in_epoch * config.batch_size:(step_in_epoch + 1) * config.batch_size]
            batch, target = images[index], labels[index]
            if config.augment and dataset.augmentation is not None:
                batch = dataset.augmentation(batch, generator)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(epoch * steps_per_epoch + step_in_epoch, total_steps, config)
            optimizer.zero_grad(set_to_none=True)
            teacher_logits = supernet(batch, largest)
            loss = F.cross_entropy(teacher_logits, target, label_smoothing=config.label_smoothing)
            loss.backward()
            teacher = teacher_logits.detach().softmax(dim=1)
            shrinking = epoch >= int(config.largest_only_fraction * config.epochs)
            students = [smallest] + [space.sample(sampler) for _ in range(config.random_subnets)] if shrinking else []
            for student in students:
                student_logits = supernet(batch, student)
                F.kl_div(student_logits.log_softmax(dim=1), teacher, reduction="batchmean").backward()
            torch.nn.utils.clip_grad_norm_(supernet.parameters(), 5.0)
            optimizer.step()
            loss_sum += loss.item() * len(target)
            correct += (teacher_logits.argmax(1) == target).sum().item()
            seen += len(target)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        validation = (dataset.x_val, dataset.y_val, dataset.x_train)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "val_accuracy_largest": subnet_accuracy(space, supernet, largest, *validation),
                  "val_accuracy_smallest": subnet_accuracy(space, supernet, smallest, *validation)}
        history.append(record)
        if progress:
            LOGGER.info(f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.3f}, "
                        f"val accuracy largest {record['val_accuracy_largest']:.3f}, "
                        f"smallest {record['val_accuracy_smallest']:.3f}")
        state = {"space": identity, "dataset": dataset.name, "model": supernet.state_dict(),
                 "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                 "sampler_seed": int(sampler.integers(2**63)), "epoch": epoch + 1, "training": asdict(config),
                 "history": history}
        save_checkpoint(checkpoint_path, state)
    return state
