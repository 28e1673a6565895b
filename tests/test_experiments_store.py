"""The run store and the runner under damage: bad lines, read-only reads, the lock, kill -9,
bad command lines (issue 10). Each test failed on the code before its fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinybgn.cli import main
from tinybgn.experiments import JobSpec, JsonlStore, derive_seed, load_comparable

REPO = Path(__file__).resolve().parents[1]


def record(run: int = 0, **changes) -> dict:
    spec = JobSpec(study="store", activation="tanh", depth=3, batchnorm=False, bgn=False,
                   lr=1e-3, seed=derive_seed("store", run), run=run, epochs=1, batch_size=32,
                   **changes)  # fmt: skip
    return {"id": spec.id, "spec": spec.to_dict(), "accuracy": 0.5, "diverged": None,
            "history": {"epochs": [], "diverged": None}}  # fmt: skip


def line(r: dict) -> bytes:
    return (json.dumps(r, sort_keys=True) + "\n").encode()


def test_a_non_utf8_byte_is_quarantined_not_fatal(tmp_path):
    path = tmp_path / "runs.jsonl"
    good, later = record(0), record(1)
    path.write_bytes(line(good) + b'{"id": "x\xff"}\n')
    store = JsonlStore(path)  # before the fix: UnicodeDecodeError, on every later run
    assert set(store.records) == {good["id"]}
    store.append(later)
    store.close()
    assert set(JsonlStore(path).records) == {good["id"], later["id"]}
    assert (tmp_path / "runs.jsonl.quarantine").read_bytes() == b'{"id": "x\xff"}\n'


def test_a_record_missing_fields_is_not_reused(tmp_path):
    path = tmp_path / "runs.jsonl"
    incomplete = {"id": record(0)["id"], "spec": record(0)["spec"]}  # no accuracy, history ...
    path.write_bytes(line(incomplete) + line(record(1)))
    store = JsonlStore(path)  # before: reused, then KeyError 'accuracy' on every rerun
    assert record(0)["id"] not in store and record(1)["id"] in store
    quarantined = (tmp_path / "runs.jsonl.quarantine").read_bytes()
    assert json.loads(quarantined) == incomplete  # kept, byte for byte, beside the store


def test_reading_never_changes_the_file(tmp_path):
    path = tmp_path / "runs.jsonl"
    data = line(record(0)) + line(record(1)).rstrip(b"\n")  # complete, only the newline missing
    path.write_bytes(data)
    assert [r["id"] for r in load_comparable(path)] == sorted([record(0)["id"], record(1)["id"]])
    assert path.read_bytes() == data  # before: the last record was cut off by a read
    store = JsonlStore(path)  # the writer keeps it too, and starts the next record on a new line
    store.append(record(2))
    store.close()
    assert path.read_bytes() == data + b"\n" + line(record(2))


def test_a_torn_last_line_is_quarantined_and_the_rest_kept(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_bytes(line(record(0)) + b'{"id": "b", "x"')  # killed in the middle of a write
    with JsonlStore(path) as store:
        assert set(store.records) == {record(0)["id"]}
        store.append(record(1))
    assert path.read_bytes() == line(record(0)) + line(record(1))
    assert (tmp_path / "runs.jsonl.quarantine").read_bytes() == b'{"id": "b", "x"\n'


def test_a_second_writer_is_refused_with_a_clear_message(tmp_path, capsys):
    path = tmp_path / "out" / "runs.jsonl"
    with JsonlStore(path):
        with pytest.raises(Exception, match=rf"being written by pid {os.getpid()}"):
            JsonlStore(path)  # before: both computed every run
        args = ["reproduce", "--preset", "smoke", "--out", str(path.parent), "--quiet"]
        assert main(args) == 2
        assert "being written by" in capsys.readouterr().err
    JsonlStore(path).close()  # released: the next writer gets it


@pytest.mark.parametrize("out", ["file", "/proc/x"])
def test_reproduce_refuses_an_unusable_out_before_training(tmp_path, capsys, out):
    if out == "file":
        out = tmp_path / "a-file"
        out.write_text("not a folder")
    assert main(["reproduce", "--preset", "smoke", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinybgn reproduce: error:") and "Traceback" not in err


def test_no_eps_study_with_zero_eps_seeds(mnist_dir, tmp_path):
    out = tmp_path / "smoke"
    args = ["reproduce", "--preset", "smoke", "--eps-seeds", "0", "--depths", "3",
            "--figure-depth", "3", "--activations", "tanh", "--lr-count", "1",
            "--data-dir", str(mnist_dir), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0  # before: KeyError after all the training
    assert (out / "table1.md").exists() and not (out / "eps.md").exists()


@pytest.fixture
def mnist_dir(shared_data) -> Path:
    return shared_data / "mnist"


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_exit_when_reproduce_is_killed(mnist_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = str(tmp_path / "o")
    cmd = [sys.executable, "-m", "tinybgn", "reproduce", "--preset", "smoke", "--quiet",
           "--epochs", "50", "--data-dir", str(mnist_dir), "--out", out]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        children: set[int] = set()
        while time.monotonic() < deadline and len(children) < 2:  # the 2 workers
            time.sleep(0.2)
            children = _descendants(proc.pid)
        assert len(children) >= 2, f"the workers did not start: {children}"
        time.sleep(1.0)  # the workers are training now
        children |= _descendants(proc.pid)  # and multiprocessing's resource tracker
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as `kill -9 <pid>` does
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(map(_alive, children)):
            time.sleep(0.2)
        left = [p for p in children if _alive(p)]
        assert not left, f"processes left running after kill -9 of their parent: {left}"
    finally:
        for p in _descendants(proc.pid) | {proc.pid}:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def test_smoke_falls_back_to_the_embedded_sample_without_data(tmp_path, monkeypatch, capsys):
    import inspect

    from tinybgn.data import load_dataset

    if "fallback" not in inspect.signature(load_dataset).parameters:
        pytest.skip("load_dataset has no fallback= yet (the data helper's embedded sample)")
    monkeypatch.delenv("TINYBGN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = tmp_path / "smoke"
    args = ["reproduce", "--preset", "smoke", "--no-download", "--depths", "3",
            "--figure-depth", "3", "--activations", "tanh", "--lr-count", "1",
            "--eps-seeds", "0", "--data-dir", str(tmp_path / "none"), "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["data"]["source"].startswith("embedded sample of")
    assert protocol["runner"]["data"]["source"].startswith("embedded sample of")
    assert "embedded sample of" in (out / "protocol.md").read_text()
