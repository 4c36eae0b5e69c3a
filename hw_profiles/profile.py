"""HardwareProfile: where a model runs and how it is timed, loaded from YAML and validated."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from hw_profiles.backends import backend_names, create_backend
from hw_profiles.errors import ProfileError

ALLOWED_PRECISIONS = ("fp32", "fp16", "int8", "int4")
# How a runtime executes int8 layers; each has a quantization scheme of the same name registered in
# search_spaces.quantization (a test checks they agree; hw_profiles imports no other package).
INT8_SCHEMES = ("ort-dynamic", "trt-qdq")
# How a runtime executes int4 (weight-only, block-wise) layers: ONNX Runtime's MatMulNBits contrib kernel
# (search_spaces.quantization.int4_blockwise.SCHEME; a test checks they agree).
INT4_SCHEMES = ("ort-matmulnbits",)
PROFILES_DIR = Path(__file__).with_name("profiles")  # bundled profiles: profiles/NAME.yaml
PROFILE_SUFFIXES = (".yaml", ".yml")
# Fields that change a timing; with the backend's environment() they make the fingerprint.
TIMING_FIELDS = ("backend", "providers", "threads", "batch_size", "precisions", "int8_scheme", "int4_scheme",
                 "protocol", "reference_sha256")
# Left out of the fingerprint when None, so profiles that do not use them keep the fingerprints they had:
# int8_scheme without int8; reference_sha256 under the plain protocol (whose milliseconds are raw).
OPTIONAL_TIMING_FIELDS = ("int8_scheme", "int4_scheme", "protocol", "reference_sha256")
PROTOCOLS = ("interleaved", "plain")
MAX_SESSIONS = 16  # sessions of one candidate per measurement (each holds a copy of the model)
REQUIRED_FIELDS = ("name", "backend")


@dataclass(frozen=True)
class HardwareProfile:
    """One target: runtime, device settings and measurement protocol. Validated on construction."""

    name: str  # short identifier, e.g. "x86-cpu-ort"
    backend: str  # a registered backend name, e.g. "onnxruntime"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)  # runtime execution providers, in priority order
    threads: int = 1  # intra-op threads, each pinned to its own core
    batch_size: int = 1  # batch dimension of the timed input
    precisions: tuple[str, ...] = ("fp32",)  # precisions the search may choose: fp32, fp16, int8
    int8_scheme: str | None = None  # how the runtime executes int8 (required with int8): "ort-dynamic", "trt-qdq"
    int4_scheme: str | None = None  # how the runtime executes int4 (required with int4): "ort-matmulnbits"
    warmup_ms: float = 200  # warm up at least this long (and at most 10x this long) ...
    warmup_runs: int = 10  # ... and at least this many runs
    min_repeats: int = 50  # timed runs: at least this many ...
    min_time_ms: float = 1000  # ... and at least this long, whichever takes longer
    max_cv: float = 0.15  # robust CV (1.4826 * MAD / median) above this triggers a retry
    max_retries: int = 2  # retries before keeping the least noisy attempt, flagged noisy
    # "interleaved": every run beside a fixed reference network, ranked by the ratio (hw_profiles.ratio);
    # "plain": the candidate alone. Default: interleaved on CPU providers, plain on GPUs (steady there).
    protocol: str | None = None
    target_half_width: float = 0.02  # interleaved: stop once the ratio's 95% interval is within +-2% ...
    max_time_ms: float = 3000  # ... or after this long, flagged noisy
    # interleaved: the candidate (and the reference) in this many sessions, one per window in turn: fresh
    # sessions of one model differ by a few percent in speed, so one session's luck is not the measurement
    sessions: int = 1
    cores: tuple[int, ...] | None = None  # CPU cores to pin to; None = first `threads` allowed cores
    description: str = ""  # free text for people

    def __post_init__(self) -> None:
        source = self.name if isinstance(self.name, str) else "<HardwareProfile>"
        for name, value in _validated(self._raw_fields(), source).items():
            object.__setattr__(self, name, value)
        if self.protocol is None:
            on_gpu = self.backend != "onnxruntime" or any(provider != "CPUExecutionProvider"
                                                          for provider in self.providers)
            object.__setattr__(self, "protocol", "plain" if on_gpu else "interleaved")

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> HardwareProfile:
        """Build from a plain mapping (lists allowed for tuples); ProfileError names the bad field."""
        if not isinstance(data, Mapping):
            raise ProfileError(
                f"profile '{source}': top level must be a mapping of field names to values, "
                f"got {type(data).__name__}"
            )
        allowed = [field.name for field in fields(cls)]
        unknown = [key for key in data if key not in allowed]
        if unknown:
            raise ProfileError(f"profile '{source}': unknown field(s) {unknown}; allowed fields: {allowed}")
        for name in REQUIRED_FIELDS:
            if name not in data:
                raise ProfileError(f"profile '{source}': field '{name}' is required")
        return cls(**_validated(dict(data), source))

    @classmethod
    def from_yaml(cls, path: str | Path) -> HardwareProfile:
        """Load one profile from a YAML file; malformed YAML raises ProfileError with the line."""
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(f"profile '{source}': file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ProfileError(f"profile '{source}': cannot read file: {error}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ProfileError(f"profile '{source}': malformed YAML{_yaml_location(error)}") from None
        if data is None:
            raise ProfileError(f"profile '{source}': file is empty; expected a mapping of field names to values")
        return cls.from_dict(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-ready fields (tuples become lists); ``from_dict`` inverts it."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self._raw_fields().items()}

    def fingerprint_details(self) -> dict[str, Any]:
        """What the fingerprint hashes: the timing fields and the backend's environment()."""
        profile_fields = self.to_dict()
        interleaved = profile_fields["protocol"] == "interleaved"
        if not interleaved:
            profile_fields["protocol"] = None  # the plain protocol keeps the fingerprint it had before protocols
        profile_fields["reference_sha256"] = _reference_sha256() if interleaved else None
        return {
            # int8_scheme only where set, so profiles without int8 keep the fingerprints they had before it
            "profile": {name: profile_fields[name] for name in TIMING_FIELDS
                        if name not in OPTIONAL_TIMING_FIELDS or profile_fields[name] is not None},
            "environment": create_backend(self).environment(),
        }

    def fingerprint(self) -> str:
        """16 hex characters that change when the timing fields, runtime version or device change."""
        canonical = json.dumps(self.fingerprint_details(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def _raw_fields(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def bundled_profile_names() -> tuple[str, ...]:
    """Names of the profiles shipped in ``hw_profiles/profiles/``, sorted."""
    return tuple(sorted(path.stem for path in PROFILES_DIR.glob("*.yaml")))


def load_profile(name_or_path: str | Path | HardwareProfile) -> HardwareProfile:
    """A profile from a .yaml/.yml path or a bundled name (a HardwareProfile is returned as is)."""
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(PROFILE_SUFFIXES) or "/" in text or "\\" in text:
        return HardwareProfile.from_yaml(name_or_path)
    if text in bundled_profile_names():
        return HardwareProfile.from_yaml(PROFILES_DIR / f"{text}.yaml")
    raise ProfileError(
        f"unknown hardware profile {text!r}: not a .yaml/.yml path nor a bundled profile; "
        f"bundled: {list(bundled_profile_names())}"
    )


def _yaml_location(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {' '.join(str(problem).split())}"


# ---- field checks: each returns the normalised value or raises _Invalid("must be ...") ----


class _Invalid(Exception):
    """A field value is wrong; the message says what is allowed."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a non-empty string")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _registered_backend(value: Any) -> str:
    if value not in backend_names():
        raise _Invalid(f"must be one of {list(backend_names())}")
    return value


def _positive_int(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise _Invalid("must be a positive integer")
    return value


def _non_negative_int(value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise _Invalid("must be a non-negative integer")
    return value


MAX_COUNT = 1_000_000  # runs, repeats: more would time one model for hours
MAX_RETRIES = 100
MAX_MILLISECONDS = 600_000.0  # 10 minutes: warm-up or timing of one model


def _integer_between(low: int, high: int) -> Callable[[Any], int]:
    """A field check: an integer from `low` to `high`, both included."""
    def check(value: Any) -> int:
        if not _is_int(value) or not low <= value <= high:
            raise _Invalid(f"must be an integer from {low:,} to {high:,}")
        return value

    return check


def _milliseconds(value: Any) -> float:
    if not _is_number(value) or not 0 <= value <= MAX_MILLISECONDS:
        raise _Invalid(f"must be a number of milliseconds from 0 to {MAX_MILLISECONDS:,.0f}")
    return float(value)


def _positive_finite_number(value: Any) -> float:
    if not _is_number(value) or value <= 0 or math.isinf(value):
        raise _Invalid("must be a finite number > 0")
    return float(value)


def _positive_number(value: Any) -> float:
    if not _is_number(value) or value <= 0:
        raise _Invalid("must be a number > 0")
    return float(value)


def _list_of(item_check: Callable[[Any], Any], what: str) -> Callable[[Any], tuple]:
    def check(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise _Invalid(f"must be a non-empty list of {what}")
        items = []
        for item in value:
            try:
                items.append(item_check(item))
            except _Invalid:
                raise _Invalid(f"must be a non-empty list of {what}") from None
        if len(set(items)) != len(items):
            raise _Invalid(f"must be a non-empty list of distinct {what}")
        return tuple(items)

    return check


def _precision(value: Any) -> str:
    if value not in ALLOWED_PRECISIONS:
        raise _Invalid("")
    return value


def _int8_scheme(value: Any) -> str | None:
    if value is not None and value not in INT8_SCHEMES:
        raise _Invalid(f"must be one of {list(INT8_SCHEMES)}")
    return value


def _int4_scheme(value: Any) -> str | None:
    if value is not None and value not in INT4_SCHEMES:
        raise _Invalid(f"must be one of {list(INT4_SCHEMES)}")
    return value


def _protocol(value: Any) -> str | None:
    if value is not None and value not in PROTOCOLS:
        raise _Invalid(f"must be one of {list(PROTOCOLS)}")
    return value


def _fraction(value: Any) -> float:
    if not _is_number(value) or not 0 < value < 1:
        raise _Invalid("must be a number between 0 and 1 (exclusive)")
    return float(value)


def _reference_sha256() -> str:
    from hw_profiles.reference import reference_sha256

    return reference_sha256()


def _optional_cores(value: Any) -> tuple[int, ...] | None:
    return None if value is None else _list_of(_non_negative_int, "core numbers (integers >= 0)")(value)


_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _non_empty_string,
    "backend": _registered_backend,
    "providers": _list_of(_non_empty_string, "execution provider names"),
    "threads": _positive_int,
    "batch_size": _positive_int,
    "precisions": _list_of(_precision, f"precisions from {list(ALLOWED_PRECISIONS)}"),
    "int8_scheme": _int8_scheme,
    "int4_scheme": _int4_scheme,
    "warmup_ms": _milliseconds,
    "warmup_runs": _integer_between(0, MAX_COUNT),
    "min_repeats": _integer_between(1, MAX_COUNT),
    "min_time_ms": _milliseconds,
    "max_cv": _positive_finite_number,
    "max_retries": _integer_between(0, MAX_RETRIES),
    "cores": _optional_cores,
    "protocol": _protocol,
    "target_half_width": _fraction,
    "max_time_ms": _milliseconds,
    "sessions": _integer_between(1, MAX_SESSIONS),
    "description": _string,
}


def _validated(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Check and normalise every field present in ``values``; ProfileError on the first bad one."""
    checked = {}
    for name, value in values.items():
        try:
            checked[name] = _FIELD_CHECKS[name](value)
        except _Invalid as invalid:
            raise ProfileError(f"profile '{source}': field '{name}' {invalid}, got {value!r}") from None
    if "int8" in checked.get("precisions", ()) and "int8_scheme" in checked and checked["int8_scheme"] is None:
        raise ProfileError(f"profile '{source}': field 'int8_scheme' is required when 'precisions' include int8; "
                           f"known schemes: {list(INT8_SCHEMES)}")
    if "int4" in checked.get("precisions", ()) and checked.get("int4_scheme") is None:
        raise ProfileError(f"profile '{source}': field 'int4_scheme' is required when 'precisions' include int4; "
                           f"known schemes: {list(INT4_SCHEMES)}")
    cores, threads = checked.get("cores"), checked.get("threads", 1)
    if cores is not None and len(cores) < threads:
        raise ProfileError(
            f"profile '{source}': field 'cores' must list at least 'threads' ({threads}) cores, got {list(cores)}"
        )
    return checked
