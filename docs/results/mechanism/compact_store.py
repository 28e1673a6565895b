"""The committed copy of the mechanism store: small enough for git, nothing the report uses lost.

The full store (``report/runs.jsonl``) holds a per-layer monitor in every record: 6 quantities x
91 layers x 20 epochs at full float precision, ~120 KB a run. The report draws monitors of the
*final* runs only (a cell's runs at its chosen rate, see ``analysis.analyse``), so the copy
keeps every record and every field, but

* drops the monitor of the rate-search runs, and
* rounds the monitor values of the final runs to 4 significant digits (the figures are log
  plots and band medians: 4 digits are far below what they resolve).

Accuracies, losses, histories and specs are copied unchanged, so every table of the report is
the same from either file (the script checks it: it rebuilds ``table1.json`` and the pairs from
both and compares them).

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
            if role == "final":
                record["monitor"] = rounded(record["monitor"])
            else:
                del record["monitor"]
        out.append(record)
    return out


def tables(records: list[dict]) -> str:
    a = analyse(records)
    strip = [{k: v for k, v in c.items() if k != "seconds_per_epoch_median"} for c in a["cells"]]
    return json.dumps([strip, a["pairs"], a["method_pairs"]], sort_keys=True, default=str)


def main(source: str, target: str) -> None:
    records = load_records(source)
    small = compact(records)
    if tables(small) != tables(records):
        raise SystemExit("compact_store: the tables differ between the two files; not written")
    with gzip.GzipFile(target, "wb", mtime=0) as f:  # mtime 0: the same bytes for the same runs
        for record in small:
            f.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
    kept = sum("monitor" in r for r in small)
    size = Path(target).stat().st_size / 2**20
    print(f"{target}: {len(small)} records ({kept} with a rounded monitor), {size:.1f} MiB")


if __name__ == "__main__":
    main(*sys.argv[1:3])
