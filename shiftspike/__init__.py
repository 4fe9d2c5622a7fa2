"""shiftspike: power-of-two QAT to bit-exact verified RTL for multiplication-free parallel spiking neurons.

This package is the command-line face only. The stages live in
``shiftspike.quant`` (training and export), ``shiftspike.sim`` (integer model,
simulators, op counts, energy: the specification) and ``shiftspike.rtl_gen``
(Amaranth RTL).
"""

__version__ = "0.1.0"
