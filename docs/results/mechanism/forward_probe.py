"""How much of the input survives the forward pass of a 90-layer MLP at initialisation?

Part of the mechanism study (README.md beside this file): BGN is the identity on the forward
pass (eq. 4), so whatever the forward pass loses, BGN cannot give back. One network per
activation, initialised as the study's run 0 (Glorot-uniform weights, zero biases, float32),
one forward pass of 256 training digits of the study's carved split. For the input h of some
Dense layers K (K = 1 sees the digits, K = 91 is the output layer, whose input is the last
hidden layer's output):

* ``RMS of h``: root mean square of h over the batch and the units;
* ``between-digit spread``: the standard deviation *across the 256 digits*, RMS over the units,
  divided by the RMS of h; 1 means h varies as much as it is large, 0 that every digit gives
  the same h;
* ``distinct digits``: how many of the 256 digits give a different h (bit for bit, float32);
  1 means the layer sees one and the same vector whatever the digit.

A layer whose input no longer depends on the digit cannot tell digits apart, whatever its
gradient: the network above it can only learn the class prior (0.1135) until training has
made the layers below keep the input.

The second part follows the same quantities **during training** for three sigmoid BGN final
runs of the study, retrained here from their stored specs with the engine's own job code
(the same data, initial weights, batch order and optimizer as the stored run): at the end of
epochs 1, 5, 10 and 20, on the same 256 digits. Each run's final test accuracy is checked
against its stored record (the same on the machine that made it; see the README's note on
bits otherwise).

    TINYBGN_DATA=../shared/data/mnist python docs/results/mechanism/forward_probe.py \
        > docs/results/mechanism/forward_probe.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinybgn as tb
from tinybgn.data import load_dataset
from tinybgn.experiments.analysis import load_records
from tinybgn.experiments.jobs import build_model, build_optimizer, derive_seed, load_job_data
from tinybgn.experiments.spec import JobSpec
from tinybgn.train import train

HERE = Path(__file__).parent

DEPTH, WIDTH, N = 90, 64, 256
ACTIVATIONS = ["relu", "sigmoid", "tanh"]
LAYERS = [1, 2, 5, 10, 20, 30, 45, 60, 80, 91]
#: (label, store, spec keys) of the sigmoid runs followed during training (run 2 of each).
TRAINED = [
    ("BGN, lr 3.2e-4, run 2", HERE / "sigmoid-rate" / "report" / "runs.jsonl.gz",
     {"bgn": True, "lr": 0.0003162, "run": 2}),
    ("BGN, lr 3.2e-4, run 1", HERE / "sigmoid-rate" / "report" / "runs.jsonl.gz",
     {"bgn": True, "lr": 0.0003162, "run": 1}),
    ("BGN, lr 1e-5 (its pick), run 2", HERE / "report" / "runs-slim.jsonl.gz",
     {"bgn": True, "lr": 1e-5, "run": 2, "bgn_kappa": None, "bgn_every": 1,
      "grad_method": "none", "optimizer": "adam"}),
]  # fmt: skip
EPOCHS_SHOWN = (1, 5, 10, 20)
TRAINED_LAYERS = [2, 5, 10, 20, 45, 91]


def dense_inputs(model, x: np.ndarray) -> list[np.ndarray]:
    """The input h of every Dense layer, input to output, from one forward pass."""
    inputs, h = [], x
    for layer in model.layers:
        if isinstance(layer, tb.Dense):
            inputs.append(h)
        h = layer.forward(h)
    return inputs


def describe(h: np.ndarray) -> tuple[float, float, int]:
    """(RMS of h, between-digit spread, distinct digits): see the module docstring."""
    h64 = h.astype(np.float64)
    rms = float(np.sqrt(np.mean(h64**2)))
    spread = float(np.sqrt(np.mean(h64.std(axis=0) ** 2))) / rms if rms > 0 else 0.0
    return rms, spread, int(np.unique(h, axis=0).shape[0])


def main() -> None:
    data = load_dataset("mnist", val_size=1000, split="carve", seed=0, fallback="sample")
    x = data.x_train[:N]
    shares = np.sort(np.bincount(data.y_test, minlength=10) / len(data.y_test))[::-1]
    print(f"# The forward signal at initialisation, {DEPTH} layers of {WIDTH}, float32\n")
    print(f"Written by `forward_probe.py` (its docstring defines the columns). Data: "
          f"{data.info['source']}; {data.info['split']}; {data.info['validation']}; the first "
          f"{N} training digits. "
          "BGN does not change these numbers (it is the identity on the forward pass, "
          f"eq. 4). The two largest classes of the test split: {shares[0]:.4f} + "
          f"{shares[1]:.4f} = {shares[:2].sum():.4f}, the best a net that predicts two "
          "classes can score.\n")  # fmt: skip
    head = ["RMS of h", "between-digit spread", "distinct digits"]
    print("| Dense layer K | " + " | ".join(f"{a}: {c}" for a in ACTIVATIONS for c in head) + " |")
    print("|---" * (1 + len(head) * len(ACTIVATIONS)) + "|")
    rows = {}
    for activation in ACTIVATIONS:
        model = tb.mlp(hidden=[WIDTH] * DEPTH, activation=activation,
                       seed=derive_seed("mechanism", activation, 0))  # fmt: skip
        inputs = dense_inputs(model, x)
        rows[activation] = {k: describe(inputs[k - 1]) for k in LAYERS}
    for k in LAYERS:
        cells = []
        for activation in ACTIVATIONS:
            rms, spread, distinct = rows[activation][k]
            cells += [f"{rms:.2g}", f"{spread:.2g}", str(distinct)]
        print(f"| {k} | " + " | ".join(cells) + " |")
    during_training(x)


def stored_record(store: Path, keys: dict) -> dict:
    """The one sigmoid, 90-layer record of ``store`` whose spec has ``keys``."""
    want = {"activation": "sigmoid", "depth": DEPTH, **keys}
    found = [r for r in load_records(store) if all(r["spec"].get(k) == v for k, v in want.items())]
    if len(found) != 1:
        raise SystemExit(f"{store}: {len(found)} records match {want}, expected 1")
    return found[0]


def during_training(x: np.ndarray) -> None:
    """Part 2 of the module docstring: the stored runs retrained, probed at epoch ends."""
    print("\n## During training: sigmoid BGN final runs, retrained from their specs\n")
    print("Between-digit spread of the input of Dense layer K, and in brackets the number of "
          f"distinct inputs among the {len(x)} digits, at initialisation (epoch 0) and after "
          "epochs " + ", ".join(map(str, EPOCHS_SHOWN)) + ".\n")  # fmt: skip
    for label, store, keys in TRAINED:
        record = stored_record(store, keys)
        spec = JobSpec.from_dict(record["spec"])
        ds = load_job_data(spec, None)
        model = build_model(spec, in_features=ds.x_train.shape[1])
        rows = {0: [describe(h) for h in dense_inputs(model, x)]}

        def at_epoch_end(epoch_record, model=model, rows=rows) -> None:
            if epoch_record.epoch in EPOCHS_SHOWN:
                rows[epoch_record.epoch] = [describe(h) for h in dense_inputs(model, x)]

        history = train(model, ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                        epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed,
                        optimizer=build_optimizer(spec, model), progress=at_epoch_end)  # fmt: skip
        accuracy = history.final.test_accuracy
        stored = [e["train_loss"] for e in record["history"]["epochs"]]
        same = [e.train_loss for e in history.epochs] == stored
        print(f"### {label}: test accuracy {accuracy:.4f} (stored: {record['accuracy']:.4f}); "
              f"every epoch's training loss {'equals' if same else 'differs from'} the "
              "stored record's\n")  # fmt: skip
        print("| epoch | " + " | ".join(f"K = {k}" for k in TRAINED_LAYERS) + " |")
        print("|---" * (1 + len(TRAINED_LAYERS)) + "|")
        for epoch, described in rows.items():
            cells = [f"{described[k - 1][1]:.2g} ({described[k - 1][2]})" for k in TRAINED_LAYERS]
            print(f"| {epoch} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
