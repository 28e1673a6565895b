"""Experiments: job ids, the JSONL store, sweeps on any executor, kill-and-resume, the presets.

"The same results" is defined in ``tinybgn.experiments.jobs``: records sorted by id, equal after
dropping the timing/worker fields (``comparable``).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tinybgn.cli import main
from tinybgn.experiments import (
    JobSpec,
    JsonlStore,
    SweepError,
    comparable,
    derive_seed,
    get_preset,
    load_comparable,
    run_job,
    run_sweep,
)
from tinybgn.experiments import table1 as t1

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mnist(shared_data) -> Path:
    path = shared_data / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test files are not in {path}")
    return path


def tiny_spec(run=0, **kw) -> JobSpec:
    fields = dict(
        study="test", activation="tanh", depth=3, batchnorm=False, bgn=False, lr=1e-3,
        seed=derive_seed("test", run), run=run, epochs=1, batch_size=32, dataset="mnist",
        data_split="carve", n_train=200, n_test=100,
    )  # fmt: skip
    fields.update(kw)
    return JobSpec(**fields)


# -- ids, seeds, store ----------------------------------------------------------------------------
def test_job_id_is_a_deterministic_hash_of_the_whole_spec():
    a, b = tiny_spec(), tiny_spec()
    assert a.id == b.id and len(a.id) == 16
    assert tiny_spec(lr=2e-3).id != a.id and tiny_spec(bgn=True).id != a.id
    assert JobSpec.from_dict(json.loads(json.dumps(a.to_dict()))).id == a.id


def test_derived_seeds_are_stable_across_runs_and_machines():
    # The seed is the first 8 hex digits of sha256 of the parts as compact JSON: no hash().
    text = json.dumps(["table1", "relu", 90, 0], separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert derive_seed("table1", "relu", 90, 0) == int(digest[:8], 16)
    assert derive_seed("table1", "relu", 90, 0) != derive_seed("table1", "relu", 90, 1)


def test_comparable_drops_only_timing_and_worker_fields():
    record = {
        "id": "x", "accuracy": 0.5, "train_seconds": 3.0, "seconds_per_epoch": 3.0,
        "wall_seconds": 4.0, "worker": {"pid": 1}, "finished_at": "now",
        "history": {"epochs": [{"epoch": 1, "seconds": 3.0, "test_accuracy": 0.5}],
                    "diverged": None},
    }  # fmt: skip
    assert comparable(record) == {
        "id": "x", "accuracy": 0.5,
        "history": {"epochs": [{"epoch": 1, "test_accuracy": 0.5}], "diverged": None},
    }  # fmt: skip


# -- protocol logic -------------------------------------------------------------------------------
def test_presets_scale_the_paper_protocol():
    paper = get_preset("paper")
    assert len(paper.lr_grid) == 19 and paper.lr_grid[0] == 1e-4 and paper.lr_grid[-1] == 1e-2
    assert paper.search_runs + paper.final_runs == 15 and paper.epochs == 20
    assert len(t1.configs(paper)) == 48
    quick = get_preset("quick")
    assert len(t1.configs(quick)) == 48 and 1e-7 in quick.eps_values
    with pytest.raises(ValueError, match="figure_depth"):
        get_preset("smoke").replace(figure_depth=7).validate()
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


def test_best_rate_counts_diverged_runs_as_zero_and_ties_go_to_the_smaller_rate():
    preset = get_preset("smoke").replace(
        activations=("relu",), depths=(3,), lr_count=3, search_runs=2, figure_depth=3,
        selection="paper",
    )  # fmt: skip
    data = {"dataset": "mnist"}
    accuracy = {  # lr -> accuracies of the two search runs (None = diverged)
        preset.lr_grid[0]: [0.5, 0.5],
        preset.lr_grid[1]: [0.9, None],  # mean 0.45 with the diverged run as 0
        preset.lr_grid[2]: [0.5, 0.5],  # tie with the smallest rate
    }
    store = {}
    for spec in t1.search_specs(preset, data):
        acc = accuracy[spec.lr][spec.run]
        store[spec.id] = {"accuracy": acc, "diverged": None if acc is not None else {}}
    best = t1.best_lrs(preset, data, store)
    assert set(best.values()) == {preset.lr_grid[0]}


def test_validation_selection_scores_the_search_on_validation_and_reports_final_runs_only():
    preset = get_preset("smoke").replace(
        activations=("relu",), depths=(3,), lr_count=2, search_runs=1, final_runs=3,
        figure_depth=3,
    )  # fmt: skip
    assert preset.selection == "validation" and preset.n_val > 0
    data = {"dataset": "mnist", "n_val": preset.n_val}
    lo, hi = preset.lr_grid
    # the high rate looks better on test, the low one on validation: validation decides
    score = {lo: {"accuracy": 0.5, "val_accuracy": 0.9}, hi: {"accuracy": 0.9, "val_accuracy": 0.4}}
    store = {s.id: {**score[s.lr], "diverged": None} for s in t1.search_specs(preset, data)}
    best = t1.best_lrs(preset, data, store)
    assert set(best.values()) == {lo}
    assert list(t1.reported_runs(preset)) == [1, 2, 3]  # the choosing run 0 is not counted
    assert list(t1.reported_runs(preset.replace(selection="paper"))) == [0, 1, 2, 3]
    assert all(s.selection == "validation" for s in t1.final_specs(preset, data, best))


def test_seeds_are_paired_across_rates_and_variants():
    preset = get_preset("smoke")
    specs = t1.search_specs(preset, {"dataset": "mnist"})
    by_key = {}
    for s in specs:
        by_key.setdefault((s.activation, s.depth, s.run), set()).add(s.seed)
    assert all(len(seeds) == 1 for seeds in by_key.values())


# -- sweeps --------------------------------------------------------------------------------
class InlineExecutor(Executor):
    """The smallest possible executor: runs each call at submit time, in this process."""

    def __init__(self):
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001
            future.set_exception(err)
        return future


def test_a_sweep_runs_on_any_executor_and_skips_finished_jobs(mnist, tmp_path):
    specs = [tiny_spec(run=r, bgn=bool(r % 2)) for r in range(4)]
    inline = InlineExecutor()
    records = run_sweep(specs, JsonlStore(tmp_path / "a.jsonl"), data_dir=mnist, executor=inline)
    assert inline.calls == 4
    assert [r["id"] for r in records] == [s.id for s in specs]
    assert all(0 <= r["accuracy"] <= 1 and r["diverged"] is None for r in records)

    with ThreadPoolExecutor(2) as pool:
        again = run_sweep(specs, JsonlStore(tmp_path / "b.jsonl"), data_dir=mnist, executor=pool)
    assert [comparable(r) for r in again] == [comparable(r) for r in records]

    rerun = InlineExecutor()
    run_sweep(specs, JsonlStore(tmp_path / "a.jsonl"), data_dir=mnist, executor=rerun)
    assert rerun.calls == 0  # everything was already in the store


def test_a_record_names_what_its_bits_depend_on(mnist):
    # same seed, bit-identical run: only with the same commit, BLAS threads and kernel, NumPy
    from tinybgn import blas

    worker = run_job(tiny_spec().to_dict(), mnist)["worker"]
    assert worker["numpy"] == np.__version__ and worker["cpu"]
    assert worker["blas_core"] == blas.info()["core"]
    assert worker["blas_threads"] == blas.num_threads()
    assert {"host", "pid", "blas_threads_env", "tinybgn_commit"} <= set(worker)


def test_a_diverging_job_is_recorded_not_raised(mnist, tmp_path):
    bad = tiny_spec(activation="relu", depth=12, lr=1e6)
    good = tiny_spec(run=1)
    records = run_sweep([bad, good], JsonlStore(tmp_path / "r.jsonl"), data_dir=mnist,
                        executor=InlineExecutor())  # fmt: skip
    diverged = records[0]
    assert diverged["accuracy"] is None and diverged["diverged"]["epoch"] == 1
    assert diverged["diverged"]["stage"] in ("parameters", "forward")
    assert isinstance(diverged["diverged"]["layer_index"], int)
    assert records[1]["diverged"] is None


def _job_failing_for_run_1(spec_dict, data_dir):
    if spec_dict["run"] == 1:
        raise RuntimeError("a bug in run 1")
    return run_job(spec_dict, data_dir)


def test_a_failing_job_is_reported_after_the_others_are_stored(mnist, tmp_path):
    specs = [tiny_spec(run=r) for r in range(3)]
    store = JsonlStore(tmp_path / "r.jsonl")
    with pytest.raises(SweepError, match="a bug in run 1"):
        run_sweep(specs, store, data_dir=mnist, executor=InlineExecutor(),
                  job=_job_failing_for_run_1)  # fmt: skip
    assert set(store.records) == {specs[0].id, specs[2].id}


SWEEP_SCRIPT = """
import sys
from tinybgn.experiments import JobSpec, JsonlStore, derive_seed, run_sweep

if __name__ == "__main__":
    specs = [
        JobSpec(study="kill", activation="tanh", depth=20, batchnorm=bool(r % 3 == 0),
                bgn=bool(r % 2), lr=1e-3, seed=derive_seed("kill", r), run=r, epochs=2,
                batch_size=32, dataset="mnist", data_split="carve", n_train=2000, n_test=200)
        for r in range(12)
    ]
    run_sweep(specs, JsonlStore(sys.argv[1]), data_dir=sys.argv[2], workers=2)
"""


def _sweep(script: Path, out: Path, mnist: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(mnist)],
        env=env,
        start_new_session=True,  # its own process group: the kill reaches the workers too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_and_resume_gives_the_same_jsonl_as_an_uninterrupted_sweep(mnist, tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(SWEEP_SCRIPT))
    killed, straight = tmp_path / "killed.jsonl", tmp_path / "straight.jsonl"

    proc = _sweep(script, killed, mnist)
    deadline = time.monotonic() + 120
    while _lines(killed) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up: workers die mid-run
    proc.wait()
    n_killed = _lines(killed)
    assert 3 <= n_killed < 12, f"the kill should land mid-sweep, {n_killed} runs were stored"

    resumed = _sweep(script, killed, mnist)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    uninterrupted = _sweep(script, straight, mnist)
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read().decode()

    a, b = load_comparable(killed), load_comparable(straight)
    assert len(a) == 12 and a == b


# -- the whole pipeline ----------------------------------------------------------------------
def test_smoke_preset_end_to_end_and_resumed_rerun(mnist, tmp_path, capsys):
    out = tmp_path / "smoke"
    tic = time.monotonic()
    args = ["reproduce", "--preset", "smoke", "--data-dir", str(mnist), "--out", str(out)]
    assert main(args) == 0
    assert time.monotonic() - tic < 120
    err = capsys.readouterr().err
    assert "WARNING" in err and "carved from t10k" in err  # the carved split is visible
    assert "ETA" in err  # progress lines

    for name in ("figure1", "figure2", "figure3", "eps"):  # written by tinybgn report's code
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert (out / f"{name}.csv").exists()
    table = (out / "table1.md").read_text()
    assert "| tanh | True | True |" in table and "Majority-class baseline" in table
    assert "× plain" in (out / "timing.md").read_text()
    assert "1e-07" in (out / "eps.md").read_text()
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["epochs"] == 1 and protocol["selection"] == "validation"
    runner = protocol["runner"]  # what reproduce wrote before the report was rebuilt
    assert runner["data"]["split"].startswith("carved from t10k")
    assert runner["data"]["carved_split_warning"]
    assert runner["execution"]["workers"] == 2
    assert runner["versions"]["run_code_versions"]  # which engine code made the runs
    assert "carved from t10k" in (out / "protocol.md").read_text()
    assert len(json.loads((out / "table1.json").read_text())["cells"]) == 24
    # Claim (i) is measured by the probe runs themselves (eq. 9 holds: cosines of 1)
    claim_i = next(c for c in json.loads((out / "claims.json").read_text()) if c["id"] == "i")
    assert claim_i["verdict"] == "reproduced", claim_i["value"]
    assert claim_i["numbers"]["layers"] > 0
    n_runs = _lines(out / "runs.jsonl")
    assert n_runs == runner["execution"]["runs_planned"]

    # Rerunning the same command trains nothing and writes the same numbers.
    assert main([*args, "--quiet"]) == 0
    assert _lines(out / "runs.jsonl") == n_runs
    assert (out / "table1.md").read_text() == table


def test_reproduce_works_on_fashion_mnist(shared_data, tmp_path):
    fashion = shared_data / "fashion-mnist"
    if not fashion.is_dir():
        pytest.skip(f"no Fashion-MNIST at {fashion}")
    out = tmp_path / "fashion"
    args = ["reproduce", "--preset", "smoke", "--dataset", "fashion-mnist", "--quiet"]
    args += ["--data-dir", str(fashion), "--out", str(out), "--activations", "tanh"]
    args += ["--depths", "3", "--figure-depth", "3", "--eps-activations", "relu"]
    args += ["--eps-values", "1e-7", "--eps-depth", "3", "--lr-count", "1"]
    assert main(args) == 0
    protocol = json.loads((out / "protocol.json").read_text())["runner"]
    assert protocol["data"]["name"] == "fashion-mnist" and protocol["data"]["split"] == "standard"


def test_bad_reproduce_options_exit_with_code_2(capsys):
    assert main(["reproduce", "--preset", "smoke", "--figure-depth", "5"]) == 2
    assert "figure_depth" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "--preset", "nope"])
