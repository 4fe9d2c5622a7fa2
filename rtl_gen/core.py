"""The neuron core: one neuron layer of an integer model as an Amaranth component.

``H[t, f] = sum_i sign[c, i] * (X[t - i*d, f] << shift[c, i])`` accumulated at
``acc_width`` bits with the layer's overflow mode after every addition, and
``S[t, f] = H[t, f] >= theta[c]`` (``docs/semantics.md``, neuron), for every
neuron ``f`` of channel ``c = f // length``.

Architecture (``docs/rtl.md`` has the diagram): ``P`` lanes serve the
``N`` neurons in ``G = ceil(N / P)`` groups; neuron ``f`` is lane ``f % P`` of
group ``f // P``. One input beat carries one group's ``P`` inputs of one time
step; the groups of a step come in order. The history is ``k - 1``
segments, each a delay of ``d`` time steps, i.e. ``d x G`` words of ``P``
inputs; segment ``j`` yields ``X[t - j*d]`` and passes it on to segment
``j + 1``. A segment of one word is a register, a longer one a
``lib.memory.Memory`` with a synchronous read port that asks for block RAM
(``ram_style = "block"``: the history is most of the core's state, and block
RAM holds it without spending logic cells); ``sim/cycles.py`` makes the
choice. A reset does not clear the memories: a step counter masks tap
``i`` to zero until ``i * d`` steps have been seen, which is exactly the zero
history before ``t = 0``.

Pipeline: stage 1 captures the beat and reads the histories; stage 2 (the
output register) holds the spikes and, with ``debug``, the membranes. The
pipeline advances when the output register is empty or being read, so
back-pressure stalls it without losing or repeating a beat.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from shiftspike.sim import fixed
from shiftspike.sim.cycles import CoreTiming, core_timing
from shiftspike.sim.model import SPIKE, Neuron, TensorSpec

from . import ARITHS

@dataclass(frozen=True)
class CoreParams:
    """Everything the core is generated from.

    ``layer``: the neuron layer; ``inp``: its input spec; ``lanes``: P;
    ``arith``: ``"shift"`` (shifts and adds, no multiplier) or ``"mul"``
    (signed ``coef_width``-bit tap weights and multipliers); ``loadable``:
    taps and thresholds in registers written through the ``load`` port,
    instead of constants; ``debug``: the output beat also carries the P membranes.
    """

    layer: Neuron
    inp: TensorSpec
    lanes: int
    arith: str = "shift"
    loadable: bool = False
    debug: bool = True

    def __post_init__(self):
        if self.arith not in ARITHS:
            raise ValueError(f"arith must be one of {', '.join(ARITHS)}, got {self.arith!r}")
        self.timing  # validates lanes

    @property
    def timing(self) -> CoreTiming:
        return core_timing(self.layer, self.inp, self.lanes)

    @property
    def in_shape(self) -> Shape:
        """One lane's input: ``unsigned(1)`` for spikes, else ``signed(width)``."""
        return unsigned(1) if self.inp.kind == SPIKE else signed(self.inp.width)

    @property
    def shift_shape(self) -> Shape:
        return unsigned(max(1, self.layer.shift_max.bit_length()))

    @property
    def channel_shape(self) -> Shape:
        return unsigned(max(1, (self.inp.channels - 1).bit_length()))

    def out_layout(self) -> data.StructLayout:
        """``spikes``: P bits (lane p at bit p); ``membrane``: P x signed(acc_width) (debug only)."""
        fields = {"spikes": unsigned(self.lanes)}
        if self.debug:
            fields["membrane"] = data.ArrayLayout(signed(self.layer.acc_width), self.lanes)
        return data.StructLayout(fields)

    def load_layout(self) -> data.StructLayout:
        """One channel's parameters: ``channel``, then ``sign``/``shift`` (shift) or ``coef`` (mul) per tap,
        then ``theta``."""
        taps = self.layer.taps
        weights = {name: data.ArrayLayout(shape, taps) for name, shape in self.weight_shapes().items()}
        return data.StructLayout({"channel": self.channel_shape, **weights, "theta": signed(self.layer.acc_width)})

    def weight_shapes(self) -> dict[str, Shape]:
        """Per-tap weight fields: ``sign`` and ``shift`` (shift), or ``coef`` (mul)."""
        if self.arith == "shift":
            return {"sign": signed(2), "shift": self.shift_shape}
        return {"coef": signed(self.layer.coef_width)}

    def slot_params(self) -> list[list[dict]]:
        """``[G][P]`` of ``{channel, sign, shift, coef, theta}`` per lane slot (per-tap tuples); ``channel`` is
        None for the padding slots of the last group (zero taps, theta at the top of the range: never spikes)."""
        layer, length, taps = self.layer, self.inp.length, self.layer.taps
        hi = fixed.signed_range(layer.acc_width)[1]
        coef = layer.coef
        slots = []
        for g in range(self.timing.groups):
            row = []
            for p in range(self.lanes):
                f = g * self.lanes + p
                if f >= self.inp.features:
                    row.append({"channel": None, "sign": (0,) * taps, "shift": (0,) * taps, "coef": (0,) * taps,
                                "theta": hi})
                    continue
                c = f // length
                row.append({"channel": c, "sign": tuple(int(v) for v in layer.sign[c]),
                            "shift": tuple(int(v) for v in layer.shift[c]), "coef": tuple(int(v) for v in coef[c]),
                            "theta": int(layer.theta[c])})
            slots.append(row)
        return slots


def lookup(entries: list, index, shape: Shape):
    """``entries[index]`` (constants or signals of ``shape``): the entry itself when there is one or all are
    equal constants, else a word select. A word select is a continuous assignment in Verilog, which every
    simulator evaluates from time 0 (a ``case`` process need not run before its index first changes)."""
    if len(entries) == 1 or (all(isinstance(e, Const) for e in entries) and len({e.value for e in entries}) == 1):
        return entries[0]
    word = Cat(*entries).word_select(index, shape.width)
    return word.as_signed() if shape.signed else word


class NeuronCore(wiring.Component):
    """One neuron layer, ``P`` lanes, streaming in and out.

    Ports (Verilog names after flattening: ``inp__payload``, ``inp__valid``, ...):

    * ``inp``: stream of ``P x in_shape`` (lane p at bits ``[p*w, (p+1)*w)``),
      one group of one time step per beat, groups in order.
    * ``out``: stream of :meth:`CoreParams.out_layout`, one beat per input beat, in order.
    * ``load`` (``loadable`` only, always ready): writes one channel's taps and
      threshold; the write takes effect for beats accepted after it.

    The ``sync`` domain's synchronous reset clears the history: the next
    input beat is group 0 of time step 0. Loaded parameters survive a reset.
    """

    def __init__(self, params: CoreParams):
        self.params = params
        ports = {
            "inp": In(stream.Signature(data.ArrayLayout(params.in_shape, params.lanes))),
            "out": Out(stream.Signature(params.out_layout())),
        }
        if params.loadable:
            ports["load"] = In(stream.Signature(params.load_layout()))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        prm, layer, timing = self.params, self.params.layer, self.params.timing
        lanes, groups, taps, dil = prm.lanes, timing.groups, layer.taps, layer.dilation
        last_step = (taps - 1) * dil

        advance = Signal()
        if prm.loadable:
            m.d.comb += self.load.ready.eq(1)
        m.d.comb += [advance.eq(~self.out.valid | self.out.ready), self.inp.ready.eq(advance)]
        accept = self.inp.valid & advance

        # At least one bit each, so that no zero-width vector reaches the Verilog.
        group = Signal(range(max(2, groups)))
        step = Signal(range(max(2, last_step + 1)))
        addr = Signal(range(max(2, timing.segment_entries)))
        with m.If(accept):
            m.d.sync += addr.eq(Mux(addr == timing.segment_entries - 1, 0, addr + 1))
            m.d.sync += group.eq(Mux(group == groups - 1, 0, group + 1))
            with m.If((group == groups - 1) & (step != last_step)):
                m.d.sync += step.eq(step + 1)

        s1_valid = Signal()
        s1_x = Signal(data.ArrayLayout(prm.in_shape, lanes))
        s1_group = Signal.like(group)
        s1_step = Signal.like(step)
        s1_addr = Signal.like(addr)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.inp.valid), s1_x.eq(self.inp.payload), s1_group.eq(group),
                         s1_step.eq(step), s1_addr.eq(addr)]

        history = self._history(m, advance, addr, s1_valid, s1_addr, s1_x)
        weights, thetas = self._lane_params(m, s1_group)

        spikes = Signal(lanes)
        membranes = []
        for p in range(lanes):
            values = [s1_x[p]] + [word[p] for word in history]
            terms = []
            for i, value in enumerate(values):
                seen = Const(1) if i == 0 else (s1_step >= i * dil)
                x = Signal(prm.in_shape, name=f"x{p}_{i}")
                m.d.comb += x.eq(Mux(seen, value, 0))
                terms.append(self._term(x, weights[p][i]))
            h = self._accumulate(m, terms, p)
            membranes.append(h)
            m.d.comb += spikes[p].eq(h >= thetas[p])

        with m.If(advance):
            m.d.sync += [self.out.valid.eq(s1_valid), self.out.payload.spikes.eq(spikes)]
            if prm.debug:
                m.d.sync += [self.out.payload.membrane[p].eq(h) for p, h in enumerate(membranes)]
        return m

    def _history(self, m: Module, advance, addr, s1_valid, s1_addr, s1_x) -> list:
        """The ``k - 1`` segment outputs ``X[t - j*d]`` (j = 1 .. k-1) for the beat in stage 1,
        each a ``P``-lane word; segment ``j`` is written with segment ``j - 1``'s output (``s1_x`` for j = 1)
        when the beat leaves stage 1."""
        prm, timing = self.params, self.params.timing
        layout = data.ArrayLayout(prm.in_shape, prm.lanes)
        write = advance & s1_valid
        words, incoming = [], s1_x
        for j in range(1, timing.segments + 1):
            if timing.history == "register":
                word = Signal(layout, name=f"seg{j}")
                with m.If(write):
                    m.d.sync += word.eq(incoming)
            else:
                mem = Memory(shape=layout, depth=timing.segment_entries, init=[], attrs={"ram_style": "block"})
                m.submodules[f"seg{j}"] = mem
                read, wr = mem.read_port(), mem.write_port()
                m.d.comb += [read.addr.eq(addr), read.en.eq(advance),
                             wr.addr.eq(s1_addr), wr.en.eq(write), wr.data.eq(incoming)]
                word = read.data
            words.append(word)
            incoming = word
        return words

    def _lane_params(self, m: Module, s1_group) -> tuple[list[list[dict]], list]:
        """Per lane: per-tap weights (``{sign, shift}`` or ``{coef}``) and ``theta`` of the slot in stage 1."""
        prm = self.params
        slots = prm.slot_params()
        table = self._load_registers(m, slots) if prm.loadable else None
        shapes = prm.weight_shapes() | {"theta": signed(prm.layer.acc_width)}

        def entries(p: int, name: str, tap: int | None) -> list:
            """The ``G`` registers or constants of ``name`` (at ``tap``) for lane ``p``."""
            if prm.loadable:
                return [row[p][name] if tap is None else row[p][name][tap] for row in table]
            values = [row[p][name] if tap is None else row[p][name][tap] for row in slots]
            return [Const(v, shapes[name]) for v in values]

        weights, thetas = [], []
        for p in range(prm.lanes):
            weights.append([{name: lookup(entries(p, name, i), s1_group, shape)
                             for name, shape in prm.weight_shapes().items()} for i in range(prm.layer.taps)])
            thetas.append(lookup(entries(p, "theta", None), s1_group, shapes["theta"]))
        return weights, thetas

    def _load_registers(self, m: Module, slots) -> list[list[dict]]:
        """``[G][P]`` parameter registers, initialised from the model and rewritten by ``load``
        for every slot of the addressed channel. Not cleared by reset."""
        prm, layer = self.params, self.params.layer
        load = self.load.payload
        table = []
        for g, row in enumerate(slots):
            regs_row = []
            for p, slot in enumerate(row):
                regs = {name: [Signal(shape, init=slot[name][i], reset_less=True, name=f"{name}_g{g}_p{p}_t{i}")
                               for i in range(layer.taps)]
                        for name, shape in prm.weight_shapes().items()}
                regs["theta"] = Signal(signed(layer.acc_width), init=slot["theta"], reset_less=True,
                                       name=f"theta_g{g}_p{p}")
                if slot["channel"] is not None:
                    with m.If(self.load.valid & (load.channel == slot["channel"])):
                        for name in prm.weight_shapes():
                            m.d.sync += [r.eq(load[name][i]) for i, r in enumerate(regs[name])]
                        m.d.sync += regs["theta"].eq(load.theta)
                regs_row.append(regs)
            table.append(regs_row)
        return table

    def _term(self, x, weight: dict) -> tuple:
        """One tap as ``(operand, carry)`` with ``operand + carry = sign * (x << shift)`` (shift variant) or
        ``x * coef`` (mul variant, carry 0). A negative tap is the ones' complement plus a carry in, so the
        accumulator's adder does the subtraction: the shift is wiring or a barrel shifter, then one add."""
        if self.params.arith == "mul":
            return x * weight["coef"], Const(0, 1)
        sign, shift = weight["sign"], weight["shift"]
        magnitude = x << (shift.value if isinstance(shift, Const) else shift)
        if not magnitude.shape().signed:  # spike input: make ~ the ones' complement of a signed value
            magnitude = Cat(magnitude, Const(0, 1)).as_signed()
        if isinstance(sign, Const):
            return {1: magnitude, -1: ~magnitude, 0: Const(0, 1)}[sign.value], Const(int(sign.value < 0), 1)
        negative = sign < 0
        kept = Mux(sign == 0, 0, magnitude)
        return Mux(negative, ~kept, kept), negative

    def _accumulate(self, m: Module, terms: list, lane: int) -> Signal:
        """``H <- mode(H + term)`` for the ``(operand, carry)`` terms in tap order, at ``acc_width`` bits.

        ``wrap`` keeps the low ``acc_width`` bits of every sum, and that is addition modulo
        ``2^acc_width``, which is associative: the taps are summed as a balanced tree (depth
        ``ceil(log2 k)`` adders, not ``k``), exactly equal to the chain. ``saturate`` clamps after every
        addition, so its taps are added in order. Every addition is one two-operand adder (a carry chain):
        a carry in rides below both operands, ``a + b + c = ((2a + c) + (2b + c)) / 2``."""
        if self.params.layer.overflow == fixed.SATURATE:
            return self._saturating_chain(m, terms, lane)
        width = self.params.layer.acc_width
        nodes = []
        for i, (operand, carry) in enumerate(terms):
            if isinstance(operand, Const) and operand.value == 0 and isinstance(carry, Const) and carry.value == 0:
                continue
            leaf = Signal(signed(width), name=f"t{lane}_{i}")
            m.d.comb += leaf.eq(operand)
            nodes.append((leaf, carry))
        if not nodes:
            return Const(0, signed(width))
        level = 0
        while len(nodes) > 1:
            nodes = [self._wrap_pair(m, nodes[k:k + 2], f"s{lane}_{level}_{k // 2}") if k + 1 < len(nodes)
                     else nodes[k] for k in range(0, len(nodes), 2)]
            level += 1
        total, carry = nodes[0]
        if isinstance(carry, Const) and carry.value == 0:
            return total
        return self._wrap_pair(m, [(total, carry), (Const(0, signed(width)), Const(0, 1))], f"h{lane}")[0]

    def _wrap_pair(self, m: Module, pair: list, name: str) -> tuple:
        """``((a + b + ca) mod 2^acc_width, cb)`` of ``[(a, ca), (b, cb)]``: one adder, ``ca`` its carry in."""
        width = self.params.layer.acc_width
        (a, ca), (b, cb) = pair
        total = Signal(signed(width), name=name)
        m.d.comb += total.eq((Cat(ca, a.as_unsigned()) + Cat(ca, b.as_unsigned()))[1:width + 1])
        return total, cb

    def _saturating_chain(self, m: Module, terms: list, lane: int) -> Signal:
        """``H <- clamp(H + operand + carry)`` in tap order, every sum exact before it is clamped."""
        width = self.params.layer.acc_width
        lo, hi = fixed.signed_range(width)
        h = Const(0, signed(width))
        for i, (operand, carry) in enumerate(terms):
            total = (Cat(carry, h).as_signed() + Cat(carry, operand).as_signed()) >> 1
            nxt = Signal(signed(width), name=f"h{lane}_{i}")
            m.d.comb += nxt.eq(Mux(total > hi, hi, Mux(total < lo, lo, total)))
            h = nxt
        return h
