"""Spiking neurons for training: the mul-free channel-wise neuron and the float baselines.

Every neuron takes ``x [T, B, C, *rest]`` (time first) and returns spikes of the same shape.
"""

from .channelwise import ChannelwiseNeuron, NeuronInts
from .lif import LIF
from .psn import PSN, MaskedPSN, SlidingPSN

__all__ = ["LIF", "PSN", "ChannelwiseNeuron", "MaskedPSN", "NeuronInts", "SlidingPSN"]
