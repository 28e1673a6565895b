"""``tinybgn report RUNS.jsonl[.gz] --out DIR``: every table and figure, from a run file alone.

Reads the records, never the dataset, and trains nothing (see
:func:`tinybgn.experiments.analysis.build_report` for what it writes). If the run file's folder
holds the runner's ``protocol.json``, it is used as the protocol (data source, majority-class
baseline, search-run count); ``--protocol FILE`` names another one, ``--no-protocol`` ignores it.

Example::

    tinybgn report docs/results/quick-rerun/runs.jsonl.gz --out /tmp/quick-report
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tinybgn.experiments.analysis import ReportError, build_report, load_records


def read_protocol(path: Path) -> dict:
    """A runner's protocol.json; one written by ``tinybgn report`` gives back its runner part."""
    try:
        protocol = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"cannot read the protocol {path}: {err}") from err
    if not isinstance(protocol, dict):
        raise ReportError(f"{path}: a protocol must be a JSON object")
    if "rebuilt_by" in protocol:
        return protocol.get("runner") or {}
    return protocol


def run(args) -> int:
    records = load_records(args.runs)
    protocol = None
    if args.protocol is not None:
        protocol = read_protocol(args.protocol)
    elif not args.no_protocol and (args.runs.parent / "protocol.json").is_file():
        protocol = read_protocol(args.runs.parent / "protocol.json")
    result = build_report(records, args.out, protocol=protocol)
    if not args.quiet:
        verdicts = ", ".join(f"{c['id']}: {c['verdict']}" for c in result["claims"])
        print(
            f"report of {len(records)} runs written to {result['out_dir']} "
            f"({len(result['files'])} files); claims {verdicts}",
            file=sys.stdout,
        )
    return 0


def add_subcommand(subparsers) -> None:
    """Add ``report`` to the ``tinybgn`` command line."""
    p = subparsers.add_parser(
        "report",
        help="rebuild every table and figure from a run file (no data, no training)",
        description="Rebuild every table and figure of a report from a run file alone (no "
        "dataset, no training): Table 1 with intervals and paired tests, the learning-rate "
        "selection, timings, the paper's claims, Figures 1-3 and CSVs.",
    )
    p.add_argument("runs", type=Path, help="runs.jsonl or runs.jsonl.gz")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--protocol", type=Path, default=None, help="the runner's protocol.json")
    p.add_argument("--no-protocol", action="store_true", help="ignore protocol.json beside RUNS")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run)
