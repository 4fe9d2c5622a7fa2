"""The report as a typed object: JSON, markdown, chart, the neuron-layers total, and text tables that never cut a
number."""

import dataclasses
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from shiftspike.sim import random_input, random_model
from shiftspike.sim.energy import load_table
from shiftspike.sim.report import VARIANTS, Report, _fmt, build_report, render, reports_markdown


def _report(seed=3, table="horowitz45", **kwargs) -> Report:
    model = random_model(seed, **kwargs)
    return build_report(model, random_input(model, batch=4, rate=0.5), load_table(table), "test input")


def test_report_is_a_frozen_typed_object_and_its_json():
    report = _report()
    assert isinstance(report, Report)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.totals = {}
    data = report.to_json()
    assert set(data) == {"schema", "model", "run", "energy_table", "layers", "totals", "predictions"}
    assert json.loads(json.dumps(data)) == data
    assert report["totals"] is report.totals and dict(report).keys() == data.keys()
    data["totals"]["energy_pj_per_sample"]["mul_free"] = -1.0
    assert report.totals["energy_pj_per_sample"]["mul_free"] > 0  # to_json is a copy


@pytest.mark.parametrize("seed", range(4))
def test_neuron_layers_total(seed):
    report = _report(seed)
    neurons = [entry["compare_pj_per_sample"] for entry in report.layers if "compare_pj_per_sample" in entry]
    assert neurons
    totals = report.totals
    for v in VARIANTS:
        assert totals["neuron_layers_pj_per_sample"][v] == pytest.approx(sum(c[v] for c in neurons))
        assert totals["neuron_layers_pj_per_sample"][v] <= totals["energy_pj_per_sample"][v]
    ratio = totals["neuron_layers_ratio_to_mul_free"]
    assert ratio["mul_free"] == 1.0 and ratio["psn"] == pytest.approx(
        totals["neuron_layers_pj_per_sample"]["psn"] / totals["neuron_layers_pj_per_sample"]["mul_free"])


def test_markdown_of_one_and_of_several_reports():
    ours, lit = _report(), _report(table="literature")
    text = ours.to_markdown()
    assert text.startswith("## Energy table `horowitz45` (exact counting)")
    neuron_row = next(line for line in text.splitlines() if "**neuron layers**" in line)
    assert _fmt(ours.totals["neuron_layers_pj_per_sample"]["psn"]) in neuron_row
    assert "**whole network**" in text
    both = reports_markdown({"horowitz45": ours, "literature": lit})
    assert both.startswith("# Energy report") and both.count("## Energy table") == 2
    assert "`literature` (literature counting)" in both


def test_plot_on_a_given_and_a_new_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shiftspike.sim.plot import energy_chart

    report = _report()
    fig, ax = plt.subplots()
    assert report.plot(ax) is ax
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels[-2:] == ["neuron layers", "whole network"]
    plt.close(fig)
    new = report.plot()
    assert new.figure is not None
    plt.close(new.figure)
    path = tmp_path / "e.png"
    energy_chart(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _numbers(report: Report) -> list[str]:
    """Every number the text tables print, formatted as they print it."""
    out = []
    for entry in report.layers:
        out += [_fmt(v) for v in entry["ops_per_sample"].values()] + [_fmt(entry["energy_pj_per_sample"]["total"])]
        out += [_fmt(v) for v in entry.get("compare_pj_per_sample", {}).values()]
    for key in ("energy_pj_per_sample", "neuron_layers_pj_per_sample"):
        out += [_fmt(v) for v in report.totals[key].values()]
    return [n for n in out if n != "0"]


@settings(max_examples=12)
@given(st.integers(0, 500), st.sampled_from([40, 60, 100]))
def test_text_tables_never_cut_a_number(seed, width):
    """On a pipe or file narrower than the tables (``1,062,1…`` before), every number appears whole."""
    model = random_model(seed, channels=16, timesteps=32)
    report = build_report(model, random_input(model, batch=64, rate=0.9), load_table("horowitz45"), "x")
    out = io.StringIO()
    render(report, Console(file=out, width=width))
    text = out.getvalue()
    assert "…" not in text
    for number in _numbers(report):
        assert number in text, number
    assert "neuron layers" in text and "whole network" in text
