"""The accuracy bar on sequential digits, row by row (the ``digits`` preset, 40 epochs), seed by seed.

For each seed in ``SEEDS`` the preset is trained twice at the same budget: integer mul-free
(QAT, exported) and its float (unquantized) twin. The bar, for every seed:

* the exported integer model is bit-exact against its QAT eval (0 mismatches);
* its accuracy on the whole test split (360 samples) is >= 95%;
* it is within 1 point of its float twin's (``integer >= float - 0.01``).

Measured on a 2-core x86_64 machine, torch 2.13.0+cpu: integer 97.78 / 96.11 / 97.50%, float twin
96.94 / 96.39 / 97.50% (seeds 0, 1, 2). Without the BatchNorm freeze below, seed 0 gave 95.28%
against 97.22%: the bar fails for that seed.

Each run is pinned so that the same seed gives the same weights: one torch thread (a
reduction's rounding depends on how it is split over threads), deterministic algorithms, and
the ``taploop`` temporal convolution (no timing-based autoselect). On a CPU with other vector
kernels the rounding, and so a run, may still differ; the margins above (the worst seed is 1.1
points above 95% and 0.28 points below its twin) are what carries the bar there. The six runs
go to two worker processes, one per core.

The bar is met by freezing the neurons' BatchNorm statistics for the last quarter of the
epochs (``SpikingNetwork.schedule_epoch``): the fast tests below pin that mechanism.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.quant import config, presets
from shiftspike.quant.check import compare
from shiftspike.quant.data import load_dataset
from shiftspike.quant.export import load_network
from shiftspike.quant.grid import Grid
from shiftspike.quant.network import SpikingNetwork
from shiftspike.quant.neurons import ChannelwiseNeuron
from shiftspike.quant.train import load_data, train

#: The suite trains seed 1, the one closest to both bars in the measurement above (1.1 points above 95%,
#: 0.28 below its twin); ``SHIFTSPIKE_ACCURACY_SEEDS=0,1,2`` runs all three (about 3x the time).
SEEDS = tuple(int(s) for s in os.environ.get("SHIFTSPIKE_ACCURACY_SEEDS", "1").split(","))
BAR, GAP = 0.95, 0.01


def pinned_run(neuron: str, seed: int) -> tuple[float, int]:
    """``(test accuracy, mismatches)`` of the ``digits`` preset trained with ``neuron`` and ``seed``.

    For ``mulfree`` the accuracy is the exported integer model's on the whole test split
    (simulator vs QAT eval mismatches counted); for ``float`` it is the float twin's, 0 mismatches.
    Runs in a worker process: it pins torch to one thread and to deterministic algorithms.
    """
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    raw = presets.preset("digits")
    raw["model"].update(neuron=neuron, impl="taploop")
    raw["train"]["seed"] = seed
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "run"
        summary = train(config.validate(raw), out, progress=False)
        if neuron != "mulfree":
            return summary["test_accuracy"], 0
        net, _ = load_network(out)
        check = compare(net, net.integer_plan().model, load_dataset("digits", "test"))
        return check.integer_correct / check.samples, check.mismatches


def seed_runs() -> tuple[list[tuple[float, int]], list[float]]:
    """``(integer (accuracy, mismatches) per seed, float twin accuracy per seed)``, two runs at a time."""
    jobs = [(neuron, seed) for seed in SEEDS for neuron in ("mulfree", "float")]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(pinned_run, *zip(*jobs)))
    return results[0::2], [accuracy for accuracy, _ in results[1::2]]


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), channels=st.integers(1, 6), taps=st.integers(1, 6), dilation=st.integers(1, 3))
def test_frozen_statistics_train_exactly_the_eval_integer_neuron(seed, channels, taps, dilation):
    """With frozen statistics a training forward quantizes the eval kernel and threshold (same spikes,
    float64 on spike inputs, where both are exact) and leaves the running statistics as they were."""
    gen = torch.Generator().manual_seed(seed)
    neuron = ChannelwiseNeuron(channels, taps, dilation, shift_max=4, impl="taploop").double()
    with torch.no_grad():
        neuron.weight.copy_(torch.randn(channels, taps, generator=gen, dtype=torch.float64))
        neuron.beta.copy_(torch.randn(channels, generator=gen, dtype=torch.float64))
        neuron.running_mean.copy_(torch.randn(channels, generator=gen, dtype=torch.float64))
        neuron.running_var.copy_(torch.rand(channels, generator=gen, dtype=torch.float64) * 3 + 0.1)
    before = (neuron.running_mean.clone(), neuron.running_var.clone())
    x = (torch.rand(12, 5, channels, generator=gen, dtype=torch.float64) < 0.4).double()
    neuron.eval()
    expected = neuron(x, Grid.spikes())
    neuron.train()
    neuron.frozen_statistics = True
    trained = neuron(x, Grid.spikes())
    assert torch.equal(trained, expected)
    assert torch.equal(neuron.running_mean, before[0]) and torch.equal(neuron.running_var, before[1])


def _network() -> SpikingNetwork:
    cfg = config.validate(presets.preset("digits", width=0.25))
    return SpikingNetwork(cfg.model, load_data(cfg)[0].info)


@pytest.mark.parametrize(("epochs", "first_frozen"), [(40, 30), (8, 6), (4, 3), (3, 3), (1, 1)])
def test_the_last_quarter_of_the_epochs_trains_on_frozen_statistics(epochs, first_frozen):
    net = _network()
    neurons = [m for m in net.modules() if isinstance(m, ChannelwiseNeuron)]
    frozen = []
    for epoch in range(epochs):
        net.schedule_epoch(epoch, epochs)
        states = {m.frozen_statistics for m in neurons}
        assert len(states) == 1
        frozen.append(states.pop())
    assert frozen == [epoch >= first_frozen for epoch in range(epochs)]


@pytest.mark.slow
def test_integer_mul_free_digits_meets_the_bar_for_every_seed():
    integer, twins = seed_runs()
    report = "; ".join(f"seed {seed}: integer {accuracy:.4f} ({mismatches} mismatches), float twin {twin:.4f}"
                       for seed, (accuracy, mismatches), twin in zip(SEEDS, integer, twins))
    print(report)
    for (accuracy, mismatches), twin in zip(integer, twins):
        assert mismatches == 0, report
        assert accuracy >= BAR, report
        assert accuracy >= twin - GAP, report
