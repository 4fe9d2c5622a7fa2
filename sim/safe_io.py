"""Reading untrusted files and writing outputs atomically: the one place for both.

Readers (:func:`parse_json`, :func:`read_json`, :func:`read_toml`,
:func:`load_npy`) refuse deep nesting, over-long integers, non-finite numbers,
oversized files and headers that declare more data than the file holds, with a
one-line :class:`~shiftspike.sim.errors.FileFormatError`.

Writers: :func:`atomic_path` yields a temporary name beside the destination
and renames it into place only if the block succeeds; :class:`Outputs` stages
several outputs and renames all of them only when every one was written, so a
failed run leaves none behind; a replaced file keeps its permissions. A temporary name carries the writer's process
id; one left by a killed process is removed by the next writer of the same
destination. Every ``OSError`` of writing becomes an
:class:`~shiftspike.sim.errors.OutputError`.
"""

from __future__ import annotations

import json
import math
import os
import tokenize
import tomllib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import FileFormatError, OutputError

#: Deepest bracket nesting a JSON or TOML input may have (the formats themselves need 6).
MAX_DEPTH = 64
#: Most digits an integer literal may have (a 64-bit value has 20).
MAX_INT_DIGITS = 40
#: Largest JSON or TOML text read, in bytes.
MAX_TEXT_BYTES = 16 * 2**20
#: Largest ``.npy`` header, in bytes (NumPy writes 128 or fewer for any shape here).
MAX_NPY_HEADER = 4096
TMP_MARK = ".shiftspike-tmp"


def _check_depth(text: str, origin: str) -> None:
    """Refuse bracket nesting deeper than :data:`MAX_DEPTH`, outside strings."""
    depth, in_string, escaped = 0, None, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == in_string:
                in_string = None
        elif ch in "\"'":
            in_string = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FileFormatError(f"{origin}: nested deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1


def _int(origin: str):
    def parse(digits: str) -> int:
        if len(digits.lstrip("-+")) > MAX_INT_DIGITS:
            raise FileFormatError(f"{origin}: integer with {len(digits)} digits (at most {MAX_INT_DIGITS})")
        return int(digits)

    return parse


def _float(origin: str):
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise FileFormatError(f"{origin}: number {text[:20]} is not finite")
        return value

    return parse


def _constant(origin: str):
    def parse(name: str):
        raise FileFormatError(f"{origin}: {name} is not a number here")

    return parse


def parse_json(text: str | bytes, origin: str):
    """Parse JSON ``text`` from ``origin`` (a file name for the message), guarded as the module says."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{origin}: not UTF-8 text") from None
    if len(text) > MAX_TEXT_BYTES:
        raise FileFormatError(f"{origin}: {len(text)} characters of JSON, more than {MAX_TEXT_BYTES}")
    _check_depth(text, origin)
    try:
        return json.loads(text, parse_int=_int(origin), parse_float=_float(origin), parse_constant=_constant(origin))
    except FileFormatError:
        raise
    except (RecursionError, ValueError) as exc:
        raise FileFormatError(f"{origin}: not valid JSON ({exc})") from None


def _read_text(path: Path, what: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise FileFormatError(f"{path}: {size} bytes, more than the {MAX_TEXT_BYTES} a {what} may have")
        with path.open("rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a {what}") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_TEXT_BYTES:
        raise FileFormatError(f"{path}: more than {MAX_TEXT_BYTES} bytes, too large for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not UTF-8 text, expected a {what}") from None


def read_json(path, what: str = "JSON file"):
    """Read and parse the JSON file ``path`` (a ``what`` in messages)."""
    path = Path(path)
    return parse_json(_read_text(path, what), str(path))


def _check_toml_numbers(value, origin: str):
    if isinstance(value, dict):
        for item in value.values():
            _check_toml_numbers(item, origin)
    elif isinstance(value, list):
        for item in value:
            _check_toml_numbers(item, origin)
    elif isinstance(value, float) and not math.isfinite(value):
        raise FileFormatError(f"{origin}: number {value} is not finite")


def parse_toml(text: str, origin: str) -> dict:
    """Parse TOML ``text``; the same guards as :func:`parse_json`."""
    _check_depth(text, origin)
    try:
        data = tomllib.loads(text)
    except (RecursionError, ValueError) as exc:
        raise FileFormatError(f"{origin}: not valid TOML ({exc})") from None
    _check_toml_numbers(data, origin)
    return data


def read_toml(path, what: str = "TOML file") -> dict:
    """Read and parse the TOML file ``path``."""
    path = Path(path)
    return parse_toml(_read_text(path, what), str(path))


def load_npy(path, max_bytes: int | None = None) -> np.ndarray:
    """Load a ``.npy`` array without pickle, refusing object dtypes, oversized or inconsistent headers, a
    shape that declares more data than the file holds, and arrays over ``max_bytes``."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a .npy file") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        try:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(handle, max_header_size=MAX_NPY_HEADER)
        except (ValueError, OSError, SyntaxError, TypeError, EOFError, RecursionError, tokenize.TokenError) as exc:
            raise FileFormatError(f"{path}: not a readable .npy array ({' '.join(str(exc).split())[:120]})") from None
        if dtype.hasobject or dtype.itemsize == 0:
            raise FileFormatError(f"{path}: dtype {dtype} is not a plain numeric type")
        count = math.prod(shape)
        need = count * dtype.itemsize
        have = path.stat().st_size - handle.tell()
        if need != have:
            raise FileFormatError(f"{path}: header declares {need} bytes of data, the file holds {have}")
        if max_bytes is not None and need > max_bytes:
            raise FileFormatError(f"{path}: {need} bytes of data, more than the {max_bytes} allowed")
        data = np.fromfile(handle, dtype=dtype, count=count)
    return data.reshape(shape, order="F" if fortran else "C")


def _remove_stale(path: Path) -> None:
    """Delete temporaries of ``path`` left by writers that no longer run."""
    for tmp in path.parent.glob(f".{path.name}.*{TMP_MARK}*"):
        try:
            pid = int(tmp.name[len(path.name) + 2:].split(".", 1)[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass


def _temp_name(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_MARK}{suffix}")


def check_writable(path) -> Path:
    """``path`` as a ``Path`` if a file can be written there; else :class:`OutputError`."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{path}: folder {path.parent} is not writable")
    return path


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path`` (ending in ``suffix``, which some writers need); rename it onto
    ``path`` only if the block succeeds. Any ``OSError`` becomes an :class:`OutputError`."""
    with Outputs() as outputs:
        yield outputs.stage(path, suffix)


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON with sorted keys (the same object, the same bytes), atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Outputs:
    """Stage several outputs; all are renamed into place when the ``with`` block succeeds, none otherwise.

    ``stage(path, suffix)`` checks that ``path`` can be written and returns the temporary to write.
    """

    def __init__(self):
        self._staged: list[tuple[Path, Path]] = []

    def stage(self, path, suffix: str = "") -> Path:
        path = check_writable(path)
        if any(path.resolve() == dest.resolve() for dest, _ in self._staged):
            raise OutputError(f"{path}: named twice as an output")
        tmp = _temp_name(path, suffix)
        # registered before it exists: a SIGTERM (raised as an exception) right after it is created still
        # finds it in the list that the unwinding removes
        self._staged.append((path, tmp))
        try:
            _remove_stale(path)
            tmp.touch(exist_ok=False)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        return tmp

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, kind, error, tb) -> bool:
        try:
            if kind is None:
                for path, tmp in self._staged:
                    try:
                        if path.exists():
                            os.chmod(tmp, path.stat().st_mode & 0o7777)
                        os.replace(tmp, path)
                    except OSError as exc:
                        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        finally:
            for _, tmp in self._staged:
                tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, OutputError):
            raise OutputError(f"{self._staged[-1][0] if self._staged else 'output'}: cannot write "
                              f"({error.strerror or error})") from None
        return False


def cache_dir() -> Path | None:
    """The folder of shiftspike's caches (autoselect timings, synthesis results, compiled kernels):
    ``$SHIFTSPIKE_CACHE_DIR``, default ``$XDG_CACHE_HOME/shiftspike`` (``~/.cache/shiftspike`` without it);
    None when ``SHIFTSPIKE_DISK_CACHE=0`` disables them."""
    if os.environ.get("SHIFTSPIKE_DISK_CACHE", "1") == "0":
        return None
    if os.environ.get("SHIFTSPIKE_CACHE_DIR"):
        return Path(os.environ["SHIFTSPIKE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shiftspike"
