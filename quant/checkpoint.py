"""Training checkpoints: a versioned dict of tensors and plain values, never a pickle of code.

Written with ``torch.save`` atomically, read with ``torch.load(weights_only=True)``
so a checkpoint from anywhere cannot run code. Layout (format
``shiftspike.checkpoint`` version 1)::

    {"format", "version", "config": RunConfig as JSON data, "input": InputInfo fields,
     "classes", "epoch" (completed epochs), "model", "optimizer", "scheduler" (state dicts),
     "rng": torch CPU RNG state}
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch

from .config import ConfigError, RunConfig, validate
from .data.base import DataError, InputInfo
from shiftspike.sim.errors import ShiftspikeError

FORMAT = "shiftspike.checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


class CheckpointError(ShiftspikeError, ValueError):
    """A checkpoint is missing or malformed; one line naming the file and the problem."""


def save(path: Path, cfg: RunConfig, info: InputInfo, classes: int, epoch: int, model: dict, optimizer: dict,
         scheduler: dict) -> None:
    """Write the checkpoint atomically (temp file in the same directory, then rename)."""
    payload = {
        "format": FORMAT, "version": VERSION, "config": cfg.model_dump(mode="json"), "input": asdict(info),
        "classes": classes, "epoch": epoch, "model": model, "optimizer": optimizer, "scheduler": scheduler,
        "rng": torch.get_rng_state(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or ``RUN_DIR/checkpoint.pt`` when given a run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint (give a run directory or a {FILENAME} file)")
    return path


def load(path: str | Path) -> tuple[dict, RunConfig, InputInfo]:
    """``(payload, config, input info)`` of a checkpoint, validated; weights-only unpickling."""
    path = resolve(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({str(error).splitlines()[0]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shiftspike checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')!r}, this build reads {VERSION}")
    missing = {"config", "input", "classes", "epoch", "model", "optimizer", "scheduler", "rng"} - payload.keys()
    if missing:
        raise CheckpointError(f"{path}: missing {', '.join(sorted(missing))}")
    try:
        cfg = validate(payload["config"], f"{path}: config")
        info = InputInfo(**payload["input"])
    except (ConfigError, DataError, TypeError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    return payload, cfg, info
