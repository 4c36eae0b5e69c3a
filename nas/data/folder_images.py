"""Decoding the images of an image folder, and `FolderImages`: one split of the folder as a lazy
`torch.utils.data.Dataset` whose items are decoded when read.

An item is decoded by Pillow in `__getitem__` (in the DataLoader's worker processes when there are any):
converted to the folder's channel count, its shorter side resized to the image size (bilinear), the centre
square cut out, scaled to [0, 1], then normalised with the training split's per-channel mean and standard
deviation. `streamed_statistics` computes those in one pass over the (unnormalised) training split, a batch
at a time, from running sums: memory stays bounded by one batch whatever the folder's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset as TorchDataset

from nas.data.batches import input_batches
from nas.errors import HwnasError

GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
STATISTICS_BATCH = 32  # images per step of the statistics pass


def _open(path: Path):
    from PIL import Image

    try:
        return Image.open(path)
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for broken files
        raise HwnasError(f"image {str(path)!r} cannot be read ({short_reason(error)}); allowed: PNG or JPEG "
                         f"images") from None


def short_reason(error: Exception) -> str:
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
            raise HwnasError(f"image {str(path)!r} cannot be decoded ({short_reason(error)}); allowed: PNG or JPEG "
                             f"images") from None
    if image.mode != "F":
        array = array / 255.0
    if array.ndim == 2:
        return np.repeat(array[None], channels, axis=0)
    return array.transpose(2, 0, 1)


class FolderImages(TorchDataset):
    """Images of one split, decoded per item: (channels, size, size) float32, normalised by `mean` and `std`
    (per channel; None: left in [0, 1]). Holds only the file paths; `shape` and `dtype` describe the split
    as the array it would be."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, files: Sequence[Path], size: int, channels: int, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        self.files, self.size, self.channels = tuple(files), int(size), int(channels)
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32).reshape(channels, 1, 1)
        self.std = None if std is None else np.asarray(std, dtype=np.float32).reshape(channels, 1, 1)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), self.channels, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        image = np.ascontiguousarray(decode(self.files[int(index)], self.size, self.channels))
        if self.mean is not None:  # the same float32 operations as normalising a whole array in place
            image -= self.mean
            image /= self.std
        return image

    def normalised(self, mean: Sequence[float], std: Sequence[float]) -> "FolderImages":
        return FolderImages(self.files, self.size, self.channels, mean, std)

    def __repr__(self) -> str:
        return f"FolderImages({len(self.files)} images, {self.channels}x{self.size}x{self.size}, lazy)"


def streamed_statistics(inputs: Any, channels: int, progress: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per channel of `inputs` (an array or a Dataset of (channels, H, W) samples), summed a
    batch at a time in float64; a constant channel gets std 1. `progress`: a tqdm bar advanced per image."""
    total = np.zeros(channels, dtype=np.float64)
    squares = np.zeros(channels, dtype=np.float64)
    pixels = 0
    for batch in input_batches(inputs, STATISTICS_BATCH):
        values = batch.astype(np.float64)
        total += values.sum(axis=(0, 2, 3))
        squares += (values * values).sum(axis=(0, 2, 3))
        pixels += values.shape[0] * values.shape[2] * values.shape[3]
        if progress is not None:
            progress.update(len(batch))
    mean = total / max(pixels, 1)
    std = np.sqrt(np.maximum(squares / max(pixels, 1) - mean * mean, 0.0))
    return mean, np.where(std > 1e-8, std, 1.0)
