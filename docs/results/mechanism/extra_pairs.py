"""Paired comparisons of the mechanism study that the generic report does not make.

The report (``report/``) pairs every BGN cell with the same cell without BGN, and every
gradient method with no method and with BGN. The mechanism question also needs cells that
differ in Adam's eps, a frozen BGN against plain Adam with a tiny eps, and the κ and placement
variants against BGN with κ = √d before every activation. This script reads the
store alone (no dataset, no training) and prints those comparisons with the report's statistics
(:func:`tinybgn.experiments.stats.paired_comparison`: runs paired by seed, 95 % bootstrap
interval of the mean difference, exact sign-flip p-value, verdict), and the test accuracy of
every final run of the cells involved.

    python docs/results/mechanism/extra_pairs.py > docs/results/mechanism/extra_pairs.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinybgn.experiments import stats
from tinybgn.experiments.analysis import assign_roles, load_records, table1_cells

#: The full store if it is here, else the committed one without monitors (enough for accuracies).
STORE = next(
    p
    for p in (Path(__file__).with_name("report") / n for n in ("runs.jsonl", "runs-slim.jsonl.gz"))
    if p.exists()
)
MAJORITY = 0.1135  # the largest class of the 2000 test digits
#: (name, cell keys) of the ReLU / Adam cells compared below.
CELLS = {
    "plain, eps 1e-7": {"bgn": False, "adam_eps": 1e-7, "grad_method": "none"},
    "plain, eps 1e-15": {"bgn": False, "adam_eps": 1e-15, "grad_method": "none"},
    "plain, eps 1e-24": {"bgn": False, "adam_eps": 1e-24, "grad_method": "none"},
    "BGN, eps 1e-7": {"bgn": True, "adam_eps": 1e-7, "grad_method": "none"},
    "BGN, eps 1e-24": {"bgn": True, "adam_eps": 1e-24, "grad_method": "none"},
    "frozen BGN, eps 1e-7": {"bgn": True, "adam_eps": 1e-7, "grad_method": "frozen_bgn"},
    "BGN κ 1, eps 1e-7": {"bgn": True, "adam_eps": 1e-7, "grad_method": "none", "bgn_kappa": 1},
    "BGN κ 64, eps 1e-7": {"bgn": True, "adam_eps": 1e-7, "grad_method": "none", "bgn_kappa": 64},
    "BGN every 3, eps 1e-7": {"bgn": True, "adam_eps": 1e-7, "grad_method": "none", "bgn_every": 3},
    "BGN every 10, eps 1e-7": {
        "bgn": True,
        "adam_eps": 1e-7,
        "grad_method": "none",
        "bgn_every": 10,
    },
    "block-normalized, eps 1e-7": {
        "bgn": False,
        "adam_eps": 1e-7,
        "grad_method": "block_normalized",
    },
}
PAIRS = [
    ("plain, eps 1e-15", "plain, eps 1e-7"),
    ("plain, eps 1e-24", "plain, eps 1e-7"),
    ("BGN, eps 1e-7", "plain, eps 1e-24"),
    ("BGN, eps 1e-24", "BGN, eps 1e-7"),
    ("frozen BGN, eps 1e-7", "plain, eps 1e-24"),
    ("BGN κ 1, eps 1e-7", "BGN, eps 1e-7"),
    ("BGN κ 64, eps 1e-7", "BGN, eps 1e-7"),
    ("BGN every 3, eps 1e-7", "BGN, eps 1e-7"),
    ("BGN every 10, eps 1e-7", "BGN, eps 1e-7"),
    ("block-normalized, eps 1e-7", "BGN, eps 1e-7"),
]


def final_cell(cells: list[dict], keys: dict) -> dict | None:
    """The ReLU / Adam / 90-layer cell of final runs (validation selection) with ``keys``."""
    want = {"activation": "relu", "optimizer": "adam", "depth": 90, "bgn_kappa": None,
            "bgn_every": 1, **keys}  # fmt: skip
    found = [
        c
        for c in cells
        if c["selection"] == "validation" and all(c["key"].get(k) == v for k, v in want.items())
    ]
    return found[0] if len(found) == 1 else None


def by_seed(cell: dict) -> dict:
    return {r["spec"]["seed"]: r.get("accuracy") for r in cell["records"]}


def main() -> None:
    records = load_records(STORE)
    cells = table1_cells(assign_roles(records))
    found = {name: final_cell(cells, keys) for name, keys in CELLS.items()}
    print("# Extra paired comparisons (ReLU, 90 layers, Adam)\n")
    print(f"Written by `extra_pairs.py` from `{STORE.parent.name}/{STORE.name}` "
          f"({len(records)} records). Final runs at each cell's validation-best rate; "
          "accuracies on the 2000 test digits; a diverged run has none.\n")  # fmt: skip
    print("| cell | rate | final runs (test accuracy, by run) | mean, a diverged run as 0.1135 |")
    print("|---|---|---|---|")
    for name, cell in found.items():
        if cell is None:
            print(f"| {name} | - | not in the store yet |")
            continue
        runs = sorted(cell["records"], key=lambda r: r["spec"]["run"])
        accs = ", ".join("div." if r.get("accuracy") is None else f"{r['accuracy']:.3f}"
                         for r in runs)  # fmt: skip
        as_failed = np.mean(
            [MAJORITY if r.get("accuracy") is None else r["accuracy"] for r in runs]
        )
        print(f"| {name} | {cell['lr']:.3g} | {accs} | {as_failed:.3f} |")
    print("\n| treated − baseline | n pairs | mean difference | 95 % interval | p | verdict |")
    print("|---|---|---|---|---|---|")
    for treated, baseline in PAIRS:
        if found[treated] is None or found[baseline] is None:
            print(f"| {treated} − {baseline} | - | - | - | - | not in the store yet |")
            continue
        c = stats.paired_comparison(by_seed(found[treated]), by_seed(found[baseline]), seed=0)
        low, high = c["ci95"] or (float("nan"), float("nan"))
        print(f"| {treated} − {baseline} | {c['n']} | {c['diff']:+.3f} | "
              f"[{low:+.3f}, {high:+.3f}] | {c['p']:.3g} | {c['verdict']} |")  # fmt: skip
    search_scores(cells)
    clip_is_plain(records)


def search_scores(cells: list[dict]) -> None:
    """Validation accuracy of the one search run per rate, BGN every 1 / 3 / 10 layers."""
    print("\n## Rate search, BGN every k layers (validation accuracy of the one run per rate)\n")
    rows = {k: final_cell(cells, {"bgn": True, "adam_eps": 1e-7, "grad_method": "none",
                                  "bgn_every": k}) for k in (1, 3, 10)}  # fmt: skip
    rates = sorted({r["spec"]["lr"] for c in rows.values() if c for r in c["search"]})
    print("| every | " + " | ".join(f"{lr:.3g}" for lr in rates) + " |")
    print("|---|" + "---|" * len(rates))
    for k, cell in rows.items():
        score = {r["spec"]["lr"]: r.get("val_accuracy") for r in (cell or {}).get("search", [])}
        print(f"| {k} | " + " | ".join("div." if score.get(lr) is None else f"{score[lr]:.3f}"
                                        for lr in rates) + " |")  # fmt: skip


def clip_is_plain(records: list[dict]) -> None:
    """Runs of `clip` and plain Adam with the same rate and seed: same training-loss history?"""

    def runs(method):
        return {(r["spec"]["lr"], r["spec"]["seed"]): [e["train_loss"] for e in
                r["history"]["epochs"]] for r in records if r["spec"]["activation"] == "relu"
                and not r["spec"]["bgn"] and r["spec"]["optimizer"] == "adam"
                and r["spec"]["adam_eps"] == 1e-7
                and r["spec"].get("grad_method", "none") == method}  # fmt: skip

    clip, plain = runs("clip"), runs("none")
    shared = sorted(set(clip) & set(plain))
    differ = [k for k in shared if clip[k] != plain[k]]
    print(
        f"\n`clip` vs plain Adam, same rate and seed: {len(shared) - len(differ)} of "
        f"{len(shared)} shared runs have the same training-loss history, bit for bit; "
        f"they differ at rates {sorted({lr for lr, _ in differ})}."
    )


if __name__ == "__main__":
    main()
