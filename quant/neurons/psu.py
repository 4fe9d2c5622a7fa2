"""The Parallel Spiking Unit family (Li et al., "Parallel Spiking Unit for Efficient Training of
Spiking Neural Networks", arXiv 2402.00449), float neurons.

With ``X [T, N]`` (time first, ``N`` = every other axis flattened) and ``tau``:

* ``A[i, j] = (1/tau)^(i-j+1)`` for ``j <= i``: leaky integration without reset;
* ``B[i, j] = -(1/tau)^(i-j)`` for ``j < i``: a decaying, strictly causal reset kernel.

* :class:`PSU`: ``D = A X``, ``V = D + V_th * B sigmoid(D)``, ``S = Heaviside(V - V_th)``
  (the reset is driven by the spike probability ``sigmoid(D)`` instead of the spikes).
* :class:`IPSU` (input-aware): ``V = (W . M) X + b + B X``, ``S = Heaviside(V - V_th)``.
* :class:`RPSU` (reset-aware): ``V = A X + B sigmoid((W . M) X + b)``, ``S = Heaviside(V - V_th)``.

``W [T, T]`` is learnable, ``M`` the lower-triangular causal mask, ``b [T]`` a learnable
per-step bias. Defaults from the authors' code: ``V_th = 0.5`` (0.3 for speech), ``tau = 2``.

With the true spikes in place of ``sigmoid(D)``, ``A X + V_th * B S`` is the soft-reset LIF
``H[t] = (V[t-1] + X[t]) / tau``, ``S[t] = H[t] >= V_th``, ``V[t] = H[t] - V_th S[t]``
(:func:`soft_reset_lif`); the tests check the identity.

Each neuron has ``forward`` (the parallel form: ``T x T`` matrix products) and ``serial``
(step by step, for inference). The serial PSU keeps two running states: ``d[t] = (d[t-1] + X[t]) / tau``
and ``r[t] = (r[t-1] + sigmoid(d[t-1])) / tau``, with ``V[t] = d[t] - V_th r[t]``. IPSU and RPSU
apply an arbitrary causal ``W``, so their serial forms must keep the whole input history
(``O(T)`` per neuron) for ``(W . M) X``, plus one running state for the ``B`` term.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..surrogate import Surrogate


def decay_matrices(timesteps: int, tau: float, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)``, each ``[T, T]``, as defined in the module docstring."""
    lag = torch.arange(timesteps)[:, None] - torch.arange(timesteps)[None, :]
    power = torch.pow(torch.tensor(1.0 / tau, dtype=torch.float64), lag.clamp(min=0).to(torch.float64))
    a = torch.where(lag >= 0, power / tau, torch.zeros((), dtype=torch.float64))
    b = torch.where(lag > 0, -power, torch.zeros((), dtype=torch.float64))
    return a.to(dtype), b.to(dtype)


def soft_reset_lif(x: torch.Tensor, tau: float, v_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft-reset LIF the PSU family is built from: ``x [T, ...]`` -> ``(H, S)`` (membrane before reset,
    spikes), ``H[t] = (V[t-1] + x[t]) / tau``, ``S[t] = H[t] >= v_threshold``, ``V[t] = H[t] - v_threshold S[t]``."""
    v = torch.zeros_like(x[0])
    hs, ss = [], []
    for x_t in x:
        h = (v + x_t) / tau
        s = (h >= v_threshold).to(x.dtype)
        v = h - v_threshold * s
        hs.append(h)
        ss.append(s)
    return torch.stack(hs), torch.stack(ss)


class _ParallelUnit(nn.Module):
    """Shared parts: the fixed ``A``/``B`` matrices of ``T`` steps, threshold and surrogate."""

    def __init__(self, timesteps: int, tau: float, v_threshold: float, surrogate: Surrogate):
        super().__init__()
        if not tau > 1:
            raise ValueError(f"tau must be > 1, got {tau}")
        self.timesteps, self.tau, self.v_threshold, self.surrogate = timesteps, tau, v_threshold, surrogate
        a, b = decay_matrices(timesteps, tau)
        self.register_buffer("a", a, persistent=False)
        self.register_buffer("b", b, persistent=False)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, tau={self.tau}, v_threshold={self.v_threshold}"

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.timesteps:
            raise ValueError(f"{type(self).__name__} was built for T = {self.timesteps}, got T = {x.shape[0]}")
        return x.reshape(self.timesteps, -1)

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """``V [T, N]`` of the parallel form for ``x [T, N]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel form: ``x [T, B, ...]`` -> spikes of the same shape."""
        v = self.membrane(self._flat(x))
        return self.surrogate(v - self.v_threshold).view(x.shape)


class PSU(_ParallelUnit):
    """Parallel spiking unit: no learnable parameters besides the layers around it."""

    def __init__(self, timesteps: int, tau: float = 2.0, v_threshold: float = 0.5, *,
                 surrogate: Surrogate = Surrogate()):
        super().__init__(timesteps, tau, v_threshold, surrogate)

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        d = self.a.to(x.dtype) @ x
        return d + self.v_threshold * (self.b.to(x.dtype) @ torch.sigmoid(d))

    @torch.no_grad()
    def serial(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step with two running states per neuron: ``(spikes, V)``, each shaped like ``x``."""
        d = torch.zeros_like(x[0])
        r = torch.zeros_like(x[0])
        membranes = []
        for x_t in x:
            r = (r + torch.sigmoid(d)) / self.tau if membranes else r
            d = (d + x_t) / self.tau
            membranes.append(d - self.v_threshold * r)
        v = torch.stack(membranes)
        return (v >= self.v_threshold).to(x.dtype), v


class _Learnable(_ParallelUnit):
    """A learnable causal ``W [T, T]`` (masked lower-triangular) and bias ``b [T]``."""

    def __init__(self, timesteps: int, tau: float, v_threshold: float, surrogate: Surrogate):
        super().__init__(timesteps, tau, v_threshold, surrogate)
        self.weight = nn.Parameter(torch.empty(timesteps, timesteps))
        self.bias = nn.Parameter(torch.zeros(timesteps, 1))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.register_buffer("mask", torch.tril(torch.ones(timesteps, timesteps)), persistent=False)

    def causal(self, x: torch.Tensor) -> torch.Tensor:
        """``(W . M) x + b`` for ``x [T, N]``."""
        return torch.addmm(self.bias.to(x.dtype), (self.weight * self.mask).to(x.dtype), x)

    def _history_serial(self, x: torch.Tensor, membrane_step) -> tuple[torch.Tensor, torch.Tensor]:
        """Serial loop keeping the whole input history (``O(T)`` per neuron) and one running ``B`` state;
        returns ``(spikes, V)`` shaped like ``x``."""
        flat = x.reshape(x.shape[0], -1)
        w = (self.weight * self.mask).to(x.dtype)
        history, membranes = [], []
        state = torch.zeros_like(flat[0])
        for t, x_t in enumerate(flat):
            history.append(x_t)
            inner = w[t, : t + 1] @ torch.stack(history) + self.bias[t].to(x.dtype)
            v, state = membrane_step(t, x_t, inner, state)
            membranes.append(v)
        v = torch.stack(membranes).view(x.shape)
        return (v >= self.v_threshold).to(x.dtype), v


class IPSU(_Learnable):
    """Input-aware PSU: ``V = (W . M) X + b + B X``."""

    def __init__(self, timesteps: int, tau: float = 2.0, v_threshold: float = 0.5, *,
                 surrogate: Surrogate = Surrogate()):
        super().__init__(timesteps, tau, v_threshold, surrogate)

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        return self.causal(x) + self.b.to(x.dtype) @ x

    @torch.no_grad()
    def serial(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step: the input history for ``(W . M) X``; ``q[t] = (q[t-1] + X[t-1]) / tau`` gives ``-(B X)[t]``."""
        previous = {"x": None}

        def step(t, x_t, inner, q):
            q = (q + previous["x"]) / self.tau if t else q
            previous["x"] = x_t
            return inner - q, q

        return self._history_serial(x, step)


class RPSU(_Learnable):
    """Reset-aware PSU: ``V = A X + B sigmoid((W . M) X + b)``."""

    def __init__(self, timesteps: int, tau: float = 2.0, v_threshold: float = 0.5, *,
                 surrogate: Surrogate = Surrogate()):
        super().__init__(timesteps, tau, v_threshold, surrogate)

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        return self.a.to(x.dtype) @ x + self.b.to(x.dtype) @ torch.sigmoid(self.causal(x))

    @torch.no_grad()
    def serial(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step: the input history for the inner ``(W . M) X + b``, ``d`` for ``A X`` and ``r`` for
        ``-(B sigmoid(.))``."""
        carried = {"d": None, "sig": None}

        def step(t, x_t, inner, r):
            d = x_t / self.tau if t == 0 else (carried["d"] + x_t) / self.tau
            r = (r + carried["sig"]) / self.tau if t else r
            carried["d"], carried["sig"] = d, torch.sigmoid(inner)
            return d - r, r

        return self._history_serial(x, step)
