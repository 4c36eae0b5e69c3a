"""What travels with every exported model so that it stands alone: the input's preprocessing (nas.data.
preprocessing), the network's config, the hardware profile it was timed on and the hwnas version.

In an ONNX file they are `metadata_props`: `hwnas.preprocessing`, `hwnas.config`, `hwnas.profile` (JSON) and
`hwnas.version`. The same record goes into the model card and the elastic bundle; a text model's vocabulary
is `vocab.json` beside the models, its SHA-256 in the record. Everything is sorted JSON of values fixed by
the run and the network (no time, no path, no latency), so the same run and trial give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from nas.data.preprocessing import VOCABULARY_FILE, describe_preprocessing, vocabulary_bytes
from nas.errors import HwnasError
from nas.run_folder import write_atomically

KEYS = ("hwnas.preprocessing", "hwnas.config", "hwnas.profile", "hwnas.version")
MAX_METADATA_CHARS = 1 << 20  # a metadata value longer than this is refused, not parsed


def _version() -> str:
    """The installed hwnas version (as `nas.__version__`, read here without importing the package above)."""
    from importlib import metadata

    try:
        return metadata.version("hwnas")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def deployment_record(dataset: Any, profile: Any, fingerprint: str, folder: Path) -> dict:
    """The run's part of the metadata ({"preprocessing", "profile", "version"}); a text data set's vocabulary
    is written to folder/vocab.json and its SHA-256 recorded."""
    preprocessing, vocabulary = describe_preprocessing(dataset)
    if vocabulary is not None:
        data = vocabulary_bytes(vocabulary)
        write_atomically(Path(folder) / VOCABULARY_FILE, data)
        preprocessing.update(vocabulary_file=VOCABULARY_FILE, vocabulary_sha256=hashlib.sha256(data).hexdigest())
    return {"preprocessing": preprocessing, "version": _version(),
            "profile": {"name": profile.name, "fingerprint": fingerprint, "backend": profile.backend,
                        "batch_size": profile.batch_size}}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def model_metadata(deployment: Mapping[str, Any], space: Any, config: Mapping[str, Any]) -> dict[str, str]:
    """The metadata_props of one file: the run's record plus the file's own network."""
    return {"hwnas.preprocessing": _json(deployment["preprocessing"]),
            "hwnas.config": _json({"space": {"name": space.name, "version": space.version,
                                             "arguments": space.arguments},
                                   "config": dict(config), "config_id": space.config_id(config)}),
            "hwnas.profile": _json(deployment["profile"]), "hwnas.version": deployment["version"]}


def annotate_onnx(path: Path, metadata: Mapping[str, str]) -> None:
    """Set `metadata` as the ONNX file's metadata_props (replacing earlier hwnas keys, keeping others)."""
    import onnx

    model = onnx.load(str(path))
    kept = [(entry.key, entry.value) for entry in model.metadata_props if entry.key not in metadata]
    del model.metadata_props[:]
    for key, value in [*kept, *sorted(metadata.items())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def read_metadata(properties: Mapping[str, str], where: str) -> dict:
    """{"preprocessing", "config", "profile", "version"} of a model's metadata_props; a model without
    them (not exported by hwnas, or before it wrote them) raises one line."""
    missing = [key for key in KEYS if key not in properties]
    if missing:
        raise HwnasError(f"{where} carries no hwnas metadata ({missing[0]} is missing): export it "
                         f"again with `hwnas export`, which writes its preprocessing into every file")
    parsed = {}
    for key in KEYS:
        value = properties[key]
        if len(value) > MAX_METADATA_CHARS:
            raise HwnasError(f"{where}: metadata {key} is longer than {MAX_METADATA_CHARS} characters; not read")
        try:
            parsed[key.removeprefix("hwnas.")] = value if key == "hwnas.version" else json.loads(value)
        except json.JSONDecodeError as error:
            raise HwnasError(f"{where}: metadata {key} is not valid JSON ({error})") from None
    if not isinstance(parsed["preprocessing"], dict) or parsed["preprocessing"].get("kind") not in ("image", "text"):
        raise HwnasError(f"{where}: metadata hwnas.preprocessing has no kind 'image' or 'text'")
    return parsed
