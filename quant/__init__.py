"""shiftspike.quant: PyTorch quantization-aware training and export to the integer model.

Imports ``shiftspike.sim`` (the model format) and torch; never ``rtl_gen``.
"""
