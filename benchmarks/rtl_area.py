"""Area and speed of the neuron core on iCE40 HX8K: shift-add against multiplier cores, side by side.

For each configuration (channels C, taps k, dilation d, lanes P, constant or
loadable taps) both variants are generated from the same layer and placed and
routed (Yosys ``synth_ice40`` + nextpnr, seed 1). The layer has 8-bit signed
inputs, shift_max 7 (9-bit tap weights in the multiplier core), no zero taps,
and the overflow-free accumulator width of the bound analysis. The cores are
generated without the debug port (no membrane outputs), as deployed; the
debug port alone would need more I/O pins than the ct256 package has.

Writes ``results/rtl_area.json`` and ``results/rtl_area.md``.
Run: ``.venv/bin/python benchmarks/rtl_area.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from shiftspike.rtl_gen.built import synthesize_core
from shiftspike.rtl_gen.generate import build_core
from shiftspike.sim import random_model
from shiftspike.sim.safe_io import write_atomic, write_json

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 2026

#: (channels, taps, dilation, lanes, loadable)
CONFIGS = [
    (16, 4, 1, 4, False),
    (16, 4, 2, 4, False),
    (16, 8, 2, 1, False),
    (16, 8, 2, 4, False),
    (8, 4, 1, 2, True),
    (8, 4, 2, 8, True),
]


def layer_model(channels: int, taps: int, dilation: int):
    """A model whose layer 0 is a neuron layer on an 8-bit input of ``channels`` channels."""
    return random_model(SEED, input_kind="int", input_width=8, input_channels=channels, input_length=1,
                        timesteps=64, direct=True, conv=False, neuron_layers=0, taps=taps, dilation=dilation,
                        shift_max=7, zero_taps=0.0, narrow=False, overflow="wrap", readout=False)


def main() -> None:
    rows = []
    with Progress() as progress:
        task = progress.add_task("place and route", total=2 * len(CONFIGS))
        for channels, taps, dilation, lanes, loadable in CONFIGS:
            model = layer_model(channels, taps, dilation)
            for arith in ("shift", "mul"):
                core = build_core(model, 0, lanes=lanes, arith=arith, loadable=loadable, debug=False)
                # unfit_ok: a core too large for the device is a result (does_not_fit), not a crash
                row = synthesize_core(core, "ice40-hx8k", unfit_ok=True)
                row |= {"channels": channels, "acc_width": core.params.layer.acc_width}
                rows.append(row)
                progress.advance(task)
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / "rtl_area.json", {"target": "ice40-hx8k", "seed": SEED, "cores": rows})
    write_atomic(RESULTS / "rtl_area.md", markdown(rows))
    print(markdown(rows))


def _cell(value, fmt: str = "") -> str:
    return "does not fit" if value is None else format(value, fmt)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| C | k | d | P | taps | cycles/step | logic cells shift | logic cells mul | logic cell ratio mul/shift | "
        "Fmax shift MHz | Fmax mul MHz | multipliers shift / mul | RAM | updates/s shift |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pairs = {}
    for row in rows:
        pairs.setdefault((row["channels"], row["taps"], row["dilation"], row["lanes"], row["loadable"]),
                         {})[row["arith"]] = row
    for (c, k, d, p, loadable), pair in pairs.items():
        s, m = pair["shift"], pair["mul"]
        ratio = "-" if None in (s["logic_cells"], m["logic_cells"]) else f"{m['logic_cells'] / s['logic_cells']:.2f}"
        lines.append(
            f"| {c} | {k} | {d} | {p} | {'loadable' if loadable else 'constant'} | {s['cycles_per_step']} | "
            f"{_cell(s['logic_cells'])} | {_cell(m['logic_cells'])} | {ratio} | {_cell(s['fmax_mhz'], '.1f')} | "
            f"{_cell(m['fmax_mhz'], '.1f')} | {_cell(s['multipliers'])} / {_cell(m['multipliers'])} | "
            f"{_cell(s['ram_blocks'])} | {_cell(s['updates_per_second'], '.3g')} |"
        )
    lines.append("")
    lines.append("Logic cells: nextpnr's used ICESTORM_LC (of 7680); \"does not fit\": the core needs more "
                 "logic cells than the HX8K has.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
