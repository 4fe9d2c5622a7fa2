"""The layer engines of the whole-network accelerator: one Amaranth component per layer type.

Every engine has the same contract (``docs/rtl.md``, network): ``x`` is the layer's input of one
time step (the previous layer's output register, stable while the engine runs), ``start`` is
high for one cycle to begin a step (``first``: it is step 0 of a sample), ``done`` is high for one
cycle when ``y`` holds the step's output, and ``y`` keeps it until the next ``start``. The cycles
from ``start`` to ``done`` are the ones ``sim/network_cycles.py`` states; ``x`` is read only in
between. Values are laid out channel-major like everywhere else (feature ``c * length + l``).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from shiftspike.sim import fixed
from shiftspike.sim.model import SPIKE, Conv1d, TensorSpec
from shiftspike.sim.network_cycles import EngineTiming

from .core import CoreParams, NeuronCore, lookup


def value_shape(spec: TensorSpec) -> Shape:
    """One value of a tensor: ``unsigned(1)`` for spikes, else ``signed(width)``."""
    return unsigned(1) if spec.kind == SPIKE else signed(spec.width)


def vector_layout(spec: TensorSpec) -> data.ArrayLayout:
    """One time step of a tensor: ``features`` values, feature ``f`` at bits ``[f*w, (f+1)*w)``."""
    return data.ArrayLayout(value_shape(spec), spec.features)


def mode_add(m: Module, acc, term, width: int, overflow: str, name: str) -> Signal:
    """``mode_width(acc + term)``: the sum's low ``width`` bits (wrap) or clamped to the range (saturate)."""
    lo, hi = fixed.signed_range(width)
    total = acc + term
    result = Signal(signed(width), name=name)
    if overflow == fixed.SATURATE:
        m.d.comb += result.eq(Mux(total > hi, hi, Mux(total < lo, lo, total)))
    else:
        m.d.comb += result.eq(total)
    return result


def lowest_set(m: Module, bits: Signal, name: str) -> tuple[Signal, Signal]:
    """``(index, any)`` of the lowest set bit of ``bits``, by a tree of depth ``ceil(log2(width))``.

    A node at level ``L`` covers ``2^L`` bits; joining two nodes, the lower one wins when it has a set
    bit, and the joined index gains a top bit saying which one won."""
    nodes = [(bits[i], None) for i in range(len(bits))]
    level = 0
    while len(nodes) > 1:
        joined = []
        for k in range(0, len(nodes), 2):
            any_lo, idx_lo = nodes[k]
            any_hi, idx_hi = nodes[k + 1] if k + 1 < len(nodes) else (Const(0, 1), idx_lo)
            any_ = Signal(name=f"{name}_any{level}_{k // 2}")
            idx = Signal(level + 1, name=f"{name}_idx{level}_{k // 2}")
            if idx_lo is None:
                m.d.comb += idx.eq(~any_lo)
            else:
                m.d.comb += idx.eq(Mux(any_lo, Cat(idx_lo, Const(0, 1)), Cat(idx_hi, Const(1, 1))))
            m.d.comb += any_.eq(any_lo | any_hi)
            joined.append((any_, idx))
        nodes = joined
        level += 1
    any_, idx = nodes[0]
    index = Signal(range(max(2, len(bits))), name=f"{name}_index")
    m.d.comb += index.eq(0 if idx is None else idx)
    return index, any_


class Engine(wiring.Component):
    """The common ports of every engine (see the module docstring)."""

    def __init__(self, inp: TensorSpec, out: TensorSpec, timing: EngineTiming):
        self.inp_spec, self.out_spec, self.timing = inp, out, timing
        super().__init__({
            "x": In(vector_layout(inp)),
            "start": In(1),
            "first": In(1),
            "done": Out(1),
            "y": Out(vector_layout(out)),
        })

    def working(self, m: Module) -> Signal:
        """The working register behind ``y``. It is not cleared by ``rst``: every step writes all of it
        before ``done``, so no value from before a reset is ever seen. That leaves each flip-flop's one
        set/reset input to the engine's own start of step (a bias or zero) instead of a LUT per bit."""
        y = Signal(vector_layout(self.out_spec), reset_less=True, name="w")
        m.d.comb += self.y.eq(y)
        return y

    def nonzero(self) -> Signal:
        """``F_in`` bits, bit ``f`` set when input value ``f`` is non-zero."""
        return Cat(*(self.x[f] != 0 for f in range(self.inp_spec.features)))


class SynapseEngine(Engine):
    """Dense or conv1d, event-driven: for every non-zero input value, in feature order, every kernel tap
    and every group of ``P`` output channels, add ``weight x value`` to the ``P`` accumulators it reaches,
    with the layer's overflow mode after each addition (the semantics' order for every output).

    Weights: a ROM of ``C_in x K x G`` words of ``P`` weights, read one cycle ahead of the add. The
    product: ``weight`` itself for a spike, ``weight x value`` by a multiplier (``mul``), or bit-serially
    most significant bit first (``shift``: ``p <- 2p + bit x weight``, the sign bit's weight negative),
    the finished product added once, so ``saturate`` sees exactly the semantics' terms.
    """

    def __init__(self, layer, inp: TensorSpec, out: TensorSpec, timing: EngineTiming, arith: str):
        self.layer, self.arith = layer, arith
        super().__init__(inp, out, timing)

    def _geometry(self) -> tuple[list[int], list[list[int]]]:
        """Per input feature ``j``: the ROM address of its channel's first word (``ci x K x G``), and per
        kernel tap ``k`` the output position it reaches (``L_out`` if none: padding or stride)."""
        inp, out, layer, t = self.inp_spec, self.out_spec, self.layer, self.timing
        conv = isinstance(layer, Conv1d)
        stride, pad = (layer.stride, layer.padding) if conv else (1, 0)
        length = inp.length if conv else 1
        base = [(f // length) * t.taps * t.groups for f in range(inp.features)]
        target = []
        for k in range(t.taps):
            row = []
            for f in range(inp.features):
                q = f % length + pad - k
                ok = q >= 0 and q % stride == 0 and q // stride < out.length
                row.append(q // stride if ok else out.length)
            target.append(row)
        return base, target

    def _rom(self) -> list[int]:
        """``C_in x K x G`` words, lane ``p`` at bits ``[p*ww, (p+1)*ww)``, address ``(ci*K + k)*G + g``."""
        layer, t = self.layer, self.timing
        ww = layer.weight_width
        w = layer.weight if isinstance(layer, Conv1d) else layer.weight[:, :, None]
        words = []
        for ci in range(w.shape[1]):
            for k in range(t.taps):
                for g in range(t.groups):
                    word = 0
                    for p in range(t.lanes):
                        c = g * t.lanes + p
                        if c < w.shape[0]:
                            word |= (int(w[c, ci, k]) & ((1 << ww) - 1)) << (p * ww)
                    words.append(word)
        return words

    def elaborate(self, platform):
        m = Module()
        t, layer, inp, out = self.timing, self.layer, self.inp_spec, self.out_spec
        lanes, groups, taps, bits = t.lanes, t.groups, t.taps, t.bits
        ww = layer.weight_width
        base, target = self._geometry()
        words = self._rom()
        rom = Memory(shape=unsigned(lanes * ww), depth=len(words), init=words, attrs={"ram_style": "block"})
        m.submodules.rom = rom
        read = rom.read_port()
        y = self.working(m)

        active = Signal()
        pending = Signal(inp.features)
        k = Signal(range(max(2, taps)))
        g = Signal(range(max(2, groups)))
        b = Signal(range(max(2, bits)))
        offset = Signal(range(max(2, taps * groups)))  # k x G + g, counted, not multiplied
        j, any_pending = lowest_set(m, pending, "event")

        # Stage 2: the operation whose weight word the ROM delivers this cycle.
        op_valid = Signal()
        op_first_bit, op_last_bit, op_bit = Signal(), Signal(), Signal()
        op_value = Signal(value_shape(inp))
        op_target = Signal(range(out.length + 1))
        op_group = Signal.like(g)

        finishing = active & ~any_pending & ~op_valid
        m.d.comb += self.done.eq(finishing)
        with m.If(finishing):
            m.d.sync += active.eq(0)

        issue = active & any_pending
        address = unsigned(max(1, (len(words) - 1).bit_length()))
        base_of = lookup([Const(a, address) for a in base], j, address)
        position = unsigned(max(1, out.length.bit_length()))
        target_of = lookup([lookup([Const(q, position) for q in row], j, position) for row in target], k, position)
        value = Signal(value_shape(inp))
        bit_index = Signal(range(max(2, bits)))
        m.d.comb += [value.eq(lookup([self.x[f] for f in range(inp.features)], j, value_shape(inp))),
                     bit_index.eq(bits - 1 - b), read.addr.eq(base_of + offset), read.en.eq(issue)]
        m.d.sync += op_valid.eq(issue)
        with m.If(issue):
            m.d.sync += [op_first_bit.eq(b == 0), op_last_bit.eq(b == bits - 1), op_value.eq(value),
                         op_bit.eq(value.as_unsigned().bit_select(bit_index, 1) if bits > 1 else 1),
                         op_target.eq(target_of), op_group.eq(g)]
            last_b, last_g, last_k = b == bits - 1, g == groups - 1, k == taps - 1
            m.d.sync += b.eq(Mux(last_b, 0, b + 1))
            with m.If(last_b):
                m.d.sync += [g.eq(Mux(last_g, 0, g + 1)), offset.eq(Mux(last_g & last_k, 0, offset + 1))]
                with m.If(last_g):
                    m.d.sync += k.eq(Mux(last_k, 0, k + 1))
                    with m.If(last_k):
                        m.d.sync += pending.eq(pending & ~(Const(1, inp.features) << j))

        with m.If(self.start):
            m.d.sync += [active.eq(1), pending.eq(self.nonzero()), k.eq(0), g.eq(0), b.eq(0), offset.eq(0)]
            bias = layer.bias
            for f in range(out.features):
                m.d.sync += y[f].eq(0 if bias is None else int(bias[f // out.length]))

        self._accumulate(m, y, read.data, op_valid, op_first_bit, op_last_bit, op_bit, op_value, op_target, op_group)
        return m

    def _product_shape(self) -> Shape:
        return signed(self.layer.weight_width + self.inp_spec.width + 1)

    def _accumulate(self, m, y, word, op_valid, first_bit, last_bit, bit, value, target, group):
        """Stage 2: per lane, the finished product is added into accumulator (channel, ``target``) of ``y``."""
        t, layer, inp, out = self.timing, self.layer, self.inp_spec, self.out_spec
        ww, acc_w = layer.weight_width, layer.acc_width
        spike, serial = inp.kind == SPIKE, t.bits > 1
        for p in range(t.lanes):
            weight = word[p * ww:(p + 1) * ww].as_signed()
            if spike:
                term = weight
            elif not serial:
                if self.arith == "mul" or inp.width > 1:
                    term = weight * value
                else:
                    term = -weight
            else:
                partial = Signal(self._product_shape(), name=f"partial{p}")
                msb = Mux(bit, -weight, 0)
                term = Signal(self._product_shape(), name=f"term{p}")
                m.d.comb += term.eq(Mux(first_bit, msb, (partial << 1) + Mux(bit, weight, 0)))
                with m.If(op_valid):
                    m.d.sync += partial.eq(term)
            channels = [g * t.lanes + p for g in range(t.groups)]
            zero = Const(0, signed(acc_w))
            rows = [[y[c * out.length + q] for q in range(out.length)] if c < out.channels
                    else [zero] * out.length for c in channels]
            acc = lookup([lookup(row, target, signed(acc_w)) for row in rows], group, signed(acc_w))
            new = mode_add(m, acc, term, acc_w, layer.overflow, f"acc{p}")
            write = op_valid & (last_bit if serial else 1) & (target != out.length)
            for gi, c in enumerate(channels):
                for q in range(out.length if c < out.channels else 0):
                    with m.If(write & (group == gi) & (target == q)):
                        m.d.sync += y[c * out.length + q].eq(new)


class SumPoolEngine(Engine):
    """Sum pooling, event-driven: each non-zero input, in feature order, is added into its window's
    output with the layer's overflow mode, one per cycle; a value past the last full window is skipped."""

    def __init__(self, layer, inp: TensorSpec, out: TensorSpec, timing: EngineTiming):
        self.layer = layer
        super().__init__(inp, out, timing)

    def elaborate(self, platform):
        m = Module()
        layer, inp, out = self.layer, self.inp_spec, self.out_spec
        pending = Signal(inp.features)
        active = Signal()
        y = self.working(m)
        j, any_pending = lowest_set(m, pending, "event")
        none = out.features
        targets = []
        for f in range(inp.features):
            c, q = divmod(f, inp.length)
            targets.append(c * out.length + q // layer.window if q // layer.window < out.length else none)
        target = lookup([Const(v, range(none + 1)) for v in targets], j, unsigned(max(1, none.bit_length())))
        value = lookup([self.x[f] for f in range(inp.features)], j, value_shape(inp))
        acc = lookup([y[o] for o in range(out.features)], target, signed(layer.acc_width))
        new = mode_add(m, acc, value, layer.acc_width, layer.overflow, "pooled")
        m.d.comb += self.done.eq(active & ~any_pending)
        with m.If(active & any_pending):
            m.d.sync += pending.eq(pending & ~(Const(1, inp.features) << j))
            for o in range(out.features):
                with m.If(target == o):
                    m.d.sync += y[o].eq(new)
        with m.If(self.done):
            m.d.sync += active.eq(0)
        with m.If(self.start):
            m.d.sync += [active.eq(1), pending.eq(self.nonzero())]
            m.d.sync += [y[o].eq(0) for o in range(out.features)]
        return m


class NeuronEngine(Engine):
    """The neuron core (``core.py``) fed one group of ``P`` inputs per cycle; its spikes are gathered into
    ``y``. The core is reset at the start of a sample's step 0 (its step counter masks the history)."""

    def __init__(self, layer, inp: TensorSpec, out: TensorSpec, timing: EngineTiming, arith: str):
        self.params = CoreParams(layer, inp, timing.lanes, arith, loadable=False, debug=False)
        super().__init__(inp, out, timing)

    def elaborate(self, platform):
        m = Module()
        t, inp = self.timing, self.inp_spec
        lanes, groups = t.lanes, t.groups
        core = NeuronCore(self.params)
        m.submodules.core = ResetInserter({"sync": self.start & self.first})(core)
        width = Shape.cast(value_shape(inp)).width
        padded = Cat(self.x.as_value(), Const(0, (groups * lanes - inp.features) * width))
        issuing = Signal()
        issue_group = Signal(range(max(2, groups)))
        out_group = Signal(range(max(2, groups)))
        m.d.comb += [core.inp.valid.eq(issuing), core.inp.payload.eq(padded.word_select(issue_group,
                                                                                      lanes * width)),
                     core.out.ready.eq(1)]
        with m.If(issuing):
            m.d.sync += issue_group.eq(Mux(issue_group == groups - 1, 0, issue_group + 1))
            with m.If(issue_group == groups - 1):
                m.d.sync += issuing.eq(0)
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), issue_group.eq(0), out_group.eq(0)]
        y = self.working(m)
        finished = Signal()
        m.d.comb += self.done.eq(finished)
        m.d.sync += finished.eq(0)
        with m.If(core.out.valid):
            m.d.sync += out_group.eq(Mux(out_group == groups - 1, 0, out_group + 1))
            m.d.sync += finished.eq(out_group == groups - 1)
            for g in range(groups):
                with m.If(out_group == g):
                    for p in range(lanes):
                        f = g * lanes + p
                        if f < inp.features:
                            m.d.sync += y[f].eq(core.out.payload.spikes[p])
        return m


class ReadoutEngine(Engine):
    """The readout: ``M <- mode(M + x)`` for every feature in one cycle, ``M`` starting at 0 at step 0."""

    def __init__(self, layer, inp: TensorSpec, out: TensorSpec, timing: EngineTiming):
        self.layer = layer
        super().__init__(inp, out, timing)

    def elaborate(self, platform):
        m = Module()
        layer = self.layer
        y = self.working(m)
        finished = Signal()
        m.d.sync += finished.eq(self.start)
        m.d.comb += self.done.eq(finished)
        with m.If(self.start):
            for f in range(self.out_spec.features):
                base = Mux(self.first, 0, y[f])
                m.d.sync += y[f].eq(mode_add(m, base, self.x[f], layer.acc_width, layer.overflow, f"sum{f}"))
        return m
