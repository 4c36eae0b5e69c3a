"""A study in storage: a search killed with SIGKILL resumes without losing or repeating a network, and
two processes share one study on a real PostgreSQL server (started here; skipped where it cannot)."""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks"
ACCURACY, LATENCY = BENCHMARKS / "nb201_accuracy.csv", BENCHMARKS / "nb201_latency_ms.csv"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not ACCURACY.exists(), reason=f"benchmark tables not found at {BENCHMARKS}")]
TRIALS = 16


def bench_command(storage, *extra):
    return [sys.executable, "-m", "nas.cli", "bench", "search", "--space", "nb201", "--accuracy-table", str(ACCURACY),
            "--accuracy-column", "cifar10_test_acc", "--latency-table", str(LATENCY), "--latency-column", "gold_6226",
            "--sampler", "guided", "--trials", str(TRIALS), "--seed", "2", "--quiet", "--storage", storage, *extra]


def evaluated(storage):
    import optuna

    study = optuna.load_study(study_name="hwnas", storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return study, [t.user_attrs["config_id"] for t in sorted(complete, key=lambda t: t.number)]


def completed_count(database):
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_search_killed_halfway_resumes_to_the_same_trials(tmp_path):
    from optuna.trial import TrialState

    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    assert subprocess.run(bench_command(whole), capture_output=True).returncode == 0
    killed_db = tmp_path / "killed.db"
    process = subprocess.Popen(bench_command(f"sqlite:///{killed_db}"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while completed_count(killed_db) < TRIALS // 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    halfway = completed_count(killed_db)
    assert 0 < halfway < TRIALS, "the search was not killed halfway"
    resumed = subprocess.run(bench_command(f"sqlite:///{killed_db}", "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    _, reference = evaluated(whole)
    study, after = evaluated(f"sqlite:///{killed_db}")
    assert len(after) == len(reference) == TRIALS  # the same number of completed trials
    assert len(set(after)) == TRIALS  # no network evaluated twice
    assert after == reference  # and, the sampler being deterministic, the very same networks in order
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]  # a trial left running was failed
    for failed in [t for t in study.trials if t.state == TrialState.FAIL]:
        # stamped by the killed process on this host, or killed between ask and stamp (failed after the grace)
        worker = failed.user_attrs.get("worker")
        assert worker is None or worker.get("host") == socket.gethostname(), worker


def _postgres_binaries():
    found = shutil.which("initdb") and shutil.which("pg_ctl")
    if found:
        return Path(shutil.which("initdb")).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


@pytest.fixture
def postgres(tmp_path):
    """A PostgreSQL server on a Unix socket in tmp_path, run as an unprivileged user; its URL."""
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed (pip install 'hwnas[postgres]')")
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="hwnas-pg-"))  # not under tmp_path: its parents are private to us
    prefix = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start postgres as another user")
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", 54000 + os.getpid() % 1000

    def run(*command):
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)

    initialised = run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "hwnas")
    if initialised.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {initialised.stderr.strip().splitlines()[-1:]}")
    started = run(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                  f"-p {port} -k {folder} -c listen_addresses=''", "start")
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"postgres did not start: {started.stderr.strip()[-300:]}")
    try:
        created = run(str(binaries / "createdb"), "-h", str(folder), "-p", str(port), "-U", "hwnas", "studies")
        assert created.returncode == 0, created.stderr
        yield f"postgresql://hwnas@/studies?host={folder}&port={port}"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_share_one_study_on_postgresql(postgres):
    from nas.search.driver import storage_url

    workers = [subprocess.Popen(bench_command(postgres, "--resume"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in outputs]
    study, networks = evaluated(storage_url(postgres))
    # the budget counts the evaluations of both processes together; one may finish an evaluation the other
    # did not see start before the count was reached
    assert TRIALS <= len(set(networks)) <= TRIALS + 1
    workers_seen = {t.user_attrs["worker"]["pid"] for t in study.trials if "worker" in t.user_attrs}
    assert len(workers_seen) == 2  # both did some of the work
    # a network two processes evaluated at once counts once: the later trial is marked a repeat
    counted = [t.user_attrs["config_id"] for t in study.trials if t.values and not t.user_attrs.get("repeat")]
    assert len(counted) - len(set(counted)) <= 1
