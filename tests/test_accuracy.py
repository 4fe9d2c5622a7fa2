"""The accuracy bar on sequential digits, row by row: the exported integer model reaches 95% and is
within 1 point of its float (unquantized) twin trained at the same budget."""

import pytest

from shiftspike.quant import config, presets
from shiftspike.quant.check import compare
from shiftspike.quant.data import load_dataset
from shiftspike.quant.export import load_network
from shiftspike.quant.train import train

pytestmark = pytest.mark.slow


def _run(neuron: str, out) -> dict:
    raw = presets.preset("digits")
    raw["model"]["neuron"] = neuron
    # One implementation for both runs, so the comparison does not depend on the autoselect's timing.
    raw["model"]["impl"] = "taploop"
    return train(config.validate(raw), out, progress=False)


def test_integer_mul_free_digits_reaches_95_percent_and_its_float_twin(tmp_path):
    _run("mulfree", tmp_path / "mulfree")
    net, _ = load_network(tmp_path / "mulfree")
    check = compare(net, net.integer_plan().model, load_dataset("digits", "test"))
    integer_accuracy = check.integer_correct / check.samples
    twin = _run("float", tmp_path / "float")["test_accuracy"]
    assert check.mismatches == 0
    assert integer_accuracy >= 0.95, integer_accuracy
    assert integer_accuracy >= twin - 0.01, (integer_accuracy, twin)
