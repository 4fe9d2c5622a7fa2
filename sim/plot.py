"""Energy chart of a report: per neuron layer, for the neuron layers together and for the whole network, the
mul-free network's energy stacked by operation kind beside the multiplier networks' totals (pJ per sample).

matplotlib is imported lazily, and :func:`energy_chart` draws on its own ``Figure`` (no pyplot, no backend
change), so that ``import shiftspike.sim`` stays light and a notebook's backend is left alone.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("add", "shift", "mul", "cmp", "mem_read", "mem_write", "fp_add", "fp_mul")
WIDTH = 0.27


def _groups(report) -> list[tuple[str, dict, dict]]:
    """``(label, mul-free energy by kind, {variant: total})`` per neuron layer, neuron layers, whole network."""
    neuron_layers = [entry for entry in report.layers if entry.get("compare_pj_per_sample")]
    groups = [(f"{entry['index']}: {entry['type']}", entry["energy_pj_per_sample"], entry["compare_pj_per_sample"])
              for entry in neuron_layers]

    def by_kind(entries) -> dict:
        return {kind: sum(e["energy_pj_per_sample"].get(kind, 0.0) for e in entries) for kind in KINDS}

    totals = report.totals
    groups.append(("neuron layers", by_kind(neuron_layers), totals["neuron_layers_pj_per_sample"]))
    groups.append(("whole network", by_kind(report.layers), totals["energy_pj_per_sample"]))
    return groups


def draw_energy(report, ax) -> None:
    """Draw the chart of ``report`` (a :class:`~shiftspike.sim.report.Report`) on the matplotlib ``ax``."""
    groups = _groups(report)
    xs = list(range(len(groups)))
    bottom = [0.0] * len(groups)
    for kind in KINDS:
        values = [energy.get(kind, 0.0) for _, energy, _ in groups]
        if any(values):
            ax.bar([x - WIDTH for x in xs], values, width=WIDTH, bottom=bottom, label=f"mul-free: {kind}")
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.bar(xs, [c["mul_taps"] for _, _, c in groups], width=WIDTH, color="0.55", label="multiplier per tap")
    ax.bar([x + WIDTH for x in xs], [c["psn"] for _, _, c in groups], width=WIDTH, color="0.25", label="PSN (T x T)")
    ax.set_xticks(xs, [label for label, _, _ in groups])
    ax.set_ylabel("pJ per sample")
    table = report.energy_table
    ax.set_title(f"Energy per sample, table {table['name']} ({table['convention']} counting), "
                 f"T={report.run['timesteps']}")
    ax.legend(fontsize=7)


def energy_chart(report, path: Path) -> None:
    """Write a PNG of ``report``'s chart (:meth:`Report.plot <shiftspike.sim.report.Report.plot>`) to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5))
    report.plot(fig.subplots())
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png", metadata={"Software": None})
