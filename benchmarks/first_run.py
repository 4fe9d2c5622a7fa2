"""A newcomer's first run against later runs: wall time of ``shiftspike report``, ``sim`` and ``train``.

Each verb runs as a user runs it, one ``shiftspike`` process per run, first on an empty shiftspike cache
(``SHIFTSPIKE_CACHE_DIR`` pointed at a new folder, so Numba compiles every kernel the verb uses), then
``WARM_RUNS`` times more on the cache the first run filled (the median is the warm time). The floor is
``shiftspike --help``: starting Python and parsing the command line, nothing simulated. The table also
says whether the first run's stderr had the ``compiling the simulator (first run only)`` note (``train``:
``compiling the training kernels (first run only)``), and whether any warm run's had it.

The cases:

* ``report`` and ``sim`` on a sequential-CIFAR-sized model (``shiftspike init --preset scifar``) and on the
  digits network's architecture (``--preset digits``), random spike input of B = 16;
* ``train``: one epoch of the digits preset (the fused temporal convolution's Numba kernels).

Writes ``results/first_run.json`` and ``results/first_run.md``.
Run: ``.venv/bin/python benchmarks/first_run.py`` (a few minutes; run it on an idle machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

from shiftspike.quant import COMPILE_NOTE as TRAINING_NOTE
from shiftspike.sim import load, random_input
from shiftspike.sim.jit import COMPILE_NOTE as SIMULATOR_NOTE
from shiftspike.sim.safe_io import write_atomic, write_json

RESULTS = Path(__file__).resolve().parent / "results"
CLI = str(Path(sys.executable).with_name("shiftspike"))
WARM_RUNS = 3
BATCH, SEED = 16, 2026
PRESETS = ("scifar", "digits")


def timed(args: list[str], cache: Path, run: int = 0) -> tuple[float, str]:
    """Wall seconds of one ``shiftspike`` process with the shiftspike cache at ``cache``, and its stderr;
    ``{run}`` in an argument becomes ``run`` (each run of ``train`` writes its own folder)."""
    args = [arg.replace("{run}", str(run)) for arg in args]
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env["SHIFTSPIKE_CACHE_DIR"] = str(cache)
    start = time.perf_counter()
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"shiftspike {' '.join(args)} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return seconds, proc.stderr


def noted(stderr: str) -> bool:
    """Whether a run said that it compiles the simulator or the training kernels."""
    return SIMULATOR_NOTE in stderr or TRAINING_NOTE in stderr


def first_and_warm(args: list[str], folder: Path) -> dict:
    """The first run on an empty cache and ``WARM_RUNS`` runs on the cache it filled."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=folder))
    first, first_err = timed(args, cache)
    warm = [timed(args, cache, run) for run in range(1, WARM_RUNS + 1)]
    return {"first_seconds": first, "warm_seconds": statistics.median(s for s, _ in warm),
            "warm_runs": [s for s, _ in warm], "first_noted": noted(first_err),
            "warm_noted": any(noted(err) for _, err in warm)}


def cases(folder: Path) -> list[tuple[str, str, list[str]]]:
    """``(verb, what, arguments)`` of every case, with the models and inputs they read written to ``folder``."""
    out = [("--help", "start the CLI, nothing simulated (the floor)", ["--help"])]
    for preset in PRESETS:
        model = folder / f"{preset}.ssm"
        timed(["init", "--preset", preset, "-o", str(model)], folder / "init-cache")
        x = folder / f"{preset}-x.npy"
        np.save(x, random_input(load(model), batch=BATCH, seed=SEED))
        what = f"`init --preset {preset}` model, random input B={BATCH}"
        out += [("report", what, ["report", str(model), "--input", str(x)]),
                ("sim", what, ["sim", str(model), "--input", str(x), "--out", str(folder / f"{preset}-y.npy")])]
    out.append(("train", "digits preset, 1 epoch", ["train", "--preset", "digits", "--epochs", "1", "--no-progress",
                                                    "--out", str(folder / "train-{run}")]))
    return out


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"First run (empty cache) against warm runs (median of {WARM_RUNS}), wall seconds of one `shiftspike` "
             f"process; {meta['machine']}, load average {meta['load_before']:.2f} before and "
             f"{meta['load_after']:.2f} after.", "",
             "| verb | case | first run (s) | warm (s) | first / warm | compile note (first run, warm runs) |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        note = f"{'yes' if r['first_noted'] else 'no'}, {'yes' if r['warm_noted'] else 'no'}"
        lines.append(f"| {r['verb']} | {r['case']} | {r['first_seconds']:.1f} | {r['warm_seconds']:.1f} | "
                     f"{r['first_seconds'] / r['warm_seconds']:.1f}x | {note} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="shiftspike-first-run-") as tmp, Progress() as progress:
        todo = cases(Path(tmp))
        task = progress.add_task("first and warm runs", total=len(todo))
        for verb, what, args in todo:
            progress.update(task, description=f"{verb}: {what}")
            rows.append({"verb": verb, "case": what, **first_and_warm(args, Path(tmp))})
            progress.advance(task)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "load_before": load_before, "load_after": os.getloadavg()[0], "warm_runs": WARM_RUNS}
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / "first_run.json", {"meta": meta, "rows": rows})
    write_atomic(RESULTS / "first_run.md", markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
