"""shiftspike.rtl_gen: Amaranth generation of the dilated channel-wise neuron core.

Imports ``shiftspike.sim`` (the model format and cycle model) and amaranth; never ``quant`` or torch.
Importing this package itself is light (no amaranth): the CLI reads :data:`ARITHS` from here.
"""

#: Datapath variants: ``shift`` (shifts and adds, no multiplier) and ``mul`` (true multipliers).
ARITHS = ("shift", "mul")
