"""Spike accumulation forwarding (SAF) and online training through time (OTTT).

Reference: Saiin et al., "Spike accumulation forwarding for effective training of
spiking neural networks" (arXiv 2310.02772); Xiao et al., "Online training through
time for spiking neural networks" (NeurIPS 2022).

Network: a stack of fully connected LIF layers ``sizes = [n_0, n_1, ..., n_L]``,
layer ``l`` has ``W_l [n_l, n_{l-1}]`` and ``b_l [n_l]``. Tensors are time first,
``x [T, B, n_0]``. ``lam = 1 - 1/tau`` (``tau > 1``), ``V`` is ``v_threshold``.

Note the leak form here is ``v[t] = lam * v[t-1] + I[t]`` (input not scaled by
``1/tau``), not the ``v + (x - v)/tau`` form of :mod:`.neurons.lif`.

Ordinary LIF (soft reset, :func:`lif_spikes`)
---------------------------------------------
``v[t] = lam * (v[t-1] - V * s[t-1]) + W s_prev[t] + b`` (membrane before reset,
``v[-1] = s[-1] = 0``, ``s_prev = x`` for the first layer), ``s[t] = H(v[t] - V)``.

SAF ("accumulation" form, :class:`SAFNetwork`)
----------------------------------------------
Each layer forwards only its spike accumulation ``a[t] = lam * a[t-1] + s[t]``
(``a[-1] = 0``); the input is accumulated the same way, ``a_0[t] = lam * a_0[t-1] + x[t]``.
With ``beta[t] = 1 + lam + ... + lam^t`` (the accumulation of a constant 1)::

    U[t] = W a_prev[t] + b * beta[t]
    s[t] = H(U[t] - V * (lam * a[t-1] + 1))
    a[t] = lam * a[t-1] + s[t]

Equivalence with the ordinary LIF: unrolling ``v`` gives
``v[t] = sum_k lam^(t-k) (W s_prev[k] + b) - V * sum_{k<t} lam^(t-k) s[k]
= W a_prev[t] + b beta[t] - V lam a[t-1] = U[t] - V lam a[t-1]``,
so ``v[t] >= V``  <=>  ``U[t] >= V (lam a[t-1] + 1)``: same spikes, layer by layer
(by induction over layers, since ``a_prev`` is a function of the spikes below).
Only the spike accumulations (one state tensor per layer) are kept and forwarded.
The network output at step ``t`` is the last layer's accumulation ``a_L[t]``
(a leaky spike count, no membrane); per-step losses are taken on it.

SAF gradients (online). Past accumulations are constants: every ``a[t-1]`` is
detached, so ``a[t] = lam * a[t-1].detach() + s[t]``. The graph of step ``t`` thus
spans all layers at step ``t`` and nothing earlier: for a per-step loss ``L_t``,
with ``delta_l = dL_t/dU_l[t]``::

    delta_L       = sigma'(U_L[t] - V(lam a_L[t-1] + 1)) * dL_t/da_L[t]
    dL_t/dW_l     = delta_l^T a_{l-1}[t]           (summed over the batch)
    dL_t/db_l     = beta[t] * sum_batch delta_l
    delta_{l-1}   = sigma'(U_{l-1}[t] - ...) * (delta_l W_l)     (da_{l-1}[t]/ds_{l-1}[t] = 1)

OTTT (:class:`OTTTNetwork`, :func:`ottt_gradients`). Forward is the ordinary LIF
with the membrane history detached,
``v[t] = lam * (v[t-1] - V s[t-1]).detach() + W s_prev[t] + b``, plus presynaptic
traces ``ahat_prev[t] = lam * ahat_prev[t-1] + s_prev[t]`` (``x`` for the first
layer) and a bias trace ``beta[t]`` (trace of the constant input 1). At step ``t``
the instantaneous error ``g_l = dL_t/dv_l[t]`` is back-propagated through the
layers of step ``t`` via the spikes (``dL_t/ds_prev[t] = g_l W_l``) and the
weight gradient is the outer product with the trace,
``dL_t/dW_l := g_l^T ahat_{l-1}[t]``, ``dL_t/db_l := beta[t] * sum_batch g_l``.
This is implemented by :class:`_TraceLinear`, an autograd function whose forward is
``s_prev W^T + b`` and whose backward sends ``g W`` to ``s_prev`` but
``g^T ahat`` / ``beta sum(g)`` to ``W`` / ``b``. The output at step ``t`` is the
last layer's spike trace with detached past, ``o[t] = lam * o[t-1].detach() + s_L[t]``
(equal in value to SAF's ``a_L[t]``).

Why SAF == OTTT (the theorem tested in ``tests/test_saf.py``): in exact arithmetic
(1) ``ahat_{l}[t] == a_l[t]`` (same recursion on the same spikes), (2)
``v_l[t] - V == U_l[t] - V(lam a_l[t-1] + 1)`` so spikes and surrogate derivatives
coincide, (3) ``dv_l[t]/ds_{l-1}[t] = W_l = dU_l[t]/da_{l-1}[t]`` and
``da_{l-1}[t]/ds_{l-1}[t] = 1`` with everything from earlier steps detached in both.
Hence ``g_l == delta_l`` for every layer by backward induction from the output,
and ``g_l^T ahat_{l-1}[t] == delta_l^T a_{l-1}[t]``, ``beta g == beta delta``: the
per-step (and summed) weight and bias gradients are identical. In floats they
agree up to rounding (the two forms compute the same membrane in different orders).
SAF needs one state per layer (``a``); OTTT needs two (``v`` and the trace).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .surrogate import Surrogate

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def leak(tau: float) -> float:
    """``lam = 1 - 1/tau``, the LIF leak per step (``tau > 1``)."""
    if not tau > 1:
        raise ValueError(f"tau must be > 1, got {tau}")
    return 1.0 - 1.0 / tau


def saf_fire(U: torch.Tensor, a_old: torch.Tensor, lam: float, v_threshold: float,
             surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
    """One SAF layer step: ``(s[t], a[t])`` from ``U[t]`` and ``a[t-1]`` (same shape).

    ``s[t] = H(U[t] - V (lam a[t-1] + 1))``, ``a[t] = lam a[t-1] + s[t]``; ``a[t-1]`` is
    detached (past accumulations are constants), so the gradient reaches ``U[t]`` only.
    """
    a_old = a_old.detach()
    s = surrogate(U - v_threshold * (lam * a_old + 1.0))
    return s, lam * a_old + s


class SAFState(NamedTuple):
    """SAF state after step ``t``: input accumulation ``a_in [B, n_0]``, per-layer
    accumulations ``acc[l] [B, n_{l+1}]`` (detached), bias accumulation ``beta`` (float)."""

    a_in: torch.Tensor
    acc: tuple[torch.Tensor, ...]
    beta: float


class _SavedCounter:
    """Counts elements of tensors saved for backward (a proxy for graph memory)."""

    def __init__(self):
        self.numel = 0

    def hooks(self):
        def pack(t):
            self.numel += t.numel()
            return t

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


class SAFNetwork(nn.Module):
    """Fully connected LIF stack trained by spike accumulation forwarding.

    ``sizes = [n_0, ..., n_L]``; ``forward(x [T, B, n_0]) -> [T, B, n_L]`` (the last
    layer's spike accumulation at each step). See the module docstring for equations.
    """

    def __init__(self, sizes: Sequence[int], tau: float = 2.0, v_threshold: float = 1.0, *,
                 surrogate: Surrogate = Surrogate(), bias: bool = True):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"need at least [in, out] sizes, got {list(sizes)}")
        self.sizes = list(sizes)
        self.lam = leak(tau)
        self.tau, self.v_threshold, self.surrogate = tau, v_threshold, surrogate
        self.layers = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(sizes[:-1], sizes[1:]))

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, tau={self.tau}, v_threshold={self.v_threshold}"

    @property
    def weights(self) -> list[torch.Tensor]:
        return [layer.weight for layer in self.layers]

    @property
    def biases(self) -> list[torch.Tensor | None]:
        return [layer.bias for layer in self.layers]

    def init_state(self, x_t: torch.Tensor) -> SAFState:
        """Zero state for a batch like ``x_t [B, n_0]`` (``a[-1] = 0``, ``beta[-1] = 0``)."""
        B = x_t.shape[0]
        acc = tuple(x_t.new_zeros(B, layer.out_features) for layer in self.layers)
        return SAFState(torch.zeros_like(x_t), acc, 0.0)

    def step(self, x_t: torch.Tensor, state: SAFState | None = None,
             spikes: list | None = None) -> tuple[torch.Tensor, SAFState]:
        """One SAF step: ``x_t [B, n_0]`` -> (``a_L[t] [B, n_L]``, new state).

        Past accumulations in ``state`` are detached, so the graph of this step only
        spans the layers at step ``t``. If ``spikes`` is a list, each layer's spikes
        ``s_l[t] [B, n_l]`` are appended to it.
        """
        if state is None:
            state = self.init_state(x_t)
        lam, V = self.lam, self.v_threshold
        a_in = lam * state.a_in.detach() + x_t
        beta = lam * state.beta + 1.0
        a_prev, new_acc = a_in, []
        for layer, a_old in zip(self.layers, state.acc):
            U = F.linear(a_prev, layer.weight)
            if layer.bias is not None:
                U = U + layer.bias * beta
            s, a_prev = saf_fire(U, a_old, lam, V, self.surrogate)
            if spikes is not None:
                spikes.append(s)
            new_acc.append(a_prev)
        return a_prev, SAFState(a_in, tuple(new_acc), beta)

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        """``x [T, B, n_0]`` -> ``[T, B, n_L]`` accumulations; with ``return_spikes``
        also the list of per-layer spikes ``[T, B, n_l]``."""
        state, outs, per_step = None, [], []
        for x_t in x:
            sp = [] if return_spikes else None
            out, state = self.step(x_t, state, sp)
            outs.append(out)
            per_step.append(sp)
        out = torch.stack(outs)
        if not return_spikes:
            return out
        return out, [torch.stack([sp[l] for sp in per_step]) for l in range(len(self.layers))]

    def train_online(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                     optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Online SAF training on one batch ``x [T, B, n_0]``.

        At every step ``t``: ``L_t = loss_fn(a_L[t], y) / T`` and ``L_t.backward()``
        immediately (no graph kept across steps), so ``.grad`` accumulates
        ``sum_t dL_t/dtheta``. Gradients are zeroed first; ``optimizer.step()`` is
        called at the end if given. Returns ``{"loss": sum_t L_t, "peak_saved_numel":
        max over steps of elements saved for backward, "T": T}``.
        """
        self.zero_grad(set_to_none=True)
        T, state, total, peak = x.shape[0], None, 0.0, 0
        for x_t in x:
            counter = _SavedCounter()
            with counter.hooks():
                out, state = self.step(x_t, state)
                loss = loss_fn(out, y) / T
            loss.backward()
            state = SAFState(state.a_in.detach(), tuple(a.detach() for a in state.acc), state.beta)
            total += float(loss.detach())
            peak = max(peak, counter.numel)
        if optimizer is not None:
            optimizer.step()
        return {"loss": total, "peak_saved_numel": peak, "T": T}


class _TraceLinear(torch.autograd.Function):
    """Forward ``s W^T + b``; backward: ``g W`` to ``s``, ``g^T ahat`` to ``W`` and
    ``beta * sum_batch g`` to ``b`` (OTTT's trace-based weight gradient)."""

    @staticmethod
    def forward(ctx, s, ahat, weight, bias, beta):
        ctx.save_for_backward(ahat, weight)
        ctx.beta, ctx.has_bias = beta, bias is not None
        out = F.linear(s, weight)
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, g):
        ahat, weight = ctx.saved_tensors
        grad_s = g @ weight
        grad_w = g.transpose(0, 1) @ ahat
        grad_b = ctx.beta * g.sum(0) if ctx.has_bias else None
        return grad_s, None, grad_w, grad_b, None


class OTTTNetwork(nn.Module):
    """OTTT on the same layers as an :class:`SAFNetwork` (weights shared, not copied).

    ``forward(x [T, B, n_0]) -> [T, B, n_L]`` output traces; see the module docstring.
    """

    def __init__(self, saf: SAFNetwork):
        super().__init__()
        self.layers = saf.layers  # shared parameters
        self.lam, self.v_threshold, self.surrogate = saf.lam, saf.v_threshold, saf.surrogate

    def _run(self, x: torch.Tensor, y: torch.Tensor | None = None, loss_fn: LossFn | None = None):
        lam, V, T = self.lam, self.v_threshold, x.shape[0]
        B = x.shape[1]
        v = [x.new_zeros(B, layer.out_features) for layer in self.layers]   # membrane after reset
        trace_in = [x.new_zeros(B, layer.in_features) for layer in self.layers]
        o = x.new_zeros(B, self.layers[-1].out_features)
        beta, outs, total, peak = 0.0, [], 0.0, 0
        for x_t in x:
            beta = lam * beta + 1.0
            counter = _SavedCounter()
            with counter.hooks():
                s_prev = x_t
                for l, layer in enumerate(self.layers):
                    trace_in[l] = lam * trace_in[l] + s_prev.detach()
                    I = _TraceLinear.apply(s_prev, trace_in[l], layer.weight, layer.bias, beta)
                    h = lam * v[l].detach() + I          # membrane before reset
                    s = self.surrogate(h - V)
                    v[l] = (h - V * s).detach()
                    s_prev = s
                o = lam * o.detach() + s_prev
                if loss_fn is None:
                    outs.append(o.detach())
                else:
                    loss = loss_fn(o, y) / T
            if loss_fn is not None:
                loss.backward()
                total += float(loss.detach())
                peak = max(peak, counter.numel)
        return (torch.stack(outs) if outs else None), {"loss": total, "peak_saved_numel": peak, "T": T}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[0]

    def train_online(self, x, y, loss_fn: LossFn, optimizer=None) -> dict:
        """Like :meth:`SAFNetwork.train_online` but with OTTT gradients."""
        for p in self.parameters():
            p.grad = None
        info = self._run(x, y, loss_fn)[1]
        if optimizer is not None:
            optimizer.step()
        return info


def _grads(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]


def saf_gradients(net: SAFNetwork, x, y, loss_fn: LossFn) -> list[torch.Tensor]:
    """SAF gradients of ``sum_t loss_fn(a_L[t], y) / T``, in ``net.parameters()`` order.
    Overwrites ``.grad`` of ``net``."""
    net.train_online(x, y, loss_fn)
    return _grads(list(net.parameters()))


def ottt_gradients(net: SAFNetwork, x, y, loss_fn: LossFn) -> list[torch.Tensor]:
    """OTTT gradients of the same loss on ``net``'s weights, in ``net.parameters()``
    order. Overwrites ``.grad`` of ``net``."""
    OTTTNetwork(net).train_online(x, y, loss_fn)
    return _grads(list(net.parameters()))


def _lif_forward(weights, biases, x, tau, v_threshold, surrogate: Surrogate):
    """Ordinary soft-reset LIF stack, full graph: returns (per-layer spikes [T, B, n_l],
    last-layer accumulation [T, B, n_L])."""
    lam = leak(tau)
    T, B = x.shape[:2]
    v = [x.new_zeros(B, w.shape[0]) for w in weights]
    a = x.new_zeros(B, weights[-1].shape[0])
    spikes = [[] for _ in weights]
    accs = []
    for x_t in x:
        s = x_t
        for l, (w, b) in enumerate(zip(weights, biases)):
            h = lam * v[l] + F.linear(s, w, b)
            s = surrogate(h - v_threshold)
            v[l] = h - v_threshold * s
            spikes[l].append(s)
        a = lam * a + s
        accs.append(a)
    return [torch.stack(sp) for sp in spikes], torch.stack(accs)


def lif_spikes(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor | None],
               x: torch.Tensor, tau: float = 2.0, v_threshold: float = 1.0) -> list[torch.Tensor]:
    """Ordinary LIF network (soft reset, nothing detached): ``x [T, B, n_0]`` -> list of
    per-layer spikes ``[T, B, n_l]``. ``v[t] = lam v[t-1] + W s_prev[t] + b``,
    spike when ``v[t] >= v_threshold``, then ``v <- v - v_threshold * s``."""
    with torch.no_grad():
        return _lif_forward(weights, biases, x, tau, v_threshold, Surrogate())[0]


def bptt_gradients(net: SAFNetwork, x, y, loss_fn: LossFn) -> tuple[list[torch.Tensor], dict]:
    """Full BPTT gradients of ``sum_t loss_fn(a_L[t], y) / T`` through the ordinary LIF
    network with ``net``'s weights (nothing detached). Returns (grads in
    ``net.parameters()`` order, ``{"loss", "saved_numel"}``). Does not touch ``.grad``."""
    params = list(net.parameters())
    counter = _SavedCounter()
    with counter.hooks():
        _, acc = _lif_forward(net.weights, net.biases, x, net.tau, net.v_threshold, net.surrogate)
        T = x.shape[0]
        loss = sum(loss_fn(acc[t], y) for t in range(T)) / T
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return grads, {"loss": float(loss.detach()), "saved_numel": counter.numel}
