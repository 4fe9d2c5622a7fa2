"""The channel-wise dilated temporal convolution: several implementations behind one function.

``temporal_conv(x [T, B, C, *rest], weight [C, k], dilation, impl="auto", exact=False)``
computes ``H[t] = sum_i weight[:, i] * x[t - i*dilation]`` (zeros before ``t = 0``, tap 0 =
current step) in the dtype of ``x`` (float32 or float64). ``IMPLEMENTATIONS`` maps names to
the implementations (``impls.py``, ``fused.py``), ``reference`` is the float64 loop the tests
compare against, ``autoselect_report`` tells what the automatic choice cost and chose.
"""

from .api import temporal_conv
from .autoselect import autoselect_report
from .impls import EXACT, IMPLEMENTATIONS, TOEPLITZ_MAX_STEPS
from .reference import reference

__all__ = ["EXACT", "IMPLEMENTATIONS", "TOEPLITZ_MAX_STEPS", "autoselect_report", "reference", "temporal_conv"]
