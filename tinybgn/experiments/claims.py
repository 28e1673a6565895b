"""The paper's claims, each tested by a number computed from the run records.

The introduction of Cabana & Lago-Fernandez (2021) states four results and a timing claim:

(i)   "the backward normalized gradients are proportional to the original gradients, with a
      constant that can be different for each layer";
(ii)  "the normalized gradients are able to reach the deepest layers without degradation";
(iii) "when BGN is introduced there is more adaptation of the weights in the initial layers";
(iv)  "inclusion of gradient normalization always improves the results regardless of the base
      method";
(T)   "BGN is less time consuming than ... batch normalization"; section 5 quantifies it at 90
      ReLU layers: BGN adds ~27 % (40.00 -> 50.83 s), BN almost triples the time (x 2.95).

:func:`evaluate` turns the output of :func:`tinybgn.experiments.analysis.analyse` into one row
per claim: ``id``, ``claim``, ``test`` (what is measured), ``value`` (the measured number, as
text), ``numbers`` (the same as data), ``verdict`` (``reproduced`` / ``not reproduced`` /
``inconclusive``) and ``rule`` (how the verdict follows from the number). Nothing is typed in
but the paper's own numbers and the thresholds of the rules.
"""

from __future__ import annotations

import math

import numpy as np

#: (ii): a normalised delta that stays within this factor from the last hidden layer to the
#: first one has reached it "without degradation".
DEGRADATION_FACTOR = 10.0
#: (iii): the "initial layers" are this share of the Dense layers on the input side (>= 1).
INITIAL_SHARE = 0.1
#: (i): cosine between BGN's delta and the plain delta above which they are "proportional".
COSINE_MIN = 1 - 1e-6
#: Timing: a measured ratio within this relative distance of the paper's reproduces it.
TIMING_TOLERANCE = 0.2
PAPER_RATIOS = {"BGN/none": 50.83 / 40.00, "BN/none": 118.00 / 40.00}


def evaluate(a: dict) -> list[dict]:
    """The claims table (see the module docstring) from ``analysis.analyse(records)``."""
    return [
        claim_i(a),
        claim_ii(a),
        claim_iii(a),
        claim_iv(a),
        claim_timing_vs_bn(a),
        *claim_timing_ratios(a),
    ]


def _row(cid, claim, test, value, verdict, rule, numbers=None) -> dict:
    return {
        "id": cid,
        "claim": claim,
        "test": test,
        "value": value,
        "numbers": numbers,
        "verdict": verdict,
        "rule": rule,
    }


def _all_or_half(agree: int, total: int) -> str:
    """reproduced if every comparison agrees with the claim, not reproduced if at least half
    disagree, inconclusive in between."""
    if agree == total:
        return "reproduced"
    return "not reproduced" if total - agree >= total / 2 else "inconclusive"


def claim_i(a: dict) -> dict:
    """(i) from ``probe["proportionality"]`` (see tinybgn.probes.bgn_proportionality): the
    cosine, per layer, between the delta with BGN and the plain delta of the same weights.

    Layers whose plain delta has subnormal entries (``plain_subnormal`` > 0) are judged apart:
    there the plain backprop itself has lost precision in float32, so a cosine below 1 says
    that the *original* gradient is inexact, not that BGN's is not proportional to it."""
    resolved, underflowed = [], []
    for role, rec in a["roles"]:
        if role not in ("probe", "init_probe"):
            continue
        found = (rec.get("probe") or {}).get("proportionality") or {}
        cosines = found.get("cosine", [])
        sub = found.get("plain_subnormal") or [0.0] * len(cosines)
        for c, s in zip(cosines, sub, strict=True):
            if c is not None:
                (underflowed if s else resolved).append(c)
    claim = "(i) BGN's gradients are proportional to the plain ones, one constant per layer"
    test = (
        "smallest cosine, over layers and probed networks, between delta with and without BGN "
        "(layers where the plain delta went subnormal in float32 counted apart)"
    )
    rule = (
        f"reproduced if every cosine >= {COSINE_MIN} (eq. 9) where the plain delta is exactly "
        "representable, not reproduced otherwise"
    )
    if not resolved and not underflowed:
        return _row(
            "i", claim, test, "not in this store (no probe 'proportionality')", "inconclusive", rule
        )
    if not resolved:
        return _row("i", claim, test, "every plain delta is subnormal", "inconclusive", rule)
    low = float(min(resolved))
    value = f"min cosine {low:.9f} over {len(resolved)} layers"
    if underflowed:
        value += (
            f"; {len(underflowed)} layers whose plain delta is subnormal in float32: min "
            f"cosine {min(underflowed):.3f} (the plain backprop lost precision there)"
        )
    verdict = "reproduced" if low >= COSINE_MIN else "not reproduced"
    numbers = {
        "min_cosine": low,
        "layers": len(resolved),
        "underflowed_layers": len(underflowed),
        "min_cosine_underflowed": min(underflowed) if underflowed else None,
    }
    return _row("i", claim, test, value, verdict, rule, numbers)


def _split_label(label: str) -> tuple[str, str]:
    """('BGN', 'optimizer=sgd') from 'BGN bgn_kappa=1 optimizer=sgd' (BGN-only keys dropped)."""
    base, *parts = label.split(" ")
    return base, " ".join(p for p in parts if not p.startswith("bgn_"))


def _median_curve(value, key: str | None) -> np.ndarray:
    from tinybgn.experiments.figures import as_curves

    with np.errstate(all="ignore"):
        return np.nanmedian(as_curves(value, key), axis=0)


def _decades_from_1(ratio: float) -> float:
    """|log10(ratio)|; a ratio of 0 (the first hidden delta underflowed) is infinitely far."""
    return abs(math.log10(ratio)) if ratio > 0 else math.inf


def claim_ii(a: dict) -> dict:
    """(ii) from Figures 1 and 2: ||delta|| at the first hidden layer over ||delta|| at the last
    hidden layer, for the normalised variants (BGN, BN+BGN), against the plain ones."""
    claim = "(ii) normalised gradients reach the deepest layers without degradation"
    test = (
        "||delta|| at the first hidden layer / at the last hidden layer, median over seeds, "
        "for the BGN and BN+BGN networks of Figures 1-2 (plain networks for contrast)"
    )
    rule = (
        f"reproduced if every normalised ratio lies within a factor {DEGRADATION_FACTOR:g} of "
        "1, not reproduced if any lies outside; a network whose delta is already 0 at the last "
        "hidden layer (a dead ReLU network, or an underflow: nothing to normalise, eq. 5 is 0/0) "
        "has no ratio and is listed apart"
    )
    normalised, plain, dead = {}, {}, []
    for fig in ("figure1", "figure2"):
        for act, variants in a[fig].items():
            for label, value in variants.items():
                delta = _median_curve(value, "delta")
                if len(delta) < 3:
                    continue
                name = f"{fig} {act} {label}"
                if not delta[-2] > 0:  # [-1] is the output layer
                    dead.append(name)
                    continue
                is_bgn = _split_label(label)[0].endswith("BGN")
                (normalised if is_bgn else plain)[name] = float(delta[0] / delta[-2])
    numbers = {"normalised": normalised, "plain": plain, "no_gradient": dead}
    no_gradient = (
        f"; no gradient at the last hidden layer, so no ratio: {', '.join(dead)}" if dead else ""
    )
    if not normalised:
        value = "not in this store (no probed gradient norms)" if not dead else no_gradient[2:]
        return _row("ii", claim, test, value, "inconclusive", rule, numbers if dead else None)
    worst = max(normalised, key=lambda k: _decades_from_1(normalised[k]))
    ok = all(1 / DEGRADATION_FACTOR <= r <= DEGRADATION_FACTOR for r in normalised.values())
    contrast = f"; plain: {min(plain.values()):.1e} .. {max(plain.values()):.1e}" if plain else ""
    value = (
        f"normalised ratios {min(normalised.values()):.3g} .. {max(normalised.values()):.3g} "
        f"(furthest from 1: {worst}){contrast}{no_gradient}"
    )
    return _row("ii", claim, test, value, "reproduced" if ok else "not reproduced", rule, numbers)


def claim_iii(a: dict) -> dict:
    """(iii) from Figure 3: mean |dW| of the initial layers, with BGN over without."""
    claim = "(iii) with BGN the weights of the initial layers adapt more"
    test = (
        f"mean |ΔW| over the first {INITIAL_SHARE:.0%} of Dense layers (input side), BGN / "
        "same network without BGN (Figure 3 runs)"
    )
    rule = (
        "reproduced if the ratio > 1 in every comparison, not reproduced if <= 1 in at least "
        "half of them, inconclusive otherwise"
    )
    ratios = {}
    for act, variants in a["figure3"].items():
        curves = {_split_label(k): _median_curve(v, None) for k, v in variants.items()}
        for (base, rest), wc in curves.items():
            partner = {"none": "BGN", "BN": "BN+BGN"}.get(base)
            if partner is None or (partner, rest) not in curves:
                continue
            k = max(1, round(INITIAL_SHARE * len(wc)))
            with np.errstate(divide="ignore"):  # plain weights that never moved: ratio inf
                ratio = float(np.mean(curves[(partner, rest)][:k]) / np.mean(wc[:k]))
            ratios[f"{act} {partner} vs {base}{' ' + rest if rest else ''}"] = ratio
    if not ratios:
        return _row(
            "iii", claim, test, "not in this store (no weight-change probes)", "inconclusive", rule
        )
    above = sum(r > 1 for r in ratios.values())
    verdict = _all_or_half(above, len(ratios))
    value = f"ratio > 1 in {above} of {len(ratios)}: " + ", ".join(
        f"{k} {v:.3g}" for k, v in ratios.items()
    )
    return _row("iii", claim, test, value, verdict, rule, ratios)


def claim_iv(a: dict) -> dict:
    """(iv) from the paired comparisons of Table 1 (BGN vs the same cell without BGN)."""
    claim = "(iv) adding BGN always improves the results, with or without BN"
    test = "paired comparisons BGN vs baseline over all Table 1 cells (sign-flip test)"
    rule = (
        "not reproduced if BGN is worse in any pair; reproduced if better in at least half and "
        "worse in none; inconclusive otherwise (most pairs show no difference)"
    )
    pairs = a["pairs"]
    if len({p["selection"] for p in pairs}) > 1:  # both rules in one store: the honest one
        pairs = [p for p in pairs if p["selection"] == "validation"]
    if not pairs:
        return _row(
            "iv", claim, test, "not in this store (no BGN/baseline pairs)", "inconclusive", rule
        )
    count = {v: sum(p["verdict"] == v for p in pairs) for v in ("better", "worse")}
    min_p = min((p["min_p"] for p in pairs if p["min_p"] is not None), default=None)
    value = (
        f"better {count['better']}, worse {count['worse']}, indistinguishable "
        f"{len(pairs) - count['better'] - count['worse']} of {len(pairs)} pairs"
    )
    if min_p is not None and min_p >= 0.05:
        most = max(p["n"] for p in pairs)
        value += f" (with {most} pairs per cell p >= {min_p:.3g}: no pair can reach p < 0.05)"
    if count["worse"]:
        verdict = "not reproduced"
    elif count["better"] >= len(pairs) / 2:
        verdict = "reproduced"
    else:
        verdict = "inconclusive"
    return _row("iv", claim, test, value, verdict, rule, {**count, "pairs": len(pairs)})


def claim_timing_vs_bn(a: dict) -> dict:
    claim = "(T) BGN is less time consuming than BN"
    test = (
        "median seconds per epoch, BGN / BN, per architecture (activation, depth; of trained "
        "runs: see timing.md on subnormal arithmetic)"
    )
    rule = (
        "reproduced if BGN / BN < 1 for every architecture, not reproduced if >= 1 for at "
        "least half, inconclusive otherwise"
    )
    ratios = a["timing_ratios"].get("BGN/BN", [])
    if not ratios:
        return _row(
            "T", claim, test, "not in this store (no timed BGN and BN runs)", "inconclusive", rule
        )
    below = sum(r < 1 for r in ratios)
    verdict = _all_or_half(below, len(ratios))
    value = (
        f"median × {np.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}, "
        f"{len(ratios)} architectures)"
    )
    return _row("T", claim, test, value, verdict, rule, {"ratios": ratios})


def claim_timing_ratios(a: dict) -> list[dict]:
    rows = []
    for name, cid in (("BGN/none", "T-BGN"), ("BN/none", "T-BN")):
        paper = PAPER_RATIOS[name]
        what = "BGN adds ~27 %" if name == "BGN/none" else "BN almost triples the time"
        claim = f"(T) {what} (× {paper:.2f} at 90 ReLU layers)"
        test = (
            f"median seconds per epoch {name}, median over architectures (of trained runs: "
            "see timing.md on subnormal arithmetic)"
        )
        low, high = paper * (1 - TIMING_TOLERANCE), paper * (1 + TIMING_TOLERANCE)
        rule = (
            f"reproduced if the median ratio lies in [{low:.2f}, {high:.2f}] (± "
            f"{TIMING_TOLERANCE:.0%}: timings depend on the engine and machine), not "
            "reproduced otherwise"
        )
        ratios = a["timing_ratios"].get(name, [])
        if not ratios:
            rows.append(_row(cid, claim, test, "not in this store", "inconclusive", rule))
            continue
        med = float(np.median(ratios))
        at90 = _ratio_at(a, name, "relu", 90)
        value = f"× {med:.2f} (range {min(ratios):.2f}-{max(ratios):.2f})" + (
            f"; 90 ReLU layers: × {at90:.2f}" if at90 else ""
        )
        verdict = "reproduced" if low <= med <= high else "not reproduced"
        rows.append(
            _row(
                cid,
                claim,
                test,
                value,
                verdict,
                rule,
                {"median": med, "ratios": ratios, "relu_90": at90},
            )
        )
    return rows


def _ratio_at(a: dict, name: str, activation: str, depth: int) -> float | None:
    """The ratio at one architecture; the median over CPUs when the store spans several."""
    want_bn = name == "BN/none"
    t = {
        (r["key"].get("cpu"), r["batchnorm"], r["bgn"]): r["seconds_per_epoch_median"]
        for r in a["timing"]
        if r["activation"] == activation and r["depth"] == depth
    }
    ratios = [
        t[(cpu, want_bn, not want_bn)] / t[(cpu, False, False)]
        for cpu in {c for c, _, _ in t}
        if t.get((cpu, want_bn, not want_bn)) and t.get((cpu, False, False))
    ]
    return float(np.median(ratios)) if ratios else None


__all__ = ["evaluate"]
