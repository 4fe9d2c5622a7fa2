"""Synthesis wrapper: a multiplier shows a multiplier, a shift-add datapath shows none.

Inputs and output are registered so nextpnr sees a register-to-register path and reports an
Fmax (with only port-to-register paths it reports none).
"""

from pathlib import Path

import pytest

from shiftspike.rtl_gen.synth import TARGETS, SynthError, synthesize

pytestmark = [pytest.mark.slow, pytest.mark.rtl]

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


def test_multiplier_counted_only_in_multiplier(ice40):
    assert ice40["mul8"]["multipliers"] >= 1
    assert ice40["shift8"]["multipliers"] == 0
    assert "$sshl" in ice40["shift8"]["coarse_cells"] or "$shl" in ice40["shift8"]["coarse_cells"]


@pytest.mark.parametrize("top", ["mul8", "shift8"])
def test_ice40_area_and_timing(ice40, top):
    result = ice40[top]
    assert result["target"] == "ice40-hx8k" and result["top"] == top
    assert result["logic_cells"] > 0 and result["sb_lut4"] > 0
    assert result["ffs"] >= 16  # the registered 16-bit output at least
    assert result["ram_blocks"] == 0
    assert result["fmax_mhz"] > 0


def test_generic_target(sources):
    result = synthesize(sources["mul8"], "mul8", target="generic")
    assert result["logic_cells"] > 0 and result["ffs"] > 0
    assert result["fmax_mhz"] is None
    assert result["multipliers"] >= 1


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


def test_unknown_top(sources):
    with pytest.raises(SynthError, match="Module `no_such_top' not found"):
        synthesize(sources["mul8"], "no_such_top", target="generic")
