"""shiftspike.quant: PyTorch quantization-aware training and export to the integer model.

Imports ``shiftspike.sim`` (the model format) and torch; never ``rtl_gen``.
"""

from shiftspike.sim.jit import note_compiles

#: Said on stderr once, the first time a process compiles the training kernels of ``shiftspike.quant``
#: (later runs load them from the Numba cache of ``shiftspike.sim.jit``).
COMPILE_NOTE = "compiling the training kernels (first run only)"
note_compiles("shiftspike.quant.", COMPILE_NOTE)
