"""Reports from stored runs: tinybgn.experiments.analysis / claims / figures and `tinybgn report`.

Two kinds of input:

* the committed quick-rerun store (real runs, old record format), reported with no dataset
  anywhere;
* SYNTHETIC UNIT-TEST INPUTS built below by ``synthetic_record``: invented accuracies and times
  that exercise the code paths (selection, pairing, verdicts, grids, figures). They are not
  results and are never written outside pytest's tmp_path.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinybgn.cli import main
from tinybgn.experiments import analysis, claims, stats

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "docs" / "results" / "quick-rerun"


# -- synthetic unit-test inputs -----------------------------------------------------------------
def synthetic_record(accuracy, *, val=None, seconds=1.0, probe_data=None, monitor=None, **spec):
    """A SYNTHETIC record in the runs.jsonl format (a unit-test input, not a result)."""
    full = {
        "study": "final",
        "activation": "relu",
        "depth": 3,
        "batchnorm": False,
        "bgn": False,
        "lr": 1e-3,
        "seed": 0,
        "run": 0,
        "epochs": 2,
        "batch_size": 8,
        "adam_eps": 1e-7,
        "width": 4,
        "dataset": "synthetic-unit-test",
        "data_split": "carve",
        "n_train": 10,
        "n_test": 10,
        "data_seed": 0,
        "data_fingerprint": "synthetic",
        "probe": False,
        "probe_batch": 4,
    }
    full.update(spec)
    record = {
        "id": json.dumps(full, sort_keys=True),
        "spec": full,
        "accuracy": accuracy,
        "test_loss": 1.0,
        "top_class_fraction": 0.2,
        "history": {"epochs": []},
        "diverged": None if accuracy is not None else {"epoch": 1},
        "train_seconds": seconds * full["epochs"],
        "seconds_per_epoch": seconds,
        "wall_seconds": seconds * full["epochs"],
        "worker": {"host": "test", "pid": 0, "tinybgn_commit": "synthetic"},
        "finished_at": "2026-01-01T00:00:00+0000",
    }
    if val is not None:
        record["val_accuracy"] = val
    if probe_data is not None:
        record["probe"] = probe_data
    if monitor is not None:
        record["monitor"] = monitor
    return record


def paired_store(bgn_acc, plain_acc, **spec):
    """Final runs of a BGN cell and its baseline with the same seeds (SYNTHETIC)."""
    out = []
    for run, (a, b) in enumerate(zip(bgn_acc, plain_acc, strict=True)):
        out.append(synthetic_record(a, bgn=True, seed=100 + run, run=run, **spec))
        out.append(synthetic_record(b, bgn=False, seed=100 + run, run=run, **spec))
    return out


# -- statistics of cells and pairs --------------------------------------------------------------
def test_paired_cells_give_sd_interval_and_a_better_verdict():
    bgn = [0.90, 0.85, 0.88, 0.91, 0.87, 0.89, 0.86, 0.90]
    plain = [0.11] * 8
    a = analysis.analyse(paired_store(bgn, plain))
    cell = next(c for c in a["cells"] if c["bgn"])
    assert cell["n"] == 8 and cell["mean"] == pytest.approx(np.mean(bgn))
    assert cell["sd"] == pytest.approx(np.std(bgn, ddof=1))
    assert cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1]
    (pair,) = a["pairs"]
    assert pair["n"] == 8 and pair["diff"] == pytest.approx(np.mean(bgn) - 0.11)
    assert pair["p"] == pytest.approx(2 / 2**8) and pair["verdict"] == "better"


def test_pairs_match_seeds_not_positions_and_ignore_record_order():
    records = paired_store([0.9, 0.2, 0.8, 0.7, 0.95, 0.6], [0.1, 0.3, 0.1, 0.2, 0.1, 0.1])
    a = analysis.analyse(records)
    shuffled = list(records)
    random.Random(4).shuffle(shuffled)
    b = analysis.analyse(shuffled)
    assert a["pairs"] == b["pairs"] and a["cells"] == b["cells"]
    # run 1 is the one seed where BGN is worse; the differences are taken per seed
    assert a["pairs"][0]["diff"] == pytest.approx(np.mean([0.8, -0.1, 0.7, 0.5, 0.85, 0.5]))


def test_diverged_runs_are_counted_and_left_out_of_the_pairs():
    a = analysis.analyse(paired_store([0.9, None, 0.8], [0.1, 0.1, 0.1]))
    cell = next(c for c in a["cells"] if c["bgn"])
    assert cell["runs"] == 3 and cell["diverged"] == 1 and cell["n"] == 2
    assert a["pairs"][0]["n"] == 2 and a["pairs"][0]["unpaired"] == 2


# -- selection ----------------------------------------------------------------------------------
def _searched_cell(selection):
    """SYNTHETIC: rate 1e-3 is best on validation, 1e-2 on test; 2 search runs per rate."""
    recs = []
    for lr, val, test in ((1e-3, 0.80, 0.70), (1e-2, 0.60, 0.75), (1e-4, 0.1, 0.1)):
        for run in range(2):
            recs.append(
                synthetic_record(
                    test + 0.01 * run,
                    val=val,
                    lr=lr,
                    run=run,
                    seed=run,
                    study="search",
                    selection=selection,
                )
            )
    best = 1e-3 if selection == "validation" else 1e-2
    for run in range(2, 5):
        recs.append(
            synthetic_record(
                0.65 + 0.01 * run,
                val=0.8,
                lr=best,
                run=run,
                seed=run,
                study="final",
                selection=selection,
            )
        )
    return recs


def test_validation_selection_reports_final_runs_only_and_the_paper_bias():
    a = analysis.analyse(_searched_cell("validation"))
    (cell,) = a["cells"]
    assert cell["n"] == 3 and cell["lr"] == 1e-3 and cell["selection"] == "validation"
    assert cell["mean"] == pytest.approx(np.mean([0.67, 0.68, 0.69]))
    (row,) = a["selection"]
    assert row["lr_validation"] == 1e-3 and row["lr_paper"] == 1e-2
    assert row["validation_test_mean"] == pytest.approx(0.68)
    # paper: no final runs at 1e-2 here, so only its two search runs (0.75, 0.76)
    assert row["paper_test_mean"] == pytest.approx(0.755) and row["paper_n"] == 2
    assert row["bias"] == pytest.approx(0.755 - 0.68)


def test_paper_selection_counts_the_search_runs_at_the_chosen_rate():
    a = analysis.analyse(_searched_cell("paper"))
    (cell,) = a["cells"]
    assert cell["n"] == 5 and cell["lr"] == 1e-2  # 2 search + 3 final, as the paper's 5 + 10
    assert sorted(cell["accuracies"]) == pytest.approx([0.67, 0.68, 0.69, 0.75, 0.76])


def test_old_table1_study_is_split_into_search_and_final_runs():
    recs = []
    for lr in (1e-3, 1e-2):
        recs.append(synthetic_record(0.5 if lr == 1e-3 else 0.6, lr=lr, study="table1"))
    recs += [synthetic_record(0.61, lr=1e-2, run=r, seed=r, study="table1") for r in (1, 2)]
    roles = [role for role, _ in analysis.assign_roles(recs)]
    assert roles == ["search", "search", "final", "final"]
    (cell,) = analysis.analyse(recs)["cells"]
    assert cell["selection"] == "paper" and cell["n"] == 3 and cell["lr"] == 1e-2
    # the runner's protocol can say how many search runs there were
    roles = analysis.assign_roles(recs, {"preset": {"search_runs": 2}})
    assert [r for r, _ in roles] == ["search", "search", "search", "final"]


def test_a_grid_of_kappa_optimizer_grad_method_gets_a_row_per_variant(tmp_path):
    recs = []
    for opt in ("adam", "sgd"):
        for gm in ("none", "block_normalized", "clip"):
            for run in range(2):
                base = dict(optimizer=opt, grad_method=gm, run=run, seed=run, study="grid")
                recs.append(synthetic_record(0.3, bgn=False, **base))
                for kappa in (1.0, 8.0):
                    recs.append(synthetic_record(0.5, bgn=True, bgn_kappa=kappa, **base))
    a = analysis.analyse(recs)
    assert len(a["cells"]) == 18  # 12 BGN variants + 6 baselines
    assert {"bgn_kappa", "optimizer", "grad_method"} <= set(a["columns"])
    assert len(a["pairs"]) == 12  # every BGN variant against its own baseline
    assert all(p["diff"] == pytest.approx(0.2) for p in a["pairs"])
    analysis.build_report(recs, tmp_path)
    md = (tmp_path / "table1.md").read_text()
    assert md.count("| relu |") >= 18 + 12  # a grid row per variant, a pair row per pair


# -- claims ---------------------------------------------------------------------------------------
def test_claims_are_computed_from_the_records():
    recs = []
    times = {(False, False): 1.0, (False, True): 1.27, (True, False): 2.95, (True, True): 3.2}
    for (bn, bgn), t in times.items():
        for run in range(6):
            acc = 0.9 if bgn else 0.1 + 0.01 * run
            recs.append(synthetic_record(acc, batchnorm=bn, bgn=bgn, seed=run, run=run, seconds=t))
    found = {c["id"]: c for c in claims.evaluate(analysis.analyse(recs))}
    assert found["iv"]["verdict"] == "reproduced"  # better in both pairs (p = 2/64)
    assert found["T"]["verdict"] == "reproduced"
    assert found["T-BGN"]["verdict"] == "reproduced" and "1.27" in found["T-BGN"]["value"]
    assert found["T-BN"]["verdict"] == "reproduced"
    for cid in ("i", "ii", "iii"):  # no probes in this store
        assert (
            found[cid]["verdict"] == "inconclusive" and "not in this store" in found[cid]["value"]
        )
    # one pair where BGN is worse: "always improves" is not reproduced
    worse = paired_store([0.1] * 6, [0.9] * 6)
    found = {c["id"]: c for c in claims.evaluate(analysis.analyse(worse))}
    assert found["iv"]["verdict"] == "not reproduced"


def _probe_records():
    """SYNTHETIC Figure 1-3 probes: plain deltas decay 10x per layer, BGN ones stay at 8."""
    layers = 6
    decay = [10.0 ** (k - layers) for k in range(layers)] + [0.05]
    flat = [8.0] * layers + [0.05]
    recs = []
    for act in ("relu", "sigmoid"):
        for seed in range(2):
            for bgn in (False, True):
                curve = {"delta": flat if bgn else decay, "weight": flat if bgn else decay}
                recs.append(
                    synthetic_record(
                        None,
                        study="init_probe",
                        activation=act,
                        bgn=bgn,
                        seed=seed,
                        probe_data={**curve, "proportionality": {"cosine": [1.0] * 7}},
                    )
                )
            recs.append(
                synthetic_record(
                    0.5,
                    study="probe",
                    activation=act,
                    seed=seed,
                    probe=True,
                    probe_data={
                        "trained_bgn0": {"delta": decay, "weight": decay},
                        "trained_bgn1": {"delta": flat, "weight": flat},
                        "weight_change": [1e-9] * 7,
                    },
                )
            )
            recs.append(
                synthetic_record(
                    0.8,
                    study="probe",
                    activation=act,
                    bgn=True,
                    seed=seed,
                    probe=True,
                    probe_data={
                        "trained_bgn1": {"delta": flat, "weight": flat},
                        "weight_change": [1e-2] * 7,
                    },
                )
            )
    return recs


def test_probe_claims_and_figures(tmp_path):
    recs = _probe_records()
    result = analysis.build_report(recs, tmp_path)
    found = {c["id"]: c for c in result["claims"]}
    assert found["i"]["verdict"] == "reproduced"
    assert found["ii"]["verdict"] == "reproduced"
    assert found["ii"]["numbers"]["plain"]  # the plain curves are given for contrast
    assert found["iii"]["verdict"] == "reproduced"
    for name in ("figure1", "figure2", "figure3"):
        for ext in ("png", "svg", "csv"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 1000
    rows = (tmp_path / "figure1.csv").read_text().splitlines()
    assert rows[0] == "activation,variant,quantity,seed,layer,value"
    assert len(rows) == 1 + 2 * 2 * 2 * 2 * 7  # act x variant x quantity x seed x layer


def test_claim_ii_fails_when_a_normalised_curve_degrades():
    recs = _probe_records()
    for r in recs:
        if r["spec"]["study"] == "init_probe" and r["spec"]["bgn"]:
            r["probe"]["delta"] = [1e-3] + [8.0] * 5 + [0.05]  # vanishes at the first layer
    found = {c["id"]: c for c in claims.evaluate(analysis.analyse(recs))}
    assert found["ii"]["verdict"] == "not reproduced"


def test_monitor_records_get_a_figure(tmp_path):
    recs = []
    for bgn in (False, True):
        history = [
            {
                "epoch": e,
                "update_size": [0.1 * e] * 4,
                "delta": [1.0] * 4,
                "dead_relu": [0.1, 0.2, 0.3],
                "sqrt_v_hat_median": [1e-6] * 4,
                "frac_sqrt_v_hat_below_eps": [0.5] * 4,
                "adam_eps": 1e-7,
            }
            for e in (1, 2)
        ]
        recs.append(synthetic_record(0.5, bgn=bgn, monitor=history, study="mech"))
    result = analysis.build_report(recs, tmp_path)
    assert str(tmp_path / "monitor_relu_3.png") in result["files"]
    assert (tmp_path / "monitor_relu_3.svg").exists()
    assert "monitor_relu_3.png" in (tmp_path / "README.md").read_text()


def test_band_medians_leave_out_the_output_layer_and_missing_values():
    from tinybgn.experiments.monitors import band_medians

    # 20 hidden layers -> bands of 2; a Dense list has a 21st entry, the output layer.
    values = [1.0, 3.0] + [None] * 7 + [5.0, 7.0] + [None] * 7 + [9.0, 11.0, 1e9]
    assert band_medians(values, 20) == {"input": 2.0, "middle": 6.0, "output": 10.0}
    assert band_medians([None] * 21, 20) == {"input": None, "middle": None, "output": None}


def test_monitor_table_summarises_the_final_runs_by_band(tmp_path):
    def history(scale):
        return [
            {"epoch": e, "update_size": [scale * e] * 20 + [123.0], "dead_relu": [0.25] * 20}
            for e in (1, 2)
        ]

    recs = []
    for run, bgn in [(r, b) for r in (1, 2, 3) for b in (False, True)]:
        scale = 1.0 if bgn else 1e-9
        recs.append(
            synthetic_record(
                0.5,
                bgn=bgn,
                depth=20,
                run=run,
                seed=run,
                monitor=history(scale),
                study="mech",
                selection="validation",
                val=0.5,
            )
        )
    # A search run (run 0, two rates) whose monitor must not enter the final cell's rows.
    for lr in (1e-3, 1e-2):
        recs.append(
            synthetic_record(
                0.4,
                bgn=True,
                depth=20,
                lr=lr,
                run=0,
                val=0.1 if lr > 1e-3 else 0.6,
                monitor=history(1e6),
                study="mech",
                selection="validation",
            )
        )
    result = analysis.build_report(recs, tmp_path)
    assert str(tmp_path / "monitor.md") in result["files"]
    rows = analysis.analyse(recs)["monitor_rows"]
    bgn_last = [r for r in rows if r["bgn"] and r["quantity"] == "update_size" and r["epoch"] == 2]
    assert len(bgn_last) == 1 and bgn_last[0]["n"] == 3
    assert bgn_last[0]["input"] == bgn_last[0]["output"] == 2.0  # not 2e6, not the output layer
    text = (tmp_path / "monitor.md").read_text()
    assert "## `update_size`" in text and "## `dead_relu`" in text and "2.00e-09" in text


# -- the committed store, with no dataset anywhere -------------------------------------------------
@pytest.fixture
def no_dataset(monkeypatch, tmp_path):
    """No TINYBGN_DATA, a working directory with no ../shared, and any data load fails."""
    import tinybgn.data
    import tinybgn.experiments.jobs

    monkeypatch.delenv("TINYBGN_DATA", raising=False)
    monkeypatch.delenv("TINYBGN_MIRRORS", raising=False)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)

    def refuse(*args, **kwargs):
        raise AssertionError("tinybgn report must not load a dataset")

    import tinybgn.data.locate

    monkeypatch.setattr(tinybgn.data, "load_dataset", refuse)
    monkeypatch.setattr(tinybgn.data.locate, "find_dataset", refuse)
    monkeypatch.setattr(tinybgn.data.locate, "search_roots", refuse)
    monkeypatch.setattr(tinybgn.experiments.jobs, "load_job_data", refuse)
    return work


def test_report_of_the_committed_quick_rerun_store_needs_no_dataset(no_dataset, capsys):
    out = no_dataset / "report"
    assert main(["report", str(QUICK / "runs.jsonl.gz"), "--out", str(out)]) == 0
    assert "388 runs" in capsys.readouterr().out
    table = json.loads((out / "table1.json").read_text())
    assert len(table["cells"]) == 48 and len(table["pairs"]) == 24
    for cell in table["cells"]:
        assert {"activation", "batchnorm", "bgn", "depth", "n", "mean", "sd", "ci95"} <= set(cell)
    for pair in table["pairs"]:
        assert {"diff", "ci95", "p", "verdict"} <= set(pair)
        assert pair["p"] >= 0.25 and pair["verdict"] == "indistinguishable"  # 3 runs each
    # the same means as the committed report; sd now divides by n - 1 (ddof=1)
    old = {
        (c["activation"], c["depth"], c["batchnorm"], c["bgn"]): c
        for c in json.loads((QUICK / "table1.json").read_text())["cells"]
    }
    for c in table["cells"]:
        o = old[(c["activation"], c["depth"], c["batchnorm"], c["bgn"])]
        assert c["mean"] == pytest.approx(o["mean"]) and c["lr"] == o["best_lr"]
        assert c["sd"] == pytest.approx(o["std"] * np.sqrt(3 / 2))
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["epochs"] == 6 and protocol["selection"] == "paper"
    assert protocol["data"]["dataset"] == "mnist"
    assert protocol["runner"]["preset"]["name"] == "quick"  # the protocol.json beside the runs
    readme = (out / "README.md").read_text()
    assert "Figure 1" in readme and "Not in this store" in readme  # no init_probe records
    for name in ("figure2", "figure3", "eps"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.svg").exists()
    for name in ("table1.md", "table1.csv", "pairs.csv", "runs.csv", "timing.md", "claims.md"):
        assert (out / name).stat().st_size > 100
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 388
    assert stats.METHOD_TEXT in readme


def test_report_cli_errors_are_clear(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)]) == 2
    assert "tinybgn report: error: no run file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(synthetic_record(0.5)) + '\nnot json\n{"x": 1}\n')
    assert main(["report", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    bad.write_text(json.dumps({"spec": {"study": "final", "activation": "relu"}}) + "\n")
    assert main(["report", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1: the record's spec lacks depth" in capsys.readouterr().err
    bad.write_text(json.dumps(synthetic_record(float("nan"))) + "\n")
    assert main(["report", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "accuracy must be a finite number" in capsys.readouterr().err
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(synthetic_record(0.5)) + "\n")
    (tmp_path / "file").write_text("")
    assert main(["report", str(good), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err


def test_a_torn_last_line_is_skipped(tmp_path):
    recs = paired_store([0.9, 0.8], [0.1, 0.1])
    path = tmp_path / "runs.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs) + '{"id": "torn')
    assert len(analysis.load_records(path)) == 4


def test_importing_the_experiments_keeps_the_users_matplotlib_backend():
    code = (
        "import matplotlib; matplotlib.use('pdf'); import sys\n"
        "import tinybgn.experiments, tinybgn.experiments.figures, tinybgn.experiments.analysis\n"
        "import tinybgn.cli; tinybgn.cli.build_parser()\n"
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gradient_methods_are_compared_with_no_method_and_with_bgn():
    recs = []
    accs = {("none", False): 0.1, ("none", True): 0.9, ("block_normalized", False): 0.5,
            ("frozen_bgn", True): 0.7}  # fmt: skip
    for (gm, bgn), acc in accs.items():
        for run in range(6):
            recs.append(synthetic_record(acc + 0.001 * run, grad_method=gm, bgn=bgn, seed=run,
                                         run=run, study="mech"))  # fmt: skip
    a = analysis.analyse(recs)
    rows = {(p["grad_method"], p["bgn"], p["baseline"]): p for p in a["method_pairs"]}
    block_vs_plain = rows[("block_normalized", False, "same cell, grad_method none")]
    assert block_vs_plain["diff"] == pytest.approx(0.4) and block_vs_plain["verdict"] == "better"
    block_vs_bgn = rows[("block_normalized", False, "BGN, grad_method none")]
    assert block_vs_bgn["diff"] == pytest.approx(-0.4) and block_vs_bgn["verdict"] == "worse"
    frozen_vs_bgn = rows[("frozen_bgn", True, "same cell, grad_method none")]
    assert frozen_vs_bgn["diff"] == pytest.approx(-0.2)
    frozen_vs_plain = rows[("frozen_bgn", True, "same cell without BGN")]
    assert frozen_vs_plain["diff"] == pytest.approx(0.6) and frozen_vs_plain["verdict"] == "better"
    assert len(a["method_pairs"]) == 4


def test_a_sweep_with_an_lr_search_is_split_and_a_sweep_over_lr_is_not():
    searched = [
        synthetic_record(0.5, lr=lr, run=0, seed=0, study="kappa-optim") for lr in (1e-3, 1e-2)
    ] + [synthetic_record(0.6, lr=1e-2, run=r, seed=r, study="kappa-optim") for r in (1, 2)]
    assert [r for r, _ in analysis.assign_roles(searched)] == [
        "search", "search", "final", "final",
    ]  # fmt: skip
    over_lr = [
        synthetic_record(0.5, lr=lr, run=r, seed=r, study="lr-grid")
        for lr in (1e-3, 1e-2)
        for r in (0, 1)
    ]
    assert {r for r, _ in analysis.assign_roles(over_lr)} == {"sweep"}
    a = analysis.analyse(over_lr)
    assert len(a["cells"]) == 2 and "lr" in a["columns"]  # the rate is a grid axis here


@pytest.mark.parametrize(
    ("cosine", "subnormal", "verdict"),
    [
        ([1.0, 1.0, 0.7], [0.0, 0.0, 0.5], "reproduced"),  # the 0.7 is a float32 underflow
        ([1.0, 0.7, 1.0], [0.0, 0.0, 0.0], "not reproduced"),
    ],
)
def test_claim_i_judges_underflowed_layers_apart(cosine, subnormal, verdict):
    probe = {
        "delta": [8.0] * 3,
        "weight": [1.0] * 3,
        "proportionality": {"cosine": cosine, "plain_subnormal": subnormal},
    }
    rec = synthetic_record(None, study="init_probe", bgn=True, probe_data=probe)
    (found,) = [c for c in claims.evaluate(analysis.analyse([rec])) if c["id"] == "i"]
    assert found["verdict"] == verdict


def test_markdown_tables_keep_their_columns_when_a_cell_has_a_pipe(tmp_path):
    a = analysis.analyse(_probe_records())
    (tmp_path / "claims.md").write_text(analysis.claims_markdown(claims.evaluate(a)))
    rows = [l for l in (tmp_path / "claims.md").read_text().splitlines() if l.startswith("|")]
    assert any("\\|\\|delta\\|\\|" in l for l in rows)  # claim (ii) names ||delta||
    assert {l.replace("\\|", "").count("|") for l in rows} == {7}  # 6 columns in every row


def test_small_key_values_are_not_printed_as_zero():
    # A table of learning rates 1e-4 and 3.162e-4 printed both as "0.000".
    assert analysis._fmt(1e-4) == "0.0001" and analysis._fmt(3.162e-4) == "0.000316"
    assert analysis._fmt(1e-7) == "1e-07" and analysis._fmt(0.1135) == "0.114"
    assert analysis._fmt(0.0) == "0.000" and analysis._fmt(8.0) == "8.000"


@pytest.mark.parametrize(
    ("change", "compared"),
    [
        ({}, True),
        ({"bgn_kappa": 8.0}, True),  # kappa = sqrt(64) given explicitly is still the paper's
        ({"builder": "residual_mlp"}, False),
        ({"dataset": "fashion-mnist"}, False),
        ({"adam_eps": 1e-24}, False),
        ({"optimizer": "sgd"}, False),
        ({"bgn_kappa": 1.0}, False),
        ({"bgn_every": 3}, False),
        ({"grad_method": "frozen_bgn"}, False),
    ],
)
def test_only_the_papers_own_cells_are_set_beside_its_numbers(change, compared):
    # A residual 120-layer store printed "(paper 0.112 ± 0.026)" beside every cell: the paper's
    # plain-MLP number, because builder was constant in the store and so not a column.
    paper = {"dataset": "mnist", "width": 64, "batch_size": 32, "depth": 90, "bgn": True}
    records = [synthetic_record(0.5 + 0.01 * run, seed=run, run=run, **{**paper, **change})
               for run in range(3)]  # fmt: skip
    a = analysis.analyse(records)
    (cell,) = a["cells"]
    assert cell["paper_cell"] is compared
    assert ("(paper 0.901 ± 0.039)" in analysis.table1_markdown(a, None)) is compared


def test_the_report_names_the_network_builder(tmp_path):
    # A residual store's report said nothing about the network being residual.
    records = [synthetic_record(0.5, seed=run, run=run, builder="residual_mlp") for run in range(2)]
    records += [synthetic_record(0.5, seed=9, run=0, depth=5)]  # an old record: builder unset
    analysis.build_report(records, tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "- Network: builder ['mlp', 'residual_mlp'], width 4, hidden layers [3, 5]." in text
    protocol = json.loads((tmp_path / "protocol.json").read_text())
    assert protocol["builder"] == ["mlp", "residual_mlp"]


def test_accuracy_figure_draws_every_run_of_every_cell(tmp_path):
    from matplotlib.colors import to_rgba

    from tinybgn.experiments import figures

    variants = {"relu none": (False, {}), "relu BGN": (True, {}),
                "relu none optimizer=sgd": (False, {"optimizer": "sgd"})}  # fmt: skip
    # every cell its own accuracies (the third run diverged), so a run drawn in the wrong row or
    # panel is caught
    expected = {(depth, label): (0.1 + 0.3 * i + 0.05 * (depth == 5), 0.2 + 0.3 * i)
                for depth in (3, 5) for i, label in enumerate(variants)}  # fmt: skip
    recs = [
        synthetic_record(acc, bgn=bgn, depth=depth, seed=s, run=s, **extra)
        for (depth, label), accs in expected.items()
        for bgn, extra in [variants[label]]
        for s, acc in enumerate((*accs, None))
    ]
    a = analysis.analyse(recs)
    panels = figures.accuracy_panels(a["cells"], a["columns"])
    assert list(panels) == ["3 hidden layers", "5 hidden layers"]
    labels = [row["label"] for row in panels["3 hidden layers"]]
    # a key is named only where it differs from JobSpec's default
    assert sorted(labels) == sorted(variants)
    fig = figures.build_final_runs_figure(panels, 0.1135)
    red = to_rgba("tab:red")
    for ax, depth in zip(fig.axes, (3, 5), strict=True):
        rows = [t.get_text() for t in ax.get_yticklabels()]
        drawn = {label: [] for label in rows}
        crosses = {label: 0 for label in rows}
        for c in ax.collections:
            is_cross = tuple(c.get_facecolor()[0]) == red
            for x, y in c.get_offsets():
                label = rows[round(float(y))]
                if is_cross:
                    crosses[label] += 1
                    assert x == 0.02  # at the left edge
                else:
                    drawn[label].append(round(float(x), 3))
        for label in rows:
            assert sorted(drawn[label]) == [round(v, 3) for v in expected[(depth, label)]]
            assert crosses[label] == 1
    with pytest.raises(ValueError, match="no cells"):
        figures.build_final_runs_figure({}, None)
    result = analysis.build_report(recs, tmp_path)
    assert str(tmp_path / "accuracy.png") in result["files"]
    assert (tmp_path / "accuracy.svg").exists()
    assert "accuracy.png" in (tmp_path / "README.md").read_text()


def test_accuracy_figure_keeps_final_cells_only_when_the_store_has_a_search():
    from tinybgn.experiments import figures

    def rec(act, lr, run, acc):
        return synthetic_record(acc, study="mech", selection="validation", val=acc,
                                activation=act, lr=lr, seed=run, run=run)  # fmt: skip

    # relu: run 0 searches two rates, runs 1-2 are the finals; sigmoid: only its search ran,
    # so its runs are one-run "sweep" cells (as the unfinished sigmoid half of a study)
    recs = [rec("relu", lr, 0, 0.3) for lr in (1e-3, 1e-2)]
    recs += [rec("relu", 1e-2, run, 0.5) for run in (1, 2)]
    recs += [rec("sigmoid", lr, 0, 0.1) for lr in (1e-3, 1e-2)]
    a = analysis.analyse(recs)
    assert sorted(str(r["selection"]) for r in a["cells"]) == ["None", "None", "validation"]
    panels = figures.accuracy_panels(a["cells"], a["columns"])
    (rows,) = panels.values()
    assert [(r["label"], r["lr"], r["accuracies"]) for r in rows] == [
        ("relu none", 1e-2, [0.5, 0.5])
    ]


def test_claim_ii_lists_a_network_without_gradient_apart():
    """A trained ReLU network can die: delta = 0 from the last hidden layer down. Its ratio is
    0/0; it must be named in the value, not turn the verdict through a NaN."""
    recs = _probe_records()
    for r in recs:
        spec = r["spec"]
        if spec["study"] == "init_probe" and spec["bgn"] and spec["activation"] == "relu":
            r["probe"]["delta"] = [0.0] * 6 + [0.05]  # both seeds dead
    found = {c["id"]: c for c in claims.evaluate(analysis.analyse(recs))}
    assert "no gradient at the last hidden layer" in found["ii"]["value"]
    assert found["ii"]["numbers"]["no_gradient"]
    assert not any(math.isnan(r) for r in found["ii"]["numbers"]["normalised"].values())


def test_protocol_states_the_size_of_a_whole_split():
    # n_train=None in a spec means "the whole training set": the fashion-full protocol said
    # n_train null. The runner knows the count; without it the protocol says "all".
    records = [synthetic_record(0.5, seed=r, run=r, n_train=None, n_test=None) for r in range(2)]
    a = analysis.analyse(records)
    runner = {"data": {"n_train": 55000, "n_val": 5000, "n_test": 10000}}
    data = analysis.protocol_from_records(a, runner)["data"]
    assert (data["n_train"], data["n_test"]) == (55000, 10000)
    data = analysis.protocol_from_records(a, None)["data"]
    assert (data["n_train"], data["n_test"]) == ("all", "all")


def test_a_panel_of_zero_gradients_says_so():
    # Figure 2 of fashion-full: the relu network trained without BGN is dead; its panel was an
    # empty axis with a lone invisible point at the output layer.
    from matplotlib.figure import Figure

    from tinybgn.experiments.figures import _band, _clip_log_axis

    ax = Figure().subplots()
    dead = np.array([[0.0] * 5 + [0.06]])
    _clip_log_axis(ax, {"none": _band(ax, dead, "C0", "none")})
    assert any("0 at every hidden layer" in t.get_text() for t in ax.texts)
    assert ax.get_xlim() == (0, 7)
    assert ax.lines[0].get_marker() == "o"  # the one drawable value is marked
    live = np.array([[1.0] * 5 + [0.06]])
    ax = Figure().subplots()
    _clip_log_axis(ax, {"none": _band(ax, live, "C0", "none")})
    assert not any("0 at every hidden layer" in t.get_text() for t in ax.texts)


def test_the_readme_links_a_discussion_when_there_is_one(tmp_path):
    records = [synthetic_record(0.5, seed=r, run=r) for r in range(2)]
    analysis.build_report(records, tmp_path)
    assert "discussion.md" not in (tmp_path / "README.md").read_text()
    (tmp_path / "discussion.md").write_text("# Discussion\n")
    analysis.build_report(records, tmp_path)
    assert "[discussion.md](discussion.md)" in (tmp_path / "README.md").read_text()


def test_a_rebuilt_report_is_the_same_bytes(tmp_path):
    # Each rebuild used to rewrite every SVG (a date and random clip-path ids).
    records = _probe_records()
    analysis.build_report(records, tmp_path / "a")
    analysis.build_report(records, tmp_path / "b")
    for svg in sorted((tmp_path / "a").glob("*.svg")):
        assert svg.read_bytes() == (tmp_path / "b" / svg.name).read_bytes(), svg.name
    assert "<dc:date>" not in svg.read_text()


def test_timing_ratios_compare_runs_of_one_cpu():
    # The standard store resumed on another machine: BGN cells timed on a fast CPU against
    # plain cells timed on a slow one would give a ratio of machines, not of methods.
    def on(cpu, recs):
        for r in recs:
            r["worker"]["cpu"] = cpu
        return recs

    bgn_fast = on("fast", [synthetic_record(0.5, bgn=True, seed=s, seconds=1.0) for s in (1, 2)])
    plain_slow = on("slow", [synthetic_record(0.5, seed=s, seconds=3.0) for s in (1, 2)])
    a = analysis.analyse(bgn_fast + plain_slow)
    assert "BGN/none" not in a["timing_ratios"]
    assert {r["key"]["cpu"] for r in a["timing"]} == {"fast", "slow"}
    plain_fast = on("fast", [synthetic_record(0.5, seed=s, seconds=0.8) for s in (3, 4)])
    a = analysis.analyse(bgn_fast + plain_slow + plain_fast)
    assert a["timing_ratios"]["BGN/none"] == [pytest.approx(1.25)]
    assert "every ratio compares runs of the same CPU" in analysis.timing_markdown(a)
    one_cpu = analysis.analyse(on("fast", bgn_fast + plain_fast))
    assert all("cpu" not in r["key"] for r in one_cpu["timing"])


def test_claim_ii_fails_when_a_normalised_curve_vanishes_at_the_first_layer():
    # A ratio of exactly 0 made math.log10 raise while looking for the worst curve.
    recs = _probe_records()
    for r in recs:
        if r["spec"]["study"] == "init_probe" and r["spec"]["bgn"]:
            r["probe"]["delta"] = [0.0] + [8.0] * 5 + [0.05]
    found = {c["id"]: c for c in claims.evaluate(analysis.analyse(recs))}
    assert found["ii"]["verdict"] == "not reproduced"
