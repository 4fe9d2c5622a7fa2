"""cocotb testbench: the HDL accumulator step equals shiftspike.sim.fixed for every operand pair."""

import os

import cocotb
from cocotb.triggers import Timer

from shiftspike.sim.fixed import saturate, signed_range, wrap


@cocotb.test()
async def every_operand_pair(dut):
    width = int(os.environ["ACC_WIDTH"])
    lo, hi = signed_range(width)
    corrupt = int(os.environ.get("CORRUPT_EXPECTED", "0"))
    for a in range(lo, hi + 1):
        for b in range(lo, hi + 1):
            dut.a.value = a
            dut.b.value = b
            await Timer(1, unit="ns")
            got_wrap, got_sat = dut.wrapped.value.to_signed(), dut.saturated.value.to_signed()
            expected_wrap = wrap(a + b, width) + corrupt
            assert got_wrap == expected_wrap, f"wrap: {a} + {b}: expected {expected_wrap}, got {got_wrap}"
            assert got_sat == saturate(a + b, width), f"saturate: {a} + {b}: expected {saturate(a + b, width)}, got {got_sat}"
