"""Saving and loading a fitted predictor with what it needs to be trusted later.

The file is a joblib pickle of a dict:

    {"predictor": <fitted estimator>,
     "metadata": {<the caller's metadata: profile fingerprint, quality, ...>,
                  "predictor": <registered name>,
                  "versions": {"format": 1, "python": ..., "numpy": ..., "scikit-learn": ...}},
     "space": {"name": ..., "arguments": {...}}}

scikit-learn does not promise that an estimator pickled by one version works in another. A file saved
with a different major scikit-learn version is refused with a one-line PredictorError (refit it); a
different minor version loads with scikit-learn's own warning.
"""

from __future__ import annotations

import os
import platform
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

from predictors.errors import PredictorError

FORMAT_VERSION = 1  # bump when the layout of the file changes
REQUIRED_KEYS = ("predictor", "metadata", "space")


def current_versions() -> dict[str, Any]:
    import numpy
    import sklearn

    return {"format": FORMAT_VERSION, "python": platform.python_version(), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__}


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
        "predictor": predictor,
        "metadata": {**dict(metadata or {}),
                     "predictor": getattr(predictor, "registered_name", type(predictor).__name__),
                     "versions": current_versions()},
        "space": _space_record(predictor),
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


def load_predictor(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(predictor, metadata) from a file written by `save_predictor`; metadata["space"] names its space.

    A missing, corrupt or foreign file, or one from another major scikit-learn version, raises a
    one-line PredictorError.
    """
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    path = Path(path)
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
    if not isinstance(record, dict) or any(key not in record for key in REQUIRED_KEYS):
        raise PredictorError(f"{path} is not a predictor file: expected a dict with keys {list(REQUIRED_KEYS)}")
    metadata = dict(record["metadata"])
    versions = metadata.get("versions", {})
    if versions.get("format", 0) > FORMAT_VERSION:
        raise PredictorError(f"predictor file {path} has format {versions.get('format')}; this hwnas reads "
                             f"format {FORMAT_VERSION} and older; upgrade hwnas")
    saved_sklearn = str(versions.get("scikit-learn", "unknown"))
    if saved_sklearn.split(".")[0] != sklearn.__version__.split(".")[0]:
        raise PredictorError(f"predictor file {path} was saved with scikit-learn {saved_sklearn}, this is "
                             f"{sklearn.__version__}; refit the predictor")
    for warning in caught:  # let the rest (scikit-learn's minor-version warning among them) through once
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    metadata["space"] = record["space"]
    return record["predictor"], metadata


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
