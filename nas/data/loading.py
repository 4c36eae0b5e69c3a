"""Opening a data set by name: a registered built-in, the path of a user `.npz` file, or an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.data.dataset import DATASETS, Dataset
from nas.data.folder import check_image_size, load_image_folder
from nas.data.images import image_dataset
from nas.data.npz_limits import check_npz_size
from nas.data.text import load_token_npz
from nas.errors import HwnasError


def load_npz(path: str | Path) -> Dataset:
    """User data: an .npz with images `x` (N, H, W) or (N, C, H, W) and integer `y` (N,), or with token ids
    `input_ids` (N, L), optional `attention_mask` and integer `labels` (see nas.data.text)."""
    path = Path(path)
    check_npz_size(path)  # a zip bomb, or a header promising more than the file holds: refused unread
    try:
        archive = np.load(path, allow_pickle=False)
        if "input_ids" in archive:
            return load_token_npz(path.stem, archive, source=str(path))
        images, labels = archive["x"], archive["y"]
    except FileNotFoundError:
        raise HwnasError(f"dataset file {str(path)!r} does not exist") from None
    except KeyError as error:
        raise HwnasError(f"dataset file {str(path)!r} must hold arrays 'x' and 'y' (images) or 'input_ids' and "
                         f"'labels' (token ids); missing {error}") from None
    except HwnasError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable archive
        raise HwnasError(f"dataset file {str(path)!r} is not a readable .npz: {error}") from None
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise HwnasError(f"dataset {str(path)!r}: 'x' must be (N, H, W) or (N, C, H, W) with H == W, "
                         f"got shape {images.shape}")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
            or images.dtype == bool):
        raise HwnasError(f"dataset {str(path)!r}: 'x' must hold real numbers, got dtype {images.dtype}")
    return image_dataset(path.stem, images, labels, source=str(path))


def load_dataset(name: str, image_size: int | None = None, progress: bool = False) -> Dataset:
    """A built-in name (`mnist5k`, `digits`, `rotten-tomatoes`), the path of an `.npz` file, or an image
    folder (`image_size`: the side its images are resized and cropped to; see nas.data.folder)."""
    check_image_size(image_size)
    if Path(name).is_dir() and name not in DATASETS:
        return load_image_folder(name, image_size=image_size, progress=progress)
    if image_size is not None:
        raise HwnasError(f"--image-size applies to an image folder only; {name!r} is not one")
    if name in DATASETS:
        return DATASETS.get(name)()
    if name.endswith(".npz"):
        return load_npz(name)
    raise HwnasError(f"unknown dataset {name!r}; built-in: {', '.join(DATASETS.names())}, or a path to an .npz "
                     f"file or an image folder (root/<class>/<image>)")
