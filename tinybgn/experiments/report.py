"""``reproduce``: every figure and table of the paper, plus the eps study, into one folder.

Order of work (each training run is a job, see :mod:`tinybgn.experiments.jobs`)::

    load the data once here (to fix the split and describe it; workers reload it)
    phase 1 (parallel)  Table 1 learning-rate search + eps sweep
                        + 0-epoch probes (Figure 1)                 -> runs.jsonl
    best rate per cell  from the stored search runs (validation, or test for "paper")
    phase 2 (parallel)  Table 1 final runs + probed runs (Figs 2-3)  -> runs.jsonl
    write               protocol.json / protocol.md (how the runs were made), then every
                        table and figure from the stored runs with tinybgn report's code
                        (:func:`tinybgn.experiments.analysis.build_report`)

Everything is appended to ``<out>/runs.jsonl`` as it finishes, so rerunning the same command
after a crash redoes only the missing runs and writes the same numbers.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from concurrent.futures import Executor
from dataclasses import asdict
from pathlib import Path

import numpy as np

import tinybgn
from tinybgn.errors import TinyBGNError
from tinybgn.experiments import eps_sweep, table1
from tinybgn.experiments.analysis import build_report
from tinybgn.experiments.jobs import (
    BLAS_SINGLE_THREAD,
    Progress,
    code_version,
    executor_for,
    machine_info,
    run_sweep,
)
from tinybgn.experiments.presets import Preset
from tinybgn.experiments.store import JsonlStore
from tinybgn.experiments.sweep import data_line, data_source, plan_data
from tinybgn.experiments.table1 import configs
from tinybgn.files import atomic_write_text


def load_planned_data(preset: Preset, data_dir=None, stream=None, *, download: bool = True):
    """Load the preset's dataset once; return ``(dataset, job data fields, warning or None)``
    (see :func:`tinybgn.experiments.sweep.plan_data`)."""
    return plan_data(
        preset.dataset,
        preset.n_train,
        preset.n_val,
        preset.n_test,
        data_dir,
        download=download,
        fallback=preset.fallback,
        stream=stream,
    )


def check_out_dir(out: Path) -> None:
    """Fail before any training if ``out`` cannot hold the results (a file, not writable)."""
    if out.exists() and not out.is_dir():
        raise TinyBGNError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise TinyBGNError(f"cannot write results to {out}: {err.strerror or err}") from None


def dry_run(
    preset: Preset, *, data_dir=None, download=True, workers=2, stream=None, out_dir=None
) -> dict:
    """Plan the preset's runs and print their number and projected wall time on ``workers``
    workers from the measured step times (:mod:`tinybgn.experiments.timing`), and, if
    ``out_dir`` holds runs already, the pace they really ran at; train nothing."""
    from tinybgn.experiments.store import read_records
    from tinybgn.experiments.sweep import (
        _cost,
        hms,
        not_yet_stored,
        pace_note,
        projected_wall_seconds,
    )

    preset.validate()
    stream = stream or sys.stderr
    ds, data, _ = load_planned_data(preset, data_dir, stream, download=download)
    placeholder = {c: preset.lr_grid[0] for c in configs(preset)}  # the best rates are unknown
    phases = {
        "search": table1.search_specs(preset, data),
        "final": table1.final_specs(preset, data, placeholder),
        "probes": table1.probe_specs(preset, data, placeholder)
        + table1.init_probe_specs(preset, data),
        "eps": eps_sweep.eps_specs(preset, data),
    }
    costs = {name: [_cost(s, ds) for s in specs] for name, specs in phases.items()}
    every = [c for cs in costs.values() for c in cs]
    wall = projected_wall_seconds(every, workers)
    stored = read_records(Path(out_dir) / "runs.jsonl")[0] if out_dir else {}  # read-only
    left = not_yet_stored([s for specs in phases.values() for s in specs], stored)
    remaining = (len(left), projected_wall_seconds([_cost(s, ds) for s in left], workers))
    parts = ", ".join(f"{len(cs)} {name}" for name, cs in costs.items())
    print(
        f"preset {preset.name}: {len(every)} runs ({parts}) on {data_source(ds.info)} "
        f"({ds.info['n_train']} train / {ds.info.get('n_val', 0)} validation / "
        f"{ds.info['n_test']} test); {sum(every) / 3600:.2f} core-hours; projected wall time on "
        f"{workers} workers: {hms(wall)} (from measured step times, tinybgn.experiments.timing)"
        + pace_note(stored, [ds], wall, remaining if stored else None),
        file=stream,
    )
    return {"runs": len(every), "core_seconds": sum(every), "projected_wall_seconds": wall}


def reproduce(
    preset: Preset,
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    executor: Executor | None = None,
    workers: int = 2,
    quiet: bool = False,
    stream=None,
) -> dict:
    """Run (or resume) the whole reproduction of ``preset`` and write its report to ``out_dir``.

    ``executor``: any ``concurrent.futures.Executor`` (default: a local pool of ``workers``
    processes). ``download=False``: never download a missing dataset. Returns a dict with the
    output paths and the headline numbers. The store is locked for the whole invocation (a
    second ``reproduce`` into the same folder fails at once with a clear message).
    """
    preset.validate()
    stream = stream or sys.stderr
    out = Path(out_dir)
    check_out_dir(out)
    with JsonlStore(out / "runs.jsonl") as store:
        return _reproduce(preset, out, store, data_dir, download, executor, workers, quiet, stream)


def _reproduce(preset, out, store, data_dir, download, executor, workers, quiet, stream) -> dict:
    wall0 = time.monotonic()
    load_start = _load_average()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    ds, data, carve_warning = load_planned_data(preset, data_dir, stream, download=download)
    worker_data_dir = ds.info["directory"]
    counts = np.bincount(ds.y_test, minlength=10)
    majority = float(counts.max() / counts.sum())
    ids_before = set(store.records)
    if not quiet:
        print(data_line(ds.info), file=stream)

    # Both phases share one pool: its workers import the engine once, so every run of this
    # invocation uses the same code even if the files change meanwhile.
    commit_start = code_version()
    with executor_for(executor, workers) as pool:
        # Phase 1 - learning-rate search, the eps sweep and Figure 1's networks at
        # initialisation (0-epoch probe runs, so a report can be rebuilt from the store alone).
        phase1 = (
            table1.search_specs(preset, data)
            + eps_sweep.eps_specs(preset, data)
            + table1.init_probe_specs(preset, data)
        )
        run_sweep(
            phase1,
            store,
            data_dir=worker_data_dir,
            executor=pool,
            progress=Progress(_missing(phase1, store), "phase 1: ", quiet, stream),
        )
        # Phase 2 - final runs at the best rate, and the probed runs for Figures 2 and 3.
        best = table1.best_lrs(preset, data, store)
        phase2 = table1.final_specs(preset, data, best) + table1.probe_specs(preset, data, best)
        run_sweep(
            phase2,
            store,
            data_dir=worker_data_dir,
            executor=pool,
            progress=Progress(_missing(phase2, store), "phase 2: ", quiet, stream),
        )
    wall = time.monotonic() - wall0

    steps = math.ceil(ds.info["n_train"] / preset.batch_size)
    if executor is None:
        concurrency = f"{workers} worker processes ran concurrently, 1 BLAS thread each"
    else:
        concurrency = f"runs on {type(executor).__name__}"

    # The protocol actually used.
    planned = phase1 + phase2
    protocol = {
        "epochs": preset.epochs,
        "selection": preset.selection,
        "preset": {k: v for k, v in asdict(preset).items()},
        "lr_grid": preset.lr_grid,
        "data": {
            **ds.info,
            "source": data_source(ds.info),
            "carved_split_warning": carve_warning,
            "fingerprint": data["data_fingerprint"],
            "majority_class_baseline": majority,
            "test_class_counts": counts.tolist(),
        },
        "training": {
            "optimizer": f"Adam (Kingma & Ba Algorithm 1), beta1 0.9, beta2 0.999, "
            f"eps {preset.adam_eps:g} (eps sweep: {list(preset.eps_values)})",
            "batch_size": preset.batch_size,
            "batch_size_reason": "not stated in the paper; Keras Model.fit default (32)",
            "steps_per_epoch": steps,
            "epochs": preset.epochs,
            "init": "glorot_uniform weights, zero biases (Keras defaults)",
            "bgn": "before every hidden activation, kappa = sqrt(64) = 8, none before softmax",
            "batchnorm": "Keras defaults: momentum 0.99, eps 1e-3",
            "evaluation": "test accuracy after the last epoch (no epoch selection)",
            "seeds": "derive_seed('table1', activation, depth, run) - paired over rates and "
            "BN/BGN variants; eps sweep: derive_seed('eps', activation, run)",
            "selection": preset.selection,
            "lr_selection": (
                "highest mean test accuracy of the search runs (diverged = 0; ties -> smaller "
                "rate); the search runs at the best rate are counted in the cell. NB: the test "
                "split is used for selection, as in the paper (selection = 'paper')"
                if preset.selection == "paper"
                else "highest mean validation accuracy of the search runs (diverged = 0; ties "
                "-> smaller rate); Table 1 reports the test accuracy of the final runs only "
                "(selection = 'validation')"
            ),
            "probe_batch": f"{preset.probe_batch} training examples (default_rng(0))",
        },
        "execution": {
            "executor": type(executor).__name__ if executor else "ProcessPoolExecutor (spawn)",
            "workers": workers if executor is None else None,
            "concurrency": concurrency,
            "blas_env_in_workers": BLAS_SINGLE_THREAD if executor is None else None,
            "runs_planned": len(planned),
            "runs_reused_from_earlier_invocations": len({s.id for s in planned} & ids_before),
            "wall_seconds_this_invocation": round(wall, 1),
            "load_average_1min_start_end": [load_start, _load_average()],
            "started": started,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        },
        "versions": {
            "tinybgn": tinybgn.__version__,
            "git_commit_at_start": commit_start,
            "run_code_versions": sorted(
                {str((store.get(s.id)["worker"] or {}).get("tinybgn_commit")) for s in planned}
            ),
            **machine_info(),
        },
    }
    write_json(out / "protocol.json", protocol)  # the runner's part; the report nests it
    atomic_write_text(out / "protocol.md", protocol_markdown(protocol))
    report = build_report(list(store.records.values()), out, protocol=protocol)
    if not quiet:
        print(f"report written to {out} ({_hms(wall)})", file=stream)
    return {**report, "best": best, "wall_seconds": wall}


def _load_average() -> float | None:
    """The 1-minute load average (other processes compete for the cores), if the OS has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _missing(specs, store) -> int:
    return len({s.id for s in specs} - set(store.records))


def _hms(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


def write_json(path: Path, obj) -> None:
    """``obj`` as indented JSON, written atomically (:mod:`tinybgn.files`)."""
    text = json.dumps(obj, indent=1, sort_keys=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o)}")


def protocol_markdown(p: dict) -> str:
    pr, d, t, e = p["preset"], p["data"], p["training"], p["execution"]
    lines = [
        f"# Protocol of this report (preset `{pr['name']}`)",
        "",
        f"- **Data**: {d['source']}; {d['name']}, split: **{d['split']}**; {d['n_train']} "
        f"train / {d.get('n_val', 0)} validation / {d['n_test']} test examples; folder "
        f"`{d['directory']}` (found via {d['found_via']}); fingerprint {d['fingerprint']}.",
    ]
    if d.get("validation"):
        lines.append(f"- Validation: {d['validation']}")
    if d.get("carved_split_warning"):
        lines.append(f"- **Warning**: {d['carved_split_warning']}")
    if d.get("subsets"):
        lines.append(f"- Subsets: {d['subsets']}")
    lines += [
        f"- Majority-class baseline of the test split: {d['majority_class_baseline']:.4f} "
        f"(test class counts {d['test_class_counts']}).",
        f"- **Networks**: {pr['width']} units per hidden layer, depths {pr['depths']}, "
        f"activations {pr['activations']}, with/without BN, with/without BGN. {t['init']}; "
        f"BGN {t['bgn']}; BN {t['batchnorm']}.",
        f"- **Training**: {t['optimizer']}; batch {t['batch_size']} ({t['batch_size_reason']}); "
        f"{t['epochs']} epochs of {t['steps_per_epoch']} steps; {t['evaluation']}.",
        f"- **Learning rates**: {pr['lr_count']} log-spaced in [{pr['lr_min']:g}, "
        f"{pr['lr_max']:g}]: {', '.join(f'{lr:.3g}' for lr in p['lr_grid'])}; "
        f"{pr['search_runs']} run(s) each, then {pr['final_runs']} more at the best rate "
        f"(paper: 19 rates x 5 runs, then 10 more; 20 epochs). {t['lr_selection']}.",
        f"- **Seeds**: {t['seeds']}.",
        f"- **Figures 2-3**: one run per variant at depth {pr['figure_depth']} at its best rate, "
        f"run 0's seed; gradients probed on {t['probe_batch']}.",
        f"- **eps sweep**: depth {pr['eps_depth']}, no BN, lr {pr['eps_lr']:g}, eps "
        f"{pr['eps_values']}, {pr['eps_seeds']} seed(s), activations {pr['eps_activations']}.",
        f"- **Execution**: {e['executor']}; {e['concurrency']}; {e['runs_planned']} runs "
        f"planned, {e['runs_reused_from_earlier_invocations']} reused from earlier "
        f"invocations; wall time of this invocation {e['wall_seconds_this_invocation']} s "
        f"({e['started']} - {e['finished']}); 1-min load average at start/end "
        f"{e['load_average_1min_start_end']} (other work on the machine competes for the cores; "
        "timings are medians).",
        "- **Versions**: "
        + ", ".join(f"{k} {v}" for k, v in p["versions"].items() if k != "hostname"),
        "- tinybgn code that produced the runs (per-run records, `worker.tinybgn_commit`): "
        + ", ".join(p["versions"]["run_code_versions"]),
    ]
    if pr.get("notes"):
        lines.append(f"- Notes: {' '.join(pr['notes'])}")
    return "\n".join(lines) + "\n"
