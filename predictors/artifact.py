"""Saving and loading a fitted predictor without ever running code from the file.

The file (format 3; the run folder calls it `predictor.joblib`, a name kept from the pickle formats so
an old file is found and refused) is a zip archive of two members:

    metadata.json    {"format": 3, "estimator_sha256": <hex of predictor.skops>,
                      "metadata": {<the caller's: profile fingerprint, held-out quality, table, target...>,
                                   "predictor": <registered name>, "n_train": <training rows>,
                                   "saved_at": <UTC time>,
                                   "versions": {"format", "python", "numpy", "scipy", "scikit-learn", "hwnas"}},
                      "space": {"name": ..., "arguments": {...}}}
    predictor.skops  the fitted estimator, written by `skops.io.dumps`

The metadata is plain JSON, read without touching the estimator (`read_predictor_metadata`). The
estimator is loaded by `skops.io.loads` with an explicit list of trusted types (`trusted_types`: the
registered predictor and space classes, the encoders and priors they hold, and scikit-learn's tree
predictor; skops trusts numpy arrays and scikit-learn's estimators itself); a file that names any other
type is refused in one line naming it, before anything is built. Members larger than their bound are
refused before they are read. Every search space in the estimator is built again from its name and
arguments, through the bounds every space checks (`predictors.artifact_spaces`). Format 1 and 2 files (joblib pickles, whose loading runs whatever code
they carry) are refused unread, with a line saying how to refit.

scikit-learn does not promise that an estimator from one version works in another, so a file from
another major scikit-learn version, or a newer format, is refused in one line; if the estimator does not
load here, the PredictorError names the versions it was saved with and the ones installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from predictors.artifact_spaces import rebuild_spaces
from predictors.errors import PredictorError

FORMAT_VERSION = 3  # bump when the layout of the file changes
VERSIONED = ("python", "numpy", "scipy", "scikit-learn")  # compared when an estimator fails to load
METADATA_MEMBER, ESTIMATOR_MEMBER = "metadata.json", "predictor.skops"
MAX_METADATA_BYTES = 1 << 20  # 1 MiB: the metadata of a predictor is a few kB
MAX_ESTIMATOR_BYTES = 1 << 30  # 1 GiB uncompressed in all: the largest predictor (an ensemble) is ~6 MB
REFIT = ("refit it: `hwnas fit --run RUN` for a run folder, `hwnas predictor fit ... --out FILE` for a "
         "table")
# The types our predictors hold beyond the registered predictor and space classes (by qualified name).
HELPER_TYPES = (
    "predictors.encoder.ConfigEncoder",
    "predictors.layer_encoder.LayerKindEncoder",
    "predictors.layer_encoder.LayerSlotEncoder",
    "predictors.network_encoder.NetworkEncoder",
    "predictors.relative_ridge.RelativeErrorRidge",
    "predictors.priors.TablePrior",
    "predictors.priors.PredictorPrior",
    "search_spaces.space.Choice",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def trusted_types() -> list[str]:
    """Every type a predictor file may name: the registered predictors and spaces, and HELPER_TYPES."""
    from predictors.registry import PREDICTORS
    from search_spaces.registry import SPACES

    classes = [PREDICTORS.get(name) for name in PREDICTORS.names()] + [SPACES.get(name) for name in SPACES.names()]
    return sorted({f"{cls.__module__}.{cls.__qualname__}" for cls in classes} | set(HELPER_TYPES))


def current_versions() -> dict[str, Any]:
    from importlib import metadata

    import numpy
    import scipy
    import sklearn

    try:
        hwnas = metadata.version("hwnas")
    except metadata.PackageNotFoundError:
        hwnas = "unknown"
    return {"format": FORMAT_VERSION, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "hwnas": hwnas}


def save_predictor(predictor: Any, path: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write the fitted `predictor` with `metadata` (JSON values) to `path`, atomically; return the path.

    A predictor holding a type that `load_predictor` would refuse is refused here, naming the type."""
    import skops.io
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(predictor)
    except Exception as error:  # NotFittedError, or not an estimator at all
        raise PredictorError(f"only a fitted predictor can be saved: {error}") from None
    path = Path(path)
    estimator = skops.io.dumps(predictor)
    _refuse_untrusted(estimator, f"predictor {type(predictor).__name__}")
    header = {
        "format": FORMAT_VERSION, "estimator_sha256": hashlib.sha256(estimator).hexdigest(),
        "metadata": {"n_train": getattr(predictor, "n_train_", None), **dict(metadata or {}),
                     "predictor": getattr(predictor, "registered_name", type(predictor).__name__),
                     "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "versions": current_versions()},
        "space": _space_record(predictor),
    }
    try:
        header_bytes = json.dumps(header, default=_plain, sort_keys=True).encode()
    except TypeError as error:
        raise PredictorError(f"predictor metadata must be JSON values: {error}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(METADATA_MEMBER, header_bytes)
            archive.writestr(ESTIMATOR_MEMBER, estimator, compress_type=zipfile.ZIP_STORED)  # a zip already
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_predictor_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a predictor file (with "space"), read from its JSON member alone."""
    path = Path(path)
    with _open_archive(path) as archive:
        return _read_header(archive, path)[1]


def load_predictor(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(predictor, metadata) from a file written by `save_predictor`; metadata["space"] names its space.

    A missing, corrupt, foreign or old-format file, one from another major scikit-learn version or a newer
    format, one naming an untrusted type, or an estimator that does not load with the installed libraries
    raises a one-line PredictorError.
    """
    import skops.io

    path = Path(path)
    with _open_archive(path) as archive:
        header, metadata = _read_header(archive, path)
        estimator = _read_member(archive, ESTIMATOR_MEMBER, MAX_ESTIMATOR_BYTES, path)
    if hashlib.sha256(estimator).hexdigest() != header.get("estimator_sha256"):
        raise PredictorError(f"predictor file {path}: the estimator does not match its checksum (the file is "
                             f"corrupt or was edited); {REFIT}")
    _check_inner_sizes(estimator, path)
    _refuse_untrusted(estimator, f"predictor file {path}")
    try:
        predictor = skops.io.loads(estimator, trusted=trusted_types())
    except Exception as error:  # a library change: AttributeError, TypeError, ModuleNotFoundError...
        raise PredictorError(f"predictor file {path} cannot be loaded here ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:80]}); {_versions_said(metadata)}; "
                             f"refit the predictor") from None
    rebuild_spaces(predictor, header.get("space"), f"predictor file {path}")  # the space-argument bounds
    return predictor, metadata


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise PredictorError(f"predictor file not found: {path}")
    with open(path, "rb") as handle:
        start = handle.read(4)
    if start[:1] == b"\x80" or start[:2] == b"x\x9c":  # a pickle (joblib writes plain or zlib-wrapped ones)
        raise PredictorError(f"predictor file {path} is in the old pickle format, which hwnas no longer loads "
                             f"because loading a pickle runs whatever code it carries; {REFIT}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise PredictorError(f"cannot load predictor file {path}: corrupt or not a predictor file ({error})") from None


def _read_member(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise PredictorError(f"{path} is not a predictor file: it has no member {name!r}") from None
    if info.file_size > limit:
        raise PredictorError(f"predictor file {path}: {name} is larger than {limit} bytes ({info.file_size})")
    try:
        return archive.read(info)  # reads at most file_size bytes, and checks the CRC
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise PredictorError(f"cannot load predictor file {path}: corrupt or not a predictor file "
                             f"({error})") from None


def _read_header(archive: zipfile.ZipFile, path: Path) -> tuple[dict, dict[str, Any]]:
    """(header, metadata) of an open predictor file, the versions checked."""
    import sklearn

    try:
        header = json.loads(_read_member(archive, METADATA_MEMBER, MAX_METADATA_BYTES, path))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise PredictorError(f"predictor file {path}: {METADATA_MEMBER} is not JSON ({error})") from None
    if not isinstance(header, dict) or not isinstance(header.get("metadata"), dict) or "space" not in header:
        raise PredictorError(f"{path} is not a predictor file: {METADATA_MEMBER} needs an object with keys "
                             f"'format', 'metadata', 'space' and 'estimator_sha256'")
    metadata = dict(header["metadata"])
    versions = metadata.get("versions") if isinstance(metadata.get("versions"), dict) else {}
    file_format = header.get("format")
    if not isinstance(file_format, int) or file_format > FORMAT_VERSION:
        raise PredictorError(f"predictor file {path} has format {file_format!r}; this hwnas reads format "
                             f"{FORMAT_VERSION}; upgrade hwnas")
    saved_sklearn = str(versions.get("scikit-learn", "unknown"))
    if saved_sklearn.split(".")[0] != sklearn.__version__.split(".")[0]:
        raise PredictorError(f"predictor file {path} was saved with scikit-learn {saved_sklearn}, this is "
                             f"{sklearn.__version__}; refit the predictor")
    metadata["space"] = header["space"]
    return header, metadata


def _check_inner_sizes(estimator: bytes, path: Path) -> None:
    """The skops file is a zip too: bound what its members unpack to before skops reads them."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(estimator)) as inner:
            total = sum(info.file_size for info in inner.infolist())
    except zipfile.BadZipFile as error:
        raise PredictorError(f"cannot load predictor file {path}: corrupt estimator ({error})") from None
    if total > MAX_ESTIMATOR_BYTES:
        raise PredictorError(f"predictor file {path}: the estimator unpacks to {total} bytes, more than "
                             f"{MAX_ESTIMATOR_BYTES}")


def _refuse_untrusted(estimator: bytes, what: str) -> None:
    import skops.io

    try:
        named = skops.io.get_untrusted_types(data=estimator)
    except Exception as error:  # a corrupt schema: KeyError, JSONDecodeError, BadZipFile...
        raise PredictorError(f"{what}: corrupt estimator ({type(error).__name__}: {str(error)[:80]})") from None
    untrusted = sorted(set(named) - set(trusted_types()))
    if untrusted:
        raise PredictorError(f"{what} holds untrusted type {untrusted[0]!r}"
                             f"{f' (and {len(untrusted) - 1} more)' if len(untrusted) > 1 else ''}; "
                             f"hwnas loads only its predictors, spaces and the scikit-learn/numpy types they hold")


def _fsync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _plain(value: Any) -> Any:
    """JSON for the numpy scalars, arrays and paths that metadata holds."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _versions_said(metadata: Mapping[str, Any]) -> str:
    """'saved with numpy 1.26.4, scikit-learn 1.4.2; installed: numpy 2.4.6, ...' (the differing ones)."""
    saved, here = metadata.get("versions", {}), current_versions()
    differing = [name for name in VERSIONED if str(saved.get(name)) != str(here.get(name))]
    if not differing:
        return "saved with the same library versions as installed, so the file is probably corrupt"
    return (f"saved with {', '.join(f'{name} {saved.get(name)}' for name in differing)}; installed: "
            f"{', '.join(f'{name} {here.get(name)}' for name in differing)}")


def _space_record(predictor: Any) -> dict[str, Any] | None:
    encoder = getattr(predictor, "encoder_", None)
    space = getattr(encoder, "space_", None) or getattr(predictor, "space", None)
    if space is None:
        return None
    if isinstance(space, str):
        return {"name": space, "arguments": {}}
    return {"name": space.name, "arguments": dict(space.arguments)}
