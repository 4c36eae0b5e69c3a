"""The run folder: every step of a search reads and writes named files here.

    run/
      run.json            what the run is: dataset, space, hardware profile
      supernet.pt         trained supernet checkpoint (space name + arguments inside)
      vocab.json          a text data set's vocabulary (word -> id), when training tokenized it; run.json
                          records its SHA-256 and every later verb encodes with it
      measurements.db     real latency measurements (SQLite; may be shared between runs)
      predictor.joblib    fitted latency predictor, and predictor.json: its held-out quality
      study.db            the Optuna study (SQLite)
      trials.csv          every trial: config, accuracy, predicted and (if measured) measured latency
      pareto.csv / .png   the measured Pareto front
      models/             exported ONNX models and their model cards
      profiles/NAME/      a search on another hardware profile than the run's own (run.json's `profile`):
                          its predictor.joblib / .json, study.db, trials.csv, pareto.csv / .png, front.json and
                          search.json (its settings); its measurements share measurements.db (keyed by profile)
      .lock               held (fcntl.flock) by the verb writing the run: `train` alone, or readers together
      .run.json.lock      held while run.json is read, changed and written
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from nas.errors import HwnasError

# What a run uses when nothing says otherwise (`hwnas demo`, and run folders whose run.json is silent).
DEFAULT_DATASET, DEFAULT_SPACE, DEFAULT_PROFILE = "mnist5k", "vit", "x86-cpu-ort"


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write to a temporary file, fsync it, rename it over `path` and fsync the folder: a crash never
    leaves a half-written file behind, and once this returns the new file survives a power loss. A write
    or rename that fails removes the temporary file and raises HwnasError naming `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, mode) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        replace_durably(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise HwnasError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


def replace_durably(temporary: Path, path: Path) -> None:
    """Rename the written (and fsynced) `temporary` over `path`, then fsync the folder so the rename itself
    is on disk (POSIX; where a folder cannot be opened, as on Windows, the rename is all there is)."""
    from hw_profiles.durable_files import fsync_folder  # one folder fsync for both packages (nas may import hw_profiles)

    os.replace(temporary, path)
    fsync_folder(path.parent)


def fsync_file(path: Path) -> None:
    """Flush a file that another library wrote (ONNX, TensorRT) to disk before it is renamed into place."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def checked_output_file(path: str | Path, option: str) -> Path:
    """`path` if a file can be written there: not a directory, in a folder that exists; else HwnasError.
    Verbs call this before they start work, so a bad --out costs nothing."""
    path = Path(path)
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as error:  # a name too long, a path through a file
        raise HwnasError(f"{option} {str(path)[:80]!r}: {error.strerror}") from None
    if path.is_dir():
        raise HwnasError(f"{option} {str(path)!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise HwnasError(f"{option} {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return path


PROFILES_FOLDER = "profiles"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class SearchFiles:
    """The files of one search in a folder `path`: a run's top level (its own profile's search) or
    profiles/NAME/ (another profile's)."""

    predictor = property(lambda self: self.path / "predictor.joblib")
    predictor_report = property(lambda self: self.path / "predictor.json")
    study = property(lambda self: self.path / "study.db")
    trials_csv = property(lambda self: self.path / "trials.csv")
    pareto_csv = property(lambda self: self.path / "pareto.csv")
    pareto_png = property(lambda self: self.path / "pareto.png")


@dataclass(frozen=True)
class ProfileFiles(SearchFiles):
    """The files of one hardware profile's search in a run: the run's own profile keeps the run's top-level
    files (the layout of every run before several profiles), any other profile writes under profiles/NAME/."""
    profile: str
    path: Path
    own: bool  # the run's own profile (files at the run's top)

    front = property(lambda self: self.path / "front.json")
    search_settings = property(lambda self: self.path / "search.json")  # another profile's (the own: run.json)


@dataclass(frozen=True)
class RunFolder(SearchFiles):
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    checkpoint = property(lambda self: self.path / "supernet.pt")
    measurements = property(lambda self: self.path / "measurements.db")
    models = property(lambda self: self.path / "models")
    settings_file = property(lambda self: self.path / "run.json")

    def create(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    lock_file = property(lambda self: self.path / ".lock")

    @contextlib.contextmanager
    def lock(self, verb: str, exclusive: bool) -> Iterator["RunFolder"]:
        """Hold the run's lock while `verb` runs: exclusive for `train` (it rewrites supernet.pt, which the
        others read), shared for the verbs whose files already take concurrent writers (the store, the
        study). A lock that is held refuses at once, in one line naming the holder's verb and pid."""
        import fcntl

        if not exclusive and not self.path.is_dir():  # nothing to share yet; the verb says what is missing
            yield self
            return
        self.create()
        with open(self.lock_file, "a+") as handle:
            try:
                fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read(200).strip() or "another hwnas process"
                raise HwnasError(f"run {str(self.path)!r} is in use by {holder}; wait for it to finish "
                                 f"({'train needs the run alone' if exclusive else 'train holds it'})") from None
            handle.seek(0)  # the holder, for the message above (of shared holders, the latest)
            handle.truncate()
            handle.write(f"`hwnas {verb}` (pid {os.getpid()})")
            handle.flush()
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def settings(self) -> dict[str, Any]:
        """run.json; empty when the run has none yet."""
        if not self.settings_file.exists():
            return {}
        try:
            settings = json.loads(self.settings_file.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError) as error:
            raise HwnasError(f"{self.settings_file} is not valid JSON ({error})") from None
        if not isinstance(settings, dict):
            raise HwnasError(f"{self.settings_file} must hold a JSON object, got {type(settings).__name__}")
        return settings

    def update_settings(self, **values: Any) -> dict[str, Any]:
        """Merge `values` into run.json under a lock, so that two processes never lose each other's keys."""
        import fcntl

        self.create()
        with open(self.path / ".run.json.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # held for one read and one write: milliseconds
            try:
                settings = {**self.settings(), **values}
                write_atomically(self.settings_file, json.dumps(settings, indent=2, sort_keys=True))
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return settings

    def own_profile(self) -> str:
        """The run's own hardware profile: run.json's `profile` (set by train or the first profile)."""
        recorded = self.settings().get("profile")
        return recorded if isinstance(recorded, str) and recorded else DEFAULT_PROFILE

    def profile_files(self, profile: str | None = None) -> ProfileFiles:
        """Where the search on hardware profile `profile` (a profile's name; None: the run's own) keeps its
        predictor, study and front."""
        own = self.own_profile()
        if profile is None or profile == own:
            return ProfileFiles(own, self.path, own=True)
        if not _SAFE_NAME.fullmatch(profile):
            raise HwnasError(f"hardware profile name {profile[:80]!r} cannot name a folder of the run; a profile's "
                             f"name may hold letters, digits, '.', '_' and '-'")
        return ProfileFiles(profile, self.path / PROFILES_FOLDER / profile, own=False)

    def searched_profiles(self) -> list[str]:
        """The profiles with a searched front in this run: its own first (if searched), then the others by name."""
        own = [self.own_profile()] if (self.path / "front.json").exists() else []
        folder = self.path / PROFILES_FOLDER
        others = sorted(p.name for p in folder.iterdir() if (p / "front.json").is_file()) if folder.is_dir() else []
        return own + [name for name in others if name not in own]

    def require(self, path: Path, made_by: str) -> Path:
        if not path.exists():
            raise HwnasError(f"{path} does not exist; run `hwnas {made_by} --run {self.path}` first")
        return path
