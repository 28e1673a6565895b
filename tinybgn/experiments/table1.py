"""Table 1 of the paper: plan the runs and pick the best learning rate (the tables themselves
are built from the stored runs by :mod:`tinybgn.experiments.analysis`).

Protocol (section 4), for every cell (activation, BN, BGN, depth):

1. **search**: train ``search_runs`` networks at each of the ``lr_count`` log-spaced rates in
   [lr_min, lr_max]; the best rate has the highest mean *validation* accuracy
   (``selection="validation"``), or the highest mean *test* accuracy (``selection="paper"``,
   the paper's procedure). A diverged run counts as accuracy 0 here, so a rate that diverges
   is not chosen; ties go to the smaller rate.
2. **final**: train ``final_runs`` more networks at the best rate (new seeds).
3. report the mean and sample sd (ddof=1) of the test accuracies of the final runs
   (``"validation"``: runs that did not choose the rate), or of the ``search_runs +
   final_runs`` runs at the best rate (``"paper"``: 5 + 10 = 15 in the paper, biased upwards
   since the search runs were picked by their test score). Diverged runs are left out of mean
   and sd and counted in the cell.

Seeds are *paired*: run ``r`` of a given (activation, depth) uses the seed
``derive_seed("table1", activation, depth, r)`` for all rates and all four BN/BGN variants, so
they start from the same weights and see the same batches; differences come from BN/BGN and the
rate, not from the draw.
"""

from __future__ import annotations

from tinybgn.experiments.presets import Preset
from tinybgn.experiments.spec import JobSpec
from tinybgn.experiments.sweep import make_spec

#: The paper's Table 1, as printed: activation, BN, BGN, then mean ± std at 30/60/90/120 layers.
PAPER_TABLE1_TEXT = """
relu    False False 0.948 ± 0.006 0.729 ± 0.319 0.114 ± 0.000 0.114 ± 0.000
relu    False True  0.949 ± 0.007 0.890 ± 0.098 0.901 ± 0.039 0.858 ± 0.045
relu    True  False 0.958 ± 0.002 0.405 ± 0.058 0.141 ± 0.026 0.115 ± 0.001
relu    True  True  0.968 ± 0.002 0.637 ± 0.135 0.159 ± 0.038 0.112 ± 0.026
sigmoid False False 0.114 ± 0.000 0.114 ± 0.000 0.113 ± 0.002 0.114 ± 0.000
sigmoid False True  0.206 ± 0.003 0.200 ± 0.025 0.169 ± 0.045 0.181 ± 0.038
sigmoid True  False 0.961 ± 0.003 0.954 ± 0.004 0.949 ± 0.004 0.940 ± 0.010
sigmoid True  True  0.958 ± 0.001 0.952 ± 0.006 0.947 ± 0.005 0.945 ± 0.005
tanh    False False 0.956 ± 0.002 0.944 ± 0.003 0.935 ± 0.005 0.896 ± 0.017
tanh    False True  0.954 ± 0.002 0.948 ± 0.003 0.928 ± 0.028 0.901 ± 0.013
tanh    True  False 0.963 ± 0.003 0.936 ± 0.003 0.870 ± 0.025 0.516 ± 0.076
tanh    True  True  0.964 ± 0.002 0.953 ± 0.002 0.917 ± 0.009 0.758 ± 0.126
"""


def _parse_paper_table(text: str) -> dict[tuple[str, bool, bool], dict[int, tuple[float, float]]]:
    table = {}
    for line in text.strip().splitlines():
        act, bn, bgn, *cells = line.replace("±", " ").split()
        values = list(map(float, cells))
        table[(act, bn == "True", bgn == "True")] = {
            depth: (values[2 * i], values[2 * i + 1]) for i, depth in enumerate((30, 60, 90, 120))
        }
    return table


#: (activation, BN, BGN) -> {depth: (mean, std)}.
PAPER_TABLE1 = _parse_paper_table(PAPER_TABLE1_TEXT)

Config = tuple[str, int, bool, bool]


def configs(preset: Preset) -> list[Config]:
    """All Table 1 cells, in the paper's row order: activation, BN, BGN, then depth."""
    return [
        (act, depth, bn, bgn)
        for act in preset.activations
        for bn in preset.batchnorms
        for bgn in (False, True)
        for depth in preset.depths
    ]


def _variant(preset: Preset, config: Config) -> dict:
    act, depth, bn, bgn = config
    return {**preset.grid().fixed, "activation": act, "depth": depth, "batchnorm": bn, "bgn": bgn}


def _spec(preset: Preset, data: dict, config: Config, lr: float, run: int, **kw) -> JobSpec:
    """Run ``run`` of a cell at rate ``lr``: the preset's grid (:meth:`Preset.grid`) makes it,
    so ``tinybgn sweep`` on the preset's TOML file plans exactly these runs."""
    return make_spec(preset.grid(), _variant(preset, config), lr, run, data, **kw)


def search_specs(preset: Preset, data: dict) -> list[JobSpec]:
    """Phase 1: every cell x every rate x ``search_runs`` runs (run indices 0..search_runs-1).
    ``data`` holds the JobSpec data fields (dataset, data_split, n_train, ...)."""
    return [
        _spec(preset, data, config, lr, run)
        for config in configs(preset)
        for lr in preset.lr_grid
        for run in range(preset.search_runs)
    ]


def best_lrs(preset: Preset, data: dict, store) -> dict[Config, float]:
    """The best rate of every cell from the stored search runs: highest mean validation
    accuracy (``selection="paper"``: test accuracy); diverged = 0; ties -> smaller rate."""
    search = preset.grid().search
    return {
        config: search.best(
            {
                lr: [
                    store.get(_spec(preset, data, config, lr, run).id)
                    for run in range(preset.search_runs)
                ]
                for lr in preset.lr_grid
            }
        )
        for config in configs(preset)
    }


def final_specs(preset: Preset, data: dict, best: dict[Config, float]) -> list[JobSpec]:
    """Phase 2: ``final_runs`` new runs per cell at its best rate (run indices continue)."""
    first = preset.search_runs
    return [
        _spec(preset, data, config, best[config], run)
        for config in configs(preset)
        for run in range(first, first + preset.final_runs)
    ]


def probe_specs(preset: Preset, data: dict, best: dict[Config, float]) -> list[JobSpec]:
    """Figures 2-3: one probed run per (activation, BN, BGN) at ``figure_depth``, at the cell's
    best rate and with run 0's seed (so its accuracy equals that search run's)."""
    return [
        _spec(
            preset,
            data,
            config,
            best[config],
            0,
            study="figures",
            probe=True,
            probe_batch=preset.probe_batch,
        )
        for config in configs(preset)
        if config[1] == preset.figure_depth
    ]


def init_probe_specs(preset: Preset, data: dict) -> list[JobSpec]:
    """Figure 1: per (activation, BN, BGN) one network of ``figure_depth`` layers with run 0's
    seed, probed at initialisation (``epochs=0``, study ``"init_probe"``): its record's
    ``probe["trained_bgn<BGN>"]`` holds ||delta|| and ||grad_W|| per layer. The rate is unused."""
    return [
        _spec(
            preset,
            data,
            config,
            preset.lr_grid[0],
            0,
            study="init_probe",
            epochs=0,
            probe=True,
            probe_batch=preset.probe_batch,
        )
        for config in configs(preset)
        if config[1] == preset.figure_depth
    ]


def reported_runs(preset: Preset) -> range:
    """The run indices a cell's value is computed from: the final runs (selection
    "validation": the search runs chose the rate, so they are not counted), or the search runs
    at the best rate plus the final runs ("paper", as the paper did: 5 + 10 = 15)."""
    first = 0 if preset.selection == "paper" else preset.search_runs
    return range(first, preset.search_runs + preset.final_runs)
