"""Issue #24 (7): run.json updates from two processes keep every key, and a second `train` on a run that
another process is training refuses in one line naming the holder's pid."""

import json
import subprocess
import sys
import textwrap

from nas.cli import main
from nas.run_folder import RunFolder

UPDATES = 60


def test_concurrent_run_json_updates_lose_no_key(tmp_path):
    writer = textwrap.dedent(f"""
        import sys
        from nas.run_folder import RunFolder
        run = RunFolder(sys.argv[1])
        for index in range({UPDATES}):
            run.update_settings(**{{f"{{sys.argv[2]}}{{index}}": index}})
    """)
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(tmp_path), name]) for name in ("a", "b")]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    settings = json.loads((tmp_path / "run.json").read_text())
    assert len(settings) == 2 * UPDATES
    assert not [path.name for path in tmp_path.iterdir() if ".tmp-" in path.name]


def test_a_second_train_on_a_locked_run_names_the_holder(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom nas.run_folder import RunFolder\n"
         "with RunFolder(sys.argv[1]).lock('train', exclusive=True):\n print('held', flush=True)\n time.sleep(60)",
         str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["train", "--run", str(tmp_path / "run"), "--dataset", "digits", "--epochs", "1", "--quiet"])
        error = capsys.readouterr().err
        assert code == 2 and error.count("\n") == 1, error
        assert f"`hwnas train` (pid {holder.pid})" in error
        assert not (tmp_path / "run" / "supernet.pt").exists()
    finally:
        holder.kill()
        holder.wait()


def test_readers_share_the_run_and_train_waits_for_none_of_them(tmp_path):
    run = RunFolder(tmp_path)
    with run.lock("search", exclusive=False), run.lock("profile", exclusive=False):
        pass
    with run.lock("train", exclusive=True):
        pass
