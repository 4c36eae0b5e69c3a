"""A script of `scripts/` imported as a module, for tests of its functions (scripts are not a package)."""

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(file_name: str, module_name: str):
    """`scripts/<file_name>` executed as a fresh module named `module_name`."""
    spec = importlib.util.spec_from_file_location(module_name, SCRIPTS / file_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # a dataclass defined in the script looks its module up there
    spec.loader.exec_module(module)
    return module
