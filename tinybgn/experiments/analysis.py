"""From stored run records to evidence: cells, learning-rate selection, paired tests, report.

Entry point (also behind ``tinybgn report RUNS.jsonl[.gz] --out DIR``)::

    from tinybgn.experiments.analysis import build_report, load_records
    build_report(load_records("docs/results/quick-rerun/runs.jsonl.gz"), "report/")

``build_report(records, out_dir, *, protocol=None) -> dict`` needs only the records (the
format of ``runs.jsonl``: ``id``, ``spec``, ``accuracy``, ``val_accuracy``, ...): no dataset, no
training. It writes ``table1.json`` (``cells``, ``pairs``, ``method_pairs``, ``selection``),
``table1.md``, ``table1.csv``, ``pairs.csv``, ``method_pairs.csv`` (gradient methods against no
method and against BGN), ``selection.csv``, ``runs.csv`` (one flat row per run),
``timing.md/.csv``, ``claims.md/.json``, ``eps.md/.csv`` and its figure (if the store has
``eps`` runs), Figures 1-3, the monitor figures and ``monitor.md/.csv`` (per-layer
quantities by layer band, :mod:`tinybgn.experiments.monitors`; PNG and SVG, when the store has
the records they need), ``protocol.json`` and ``README.md`` (the summary, with the statistics
explained), and returns ``{"out_dir", "files", "cells", "pairs", "claims"}``.

``protocol`` (optional, a JSON-able dict from the runner) is copied into ``protocol.json``
under ``"runner"``; its ``data`` entry (``source``, ``name``, ``split``, ...) is shown as the
data source, ``data.majority_class_baseline`` as the one-class baseline, and
``preset.search_runs`` tells search runs from final runs in stores whose search and final runs
share ``study = "table1"`` (otherwise: a run index present at two or more rates is a search
run). Without it, ``protocol.json`` holds what the records tell.

**Roles of records** (:func:`role`): ``spec.study`` ``"search"`` / ``"final"``, or
``"table1"`` split into the two as just said; ``"probe"`` or ``"figures"`` (Figures 2-3);
``"init_probe"`` (Figure 1); ``"eps"``; any other name is a sweep whose runs are its cells
(its learning rate, if it varies, is a cell key).

**Cells.** A cell is every key of the spec except the per-run labels (``seed``, ``run``,
``study``, ``probe``, ``probe_batch``, ``monitor``) and, for Table 1 runs, the learning rate and
selection rule. Tables show the keys that vary (and always activation, depth, batchnorm, bgn),
so a grid of kappa x optimizer x grad_method gets one row per variant.

**Selection** (issue 11): from the search runs of a cell, the best rate by mean validation
accuracy (``"validation"``) and by mean test accuracy (``"paper"``; diverged runs count as 0;
ties go to the smaller rate). Under ``"validation"`` a cell's values are the test accuracies of
its final runs; under ``"paper"`` the search runs at the chosen rate are counted among them (the
paper's 5 + 10 = 15), as the records' ``spec.selection`` says. The selection table shows both
rates and the size of the bias where both can be computed.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tinybgn.errors import TinyBGNError
from tinybgn.experiments import monitors, stats
from tinybgn.experiments.spec import NEW_DEFAULTS

#: Spec keys added after the first stores, with the value an old record means (one table,
#: the runner's: a new key enters a job id only when it differs from it).
SPEC_DEFAULTS = NEW_DEFAULTS
#: Per-run labels: never part of a cell.
RUN_LABELS = ("seed", "run", "study", "probe", "probe_batch", "monitor")
#: Keys that only matter when BGN is on (ignored when matching a BGN cell with its baseline).
BGN_KEYS = ("bgn", "bgn_kappa", "bgn_every", "bgn_scope")
#: Always shown, in this order, before the other varying keys.
MAIN_KEYS = ("activation", "depth", "batchnorm", "bgn")
#: Settings that make a cell one of the paper's 48 (with its activation, depth, batchnorm and
#: bgn): the paper's data, network and optimizer. Adam's eps and the batch size are what
#: tinybgn assumes the paper used (Keras's defaults 1e-7 and 32; the paper states neither).
#: A cell that differs in any (a residual net, Fashion-MNIST, SGD, eps 1e-24, BGN every 3rd
#: layer, ...) is not compared with the paper's number.
PAPER_SETTINGS = {"dataset": "mnist", "builder": "mlp", "width": 64, "optimizer": "adam",
                  "adam_eps": 1e-7, "batch_size": 32, "grad_method": "none", "bgn_every": 1,
                  "bgn_scope": "batch"}  # fmt: skip
#: Spec keys every record must have (the others have defaults or are optional).
REQUIRED_SPEC_KEYS = ("study", "activation", "depth", "batchnorm", "bgn", "lr", "seed", "run")


class ReportError(TinyBGNError, ValueError):
    """The run file cannot be read or holds no usable records."""


# -- reading -------------------------------------------------------------------------------------
def load_records(path: str | Path) -> list[dict]:
    """Records of a ``runs.jsonl`` or ``runs.jsonl.gz``; a torn last line is skipped."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"no run file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise ReportError(f"cannot read {path}: {err}") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):  # torn last line of an interrupted run
                continue
            raise ReportError(f"{path}:{number}: not a JSON record ({err})") from err
        if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
            raise ReportError(f"{path}:{number}: a record needs a 'spec' object")
        missing = [k for k in REQUIRED_SPEC_KEYS if k not in record["spec"]]
        if missing:
            raise ReportError(f"{path}:{number}: the record's spec lacks {', '.join(missing)}")
        for key in ("accuracy", "val_accuracy"):
            value = record.get(key)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ReportError(f"{path}:{number}: {key} must be a finite number or null")
        records.append(record)
    if not records:
        raise ReportError(f"{path} holds no run records")
    return records


def spec_of(record: dict) -> dict:
    """The record's spec with the defaults of the keys added later filled in."""
    return {**SPEC_DEFAULTS, **record["spec"]}


KNOWN_STUDIES = ("table1", "search", "final", "figures", "probe", "init_probe", "eps")


def _runs_by_rate(records: list[dict]) -> dict[tuple, dict[int, set]]:
    """(study, cell without lr) -> run index -> the rates it was trained at."""
    rates: dict[tuple, dict[int, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        s = spec_of(r)
        rates[(s["study"], cell_id(s, lr=False))][s["run"]].add(s["lr"])
    return rates


def assign_roles(records: list[dict], protocol: dict | None = None) -> list[tuple[str, dict]]:
    """``[(role, record)]`` with role in search, final, probe, init_probe, eps, sweep.

    Search and final runs that share one study name (``"table1"``, or a sweep's name with an
    LR search) are told apart by run index: with the protocol's ``preset.search_runs``, runs
    below it are the search; otherwise a run index trained at two or more rates is a search
    run. A sweep (any other name) whose run indices are all trained at several rates, or all
    at one, has no search: its runs are cells (``sweep``), their rate a key if it varies."""
    search_runs = ((protocol or {}).get("preset") or {}).get("search_runs")
    roles: dict[tuple, str] = {}
    for (study, cid), runs in _runs_by_rate(records).items():
        if study in KNOWN_STUDIES and study != "table1":
            continue
        multi = {run for run, lrs in runs.items() if len(lrs) >= 2}
        if study != "table1" and (not multi or multi == set(runs)):
            continue  # no search: role "sweep"
        for run in runs:
            is_search = run < search_runs if search_runs is not None else run in multi
            roles[(study, cid, run)] = "search" if is_search else "final"
    out = []
    for r in records:
        s = spec_of(r)
        out.append((roles.get((s["study"], cell_id(s, lr=False), s["run"])) or role(s), r))
    return out


def role(spec: dict) -> str:
    """The role a study name gives by itself (``table1`` and sweeps: see :func:`assign_roles`)."""
    study = spec["study"]
    if study == "figures":
        return "probe"
    if study in KNOWN_STUDIES and study != "table1":
        return study
    return "sweep"


def cell_id(spec: dict, *, lr: bool, selection: bool = False) -> tuple:
    """The spec without its run labels (and without lr / selection unless asked)."""
    drop = (
        set(RUN_LABELS)
        | ({"lr"} if not lr else set())
        | ({"selection"} if not selection else set())
    )
    return tuple(sorted((k, v) for k, v in spec.items() if k not in drop))


def varying_keys(specs: Iterable[dict], ignore: Iterable[str] = ()) -> list[str]:
    """Keys whose value differs between the specs (MAIN_KEYS first, always included)."""
    specs = list(specs)
    keys = sorted({k for s in specs for k in s} - set(ignore) - set(RUN_LABELS))
    vary = [k for k in keys if len({json.dumps(s.get(k)) for s in specs}) > 1]
    return list(MAIN_KEYS) + [k for k in vary if k not in MAIN_KEYS]


def accuracy_or_zero(record: dict, key: str = "accuracy") -> float:
    """A score for rate selection: a diverged run counts as 0."""
    value = record.get(key)
    return 0.0 if value is None else float(value)


# -- cells ---------------------------------------------------------------------------------------
def table1_cells(roles: list[tuple[str, dict]]) -> list[dict]:
    """One entry per cell of the final (or sweep) runs: keys, statistics, runs, best rates.

    Each: ``key`` (the cell's spec, a dict), ``selection``, ``lr`` (the rate of its runs),
    ``records`` (the runs whose test accuracy the cell reports), ``search`` (its search runs).
    """
    search: dict[tuple, list[dict]] = defaultdict(list)
    for r_role, rec in roles:
        if r_role == "search":
            search[cell_id(spec_of(rec), lr=False)].append(rec)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r_role, rec in roles:
        s = spec_of(rec)
        if r_role == "final":
            groups[(cell_id(s, lr=False), s["selection"], s["lr"])].append(rec)
        elif r_role == "sweep":
            groups[(cell_id(s, lr=True) + (("study", s["study"]),), None, s["lr"])].append(rec)
    cells = []
    for (cid, selection, lr), recs in groups.items():
        key_spec = dict(cid)
        searched = search.get(tuple(x for x in cid if x[0] != "study"), [])
        runs = list(recs)
        if selection == "paper":
            # The paper counts the search runs at the chosen rate among the cell's runs.
            runs += [r for r in searched if spec_of(r)["lr"] == lr]
        cells.append(
            {"key": key_spec, "selection": selection, "lr": lr, "records": runs, "search": searched}
        )
    cells.sort(key=lambda c: _sort_key(c["key"], c["selection"]))
    return cells


def _sort_key(key: dict, selection) -> tuple:
    order = {"relu": 0, "sigmoid": 1, "tanh": 2}
    rest = tuple((k, json.dumps(v)) for k, v in sorted(key.items()) if k not in MAIN_KEYS)
    return (
        order.get(key.get("activation"), 9),
        str(key.get("activation")),
        rest,
        bool(key.get("batchnorm")),
        bool(key.get("bgn")),
        key.get("depth") or 0,
        str(selection),
    )


def is_paper_cell(key: dict) -> bool:
    """Whether a cell's full key has the paper's settings (:data:`PAPER_SETTINGS`; κ unset or
    √width), so that its accuracy may be set beside the paper's."""
    value = {**SPEC_DEFAULTS, **key}.get
    kappa = value("bgn_kappa")
    width = value("width")
    return all(value(k) == v for k, v in PAPER_SETTINGS.items()) and (
        kappa is None or not value("bgn") or (width is not None and kappa == width**0.5)
    )


def summarize_cell(cell: dict, columns: list[str], *, seed: int = 0) -> dict:
    """The JSON row of a cell: its keys, n, mean, sd (ddof=1), ci95, diverged, one-class runs."""
    recs = sorted(cell["records"], key=lambda r: (spec_of(r)["run"], spec_of(r)["seed"]))
    ok = [r for r in recs if r.get("accuracy") is not None]
    accs = [float(r["accuracy"]) for r in ok]
    top = [r["top_class_fraction"] for r in ok if r.get("top_class_fraction") is not None]
    seconds = [r["seconds_per_epoch"] for r in recs if r.get("seconds_per_epoch") is not None]
    row = {k: cell["key"].get(k) for k in columns}
    row["paper_cell"] = is_paper_cell(cell["key"])
    row.update(stats.describe(accs, seed=seed))
    row.update(
        {
            "runs": len(recs),
            "diverged": len(recs) - len(ok),
            "one_class_runs": int(sum(t >= ONE_CLASS for t in top)),
            "selection": cell["selection"],
            "lr": cell["lr"],
            "seconds_per_epoch_median": float(np.median(seconds)) if seconds else None,
            "accuracies": accs,
            "seeds": [spec_of(r)["seed"] for r in ok],
        }
    )
    return row


#: A run whose most-predicted class takes at least this share of the test predictions
#: "predicts one class" (the same threshold as table1.ONE_CLASS).
ONE_CLASS = 0.95


def _match_key(key: dict, selection, ignore: Iterable[str] = ()) -> tuple:
    return (tuple((k, v) for k, v in sorted(key.items()) if k not in set(ignore)), selection)


def _compare(treated: dict, baseline: dict, columns: list[str], label: str, seed: int) -> dict:
    """One pair row: the treated cell's keys, both means and the paired comparison by seed."""
    result = stats.paired_comparison(
        _by_seed(treated["records"]), _by_seed(baseline["records"]), seed=seed
    )
    row = {k: treated["key"].get(k) for k in columns}
    row.update(
        {
            "baseline": label,
            "selection": treated["selection"],
            "treated_mean": stats.mean(_accs(treated["records"])),
            "baseline_mean": stats.mean(_accs(baseline["records"])),
            **result,
        }
    )
    return row


def paired_rows(cells: list[dict], columns: list[str], *, seed: int = 0) -> list[dict]:
    """Every BGN cell against its baseline: the cell with bgn False and all else equal
    (bgn_kappa / bgn_every / bgn_scope ignored), same selection rule; paired by seed."""
    baselines = {
        _match_key(c["key"], c["selection"], BGN_KEYS): c for c in cells if not c["key"].get("bgn")
    }
    return [
        _compare(c, baselines[k], columns, "same cell without BGN", seed)
        for c in cells
        if c["key"].get("bgn")
        and (k := _match_key(c["key"], c["selection"], BGN_KEYS)) in baselines
    ]


def method_rows(cells: list[dict], columns: list[str], *, seed: int = 0) -> list[dict]:
    """Every cell with a gradient method (``grad_method`` not "none": block_normalized, clip,
    frozen_bgn) against the same cell with ``grad_method = "none"`` and, when it has no BGN,
    against the BGN cells with ``grad_method = "none"`` (the methods BGN is compared with); a
    method on a BGN network (frozen_bgn) also against the same network without BGN."""
    ignore = ("grad_method", "clip_norm")
    plain = {}
    for c in cells:
        if c["key"].get("grad_method", "none") == "none":
            plain.setdefault(_match_key(c["key"], c["selection"], ignore), []).append(c)
            plain.setdefault(_match_key(c["key"], c["selection"], ignore + BGN_KEYS), []).append(c)
    rows = []
    for c in cells:
        method = c["key"].get("grad_method", "none")
        if method == "none":
            continue
        for b in plain.get(_match_key(c["key"], c["selection"], ignore), []):
            rows.append(_compare(c, b, columns, "same cell, grad_method none", seed))
        for b in plain.get(_match_key(c["key"], c["selection"], ignore + BGN_KEYS), []):
            if not c["key"].get("bgn") and b["key"].get("bgn"):
                what = variant_label(b["key"], [k for k in BGN_KEYS[1:] if k in columns])
                rows.append(_compare(c, b, columns, f"{what}, grad_method none", seed))
            elif c["key"].get("bgn") and not b["key"].get("bgn"):  # frozen_bgn vs no BGN at all
                rows.append(_compare(c, b, columns, "same cell without BGN", seed))
    return rows


def _by_seed(records: list[dict]) -> dict:
    return {spec_of(r)["seed"]: r.get("accuracy") for r in records}


def _accs(records: list[dict]) -> list[float]:
    return [float(r["accuracy"]) for r in records if r.get("accuracy") is not None]


def best_rate(search: list[dict], key: str) -> tuple[float | None, float | None]:
    """(rate, its mean score) with the highest mean ``key`` over the search runs (diverged = 0,
    ties -> the smaller rate); (None, None) if a search run lacks ``key``."""
    by_lr: dict[float, list[float]] = defaultdict(list)
    for r in search:
        if key not in r or (r.get(key) is None and r.get("diverged") is None):
            return None, None
        by_lr[spec_of(r)["lr"]].append(accuracy_or_zero(r, key))
    if not by_lr:
        return None, None
    lr = min(by_lr, key=lambda x: (-float(np.mean(by_lr[x])), x))
    return lr, float(np.mean(by_lr[lr]))


def selection_rows(cells: list[dict], finals: list[dict], columns: list[str]) -> list[dict]:
    """Per cell with search runs: the validation-best and test-best ("paper") rates and what
    each gives. ``validation_test_mean``: test accuracy of the final runs at the validation-best
    rate; ``paper_test_mean``: test accuracy of the runs at the test-best rate, its search runs
    counted (the paper's procedure); ``bias`` = paper - validation. ``paper_finals_mean``: the
    fresh final runs at the test-best rate alone, so ``search_runs_bias`` = paper - that
    measures what counting the choosing search runs adds (computable in old stores too)."""
    finals_at: dict[tuple, list[dict]] = defaultdict(list)
    for rec in finals:
        s = spec_of(rec)
        finals_at[(cell_id(s, lr=False), s["lr"])].append(rec)
    rows, seen = [], set()
    for c in cells:
        cid = tuple(sorted(c["key"].items()))
        if not c["search"] or cid in seen:
            continue
        seen.add(cid)
        val_lr, val_score = best_rate(c["search"], "val_accuracy")
        test_lr, test_score = best_rate(c["search"], "accuracy")
        val_runs = finals_at.get((cid, val_lr), []) if val_lr is not None else []
        paper_runs = finals_at.get((cid, test_lr), []) + [
            r for r in c["search"] if spec_of(r)["lr"] == test_lr
        ]
        v, p = stats.mean(_accs(val_runs)), stats.mean(_accs(paper_runs))
        fresh = stats.mean(_accs(finals_at.get((cid, test_lr), [])))
        row = {k: c["key"].get(k) for k in columns}
        row.update(
            {
                "lr_validation": val_lr,
                "val_score": val_score,
                "validation_test_mean": v,
                "validation_n": len(_accs(val_runs)),
                "lr_paper": test_lr,
                "search_test_score": test_score,
                "paper_test_mean": p,
                "paper_n": len(_accs(paper_runs)),
                "paper_finals_mean": fresh,
                "bias": None if v is None or p is None else p - v,
                "search_runs_bias": None if fresh is None or p is None else p - fresh,
            }
        )
        rows.append(row)
    return rows


# -- eps study and timing -------------------------------------------------------------------------
def eps_rows(roles: list[tuple[str, dict]], *, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """The eps study: one row per (cell, eps) and BGN-vs-plain pairs per eps (paired by seed)."""
    recs = [r for role_, r in roles if role_ == "eps"]
    if not recs:
        return [], []
    columns = varying_keys([spec_of(r) for r in recs], ignore=("lr",))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in recs:
        groups[cell_id(spec_of(r), lr=True)].append(r)
    rows, by_key = [], {}
    for cid, rs in groups.items():
        key = dict(cid)
        row = {k: key.get(k) for k in columns if k != "adam_eps"}
        row["adam_eps"] = key["adam_eps"]
        row.update(stats.describe(_accs(rs), seed=seed))
        row["runs"], row["diverged"] = len(rs), len(rs) - len(_accs(rs))
        rows.append(row)
        by_key[cid] = rs
    pairs = []
    for cid, rs in by_key.items():
        key = dict(cid)
        if not key.get("bgn"):
            continue
        base = {**key, "bgn": False}
        base_cid = next(
            (c for c in by_key if _drop_bgn(dict(c)) == _drop_bgn(base) and not dict(c)["bgn"]),
            None,
        )
        if base_cid is None:
            continue
        res = stats.paired_comparison(_by_seed(rs), _by_seed(by_key[base_cid]), seed=seed)
        row = {k: key.get(k) for k in columns if k not in BGN_KEYS}
        pairs.append({**row, "adam_eps": key["adam_eps"], **res})
    order = {"relu": 0, "sigmoid": 1, "tanh": 2}

    def sort(r):
        return (order.get(r["activation"], 9), bool(r.get("bgn")), -r["adam_eps"])

    return sorted(rows, key=sort), sorted(pairs, key=sort)


def _drop_bgn(key: dict) -> dict:
    return {k: v for k, v in key.items() if k not in BGN_KEYS}


def _cpu(rec: dict) -> str | None:
    return (rec.get("worker") or {}).get("cpu")


def timing_rows(roles: list[tuple[str, dict]]) -> list[dict]:
    """Median seconds per epoch of every architecture (all its Table 1 / sweep training runs,
    whatever their rate) and its time ratio to the same architecture without BN and BGN.

    A store that spans several machines (``worker.cpu``; a long run can resume on another)
    gets one row per architecture and CPU, and a ratio compares runs of one CPU only."""
    timed = [
        (r_role, rec)
        for r_role, rec in roles
        if r_role in ("search", "final", "sweep") and rec.get("seconds_per_epoch") is not None
    ]
    several_cpus = len({_cpu(rec) for _, rec in timed}) > 1
    groups: dict[tuple, list[float]] = defaultdict(list)
    for _, rec in timed:
        drop = ("lr", "selection", "adam_eps")
        cid = tuple(x for x in cell_id(spec_of(rec), lr=False) if x[0] not in drop)
        groups[cid + ((("cpu", _cpu(rec)),) if several_cpus else ())].append(
            float(rec["seconds_per_epoch"])
        )
    medians = {cid: float(np.median(v)) for cid, v in groups.items()}
    rows = []
    for cid, med in medians.items():
        key = dict(cid)
        plain = _drop_bgn(key) | {"batchnorm": False}
        ref = next(
            (
                m
                for c, m in medians.items()
                if _drop_bgn(dict(c)) == plain and not dict(c).get("bgn")
            ),
            None,
        )
        rows.append(
            {
                "key": key,
                "activation": key.get("activation"),
                "depth": key.get("depth"),
                "batchnorm": key.get("batchnorm"),
                "bgn": key.get("bgn"),
                "cpu": key.get("cpu"),  # None: the store ran on one CPU
                "runs": len(groups[cid]),
                "seconds_per_epoch_median": med,
                "ratio_to_plain": None if ref is None else med / ref,
            }
        )
    rows.sort(key=lambda r: _sort_key(r["key"], None))
    return rows


def timing_ratios(rows: list[dict]) -> dict[str, list[float]]:
    """Per architecture, the ratios the paper quotes: BGN/none, BN/none, BN+BGN/BN, BGN/BN."""
    t = {tuple(sorted(r["key"].items())): r["seconds_per_epoch_median"] for r in rows}
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        k = r["key"]
        if k.get("bgn") or k.get("batchnorm"):
            continue

        def time(bn, bgn, _k=k):
            want = _k | {"batchnorm": bn, "bgn": bgn}
            return next(
                (
                    v
                    for c, v in t.items()
                    if _drop_bgn(dict(c)) == _drop_bgn(want) and dict(c).get("bgn") == bgn
                ),
                None,
            )

        none, bgn, bn, both = (
            time(False, False),
            time(False, True),
            time(True, False),
            time(True, True),
        )
        for name, num, den in (
            ("BGN/none", bgn, none),
            ("BN/none", bn, none),
            ("BN+BGN/BN", both, bn),
            ("BGN/BN", bgn, bn),
        ):
            if num and den:
                out[name].append(num / den)
    return dict(out)


# -- figure data ---------------------------------------------------------------------------------
def variant_label(key: dict, extra: list[str]) -> str:
    """``none`` / ``BGN`` / ``BN`` / ``BN+BGN`` plus the other keys that vary (``k=v``)."""
    base = {(False, False): "none", (False, True): "BGN", (True, False): "BN"}.get(
        (bool(key.get("batchnorm")), bool(key.get("bgn"))), "BN+BGN"
    )
    parts = [f"{k}={_short(key.get(k))}" for k in extra if k not in BGN_KEYS or key.get("bgn")]
    return " ".join([base, *parts])


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def curves(roles, wanted_role: str, extract) -> tuple[dict, list[str]]:
    """``{activation: {variant: [curve per seed]}}`` from the records of one role.

    ``extract(record) -> [(key overrides, curve), ...]``; the variant label uses the keys
    that vary among those records besides activation, depth, BN and BGN (and the rate).
    """
    items = []
    for r_role, rec in roles:
        if r_role == wanted_role and rec.get("probe"):
            for override, curve in extract(rec):
                items.append(({**spec_of(rec), **override}, curve))
    if not items:
        return {}, []
    extra = [
        k
        for k in varying_keys([s for s, _ in items], ignore=("lr", "selection", "depth"))
        if k not in MAIN_KEYS
    ]
    data: dict = {}
    for s, curve in items:
        variant = variant_label(s, extra)
        data.setdefault(s["activation"], {}).setdefault(variant, []).append(curve)
    depths = sorted({s["depth"] for s, _ in items})
    return data, [str(d) for d in depths]


def _fig1_extract(rec):
    """Figure 1 curves of an ``init_probe`` record: ``probe`` = ``{"delta", "weight"}`` (as
    :func:`tinybgn.probes.gradient_norms` gives), or under ``probe["init"]``, or - for a probe
    run of 0 epochs - the network's own ``probe["trained_bgn<0|1>"]``."""
    probe = rec["probe"]
    probe = probe.get("init", probe)
    if "delta" in probe:
        return [({}, {"delta": probe["delta"], "weight": probe["weight"]})]
    own = probe.get(f"trained_bgn{int(bool(spec_of(rec)['bgn']))}")
    return [({}, own)] if own else []


def _fig2_extract(rec):
    # Figure 2 shows networks trained *without* BGN; the BGN curves are the same weights
    # measured with BGN inserted (record["probe"]["trained_bgn1"]).
    if spec_of(rec)["bgn"]:
        return []
    return [
        ({"bgn": bool(b)}, rec["probe"][f"trained_bgn{b}"])
        for b in (0, 1)
        if f"trained_bgn{b}" in rec["probe"]
    ]


def _fig3_extract(rec):
    wc = rec["probe"].get("weight_change")
    return [({}, wc)] if wc is not None else []


# -- the report ----------------------------------------------------------------------------------
def analyse(records: list[dict], protocol: dict | None = None, *, seed: int = 0) -> dict:
    """Every table of the report as plain data (what :func:`build_report` writes)."""
    roles = assign_roles(records, protocol)
    cells = table1_cells(roles)
    finals = [r for role_, r in roles if role_ == "final"]
    specs = [c["key"] for c in cells]
    columns = varying_keys(specs) if specs else list(MAIN_KEYS)
    if len({c["selection"] for c in cells}) > 1:
        columns.append("selection")
    rows = [summarize_cell(c, columns, seed=seed) for c in cells]
    eps, eps_pairs = eps_rows(roles, seed=seed)
    timing = timing_rows(roles)
    return {
        "roles": roles,
        "columns": columns,
        "cells": rows,
        "pairs": paired_rows(cells, columns, seed=seed),
        "method_pairs": method_rows(cells, columns, seed=seed),
        "selection": selection_rows(cells, finals, columns),
        "eps": eps,
        "eps_pairs": eps_pairs,
        "timing": timing,
        "timing_ratios": timing_ratios(timing),
        "figure1": curves(roles, "init_probe", _fig1_extract)[0],
        "figure2": curves(roles, "probe", _fig2_extract)[0],
        "figure3": curves(roles, "probe", _fig3_extract)[0],
        # A cell's own runs (its final runs at the chosen rate), not its search runs at
        # other rates, which would blur the curves.
        "monitor": [
            (spec_of(r), r["monitor"]) for c in cells for r in c["records"] if r.get("monitor")
        ],
        "monitor_rows": monitors.monitor_rows(cells, columns),
        "majority": _majority(protocol),
    }


def build_report(records: list[dict], out_dir: str | Path, *, protocol: dict | None = None) -> dict:
    """Write every table and figure that ``records`` support to ``out_dir`` (see the module
    docstring); returns ``{"out_dir", "files", "cells", "pairs", "claims"}``."""
    from tinybgn.experiments import claims as claims_mod
    from tinybgn.experiments import figures

    if not records:
        raise ReportError("no run records to report on")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot create the output folder {out}: {err}") from err
    a = analyse(records, protocol)
    a["claims"] = claims_mod.evaluate(a)
    files = write_tables(a, out, protocol)
    captions = figures.write_report_figures(a, out)
    files += [f for fs in captions.values() for f in fs["files"]]
    files += write_summary(a, out, protocol, captions)
    return {
        "out_dir": str(out),
        "files": sorted(str(f) for f in files),
        "cells": a["cells"],
        "pairs": a["pairs"],
        "claims": a["claims"],
    }


def write_csv(rows: list[dict], path: Path, columns: list[str] | None = None) -> Path:
    """Rows as CSV (lists and dicts as JSON; floats with 6 significant digits)."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_value(r.get(k)) for k in columns])
    return path


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, list | dict | tuple):
        return json.dumps(v)
    return v


# -- writing -------------------------------------------------------------------------------------
def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != 0 and abs(v) < 10.0**-digits:  # a learning rate or an eps: not "0.000"
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return str(v)


def _cell_text(r: dict) -> str:
    """``mean ± sd [low, high] (n)``; a single run has neither sd nor interval."""
    if r["sd"] is None:
        return f"{r['mean']:.3f} ({r['n']})"
    return f"{r['mean']:.3f} ± {r['sd']:.3f} {_ci(r['ci95'])} ({r['n']})"


def _ci(ci) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _p(p) -> str:
    return "-" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; a ``|`` inside a cell (as in ||delta||) is escaped."""

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def _paper_value(row: dict, columns: list[str]):
    """The paper's mean ± std for a row that is one of its 48 cells (:func:`is_paper_cell`)."""
    from tinybgn.experiments.table1 import PAPER_TABLE1

    others = [k for k in columns if k not in MAIN_KEYS and k != "selection"]
    if not row.get("paper_cell", True) or any(
        row.get(k) != SPEC_DEFAULTS.get(k, row.get(k)) for k in others
    ):
        return None
    return PAPER_TABLE1.get((row["activation"], row["batchnorm"], row["bgn"]), {}).get(row["depth"])


def table1_markdown(a: dict, majority: float | None) -> str:
    """Table 1 as a grid (rows: every cell key but depth; columns: depths), then the pairs."""
    columns = a["columns"]
    row_keys = [k for k in columns if k != "depth"]
    depths = sorted({r["depth"] for r in a["cells"]})
    grid: dict[tuple, dict] = {}
    for r in a["cells"]:
        grid.setdefault(tuple(json.dumps(r.get(k)) for k in row_keys), {})[r["depth"]] = r
    lines = [
        "# Table 1 - test accuracy: mean ± sd [95 % interval] (n runs)",
        "",
        "Each cell: ours, then the paper's mean ± std in parentheses where the cell is one of "
        "the paper's (15 runs of 20 epochs). sd divides by n - 1; the interval is a percentile "
        "bootstrap over runs (see the statistics paragraph below).",
        "",
    ]
    if majority is not None:
        lines += [
            f"Majority-class baseline of the test split: **{majority:.4f}** (a network that "
            "predicts one class scores this; the paper's 0.114 is MNIST's largest test class).",
            "",
        ]
    body = []
    for rk, by_depth in grid.items():
        entries = []
        for d in depths:
            r = by_depth.get(d)
            if r is None:
                entries.append("-")
                continue
            text = "no finished run" if r["mean"] is None else _cell_text(r)
            if r["diverged"]:
                text += f", {r['diverged']} div."
            paper = _paper_value(r, columns)
            if paper:
                text += f" (paper {paper[0]:.3f} ± {paper[1]:.3f})"
            entries.append(text)
        body.append([json.loads(v) if v != "null" else "-" for v in rk] + entries)
    body = [[_fmt(x) for x in row] for row in body]
    lines += _md_table(row_keys + [f"{d} layers" for d in depths], body)
    lines += ["", "## BGN against its baseline (the same cell without BGN), paired by seed", ""]
    lines += pairs_markdown(a["pairs"], columns)
    if a["method_pairs"]:
        lines += ["", "## Gradient methods against no method and against BGN, paired by seed", ""]
        lines += pairs_markdown(a["method_pairs"], columns, treated="method")
    lines += ["", "## Learning rate chosen per cell", ""] + selection_markdown(a, columns)
    lines += ["", stats.METHOD_TEXT]
    return "\n".join(lines) + "\n"


def pairs_markdown(pairs: list[dict], columns: list[str], treated: str = "BGN") -> list[str]:
    """The pair rows as a markdown table; ``treated`` names the treated side's column."""
    if not pairs:
        return ["No BGN cell has a baseline cell in this store."]
    keys = [k for k in columns if k not in BGN_KEYS] + [k for k in BGN_KEYS if k in columns]
    if treated != "BGN":
        keys.append("baseline")
    rows = [
        [_fmt(p.get(k)) for k in keys]
        + [
            _fmt(p["treated_mean"]),
            _fmt(p["baseline_mean"]),
            f"{p['n']}",
            _fmt(p["diff"]),
            _ci(p["ci95"]),
            _p(p["p"]),
            _p(p["min_p"]),
            f"**{p['verdict']}**",
        ]
        for p in pairs
    ]
    counts = {v: sum(p["verdict"] == v for p in pairs) for v in ("better", "worse")}
    header = keys + [treated, "baseline mean", "pairs", "diff", "95 % interval", "p", "min. p"]
    return _md_table(header + ["verdict"], rows) + [
        "",
        f"{treated} better in {counts['better']} of {len(pairs)} pairs, worse in "
        f"{counts['worse']}, indistinguishable in "
        f"{len(pairs) - counts['better'] - counts['worse']} (min. p: the smallest p-value that "
        "this many pairs can give).",
    ]


def selection_markdown(a: dict, columns: list[str]) -> list[str]:
    rows = a["selection"]
    if not rows:
        return ["No learning-rate search runs in this store."]
    have_val = any(r["lr_validation"] is not None for r in rows)
    lines = [
        "Rate with the best mean validation accuracy of the search runs (**validation**, the "
        "honest choice) and with the best mean *test* accuracy (**paper**: the paper's "
        "procedure, whose search runs then count among the cell's runs). Test accuracy of the "
        "runs at each rate; bias = paper - validation. *Final runs only*: the fresh runs at "
        "the paper's rate without the search runs that chose it; *search-run bias* = paper - "
        "final runs only, what counting the choosing runs adds.",
        "",
    ]
    if not have_val:
        lines += [
            "This store has no validation accuracies (its runs predate the validation split), "
            "so only the paper's test-scored choice can be shown; its numbers are biased "
            "upwards by an unknown amount.",
            "",
        ]
    body = [
        [_fmt(r.get(k)) for k in columns if k != "selection"]
        + [
            _lr(r["lr_validation"]),
            _fmt(r["validation_test_mean"]),
            str(r["validation_n"]),
            _lr(r["lr_paper"]),
            _fmt(r["paper_test_mean"]),
            str(r["paper_n"]),
            _fmt(r["paper_finals_mean"]),
            _fmt(r["search_runs_bias"]),
            _fmt(r["bias"]),
        ]
        for r in rows
    ]
    header = [k for k in columns if k != "selection"] + [
        "lr (validation)",
        "test acc.",
        "n",
        "lr (paper)",
        "test acc.",
        "n",
        "final runs only",
        "search-run bias",
        "bias",
    ]
    tail = []
    for key, name in (
        ("bias", "Bias (paper - validation)"),
        ("search_runs_bias", "Search-run bias"),
    ):
        found = [r[key] for r in rows if r[key] is not None]
        if found:
            tail += [
                "",
                f"{name}: mean {np.mean(found):+.4f}, median {np.median(found):+.4f} "
                f"over {len(found)} cells.",
            ]
    return lines + _md_table(header, body) + tail


def _lr(v) -> str:
    return "-" if v is None else f"{v:.2e}"


def timing_markdown(a: dict) -> str:
    rows = a["timing"]
    lines = ["# Training time: median seconds per epoch of each architecture", ""]
    if not rows:
        return "\n".join(lines + ["No timed training runs in this store."]) + "\n"
    extra = [k for k in a["columns"] if k not in MAIN_KEYS and k != "selection"]
    cpus = sorted({str(r["key"]["cpu"]) for r in rows if "cpu" in r["key"]})
    if cpus:
        extra.append("cpu")
        lines += [
            f"The runs of this store ran on {len(cpus)} CPUs ({', '.join(cpus)}): each row is "
            "one architecture on one CPU, and every ratio compares runs of the same CPU.",
            "",
        ]
    lines += _md_table(
        ["activation", "depth", "BN", "BGN", *extra, "runs", "s / epoch", "× plain"],
        [
            [_fmt(r["activation"]), _fmt(r["depth"]), _fmt(r["batchnorm"]), _fmt(r["bgn"])]
            + [_fmt(r["key"].get(k)) for k in extra]
            + [str(r["runs"]), f"{r['seconds_per_epoch_median']:.3f}", _fmt(r["ratio_to_plain"], 2)]
            for r in rows
        ],
    )
    lines += ["", "## Overheads: median (range) over architectures of the time ratio", ""]
    lines += _md_table(
        ["ratio", "median", "range", "architectures"],
        [
            [name, f"× {np.median(v):.2f}", f"{min(v):.2f} - {max(v):.2f}", str(len(v))]
            for name, v in a["timing_ratios"].items()
        ],
    )
    lines += [
        "",
        "Paper (90 layers, ReLU, 20 epochs of full MNIST, Keras, its machine): none 40.00 s, BGN "
        "50.83 s, BN 118.00 s, BN+BGN 127.78 s - BGN × 1.27, BN × 2.95. Times measured here "
        "depend on this engine and on the other work sharing the cores; medians resist the "
        "latter.",
        "",
        "They also depend on the numbers. NumPy keeps IEEE gradual underflow, and x86 computes "
        "with subnormal numbers (below 1.2e-38 in float32) 10-100x slower; TensorFlow's threads "
        "flush them to zero. A plain deep network whose gradients vanish computes part of its "
        "backward pass, and of Adam's v, on subnormals, so after training its seconds per epoch "
        "can exceed those of the same network with BGN, whose deltas keep norm kappa: such "
        "ratios compare arithmetic, not methods. The cost of BGN itself is the step time of a "
        "fresh network (docs/performance.md; benchmarks/bench_subnormals.py measures the "
        "subnormals of trained ones).",
    ]
    return "\n".join(lines) + "\n"


def eps_markdown(a: dict) -> str:
    lines = ["# Adam's eps against BGN: test accuracy, mean ± sd [95 % interval] (n)", ""]
    lines += _md_table(
        ["activation", "BGN", "eps", "accuracy", "runs", "diverged"],
        [
            [
                r["activation"],
                _fmt(r.get("bgn")),
                f"{r['adam_eps']:.0e}",
                "-" if r["mean"] is None else _cell_text(r),
                str(r["runs"]),
                str(r["diverged"]),
            ]
            for r in a["eps"]
        ],
    )
    lines += ["", "## BGN - plain at each eps, paired by seed", ""]
    lines += _md_table(
        ["activation", "eps", "pairs", "diff", "95 % interval", "p", "verdict"],
        [
            [
                p["activation"],
                f"{p['adam_eps']:.0e}",
                str(p["n"]),
                _fmt(p["diff"]),
                _ci(p["ci95"]),
                _p(p["p"]),
                p["verdict"],
            ]
            for p in a["eps_pairs"]
        ],
    )
    return "\n".join(lines + ["", stats.METHOD_TEXT]) + "\n"


RUN_FIELDS = (
    "accuracy",
    "val_accuracy",
    "test_loss",
    "top_class_fraction",
    "diverged",
    "train_seconds",
    "seconds_per_epoch",
    "wall_seconds",
    "finished_at",
)


def flat_runs(roles: list[tuple[str, dict]]) -> list[dict]:
    """One flat row per record: id, role, every spec key, the results, the engine version."""
    keys = sorted({k for _, r in roles for k in spec_of(r)})
    rows = []
    for r_role, rec in roles:
        s = spec_of(rec)
        row = {"id": rec.get("id"), "role": r_role, **{k: s.get(k) for k in keys}}
        row.update({k: rec.get(k) for k in RUN_FIELDS})
        row["diverged"] = rec.get("diverged") is not None
        row["tinybgn_commit"] = (rec.get("worker") or {}).get("tinybgn_commit")
        rows.append(row)
    return rows


def protocol_from_records(a: dict, protocol: dict | None) -> dict:
    """What the records say about how they were made (plus the runner's own protocol)."""
    specs = [spec_of(r) for _, r in a["roles"]]
    trained = [s for (role_, _), s in zip(a["roles"], specs, strict=True) if role_ != "init_probe"]

    def values(key, among=trained):
        found = sorted({json.dumps(s.get(key, SPEC_DEFAULTS.get(key))) for s in among})
        found = [json.loads(v) for v in found]
        return found[0] if len(found) == 1 else found

    finals = [s for (role_, _), s in zip(a["roles"], specs, strict=True) if role_ == "final"]
    runner = protocol or {}
    data = runner.get("data") or {}
    roles = defaultdict(int)
    for role_, _ in a["roles"]:
        roles[role_] += 1

    def size(key):  # a spec's None means "the whole split": the runner knows how many
        found = values(key, specs)
        return (data.get(key) or "all") if found is None else found

    return {
        "rebuilt_by": "tinybgn report (from the run records alone: no data, no training)",
        "epochs": values("epochs"),
        "builder": values("builder"),
        "width": values("width"),
        "depth": values("depth"),
        "selection": values("selection", finals or trained),
        "batch_size": values("batch_size"),
        "optimizer": values("optimizer"),
        "adam_eps": values("adam_eps", finals or trained),
        "data": {
            "source": data_source(data),
            "dataset": values("dataset", specs),
            "data_split": values("data_split", specs),
            "n_train": size("n_train"),
            "n_val": size("n_val"),
            "n_test": size("n_test"),
            "data_fingerprint": values("data_fingerprint", specs),
            "majority_class_baseline": data.get("majority_class_baseline"),
        },
        "records": dict(roles),
        "tinybgn_commits": sorted(
            {str((r.get("worker") or {}).get("tinybgn_commit")) for _, r in a["roles"]}
        ),
        "statistics": stats.METHOD_TEXT,
        "runner": runner or None,
    }


def data_source(data: dict) -> str:
    """The runner's one-line description of the data (``data.source``), else one built from
    its other fields, else a note that the records do not say."""
    if data.get("source"):
        return data["source"]
    if data.get("name"):
        where = f" from {data['directory']}" if data.get("directory") else ""
        return f"{data['name']} ({data.get('split', '?')} split){where}"
    return "not recorded in the runs (no protocol from the runner); see the spec keys"


def _json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1, default=_json_default) + "\n")
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple | set):
        return sorted(o) if isinstance(o, set) else list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o)}")


def _majority(protocol: dict | None) -> float | None:
    return ((protocol or {}).get("data") or {}).get("majority_class_baseline")


def write_tables(a: dict, out: Path, protocol: dict | None) -> list[Path]:
    """table1.json/.md/.csv, pairs.csv, selection.csv, runs.csv, timing, eps, claims, protocol."""
    majority = _majority(protocol)
    files = [
        _json(
            out / "table1.json",
            {
                "cells": a["cells"],
                "pairs": a["pairs"],
                "method_pairs": a["method_pairs"],
                "selection": a["selection"],
                "columns": a["columns"],
                "majority_class_baseline": majority,
                "statistics": stats.METHOD_TEXT,
            },
        ),
        _write(out / "table1.md", table1_markdown(a, majority)),
        write_csv(
            [{k: v for k, v in r.items() if k != "seeds"} for r in a["cells"]], out / "table1.csv"
        ),
        write_csv(a["pairs"], out / "pairs.csv") if a["pairs"] else None,
        write_csv(a["method_pairs"], out / "method_pairs.csv") if a["method_pairs"] else None,
        write_csv(a["selection"], out / "selection.csv") if a["selection"] else None,
        write_csv(flat_runs(a["roles"]), out / "runs.csv"),
        _write(out / "timing.md", timing_markdown(a)),
        write_csv(
            [{k: v for k, v in r.items() if k != "key"} for r in a["timing"]], out / "timing.csv"
        )
        if a["timing"]
        else None,
        _json(out / "claims.json", a["claims"]),
        _write(out / "claims.md", claims_markdown(a["claims"])),
        _json(out / "protocol.json", protocol_from_records(a, protocol)),
    ]
    if a["monitor_rows"]:
        extra = [k for k in a["columns"] if k not in (*MAIN_KEYS, "lr", "selection")]

        def label(row: dict) -> str:
            return f"{row['activation']} {row['depth']} {variant_label(row, extra)}"

        files += [
            _write(out / "monitor.md", monitors.monitor_markdown(a["monitor_rows"], label)),
            write_csv(a["monitor_rows"], out / "monitor.csv"),
        ]
    if a["eps"]:
        files += [
            _write(out / "eps.md", eps_markdown(a)),
            write_csv(a["eps"], out / "eps.csv"),
            write_csv(a["eps_pairs"], out / "eps_pairs.csv") if a["eps_pairs"] else None,
        ]
    return [f for f in files if f is not None]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def claims_markdown(claims: list[dict]) -> str:
    lines = [
        "# The paper's claims, tested by this run",
        "",
        "Claims (i)-(iv) of the paper's introduction and its timing claim. Every number and "
        "verdict below is computed from the run records by `tinybgn.experiments.claims`; the "
        "rule of each verdict is given beside it.",
        "",
    ]
    lines += _md_table(
        ["claim", "what the paper says", "tested by", "this run", "verdict", "rule"],
        [
            [c["id"], c["claim"], c["test"], c["value"], f"**{c['verdict']}**", c["rule"]]
            for c in claims
        ],
    )
    return "\n".join(lines) + "\n"


def glance(a: dict) -> list[str]:
    """Counts that summarise the tables: cells, runs per cell, pair verdicts, selection bias."""
    lines = []
    if a["cells"]:
        n = [c["n"] for c in a["cells"]]
        lines.append(
            f"- {len(a['cells'])} cells (`table1.md`), {min(n)}-{max(n)} finished runs each."
        )
    for name, pairs in (("BGN vs baseline", a["pairs"]), ("gradient methods", a["method_pairs"])):
        if pairs:
            count = {
                v: sum(p["verdict"] == v for p in pairs)
                for v in ("better", "worse", "indistinguishable")
            }
            lines.append(
                f"- {name}: better in {count['better']}, worse in {count['worse']}, "
                f"indistinguishable in {count['indistinguishable']} of {len(pairs)} pairs."
            )
    for key, what in (
        ("bias", "paper - validation selection"),
        ("search_runs_bias", "counting the choosing search runs"),
    ):
        found = [r[key] for r in a["selection"] if r[key] is not None]
        if found:
            lines.append(
                f"- Selection bias ({what}): mean {np.mean(found):+.4f} over {len(found)} cells."
            )
    return lines or ["- No Table 1 or sweep cells in this store."]


#: Written at the top of README.md when the folder holds a hand-written discussion.md.
DISCUSSION_LINK = (
    "**Discussion of these results: [discussion.md](discussion.md)** (written by hand; its "
    "numbers come from the files of this folder).",
    "",
)


def write_summary(a: dict, out: Path, protocol: dict | None, captions: dict) -> list[Path]:
    """README.md: what this folder holds, the claims, the statistics paragraph, the figures."""
    p = protocol_from_records(a, protocol)
    d = p["data"]
    lines = [
        "# Report rebuilt from the stored runs",
        "",
        f"Built by `tinybgn report` from {sum(p['records'].values())} run records "
        f"({', '.join(f'{n} {r}' for r, n in sorted(p['records'].items()))}); no dataset was "
        "read and nothing was trained.",
        "",
        *(DISCUSSION_LINK if (out / "discussion.md").exists() else ()),
        f"- Data: {d['source']}; dataset {d['dataset']}, split {d['data_split']}, "
        f"n_train {d['n_train']}, n_val {d['n_val']}, n_test {d['n_test']}, fingerprint "
        f"{d['data_fingerprint']}.",
        f"- Network: builder {p['builder']}, width {p['width']}, hidden layers {p['depth']}.",
        f"- Training: {p['epochs']} epochs, batch {p['batch_size']}, optimizer {p['optimizer']}, "
        f"Adam eps {p['adam_eps']}; learning rate selection: {p['selection']}.",
        "- Engine versions of the runs (`worker.tinybgn_commit`): "
        + ", ".join(p["tinybgn_commits"])
        + ".",
        "",
        "## At a glance",
        "",
        *glance(a),
        "",
        "## Claims",
        "",
        *claims_markdown(a["claims"]).splitlines()[4:],
        "",
        "## Statistics",
        "",
        stats.METHOD_TEXT,
        "",
        "## Files",
        "",
        "- `table1.md` / `table1.json` / `table1.csv`: cells (mean, sd, 95 % interval), "
        "`pairs.csv`: BGN vs baseline, `selection.csv`: the learning rate per cell and the "
        "selection bias.",
        "- `timing.md` / `timing.csv`, `claims.md` / `claims.json`, `runs.csv` (one row per run), "
        "`protocol.json`." + (" `eps.md` / `eps.csv`: the eps study." if a["eps"] else ""),
        "",
        "## Figures",
        "",
    ]
    for name, info in captions.items():
        if info["files"]:
            png = next(f for f in info["files"] if f.suffix == ".png")
            lines += [f"### {info['title']}", "", f"![{name}]({png.name})", "", info["caption"], ""]
        else:
            lines += [f"### {info['title']}", "", info["caption"], ""]
    return [_write(out / "README.md", "\n".join(lines) + "\n")]
