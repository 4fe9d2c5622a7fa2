"""shiftspike.sim: the integer model and its bit-accurate simulators (the specification).

Imports neither torch nor amaranth. ``docs/semantics.md`` defines every
operation; :func:`run_reference` is that document in NumPy, :func:`run`, :class:`Stream`
and :class:`Stepper` the fast Numba simulator.
"""

from . import jit  # noqa: F401  (first: it points Numba's cache at shiftspike's before Numba is imported)
from .bounds import LayerBound, analyze, fit_widths
from .engine import Stepper, Stream, run
from .fileformat import load, save
from .model import (
    Conv1d,
    Dense,
    IntegerModel,
    ModelError,
    Neuron,
    Readout,
    SumPool,
    TensorSpec,
)
from .random_model import random_input, random_model
from .reference import run_reference
from .trace import InputError, LayerActivity, Trace

__all__ = [
    "Conv1d", "Dense", "InputError", "IntegerModel", "LayerActivity", "LayerBound", "ModelError", "Neuron",
    "Readout", "Stepper", "Stream", "SumPool", "TensorSpec", "Trace", "analyze", "fit_widths", "load", "random_input",
    "random_model", "run", "run_reference", "save",
]
