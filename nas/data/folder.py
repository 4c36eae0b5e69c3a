"""Image folders in the torchvision `ImageFolder` convention: `root/<class>/<image>` (PNG or JPEG, any size
and mode), or `root/train|val|test/<class>/<image>` for a fixed split of one's own.

The folder becomes an ordinary `Dataset` (arrays), built by streaming: the headers are read first (size and
mode, no decoding), the arrays are allocated once, and each image is decoded, converted, resized and
centre-cropped straight into its row, one at a time. The per-channel mean and standard deviation of the
training split are summed up during the same pass and applied in place, so no second copy of the data is
made. Channels: 1 when every image is grayscale, else 3 (grayscale images then repeat their one channel).
The image size is `image_size` when given, else the median shorter side of the images, capped at 224:
each image's shorter side is resized to it (bilinear) and the centre square cut out.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from nas.data.augment import random_affine
from nas.data.dataset import Dataset, split_indices
from nas.errors import HwnasError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
MAX_DEFAULT_SIZE = 224
IMAGE_SIZE_RANGE = (2, 1024)
MIN_PER_CLASS = 3
GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclass(frozen=True)
class FolderListing:
    """The images of an image folder, in a fixed order (split, class, file name), without decoding them."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[Path, ...]
    labels: np.ndarray  # int64, one per file
    splits: np.ndarray | None  # 0 train / 1 val / 2 test per file, when the folder has train/ val/ test/

    def digest(self) -> str:
        """SHA-256 of the sorted relative file list with each file's size (cheap: no file is read)."""
        lines = sorted(f"{path.relative_to(self.root).as_posix()}\t{path.stat().st_size}" for path in self.files)
        return "folder-sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _image_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")
                  and path.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def list_folder(root: str | Path) -> FolderListing:
    """The folder's classes and images; a folder without two classes of images raises a one-line error."""
    root = Path(root)
    if not root.is_dir():
        raise HwnasError(f"image folder {str(root)!r} does not exist")
    split_folders = [root / name for name in SPLITS]
    if any(folder.is_dir() for folder in split_folders):
        missing = [folder.name for folder in split_folders if not folder.is_dir()]
        if missing:
            raise HwnasError(f"image folder {str(root)!r} has a fixed split but no {'/, '.join(missing)}/ subfolder; "
                             f"give all of train/, val/ and test/, or none (then a stratified 70/10/20 split is made)")
        class_names = tuple(folder.name for folder in _class_folders(root / "train"))
        for folder in split_folders[1:]:
            extra = sorted({c.name for c in _class_folders(folder)} - set(class_names))
            if extra:
                raise HwnasError(f"image folder {str(folder)!r}: class {extra[0]!r} is not in {root / 'train'}; "
                                 f"val/ and test/ may only hold the classes of train/")
        sources = [(index, folder) for index, folder in enumerate(split_folders)]
    else:
        class_names = tuple(folder.name for folder in _class_folders(root))
        sources = [(None, root)]
    files, labels, splits = [], [], []
    for split, folder in sources:
        for label, name in enumerate(class_names):
            found = _image_files(folder / name) if (folder / name).is_dir() else []
            files += found
            labels += [label] * len(found)
            splits += [split] * len(found)
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    if not files:
        raise HwnasError(f"image folder {str(root)!r} holds no images: put PNG or JPEG files in one subfolder per "
                         f"class (root/<class>/<image>)")
    if len(class_names) < 2:
        raise HwnasError(f"image folder {str(root)!r} has one class ({class_names[0]!r}); it needs at least 2 class "
                         f"subfolders (root/<class>/<image>)")
    if counts.min() < MIN_PER_CLASS:
        name = class_names[int(counts.argmin())]
        raise HwnasError(f"image folder {str(root)!r}: class {name!r} has {int(counts.min())} images; every class "
                         f"needs at least {MIN_PER_CLASS} (one each for training, validation and test)")
    return FolderListing(root, class_names, tuple(files), np.asarray(labels, dtype=np.int64),
                         None if sources[0][0] is None else np.asarray(splits, dtype=np.int64))


def _open(path: Path):
    from PIL import Image

    try:
        return Image.open(path)
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for broken files
        raise HwnasError(f"image {str(path)!r} cannot be read ({_reason(error)}); allowed: PNG or JPEG "
                         f"images") from None


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def read_headers(files: Sequence[Path]) -> tuple[np.ndarray, int]:
    """(shorter side of each image, channels: 1 if every image is grayscale else 3), from the headers only."""
    sides, channels = np.empty(len(files), dtype=np.int64), 1
    for index, path in enumerate(files):
        with _open(path) as image:
            sides[index] = min(image.size)
            if image.mode not in GRAYSCALE_MODES:
                channels = 3
    return sides, channels


def default_image_size(sides: np.ndarray) -> int:
    """The median shorter side, capped at 224."""
    return int(min(MAX_DEFAULT_SIZE, max(IMAGE_SIZE_RANGE[0], int(np.median(sides)))))


def decode(path: Path, size: int, channels: int) -> np.ndarray:
    """(channels, size, size) float32 in [0, 1]: converted, shorter side resized to `size`, centre-cropped."""
    from PIL import Image

    with _open(path) as image:
        try:
            image.draft("L" if channels == 1 else "RGB", (size, size))  # JPEG: decode at a reduced scale
            if image.mode.startswith("I;16") or image.mode in ("I", "F"):  # 16/32-bit grayscale: kept exact
                scale = 1.0 if image.mode == "F" else 65535.0
                image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) / scale, 0, 1))
            elif image.mode != ("L" if channels == 1 else "RGB"):
                image = image.convert("L" if channels == 1 else "RGB")
            width, height = image.size
            scale = size / min(width, height)
            resized = (max(size, round(width * scale)), max(size, round(height * scale)))
            if resized != image.size:
                image = image.resize(resized, Image.Resampling.BILINEAR)
            left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
            array = np.asarray(image, dtype=np.float32)
        except HwnasError:
            raise
        except Exception as error:  # noqa: BLE001 - truncated or corrupt image data
            raise HwnasError(f"image {str(path)!r} cannot be decoded ({_reason(error)}); allowed: PNG or JPEG "
                             f"images") from None
    if image.mode != "F":
        array = array / 255.0
    if array.ndim == 2:
        return np.repeat(array[None], channels, axis=0)
    return array.transpose(2, 0, 1)


def _split(listing: FolderListing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if listing.splits is not None:
        return tuple(np.flatnonzero(listing.splits == index) for index in range(3))  # type: ignore[return-value]
    try:
        return split_indices(listing.labels)
    except ValueError as error:
        raise HwnasError(f"image folder {str(listing.root)!r} is too small for a stratified 70/10/20 split of "
                         f"{len(listing.class_names)} classes ({_reason(error)}); add images or give "
                         f"train/, val/ and test/ subfolders") from None


def check_image_size(image_size: int | None) -> None:
    low, high = IMAGE_SIZE_RANGE
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or not low <= image_size <= high):
        raise HwnasError(f"--image-size must be an integer from {low} to {high}, got {image_size!r}")


def load_image_folder(root: str | Path, image_size: int | None = None,
                      normalisation: tuple[Sequence[float], Sequence[float]] | None = None,
                      progress: bool = False) -> Dataset:
    """The folder as a Dataset; `normalisation` (mean, std per channel) replaces the training split's own
    statistics (a run reopening its data uses the ones it recorded)."""
    from tqdm.auto import tqdm

    check_image_size(image_size)
    listing = list_folder(root)
    sides, channels = read_headers(listing.files)
    size = image_size or default_image_size(sides)
    parts = _split(listing)
    arrays = [np.empty((len(part), channels, size, size), dtype=np.float32) for part in parts]
    total = np.zeros(channels, dtype=np.float64)
    squares = np.zeros(channels, dtype=np.float64)
    bar = tqdm(total=len(listing.files), desc=f"reading {listing.root.name}", disable=not progress, unit="image")
    for which, (part, array) in enumerate(zip(parts, arrays)):
        for row, index in enumerate(part):
            array[row] = decode(listing.files[index], size, channels)
            if which == 0:
                values = array[row].reshape(channels, -1).astype(np.float64)
                total += values.sum(axis=1)
                squares += (values * values).sum(axis=1)
            bar.update()
    bar.close()
    if normalisation is None:
        pixels = len(parts[0]) * size * size
        mean = total / pixels
        std = np.sqrt(np.maximum(squares / pixels - mean * mean, 0.0))
        std = np.where(std > 1e-8, std, 1.0)
    else:
        mean, std = (np.asarray(values, dtype=np.float64) for values in normalisation)
        if mean.shape != (channels,) or std.shape != (channels,):
            raise HwnasError(f"image folder {str(listing.root)!r} now has {channels} channels, not the "
                             f"{len(mean)} its run recorded")
    for array in arrays:  # in place: no second copy
        array -= mean.astype(np.float32)[None, :, None, None]
        array /= std.astype(np.float32)[None, :, None, None]
    labels = [listing.labels[part] for part in parts]
    preprocessing = {"image_size": size, "channels": channels, "mean": [float(v) for v in mean],
                     "std": [float(v) for v in std], "pixels": "unit",
                     "split": "folders" if listing.splits is not None else "stratified 70/10/20"}
    return Dataset(listing.root.name or str(listing.root), arrays[0], labels[0], arrays[1], labels[1], arrays[2],
                   labels[2], num_classes=len(listing.class_names), augmentation=random_affine,
                   class_names=listing.class_names, preprocessing=preprocessing)


def folder_digest(root: str | Path) -> str:
    return list_folder(root).digest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def is_image_folder(name: str | os.PathLike) -> bool:
    return Path(name).is_dir()
