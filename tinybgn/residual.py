"""A residual MLP: the paper's deep MLP with identity skip connections (He et al., 2016).

The paper's introduction names residual networks as the other cure for vanishing gradients;
this builder puts the two side by side. Hidden layer k is the block of :func:`tinybgn.mlp`,
``Dense -> [BatchNorm] -> [BGN] -> activation``; after the first (the stem, which changes the
width from ``in_features``) every ``block_size`` consecutive blocks form a residual branch F
whose input is added back::

    h_0 = f(Dense(x))                     stem
    h_b = h_{b-1} + F_b(h_{b-1})          identity skip, b = 1 .. (len(hidden) - 1) / block_size
    logits = Dense(h_B)

Where BGN goes (``bgn=True``; ``bgn_placement``):

* ``"branch"`` (default): before every activation, the paper's rule. Inside a residual block the
  skip bypasses it, so backward paths cross different BGN layers and eq. (9) becomes a sum over
  paths (see :mod:`tinybgn.graph`): BGN no longer acts as a per-layer learning rate.
* ``"trunk"``: after every ``Add`` (on the residual stream), and none before the activations.
  Every backward path from the output to a layer below block b crosses the BGN after block b,
  so each delta is a single multiple of the plain one again: eq. (9) holds, with the product
  over the trunk BGN layers above.
* ``"both"``: both places.
"""

from __future__ import annotations

import numpy as np

from tinybgn.activations import ACTIVATIONS
from tinybgn.batchnorm import BatchNorm
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.graph import Add, Input, Model, Node

PLACEMENTS = ("branch", "trunk", "both")


def residual_mlp(
    in_features: int = 784,
    hidden: list[int] | tuple[int, ...] = (64,) * 90,
    out_features: int = 10,
    activation: str = "relu",
    batchnorm: bool = False,
    bgn: bool = False,
    *,
    block_size: int = 1,
    bgn_placement: str = "branch",
    bgn_kappa: float | None = None,
    bgn_every: int = 1,
    bgn_scope: str = "batch",
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    init: str = "glorot_uniform",
    seed: int = 0,
    dtype: type = np.float32,
) -> Model:
    """Build a residual MLP with ``len(hidden)`` hidden Dense layers (as :func:`tinybgn.mlp`).

    ``hidden`` must be one width repeated (identity skips add equal widths), and
    ``len(hidden) - 1`` a multiple of ``block_size`` (the stem is not inside a block). With
    ``block_size=1`` each block is the issue's ``h = h + f(BGN(Dense(h)))``.

    ``bgn_every=k`` puts the BGN layers before the activations (placements "branch", "both")
    before every k-th hidden activation only, counted from the input, as in :func:`tinybgn.mlp`;
    trunk BGN layers are not affected. ``bgn_kappa`` and ``bgn_scope`` go to every BGN.

    Weights are drawn from ``numpy.random.default_rng(seed)`` in layer order, exactly as
    :func:`tinybgn.mlp` draws them, so the same seed gives the same network bit for bit, and the
    same weights as ``tb.mlp`` with the same ``hidden``: a plain and a residual net can be
    compared from one initialisation.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"residual_mlp: unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    if bgn_placement not in PLACEMENTS:
        raise ValueError(
            f"residual_mlp: bgn_placement must be one of {PLACEMENTS}, got {bgn_placement!r}"
        )
    hidden = [int(w) for w in hidden]
    if not hidden or len(set(hidden)) != 1:
        raise ValueError(
            f"residual_mlp: hidden must repeat one width (identity skips), got {hidden[:5]}..."
        )
    if not isinstance(block_size, int) or block_size < 1 or (len(hidden) - 1) % block_size:
        raise ValueError(
            f"residual_mlp: len(hidden) - 1 = {len(hidden) - 1} layers after the stem do not "
            f"split into blocks of block_size = {block_size!r}"
        )
    if isinstance(bgn_every, bool) or not isinstance(bgn_every, int) or bgn_every < 1:
        raise ValueError(f"residual_mlp: bgn_every must be a positive integer, got {bgn_every!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"residual_mlp: seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    in_branch = bgn and bgn_placement in ("branch", "both")
    on_trunk = bgn and bgn_placement in ("trunk", "both")

    K = 0  # the paper's layer number, which names the nodes: dense3, bn3, bgn3, relu3, add2

    def layer_block(h: Node, width_in: int, units: int) -> Node:
        """Dense -> [BatchNorm] -> [BGN] -> activation, the block of tb.mlp."""
        nonlocal K
        K += 1
        h = Dense(width_in, units, init=init, rng=rng, dtype=dtype)(h, name=f"dense{K}")
        if batchnorm:
            bn = BatchNorm(units, eps=bn_eps, momentum=bn_momentum, dtype=dtype)
            h = bn(h, name=f"bn{K}")
        if in_branch and K % bgn_every == 0:
            h = BGN(kappa=bgn_kappa, scope=bgn_scope)(h, name=f"bgn{K}")
        return ACTIVATIONS[activation]()(h, name=f"{activation}{K}")

    x = Input(in_features, name="x")
    width = hidden[0]
    h = layer_block(x, in_features, width)
    for b in range(1, (len(hidden) - 1) // block_size + 1):
        r = h
        for _ in range(block_size):
            r = layer_block(r, width, width)
        h = Add()(h, r, name=f"add{b}")
        if on_trunk:
            h = BGN(kappa=bgn_kappa, scope=bgn_scope)(h, name=f"trunk_bgn{b}")
    out = Dense(width, out_features, init=init, rng=rng, dtype=dtype)(h, name=f"dense{K + 1}")
    return Model(x, out)
