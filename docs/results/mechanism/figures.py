"""The mechanism study's accuracy figures, drawn from the committed store alone.

Reads the committed stores (``report/runs-slim.jsonl.gz`` and those of the follow-ups): no
dataset, no training. For every ReLU / 90-layer variant of the study, its final runs (10 seeds
at the variant's validation-best rate):

* ``accuracy.png``: the test accuracy of each final run (a dot; a diverged run is an x at the
  left edge), the mean and its 95 % bootstrap interval, and the majority-class line 0.1135
  ("predicts one class"), drawn by :func:`tinybgn.experiments.figures.final_runs_figure`;
* ``curves.png``: test accuracy after each epoch, one line per final run, for the variants
  that answer the question (plain / BGN / frozen BGN at eps 1e-7, plain / BGN at eps 1e-24,
  block-normalized gradients);
* ``monitor_relu.png``: the per-layer monitor (median over seeds, one line per epoch) of plain,
  BGN and frozen BGN under Adam, from the ReLU replicate ``monitor-relu/report`` (the main
  store's ReLU monitors were lost, see the README);
* ``monitor_sigmoid.png``: the same for sigmoid: plain, BGN, block-normalized (each at its
  validation-best rate) and BGN at 3.162e-4 (``sigmoid-rate/report``).

    python docs/results/mechanism/figures.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script writing files; never a window
import matplotlib.pyplot as plt  # noqa: E402
from extra_pairs import final_cell  # noqa: E402  (this folder; the cell matching is shared)

from tinybgn.experiments.analysis import (  # noqa: E402
    assign_roles,
    load_records,
    summarize_cell,
    table1_cells,
)
from tinybgn.experiments.figures import final_runs_figure, monitor_figure  # noqa: E402

HERE = Path(__file__).parent
STORE = HERE / "report" / "runs-slim.jsonl.gz"
MAJORITY = 0.1135  # the largest class of the 2000 test digits
BASE = {"adam_eps": 1e-7, "grad_method": "none"}  # with final_cell's ReLU / Adam / 90 layers
#: (section, label, keys that differ from BASE), top to bottom.
VARIANTS = [
    ("optimizers", "Adam, plain", {"bgn": False}),
    ("optimizers", "Adam, BGN", {"bgn": True}),
    ("optimizers", "SGD, plain", {"bgn": False, "optimizer": "sgd"}),
    ("optimizers", "SGD, BGN", {"bgn": True, "optimizer": "sgd"}),
    ("optimizers", "momentum, plain", {"bgn": False, "optimizer": "momentum"}),
    ("optimizers", "momentum, BGN", {"bgn": True, "optimizer": "momentum"}),
    ("frozen", "frozen BGN", {"bgn": True, "grad_method": "frozen_bgn"}),
    ("eps", "plain, eps 1e-15", {"bgn": False, "adam_eps": 1e-15}),
    ("eps", "BGN, eps 1e-15", {"bgn": True, "adam_eps": 1e-15}),
    ("eps", "plain, eps 1e-24", {"bgn": False, "adam_eps": 1e-24}),
    ("eps", "BGN, eps 1e-24", {"bgn": True, "adam_eps": 1e-24}),
    ("methods", "block-normalized", {"bgn": False, "grad_method": "block_normalized"}),
    ("methods", "clip (norm 1)", {"bgn": False, "grad_method": "clip"}),
    ("kappa", "BGN, κ = 1", {"bgn": True, "bgn_kappa": 1}),
    ("kappa", "BGN, κ = 64", {"bgn": True, "bgn_kappa": 64}),
    ("every", "BGN every 3rd layer", {"bgn": True, "bgn_every": 3}),
    ("every", "BGN every 10th layer", {"bgn": True, "bgn_every": 10}),
]
CURVES = ["Adam, plain", "Adam, BGN", "frozen BGN", "plain, eps 1e-24", "BGN, eps 1e-24",
          "block-normalized"]  # fmt: skip


def find_cell(cells: list[dict], keys: dict) -> dict | None:
    """The ReLU / 90-layer cell of final runs with BASE updated by ``keys``."""
    return final_cell(cells, {**BASE, **keys})


def accuracy_figure(found: dict[str, dict], path: Path) -> None:
    """One row per variant (sections as in VARIANTS), drawn by the report's figure function."""
    rows = [
        {**summarize_cell(found[name], []), "label": name, "section": section}
        for section, name, _ in VARIANTS
        if found.get(name)
    ]
    title = "ReLU, 90 layers, 20 epochs: final runs at each variant's validation-best rate"
    for f in final_runs_figure({"test accuracy of each final run": rows}, MAJORITY, title, path):
        if f.suffix != ".png":
            f.unlink()  # the README shows the PNG


def curves_figure(found: dict[str, dict], path: Path) -> None:
    names = [n for n in CURVES if found.get(n)]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(9, 5), sharex=True, sharey=True)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        for r in found[name]["records"]:  # one thin line per seed; a diverged run stops early
            acc = [e["test_accuracy"] for e in r["history"]["epochs"]]
            ax.plot(range(1, len(acc) + 1), acc, color="C0", lw=0.8, alpha=0.6)
        ax.axhline(MAJORITY, color="C3", ls="--", lw=1)
        ax.set_title(f"{name} (lr {found[name]['lr']:.2g})", fontsize=9)
        ax.set_ylim(0, 1)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    fig.suptitle("Test accuracy after each epoch, every final run (eps 1e-7 unless named); "
                 "dashed: one class", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def monitors(cell: dict | None) -> list[list[dict]]:
    """The monitor histories of a cell's runs (one list of per-epoch dicts per seed)."""
    return [r["monitor"] for r in (cell or {}).get("records", []) if r.get("monitor")]


def monitor_figures() -> list[str]:
    """monitor_relu.png and monitor_sigmoid.png (see the module docstring)."""
    written = []
    replicate = HERE / "monitor-relu" / "report" / "runs.jsonl.gz"
    if replicate.exists():
        cells = table1_cells(assign_roles(load_records(replicate)))
        runs = {f"ReLU, {name} (lr {find_cell(cells, keys)['lr']:.2g})":
                monitors(find_cell(cells, keys)) for name, keys in
                [("plain", {"bgn": False}), ("BGN", {"bgn": True}),
                 ("frozen BGN", {"bgn": True, "grad_method": "frozen_bgn"})]}  # fmt: skip
        title = "Per-layer quantities at epoch ends, ReLU, 90 layers, Adam (replicate runs)"
        monitor_figure(runs, title, HERE / "monitor_relu.png")
        written.append("monitor_relu.png")
    cells = table1_cells(assign_roles(load_records(STORE)))
    runs = {}
    for name, keys in [("plain", {"bgn": False}), ("BGN", {"bgn": True}),
                       ("block-normalized", {"bgn": False,
                                             "grad_method": "block_normalized"})]:  # fmt: skip
        cell = final_cell(cells, {**BASE, **keys}, "sigmoid")
        if cell is not None:
            runs[f"sigmoid, {name} (lr {cell['lr']:.2g})"] = monitors(cell)
    follow_up = HERE / "sigmoid-rate" / "report" / "runs.jsonl.gz"
    if follow_up.exists():
        bgn = [r for r in load_records(follow_up) if r["spec"]["bgn"] and r["spec"]["run"] >= 1]
        runs["sigmoid, BGN (lr 3.2e-4)"] = [r["monitor"] for r in bgn if r.get("monitor")]
    if runs:
        title = "Per-layer quantities at epoch ends, sigmoid, 90 layers, Adam"
        monitor_figure(runs, title, HERE / "monitor_sigmoid.png")
        written.append("monitor_sigmoid.png")
    for name in written:  # the README shows the PNG
        (HERE / name).with_suffix(".svg").unlink(missing_ok=True)
    return written


def main() -> None:
    cells = table1_cells(assign_roles(load_records(STORE)))
    found = {name: find_cell(cells, keys) for _, name, keys in VARIANTS}
    missing = [name for name, cell in found.items() if cell is None]
    accuracy_figure(found, HERE / "accuracy.png")
    curves_figure(found, HERE / "curves.png")
    written = ", ".join(["accuracy.png", "curves.png", *monitor_figures()])
    print(f"{written} from {STORE.name}; missing variants: {missing or 'none'}")


if __name__ == "__main__":
    main()
