"""The training loop: seeded, resumable, with a progress bar and a JSON-lines metrics log.

A run directory holds ``config.json`` (the resolved config), ``metrics.jsonl``
(one line per epoch: loss, accuracies, seconds, samples/s), ``checkpoint.pt``
(after every epoch, see :mod:`shiftspike.quant.checkpoint`) and
``summary.json``. The same config and seed give the same weights on the CPU.
The loss is the cross-entropy of the readout's final sums divided by T.

Under ``torchrun`` the processes train one model data-parallel
(:mod:`shiftspike.quant.distributed`): ``train.batch_size`` is the global batch,
each rank takes a disjoint part of it, and rank 0 alone logs and writes the run
directory.

Every file is written atomically (:mod:`shiftspike.sim.safe_io`). After each
epoch ``metrics.jsonl`` is rewritten with every epoch so far, then the
checkpoint: a run stopped between the two has one metrics line more than its
checkpoint has epochs, and ``--resume`` drops the lines after the checkpoint's
epoch, so the log holds every epoch 1..N exactly once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shiftspike.sim import safe_io
from shiftspike.sim.errors import OutputError

from . import checkpoint, distributed
from .budget import check_budget
from .config import RUN_CONFIG, ConfigError, RunConfig
from .data import SequenceData, load_dataset
from .network import SpikingNetwork
from .temporal import autoselect_report
from .temporal.autoselect import reset as reset_autoselect

SEED_STRIDE = 1_000_003
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float
    samples_per_s: float


def load_data(cfg: RunConfig) -> tuple[SequenceData, SequenceData]:
    """Train and test splits of the configured dataset."""
    d = cfg.data
    return (load_dataset(d.name, "train", d.path, **d.params), load_dataset(d.name, "test", d.path, **d.params))


def build(cfg: RunConfig, data: SequenceData) -> SpikingNetwork:
    """The network for ``cfg`` on ``data``'s input (its size checked first); its output size must match the classes."""
    check_budget(cfg.model, data.info)
    try:
        net = SpikingNetwork(cfg.model, data.info)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if net.classes != data.classes:
        raise ConfigError(f"model: the readout has {net.classes} outputs but {data.name} has {data.classes} classes")
    return net


def _optimizer(cfg: RunConfig, net: SpikingNetwork) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=t.lr, momentum=0.9, weight_decay=t.weight_decay)
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(net.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def _scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer):
    if cfg.train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.train.epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


@torch.no_grad()
def evaluate(net: SpikingNetwork, data: SequenceData, batch_size: int = 256) -> float:
    """Test accuracy in eval mode (for a quantized network: the exact integer path).

    Under data-parallel training each rank evaluates its part of every batch and
    the counts are summed, so every rank returns the same accuracy.
    """
    net.eval()
    correct = 0
    for x, y in data.batches(batch_size, shuffle=False, rank=distributed.rank(),
                             world_size=distributed.world_size()):
        if len(y):
            correct += int((net(x)[-1].argmax(dim=1) == y).sum())
    return distributed.totals(correct)[0] / len(data.y)


def _loss(logits: torch.Tensor, y: torch.Tensor, batch_total: int) -> tuple[torch.Tensor, float]:
    """``(loss to back-propagate, summed cross-entropy of these samples)`` for logits ``[B, classes]``.

    On one process the loss is the batch mean. With ``W`` ranks sharing a
    global batch of ``batch_total`` samples each rank's loss is its summed
    cross-entropy times ``W / batch_total``, so DDP's gradient average is the
    gradient of the global batch mean even when the parts differ in size.
    """
    world = distributed.world_size()
    if world == 1:
        loss = F.cross_entropy(logits, y)
        return loss, loss.item() * len(y)
    summed = F.cross_entropy(logits, y, reduction="sum")
    return summed * (world / batch_total), summed.item()


def _restore(path: Path, payload: dict, net: SpikingNetwork, optimizer: torch.optim.Optimizer, scheduler) -> None:
    """Load a validated checkpoint's states; an optimizer or scheduler state of another kind is refused."""
    fresh = optimizer.state_dict()["param_groups"]
    saved = payload["optimizer"]["param_groups"]
    if len(saved) != len(fresh) or any(set(a) != set(b) for a, b in zip(saved, fresh)):
        raise checkpoint.CheckpointError(f"{path}: the optimizer state is not that of {type(optimizer).__name__}")
    if set(payload["scheduler"]) != set(scheduler.state_dict()):
        raise checkpoint.CheckpointError(f"{path}: the scheduler state is not that of {type(scheduler).__name__}")
    try:
        net.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        torch.set_rng_state(payload["rng"])
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise checkpoint.CheckpointError(f"{path}: cannot restore the training state "
                                         f"({' '.join(str(error).split())[:160]})") from None


def _logged_epochs(path: Path, completed: int) -> list[dict]:
    """The records of ``metrics.jsonl`` for epochs 1..``completed`` (the checkpoint's), dropping later ones.

    A log that misses one of these epochs or repeats one is refused: resuming would lose or duplicate it.
    """
    if completed == 0:
        return []
    if not path.is_file():
        raise checkpoint.CheckpointError(f"{path}: missing, but the checkpoint has {completed} completed epochs")
    try:
        if path.stat().st_size > safe_io.MAX_TEXT_BYTES:
            raise checkpoint.CheckpointError(f"{path}: larger than {safe_io.MAX_TEXT_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise checkpoint.CheckpointError(f"{path}: cannot read ({' '.join(str(error).split())[:120]})") from None
    records = [safe_io.parse_json(line, f"{path} line {i + 1}") for i, line in enumerate(text.splitlines())]
    if not all(isinstance(r, dict) and type(r.get("epoch")) is int for r in records):
        raise checkpoint.CheckpointError(f"{path}: a line is not an epoch record")
    kept = [r for r in records if r["epoch"] <= completed]
    if [r["epoch"] for r in kept] != list(range(1, completed + 1)):
        raise checkpoint.CheckpointError(f"{path}: does not hold epochs 1..{completed} once each, as the checkpoint "
                                         "has; the run cannot be resumed without losing or repeating an epoch")
    return kept


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, console: Console | None = None,
          progress: bool = True) -> dict:
    """Train ``cfg`` into run directory ``out``; returns the summary (also written to ``summary.json``).

    Started by ``torchrun``, every process calls this: it joins the process
    group, trains its part of each global batch, and only rank 0 logs and writes.
    The summary's ``autoselect`` is this run's: the choices an earlier run in the same process made are
    forgotten first (a choice cached on disk is then re-checked, not timed afresh).
    """
    reset_autoselect()
    with distributed.process_group():
        return _train(cfg, Path(out), resume, console or Console(stderr=True), progress)


def _train(cfg: RunConfig, out: Path, resume: bool, console: Console, progress: bool) -> dict:
    main, rank, world = distributed.is_main(), distributed.rank(), distributed.world_size()
    if not main:
        console = Console(stderr=True, quiet=True)
    ckpt_path = out / checkpoint.FILENAME
    present = distributed.gather(int(ckpt_path.exists()))
    if any(present) and not resume:
        raise ConfigError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    if resume and any(present) and not all(present):
        raise ConfigError(f"{ckpt_path}: ranks {[r for r, p in enumerate(present) if not p]} do not see the "
                          f"checkpoint; --resume needs the run directory on a filesystem every node sees")
    distributed.check_global_batch(cfg.train.batch_size)
    torch.manual_seed(cfg.train.seed)
    train_data, test_data = load_data(cfg)
    net = build(cfg, train_data)
    optimizer, start = _optimizer(cfg, net), 0
    scheduler = _scheduler(cfg, optimizer)
    if resume and ckpt_path.exists():
        payload, saved, _ = checkpoint.load(ckpt_path)
        if saved.model_dump() != cfg.model_dump():
            raise ConfigError(f"{ckpt_path}: was trained with a different config; resume with the same one")
        _restore(ckpt_path, payload, net, optimizer, scheduler)
        start = payload["epoch"]
    logged = _logged_epochs(out / METRICS, start)
    step = distributed.data_parallel(net)
    if main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{out}: cannot create the run directory ({error.strerror or error})") from None
        safe_io.write_json(out / RUN_CONFIG, cfg.model_dump(mode="json"))
    console.print(f"[bold]{train_data.name}[/]: {len(train_data.y)} train / {len(test_data.y)} test, "
                  f"T = {train_data.info.timesteps}; neuron {cfg.model.neuron}; "
                  f"{sum(p.numel() for p in net.parameters())} parameters; epochs {start + 1}..{cfg.train.epochs}"
                  + (f"; {world} processes, {cfg.train.batch_size // world} samples each per batch"
                     if world > 1 else ""))
    metrics: list[EpochMetrics] = []
    n, batch_size = len(train_data.y), cfg.train.batch_size
    batch_totals = [min(batch_size, n - first) for first in range(0, n, batch_size)]
    if batch_totals[-1] < world:
        console.print(f"the last batch of {batch_totals.pop()} samples is smaller than the {world} processes "
                      f"and is left out of every epoch")
    columns = (TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.3f} {task.fields[rate]:.0f} samples/s"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not (progress and main)) as bar:
        task = bar.add_task("train", total=len(batch_totals), epoch=start + 1, loss=0.0, acc=0.0, rate=0.0)
        for epoch in range(start, cfg.train.epochs):
            bar.reset(task, total=len(batch_totals), epoch=f"{epoch + 1}/{cfg.train.epochs}", loss=0.0, acc=0.0,
                      rate=0.0)  # reset replaces all fields
            generator = torch.Generator().manual_seed(cfg.train.seed * SEED_STRIDE + epoch)
            distributed.reseed(cfg.train.seed * SEED_STRIDE + epoch)
            net.schedule_epoch(epoch, cfg.train.epochs)
            net.train()
            began, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
            shards = train_data.batches(batch_size, shuffle=True, generator=generator, rank=rank, world_size=world)
            for batch_total, (x, y) in zip(batch_totals, shards):  # stops before a left-out last batch
                logits = step(x)
                loss, summed = _loss(logits, y, batch_total)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                seen += len(y)
                loss_sum += summed
                correct += int((logits.argmax(dim=1) == y).sum())
                rate = seen * world / (time.perf_counter() - began)
                bar.update(task, advance=1, loss=loss_sum / max(seen, 1), acc=correct / max(seen, 1), rate=rate)
            scheduler.step()
            seen, loss_sum, correct = distributed.totals(seen, loss_sum, correct)
            seconds = time.perf_counter() - began
            m = EpochMetrics(epoch + 1, loss_sum / seen, correct / seen, evaluate(net, test_data), seconds,
                             seen / seconds)
            metrics.append(m)
            logged.append(m.__dict__)
            if main:
                safe_io.write_atomic(out / METRICS, "".join(json.dumps(r) + "\n" for r in logged))
                checkpoint.save(ckpt_path, cfg, train_data.info, train_data.classes, epoch + 1, net.state_dict(),
                                optimizer.state_dict(), scheduler.state_dict())
            console.log(f"epoch {m.epoch}: loss {m.train_loss:.4f}, train {m.train_accuracy:.4f}, "
                        f"test {m.test_accuracy:.4f}, {m.samples_per_s:.0f} samples/s")
    select = autoselect_report()
    if select["summary"]:
        console.print(select["summary"], markup=False, highlight=False, soft_wrap=True)
    summary = {
        "dataset": train_data.name, "neuron": cfg.model.neuron, "epochs": cfg.train.epochs,
        "test_accuracy": evaluate(net, test_data), "train_seconds": sum(m.seconds for m in metrics),
        "autoselect": select,
    }
    if main:
        safe_io.write_json(out / SUMMARY, summary)
    return summary
