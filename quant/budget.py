"""The size of a network, known from its config before anything is allocated.

:func:`meta_network` builds the network on PyTorch's ``meta`` device, where
tensors have a shape and a dtype but no storage, so even an absurd config costs
nothing; :func:`check_budget` refuses a network with more than
:data:`MAX_PARAMETERS` parameters and buffers (``docs/training.md``, "Limits").
"""

from __future__ import annotations

import math

import torch

from .config import ConfigError, ModelConfig
from .data.base import InputInfo, format_bytes
from .network import SpikingNetwork

#: Most parameters and buffers a network may have: 2^26 float32 values are 256 MiB, about 1 GiB while
#: training with Adam (weights, gradients and two moment estimates).
MAX_PARAMETERS = 1 << 26


def meta_network(model: ModelConfig, info: InputInfo) -> SpikingNetwork:
    """``SpikingNetwork(model, info)`` with storage-less ``meta`` tensors: every parameter's and buffer's name,
    shape and dtype, nothing allocated. An architecture that cannot be built on ``info`` is a :class:`ConfigError`.
    """
    try:
        with torch.device("meta"):
            return SpikingNetwork(model, info)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_budget(model: ModelConfig, info: InputInfo) -> SpikingNetwork:
    """:func:`meta_network`, after refusing a network of more than :data:`MAX_PARAMETERS` values."""
    net = meta_network(model, info)
    count = sum(math.prod(t.shape) for t in net.state_dict().values())
    if count > MAX_PARAMETERS:
        raise ConfigError(f"model: {count:,} parameters ({format_bytes(4 * count)} as float32) on input "
                          f"{info.channels}x{info.length}, over the limit of {MAX_PARAMETERS:,} "
                          f"({format_bytes(4 * MAX_PARAMETERS)}); use fewer or narrower layers")
    return net
