"""Files that survive a crash and a power loss: written aside, fsynced, renamed, and the folder fsynced.

hw_profiles imports nothing of the rest of hwnas, so it keeps this small helper of its own (the same
steps as `nas.run_folder.write_atomically` and `replace_durably`): the CSV export of the measurement
store, TensorRT's timing cache and the reference baseline use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, IO


def write_durably(path: Path, write: Callable[[IO], None], mode: str = "wb", **open_arguments) -> None:
    """Call `write(handle)` on a temporary file beside `path`, fsync it, rename it over `path` and fsync the
    folder. A failure removes the temporary file and raises its OSError; `path` keeps its old content."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, mode, **open_arguments) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def fsync_folder(folder: Path) -> None:
    """Make a rename (or link) in `folder` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
