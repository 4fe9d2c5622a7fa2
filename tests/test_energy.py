"""Energy tables: the presets' published figures, interpolation, and table-file errors."""

import json

import pytest

from shiftspike.sim.energy import EnergyTableError, load_table, presets


def test_presets_exist():
    assert {"horowitz45", "literature"} <= set(presets())


@pytest.mark.parametrize("kind, bits, pj", [
    ("add", 32, 0.1), ("add", 8, 0.03), ("mul", 32, 3.1), ("mul", 8, 0.2), ("fp_add", 32, 0.9), ("fp_mul", 32, 3.7),
])
def test_horowitz_figures(kind, bits, pj):
    assert load_table("horowitz45").op_energy(kind, bits) == pytest.approx(pj)


def test_horowitz_sram():
    table = load_table("horowitz45")
    assert table.read_pj_per_bit * 64 == pytest.approx(10.0)


def test_log_log_interpolation_between_and_beyond_points():
    add = load_table("horowitz45").ops["add"]
    table = load_table("horowitz45")
    slope = 0.8685  # log(0.1 / 0.03) / log(32 / 8)
    assert table.op_energy("add", 16) == pytest.approx(0.03 * 2**slope, rel=1e-3)
    assert table.op_energy("add", 64) == pytest.approx(0.1 * 2**slope, rel=1e-3)
    assert 0.03 < table.op_energy("add", 16) < 0.1 and add[0] == (8, 0.03)


def test_literature_is_flat():
    table = load_table("literature")
    assert table.convention == "literature"
    for bits in (4, 16, 48):
        assert table.op_energy("add", bits) == 0.9
        assert table.op_energy("shift", bits) == 0.13
        assert table.op_energy("mul", bits) == 3.7


def _table(**ops):
    base = {k: [[32, 1.0]] for k in ("add", "shift", "mul", "cmp", "fp_add", "fp_mul")}
    base.update(ops)
    return {"name": "t", "ops": base, "memory": {"read_pj_per_bit": 0.1, "write_pj_per_bit": 0.2}}


def test_user_table_json_and_toml(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_table(add=[[8, 0.01], [16, 0.02]])))
    assert load_table(str(path)).op_energy("add", 16) == pytest.approx(0.02)
    toml = tmp_path / "t.toml"
    toml.write_text('name = "x"\n[ops]\n' + "".join(f'{k} = [[32, 2.0]]\n' for k in
                                                     ("add", "shift", "mul", "cmp", "fp_add", "fp_mul")))
    assert load_table(str(toml)).op_energy("mul", 8) == 2.0


@pytest.mark.parametrize("edit, message", [
    ({"add": [[32, -1.0]]}, "must be positive"),
    ({"add": []}, "non-empty list"),
    ({"add": [[32]]}, "pair"),
    ({"add": [[32, 1.0], [32, 2.0]]}, "twice"),
    ({"divide": [[32, 1.0]]}, "unknown op kind"),
    ({"add": [[0.5, 0.02], [32, 0.07]]}, "whole number"),
    ({"add": [[8.7, 0.02], [32, 0.07]]}, "whole number"),
])
def test_bad_user_tables(tmp_path, edit, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_table(**edit)))
    with pytest.raises(EnergyTableError, match=message):
        load_table(str(path))


def test_unknown_preset_and_unparsable_file(tmp_path):
    with pytest.raises(EnergyTableError, match="neither a preset"):
        load_table("no-such-table")
    bad = tmp_path / "t.toml"
    bad.write_text("[ops\n")
    with pytest.raises(EnergyTableError, match="cannot parse"):
        load_table(str(bad))
