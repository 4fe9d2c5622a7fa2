"""What every verb of the command line shares: argument types with bounds, the console, reading an input
array, and refusing an output that would overwrite an input.

Argument types raise ``argparse.ArgumentTypeError``, so argparse prints its usage line and exits 2; every
other user error is a :class:`~shiftspike.sim.errors.ShiftspikeError`, which ``shiftspike.cli.main``
turns into one line.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from shiftspike.sim.errors import OutputError

#: Largest seed: what NumPy's and torch's generators take.
MAX_SEED = 2**32 - 1
#: Largest count of samples, epochs or lanes an argument may ask for (more is a typo, not a request).
MAX_COUNT = 2**31 - 1
#: Largest ``--width`` scale of a preset's hidden sizes.
MAX_WIDTH = 64.0
#: Longest integer argument, in digits (Python refuses to convert beyond 4300 with a traceback elsewhere).
MAX_DIGITS = 20


def _integer(text: str) -> int:
    if len(text.strip().lstrip("+-")) > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text[:24]}...: more than {MAX_DIGITS} digits")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def bounded_int(low: int, high: int):
    """An argparse type: an integer in ``[low, high]``."""

    def parse(text: str) -> int:
        value = _integer(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


non_negative = bounded_int(0, MAX_COUNT)
positive = bounded_int(1, MAX_COUNT)
seed = bounded_int(0, MAX_SEED)


def positive_width(text: str) -> float:
    """An argparse type: a finite scale in ``(0, MAX_WIDTH]`` (``inf``, ``nan`` and ``1e999`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    if not 0 < value <= MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {MAX_WIDTH:g}, got {text}")
    return value


def widths(text: str) -> list[int]:
    """An argparse type: accumulator widths ``8`` or ``8,12,16`` (each 1 to 64 bits)."""
    parse = bounded_int(1, 64)
    return [parse(part) for part in text.split(",")]


def lanes_list(text: str) -> list[int]:
    """An argparse type: lanes per layer ``16,1,8`` (each 1 to 2^16, at most one value per possible layer)."""
    from shiftspike.sim.fixed import MAX_LAYERS

    parts = text.split(",", MAX_LAYERS)
    if len(parts) > MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"more than {MAX_LAYERS} values")
    parse = bounded_int(1, 2**16)
    return [parse(part) for part in parts]


def console():
    """A rich console, wide enough for the tables when the output is not a terminal."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def load_input(path: str):
    """A model input ``.npy`` read without pickle and with its header checked (``safe_io.load_npy``)."""
    from shiftspike.sim.safe_io import load_npy

    return load_npy(path)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def core_files(option: str, folder: str | Path) -> dict[str, str]:
    """The files of the cores of an ``rtl`` folder (``<top>.v`` and the ``<top>.json``/``<top>.ssm`` beside it)
    as :func:`refuse_overwrite` inputs, ``{"OPTION (NAME)": path}``."""
    folder = Path(folder)
    tops = {path.stem for path in folder.glob("*.v")} if folder.is_dir() else set()
    return {f"{option} ({path.name})": str(path) for path in sorted(folder.glob("*")) if path.stem in tops}


def refuse_overwrite(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """:class:`OutputError` if an output (``{option: path}``) names the same file as an input, or as another
    output (also through a link)."""
    named = [(option, Path(path)) for option, path in outputs.items() if path]
    sources = [(option, Path(path)) for option, path in inputs.items() if path]
    for i, (option, out) in enumerate(named):
        for other, path in sources + named[i + 1:]:
            if _same(out, path):
                raise OutputError(f"{option} {out}: is the same file as {other} {path}; choose another name")

