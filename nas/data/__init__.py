"""Data sets: the built-ins (`mnist5k`, `digits`, `rotten-tomatoes`, registered in `DATASETS` by the modules
beside this one) and user `.npz` files, each with its fixed train / validation / test split."""

from nas.data import images as _images  # noqa: F401  (registers mnist5k, digits)
from nas.data import text as _text  # noqa: F401  (registers rotten-tomatoes)
from nas.data.dataset import DATASETS, SPLIT_SEED, Dataset, register_dataset, split_indices
from nas.data.loading import load_dataset, load_npz

__all__ = ["DATASETS", "SPLIT_SEED", "Dataset", "load_dataset", "load_npz", "register_dataset", "split_indices"]
