"""Training checkpoints: a versioned dict of tensors and plain values, never a pickle of code.

Written with ``torch.save`` atomically (:func:`shiftspike.sim.safe_io.write_atomic`),
read with ``torch.load(weights_only=True)`` so a checkpoint from anywhere cannot
run code. A checkpoint is untrusted input: anything ``torch.load`` raises on it,
and every field that does not have the layout below, is a one-line
:class:`CheckpointError`. Layout (format ``shiftspike.checkpoint`` version 1)::

    {"format", "version", "config": RunConfig as JSON data, "input": InputInfo fields,
     "classes", "epoch" (completed epochs), "model", "optimizer", "scheduler" (state dicts),
     "rng": torch CPU RNG state}

The config is validated first, then the size of its network (:mod:`.budget`,
built on the ``meta`` device), and only then are ``model``'s tensors compared
with that network's names, shapes and dtypes: a checkpoint cannot make anything
allocate more than the tensors it stores.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import asdict, fields
from pathlib import Path

import torch

from shiftspike.sim import safe_io
from shiftspike.sim.errors import ShiftspikeError

from .budget import check_budget
from .config import ConfigError, RunConfig, validate
from .data.base import DataError, InputInfo
from .network import SpikingNetwork

FORMAT = "shiftspike.checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"
KEYS = frozenset({"format", "version", "config", "input", "classes", "epoch", "model", "optimizer", "scheduler",
                  "rng"})
#: Phrases of torch's and numpy's errors that advise loading a file unsafely; such a message is not repeated.
UNSAFE_ADVICE = ("weights_only", "allow_pickle", "safe_globals", "arbitrary code")
#: Deepest nesting of plain values (lists, tuples, dicts) in the optimizer and scheduler states.
MAX_PLAIN_DEPTH = 4


class CheckpointError(ShiftspikeError, ValueError):
    """A checkpoint is missing or malformed; one line naming the file and the problem."""


def save(path: Path, cfg: RunConfig, info: InputInfo, classes: int, epoch: int, model: dict, optimizer: dict,
         scheduler: dict) -> None:
    """Write the checkpoint atomically; an unwritable destination or a full disk is an ``OutputError``.

    Serialized in memory first (at most the parameter budget's size): ``torch.save`` to a file reports a failed
    write as a ``RuntimeError``, ``safe_io`` maps the ``OSError`` of writing the bytes.
    """
    payload = {
        "format": FORMAT, "version": VERSION, "config": cfg.model_dump(mode="json"), "input": asdict(info),
        "classes": classes, "epoch": epoch, "model": model, "optimizer": optimizer, "scheduler": scheduler,
        "rng": torch.get_rng_state(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    safe_io.write_atomic(path, buffer.getvalue())


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or ``RUN_DIR/checkpoint.pt`` when given a run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint (give a run directory or a {FILENAME} file)")
    return path


def _reason(error: Exception) -> str:
    """One short line about why ``torch.load`` failed, never advice to load unsafely."""
    text = " ".join(str(error).split())
    if any(phrase in text for phrase in UNSAFE_ADVICE):
        return "it holds objects other than tensors and plain values, which are never loaded"
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def _short(value) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read(path: Path) -> dict:
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols of a mutated file
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - the file is untrusted: any failure of the unpickler is its fault
        raise CheckpointError(f"{path}: not a readable checkpoint ({_reason(error)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shiftspike checkpoint")
    if not _is_int(payload.get("version")) or payload["version"] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {_short(payload.get('version'))}, this build reads "
                              f"{VERSION}")
    keys = set(payload)
    if keys != KEYS:
        missing, unknown = sorted(KEYS - keys), sorted(map(_short, keys - KEYS))
        raise CheckpointError(f"{path}: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}", unknown and f"unknown {', '.join(unknown)}")
            if part))
    return payload


def _input(path: Path, raw) -> InputInfo:
    names = {f.name for f in fields(InputInfo)}
    if not isinstance(raw, dict) or set(raw) != names:
        raise CheckpointError(f"{path}: input is not a dict of {', '.join(sorted(names))}")
    try:
        return InputInfo(**raw)
    except DataError as error:
        raise CheckpointError(f"{path}: {error}") from None


def _model(path: Path, raw, net: SpikingNetwork) -> None:
    """``raw`` must be ``net``'s state dict: the same names, shapes and dtypes, finite values."""
    expected = net.state_dict()
    if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
        raise CheckpointError(f"{path}: model is not a dict of named tensors")
    if set(raw) != set(expected):
        odd = sorted(map(_short, set(raw) ^ set(expected)))
        raise CheckpointError(f"{path}: model tensors do not fit the config ({len(odd)} names differ, e.g. {odd[0]})")
    for name, want in expected.items():
        have = raw[name]
        if not isinstance(have, torch.Tensor) or have.shape != want.shape or have.dtype != want.dtype:
            got = f"{have.dtype} {list(have.shape)}" if isinstance(have, torch.Tensor) else type(have).__name__
            raise CheckpointError(f"{path}: model.{name} is {got}, the config needs {want.dtype} {list(want.shape)}")
        if have.is_floating_point() and not bool(torch.isfinite(have).all()):
            raise CheckpointError(f"{path}: model.{name} holds a value that is not finite")


def _plain(value, depth: int = 0) -> bool:
    """Whether ``value`` is made of finite numbers, strings, booleans, None and shallow lists/tuples/dicts."""
    if value is None or isinstance(value, (bool, str)) or _is_int(value):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= MAX_PLAIN_DEPTH:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _optimizer(path: Path, raw, net: SpikingNetwork) -> None:
    """An optimizer state dict over ``net``'s parameters: groups of plain values and per-parameter tensors that are
    0-d or of the parameter's shape."""
    shapes = [p.shape for p in net.parameters()]
    where = f"{path}: optimizer"
    if not isinstance(raw, dict) or set(raw) != {"state", "param_groups"}:
        raise CheckpointError(f"{where} is not a dict of state and param_groups")
    groups, state = raw["param_groups"], raw["state"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                               for g in groups):
        raise CheckpointError(f"{where}.param_groups is not a list of dicts with params")
    indices = [i for g in groups for i in g["params"]]
    if not all(map(_is_int, indices)) or indices != list(range(len(shapes))):
        raise CheckpointError(f"{where}.param_groups do not list the network's {len(shapes)} parameters in order")
    if not all(_plain({k: v for k, v in g.items() if k != "params"}) for g in groups):
        raise CheckpointError(f"{where}.param_groups hold a value that is not a finite number or a plain value")
    if not isinstance(state, dict) or not all(_is_int(k) and 0 <= k < len(shapes) and isinstance(v, dict)
                                              for k, v in state.items()):
        raise CheckpointError(f"{where}.state is not a dict of parameter index -> dict")
    for index, entry in state.items():
        for name, value in entry.items():
            ok = isinstance(name, str) and (
                _plain(value) if not isinstance(value, torch.Tensor) else
                value.is_floating_point() and value.shape in (torch.Size([]), shapes[index])
                and bool(torch.isfinite(value).all()))
            if not ok:
                raise CheckpointError(f"{where}.state[{index}].{_short(name)} is not a finite tensor of the "
                                      f"parameter's shape {list(shapes[index])} or a number")


def _scheduler(path: Path, raw) -> None:
    if not isinstance(raw, dict) or not _plain(raw) or not _is_int(raw.get("last_epoch")):
        raise CheckpointError(f"{path}: scheduler is not a dict of plain values with an integer last_epoch")


def _rng(path: Path, raw) -> None:
    want = torch.get_rng_state()
    if not isinstance(raw, torch.Tensor) or raw.dtype != want.dtype or raw.shape != want.shape:
        raise CheckpointError(f"{path}: rng is not a {want.dtype} tensor of shape {list(want.shape)}")


def load(path: str | Path) -> tuple[dict, RunConfig, InputInfo]:
    """``(payload, config, input info)`` of a checkpoint, every field validated; weights-only unpickling."""
    path = resolve(path)
    payload = _read(path)
    try:
        cfg = validate(payload["config"], f"{path}: config")
        info = _input(path, payload["input"])
        net = check_budget(cfg.model, info)
    except ConfigError as error:
        raise CheckpointError(str(error) if str(error).startswith(str(path)) else f"{path}: {error}") from None
    classes, epoch = payload["classes"], payload["epoch"]
    if not _is_int(classes) or classes != net.classes:
        raise CheckpointError(f"{path}: classes {_short(classes)}, the config's readout has {net.classes}")
    if not _is_int(epoch) or not 0 <= epoch <= cfg.train.epochs:
        raise CheckpointError(f"{path}: epoch {_short(epoch)} is not an integer in [0, {cfg.train.epochs}] "
                              "(completed epochs of the config)")
    _model(path, payload["model"], net)
    _optimizer(path, payload["optimizer"], net)
    _scheduler(path, payload["scheduler"])
    _rng(path, payload["rng"])
    return payload, cfg, info
