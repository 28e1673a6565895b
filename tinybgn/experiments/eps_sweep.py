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


__all__ = ["eps_specs"]
