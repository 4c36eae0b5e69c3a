"""The elastic bundle: one file holding several sub-networks of one supernet, each weight stored once.

Sub-networks of a weight-sharing supernet are slices of the same tensors, so a set of them (a Pareto
front) needs only the union of their slices: for every supernet tensor that any variant reads, the
values that at least one variant reads, in row-major order. (A supernet that computes some weights of
its sub-networks, like mbv3's transformed kernels, offers the computed tensors as `slice_sources()`.) Each variant's `WeightSlice`s (from
`supernet.weight_slices(config)`) say where its tensors lie; the union mask of a tensor is recomputed
from them at load time, so no index is stored. File format (`torch.save` of a dict, read back with
`weights_only=True`; see docs/architecture.md):

    format          "hwnas-elastic"
    format_version  2 (1, without the seal below, is refused)
    space           {"name", "version", "arguments"}: rebuilds the space (no supernet is built)
    variants        [{name, config_id, config, accuracy, val_accuracy, latency_ms, latency_iqr_ms,
                      hardware_profile, profile_fingerprint, parameters, onnx_sha256,
                      latencies (optional): {profile name: {latency_ms, latency_iqr_ms, profile_fingerprint}},
                      the variant's file re-timed on each profile of `hwnas export --profiles`,
                      slices: {tensor name: WeightSlice.to_dict()}}], fastest first
    shapes          {supernet tensor name: its full shape}
    values          {supernet tensor name: 1-D tensor, the union of the variants' slices}
    checksums       {supernet tensor name: SHA-256 of its values' bytes}, checked on load
    own             {variant name: {tensor name: tensor}}: what a variant holds that is not a slice of the
                    supernet (BatchNorm statistics recalibrated for that sub-network); absent or empty
                    for families without BatchNorm
    own_checksums   {"variant/tensor": SHA-256}, checked on load
    onnx            {variant name: bytes of its standalone ONNX file} (empty unless asked for); each
                    must match its variant's onnx_sha256
    deployment      {"preprocessing", "profile", "version"}: what the variants' input needs (as in each
                    exported ONNX file's hwnas metadata; nas.export.deployment); absent in bundles written
                    before it was recorded
    profiles_skipped  {profile name: why it was not timed here} (optional; `--profiles` names that did not run)
    structure_sha256  SHA-256 of everything but the tensors (space, variants, shapes, the ONNX files'
                    SHA-256, the deployment record), checked on load before anything is allocated

Every stored shape must be the shape the space's supernet has (worked out on torch's meta device, which
allocates nothing), so an edited shape is refused before a mask or tensor of that size is made.

`ElasticModel.load(path)` rebuilds each tensor (zeros where no variant reads), `select` picks a variant
by latency budget (on one of its `profiles`) or accuracy floor, `dispatch_table()` lists per profile the
budget ranges and the variant each selects, and `module(variant)` returns a fresh `nn.Module` equal to the
variant's standalone extraction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from nas.models.checkpoint import read_hwnas_file, structure_checksum, tensor_checksums, verify_checksums
from nas.errors import HwnasError
from nas.run_folder import write_atomically
from nas.models.subnet import build_network, build_space, own_storage, space_record

FORMAT = "hwnas-elastic"
FORMAT_VERSION = 2  # 2: structure_sha256, shapes checked against the space, ONNX bytes against onnx_sha256
WHAT = "elastic bundle"
VARIANT_FIELDS = ("name", "config", "accuracy", "latency_ms", "slices")


@dataclass(frozen=True)
class Variant:
    """One network of the bundle and what was measured of it."""

    name: str  # its config_id
    config: dict
    accuracy: float  # test accuracy of the torch module (the bundle's `module(variant)`)
    latency_ms: float  # median latency of its exported ONNX file, re-timed on `hardware_profile`
    val_accuracy: float | None = None  # validation accuracy during the search
    latency_iqr_ms: float | None = None
    parameters: int | None = None
    hardware_profile: str | None = None
    profile_fingerprint: str | None = None
    size_mb: float | None = None  # its standalone ONNX file's size (None in bundles written before sizes)
    # {profile name: {"latency_ms", ...}}: re-timed on several profiles (None: only `hardware_profile`'s)
    latencies: dict | None = None

    def latency_on(self, profile: str | None = None) -> float | None:
        """Its latency on `profile` (None: `hardware_profile`, the run's); None where it was not timed there."""
        if profile is None or profile == self.hardware_profile:
            return self.latency_ms
        entry = (self.latencies or {}).get(profile)
        return None if entry is None else entry["latency_ms"]


def slice_sources(supernet: Any) -> dict[str, Any]:
    """The tensors a supernet's `WeightSlice`s index: its `slice_sources()` where it computes some
    (mbv3's transformed kernels), else its state dict."""
    return supernet.slice_sources() if hasattr(supernet, "slice_sources") else supernet.state_dict()


def _slices(supernet: Any, space: Any, config: Mapping[str, Any]) -> dict:
    if not hasattr(supernet, "weight_slices"):
        raise HwnasError(f"space {space.name!r}: its supernet has no weight_slices(config), which an elastic bundle "
                         f"needs to store shared weights once")
    return supernet.weight_slices(config)


def bundle_bytes(space: Any, supernet: Any, variants: list[Mapping[str, Any]],
                 onnx_files: Mapping[str, bytes] | None = None, networks: Mapping[str, Any] | None = None,
                 deployment: Mapping[str, Any] | None = None, profiles_skipped: Mapping[str, str] | None = None) -> bytes:
    """The bundle of `variants` (dicts with config, accuracy, latency_ms and the other Variant fields) as
    bytes. Every variant's slices are checked to reproduce `supernet.extract(config)` exactly.
    `networks` ({variant name: static network}) are the networks the bundle must rebuild when they are
    not plain extractions (BatchNorm statistics recalibrated per sub-network, as export writes them):
    their tensors that differ from the extraction are stored as that variant's own."""
    import torch

    if not variants:
        raise HwnasError("an elastic bundle needs at least one variant; the export found no networks")
    state = slice_sources(supernet)
    masks: dict[str, Any] = {}
    records = []
    own: dict[str, dict[str, Any]] = {}
    for variant in variants:
        config = space.canonical(variant["config"])
        slices = _slices(supernet, space, config)
        extracted = supernet.extract(config).state_dict()
        if networks is not None:
            own[variant["name"]] = _own_tensors(variant["name"], extracted, networks[variant["name"]].state_dict())
        if set(slices) != set(extracted):
            raise HwnasError(f"space {space.name!r}: weight_slices names {sorted(set(slices) ^ set(extracted))[:3]} "
                             f"differently from extract(); fix the space")
        for name, part in slices.items():
            if not torch.equal(part.apply(state[part.source]), extracted[name]):
                raise HwnasError(f"space {space.name!r}: weight_slices of {name!r} is not what extract() copies")
            mask = part.mask(tuple(state[part.source].shape))
            masks[part.source] = masks[part.source] | mask if part.source in masks else mask
        records.append({**{key: value for key, value in variant.items() if key != "config"}, "config": config,
                        "slices": {name: part.to_dict() for name, part in slices.items()}})
    sources = sorted(masks)
    values = {source: state[source][masks[source]].detach().clone() for source in sources}
    bundle = {"format": FORMAT, "format_version": FORMAT_VERSION, "space": space_record(space), "variants": records,
              "shapes": {source: list(state[source].shape) for source in sources}, "values": values,
              "checksums": tensor_checksums(values), "own": {name: tensors for name, tensors in own.items() if tensors},
              "own_checksums": tensor_checksums(_flat(own)), "onnx": dict(onnx_files or {})}
    if deployment is not None:
        bundle["deployment"] = dict(deployment)
    if profiles_skipped:
        bundle["profiles_skipped"] = dict(profiles_skipped)
    bundle["structure_sha256"] = structure_checksum(bundle)
    buffer = io.BytesIO()
    torch.save(bundle, buffer)
    return buffer.getvalue()


def _own_tensors(name: str, extracted: Mapping[str, Any], network: Mapping[str, Any]) -> dict[str, Any]:
    """The tensors of `network` (a state dict) that differ from the plain extraction `extracted`."""
    import torch

    if set(network) != set(extracted):
        raise HwnasError(f"variant {name}: its network's tensors {sorted(set(network) ^ set(extracted))[:3]} "
                         f"differ from the supernet's extraction of its config")
    own = {}
    for key, tensor in network.items():
        if tensor.shape != extracted[key].shape or tensor.dtype != extracted[key].dtype:
            raise HwnasError(f"variant {name}: tensor {key!r} is {tuple(tensor.shape)} {tensor.dtype}, its extraction "
                             f"{tuple(extracted[key].shape)} {extracted[key].dtype}")
        if not torch.equal(tensor, extracted[key]):
            own[key] = tensor.detach().clone()
    return own


def _flat(own: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {f"{variant}/{key}": tensor for variant, tensors in own.items() for key, tensor in tensors.items()}


def write_bundle(path: str | Path, space: Any, supernet: Any, variants: list[Mapping[str, Any]],
                 onnx_files: Mapping[str, bytes] | None = None, networks: Mapping[str, Any] | None = None,
                 deployment: Mapping[str, Any] | None = None, profiles_skipped: Mapping[str, str] | None = None) -> Path:
    path = Path(path)
    write_atomically(path, bundle_bytes(space, supernet, variants, onnx_files, networks, deployment,
                                        profiles_skipped))
    return path


class ElasticModel:
    """A loaded elastic bundle: its variants, `select` by budget, and `module(variant)` to run one."""

    def __init__(self, space: Any, variants: list[Variant], slices: dict[str, dict], tensors: dict[str, Any],
                 onnx_files: dict[str, bytes], where: str, own: dict[str, dict[str, Any]] | None = None,
                 deployment: dict | None = None, profiles_skipped: dict | None = None) -> None:
        self.space, self.variants, self._where = space, variants, where
        self.profiles_skipped = profiles_skipped or {}  # `--profiles` that did not run where it was exported
        self._slices, self._tensors, self._onnx = slices, tensors, onnx_files
        self._own = own or {}
        # {"preprocessing", "profile", "version"} of its exports (None: written before bundles carried it)
        self.deployment = deployment

    @classmethod
    def load(cls, path: str | Path) -> "ElasticModel":
        """Read a bundle; a missing, truncated, corrupt or inconsistent file raises a one-line HwnasError."""
        from search_spaces.weight_slice import WeightSlice

        where = f"{WHAT} {str(path)!r}"
        state = read_hwnas_file(Path(path), WHAT, FORMAT, FORMAT_VERSION, "write one with `hwnas export --format elastic`")
        records, shapes, values = state.get("variants"), state.get("shapes"), state.get("values")
        if not (isinstance(records, list) and records and isinstance(shapes, dict) and isinstance(values, dict)
                and all(_well_formed(record) for record in records)):
            raise HwnasError(f"{where} is corrupt: its variants, shapes or values are missing or malformed")
        _verify_structure(state, where)
        verify_checksums(values, state.get("checksums"), where)
        space = build_space(state.get("space"), where)
        _check_shapes(space, shapes, where)
        slices: dict[str, dict] = {}
        masks: dict[str, Any] = {}
        try:
            for record in records:
                parts = {name: WeightSlice.from_dict(data) for name, data in record["slices"].items()}
                for part in parts.values():
                    if part.source not in shapes:
                        raise ValueError(f"slice source {part.source!r} has no stored tensor")
                    part.check(tuple(shapes[part.source]))
                    mask = part.mask(tuple(shapes[part.source]))
                    masks[part.source] = masks[part.source] | mask if part.source in masks else mask
                slices[record["name"]] = parts
            tensors = {source: _scatter(masks[source], values.get(source), source) for source in masks}
            own = _checked_own(state.get("own") or {}, slices)
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise HwnasError(f"{where} is corrupt: {str(error).splitlines()[0][:200]}") from None
        verify_checksums(_flat(own), state.get("own_checksums") or {}, where)
        variants = [Variant(**{field: record.get(field) for field in Variant.__dataclass_fields__})
                    for record in records]
        onnx_files = state.get("onnx") if isinstance(state.get("onnx"), dict) else {}
        deployment = state.get("deployment") if isinstance(state.get("deployment"), dict) else None
        skipped = state.get("profiles_skipped") if isinstance(state.get("profiles_skipped"), dict) else None
        return cls(space, variants, slices, tensors, onnx_files, where, own, deployment, skipped)

    def variant(self, name: str | Variant) -> Variant:
        """The variant called `name` (its config_id)."""
        if isinstance(name, Variant):
            return name
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise HwnasError(f"{self._where} has no variant {name!r}; its variants: "
                         f"{', '.join(v.name for v in self.variants)}")

    @property
    def profiles(self) -> list[str]:
        """The hardware profiles every variant was timed on: the run's first, then `--profiles` in order."""
        first = self.variants[0]
        names = [first.hardware_profile or "", *(first.latencies or {})]
        return [name for name in dict.fromkeys(names)
                if all(variant.latency_on(name or None) is not None for variant in self.variants)]

    def _latency_of(self, profile: str | None) -> Any:
        if profile is not None and profile not in self.profiles:
            skipped = self.profiles_skipped.get(profile)
            raise HwnasError(f"{self._where} has no latencies on profile {profile!r}"
                             + (f" (not timed where it was exported: {skipped})" if skipped else "")
                             + f"; its profiles: {', '.join(self.profiles)}")
        return lambda variant: variant.latency_on(profile)

    def select(self, latency_ms: float | None = None, min_accuracy: float | None = None,
               size_mb: float | None = None, profile: str | None = None) -> Variant:
        """The best variant that fits: with `latency_ms`, the most accurate one at most that slow on `profile`
        (default: the run's profile; one of `profiles`) and at least `min_accuracy` accurate, if given; with
        `min_accuracy` alone, the fastest one at least that accurate. Ties go to the faster, then the more
        accurate. `size_mb` keeps only files at most that large (alone: the most accurate). None fits: one
        line naming the fastest, the smallest or the most accurate variant, after the budget missed."""
        if latency_ms is None and min_accuracy is None and size_mb is None:
            raise HwnasError("select needs a latency budget (latency_ms=...), a size budget (size_mb=...) or an "
                             "accuracy floor (min_accuracy=...)")
        latency = self._latency_of(profile)
        variants = self.variants
        if size_mb is not None:
            unknown = [v.name for v in variants if v.size_mb is None]
            if unknown:
                raise HwnasError(f"{self._where} records no file size for variant {unknown[0]}; re-export it to "
                                 f"select by size")
            variants = [v for v in variants if v.size_mb <= size_mb]
            if not variants:
                smallest = min(self.variants, key=lambda v: v.size_mb)
                raise HwnasError(f"no variant's file is within {size_mb} MB: the smallest, {smallest.name}, is "
                                 f"{smallest.size_mb:.4f} MB")
            if latency_ms is None and min_accuracy is None:
                return min(variants, key=lambda v: (-v.accuracy, latency(v)))
        fits = [v for v in variants if (latency_ms is None or latency(v) <= latency_ms)
                and (min_accuracy is None or v.accuracy >= min_accuracy)]
        if fits:
            if latency_ms is not None:
                return min(fits, key=lambda v: (-v.accuracy, latency(v)))
            return min(fits, key=lambda v: (latency(v), -v.accuracy))
        fastest = min(variants, key=latency)
        best = max(variants, key=lambda v: v.accuracy)
        where = profile or fastest.hardware_profile or "its profile"
        if latency_ms is not None and latency(fastest) > latency_ms:
            raise HwnasError(f"no variant runs within {latency_ms} ms on {where}: the fastest, {fastest.name}, "
                             f"takes {latency(fastest):.4f} ms")
        if min_accuracy is not None and best.accuracy < min_accuracy:
            raise HwnasError(f"no variant reaches accuracy {min_accuracy}: the most accurate, {best.name}, "
                             f"reaches {best.accuracy:.4f}")
        raise HwnasError(f"no variant both runs within {latency_ms} ms and reaches accuracy {min_accuracy}: the "
                         f"fastest, {fastest.name}, takes {latency(fastest):.4f} ms at {fastest.accuracy:.4f}; the "
                         f"most accurate, {best.name}, takes {latency(best):.4f} ms at {best.accuracy:.4f}")

    def dispatch_table(self) -> dict[str, list[dict]]:
        """{profile: [{from_ms, to_ms, variant, latency_ms, accuracy}]}: for each profile the latency budgets
        (from_ms inclusive, to_ms exclusive, None: no upper end) and the variant `select` picks in each;
        below the first from_ms no variant fits."""
        from nas.export.profiles import dispatch_rows

        return {name: dispatch_rows(self.variants, self._latency_of(name or None),
                                    lambda budget, name=name: self.select(latency_ms=budget, profile=name or None))
                for name in self.profiles}

    def state_dict(self, variant: str | Variant) -> dict[str, Any]:
        """The variant's tensors (fresh copies), named as in its network's state dict."""
        name = self.variant(variant).name
        tensors = {key: part.apply(self._tensors[part.source]) for key, part in self._slices[name].items()}
        return own_storage({**tensors, **self._own.get(name, {})})

    def module(self, variant: str | Variant) -> Any:
        """A new `nn.Module` (eval mode) of the variant, with its own copy of its weights."""
        chosen = self.variant(variant)
        return build_network(self.space, chosen.config, self.state_dict(chosen), f"{self._where} ({chosen.name})")

    def onnx(self, variant: str | Variant) -> bytes:
        """The bytes of the variant's standalone ONNX file, when the bundle was written with them."""
        chosen = self.variant(variant)
        if chosen.name not in self._onnx:
            raise HwnasError(f"{self._where} holds no ONNX files (write it with `hwnas export --bundle-onnx`)")
        return self._onnx[chosen.name]

    def __repr__(self) -> str:
        return f"ElasticModel({self.space.name}, {len(self.variants)} variants)"


def _verify_structure(state: Mapping[str, Any], where: str) -> None:
    """The seal of everything but the tensors, and each embedded ONNX file against its variant's SHA-256."""
    import hashlib

    if state.get("format_version") != FORMAT_VERSION:
        raise HwnasError(f"{where} has format version {state.get('format_version')!r}, written before bundles "
                         f"carried checksums of their shapes and variants; write it again with "
                         f"`hwnas export --format elastic`")
    body = {key: value for key, value in state.items() if key != "structure_sha256"}
    if state.get("structure_sha256") != structure_checksum(body):
        raise HwnasError(f"{where} is corrupt: its space, variants, shapes or ONNX files do not match their checksum")
    onnx = state.get("onnx") or {}
    expected = {record["name"]: record.get("onnx_sha256") for record in state["variants"]}
    for name, data in (onnx.items() if isinstance(onnx, dict) else [(None, None)]):
        if name not in expected or not isinstance(data, bytes) or (
                expected[name] is not None and hashlib.sha256(data).hexdigest() != expected[name]):
            raise HwnasError(f"{where} is corrupt: the ONNX file of variant {name!r} does not match its onnx_sha256")


def _check_shapes(space: Any, shapes: Mapping[str, Any], where: str) -> None:
    """Every stored shape is the shape of that tensor in the space's supernet, built on torch's meta device
    (no memory): an edited shape cannot make the load allocate more than the supernet holds."""
    import torch

    with torch.device("meta"):
        expected = {name: list(tensor.shape) for name, tensor in slice_sources(space.build_supernet()).items()}
    for name, shape in shapes.items():
        if name not in expected or not isinstance(shape, (list, tuple)) or list(shape) != expected[name]:
            raise HwnasError(f"{where} is corrupt: tensor {name!r} has shape {shape!r}, its space's supernet "
                             f"{expected.get(name, 'has no such tensor')}")


def _well_formed(record: Any) -> bool:
    number = (int, float)
    return (isinstance(record, dict) and all(key in record for key in VARIANT_FIELDS)
            and isinstance(record["accuracy"], number) and isinstance(record["latency_ms"], number)
            and isinstance(record["config"], dict) and isinstance(record["slices"], dict)
            and (record.get("latencies") is None or (isinstance(record["latencies"], dict) and all(
                isinstance(name, str) and isinstance(entry, dict) and isinstance(entry.get("latency_ms"), number)
                for name, entry in record["latencies"].items()))))


def _checked_own(own: Any, slices: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The bundle's per-variant tensors, each checked to replace a tensor of its variant of the same shape."""
    import torch

    if not isinstance(own, dict):
        raise ValueError("its per-variant tensors are not a mapping")
    for variant, tensors in own.items():
        if variant not in slices or not isinstance(tensors, dict):
            raise ValueError(f"per-variant tensors for unknown variant {variant!r}")
        for key, tensor in tensors.items():
            part = slices[variant].get(key)
            if part is None or not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != part.shape:
                raise ValueError(f"variant {variant}: its own tensor {key!r} does not fit its network")
    return own


def _scatter(mask: Any, values: Any, source: str) -> Any:
    """A tensor of the mask's shape holding `values` where the mask is set, zeros elsewhere."""
    import torch

    if not isinstance(values, torch.Tensor) or values.dim() != 1:
        raise ValueError(f"values of {source!r} are missing or not a 1-D tensor")
    needed = int(mask.sum())
    if values.numel() != needed:
        raise ValueError(f"tensor {source!r} holds {values.numel()} values; its variants' slices read {needed}")
    full = torch.zeros(mask.shape, dtype=values.dtype)
    full[mask] = values
    return full
