"""Paired comparisons of the mechanism study that the generic report does not make.

The report (``report/``) pairs every BGN cell with the same cell without BGN, and every
gradient method with no method and with BGN. The mechanism question also needs cells that
differ in Adam's eps, a frozen BGN against plain Adam with a tiny eps, and the κ and placement
variants against BGN with κ = √d before every activation. This script reads the
store alone (no dataset, no training) and prints those comparisons with the report's statistics
(:func:`tinybgn.experiments.stats.paired_comparison`: runs paired by seed, 95 % bootstrap
interval of the mean difference, exact sign-flip p-value, verdict), and the test accuracy of
every final run of the cells involved: for ReLU, and for sigmoid where the study ran the cell
(no eps part). The follow-up stores ``relu-rate/report`` and ``sigmoid-rate/report`` (BGN
before every activation at the rate BGN every 3rd layer picked) are paired with the placements.

    python docs/results/mechanism/extra_pairs.py > docs/results/mechanism/extra_pairs.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinybgn.experiments import stats
from tinybgn.experiments.analysis import assign_roles, load_records, table1_cells

#: The committed store (every record; what this script reads is not touched by compaction).
STORE = Path(__file__).with_name("report") / "runs-slim.jsonl.gz"
MAJORITY = 0.1135  # the largest class of the 2000 test digits
#: The follow-up stores: BGN before every activation at 3.162e-4 (a fixed rate, no search), the
#: rate BGN every 3rd layer picked; one per activation.
FOLLOW_UP = {
    a: Path(__file__).with_name(f"{a}-rate") / "report" / "runs.jsonl.gz"
    for a in ("relu", "sigmoid")
}
#: (name, cell keys) of the Adam cells compared below (per activation).
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


def final_cell(cells: list[dict], keys: dict, activation: str = "relu") -> dict | None:
    """The Adam / 90-layer cell of final runs (validation selection) with ``keys``."""
    want = {"activation": activation, "optimizer": "adam", "depth": 90, "bgn_kappa": None,
            "bgn_every": 1, **keys}  # fmt: skip
    found = [
        c
        for c in cells
        if c["selection"] == "validation" and all(c["key"].get(k) == v for k, v in want.items())
    ]
    return found[0] if len(found) == 1 else None


def pair_cells(treated: dict, baseline: dict) -> str:
    """``n | diff | [low, high] | p | verdict`` of a paired comparison ({seed: accuracy} each)."""
    c = stats.paired_comparison(treated, baseline, seed=0)
    low, high = c["ci95"] or (float("nan"), float("nan"))
    return (
        f"{c['n']} | {c['diff']:+.3f} | [{low:+.3f}, {high:+.3f}] | {c['p']:.3g} | {c['verdict']}"
    )


def by_seed(cell: dict) -> dict:
    return {r["spec"]["seed"]: r.get("accuracy") for r in cell["records"]}


def main() -> None:
    records = load_records(STORE)
    cells = table1_cells(assign_roles(records))
    print("# Extra paired comparisons (90 layers, Adam)\n")
    print(f"Written by `extra_pairs.py` from `{STORE.parent.name}/{STORE.name}` "
          f"({len(records)} records). Final runs at each cell's validation-best rate; "
          "accuracies on the 2000 test digits; a diverged run has none.")  # fmt: skip
    compare(cells, "relu")
    search_scores(cells)
    rate_follow_up(cells, "relu")
    kappa_invariance(records, "relu")
    clip_is_plain(records)
    compare(cells, "sigmoid")
    kappa_invariance(records, "sigmoid")
    search_scores(cells, "sigmoid")
    rate_follow_up(cells, "sigmoid")
    frozen_follow_up()
    replicate_bits(records)


def compare(cells: list[dict], activation: str) -> None:
    """The final runs of every cell of CELLS and the pairs of PAIRS, for one activation."""
    found = {name: final_cell(cells, keys, activation) for name, keys in CELLS.items()}
    if activation != "relu":  # the eps part ran for ReLU only
        found = {n: c for n, c in found.items() if CELLS[n]["adam_eps"] == 1e-7}
    print(f"\n## {activation}\n")
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
        if treated not in found or baseline not in found:
            continue
        if found[treated] is None or found[baseline] is None:
            print(f"| {treated} − {baseline} | - | - | - | - | not in the store yet |")
            continue
        pair = pair_cells(by_seed(found[treated]), by_seed(found[baseline]))
        print(f"| {treated} − {baseline} | {pair} |")


def search_scores(cells: list[dict], activation: str = "relu") -> None:
    """Validation accuracy of the one search run per rate, BGN every 1 / 3 / 10 layers."""
    print(f"\n### Rate search, {activation}, BGN every k layers (validation accuracy of the one "
          "run per rate)\n")  # fmt: skip
    rows = {k: final_cell(cells, {"bgn": True, "adam_eps": 1e-7, "grad_method": "none",
                                  "bgn_every": k}, activation) for k in (1, 3, 10)}  # fmt: skip
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
        f"\n`clip` vs plain Adam (ReLU), same rate and seed: {len(shared) - len(differ)} of "
        f"{len(shared)} shared runs have the same training-loss history, bit for bit; "
        f"they differ at rates {sorted({lr for lr, _ in differ})}."
    )


def kappa_invariance(records: list[dict], activation: str) -> None:
    """Under Adam a constant factor κ on every layer's gradient cancels wherever sqrt(v_hat) >>
    eps: runs of κ = 1 and κ = d with the same seed and rate as κ = √d should then train alike.
    Largest relative difference of their per-epoch training losses."""
    losses: dict = {}
    for r in records:
        s = r["spec"]
        variant = (s["activation"], s["optimizer"], s["bgn"], s["grad_method"], s["bgn_every"])
        if variant == (activation, "adam", True, "none", 1) and s["adam_eps"] == 1e-7:
            kappa = 8.0 if s["bgn_kappa"] is None else s["bgn_kappa"]  # None: √d = 8
            loss = np.array([e["train_loss"] for e in r["history"]["epochs"]])
            losses.setdefault(kappa, {})[(s["lr"], s["seed"])] = loss
    others = sorted(k for k in losses if k != 8.0)
    print(f"\n### κ under Adam, {activation}: largest relative difference of an epoch's "
          "training loss from the run with κ = 8, same seed and rate\n")  # fmt: skip
    print("| rate | runs | " + " | ".join(f"κ = {k:g}" for k in others) + " |")
    print("|---|---|" + "---|" * len(others))
    for lr in sorted({lr for lr, _ in losses.get(8.0, {})}):
        keys = [k for k in losses[8.0] if k[0] == lr]
        cols = []
        for kappa in others:
            shared = [k for k in keys if k in losses[kappa]]
            if not shared or any(
                len(losses[kappa][k]) != len(losses[8.0][k]) or not len(losses[8.0][k])
                for k in shared
            ):
                cols.append("-")  # not run, or a run diverged (shorter history)
                continue
            rel = max(np.max(np.abs(losses[kappa][k] - losses[8.0][k]) / np.abs(losses[8.0][k]))
                      for k in shared)  # fmt: skip
            cols.append(f"{rel:.1e}")
        print(f"| {lr:.3g} | {len(keys)} | " + " | ".join(cols) + " |")


def rate_follow_up(cells: list[dict], activation: str) -> None:
    """BGN before every activation at the rate BGN every 3rd layer picked, paired by seed."""
    store = FOLLOW_UP[activation]
    print(f"\n### Follow-up, {activation}: BGN before every activation at 3.162e-4 "
          f"(`{store.parent.parent.name}/`)\n")  # fmt: skip
    if not store.exists():
        print("Not run yet.")
        return
    runs = [r for r in load_records(store) if r["spec"]["run"] >= 1]  # run 0: the search's
    every1 = {r["spec"]["seed"]: r.get("accuracy") for r in runs if r["spec"]["bgn"]}
    plain = {r["spec"]["seed"]: r.get("accuracy") for r in runs if not r["spec"]["bgn"]}
    if not every1:
        print("No final-seed run in the store yet.")
        return
    accs = ", ".join("div." if a is None else f"{a:.3f}" for a in every1.values())
    d = stats.describe([a for a in every1.values() if a is not None], seed=0)
    low, high = d["ci95"] or (float("nan"), float("nan"))
    print(f"{len(every1)} runs (1..10, the final runs' seeds): {accs}; mean {d['mean']:.3f} "
          f"± {d['sd']:.3f} (sd) [{low:.3f}, {high:.3f}]\n")  # fmt: skip
    top = ", ".join(f"{r['top_class_fraction']:.2f}" for r in runs
                    if r["spec"]["bgn"] and r.get("top_class_fraction") is not None)  # fmt: skip
    print(f"Share of the test digits in the most-predicted class, same runs: {top}\n")
    print("| treated − baseline | n pairs | mean difference | 95 % interval | p | verdict |")
    print("|---|---|---|---|---|---|")
    compared = [(f"BGN every {k}", {"bgn": True, "bgn_every": k}) for k in (3, 10, 1)]
    compared.append(("block-normalized", {"bgn": False, "grad_method": "block_normalized"}))
    for label, keys in compared:
        cell = final_cell(cells, {"adam_eps": 1e-7, "grad_method": "none", **keys}, activation)
        if cell is None:
            continue
        name = f"{label} at {cell['lr']:.3g} − BGN every 1 at 3.16e-4"
        print(f"| {name} | {pair_cells(by_seed(cell), every1)} |")
    if plain:  # the plain net at the same rate and seeds (sigmoid)
        accs = ", ".join("div." if a is None else f"{a:.3f}" for a in plain.values())
        print(f"| BGN every 1 − plain, both at 3.16e-4 | {pair_cells(every1, plain)} |")
        print(f"\nThe plain net at 3.16e-4, {len(plain)} runs: {accs}")


#: The replicate (ReLU Adam plain / BGN / frozen BGN at their own rates) and the frozen
#: follow-up (each of BGN and frozen BGN at the other's rate), both made on 2026-12-03.
REPLICATE = Path(__file__).with_name("monitor-relu") / "report" / "runs.jsonl.gz"
FROZEN_RATE = Path(__file__).with_name("frozen-rate") / "report" / "runs.jsonl.gz"


def frozen_follow_up() -> None:
    """ReLU frozen BGN vs BGN at each of their two picked rates, paired by seed (runs 1..10)."""
    print("\n## Follow-up, relu: frozen BGN vs BGN at a common rate (`frozen-rate/`)\n")
    if not (REPLICATE.exists() and FROZEN_RATE.exists()):
        print("Not run yet.")
        return
    accs: dict = {}  # (grad_method, lr) -> {seed: accuracy}
    for store in (REPLICATE, FROZEN_RATE):
        for r in load_records(store):
            s = r["spec"]
            if s["activation"] == "relu" and s["bgn"] and s["run"] >= 1:
                accs.setdefault((s["grad_method"], s["lr"]), {})[s["seed"]] = r.get("accuracy")
    print("| rate | BGN (n, mean ± sd) | frozen BGN (n, mean ± sd) | n pairs | frozen − BGN "
          "| 95 % interval | p | verdict |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for lr in (3.162e-05, 0.0001):
        bgn, frozen = accs.get(("none", lr), {}), accs.get(("frozen_bgn", lr), {})
        if not bgn or not frozen:
            print(f"| {lr:.3g} | - | - | not in the stores yet | - | - |")
            continue
        cols = []
        for runs in (bgn, frozen):
            d = stats.describe([a for a in runs.values() if a is not None], seed=0)
            cols.append(f"{d['n']} of {len(runs)}, {d['mean']:.3f} ± {d['sd']:.3f}")
        print(f"| {lr:.3g} | {cols[0]} | {cols[1]} | {pair_cells(frozen, bgn)} |")


def replicate_bits(records: list[dict]) -> None:
    """The replicate's 30 runs against the main store's runs of the same job id: after which
    epoch do their training losses first differ (0: never)?"""
    print("\n## The replicate against the 12-02 runs of the same specs\n")
    main_runs = {r["id"]: r for r in records}
    first, rel = [], []
    for r in load_records(REPLICATE):
        old = main_runs.get(r["id"])
        if old is None or r["spec"]["run"] == 0:  # run 0: the search run the store was seeded with
            continue
        new_loss = [e["train_loss"] for e in r["history"]["epochs"]]
        old_loss = [e["train_loss"] for e in old["history"]["epochs"]]
        differ = [i for i, (a, b) in enumerate(zip(new_loss, old_loss, strict=False)) if a != b]
        first.append(differ[0] + 1 if differ else 0)
        rel.append(abs(new_loss[0] - old_loss[0]) / abs(old_loss[0]))
    at_1 = [x for x, f in zip(rel, first, strict=True) if f == 1]
    later = sorted({f for f in first if f > 1})
    print(
        f"{len(first)} runs; the training loss first differs after epoch 1 in {len(at_1)} "
        f"(by {min(at_1, default=0):.1g} to {max(at_1, default=0):.1g} relative), after "
        f"epochs {later} in {sum(f > 1 for f in first)}, never in {first.count(0)}."
    )


if __name__ == "__main__":
    main()
