"""What an `.npz` may unpack to, checked before numpy reads it.

An `.npz` is a zip of `.npy` files, and deflate packs a gigabyte of zeros into a megabyte: loading such
a file (a zip bomb) would allocate without bound. Before `np.load` reads anything, `check_npz_size`
reads the zip's directory and each `.npy` member's header alone, and refuses (one line naming the file
and the limit) a file whose members declare more than `MAXIMUM_NPZ_BYTES` unpacked, a header whose
shape times item size is more than its member holds (numpy would allocate the shape first), or an array
of Python objects (never loaded: `allow_pickle=False`).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from nas.errors import HwnasError

MAXIMUM_NPZ_BYTES = 4 * 1024 ** 3  # unpacked, all arrays together; the built-in data sets need under 40 MB
MAXIMUM_HEADER_BYTES = 10_000  # numpy's own default bound on an .npy header


def check_npz_size(path: Path) -> None:
    """Refuse (HwnasError) an `.npz` that would unpack to more than MAXIMUM_NPZ_BYTES, or whose array
    headers promise more than their members hold; nothing is decompressed beyond the headers."""
    where = f"dataset file {str(path)!r}"
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise HwnasError(f"{where} does not exist") from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise HwnasError(f"{where} is not a readable .npz: {error}") from None
    with archive:
        members = archive.infolist()
        declared = sum(info.file_size for info in members)
        if declared > MAXIMUM_NPZ_BYTES:
            raise HwnasError(f"{where} unpacks to {declared:,} bytes, more than the limit of "
                             f"{MAXIMUM_NPZ_BYTES:,} bytes; use an image folder for larger data")
        for info in members:
            if info.filename.endswith(".npy"):
                _check_member(archive, info, where)


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> None:
    name = info.filename[:-len(".npy")]
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=MAXIMUM_HEADER_BYTES)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=MAXIMUM_HEADER_BYTES)
            else:
                raise ValueError(f"array {name!r} has .npy format version {version}; hwnas reads 1.0 and 2.0")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as error:
        raise HwnasError(f"{where} is not a readable .npz: {' '.join(str(error).split())[:160]}") from None
    if dtype.hasobject:
        raise HwnasError(f"{where}: array {name!r} holds Python objects, which hwnas never loads; store numbers")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > info.file_size:
        raise HwnasError(f"{where} is corrupt: array {name!r} claims shape {tuple(shape)} ({claimed:,} bytes) but "
                         f"its member holds {info.file_size:,} bytes")
