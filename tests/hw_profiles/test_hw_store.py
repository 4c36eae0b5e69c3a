"""MeasurementStore and Measurement: keyed once, durable, ordered, and clear about bad files."""

import sqlite3

import pytest

from hw_profiles import Measurement, MeasurementStore, StoreError

KEY = ("abcdef0123456789", "mlp", "cfg-1")


def measurement(median_ms=1.0, **overrides):
    return Measurement.from_samples([median_ms * 0.9, median_ms, median_ms * 1.1], **overrides)


def test_measurement_from_samples():
    result = Measurement.from_samples([1.0, 2.0, 3.0, 4.0, 100.0], retries=1)
    assert result.median_ms == 3.0 and result.count == 5 and result.retries == 1
    assert result.mean_ms == 22.0
    assert result.iqr_ms == 2.0
    assert result.cv == pytest.approx(1.4826 * 1.0 / 3.0)  # MAD = median(|x - 3|) = 1
    assert Measurement.from_dict(result.to_dict()) == result


@pytest.mark.parametrize("samples", [[], [1.0, float("nan")], [-1.0]])
def test_measurement_rejects_bad_samples(samples):
    with pytest.raises(ValueError):
        Measurement.from_samples(samples)


def test_put_get_and_contains(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store:
        assert store.get(*KEY) is None and KEY not in store
        stored = measurement(2.0, noisy=True, retries=2)
        assert store.put(*KEY, {"width": 16}, stored) is True
        assert store.get(*KEY) == stored
        assert KEY in store and store.has(*KEY)


def test_a_key_is_stored_once(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store:
        first, second = measurement(1.0), measurement(5.0)
        assert store.put(*KEY, {"width": 16}, first) is True
        assert store.put(*KEY, {"width": 99}, second) is False
        assert store.get(*KEY) == first
        assert store.count() == 1


def test_records_in_insertion_order_and_counts(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store:
        for config_id in ["z", "a", "m"]:
            store.put("fp", "mlp", config_id, {"id": config_id, "depth": 2}, measurement(len(config_id)))
        store.put("fp", "vit", "a", {"id": "a"}, measurement())
        store.put("other", "mlp", "a", {"id": "a"}, measurement())
        records = store.records("fp", "mlp")
        assert [config_id for config_id, _, _ in records] == ["z", "a", "m"]
        assert records[0][1] == {"id": "z", "depth": 2}
        assert isinstance(records[0][2], Measurement)
        assert (store.count(), store.count("fp"), store.count("fp", "mlp"), store.count(space="mlp")) == (5, 4, 3, 4)


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "runs" / "m.db"
    stored = measurement(3.0)
    with MeasurementStore(path) as store:
        store.put(*KEY, {"width": 16}, stored)
    with MeasurementStore(path) as store:
        assert store.get(*KEY) == stored
        assert store.records(*KEY[:2])[0][1] == {"width": 16}


def test_wal_mode(tmp_path):
    MeasurementStore(tmp_path / "m.db").close()
    with sqlite3.connect(tmp_path / "m.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_garbage_file_gives_store_error(tmp_path):
    path = tmp_path / "m.db"
    path.write_bytes(b"\x00garbage, not sqlite" * 100)
    with pytest.raises(StoreError) as error:
        MeasurementStore(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_schema_whose_text_does_not_decode_gives_store_error(tmp_path):
    """One flipped byte in the schema's SQL text (the fuzz test found it): sqlite reads the page, Python
    cannot decode the text; one line, not a UnicodeDecodeError traceback."""
    path = tmp_path / "m.db"
    with MeasurementStore(path) as store:
        store.put(*KEY, {"depth": 1}, measurement())
    data = bytearray(path.read_bytes())
    where = data.index(b"CREATE TABLE") + 2
    data[where] = 0xB1  # not UTF-8 on its own
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="not a usable SQLite database") as error:
        MeasurementStore(path)
    assert "\n" not in str(error.value)


def test_foreign_sqlite_database_gives_store_error(tmp_path):
    path = tmp_path / "study.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trials (id INTEGER)")
    with pytest.raises(StoreError, match="not a measurement store"):
        MeasurementStore(path)


def test_wrong_columns_give_store_error(tmp_path):
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE measurements (fingerprint TEXT)")
        connection.execute("PRAGMA user_version=1")
    with pytest.raises(StoreError, match="has columns"):
        MeasurementStore(path)


def test_config_must_be_json(tmp_path):
    with MeasurementStore(tmp_path / "m.db") as store, pytest.raises(StoreError, match="JSON"):
        store.put(*KEY, {"width": object()}, measurement())


def test_several_processes_share_one_store(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "shared.db"
    code = (
        "import sys\n"
        "from hw_profiles import Measurement, MeasurementStore\n"
        "with MeasurementStore(sys.argv[1]) as store:\n"
        "    for index in range(40):\n"
        "        store.put('fp', 'mlp', f'cfg-{index}', {'index': index}, Measurement.from_samples([1.0]))\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(3)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]
    with MeasurementStore(path) as store:
        assert store.count("fp", "mlp") == 40
