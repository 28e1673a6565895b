"""The paper's Figures 1-3 and the eps figure, drawn with matplotlib (Agg backend, files only).

Data layout shared by Figures 1 and 2: ``data[activation][variant] = {"delta": [...], "weight":
[...]}`` with one value per Dense layer from the input (layer 1) to the output layer; variants are
``none``, ``BGN``, ``BN``, ``BN+BGN``, drawn in the paper's colours (blue, yellow, green, red).
Figure 3: ``data[activation][variant] = [mean |dW| per layer]``. Zeros (gradients that underflowed
to 0 in float32) cannot be shown on a log axis; they are left out of the curve and counted in
the legend.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

VARIANTS = ("none", "BGN", "BN", "BN+BGN")
COLORS = {"none": "tab:blue", "BGN": "gold", "BN": "tab:green", "BN+BGN": "tab:red"}


def variant_name(batchnorm: bool, bgn: bool) -> str:
    return {(False, False): "none", (False, True): "BGN", (True, False): "BN"}.get(
        (batchnorm, bgn), "BN+BGN"
    )


def _plot_curve(ax, values, variant: str, label_extra: str = "") -> None:
    y = np.asarray(values, dtype=float)
    x = np.arange(1, len(y) + 1)
    shown = np.isfinite(y) & (y > 0)
    zeros = int(np.sum(y == 0))
    label = variant + (f" ({zeros} zeros)" if zeros else "") + label_extra
    ax.plot(x[shown], y[shown], color=COLORS[variant], label=label, lw=1.4)


def gradient_figure(data: dict, title: str, path: Path) -> Path:
    """Two rows (||delta||, ||grad_W L||) x one column per activation, log y axis."""
    acts = list(data)
    fig, axes = plt.subplots(2, len(acts), figsize=(4.2 * len(acts), 6.4), squeeze=False)
    for j, act in enumerate(acts):
        for i, key in enumerate(("delta", "weight")):
            ax = axes[i, j]
            for variant in VARIANTS:
                if variant in data[act]:
                    _plot_curve(ax, data[act][variant][key], variant)
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
            if i == 0:
                ax.set_title(act)
            if j == 0:
                ax.set_ylabel(r"$\|\delta^{(K)}\|$" if key == "delta" else r"$\|\nabla_W L\|$")
            if i == 1:
                ax.set_xlabel("layer K (1 = input side)")
            ax.legend(fontsize=7)
    return _save(fig, title, path)


def weight_change_figure(data: dict, title: str, path: Path) -> Path:
    """Mean |W_after - W_before| per layer, one panel per activation, log y axis (Figure 3)."""
    acts = list(data)
    fig, axes = plt.subplots(1, len(acts), figsize=(4.2 * len(acts), 3.4), squeeze=False)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for variant in VARIANTS:
            if variant in data[act]:
                _plot_curve(ax, data[act][variant], variant)
        ax.set_yscale("log")
        ax.set_title(act)
        ax.set_xlabel("layer K (1 = input side)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("mean |ΔW|")
    return _save(fig, title, path)


def eps_figure(rows: list[dict], majority: float, title: str, path: Path) -> Path:
    """Test accuracy against Adam's eps (log x), with and without BGN, per activation."""
    acts = sorted({r["activation"] for r in rows}, key=[r["activation"] for r in rows].index)
    fig, axes = plt.subplots(1, len(acts), figsize=(4.4 * len(acts), 3.4), squeeze=False)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for bgn in (False, True):
            sel = [r for r in rows if r["activation"] == act and r["bgn"] == bgn]
            eps = np.array([r["eps"] for r in sel])
            mean = np.array([np.nan if r["mean"] is None else r["mean"] for r in sel])
            std = np.array([np.nan if r["std"] is None else r["std"] for r in sel])
            variant = "BGN" if bgn else "none"
            ax.errorbar(eps, mean, yerr=std, marker="o", capsize=3, color=COLORS[variant],
                        label=variant)  # fmt: skip
        ax.axhline(majority, color="gray", ls="--", lw=1, label="majority class")
        ax.axvline(1e-7, color="gray", ls=":", lw=1, label="Keras default eps")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_title(act)
        ax.set_xlabel("Adam eps")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("test accuracy")
    return _save(fig, title, path)


def write_curves_csv(data: dict, path: Path, keys: tuple[str, ...] | None = None) -> Path:
    """Long-format CSV: activation, variant, [quantity,] layer, value."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["activation", "variant", "quantity", "layer", "value"])
        for act, variants in data.items():
            for variant, curves in variants.items():
                items = curves.items() if keys else [("weight_change", curves)]
                for quantity, values in items:
                    for layer, value in enumerate(values, start=1):
                        w.writerow([act, variant, quantity, layer, f"{value:.6g}"])
    return path


def write_rows_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _save(fig, title: str, path: Path) -> Path:
    """Give the figure its title, write it as a PNG and free it."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
