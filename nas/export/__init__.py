"""Export: each searched network in every requested format (`FORMATS`), checked, verified against torch and
re-timed, with a model card; `hwnas export` on a run folder; the elastic bundle."""

from nas.export import formats as _formats  # noqa: F401  (registers onnx, int8, fp16)
from nas.export import tensorrt as _tensorrt  # noqa: F401  (registers tensorrt)
from nas.export import elastic_format as _elastic_format  # noqa: F401  (registers elastic, written last)
