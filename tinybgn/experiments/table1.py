"""Table 1 of the paper: plan the runs, pick the best learning rate, aggregate, write markdown.

Protocol (section 4), for every cell (activation, BN, BGN, depth):

1. **search**: train ``search_runs`` networks at each of the ``lr_count`` log-spaced rates in
   [lr_min, lr_max]; the best rate has the highest mean *validation* accuracy
   (``selection="validation"``), or the highest mean *test* accuracy (``selection="paper"``,
   the paper's procedure). A diverged run counts as accuracy 0 here, so a rate that diverges
   is not chosen; ties go to the smaller rate.
2. **final**: train ``final_runs`` more networks at the best rate (new seeds).
3. report the mean and sample sd (ddof=1) of the test accuracies of the final runs
   (``"validation"``: runs that did not choose the rate), or of the ``search_runs +
   final_runs`` runs at the best rate (``"paper"``: 5 + 10 = 15 in the paper, biased upwards
   since the search runs were picked by their test score). Diverged runs are left out of mean
   and sd and counted in the cell.

Seeds are *paired*: run ``r`` of a given (activation, depth) uses the seed
``derive_seed("table1", activation, depth, r)`` for all rates and all four BN/BGN variants, so
they start from the same weights and see the same batches; differences come from BN/BGN and the
rate, not from the draw.
"""

from __future__ import annotations

import numpy as np

from tinybgn.experiments.presets import Preset
from tinybgn.experiments.spec import JobSpec
from tinybgn.experiments.sweep import make_spec

#: The paper's Table 1, as printed: activation, BN, BGN, then mean ± std at 30/60/90/120 layers.
PAPER_TABLE1_TEXT = """
relu    False False 0.948 ± 0.006 0.729 ± 0.319 0.114 ± 0.000 0.114 ± 0.000
relu    False True  0.949 ± 0.007 0.890 ± 0.098 0.901 ± 0.039 0.858 ± 0.045
relu    True  False 0.958 ± 0.002 0.405 ± 0.058 0.141 ± 0.026 0.115 ± 0.001
relu    True  True  0.968 ± 0.002 0.637 ± 0.135 0.159 ± 0.038 0.112 ± 0.026
sigmoid False False 0.114 ± 0.000 0.114 ± 0.000 0.113 ± 0.002 0.114 ± 0.000
sigmoid False True  0.206 ± 0.003 0.200 ± 0.025 0.169 ± 0.045 0.181 ± 0.038
sigmoid True  False 0.961 ± 0.003 0.954 ± 0.004 0.949 ± 0.004 0.940 ± 0.010
sigmoid True  True  0.958 ± 0.001 0.952 ± 0.006 0.947 ± 0.005 0.945 ± 0.005
tanh    False False 0.956 ± 0.002 0.944 ± 0.003 0.935 ± 0.005 0.896 ± 0.017
tanh    False True  0.954 ± 0.002 0.948 ± 0.003 0.928 ± 0.028 0.901 ± 0.013
tanh    True  False 0.963 ± 0.003 0.936 ± 0.003 0.870 ± 0.025 0.516 ± 0.076
tanh    True  True  0.964 ± 0.002 0.953 ± 0.002 0.917 ± 0.009 0.758 ± 0.126
"""


def _parse_paper_table(text: str) -> dict[tuple[str, bool, bool], dict[int, tuple[float, float]]]:
    table = {}
    for line in text.strip().splitlines():
        act, bn, bgn, *cells = line.replace("±", " ").split()
        values = list(map(float, cells))
        table[(act, bn == "True", bgn == "True")] = {
            depth: (values[2 * i], values[2 * i + 1]) for i, depth in enumerate((30, 60, 90, 120))
        }
    return table


#: (activation, BN, BGN) -> {depth: (mean, std)}.
PAPER_TABLE1 = _parse_paper_table(PAPER_TABLE1_TEXT)

#: The paper's timing example (section 5): 90 layers, ReLU, seconds per 20-epoch training.
PAPER_TIMES_90_RELU = {
    (False, False): (40.00, 0.31),
    (False, True): (50.83, 2.24),
    (True, False): (118.00, 0.82),
    (True, True): (127.78, 0.90),
}

#: A run whose most-predicted class takes at least this share of the test predictions is
#: counted as "predicts one class".
ONE_CLASS = 0.95

Config = tuple[str, int, bool, bool]
TF = (False, True)


def configs(preset: Preset) -> list[Config]:
    """All Table 1 cells, in the paper's row order: activation, BN, BGN, then depth."""
    return [
        (act, depth, bn, bgn)
        for act in preset.activations
        for bn in preset.batchnorms
        for bgn in (False, True)
        for depth in preset.depths
    ]


def _variant(preset: Preset, config: Config) -> dict:
    act, depth, bn, bgn = config
    return {**preset.grid().fixed, "activation": act, "depth": depth, "batchnorm": bn, "bgn": bgn}


def _spec(preset: Preset, data: dict, config: Config, lr: float, run: int, **kw) -> JobSpec:
    """Run ``run`` of a cell at rate ``lr``: the preset's grid (:meth:`Preset.grid`) makes it,
    so ``tinybgn sweep`` on the preset's TOML file plans exactly these runs."""
    return make_spec(preset.grid(), _variant(preset, config), lr, run, data, **kw)


def search_specs(preset: Preset, data: dict) -> list[JobSpec]:
    """Phase 1: every cell x every rate x ``search_runs`` runs (run indices 0..search_runs-1).
    ``data`` holds the JobSpec data fields (dataset, data_split, n_train, ...)."""
    return [
        _spec(preset, data, config, lr, run)
        for config in configs(preset)
        for lr in preset.lr_grid
        for run in range(preset.search_runs)
    ]


def best_lrs(preset: Preset, data: dict, store) -> dict[Config, float]:
    """The best rate of every cell from the stored search runs: highest mean validation
    accuracy (``selection="paper"``: test accuracy); diverged = 0; ties -> smaller rate."""
    search = preset.grid().search
    return {
        config: search.best(
            {
                lr: [
                    store.get(_spec(preset, data, config, lr, run).id)
                    for run in range(preset.search_runs)
                ]
                for lr in preset.lr_grid
            }
        )
        for config in configs(preset)
    }


def final_specs(preset: Preset, data: dict, best: dict[Config, float]) -> list[JobSpec]:
    """Phase 2: ``final_runs`` new runs per cell at its best rate (run indices continue)."""
    first = preset.search_runs
    return [
        _spec(preset, data, config, best[config], run)
        for config in configs(preset)
        for run in range(first, first + preset.final_runs)
    ]


def probe_specs(preset: Preset, data: dict, best: dict[Config, float]) -> list[JobSpec]:
    """Figures 2-3: one probed run per (activation, BN, BGN) at ``figure_depth``, at the cell's
    best rate and with run 0's seed (so its accuracy equals that search run's)."""
    return [
        _spec(
            preset,
            data,
            config,
            best[config],
            0,
            study="figures",
            probe=True,
            probe_batch=preset.probe_batch,
        )
        for config in configs(preset)
        if config[1] == preset.figure_depth
    ]


def init_probe_specs(preset: Preset, data: dict) -> list[JobSpec]:
    """Figure 1: per (activation, BN, BGN) one network of ``figure_depth`` layers with run 0's
    seed, probed at initialisation (``epochs=0``, study ``"init_probe"``): its record's
    ``probe["trained_bgn<BGN>"]`` holds ||delta|| and ||grad_W|| per layer. The rate is unused."""
    return [
        _spec(
            preset,
            data,
            config,
            preset.lr_grid[0],
            0,
            study="init_probe",
            epochs=0,
            probe=True,
            probe_batch=preset.probe_batch,
        )
        for config in configs(preset)
        if config[1] == preset.figure_depth
    ]


def reported_runs(preset: Preset) -> range:
    """The run indices a cell's value is computed from: the final runs (selection
    "validation": the search runs chose the rate, so they are not counted), or the search runs
    at the best rate plus the final runs ("paper", as the paper did: 5 + 10 = 15)."""
    first = 0 if preset.selection == "paper" else preset.search_runs
    return range(first, preset.search_runs + preset.final_runs)


def cell_records(preset: Preset, data: dict, best: dict[Config, float], store) -> dict:
    """Config -> the records of its reported runs at the best rate (see :func:`reported_runs`)."""
    return {
        config: [
            store.get(_spec(preset, data, config, best[config], r).id)
            for r in reported_runs(preset)
        ]
        for config in configs(preset)
    }


def summarize(records: list[dict]) -> dict:
    """mean/std of accuracy over non-diverged runs, count of diverged and one-class runs."""
    ok = [r for r in records if r is not None and r["accuracy"] is not None]
    accs = np.array([r["accuracy"] for r in ok])
    top = np.array([r["top_class_fraction"] for r in ok])
    return {
        "n": len(records),
        "n_ok": len(ok),
        "diverged": sum(1 for r in records if r is not None and r["diverged"] is not None),
        "mean": float(accs.mean()) if len(ok) else None,
        "std": float(accs.std(ddof=1)) if len(ok) > 1 else None,
        "accuracies": accs.tolist(),
        "top_class_fraction_mean": float(top.mean()) if len(ok) else None,
        "one_class_runs": int(np.sum(top >= ONE_CLASS)),
        "train_seconds_median": float(np.median([r["train_seconds"] for r in ok])) if ok else None,
    }


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "diverged"
    return f"{mean:.3f} ± " + ("-" if std is None else f"{std:.3f}")


def _grid(preset: Preset, cell) -> list[str]:
    """A markdown table with one row per (activation, BN, BGN) and one column per depth;
    ``cell(act, depth, bn, bgn)`` gives each entry."""
    depths = preset.depths
    lines = [
        "| activation | BN | BGN | " + " | ".join(f"{d} layers" for d in depths) + " |",
        "|---|---|---|" + "---|" * len(depths),
    ]
    for act, bn, bgn in _rows(preset):
        cells = [cell(act, d, bn, bgn) for d in depths]
        lines.append(f"| {act} | {bn} | {bgn} | " + " | ".join(cells) + " |")
    return lines


_SCORED_ON = {"paper": "test", "validation": "validation"}
_CHOSEN_ON = {
    "paper": "test set, as in the paper (the choosing runs are counted: biased upwards)",
    "validation": "validation split; the runs that chose it are not counted",
}


def table1_markdown(preset: Preset, summary: dict, best: dict, majority: float) -> str:
    """Our Table 1 beside the paper's, plus best rates and one-class counts, as markdown.

    Each cell: ``ours (paper)``; the best mean per activation and depth is bold, as in the paper.
    """
    n_runs = len(reported_runs(preset))
    bold = _best_per_group(preset, summary)

    def accuracy(act, d, bn, bgn):
        s = summary[(act, d, bn, bgn)]
        ours = _fmt(s["mean"], s["std"])
        if s["diverged"]:
            ours += f" ({s['diverged']} div.)"
        if (act, d, bn, bgn) in bold:
            ours = f"**{ours}**"
        paper = PAPER_TABLE1.get((act, bn, bgn), {}).get(d)
        return ours + (f" ({paper[0]:.3f} ± {paper[1]:.3f})" if paper else "")

    def one_class(act, d, bn, bgn):
        s = summary[(act, d, bn, bgn)]
        top = s["top_class_fraction_mean"]
        return f"{s['one_class_runs']}/{s['n_ok']}" + ("" if top is None else f" ({top:.2f})")

    lines = [
        f"# Table 1 - test accuracy, mean ± sd over {n_runs} runs of {preset.epochs} epochs "
        f"(paper: 15 runs of 20 epochs)",
        "",
        f"Learning rate chosen on the {_CHOSEN_ON[preset.selection]}.",
        "",
        f"Each cell: **ours** (paper). Majority-class baseline of our test split: "
        f"**{majority:.4f}** (a network that predicts one class scores this; the paper's "
        f"0.114 is MNIST's largest test class, 1135/10000).",
        "",
        *_grid(preset, accuracy),
        "",
        f"## Runs that predict one class (≥ {ONE_CLASS:.0%} of test predictions in one class)",
        "",
        "Per cell: one-class runs / runs, and the mean share of the most-predicted class.",
        "",
        *_grid(preset, one_class),
        "",
        f"## Best learning rate per cell (highest mean {_SCORED_ON[preset.selection]} "
        "accuracy of the search runs)",
        "",
        *_grid(preset, lambda act, d, bn, bgn: f"{best[(act, d, bn, bgn)]:.2e}"),
    ]
    return "\n".join(lines) + "\n"


def _rows(preset: Preset) -> list[tuple[str, bool, bool]]:
    return [(a, bn, bgn) for a in preset.activations for bn in preset.batchnorms for bgn in TF]


def _best_per_group(preset: Preset, summary: dict) -> set:
    bold = set()
    for act in preset.activations:
        for d in preset.depths:
            group = [(act, d, bn, bgn) for bn in preset.batchnorms for bgn in (False, True)]
            means = [
                (summary[c]["mean"] if summary[c]["mean"] is not None else -1, c) for c in group
            ]
            top = max(m for m, _ in means)
            bold |= {c for m, c in means if m == top and m >= 0}
    return bold


def timing_markdown(preset: Preset, summary: dict, steps_per_epoch: int, workers: str) -> str:
    """Median training time per epoch of every cell, and the BN and BGN overheads per depth."""
    depths = preset.depths
    lines = [
        f"# Training time (median seconds per epoch of {steps_per_epoch} steps, batch "
        f"{preset.batch_size}; {workers})",
        "",
        "| activation | BN | BGN | " + " | ".join(f"{d} layers" for d in depths) + " |",
        "|---|---|---|" + "---|" * len(depths),
    ]
    per_epoch = {
        c: (
            None if s["train_seconds_median"] is None else s["train_seconds_median"] / preset.epochs
        )
        for c, s in summary.items()
    }
    for act, bn, bgn in _rows(preset):
        cells = []
        for d in depths:
            t = per_epoch[(act, d, bn, bgn)]
            cells.append(
                "-" if t is None else f"{t:.2f} s ({1000 * t / steps_per_epoch:.2f} ms/step)"
            )
        lines.append(f"| {act} | {bn} | {bgn} | " + " | ".join(cells) + " |")

    def ratio(d: int, num: tuple[bool, bool], den: tuple[bool, bool]) -> str:
        r = [
            per_epoch[(a, d, *num)] / per_epoch[(a, d, *den)]
            for a in preset.activations
            if per_epoch.get((a, d, *num)) and per_epoch.get((a, d, *den))
        ]
        return f"× {np.median(r):.2f}" if r else "-"

    lines += [
        "",
        "## Overheads (median over activations of the time ratio)",
        "",
        "| overhead | " + " | ".join(f"{d} layers" for d in depths) + " |",
        "|---|" + "---|" * len(depths),
    ]
    for name, num, den in [
        ("BN: BN / none", (True, False), (False, False)),
        ("BGN: BGN / none", (False, True), (False, False)),
        ("BGN on top of BN: BN+BGN / BN", (True, True), (True, False)),
    ]:
        lines.append(f"| {name} | " + " | ".join(ratio(d, num, den) for d in depths) + " |")
    lines += [
        "",
        "Paper (90 layers, ReLU, 20 epochs of full MNIST, Keras): none 40.00 ± 0.31 s, BGN "
        "50.83 ± 2.24 s, BN 118.00 ± 0.82 s, BN+BGN 127.78 ± 0.90 s - BN × 2.95, BGN × 1.27.",
    ]
    return "\n".join(lines) + "\n"
