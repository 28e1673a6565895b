"""Weight initialisers. Glorot-uniform is the default: Keras's, assumed (the paper states none)."""

from __future__ import annotations

import numpy as np


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot & Bengio (2010): W ~ U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).

    Returns W of shape (fan_out, fan_in), the paper's layout (z = W x + b).
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He et al. (2015): W ~ N(0, 2 / fan_in), suited to ReLU. Shape (fan_out, fan_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_normal": he_normal}
