"""torch-cuda backend: times the extracted torch module itself on a CUDA GPU, with CUDA events, replaying
a captured CUDA graph where the module allows one (eager otherwise)."""

from __future__ import annotations

import copy
import platform
from typing import TYPE_CHECKING, Any

from hw_profiles.backends.base import Backend
from hw_profiles.backends.registry import register_backend
from hw_profiles.errors import ProfileError
from hw_profiles.gpu import cuda_event_timer, gpu_environment, seeded_model_input, torch_cuda_unavailable_reason
from hw_profiles.model_input import InputSpec, as_input_spec
from hw_profiles.protocol import run_protocol

if TYPE_CHECKING:
    from hw_profiles.measurement import Measurement

GRAPH_WARMUP_RUNS = 3  # eager runs on a side stream before capture, as torch.cuda.graphs asks


@register_backend("torch-cuda")
class TorchCudaBackend(Backend):
    """Times a ``torch.nn.Module`` in inference mode on ``cuda:0`` (fp16 when the profile's only precision
    is fp16, fp32 otherwise). ``last_used_cuda_graph`` says whether the last measurement replayed a graph."""

    model_format = "torch"

    def __init__(self, profile: Any) -> None:
        super().__init__(profile)
        self.last_used_cuda_graph: bool | None = None

    def uses_gpu(self) -> bool:
        return True

    def available(self) -> tuple[bool, str]:
        reason = torch_cuda_unavailable_reason()
        return (not reason), reason

    def environment(self) -> dict[str, Any]:
        import torch

        return {"runtime": "torch", "runtime_version": torch.__version__, "cuda": str(torch.version.cuda),
                "cudnn": str(torch.backends.cudnn.version()), **gpu_environment(),
                "machine": platform.machine(), "python": platform.python_version()}

    def measure(self, model: Any, input_shape: tuple[int, ...] | InputSpec,
                reference: bytes | None = None) -> Measurement:  # plain protocol: no reference
        import torch

        reason = torch_cuda_unavailable_reason()
        if reason:
            raise ProfileError(f"profile '{self.profile.name}': backend 'torch-cuda' cannot run here: {reason}")
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"backend 'torch-cuda' times a torch.nn.Module, got {type(model).__name__}")
        device = torch.device("cuda", 0)
        dtype = torch.float16 if self.profile.precisions == ("fp16",) else torch.float32
        module = copy.deepcopy(model).eval().to(device=device, dtype=dtype)
        example = seeded_model_input(torch, as_input_spec(input_shape), self.profile.batch_size, dtype, device)
        stream = torch.cuda.Stream(device)
        with torch.inference_mode(), torch.cuda.stream(stream):
            run_once = self._graph_replay(torch, module, example, stream) or (lambda: module(example))
            self.last_used_cuda_graph = hasattr(run_once, "graph")
            measurement = run_protocol(run_once, self.profile, time_run=cuda_event_timer(torch, stream, run_once))
        del module
        torch.cuda.empty_cache()
        return measurement

    @staticmethod
    def _graph_replay(torch: Any, module: Any, example: Any, stream: Any) -> Any:
        """``graph.replay`` of one captured forward pass, or None when the module cannot be captured."""
        try:
            for _ in range(GRAPH_WARMUP_RUNS):
                module(example)
            stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=stream):
                module(example)
            stream.synchronize()
        except RuntimeError:
            torch.cuda.synchronize()
            return None

        def replay() -> None:
            graph.replay()

        replay.graph = graph  # keeps the graph (and its memory pool) alive while replay is used
        return replay
