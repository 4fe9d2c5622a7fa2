"""Spiking neurons for training: the mul-free channel-wise neuron and the float baselines.

Every neuron takes ``x [T, B, C, *rest]`` (time first) and returns spikes of the same shape
(the SAF neuron: spike accumulations, see :mod:`.saf`).
"""

from .channelwise import ChannelwiseNeuron, NeuronInts
from .dynamic_decay import DynamicDecay
from .lif import LIF
from .psn import PSN, MaskedPSN, SlidingPSN
from .psu import IPSU, PSU, RPSU
from .saf import SAFNeuron

__all__ = ["IPSU", "LIF", "PSN", "PSU", "RPSU", "ChannelwiseNeuron", "DynamicDecay", "MaskedPSN", "NeuronInts",
           "SAFNeuron", "SlidingPSN"]
