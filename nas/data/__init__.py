"""Data sets: the built-ins (`mnist5k`, `digits`, `rotten-tomatoes`, registered in `DATASETS` by the modules
beside this one), user `.npz` files and image folders, each with its fixed train / validation / test split;
`source` records which data a run used and reopens exactly that."""

from nas.data import images as _images  # noqa: F401  (registers mnist5k, digits)
from nas.data import text as _text  # noqa: F401  (registers rotten-tomatoes)
from nas.data.dataset import DATASETS, SPLIT_SEED, Dataset, register_dataset, split_indices
from nas.data.folder import load_image_folder
from nas.data.loading import load_dataset, load_npz
from nas.data.source import describe_source, open_source

__all__ = ["DATASETS", "SPLIT_SEED", "Dataset", "describe_source", "load_dataset", "load_image_folder", "load_npz",
           "open_source", "register_dataset", "split_indices"]
