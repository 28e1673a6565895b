"""tinybgn: Backward Gradient Normalization (Cabana & Lago-Fernandez, 2021) in NumPy.

A small engine whose layers have explicit ``forward``/``backward`` methods that follow the
paper's equations (1)-(11), built for teaching backpropagation and for testing BGN's claims.
"""

__version__ = "0.1.0"

from tinybgn.activations import ReLU, Sigmoid, Tanh
from tinybgn.batchnorm import BatchNorm
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.errors import (
    GraphError,
    LabelError,
    NonFiniteError,
    ShapeError,
    StateError,
    TinyBGNError,
)
from tinybgn.gradcheck import gradcheck, rel_error
from tinybgn.graph import Add, Input, Model
from tinybgn.layer import Layer
from tinybgn.losses import softmax_cross_entropy
from tinybgn.mlp import mlp
from tinybgn.optim import SGD, Adam
from tinybgn.probes import gradient_norms, weight_change
from tinybgn.residual import residual_mlp
from tinybgn.sequential import Sequential
from tinybgn.trace import TraceStep, format_trace, plot_backward

__all__ = [
    "BGN",
    "SGD",
    "Adam",
    "Add",
    "BatchNorm",
    "Dense",
    "GraphError",
    "Input",
    "Layer",
    "LabelError",
    "Model",
    "NonFiniteError",
    "ReLU",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "StateError",
    "Tanh",
    "TinyBGNError",
    "TraceStep",
    "format_trace",
    "gradcheck",
    "gradient_norms",
    "mlp",
    "plot_backward",
    "rel_error",
    "residual_mlp",
    "softmax_cross_entropy",
    "weight_change",
]
