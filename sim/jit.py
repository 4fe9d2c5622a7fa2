"""Where Numba keeps the compiled kernels between runs, and the one-line note when it compiles them.

Imported first by ``shiftspike.sim`` (so before Numba is): unless the user set ``NUMBA_CACHE_DIR``, it
points Numba's on-disk cache at ``<shiftspike cache>/numba/<shiftspike version>`` (the shiftspike cache is
``$SHIFTSPIKE_CACHE_DIR``, else ``$XDG_CACHE_HOME/shiftspike``, else ``~/.cache/shiftspike``: see
:func:`~.safe_io.cache_dir`). That works for an installed package whose folder is read-only, and a new
shiftspike version starts a new folder rather than reading another version's files. Numba checks each
entry against the source file's time stamp and size and its own version.

Numba's cache files are pickles, so the folder is used only if it is this user's and no one else can write
to it (it is created ``0o700``); otherwise the kernels are compiled in every run and not cached, and one
line on stderr says why. ``SHIFTSPIKE_DISK_CACHE=0`` turns the cache off the same way (silently).

:data:`CACHE` is the ``cache=`` flag of every kernel, the simulator's and the training kernels' of
``shiftspike.quant``; :func:`note_compiles` prints :data:`COMPILE_NOTE` to stderr once per process, when
Numba compiles (rather than loads) a kernel of ``shiftspike.sim`` (the training kernels say so with their
own note).
"""

from __future__ import annotations

import os
import stat
from importlib import metadata
import sys
from pathlib import Path

from .safe_io import cache_dir

COMPILE_NOTE = "compiling the simulator (first run only)"
#: Modules whose compilations :func:`note_compiles` announces.
MODULE_PREFIX = "shiftspike.sim."


def _version() -> str:
    """The installed shiftspike's version (``dev`` when it runs from a source tree that is not installed)."""
    try:
        return metadata.version("shiftspike")
    except metadata.PackageNotFoundError:
        return "dev"


def private_dir(path: Path) -> str | None:
    """Create ``path`` (mode ``0o700``) if needed; None if it is safe to load pickles from, else why not."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as err:
        return f"cannot create {path}: {err.strerror}"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{path} belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by other users"
    return None


def numba_cache_dir() -> Path | None:
    """The folder of shiftspike's Numba cache, or None when the disk cache is off."""
    root = cache_dir()
    return None if root is None else root / "numba" / _version()


def _configure() -> bool:
    """Point Numba's cache at :func:`numba_cache_dir` unless ``NUMBA_CACHE_DIR`` is set; whether to cache."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return True
    path = numba_cache_dir()
    if path is None:
        return False
    unsafe = private_dir(path)
    if unsafe:
        print(f"not caching the compiled simulator: {unsafe}", file=sys.stderr)
        return False
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    if "numba.core.config" in sys.modules:  # imported before us: its settings are read already
        sys.modules["numba.core.config"].CACHE_DIR = str(path)
    return True


CACHE = _configure()


def note_compiles(prefix: str = MODULE_PREFIX, note: str = COMPILE_NOTE) -> None:
    """Print ``note`` to stderr the first time in this process that Numba compiles a kernel of a module whose
    name starts with ``prefix`` (a cache hit is a load, not a compile, and prints nothing)."""
    from numba.core import event

    class _Note(event.Listener):
        said = False

        def on_start(self, ev) -> None:
            module = getattr(ev.data["dispatcher"].py_func, "__module__", "") or ""
            if not self.said and module.startswith(prefix):
                self.said = True
                print(note, file=sys.stderr, flush=True)

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", _Note())
