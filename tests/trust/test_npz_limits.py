"""Issue #24: an `.npz` is bounded before numpy reads it: a zip bomb (a member that inflates past the limit)
and a header that promises more than its member holds are refused in one line naming the file and the limit."""

import io
import zipfile

import numpy as np
import pytest

import nas.data.npz_limits as npz_limits
from nas.cli import main
from nas.data import load_dataset
from nas.errors import HwnasError


def bomb(path, megabytes=8):
    """`megabytes` MiB of zero pixels (3 classes): a few kB on disk."""
    count = megabytes * 1024 * 1024 // (4 * 32 * 32)
    np.savez_compressed(path, x=np.zeros((count, 32, 32), np.float32), y=np.arange(count) % 3)
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    """It loaded whole before: the limit is lowered to 1 MiB so the test needs only an 8 MiB bomb."""
    path = bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(npz_limits, "MAXIMUM_NPZ_BYTES", 1024 * 1024)
    with pytest.raises(HwnasError) as caught:
        load_dataset(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "unpacks to 8,4" in message and "more than the limit of 1,048,576 bytes" in message


def test_the_limit_is_four_gib_and_a_real_data_set_is_under_it(tmp_path):
    assert npz_limits.MAXIMUM_NPZ_BYTES == 4 * 1024 ** 3
    path = bomb(tmp_path / "ok.npz", megabytes=1)
    assert load_dataset(str(path)).num_classes == 3


def npz_with_member(path, name, header_shape, dtype="<f4", data=b"\x00" * 64):
    """An .npz whose member `name`.npy has a header claiming `header_shape` and holds `data` after it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": header_shape})
    buffer = io.BytesIO()
    np.save(buffer, np.arange(30) % 3)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}.npy", np.lib.format.MAGIC_PREFIX + b"\x01\x00" + header.getvalue()[8:] + data)
        archive.writestr("y.npy", buffer.getvalue())
    return path


def test_a_header_promising_more_than_its_member_holds_is_refused_unallocated(tmp_path):
    """numpy allocates the header's shape before it reads: (2^28,) float32 is 1 GiB for 64 bytes of data."""
    path = npz_with_member(tmp_path / "forged.npz", "x", (2 ** 28,))
    with pytest.raises(HwnasError, match=r"is corrupt: array 'x' claims shape \(268435456,\) \(1,073,741,824 bytes\)"):
        load_dataset(str(path))


def test_an_array_of_python_objects_is_refused(tmp_path):
    path = npz_with_member(tmp_path / "objects.npz", "x", (2,), dtype="|O")
    with pytest.raises(HwnasError, match="array 'x' holds Python objects, which hwnas never loads"):
        load_dataset(str(path))


def test_the_cli_refuses_a_bomb_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(npz_limits, "MAXIMUM_NPZ_BYTES", 1024 * 1024)
    run = tmp_path / "run"
    code = main(["train", "--run", str(run), "--dataset", str(bomb(tmp_path / "bomb.npz")), "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "more than the limit of 1,048,576 bytes" in error
    assert not (run / "supernet.pt").exists()


def test_no_np_load_of_a_user_file_allows_pickle():
    """Every np.load in the package passes allow_pickle=False (numpy's default, said out loud)."""
    from pathlib import Path

    root = Path(npz_limits.__file__).resolve().parents[2]
    for package in ("nas", "search_spaces", "predictors", "hw_profiles"):
        for source in (root / package).rglob("*.py"):
            for line in source.read_text().splitlines():
                if "np.load(" in line or "numpy.load(" in line:
                    assert "allow_pickle=False" in line, (source, line)
