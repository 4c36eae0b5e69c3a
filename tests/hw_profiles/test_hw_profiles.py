"""HardwareProfile: YAML round trip, validation messages, bundled profiles, fingerprints."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hw_profiles import HardwareProfile, ProfileError, backend_names, bundled_profile_names, load_profile


def write(tmp_path: Path, text: str, name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def minimal(**overrides):
    return {"name": "test", "backend": "onnxruntime", **overrides}


@pytest.mark.parametrize("name", bundled_profile_names())
def test_every_bundled_profile_loads_and_is_named_after_its_file(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.backend in backend_names()


def test_bundled_x86_cpu_ort_matches_its_spec():
    profile = load_profile("x86-cpu-ort")
    assert (profile.backend, profile.providers, profile.threads, profile.batch_size) == (
        "onnxruntime", ("CPUExecutionProvider",), 1, 1,
    )
    assert profile.precisions == ("fp32", "int8") and profile.int8_scheme == "ort-dynamic"
    assert (profile.warmup_ms, profile.warmup_runs, profile.min_repeats, profile.min_time_ms) == (50, 10, 30, 100)
    assert (profile.protocol, profile.target_half_width, profile.max_time_ms) == ("interleaved", 0.02, 3000)
    assert profile.max_cv == 0.05 and profile.description


def test_yaml_round_trip(tmp_path):
    profile = HardwareProfile(
        name="round-trip", backend="onnxruntime", threads=2, batch_size=4, precisions=("fp32", "int8"),
        int8_scheme="ort-dynamic", warmup_ms=5, cores=(0, 1), description="a test",
    )
    path = write(tmp_path, yaml.safe_dump(profile.to_dict()))
    assert HardwareProfile.from_yaml(path) == profile
    assert load_profile(path) == profile
    assert load_profile(str(path)) == profile


def test_lists_become_tuples_and_numbers_floats():
    profile = HardwareProfile.from_dict(minimal(providers=["CPUExecutionProvider"], precisions=["fp16"], warmup_ms=3))
    assert profile.providers == ("CPUExecutionProvider",)
    assert profile.precisions == ("fp16",)
    assert isinstance(profile.warmup_ms, float)


def test_unknown_key_names_it_and_lists_allowed(tmp_path):
    path = write(tmp_path, "name: x\nbackend: onnxruntime\nthread: 2\n")
    with pytest.raises(ProfileError) as error:
        HardwareProfile.from_yaml(path)
    message = str(error.value)
    assert "'thread'" in message and "threads" in message and str(path) in message


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("threads", "abc", "positive integer"),
        ("threads", 0, "positive integer"),
        ("threads", True, "positive integer"),
        ("batch_size", 1.5, "positive integer"),
        ("backend", "tensorflow", "onnxruntime"),
        ("precisions", ["fp64"], "fp16"),
        ("precisions", [], "non-empty list"),
        ("precisions", ["fp32", "fp32"], "distinct"),
        ("providers", "CPUExecutionProvider", "list"),
        ("warmup_ms", -1, "milliseconds from 0 to 600,000"),
        ("min_time_ms", float("inf"), "milliseconds from 0 to 600,000"),
        ("max_time_ms", 1e9, "milliseconds from 0 to 600,000"),
        ("max_cv", 0, "finite number > 0"),
        ("max_cv", float("inf"), "finite number > 0"),  # was accepted: never retried, never noisy
        ("min_repeats", 10**12, "integer from 1 to 1,000,000"),  # was accepted: timed one model for days
        ("warmup_runs", 10**12, "integer from 0 to 1,000,000"),
        ("max_retries", -1, "integer from 0 to 100"),
        ("cores", [-1], "core numbers"),
        ("description", 3, "string"),
        ("name", "", "non-empty string"),
    ],
)
def test_bad_value_names_field_and_what_is_allowed(tmp_path, field, value, allowed):
    path = write(tmp_path, yaml.safe_dump(minimal(**{field: value})), name="x.yaml")
    with pytest.raises(ProfileError) as error:
        HardwareProfile.from_yaml(path)
    message = str(error.value)
    assert f"profile '{path}': field '{field}'" in message
    assert allowed in message and "\n" not in message


def test_threads_message_matches_documented_form():
    with pytest.raises(ProfileError, match=r"^profile 'x.yaml': field 'threads' must be a positive integer, got 'abc'$"):
        HardwareProfile.from_dict(minimal(threads="abc"), source="x.yaml")


def test_cores_must_cover_threads():
    with pytest.raises(ProfileError, match="field 'cores' must list at least 'threads' \\(2\\)"):
        HardwareProfile.from_dict(minimal(threads=2, cores=[0]))


def test_missing_required_field():
    with pytest.raises(ProfileError, match="field 'backend' is required"):
        HardwareProfile.from_dict({"name": "x"})


def test_direct_construction_is_validated_too():
    with pytest.raises(ProfileError, match="field 'threads'"):
        HardwareProfile(name="x", backend="onnxruntime", threads=-2)


def test_malformed_yaml_gives_file_and_line(tmp_path):
    path = write(tmp_path, "name: x\nbackend: onnxruntime\nthreads: [1, 2\nbatch_size: 1\n")
    with pytest.raises(ProfileError) as error:
        HardwareProfile.from_yaml(path)
    message = str(error.value)
    assert str(path) in message and "malformed YAML at line" in message and "\n" not in message


@pytest.mark.parametrize("text, found", [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "empty")])
def test_top_level_must_be_a_mapping(tmp_path, text, found):
    with pytest.raises(ProfileError, match=f"mapping.*{found}|{found}.*mapping"):
        HardwareProfile.from_yaml(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "nope.yaml")


def test_unknown_bundled_name_lists_the_bundled_names():
    with pytest.raises(ProfileError) as error:
        load_profile("no-such-device")
    assert "'no-such-device'" in str(error.value)
    for name in bundled_profile_names():
        assert name in str(error.value)


def test_fingerprint_is_stable_and_short():
    first, second = load_profile("x86-cpu-ort"), load_profile("x86-cpu-ort")
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 16
    int(first.fingerprint(), 16)


def test_fingerprint_changes_with_timing_fields_only():
    base = HardwareProfile(name="a", backend="onnxruntime")
    assert HardwareProfile(name="a", backend="onnxruntime", threads=2).fingerprint() != base.fingerprint()
    assert HardwareProfile(name="a", backend="onnxruntime", batch_size=8).fingerprint() != base.fingerprint()
    same = HardwareProfile(name="b", backend="onnxruntime", warmup_ms=1, min_repeats=3, description="other")
    assert same.fingerprint() == base.fingerprint()


def test_fingerprint_details_name_runtime_and_device():
    details = load_profile("x86-cpu-ort").fingerprint_details()
    assert details["profile"]["threads"] == 1
    environment = details["environment"]
    assert environment["runtime"] == "onnxruntime"
    assert environment["runtime_version"] and environment["cpu"] and environment["python"]
    assert "warmup_ms" not in details["profile"]


def test_import_loads_no_runtime_and_no_other_package():
    """hw_profiles imports nothing of ours but the generic registry (nas.registry; `nas` itself is a lazy facade)."""
    code = (
        "import sys, hw_profiles\n"
        "hw_profiles.load_profile('x86-cpu-ort')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'torch', 'search_spaces', 'predictors')\n"
        "       or m.startswith('nas.') and m != 'nas.registry']\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_cpu_name_and_flags_are_read_from_cpuinfo():
    """The fingerprint's CPU name and the int8 benchmark's instruction flags, both from /proc/cpuinfo."""
    import platform

    from hw_profiles.host import cpu_flags, cpu_model_name

    if not (Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64"):
        pytest.skip("needs an x86-64 Linux /proc/cpuinfo")
    text = Path("/proc/cpuinfo").read_text()
    assert cpu_model_name() in text and ":" not in cpu_model_name()
    assert {"fpu", "sse2"} <= cpu_flags() and not any(":" in flag or "flags" in flag for flag in cpu_flags())
