"""The one base class of every error a user can cause.

Each stage raises its own subclass (``ModelError``, ``InputError``,
``ConfigError``, ...); the command line catches :class:`ShiftspikeError` once
and prints its text as one line with exit code 2. The text of such an error is
a single line that names the file or argument and the problem.
"""

from __future__ import annotations


class ShiftspikeError(Exception):
    """A problem with what the user gave: a file, an argument, a folder. One line, no traceback."""

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split()) if "\n" in text else text


class FileFormatError(ShiftspikeError, ValueError):
    """A JSON, TOML or ``.npy`` file is unreadable, malformed, nested too deeply or absurdly large."""


class OutputError(ShiftspikeError, OSError):
    """An output cannot be written: missing or unwritable folder, full disk, a pseudo-filesystem."""


class ResourceError(ShiftspikeError, MemoryError):
    """A valid request would need more memory or time than this machine can give."""
