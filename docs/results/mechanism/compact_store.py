"""A small copy of the mechanism store for git, keeping everything the report reads.

The full store (``report/runs.jsonl``) holds a per-layer monitor in every record: 6 quantities x
91 layers x 20 epochs at full float precision, ~120 KB a run. The report draws the monitors of
the runs that make a cell (final runs at the chosen rate, or a sweep's runs: ``analysis.analyse``),
never those of rate-search runs, so the copy keeps every record and every field, but

* drops the monitor of the rate-search runs (role ``search`` of ``analysis.assign_roles``), and
* rounds the other monitor values to 4 significant digits (the figures are log plots and band
  medians: 4 digits are far below what they resolve).

Accuracies, losses, histories and specs are copied unchanged. The script checks what it
promises before it writes: it rebuilds the cells, pairs and method pairs from both files (they
must be equal) and the monitor band table (``monitor_rows``: equal up to the rounding, 1e-3
relative).

    python docs/results/mechanism/compact_store.py report/runs.jsonl report/runs-slim.jsonl.gz
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

from tinybgn.experiments.analysis import analyse, assign_roles, load_records

DIGITS = 4


def rounded(value):
    """``value`` with every float rounded to DIGITS significant digits (lists, dicts: inside)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.{DIGITS}g}")
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def compact(records: list[dict]) -> list[dict]:
    out = []
    for role, record in assign_roles(records):
        record = dict(record)
        if "monitor" in record:
            if role == "search":
                del record["monitor"]
            else:
                record["monitor"] = rounded(record["monitor"])
        out.append(record)
    return out


def tables(records: list[dict]) -> tuple[str, list[dict]]:
    """The report's tables from ``records``: cells, pairs and method pairs as one JSON string
    (compared exactly), and the monitor band rows (compared up to the rounding)."""
    a = analyse(records)
    strip = [{k: v for k, v in c.items() if k != "seconds_per_epoch_median"} for c in a["cells"]]
    exact = json.dumps([strip, a["pairs"], a["method_pairs"]], sort_keys=True, default=str)
    return exact, a["monitor_rows"]


def same_monitor_rows(a: list[dict], b: list[dict]) -> bool:
    def close(x, y):
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-300)
        return x == y

    return len(a) == len(b) and all(
        r.keys() == q.keys() and all(close(r[k], q[k]) for k in r)
        for r, q in zip(a, b, strict=True)
    )


def main(source: str, target: str) -> None:
    records = load_records(source)
    small = compact(records)
    (exact_small, rows_small), (exact, rows) = tables(small), tables(records)
    if exact_small != exact or not same_monitor_rows(rows_small, rows):
        raise SystemExit("compact_store: the tables differ between the two files; not written")
    with gzip.GzipFile(target, "wb", mtime=0) as f:  # mtime 0: the same bytes for the same runs
        for record in small:
            f.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
    kept = sum("monitor" in r for r in small)
    size = Path(target).stat().st_size / 2**20
    print(f"{target}: {len(small)} records ({kept} with a rounded monitor), {size:.1f} MiB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
