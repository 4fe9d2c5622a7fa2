"""Fuzzing energy tables: any file gives a table whose prices are finite and bounded, or one EnergyTableError line."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim.energy import MAX_BITS, MAX_PJ, MIN_BITS, PRICED_OPS, EnergyTableError, load_table
from shiftspike.sim.errors import ShiftspikeError


def _loads_or_refuses(path) -> None:
    try:
        table = load_table(str(path))
    except EnergyTableError as exc:
        assert isinstance(exc, ShiftspikeError)
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)
        return
    for kind in PRICED_OPS:
        for bits in range(MIN_BITS, MAX_BITS + 1):
            energy = table.op_energy(kind, bits)
            assert math.isfinite(energy) and 0 < energy <= MAX_PJ * 1.0000001, (kind, bits, energy)
    assert 0 <= table.read_pj_per_bit <= MAX_PJ and 0 <= table.write_pj_per_bit <= MAX_PJ


numbers = (st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**80), 2**80)
           | st.sampled_from([1e-300, 1e-7, 1e-6, 1e6, 1e7, 1e300, 0, -1, 0.5]))
literals = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "9" * 400, "-0.0", "true", "null", '"3"'])


def _value(draw):
    """Mostly a plausible pJ figure over 18 decades; sometimes any number or an overflowing literal."""
    choice = draw(st.integers(0, 19))
    if choice == 0:
        return draw(literals)
    if choice == 1:
        return json.dumps(draw(numbers))
    return repr(10 ** draw(st.floats(-9, 9)))


@settings(max_examples=300)
@given(st.data())
def test_random_json_tables(tmp_path_factory, data):
    draw = data.draw
    ops = {}
    for kind in PRICED_OPS:
        n = draw(st.integers(0, 4) if draw(st.integers(0, 19)) == 0 else st.integers(1, 3))
        bits = st.integers(1, 64) if draw(st.integers(0, 9)) else st.integers(-2, 80)
        points = [f"[{draw(bits)}, {_value(draw)}]" for _ in range(n)]
        ops[kind] = "[" + ", ".join(points) + "]"
    memory = f'{{"read_pj_per_bit": {_value(draw)}, "write_pj_per_bit": {_value(draw)}}}'
    text = '{"name": "t", "ops": {' + ", ".join(f'"{k}": {v}' for k, v in ops.items()) + f'}}, "memory": {memory}}}'
    path = tmp_path_factory.mktemp("t") / "table.json"
    path.write_text(text)
    _loads_or_refuses(path)


@settings(max_examples=150)
@given(st.data())
def test_random_toml_tables(tmp_path_factory, data):
    draw = data.draw
    toml_numbers = st.sampled_from(["inf", "-inf", "nan", "1e309", "9" * 60, "0.0", "1e-300", "3.7", "1e6", "1e7"])
    lines = ['name = "t"', "[ops]"]
    for kind in PRICED_OPS:
        points = [f"[{draw(st.integers(0, 70))}, {draw(toml_numbers | st.floats(1e-9, 1e9).map(repr))}]"
                  for _ in range(draw(st.integers(1, 3)))]
        lines.append(f"{kind} = [{', '.join(points)}]")
    lines += ["[memory]", f"read_pj_per_bit = {draw(toml_numbers)}"]
    path = tmp_path_factory.mktemp("t") / "table.toml"
    path.write_text("\n".join(lines) + "\n")
    _loads_or_refuses(path)


@settings(max_examples=60)
@given(st.integers(1, 50_000), st.sampled_from([".json", ".toml"]))
def test_deep_nesting(tmp_path_factory, depth, suffix):
    path = tmp_path_factory.mktemp("t") / f"table{suffix}"
    nested = "[" * depth + "1" + "]" * depth
    path.write_text(f'{{"ops": {{"add": {nested}}}}}' if suffix == ".json" else f"[ops]\nadd = {nested}\n")
    _loads_or_refuses(path)


def _table(**ops):
    base = {k: [[32, 1.0]] for k in PRICED_OPS}
    base.update(ops)
    return {"name": "t", "ops": base, "memory": {"read_pj_per_bit": 0.1, "write_pj_per_bit": 0.2}}


@pytest.mark.parametrize("text, message", [
    ('{"ops": {"add": [[32, 1e999]]}}', "not finite"),
    ('{"ops": {"add": [[32, ' + "9" * 400 + ']]}}', "digits"),
    ('{"ops": {"add": [[32, NaN]]}}', "not a number"),
])
def test_overflowing_numbers(tmp_path, text, message):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(EnergyTableError, match=message):
        load_table(str(path))


@pytest.mark.parametrize("add, message", [
    ([[1, 1e-6], [2, 1e6]], "steeper than"),                  # slope log2(1e12) ~ 40
    ([[31, 1.0], [32, 1e3]], "steeper than"),
    ([[8, 1.0], [16, 200.0]], "extrapolates to more than"),     # slope 7.6: 64 bits -> 7e6 pJ
    ([[32, 2e6]], "must be from"),
    ([[32, 1e-9]], "must be from"),
])
def test_extreme_slopes_and_values(tmp_path, add, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_table(add=add)))
    with pytest.raises(EnergyTableError, match=message):
        load_table(str(path))


def test_unknown_keys_and_wrong_types(tmp_path):
    path = tmp_path / "t.json"
    for data, message in [(_table() | {"colour": 1}, "unknown key"), (_table() | {"name": ["x"]}, "must be a string"),
                          ({**_table(), "memory": {"read_pj_per_bits": 1}}, "unknown key"),
                          (_table() | {"convention": ["exact"]}, "convention")]:
        path.write_text(json.dumps(data))
        with pytest.raises(EnergyTableError, match=message):
            load_table(str(path))
