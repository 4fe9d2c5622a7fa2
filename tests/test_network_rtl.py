"""`shiftspike rtl --network`: the whole-network accelerator's generation, its folder and its arithmetic.

The accelerator's values and cycles are checked against the simulator on Icarus and Verilator by
cocotb_tests/test_network.py; here: no multiplier in the shift-add network of the demo model, byte-identical
Verilog, the folder's reader, and one-line errors."""

import json

import pytest

from shiftspike.cli import main
from shiftspike.quant.init import preset_model
from shiftspike.rtl_gen.network import build_network
from shiftspike.rtl_gen.network_folder import read_network_folder
from shiftspike.rtl_gen.sidecar import CoreFolderError
from shiftspike.rtl_gen.synth import coarse
from shiftspike.sim import random_model, save

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    """The demo's architecture (``digits`` preset: 8 int6 pixels -> FC128 -> neuron -> FC128 -> neuron ->
    FC10 -> readout), random valid taps; the arithmetic does not depend on the trained values."""
    path = tmp_path_factory.mktemp("demo") / "digits.ssm"
    save(preset_model("digits", seed=0), path)
    return path


@pytest.mark.slow
def test_the_shift_add_demo_network_has_no_multiplier(demo_file, tmp_path):
    counts = {}
    for arith in ("shift", "mul"):
        out = tmp_path / arith
        assert main(["rtl", str(demo_file), "--network", "-o", str(out), "--arith", arith]) == 0  # lint clean
        folder = read_network_folder(out)
        counts[arith] = coarse(folder.verilog, folder.top)
    assert counts["shift"]["multipliers"] == 0 and "$mul" not in counts["shift"]["coarse_cells"]
    assert counts["mul"]["multipliers"] > 0


def test_same_model_same_verilog():
    model = random_model(4)
    first, second = build_network(model, 3), build_network(model, 3)
    assert first.verilog == second.verilog and first.sidecar == second.sidecar
    assert build_network(model, 3, "mul").verilog != first.verilog


def test_the_folder_reads_back_and_refuses_a_forged_sidecar(tmp_path):
    model_path = tmp_path / "m.ssm"
    save(random_model(2), model_path)
    out = tmp_path / "net"
    assert main(["rtl", str(model_path), "--network", "-o", str(out), "--layer-lanes", "2,1,3,1"]) == 0
    folder = read_network_folder(out)
    assert folder.plan.lanes == (2, 1, 3, 1) and folder.debug
    sidecar = json.loads(folder.sidecar.read_text())
    sidecar["layers"][0]["lanes"] = 5
    folder.sidecar.write_text(json.dumps(sidecar))
    with pytest.raises(CoreFolderError, match="lanes do not match the model"):
        read_network_folder(out)
    folder.verilog.unlink()
    with pytest.raises(CoreFolderError, match="is missing"):
        read_network_folder(out)


@pytest.mark.parametrize(("extra", "message"), [
    (["--layer", "1"], "--layer and --loadable do not apply"),
    (["--layer-lanes", "1,2"], "2 values given for 4 layers"),
    (["--layer-lanes", "0,1,1,1"], "must be >= 1"),
])
def test_bad_arguments_get_one_line(tmp_path, capsys, extra, message):
    model_path = tmp_path / "m.ssm"
    save(random_model(2), model_path)
    try:
        code = main(["rtl", str(model_path), "--network", "-o", str(tmp_path / "net"), *extra])
    except SystemExit as exit_info:  # argparse's own refusal of an argument's value
        code = exit_info.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert message in lines[-1] and (len(lines) == 1 or lines[0].startswith("usage"))
    assert not (tmp_path / "net").exists()
