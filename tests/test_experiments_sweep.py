"""Runs described by data: spec ids, TOML grids and ``tinybgn sweep`` (issue 12 items 1-2),
validation splits (issue 11 item 1)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from tinybgn.cli import main
from tinybgn.experiments import JobSpec, SpecError, get_preset, load_grid, read_records
from tinybgn.experiments import sweep as sw
from tinybgn.experiments import table1 as t1

REPO = Path(__file__).resolve().parents[1]
QUICK_STORE = REPO / "docs" / "results" / "quick-rerun" / "runs.jsonl.gz"


def test_every_committed_record_keeps_its_id():
    # read_records rejects a record whose id is not the id of its spec (as rebuilt now)
    records, bad = read_records(QUICK_STORE)
    assert len(records) == 388 and bad == []
    with gzip.open(QUICK_STORE, "rt") as f:
        spec = JobSpec.from_dict(json.loads(f.readline())["spec"])
    assert spec.builder == "mlp" and spec.optimizer == "adam" and spec.selection == "paper"


def test_the_quick_preset_plans_the_committed_runs():
    records, _ = read_records(QUICK_STORE)
    one = next(iter(records.values()))["spec"]
    data = {k: one[k] for k in ("dataset", "data_split", "n_train", "n_test", "data_seed",
                                "data_fingerprint")}  # fmt: skip
    planned = {s.id for s in t1.search_specs(get_preset("quick"), data)}
    assert planned <= set(records)  # the committed search runs would be reused, not recomputed


def test_a_preset_file_is_a_sweep_grid_with_the_same_runs():
    preset = get_preset("standard")
    grid = load_grid("standard")  # shipped in the package
    data = {"dataset": "mnist", "data_split": "carve", "n_val": 1000, "data_fingerprint": "f"}
    by_sweep = [s.id for s in sw.search_specs(grid, lambda v: data)]
    assert sorted(by_sweep) == sorted(s.id for s in t1.search_specs(preset, data))
    assert len(grid.variants()) == 48 and preset.final_runs >= 10 and preset.epochs == 20


def test_new_keys_change_the_id_only_when_set():
    base = dict(study="s", activation="relu", depth=3, batchnorm=False, bgn=True, lr=1e-3,
                seed=1, run=0, epochs=1, batch_size=32)  # fmt: skip
    a = JobSpec(**base)
    assert JobSpec(**base, optimizer="adam", bgn_every=1).id == a.id
    ids = {a.id, JobSpec(**base, bgn_kappa=1).id, JobSpec(**base, optimizer="sgd").id,
           JobSpec(**base, grad_method="clip").id, JobSpec(**base, n_val=10).id}  # fmt: skip
    assert len(ids) == 5
    assert JobSpec(**{**base, "lr": 1}).id == JobSpec(**{**base, "lr": 1.0}).id  # TOML ints
    with pytest.raises(SpecError, match="optimizer"):
        JobSpec(**base, optimizer="adagrad")
    with pytest.raises(SpecError, match="frozen_bgn"):
        JobSpec(**{**base, "bgn": False}, grad_method="frozen_bgn")


GRID = """
name = "tiny"
dataset = "mnist"
n_train = 200
n_val = 100
n_test = 100
epochs = 1
batch_size = 32
depth = 3
width = 16
activation = "tanh"
bgn = true
bgn_kappa = [1.0, 4.0]
optimizer = ["adam", "sgd"]
seeds = 1
{third}
"""


def _sweep(tmp_path, capsys, third: str, mnist: Path) -> tuple[int, str, Path]:
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(third=third))
    out = tmp_path / "out"
    code = main(["sweep", str(grid), "--out", str(out), "--data-dir", str(mnist),
                 "--no-download", "--workers", "2"])  # fmt: skip
    return code, capsys.readouterr().err, out


def _check_twelve(tmp_path, capsys, third, mnist, varying):
    code, err, out = _sweep(tmp_path, capsys, third, mnist)
    assert code == 0, err
    records, bad = read_records(out / "runs.jsonl")
    assert len(records) == 12 and not bad
    assert all(r["val_accuracy"] is not None for r in records.values())  # validation split
    assert all(f"{k}=" in err for k in varying)  # progress lines name the varying keys
    cells = json.loads((out / "table1.json").read_text())["cells"]  # the report: a row each
    assert len(cells) == 12 and len({tuple(c[k] for k in varying) for c in cells}) == 12
    lines = (out / "runs.jsonl").read_bytes()
    code, err, _ = _sweep(tmp_path, capsys, third, mnist)
    assert code == 0 and "] " not in err  # no progress line: nothing was trained
    assert (out / "runs.jsonl").read_bytes() == lines  # all 12 reused


def test_sweep_of_kappa_optimizer_and_lr_runs_12_and_reuses_them(shared_data, tmp_path, capsys):
    third = "lr = [1e-3, 3e-3, 1e-2]"
    _check_twelve(tmp_path, capsys, third, shared_data / "mnist", ["bgn_kappa", "optimizer", "lr"])


@pytest.mark.skipif(
    importlib.util.find_spec("tinybgn.grad_methods") is None,
    reason="tinybgn.grad_methods (the train helper's gradient methods) is not merged yet",
)
def test_sweep_of_kappa_optimizer_and_grad_method_runs_12(shared_data, tmp_path, capsys):
    third = 'lr = 1e-3\ngrad_method = ["none", "block_normalized", "clip"]'
    varying = ["bgn_kappa", "optimizer", "grad_method"]
    _check_twelve(tmp_path, capsys, third, shared_data / "mnist", varying)


def test_sweep_lr_search_and_bad_grids(shared_data, tmp_path, capsys):
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(third="[lr_search]\nlrs = [1e-3, 1e-2]\nfinal_runs = 1\n"))
    out = tmp_path / "o"
    args = ["sweep", str(grid), "--out", str(out), "--data-dir", str(shared_data / "mnist"),
            "--no-download", "--quiet"]  # fmt: skip
    assert main(args) == 0
    records, _ = read_records(out / "runs.jsonl")
    assert len(records) == 4 * (2 + 1)  # 4 variants x (2 search rates + 1 final run)
    assert len(json.loads((out / "table1.json").read_text())["cells"]) == 4
    # A dry run over a store with runs also says at what pace they really ran ...
    capsys.readouterr()
    assert main([*args[:-1], "--dry-run"]) == 0
    finished = sum(r["diverged"] is None for r in records.values())
    assert f"the {finished} finished runs already stored took " in capsys.readouterr().err
    # ... as the median of wall time / projection: 3x slower runs give 3.00.
    ds = sw.plan_data("mnist", 200, 100, 100, shared_data / "mnist", download=False)[0]
    slow = {}
    for i, r in records.items():
        projected = sw._cost(JobSpec.from_dict(r["spec"]), ds)
        slow[i] = {**r, "wall_seconds": 3 * projected}
    assert sw.observed_pace(slow, [ds]) == (finished, pytest.approx(3.0))
    assert sw.observed_pace(slow, []) == (0, None)  # runs on other data are not compared
    # A store that resumed on another machine: the runs of this CPU give the pace to come.
    here = sw.cpu_model()
    mixed = {}
    for k, (i, r) in enumerate(slow.items()):
        cpu = here if k % 2 else "another CPU"
        wall = r["wall_seconds"] / 3 * (2 if cpu == here else 5)
        mixed[i] = {**r, "wall_seconds": wall, "worker": {**r["worker"], "cpu": cpu}}
    n_here = sum(1 for r in mixed.values() if r["worker"]["cpu"] == here and r["diverged"] is None)
    assert sw.observed_pace(mixed, [ds], cpu=here) == (n_here, pytest.approx(2.0))
    note = sw.pace_note(mixed, [ds], 100.0, remaining=(7, 60.0))
    assert f"({n_here} of them ran on this CPU, {here}, at 2.00x)" in note
    assert note.endswith("; 7 runs not stored yet: 2m00s at this CPU's pace")
    protocol = json.loads((out / "protocol-tiny.json").read_text())
    assert protocol["selection"] == "validation" and protocol["data"]["n_val"] == 100
    grid.write_text('name = "x"\nlr = 1e-3\ndepht = 3\n')
    assert main(["sweep", str(grid), "--out", str(out)]) == 2
    assert "unknown keys ['depht']" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    grid.write_text(GRID.format(third="[lr_search]\nlrs = [1e-3]").replace("n_val = 100", ""))
    assert main(["sweep", str(grid), "--out", str(out)]) == 2
    assert "set n_val > 0" in capsys.readouterr().err  # refused before any training
    grid.write_text(GRID.format(third="lr = 1e-3\n[lr_search]\nlrs = [1e-3]"))
    assert main(["sweep", str(grid), "--out", str(out)]) == 2
    assert "not both" in capsys.readouterr().err


def test_dry_run_projects_wall_time_without_training(shared_data, tmp_path, capsys):
    args = ["reproduce", "--preset", "standard", "--dry-run", "--no-download",
            "--data-dir", str(shared_data / "mnist"), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "880 runs" in err and "projected wall time on 2 workers" in err
    assert not (tmp_path / "o").exists()


def test_a_grid_this_tinybgn_cannot_run_fails_before_training(
    shared_data, tmp_path, capsys, monkeypatch
):
    import tinybgn.probes

    # as on a tinybgn without the per-layer monitor: monitored runs must not be stored without it
    monkeypatch.delattr(tinybgn.probes, "training_monitor")
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(third="lr = 1e-3\nmonitor = true"))
    out = tmp_path / "o"
    args = ["sweep", str(grid), "--out", str(out), "--data-dir", str(shared_data / "mnist"),
            "--no-download", "--quiet"]  # fmt: skip
    assert main(args) == 2
    assert "training_monitor" in capsys.readouterr().err
    assert read_records(out / "runs.jsonl") == ({}, [])  # nothing trained, nothing stored


def test_the_data_line_gives_the_sizes_after_the_validation_carve_out():
    # The standard preset printed "8000 train / 2000 test" (the t10k carve) while its runs
    # trained on 7000 and validated on 1000: the line must give the sizes the runs use.
    from tinybgn.data import load_dataset

    ds = load_dataset("mnist-sample", n_test=500, val_size=300, seed=0)
    line = sw.data_line(ds.info)
    assert line.startswith("data: ") and "300 examples set aside from train" in line
    assert line.endswith(f"{len(ds.y_train)} train / 300 validation / 500 test")


def test_the_mechanism_grids_share_one_study_protocol_and_rate_grid():
    # The parts of the mechanism study are run into one folder so that shared variants are
    # trained once: that needs one study name, seeds, data and learning-rate grid in all.
    names = sorted(p.stem for p in sw.GRIDS_DIR.glob("mechanism-*.toml"))
    assert {"mechanism-optimizers", "mechanism-frozen", "mechanism-eps"} <= set(names)
    grids = [load_grid(n) for n in names]
    fixed = {k: grids[0].fixed.get(k) for k in ("dataset", "n_val", "epochs", "depth", "width")}
    for g in grids:
        assert g.study == "mechanism" and g.seed_keys == ("activation",)
        assert {k: g.fixed.get(k) for k in fixed} == fixed
        assert g.search.lrs == grids[0].search.lrs and g.search.lrs[0] == 1e-6
        assert len(g.search.lrs) == 13 and 1e-4 in g.search.lrs


def test_not_yet_stored_matches_runs_on_everything_but_the_rate():
    # A dry run plans the final runs at a placeholder rate: a stored final run at the rate the
    # search chose must count as done, and a run that differs in anything else must not.
    def spec(**kw):
        fields = dict(study="test", activation="tanh", depth=3, batchnorm=False, bgn=False,
                      lr=1e-3, seed=1, run=0, epochs=1, batch_size=32, dataset="mnist",
                      data_split="carve", n_train=200, n_test=100)  # fmt: skip
        return JobSpec(**{**fields, **kw})

    stored = {"a": {"spec": spec(lr=1e-2).to_dict()}, "old": {"spec": {"no": "such key"}}}
    planned = [spec(), spec(run=1), spec(bgn=True)]
    assert sw.not_yet_stored(planned, stored) == planned[1:]
    assert sw.not_yet_stored([spec(), spec(lr=3e-3)], stored) == [spec(lr=3e-3)]  # counted once
