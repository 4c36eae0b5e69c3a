"""hw_profiles: *where* a model runs — hardware profiles, timing backends, the worker pool, the measurement store.

Importing this package imports no runtime (onnxruntime and friends load inside their backends).
"""

from hw_profiles.backends import Backend, backend_names, create_backend, register_backend
from hw_profiles.errors import ProfileError, StoreError
from hw_profiles.measurement import Measurement
from hw_profiles.model_input import InputSpec
from hw_profiles.profile import HardwareProfile, bundled_profile_names, load_profile
from hw_profiles.store import MeasurementStore
from hw_profiles.store_csv import export_csv, import_csv
from hw_profiles.timing_task import TimingResult, TimingTask
from hw_profiles.pools import create_pool
from hw_profiles.worker_pool import WorkerPool

__all__ = [
    "Backend",
    "HardwareProfile",
    "InputSpec",
    "Measurement",
    "MeasurementStore",
    "ProfileError",
    "StoreError",
    "TimingResult",
    "TimingTask",
    "WorkerPool",
    "backend_names",
    "bundled_profile_names",
    "create_backend",
    "create_pool",
    "export_csv",
    "import_csv",
    "load_profile",
    "register_backend",
]
