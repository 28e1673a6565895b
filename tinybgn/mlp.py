"""The paper's network: a deep multilayer perceptron of equal-width hidden blocks."""

from __future__ import annotations

import numbers

import numpy as np

from tinybgn.activations import ACTIVATIONS
from tinybgn.batchnorm import BatchNorm
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.layer import Layer
from tinybgn.sequential import Sequential


def mlp(
    in_features: int = 784,
    hidden: list[int] | tuple[int, ...] = (64,) * 90,
    out_features: int = 10,
    activation: str = "relu",
    batchnorm: bool = False,
    bgn: bool = False,
    *,
    bgn_output: bool = False,
    bgn_kappa: float | None = None,
    bgn_every: int = 1,
    bgn_scope: str = "batch",
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    init: str = "glorot_uniform",
    seed: int = 0,
    dtype: type = np.float32,
) -> Sequential:
    """Build the paper's MLP. Each hidden block is ``Dense -> [BatchNorm] -> [BGN] -> activation``
    (BGN "just before every activation", section 2.1); then the output ``Dense``, whose logits go
    to :func:`tinybgn.softmax_cross_entropy`.

    ``bgn_output=False`` (default) puts no BGN before the softmax: the paper places BGN before the
    hidden activations of a Keras model whose softmax sits inside the last Dense layer, and the
    loss gradient (p - y)/N already has a bounded norm. With BGN in every hidden block, the option
    only changes the scale of the output layer's own weight gradient (eq. 9 renormalises below it).

    ``bgn_every=k`` (with ``bgn=True``) puts BGN before every k-th hidden activation only:
    blocks k, 2k, 3k, ... counted from the input (k = 1, the default, is the paper's "every
    activation"; a variant for ablations). ``bgn_kappa`` and ``bgn_scope`` go to every
    :class:`tinybgn.BGN` (kappa None = sqrt(d), the paper's choice).

    Weights are drawn from ``numpy.random.default_rng(seed)`` in layer order, so the same seed
    gives the same network bit for bit, with or without BN/BGN (they draw nothing).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"mlp: unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    if isinstance(bgn_every, bool) or not isinstance(bgn_every, numbers.Integral) or bgn_every < 1:
        raise ValueError(f"mlp: bgn_every must be a positive integer, got {bgn_every!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"mlp: seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    width = in_features
    for block, units in enumerate(hidden, start=1):
        layers.append(Dense(width, units, init=init, rng=rng, dtype=dtype))
        if batchnorm:
            layers.append(BatchNorm(units, eps=bn_eps, momentum=bn_momentum, dtype=dtype))
        if bgn and block % bgn_every == 0:
            layers.append(BGN(kappa=bgn_kappa, scope=bgn_scope))
        layers.append(ACTIVATIONS[activation]())
        width = units
    layers.append(Dense(width, out_features, init=init, rng=rng, dtype=dtype))
    if bgn and bgn_output:
        layers.append(BGN(kappa=bgn_kappa, scope=bgn_scope))
    return Sequential(layers)
