"""Saving and loading a fitted predictor with what it needs to be trusted later.

The file (format 2) is a joblib file of a dict of plain values, so it opens with any library versions:

    {"format": 2,
     "metadata": {<the caller's: profile fingerprint, held-out quality, table, target...>,
                  "predictor": <registered name>, "n_train": <training rows>, "saved_at": <UTC time>,
                  "versions": {"format", "python", "numpy", "scipy", "scikit-learn", "hwnas"}},
     "space": {"name": ..., "arguments": {...}},
     "predictor_pickle": <the fitted estimator, pickled>}

scikit-learn does not promise that an estimator pickled by one version works in another (users of
earlier tools lost their predictors to an upgrade). So the metadata is read first, without the
estimator (`read_predictor_metadata`): a file from another major scikit-learn version, or a newer
format, is refused in one line; if the estimator itself cannot be unpickled here, the one-line
PredictorError names the versions it was saved with and the ones installed, and says to refit. A
different minor version that does unpickle loads with scikit-learn's own warning. Format 1 files (the
estimator directly inside the dict) still load.
"""

from __future__ import annotations

import os
import pickle
import platform
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from predictors.errors import PredictorError

FORMAT_VERSION = 2  # bump when the layout of the file changes
VERSIONED = ("python", "numpy", "scipy", "scikit-learn")  # compared when an estimator fails to unpickle


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
    """Write the fitted `predictor` with `metadata` to `path` (atomically); return the path."""
    import joblib
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(predictor)
    except Exception as error:  # NotFittedError, or not an estimator at all
        raise PredictorError(f"only a fitted predictor can be saved: {error}") from None
    path = Path(path)
    record = {
        "format": FORMAT_VERSION,
        "metadata": {"n_train": getattr(predictor, "n_train_", None), **dict(metadata or {}),
                     "predictor": getattr(predictor, "registered_name", type(predictor).__name__),
                     "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "versions": current_versions()},
        "space": _space_record(predictor),
        "predictor_pickle": pickle.dumps(predictor, protocol=pickle.HIGHEST_PROTOCOL),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(record, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_predictor_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a predictor file (with "space"), without unpickling the estimator."""
    return _read_record(Path(path))[1]


def load_predictor(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(predictor, metadata) from a file written by `save_predictor`; metadata["space"] names its space.

    A missing, corrupt or foreign file, one from another major scikit-learn version or a newer format,
    or an estimator that does not unpickle with the installed libraries raises a one-line PredictorError.
    """
    from sklearn.exceptions import InconsistentVersionWarning

    path = Path(path)
    record, metadata = _read_record(path)
    if "predictor_pickle" not in record:  # format 1: the estimator was unpickled with the record
        return record["predictor"], metadata
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            predictor = pickle.loads(record["predictor_pickle"])
        except Exception as error:  # unpickling raises anything: AttributeError, ModuleNotFoundError...
            raise PredictorError(f"predictor file {path} cannot be loaded here ({type(error).__name__}: "
                                 f"{str(error)[:80]}); {_versions_said(metadata)}; refit the predictor") from None
    for warning in caught:  # let scikit-learn's minor-version warning (and any other) through once
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return predictor, metadata


def _read_record(path: Path) -> tuple[dict, dict[str, Any]]:
    """(record, metadata) of a predictor file, the versions checked."""
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    if not path.is_file():
        raise PredictorError(f"predictor file not found: {path}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            record = joblib.load(path)
        except Exception as error:  # unpickling raises anything: EOFError, KeyError, ModuleNotFoundError...
            mismatch = _version_mismatch(caught, InconsistentVersionWarning)
            if mismatch:
                raise PredictorError(f"predictor file {path} {mismatch}; refit the predictor") from None
            raise PredictorError(f"cannot load predictor file {path}: corrupt or not a predictor file "
                                 f"({type(error).__name__}: {str(error)[:100]})") from None
    required = ("predictor_pickle" if isinstance(record, dict) and record.get("format", 1) >= 2 else "predictor",
                "metadata", "space")
    if not isinstance(record, dict) or any(key not in record for key in required):
        raise PredictorError(f"{path} is not a predictor file: expected a dict with keys {list(required)}")
    metadata = dict(record["metadata"])
    versions = metadata.get("versions", {})
    if versions.get("format", 0) > FORMAT_VERSION:
        raise PredictorError(f"predictor file {path} has format {versions.get('format')}; this hwnas reads "
                             f"format {FORMAT_VERSION} and older; upgrade hwnas")
    saved_sklearn = str(versions.get("scikit-learn", "unknown"))
    if saved_sklearn.split(".")[0] != sklearn.__version__.split(".")[0]:
        raise PredictorError(f"predictor file {path} was saved with scikit-learn {saved_sklearn}, this is "
                             f"{sklearn.__version__}; refit the predictor")
    metadata["space"] = record["space"]
    return record, metadata


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


def _version_mismatch(caught: list, category: type) -> str:
    for warning in caught:
        if issubclass(warning.category, category):
            message = warning.message
            return (f"was saved with scikit-learn {message.original_sklearn_version}, this is "
                    f"{message.current_sklearn_version}")
    return ""
