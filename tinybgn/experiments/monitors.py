"""Per-layer monitor records, summarised by layer band (the mechanism study, issue 12).

A monitored run (``monitor = true``) stores in ``record["monitor"]``, at every epoch end, one
value per layer of each quantity of :func:`tinybgn.probes.epoch_quantities`: the update size
``||ΔW|| / ||W||`` over the epoch, ``||delta^(K)||`` on the probe batch, Adam's ``sqrt(v_hat)``
(median over a layer's weights) and the share of weights where it is below ``eps`` (or 0), and
the share of dead ReLU units. 90 layers x 20 epochs x 10 seeds cannot be read as numbers; a
reader compares *where* in the network and *when* in training a variant differs. So each cell
is reduced to: for the input-side, middle and output-side tenth of its hidden layers, the
median over the band's layers, then the median over the cell's runs, at the first and the last
epoch. The figures (``monitor_<activation>_<depth>``) show every layer.
"""

from __future__ import annotations

import numpy as np

#: Quantities summarised (in this order), with what one value means.
QUANTITIES = {
    "update_size": "||ΔW|| / ||W|| of the epoch",
    "delta": "||delta^(K)|| on the probe batch",
    "sqrt_v_hat_median": "median sqrt(v_hat) of W (Adam)",
    "frac_sqrt_v_hat_below_eps": "share of W with sqrt(v_hat) < eps (Adam)",
    "frac_v_hat_zero": "share of W with v_hat = 0 (Adam)",
    "dead_relu": "share of dead ReLU units",
}
BANDS = ("input", "middle", "output")


def band_medians(values: list, depth: int) -> dict[str, float | None]:
    """Median of each band of the hidden layers: the first, middle and last ``depth // 10``.

    ``values`` has one entry per Dense layer (``depth + 1``, the last being the output layer,
    which is left out) or per activation (``depth``); None (not finite, or not measured)
    entries are skipped, and a band with none left is None."""
    hidden = list(values)[:depth]
    k = max(1, depth // 10)
    start = (len(hidden) - k) // 2
    parts = {"input": hidden[:k], "middle": hidden[start : start + k], "output": hidden[-k:]}
    out = {}
    for band, part in parts.items():
        finite = [float(v) for v in part if v is not None and np.isfinite(v)]
        out[band] = float(np.median(finite)) if finite else None
    return out


def _entry(history: list[dict], epoch: int) -> dict | None:
    return next((e for e in history if e.get("epoch") == epoch), None)


def monitor_rows(cells: list[dict], columns: list[str]) -> list[dict]:
    """One row per (cell with monitored runs, quantity, epoch in {first, last}).

    ``cells`` as :func:`tinybgn.experiments.analysis.table1_cells` gives them (a cell's records
    are its final runs at the chosen rate, or a sweep's runs). Each row: the cell's ``columns``,
    ``lr``, ``quantity``, ``epoch``, ``n`` (runs that reached that epoch: a diverged run stops
    early) and one value per band (median over those runs of the band medians)."""
    rows = []
    for cell in cells:
        runs = [r for r in cell["records"] if r.get("monitor")]
        if not runs:
            continue
        depth = int(cell["key"]["depth"])
        epochs = sorted({e["epoch"] for r in runs for e in r["monitor"] if "epoch" in e})
        last = int(cell["key"].get("epochs") or epochs[-1])
        for quantity in QUANTITIES:
            for epoch in sorted({epochs[0], last}):
                per_run = []
                for r in runs:
                    entry = _entry(r["monitor"], epoch)
                    if entry is not None and entry.get(quantity) is not None:
                        per_run.append(band_medians(entry[quantity], depth))
                if not per_run:
                    continue
                row = {k: cell["key"].get(k) for k in columns}
                row.update({"lr": cell["lr"], "quantity": quantity, "epoch": epoch})
                row["n"] = len(per_run)
                for band in BANDS:
                    vals = [p[band] for p in per_run if p[band] is not None]
                    row[band] = float(np.median(vals)) if vals else None
                rows.append(row)
    return rows


def monitor_markdown(rows: list[dict], label) -> str:
    """``monitor.md``: a table per quantity, a row per cell, bands at the first and last
    epoch. ``label(row) -> str`` names the cell (the report's variant label)."""
    lines = [
        "# Per-layer quantities by layer band (monitored runs)",
        "",
        "Each value: the median over a band's hidden layers (input side = the first tenth, "
        "middle tenth, output side = the last tenth; the output layer itself is left out), "
        "then the median over the cell's runs (`n`; a diverged run stops early). Cells are "
        "the final runs at the chosen rate (`lr`). Every layer: the `monitor_*` figures.",
        "",
    ]
    epochs = sorted({r["epoch"] for r in rows})
    for quantity, meaning in QUANTITIES.items():
        mine = [r for r in rows if r["quantity"] == quantity]
        if not mine:
            continue
        lines += [f"## `{quantity}`: {meaning}", ""]
        header = ["cell", "lr", "n"] + [f"ep {e} {b}" for e in epochs for b in BANDS]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        cells: dict[tuple, dict[int, dict]] = {}
        for r in mine:
            cells.setdefault((label(r), r["lr"]), {})[r["epoch"]] = r
        for (name, lr), by_epoch in cells.items():
            n = "/".join(str(by_epoch[e]["n"]) for e in epochs if e in by_epoch)
            values = [_fmt(by_epoch[e][b]) if e in by_epoch else "-" for e in epochs for b in BANDS]
            lines.append("| " + " | ".join([name, f"{lr:.3g}", n, *values]) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if v == 0 or 1e-3 <= abs(v) < 1e3:
        return f"{v:.3g}"
    return f"{v:.2e}"


__all__ = ["BANDS", "QUANTITIES", "band_medians", "monitor_markdown", "monitor_rows"]
