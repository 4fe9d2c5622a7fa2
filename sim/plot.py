"""Energy chart of a report: per neuron layer and for the whole network, stacked by
operation kind for the mul-free network, beside the multiplier networks' totals.

matplotlib is imported lazily (Agg backend) so that ``import shiftspike.sim`` stays light.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("add", "shift", "mul", "cmp", "mem_read", "mem_write", "fp_add", "fp_mul")


def energy_chart(report: dict, path: Path) -> None:
    """Write a PNG bar chart of ``report`` (a ``build_report`` dict) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [entry for entry in report["layers"] if entry.get("compare_pj_per_sample")]
    labels = [f"{entry['index']}: {entry['type']}" for entry in layers]
    fig, (ax_layers, ax_total) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    xs = range(len(layers))
    bottom = [0.0] * len(layers)
    for kind in KINDS:
        values = [entry["energy_pj_per_sample"].get(kind, 0.0) for entry in layers]
        if any(values):
            ax_layers.bar([x - 0.27 for x in xs], values, width=0.27, bottom=bottom, label=f"mul-free: {kind}")
            bottom = [b + v for b, v in zip(bottom, values)]
    ax_layers.bar(list(xs), [e["compare_pj_per_sample"]["mul_taps"] for e in layers], width=0.27,
                  color="0.55", label="multiplier per tap")
    ax_layers.bar([x + 0.27 for x in xs], [e["compare_pj_per_sample"]["psn"] for e in layers], width=0.27,
                  color="0.25", label="PSN (T x T)")
    ax_layers.set_xticks(list(xs), labels)
    ax_layers.set_ylabel("pJ per sample")
    ax_layers.set_title("Neuron layers")
    ax_layers.legend(fontsize=7)
    totals = report["totals"]["energy_pj_per_sample"]
    ax_total.bar(["mul-free", "mul per tap", "PSN"], [totals["mul_free"], totals["mul_taps"], totals["psn"]],
                 color=["tab:blue", "0.55", "0.25"])
    ax_total.set_title("Whole network")
    table = report["energy_table"]
    fig.suptitle(f"Energy per sample, table {table['name']} ({table['convention']} counting), "
                 f"T={report['run']['timesteps']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
