"""Data-parallel training on torch.distributed, as started by torchrun (`torchrun --nproc-per-node N -m nas
train ...`, or `hwnas train --nproc N`).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `start` joins the process group
(gloo on CPU, NCCL on CUDA). Each rank reads its shard of every global batch; every rank draws the same
sub-networks from the same seeded generator; the gradients are averaged once per step (`average_gradients`,
one all-reduce over one flat buffer). Only rank 0 writes checkpoints and prints.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from nas.errors import HwnasError


def launched_world_size() -> int:
    """WORLD_SIZE as torchrun set it (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise HwnasError(f"environment variable WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") \
            from None


def active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if active() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def rank_device(device: Any) -> Any:
    """Under torchrun, each rank on a machine takes the CUDA device of its LOCAL_RANK."""
    import torch

    if device.type == "cuda" and launched_world_size() > 1 and device.index in (None, 0):
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def start(device: Any) -> bool:
    """Join the process group torchrun prepared (gloo on CPU, NCCL on CUDA); False when there is none to
    join (one process, or already joined)."""
    import torch
    import torch.distributed as dist

    if launched_world_size() <= 1 or active():
        return False
    if not dist.is_available():
        raise HwnasError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def stop() -> None:
    import torch.distributed as dist

    if active():
        dist.destroy_process_group()


def barrier() -> None:
    import torch.distributed as dist

    if active():
        dist.barrier()


def average_gradients(parameters: list, device: Any) -> None:
    """Sum every rank's gradients in one all-reduce (each rank's loss is already weighted by its share of
    the global batch, so the sum is the gradient of the global batch's mean loss). A parameter that no
    rank gave a gradient keeps None, as in one process."""
    import torch
    import torch.distributed as dist

    if not active():
        return
    pieces = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters]
    present = torch.tensor([p.grad is not None for p in parameters], dtype=pieces[0].dtype, device=device)
    flat = torch.cat([*pieces, present])
    dist.all_reduce(flat)
    offset, given = 0, flat[-len(parameters):] > 0
    for index, (parameter, piece) in enumerate(zip(parameters, pieces)):
        parameter.grad = flat[offset:offset + piece.numel()].view_as(parameter).clone() if given[index] else None
        offset += piece.numel()


def check_same_subnets(digest: Any, epoch: int) -> None:
    """Every rank must have trained the same sub-networks this epoch (their digest is compared)."""
    import torch.distributed as dist

    if not active():
        return
    digests: list = [None] * dist.get_world_size()
    dist.all_gather_object(digests, digest.hexdigest())
    if len(set(digests)) != 1:
        raise HwnasError(f"epoch {epoch}: the ranks sampled different sub-networks ({digests}); every rank "
                         f"must run the same hwnas version and settings")


def subnet_digest() -> Any:
    return hashlib.sha256()


def sum_over_ranks(values: Any, device: Any) -> Any:
    """`values` (a CPU tensor) summed over the ranks (through `device`: NCCL reduces CUDA tensors only)."""
    import torch.distributed as dist

    if not active():
        return values
    on_device = values.to(device)
    dist.all_reduce(on_device)
    return on_device.cpu()


def broadcast_buffers(module: Any) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank, so every rank holds the same model."""
    import torch.distributed as dist

    if active():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def from_rank_zero(value: Any, device: Any) -> Any:
    """Rank 0's `value` (any picklable object) on every rank: the checkpoint it resumes, on machines that may
    not share its file system."""
    import torch.distributed as dist

    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]
