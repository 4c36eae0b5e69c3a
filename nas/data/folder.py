"""Image folders in the torchvision `ImageFolder` convention: `root/<class>/<image>` (PNG or JPEG, any size
and mode), or `root/train|val|test/<class>/<image>` for a fixed split of one's own.

Loading reads the headers only (size and mode, no decoding), then makes each split a lazy
`torch.utils.data.Dataset` (`FolderImages`, nas.data.folder_images) that decodes an image when it is read,
in the DataLoader's workers: a folder never has to fit in memory. The per-channel mean and standard deviation
of the training split are computed in one streamed pass (running sums; a run reopening its data uses the
ones it recorded, and decodes nothing until it reads). Channels: 1 when every image is grayscale, else 3
(grayscale images then repeat their one channel). The image size is `image_size` when given, else the
median shorter side of the images, capped at 224: each image's shorter side is resized to it (bilinear)
and the centre square cut out.

A small folder, one whose decoded images take at most `cache_limit()` bytes (default 256 MiB; the
environment variable HWNAS_IMAGE_CACHE_MB sets it, 0 keeps every folder lazy), is decoded once into
arrays instead: the same values, computed by the same float32 operations, without decoding every epoch.
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
from nas.data.folder_images import FolderImages, read_headers, short_reason, streamed_statistics
from nas.errors import HwnasError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
MAX_DEFAULT_SIZE = 224
IMAGE_SIZE_RANGE = (2, 1024)
MIN_PER_CLASS = 3
CACHE_ENVIRONMENT = "HWNAS_IMAGE_CACHE_MB"
DEFAULT_CACHE_MB = 256  # a folder whose decoded images fit is decoded once, into memory


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


def default_image_size(sides: np.ndarray) -> int:
    """The median shorter side, capped at 224."""
    return int(min(MAX_DEFAULT_SIZE, max(IMAGE_SIZE_RANGE[0], int(np.median(sides)))))


def _split(listing: FolderListing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if listing.splits is not None:
        return tuple(np.flatnonzero(listing.splits == index) for index in range(3))  # type: ignore[return-value]
    try:
        return split_indices(listing.labels)
    except ValueError as error:
        raise HwnasError(f"image folder {str(listing.root)!r} is too small for a stratified 70/10/20 split of "
                         f"{len(listing.class_names)} classes ({short_reason(error)}); add images or give "
                         f"train/, val/ and test/ subfolders") from None


def check_image_size(image_size: int | None) -> None:
    low, high = IMAGE_SIZE_RANGE
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or not low <= image_size <= high):
        raise HwnasError(f"--image-size must be an integer from {low} to {high}, got {image_size!r}")


def cache_limit() -> int:
    """Bytes of decoded images up to which a folder is held in memory (HWNAS_IMAGE_CACHE_MB, default 256)."""
    text = os.environ.get(CACHE_ENVIRONMENT, str(DEFAULT_CACHE_MB))
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = float("nan")
    if not 0 <= megabytes <= 1 << 30:
        raise HwnasError(f"environment variable {CACHE_ENVIRONMENT} must be a number of megabytes from 0 to "
                         f"{1 << 30}, got {text!r}")
    return int(megabytes * (1 << 20))


def load_image_folder(root: str | Path, image_size: int | None = None,
                      normalisation: tuple[Sequence[float], Sequence[float]] | None = None,
                      progress: bool = False, cache_bytes: int | None = None) -> Dataset:
    """The folder as a Dataset whose splits are lazy `FolderImages`, or arrays when the decoded images take
    at most `cache_bytes` (default `cache_limit()`). `normalisation` (mean, std per channel) replaces the
    training split's own statistics (a run reopening its data uses the ones it recorded)."""
    from tqdm.auto import tqdm

    check_image_size(image_size)
    listing = list_folder(root)
    sides, channels = read_headers(listing.files)
    size = image_size or default_image_size(sides)
    parts = _split(listing)
    splits: list = [FolderImages([listing.files[index] for index in part], size, channels) for part in parts]
    in_memory = len(listing.files) * channels * size * size * 4 <= (cache_limit() if cache_bytes is None
                                                                     else cache_bytes)
    if in_memory:
        bar = tqdm(total=len(listing.files), desc=f"reading {listing.root.name}", disable=not progress,
                   unit="image")
        splits = [_decoded(split, bar) for split in splits]
        bar.close()
    if normalisation is None:
        bar = tqdm(total=len(splits[0]), desc=f"statistics of {listing.root.name}",
                   disable=not progress or in_memory, unit="image")
        mean, std = streamed_statistics(splits[0], channels, progress=bar)
        bar.close()
    else:
        mean, std = (np.asarray(values, dtype=np.float64) for values in normalisation)
        if mean.shape != (channels,) or std.shape != (channels,):
            raise HwnasError(f"image folder {str(listing.root)!r} now has {channels} channels, not the "
                             f"{len(mean)} its run recorded")
    splits = [_normalised(split, mean, std) for split in splits]
    labels = [listing.labels[part] for part in parts]
    preprocessing = {"image_size": size, "channels": channels, "mean": [float(v) for v in mean],
                     "std": [float(v) for v in std], "pixels": "unit",
                     "split": "folders" if listing.splits is not None else "stratified 70/10/20"}
    return Dataset(listing.root.name or str(listing.root), splits[0], labels[0], splits[1], labels[1], splits[2],
                   labels[2], num_classes=len(listing.class_names), augmentation=random_affine,
                   class_names=listing.class_names, preprocessing=preprocessing)


def _decoded(split: FolderImages, bar) -> np.ndarray:
    """Every image of `split`, decoded (not normalised) into one array."""
    array = np.empty(split.shape, dtype=np.float32)
    for row in range(len(split)):
        array[row] = split[row]
        bar.update()
    return array


def _normalised(split, mean: np.ndarray, std: np.ndarray):
    if isinstance(split, FolderImages):
        return split.normalised(mean, std)
    split -= mean.astype(np.float32)[None, :, None, None]  # in place: no second copy
    split /= std.astype(np.float32)[None, :, None, None]
    return split


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
