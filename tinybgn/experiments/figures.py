"""The paper's Figures 1-3, the accuracy, eps and monitor figures, drawn with matplotlib.

Figures are built as ``matplotlib.figure.Figure`` objects and written with ``savefig`` (PNG and
SVG): pyplot is never imported, so importing this module leaves the user's matplotlib backend
alone (an earlier version called ``matplotlib.use("Agg")`` at import time, which switched an
interactive session's backend as a side effect).

Data layout of Figures 1 and 2: ``data[activation][variant]`` is one curve or a list of curves
(one per seed), a curve being ``{"delta": [...], "weight": [...]}`` with one value per Dense
layer from the input (layer 1) to the output layer. Figure 3: a curve is ``[mean |dW| per
layer]``. Variants ``none``, ``BGN``, ``BN``, ``BN+BGN`` get the paper's colours (blue, yellow,
green, red); any other variant (e.g. ``BGN bgn_kappa=1``) gets the next colour of a cycle. With
several seeds the line is the median and the band spans min..max.

**Readable ranges.** A log axis that holds every value would span 1e-42..10 for sigmoid (plain
sigmoid deltas vanish by a factor ~4 per layer) and flatten the normalised curves. Each panel
shows at most :data:`DECADES` decades below its largest value, and at most
:data:`BELOW_NORMALISED` decades below the lowest hidden-layer value of a BGN curve; a curve
that leaves the panel is cut there and its smallest value is written in the panel. Zeros
(gradients that underflowed to 0 in float32) cannot be shown on a log axis either; the note
counts them.
"""

from __future__ import annotations

import csv
import dataclasses
import warnings
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from tinybgn.experiments.spec import JobSpec

VARIANTS = ("none", "BGN", "BN", "BN+BGN")
COLORS = {"none": "tab:blue", "BGN": "gold", "BN": "tab:green", "BN+BGN": "tab:red"}
_CYCLE = ("tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan", "black")
#: Largest number of decades a log panel shows below its top value.
DECADES = 12
#: Decades a panel shows below the lowest hidden-layer value of a BGN curve (if that is higher).
BELOW_NORMALISED = 4
FORMATS = ("png", "svg")

OUTPUT_LAYER_NOTE = (
    "The last point of every curve is the output layer. Its delta is the gradient of the mean "
    "softmax cross-entropy, (p - y) / N for a batch of N, with no BGN in front of it (BGN sits "
    "before hidden activations only, none before the softmax), so its norm is about "
    "sqrt(sum |p - y|^2) / N <= sqrt(2 / N) (0.09 for N = 256) and smaller still once the "
    "network fits the batch, whereas BGN holds every hidden delta at kappa = sqrt(64) = 8: "
    "hence the drop at the right end of the normalised curves."
)


def variant_name(batchnorm: bool, bgn: bool) -> str:
    return {(False, False): "none", (False, True): "BGN", (True, False): "BN"}.get(
        (batchnorm, bgn), "BN+BGN"
    )


def _colors(labels) -> dict[str, str]:
    """Paper colours for the four variants, a fixed cycle for any other label."""
    out, i = {}, 0
    for label in labels:
        if label in COLORS:
            out[label] = COLORS[label]
        elif label not in out:
            out[label] = _CYCLE[i % len(_CYCLE)]
            i += 1
    return out


def _ordered(labels) -> list[str]:
    """The paper's four variants first, in its order, then the others as they come."""
    labels = list(dict.fromkeys(labels))
    return [v for v in VARIANTS if v in labels] + [v for v in labels if v not in VARIANTS]


def as_curves(value, key: str | None) -> np.ndarray:
    """(seeds, layers) float array from one curve or a list of curves."""
    if isinstance(value, dict) or (value and np.isscalar(value[0])):
        value = [value]
    rows = [np.asarray(v[key] if key else v, dtype=float) for v in value]
    width = max(len(r) for r in rows)
    return np.array([np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in rows])


def _band(ax, y: np.ndarray, color: str, label: str) -> dict:
    """Median line (and min..max band over seeds) of the positive values.

    Returns what the panel note needs: ``low``/``high`` (smallest/largest value shown) and
    ``zeros`` (values that are exactly 0, not drawable on a log axis)."""
    x = np.arange(1, y.shape[1] + 1)
    shown = np.where(np.isfinite(y) & (y > 0), y, np.nan)
    with warnings.catch_warnings():  # all-NaN columns (layers with only zeros) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mid = np.nanmedian(shown, axis=0)
        low, high = np.nanmin(shown, axis=0), np.nanmax(shown, axis=0)
    isolated = np.isfinite(mid).sum() < 3  # a lone point draws no line: mark it
    name = label + (f" ({len(y)} seeds)" if len(y) > 1 else "")
    ax.plot(x, mid, color=color, label=name, lw=1.4, marker="o" if isolated else None, ms=3)
    if len(y) > 1:
        ax.fill_between(x, low, high, color=color, alpha=0.25, lw=0)
    finite = shown[np.isfinite(shown)]
    return {
        "low": float(finite.min()) if finite.size else np.nan,
        "high": float(finite.max()) if finite.size else np.nan,
        "hidden_low": float(np.nanmin(mid[:-1])) if np.isfinite(mid[:-1]).any() else np.nan,
        "zeros": int(np.sum(y == 0)),
        "layers": y.shape[1],
        "hidden_all_zero": bool(np.all(y[:, :-1] == 0)),
    }


def _clip_log_axis(ax, ranges: dict[str, dict]) -> None:
    """Log y axis showing at most DECADES decades; a note names the curves cut at the bottom
    and counts the zeros (per-panel facts stay out of the shared legend)."""
    ax.set_yscale("log")
    ax.set_xlim(0, max(r["layers"] for r in ranges.values()) + 1)
    if all(r["hidden_all_zero"] for r in ranges.values()):  # e.g. a dead trained ReLU network
        ax.text(0.5, 0.5, "0 at every hidden layer", ha="center", va="center",
                transform=ax.transAxes, color="dimgray")  # fmt: skip
    tops = [r["high"] for r in ranges.values() if np.isfinite(r["high"])]
    lows = [r["low"] for r in ranges.values() if np.isfinite(r["low"])]
    notes = [f"{name}: {r['zeros']} zeros" for name, r in ranges.items() if r["zeros"]]
    if tops:
        top = max(tops) * 3
        bottom = max(min(lows) / 3, top / 10.0**DECADES)
        normalised = [
            r["hidden_low"]
            for name, r in ranges.items()
            if name.split(" ")[0].endswith("BGN") and np.isfinite(r["hidden_low"])
        ]
        if normalised:  # keep the BGN curves readable: cut the rest BELOW_NORMALISED below
            bottom = max(bottom, min(normalised) / 10.0**BELOW_NORMALISED)
        ax.set_ylim(bottom, top)
        notes = [
            f"{name} min {r['low']:.0e}" for name, r in ranges.items() if r["low"] < bottom
        ] + notes
    if notes:
        ax.text(
            0.02,
            0.02,
            "below axis: " + "; ".join(notes),
            transform=ax.transAxes,
            fontsize=6,
            va="bottom",
            color="dimgray",
        )


def _new(rows: int, cols: int, width: float, height: float):
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _activations(data) -> list[str]:
    order = {"relu": 0, "sigmoid": 1, "tanh": 2}
    return sorted(data, key=lambda a: (order.get(a, 9), a))


def gradient_figure(data: dict, title: str, path: Path) -> list[Path]:
    """Rows ||delta||, ||grad_W L||; one column per activation; log y; one shared legend."""
    acts = _activations(data)
    fig, axes = _new(2, len(acts), 4.2, 3.0)
    colors = _colors(_ordered(v for a in acts for v in data[a]))
    for j, act in enumerate(acts):
        for i, key in enumerate(("delta", "weight")):
            ax = axes[i, j]
            ranges = {
                v: _band(ax, as_curves(data[act][v], key), colors[v], v)
                for v in _ordered(data[act])
            }
            _clip_log_axis(ax, ranges)
            ax.grid(True, which="major", alpha=0.3)
            if i == 0:
                ax.set_title(act)
            if j == 0:
                ax.set_ylabel(r"$\|\delta^{(K)}\|$" if key == "delta" else r"$\|\nabla_W L\|$")
            if i == 1:
                ax.set_xlabel("layer K (1 = input side)")
    return _save(fig, title, path)


def weight_change_figure(data: dict, title: str, path: Path) -> list[Path]:
    """Mean |W_after - W_before| per layer, one panel per activation, log y (Figure 3)."""
    acts = _activations(data)
    fig, axes = _new(1, len(acts), 4.2, 3.2)
    colors = _colors(_ordered(v for a in acts for v in data[a]))
    for j, act in enumerate(acts):
        ax = axes[0, j]
        ranges = {
            v: _band(ax, as_curves(data[act][v], None), colors[v], v) for v in _ordered(data[act])
        }
        _clip_log_axis(ax, ranges)
        ax.set_title(act)
        ax.set_xlabel("layer K (1 = input side)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].set_ylabel("mean |ΔW|")
    return _save(fig, title, path)


def eps_figure(rows: list[dict], majority: float | None, title: str, path: Path) -> list[Path]:
    """Test accuracy against Adam's eps (log x), with and without BGN, per activation.

    ``rows``: dicts with ``activation``, ``bgn``, ``eps`` (or ``adam_eps``), ``mean`` and either
    ``ci95`` ([low, high], drawn as the error bar) or ``std``."""
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    fig, axes = _new(1, len(acts), 4.4, 3.2)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for bgn in (False, True):
            sel = [r for r in rows if r["activation"] == act and bool(r["bgn"]) == bgn]
            if not sel:
                continue
            eps = np.array([r.get("eps", r.get("adam_eps")) for r in sel], dtype=float)
            mean = np.array([np.nan if r["mean"] is None else r["mean"] for r in sel])
            err = np.array([_error_bar(r) for r in sel]).T
            variant = "BGN" if bgn else "none"
            ax.errorbar(
                eps, mean, yerr=err, marker="o", capsize=3, color=COLORS[variant], label=variant
            )
        if majority is not None:
            ax.axhline(majority, color="gray", ls="--", lw=1, label="majority class")
        ax.axvline(1e-7, color="gray", ls=":", lw=1, label="Keras default eps")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_title(act)
        ax.set_xlabel("Adam eps")
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy")
    return _save(fig, title, path)


def _error_bar(r: dict) -> tuple[float, float]:
    if r["mean"] is None:
        return (np.nan, np.nan)
    if r.get("ci95"):
        return (r["mean"] - r["ci95"][0], r["ci95"][1] - r["mean"])
    s = r.get("std") or r.get("sd") or 0.0
    return (s, s)


def final_runs_figure(
    panels: dict[str, list[dict]], majority: float | None, title: str, path: Path
) -> list[Path]:
    """Test accuracy of every run of each cell: the numbers of Table 1, drawn.

    ``panels[panel title]`` lists rows drawn top to bottom, each a dict with ``label``,
    ``accuracies`` (one per finished run), ``diverged`` (runs without an accuracy), ``mean``,
    ``ci95`` ([low, high] or None) and ``lr`` (None for no rate); an optional ``section`` draws a
    thin rule where it changes. A run is a dot, a diverged run an x at the left edge; the bar
    is the mean and its 95 % interval; the dashed line is the majority class."""
    fig = build_final_runs_figure(panels, majority)
    return _save(fig, title, path)


def build_final_runs_figure(panels: dict[str, list[dict]], majority: float | None) -> Figure:
    """The :class:`Figure` of :func:`final_runs_figure` (one axes per panel), not yet saved."""
    if not any(panels.values()):
        raise ValueError("final_runs_figure: no cells to draw (panels is empty)")
    cols = min(len(panels), 3)
    rows_of_panels = -(-len(panels) // cols)
    tallest = max((len(rows) for rows in panels.values()), default=1)
    longest = max((len(row["label"]) for rows in panels.values() for row in rows), default=10)
    fig, axes = _new(rows_of_panels, cols, max(6.0, 3.2 + 0.07 * longest), 0.3 * tallest + 1.2)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (name, rows) in zip(axes.flat, panels.items(), strict=False):
        for y, row in enumerate(rows):
            acc = np.asarray(row["accuracies"], dtype=float)
            jitter = np.random.default_rng(y).uniform(-0.18, 0.18, size=acc.size)
            ax.scatter(acc, y + jitter, s=12, color="tab:blue", alpha=0.7, zorder=3,
                       label="one run" if acc.size else None)  # fmt: skip
            if n_div := row["diverged"]:
                ax.scatter([0.02] * n_div, y + np.linspace(-0.15, 0.15, n_div), marker="x",
                           s=16, color="tab:red", zorder=3, label="diverged run")  # fmt: skip
            if row["mean"] is not None:
                low, high = row["ci95"] or (row["mean"], row["mean"])
                ax.plot([low, high], [y, y], color="k", lw=2, zorder=4,
                        label="mean, 95 % interval")  # fmt: skip
                ax.plot([row["mean"]], [y], marker="|", color="k", ms=12, mew=2, zorder=4)
            if row.get("lr") is not None:
                ax.text(1.01, y, f"lr {row['lr']:.2g}", va="center", fontsize=6,
                        transform=ax.get_yaxis_transform())  # fmt: skip
            if y and row.get("section") != rows[y - 1].get("section"):
                ax.axhline(y - 0.5, color="0.8", lw=0.8)
        if majority is not None:
            ax.axvline(majority, color="tab:red", ls="--", lw=1,
                       label=f"one class ({majority:.4g})")  # fmt: skip
        ax.set_yticks(range(len(rows)), [row["label"] for row in rows], fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("test accuracy", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    return fig


#: Quantities of a monitor record (see tinybgn.probes.epoch_monitor) and their axis labels.
MONITOR_QUANTITIES = {
    "update_size": (r"$\|\Delta W\| / \|W\|$ per epoch", True),
    "sqrt_v_hat_median": (r"median $\sqrt{\hat v}$ of W", True),
    "frac_sqrt_v_hat_below_eps": (r"share of W with $\sqrt{\hat v}$ < eps", False),
    "frac_v_hat_zero": (r"share of W with $\hat v$ = 0", False),
    "dead_relu": ("share of dead units", False),
    "delta": (r"$\|\delta^{(K)}\|$ on the probe batch", True),
}


def monitor_figure(runs: dict[str, list[list[dict]]], title: str, path: Path) -> list[Path]:
    """Per-layer curves over epochs: one row per quantity, one column per variant.

    ``runs[variant]`` = list (one per seed) of monitor histories, each a list of per-epoch
    dicts (``epoch`` and per-layer lists). The line of epoch e is the median over seeds, its
    colour runs from dark (first epoch) to yellow (last)."""
    variants = _ordered(runs)
    present = [
        q for q in MONITOR_QUANTITIES if any(q in e for v in variants for h in runs[v] for e in h)
    ]
    fig, axes = _new(len(present), len(variants), 4.0, 2.6)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for j, v in enumerate(variants):
        epochs = sorted({e["epoch"] for h in runs[v] for e in h})
        for i, q in enumerate(present):
            ax = axes[i, j]
            measured = shown = False
            for n, ep in enumerate(epochs):
                ys = [e[q] for h in runs[v] for e in h if e["epoch"] == ep and e.get(q) is not None]
                if not ys:
                    continue
                measured = True
                y = np.nanmedian(as_curves(ys, None), axis=0)
                color = cmap(n / max(1, len(epochs) - 1))
                y = np.where(y > 0, y, np.nan) if MONITOR_QUANTITIES[q][1] else y
                shown = shown or bool(np.any(np.isfinite(y)))
                ax.plot(
                    np.arange(1, len(y) + 1),
                    y,
                    color=color,
                    lw=1,
                    label=f"epoch {ep}" if n in (0, len(epochs) - 1) else None,
                )
            if not shown:  # say why the panel is empty instead of drawing empty axes
                why = "0 in every layer" if measured else "not measured\n(not Adam)"
                if q == "dead_relu" and not measured:
                    why = "not measured\n(no ReLU)"
                ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            elif MONITOR_QUANTITIES[q][1]:
                ax.set_yscale("log")
            else:
                ax.set_ylim(-0.02, 1.02)
            if shown:  # every layer on the axis, also where a log panel has no value > 0
                ax.set_xlim(0, max(len(e[q]) for h in runs[v] for e in h if e.get(q)) + 1)
            ax.grid(True, alpha=0.3)
            if i == 0:
                ax.set_title(v, fontsize=9)
            if j == 0:
                ax.set_ylabel(MONITOR_QUANTITIES[q][0], fontsize=8)
            if i == len(present) - 1:
                ax.set_xlabel("layer K (1 = input side)")
    return _save(fig, title, path)


def write_curves_csv(data: dict, path: Path, keys: tuple[str, ...] | None = None) -> Path:
    """Long-format CSV: activation, variant, quantity, seed, layer, value."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["activation", "variant", "quantity", "seed", "layer", "value"])
        for act, variants in data.items():
            for variant, value in variants.items():
                for quantity in keys or ("weight_change",):
                    curves = as_curves(value, quantity if keys else None)
                    for seed, curve in enumerate(curves):
                        for layer, v in enumerate(curve, start=1):
                            if np.isfinite(v):
                                w.writerow([act, variant, quantity, seed, layer, f"{v:.6g}"])
    return path


def write_rows_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _save(fig: Figure, title: str, path: Path) -> list[Path]:
    """Title, one legend shared by all panels (below them), then PNG and SVG next to ``path``."""
    handles, labels = {}, []
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    fig.suptitle(title, fontsize=10)
    ncol = min(len(labels), 4) or 1
    rows = -(-len(labels) // ncol)
    if labels:
        fig.legend(
            [handles[k] for k in labels],
            labels,
            loc="lower center",
            ncol=ncol,
            fontsize=8,
            frameon=False,
        )
    fig.tight_layout(rect=(0, 0.04 + 0.035 * rows, 1, 0.97))
    path = Path(path)
    out = []
    for fmt in FORMATS:
        target = path.with_suffix("." + fmt)
        # No date and fixed SVG ids: a report rebuilt from the same runs is the same bytes.
        with rc_context({"svg.hashsalt": "tinybgn"}):
            fig.savefig(target, dpi=90, metadata={"Date": None} if fmt == "svg" else None)
        out.append(target)
    return out


# -- the report's figures ------------------------------------------------------------------------
def write_report_figures(a: dict, out: Path) -> dict[str, dict]:
    """Figures 1-3, the accuracy figure, eps and monitor figures from
    :func:`tinybgn.experiments.analysis.analyse`.

    Returns ``{name: {"title", "caption", "files"}}``; a figure whose records are not in the
    store has no files and a caption that says so."""
    out = Path(out)
    result = {}
    specs = {
        "figure1": ("Figure 1 - gradient norms at initialisation", "init_probe"),
        "figure2": ("Figure 2 - gradient norms after training (trained without BGN)", "probe"),
        "figure3": ("Figure 3 - mean |ΔW| per layer after training", "probe"),
    }
    for name, (title, study) in specs.items():
        data = a[name]
        if not data:
            result[name] = {
                "title": title,
                "files": [],
                "caption": f"Not in this store (no `{study}` records with the "
                "values this figure needs).",
            }
            continue
        if name == "figure3":
            files = weight_change_figure(data, title, out / f"{name}.png")
            write_curves_csv(data, out / f"{name}.csv")
        else:
            files = gradient_figure(data, title, out / f"{name}.png")
            write_curves_csv(data, out / f"{name}.csv", keys=("delta", "weight"))
        result[name] = {
            "title": title,
            "files": [*files, out / f"{name}.csv"],
            "caption": _caption(name),
        }
    if a["eps"]:
        title = "Adam eps against BGN: test accuracy, mean and 95 % interval"
        files = eps_figure(a["eps"], a.get("majority"), title, out / "eps.png")
        result["eps"] = {
            "title": title,
            "files": files,
            "caption": "Mean test accuracy of the eps runs; bars: 95 % bootstrap "
            "interval over seeds.",
        }
    from tinybgn.experiments.analysis import variant_label

    if a["cells"]:
        title = "Test accuracy of every run, per cell"
        result["accuracy"] = {
            "title": title,
            "files": final_runs_figure(
                accuracy_panels(a["cells"], a["columns"]),
                a.get("majority"),
                title,
                out / "accuracy.png",
            ),  # fmt: skip
            "caption": (
                "The final cells of `table1.md` (its rate-search cells left out), drawn"
                if any(row["selection"] for row in a["cells"])
                else "The numbers of `table1.md`, drawn"
            )
            + ": one panel per depth, one row per cell (its rate on the right). Each dot is "
            "the test accuracy of one run, an x at "
            "the left edge a run that diverged; the black bar is the cell's mean and its 95 % "
            "bootstrap interval"
            + (
                "; the dashed line is the majority class (a net that predicts one class)."
                if a.get("majority") is not None
                else "."
            ),  # fmt: skip
        }
    groups: dict[tuple, dict[str, list]] = {}
    extra = _monitor_extra([s for s, _ in a["monitor"]])

    for spec, history in a["monitor"]:
        g = groups.setdefault((spec["activation"], spec["depth"]), {})
        g.setdefault(variant_label(spec, extra), []).append(history)
    for (act, depth), runs in sorted(groups.items()):
        name = f"monitor_{act}_{depth}"
        title = f"Per-layer quantities at epoch ends, {act}, {depth} hidden layers"
        result[name] = {
            "title": title,
            "files": monitor_figure(runs, title, out / f"{name}.png"),
            "caption": "Columns: variants (plain, BGN, ...). Rows: update size ||ΔW||/||W|| of "
            "each Dense layer over the last epoch; the median sqrt(v_hat) of Adam's second "
            "moment of W and the share of weights whose sqrt(v_hat) is below eps (there Adam's "
            "step is about lr * g / eps instead of lr * sign(g)), of which those with v_hat = 0 "
            "never had a gradient (inputs of dead units); the share of ReLU units that "
            "are 0 for every example of the probe batch; ||delta|| per layer. One line per "
            "epoch (dark = first, yellow = last), median over seeds.",
        }
    return result


def accuracy_panels(cells: list[dict], columns: list[str]) -> dict[str, list[dict]]:
    """Table 1 rows (:func:`tinybgn.experiments.analysis.summarize_cell`) as the panels of
    :func:`final_runs_figure`: one per depth, one row per cell.

    A row is labelled by activation, variant and the keys that vary between cells where they
    differ from :class:`~tinybgn.experiments.spec.JobSpec`'s default (``relu BGN
    optimizer=sgd``). Where the store has final runs (a rate search), only their cells are
    drawn: the search runs are one per rate and would bury them."""
    from tinybgn.experiments.analysis import BGN_KEYS, _short

    defaults = {f.name: f.default for f in dataclasses.fields(JobSpec)}
    if any(row["selection"] for row in cells):
        cells = [row for row in cells if row["selection"]]
    skip = ("activation", "depth", "batchnorm", "bgn", "lr")
    extra = [k for k in columns if k not in skip and len({str(r.get(k)) for r in cells}) > 1]
    panels: dict[str, list[dict]] = {}
    for row in cells:
        parts = [
            f"{k}={_short(row.get(k))}"
            for k in extra
            if row.get(k) != defaults.get(k) and (k not in BGN_KEYS or row.get("bgn"))
        ]
        label = " ".join([row["activation"], variant_name(row["batchnorm"], row["bgn"]), *parts])
        panels.setdefault(f"{row['depth']} hidden layers", []).append(
            {**row, "label": label, "section": row["activation"]}
        )
    return panels


def _monitor_extra(specs: list[dict]) -> list[str]:
    from tinybgn.experiments.analysis import MAIN_KEYS, varying_keys

    if not specs:
        return []
    ignore = ("lr", "selection", "depth", "activation", "seed", "run")
    return [k for k in varying_keys(specs, ignore=ignore) if k not in MAIN_KEYS]


def _caption(name: str) -> str:
    ranges = (
        f" Each panel shows at most {DECADES} decades below its largest value and "
        f"{BELOW_NORMALISED} below the BGN curves' hidden layers; curves that "
        "fall further are cut and their minimum is written in the panel. With several seeds: "
        "median line, min..max band."
    )
    if name == "figure1":
        return (
            "Norm of delta (top) and of the weight gradient (bottom) of each Dense layer of "
            "freshly initialised networks, on the probe batch. Without normalisation delta "
            "decays exponentially towards the input for sigmoid; with BGN (and no BN) every "
            "hidden delta has norm kappa = 8 (eq. 7)." + ranges + " " + OUTPUT_LAYER_NOTE
        )
    if name == "figure2":
        return (
            "The same norms after training, for networks trained without BGN; the BGN and "
            "BN+BGN curves are those trained weights measured with BGN inserted (the forward "
            "pass is unchanged, eq. 4), as in the paper." + ranges + " " + OUTPUT_LAYER_NOTE
        )
    return (
        "Mean absolute change of each Dense layer's weights between initialisation and the "
        "end of training (the paper's Figure 3, without its 0.08 rescaling of sigmoid+BGN)."
        + ranges
    )


__all__ = [
    "COLORS",
    "VARIANTS",
    "accuracy_panels",
    "build_final_runs_figure",
    "eps_figure",
    "final_runs_figure",
    "gradient_figure",
    "monitor_figure",
    "variant_name",
    "weight_change_figure",
    "write_curves_csv",
    "write_report_figures",
    "write_rows_csv",
]
