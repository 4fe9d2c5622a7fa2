"""shiftspike: power-of-two QAT to bit-exact verified RTL for multiplication-free parallel spiking neurons.

The stages live in ``shiftspike.quant`` (training and export), ``shiftspike.sim`` (integer model,
simulators, op counts, energy: the specification) and ``shiftspike.rtl_gen`` (Amaranth RTL);
``shiftspike.build`` runs them as the steps of a run folder, ``shiftspike.cli*`` is the command line.

The Python API (``shiftspike.api``), loaded on first use so that ``import shiftspike`` stays light:
:func:`train` (the trained network), :func:`export` (the integer model, in memory), :func:`report` (a typed
report), :func:`cores`, :func:`synthesize` and :func:`verify` (neuron cores from memory), :func:`network`,
:func:`synthesize_network` and :func:`verify_network` (the whole-network accelerator from memory).
"""

__version__ = "0.1.0"

API = ("train", "export", "report", "cores", "synthesize", "verify", "network", "synthesize_network", "verify_network",
       "Trained", "ExactnessError")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    if name in API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'shiftspike' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(API))
