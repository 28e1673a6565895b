"""Two run stores, the same specs: are the records the same, and how fast was each?

For every run id found in both stores (same spec, so same seed, data and settings) this prints
whether the two records agree once timing and machine fields are removed
(``tinybgn.experiments.jobs.comparable``: losses, accuracies, divergence, probes), the engine
commit of each, and the ratio of their training times per step (B / A); then the medians, per
activation. Used to check that an engine change (e.g. eea7c71, the subnormal flush) trains
the same networks bit for bit, and what it did to their speed, on real runs rather than a
micro-benchmark. Both stores should have been made with the same number of busy workers.

    python benchmarks/compare_stores.py docs/results/fashion-full/engine-4dc981f/runs.jsonl \\
        docs/results/fashion-full/runs.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinybgn.experiments.analysis import load_records  # noqa: E402
from tinybgn.experiments.jobs import comparable  # noqa: E402


def epoch_seconds(record: dict) -> float | None:
    """Median over the record's epochs of the training seconds (None without epochs)."""
    epochs = record["history"]["epochs"]
    return statistics.median(e["seconds"] for e in epochs) if epochs else None


def compare(a_path: Path, b_path: Path) -> list[dict]:
    """One row per run id in both stores, in the order B finished them."""
    a = {r["id"]: r for r in load_records(a_path)}
    b = {r["id"]: r for r in load_records(b_path)}
    rows = []
    for run_id in sorted(set(a) & set(b), key=lambda i: b[i].get("finished_at") or ""):
        ra, rb = a[run_id], b[run_id]
        ta, tb = epoch_seconds(ra), epoch_seconds(rb)
        rows.append(
            {
                "id": run_id,
                "spec": rb["spec"],
                "same": comparable(ra) == comparable(rb),
                "commits": [r["worker"].get("tinybgn_commit") for r in (ra, rb)],
                "epoch_seconds": [ta, tb],
                "ratio": tb / ta if ta and tb else None,
            }
        )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", type=Path, help="store A (before)")
    p.add_argument("b", type=Path, help="store B (after)")
    args = p.parse_args(argv)
    rows = compare(args.a, args.b)
    print(f"{len(rows)} runs in both stores\n")
    header = ["run", "activation", "BGN", "lr", "same record", "engine A -> B"]
    header += ["s/epoch A", "s/epoch B", "B / A"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for r in rows:
        s, (ta, tb) = r["spec"], r["epoch_seconds"]
        cells = [
            r["id"][:8], s["activation"], "yes" if s["bgn"] else "no", f"{s['lr']:.2e}",
            "yes" if r["same"] else "**no**", " -> ".join(map(str, r["commits"])),
            f"{ta:.1f}" if ta else "-", f"{tb:.1f}" if tb else "-",
            f"{r['ratio']:.2f}" if r["ratio"] else "-",
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    same = sum(r["same"] for r in rows)
    print(f"\nidentical records (timing and machine fields aside): {same} of {len(rows)}")
    for act in sorted({r["spec"]["activation"] for r in rows}):
        ratios = [r["ratio"] for r in rows if r["spec"]["activation"] == act and r["ratio"]]
        if ratios:
            median = statistics.median(ratios)
            print(f"{act}: median B / A training time per epoch {median:.2f} (n = {len(ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
