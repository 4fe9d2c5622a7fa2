"""shiftspike.rtl_gen: Amaranth generation of the dilated channel-wise neuron core.

Imports ``shiftspike.sim`` (the model format and cycle model) and amaranth; never ``quant`` or torch.
"""
