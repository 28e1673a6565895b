"""How much of BGN's advantage comes from Adam's eps: the same nets trained with several eps.

Adam updates a weight by ``lr * m_hat / (sqrt(v_hat) + eps)``. For a gradient g that stays much
larger than eps the update is ~ ``lr * sign(g)``: the *scale* of g does not matter, so rescaling
the deltas (what BGN does, eq. 9) would change little. For |g| << eps the update is
~ ``lr * g / eps``: tiny, so the layer barely learns. In a deep network without normalisation
the deltas of the first layers vanish (Figure 1) and can fall far below Keras's eps = 1e-7; BGN
lifts every delta back to norm kappa, above eps. If that is a large part of BGN's effect, then
shrinking eps should help the plain network and shrink the gap to BGN.

The study: ``eps_activations`` x {no BGN, BGN} x ``eps_values`` x ``eps_seeds`` networks of depth
``eps_depth`` (no BN), trained at the fixed rate ``eps_lr`` (not tuned per eps: the point is the
effect of eps alone). Seeds are paired across eps and BGN: seed ``derive_seed("eps", act, r)``.
"""

from __future__ import annotations

from tinybgn.experiments.jobs import JobSpec, derive_seed
from tinybgn.experiments.presets import Preset


def eps_specs(preset: Preset, data: dict) -> list[JobSpec]:
    return [
        JobSpec(
            study="eps",
            activation=act,
            depth=preset.eps_depth,
            batchnorm=False,
            bgn=bgn,
            lr=preset.eps_lr,
            seed=derive_seed("eps", act, run),
            run=run,
            epochs=preset.eps_epochs or preset.epochs,
            batch_size=preset.batch_size,
            adam_eps=eps,
            width=preset.width,
            **data,
        )
        for act in preset.eps_activations
        for bgn in (False, True)
        for eps in preset.eps_values
        for run in range(preset.eps_seeds)
    ]


def eps_summary(preset: Preset, data: dict, store) -> dict[tuple[str, bool, float], dict]:
    """(activation, bgn, eps) -> mean/std accuracy (non-diverged), diverged and one-class counts."""
    from tinybgn.experiments.table1 import summarize

    groups: dict[tuple[str, bool, float], list[dict]] = {}
    for spec in eps_specs(preset, data):
        key = (spec.activation, spec.bgn, spec.adam_eps)
        groups.setdefault(key, []).append(store.get(spec.id))
    return {k: summarize(v) for k, v in groups.items()}


def eps_markdown(preset: Preset, summary: dict, majority: float) -> str:
    from tinybgn.experiments.table1 import _fmt as fmt

    eps_values = preset.eps_values
    lines = [
        f"# Adam's eps and BGN: test accuracy, mean ± sd over {preset.eps_seeds} seeds",
        "",
        f"{preset.eps_depth} hidden layers of {preset.width}, no BN, Adam lr = {preset.eps_lr:g}, "
        f"{preset.eps_epochs or preset.epochs} epochs, batch {preset.batch_size}. "
        f"Keras's default eps (used by the paper) is 1e-7. Majority-class baseline: "
        f"{majority:.4f}. In brackets: runs predicting one class / runs.",
        "",
        "| activation | BGN | " + " | ".join(f"eps = {e:.0e}" for e in eps_values) + " |",
        "|---|---|" + "---|" * len(eps_values),
    ]
    for act in preset.eps_activations:
        for bgn in (False, True):
            cells = []
            for e in eps_values:
                s = summary[(act, bgn, e)]
                cell = fmt(s["mean"], s["std"])
                cell += f" [{s['one_class_runs']}/{s['n_ok']}]"
                if s["diverged"]:
                    cell += f" ({s['diverged']} div.)"
                cells.append(cell)
            lines.append(f"| {act} | {bgn} | " + " | ".join(cells) + " |")
    lines += ["", "BGN advantage (mean accuracy with BGN minus without):", ""]
    lines += [
        "| activation | " + " | ".join(f"eps = {e:.0e}" for e in eps_values) + " |",
        "|---|" + "---|" * len(eps_values),
    ]
    for act in preset.eps_activations:
        cells = []
        for e in eps_values:
            a, b = summary[(act, True, e)]["mean"], summary[(act, False, e)]["mean"]
            cells.append("-" if a is None or b is None else f"{a - b:+.3f}")
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def eps_rows(preset: Preset, summary: dict) -> list[dict]:
    """Flat rows for the CSV beside the figure."""
    return [
        {
            "activation": act,
            "bgn": bgn,
            "eps": e,
            "mean": summary[(act, bgn, e)]["mean"],
            "std": summary[(act, bgn, e)]["std"],
            "n_ok": summary[(act, bgn, e)]["n_ok"],
            "diverged": summary[(act, bgn, e)]["diverged"],
            "one_class_runs": summary[(act, bgn, e)]["one_class_runs"],
            "accuracies": " ".join(f"{a:.4f}" for a in summary[(act, bgn, e)]["accuracies"]),
        }
        for act in preset.eps_activations
        for bgn in (False, True)
        for e in preset.eps_values
    ]


__all__ = ["eps_markdown", "eps_rows", "eps_specs", "eps_summary"]
