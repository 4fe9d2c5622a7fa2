"""The flow as a build of named steps: train, export, report, rtl, synth, verify, summary.

Each :class:`Step` declares the files and folders of the run folder it reads and writes (a name ending in
``/`` is a folder). :meth:`Build.run` runs a slice of the steps (``first`` to ``last``) on a run folder;
each finished step writes its record ``steps/<step>.json``: the sha256 of every file it read and wrote, and
the facts the summary states. Before a step runs, every input it reads is checked against the record of
the step that wrote it: the input must be unchanged since, and the inputs *that* step read must be the
current ones. A stale input raises :class:`StaleInput` naming the step to rerun from (``rtl/ was built from
a different model.ssm; rerun --from rtl``).

A step that fails leaves no output that looks valid: its record and earlier outputs are deleted before it
runs, its files are staged (``shiftspike.sim.safe_io.Outputs``) and its folders built under a hidden name,
and both are put in place only when the step succeeded. The steps return data (:class:`StepResult`); showing
it is the caller's job (``shiftspike.cli_flow`` renders tables and progress bars).

This module imports only ``shiftspike.sim``, ``shiftspike.quant`` and ``shiftspike.rtl_gen`` (each lazily,
so importing it stays light), numpy and the standard library.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shiftspike.sim import safe_io
from shiftspike.sim.errors import ShiftspikeError

#: Energy tables the report is priced with (``sim/energy_tables``); the first is the summary's.
ENERGY_TABLES = ("horowitz45", "literature")
#: The two core variants of the rtl and synth steps: the product and the comparison.
VARIANTS = ("shift", "mul")
RECORD_FORMAT = "shiftspike.step/1"

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Step:
    """A step: its ``name``, the run-folder paths it ``reads`` and ``writes`` (``x/`` is a folder), and
    ``what`` it does (one line)."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    what: str


#: The steps, in order.
STEPS = (
    Step("train", (), ("train/checkpoint.pt", "train/config.json", "train/summary.json"),
         "quantization-aware training of the mul-free network (resumes a finished or interrupted run)"),
    Step("export", ("train/checkpoint.pt", "train/config.json"),
         ("model.ssm", "export.json", "test_inputs.npy", "test_labels.npy"),
         "the integer model, checked equal to the QAT model on the test split; the test split as integers"),
    Step("report", ("train/config.json", "model.ssm", "test_inputs.npy"), ("report/",),
         "ops and energy on the test inputs, against a multiplier per tap and PSN neurons"),
    Step("rtl", ("model.ssm", "test_inputs.npy"), ("rtl/",),
         "one linted core per neuron layer and the whole-network accelerator, shift-add and multiplier variants"),
    Step("synth", ("rtl/", "test_inputs.npy"), ("synth.json",),
         "synthesis of every core and of both networks, with the network's cycles per test sample"),
    Step("verify", ("model.ssm", "test_inputs.npy", "rtl/"), ("verify/verdicts.json",),
         "each shift-add core and the shift-add network on every simulator against the integer model"),
    Step("summary", ("train/summary.json", "export.json", "report/", "synth.json", "verify/verdicts.json"),
         ("summary.md", "summary.json"), "one page: accuracy, exactness, energy, area, Fmax, verdicts, files"),
)
STEP_NAMES = tuple(step.name for step in STEPS)
#: Folders a step owns beyond its declared outputs (builds and logs), removed when it reruns.
WORK_FOLDERS = {"verify": "verify/"}


class BuildError(ShiftspikeError):
    """A step failed: ``step``, the one-line reason and the ``file`` to look at (a run-folder path)."""

    def __init__(self, step: str, reason: str, file: str | Path | None = None):
        super().__init__(f"step {step} failed: {reason}" + (f" (look at {file})" if file else ""))
        self.step, self.file = step, file


class StaleInput(ShiftspikeError):
    """An input of a step is missing, changed since its step wrote it, or built from other inputs."""


@dataclass(frozen=True)
class BuildOptions:
    """``lanes``: most datapaths per core (each layer's core gets at most its neurons); ``samples``: test
    samples driven through each core; ``target``: synthesis target of the cores; ``network_lanes``: the
    lanes the network's costliest layer gets (None: ``sim.network_cycles.DEFAULT_LANES``), the others
    balanced to it; ``network_target``: synthesis target of the network; ``network_samples``: test samples
    the network runs back to back on Verilator (None: all); ``network_stalled``: samples it runs with random
    stalls and resets on every simulator, every layer compared; ``network_comparison``: also synthesize the
    multiplier network (minutes of place and route; without, its row has the cycle model's figures only);
    ``data_path``: the dataset's location
    when not the one in the run's config (shd, scifar); ``simulators``: HDL simulators of the verify step
    (default all); ``console`` and ``train_progress``: passed to the training loop's display."""

    lanes: int = 2
    samples: int = 8
    target: str = "ice40-hx8k"
    network_lanes: int | None = None
    network_target: str = "ecp5-25f-ooc"
    network_samples: int | None = None
    network_stalled: int = 3
    network_comparison: bool = False
    data_path: str | None = None
    simulators: tuple[str, ...] | None = None
    console: object | None = None
    train_progress: bool = False


@dataclass
class StepResult:
    """What a step produced: ``facts`` (JSON, what the summary states) and ``data`` (typed objects for
    display: the export result, the reports, the written cores, the synthesis rows, the verdicts)."""

    step: str
    facts: dict
    data: dict = field(default_factory=dict)


def _overlap(a: str, b: str) -> bool:
    """Whether run-folder paths ``a`` and ``b`` (``x/`` a folder) name the same file or one holds the other."""
    return a == b or (a.endswith("/") and b.startswith(a)) or (b.endswith("/") and a.startswith(b))


def independent(a: Step, b: Step) -> bool:
    """Whether neither step reads or writes what the other writes, so that they may run at the same time."""
    return not any(_overlap(w, other) for w in a.writes for other in b.reads + b.writes) and not any(
        _overlap(w, other) for w in b.writes for other in a.reads)


def concurrent_groups(steps: tuple[Step, ...]) -> list[tuple[Step, ...]]:
    """``steps`` in order, consecutive steps that are pairwise :func:`independent` grouped to run together
    (synth and verify, for instance: both read the rtl step's folder, neither reads the other's results)."""
    groups: list[list[Step]] = []
    for step in steps:
        if groups and all(independent(earlier, step) for earlier in groups[-1]):
            groups[-1].append(step)
        else:
            groups.append([step])
    return [tuple(group) for group in groups]


def step_named(name: str) -> Step:
    """The :class:`Step` called ``name`` (an unknown name is a one-line error)."""
    for step in STEPS:
        if step.name == name:
            return step
    raise ShiftspikeError(f"unknown step {name!r}; the steps are {', '.join(STEP_NAMES)}")


def steps_between(first: str = "train", last: str = "summary") -> tuple[Step, ...]:
    """The steps from ``first`` to ``last``, both included, in order."""
    a, b = STEPS.index(step_named(first)), STEPS.index(step_named(last))
    if a > b:
        raise ShiftspikeError(f"step {first} comes after step {last}; the order is {', '.join(STEP_NAMES)}")
    return STEPS[a: b + 1]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path: Path) -> str | None:
    """sha256 of a file, or of a folder (every file's relative path and sha256, in sorted order; hidden
    names skipped); None if ``path`` does not exist."""
    path = Path(path)
    if path.is_file():
        return _file_hash(path)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = item.relative_to(path)
        if not any(part.startswith(".") for part in rel.parts):
            digest.update(f"{rel.as_posix()}\0{_file_hash(item)}\n".encode())
    return digest.hexdigest()


def producer(rel: str) -> Step:
    """The step that writes run-folder path ``rel``."""
    for step in STEPS:
        if rel in step.writes:
            return step
    raise ValueError(f"no step writes {rel}")


class Build:
    """The steps on run folder ``root``; ``cfg`` (a validated ``RunConfig``) is needed by the train step
    only, the later steps read ``train/config.json``."""

    def __init__(self, root: str | Path, cfg=None, options: BuildOptions | None = None,
                 progress: Progress | None = None):
        self.root = Path(root)
        self.cfg = cfg
        self.options = options or BuildOptions()
        self.progress = progress

    # -- records and staleness ---------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / rel.rstrip("/")

    def record_path(self, step: str) -> Path:
        return self.root / "steps" / f"{step}.json"

    def record(self, step: str) -> dict | None:
        """The record of ``step``'s last successful run, or None."""
        path = self.record_path(step)
        if not path.is_file():
            return None
        record = safe_io.read_json(path, "step record")
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            raise StaleInput(f"{path}: not a step record ({RECORD_FORMAT}); rerun --from {step}")
        return record

    def check_inputs(self, step: Step) -> None:
        """Refuse to run ``step`` on an input that is missing, changed since its step wrote it, or built
        from inputs that have changed since (:class:`StaleInput`, one line naming the step to rerun)."""
        for rel in step.reads:
            maker = producer(rel).name
            record = self.record(maker)
            if record is None:
                raise StaleInput(f"step {step.name} needs {rel}, which step {maker} has not written "
                                 f"(no {self.record_path(maker).relative_to(self.root)}); rerun --from {maker}")
            if content_hash(self.path(rel)) != record["writes"].get(rel):
                raise StaleInput(f"{rel} changed since step {maker} wrote it; rerun --from {maker}")
            for source, digest in record["reads"].items():
                if content_hash(self.path(source)) != digest:
                    raise StaleInput(f"{rel} was built from a different {source}; rerun --from {maker}")

    def _discard(self, step: Step) -> None:
        """Delete ``step``'s record and its earlier outputs, so a failure cannot leave old ones that look
        current. The train step keeps its run (it resumes)."""
        self.record_path(step.name).unlink(missing_ok=True)
        if step.name == "train":
            return
        for rel in step.writes + ((WORK_FOLDERS[step.name],) if step.name in WORK_FOLDERS else ()):
            target = self.path(rel)
            if rel.endswith("/") and target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif not rel.endswith("/") and (target.is_file() or target.is_symlink()):
                target.unlink()

    def _write_record(self, step: Step, reads: dict, facts: dict) -> None:
        writes = {rel: content_hash(self.path(rel)) for rel in step.writes}
        missing = [rel for rel, digest in writes.items() if digest is None]
        if missing:
            raise BuildError(step.name, f"did not write {', '.join(missing)}")
        self.record_path(step.name).parent.mkdir(exist_ok=True)
        safe_io.write_json(self.record_path(step.name), {"format": RECORD_FORMAT, "step": step.name,
                                                         "reads": reads, "writes": writes, "facts": facts})

    @contextmanager
    def staged_folder(self, rel: str):
        """Yield a hidden folder to build run-folder folder ``rel`` in; it replaces ``rel`` on success and
        is removed on failure."""
        final = self.path(rel)
        tmp = final.with_name(f".{final.name}.{os.getpid()}{safe_io.TMP_MARK}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
        except OSError as exc:
            raise safe_io.OutputError(f"{final}: cannot write ({exc.strerror or exc})") from None
        try:
            yield tmp
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def facts(self, step: str) -> dict:
        """The facts ``step`` recorded (its inputs checked current by :meth:`check_inputs`)."""
        record = self.record(step)
        if record is None:
            raise StaleInput(f"no record of step {step}; rerun --from {step}")
        return record["facts"]

    # -- running -----------------------------------------------------------------------------------

    def run(self, first: str = "train", last: str = "summary",
            on_start: Callable[[Step, int], None] | None = None,
            on_done: Callable[[StepResult], None] | None = None) -> list[StepResult]:
        """Run the steps ``first`` to ``last``; ``on_start(step, number)`` before and ``on_done(result)``
        after each. Returns the results in order."""
        steps = steps_between(first, last)
        if self.root.exists() and not self.root.is_dir():
            raise safe_io.OutputError(f"{self.root}: exists and is not a directory")
        if steps[0].name != "train" and not self.root.is_dir():
            raise StaleInput(f"{self.root}: no such run folder; a build from step {first} continues an earlier one")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise safe_io.OutputError(f"{self.root}: cannot create ({exc.strerror or exc})") from None
        results = []
        for group in concurrent_groups(steps):
            for step in group:
                if on_start:
                    on_start(step, STEPS.index(step) + 1)
            for result in self._run_group(group):
                results.append(result)
                if on_done:
                    on_done(result)
        return results

    def _run_group(self, group: tuple[Step, ...]) -> list[StepResult]:
        """Run steps that do not depend on each other at the same time (one thread each; the tools they run
        are processes), without progress callbacks, which would interleave; the first failure is raised once
        all have ended."""
        if len(group) == 1:
            return [self.run_step(group[0])]
        progress, self.progress = self.progress, None
        try:
            with ThreadPoolExecutor(len(group)) as pool:
                futures = [pool.submit(self.run_step, step) for step in group]
                return [future.result() for future in futures]
        finally:
            self.progress = progress

    def run_step(self, step: Step) -> StepResult:
        """Check ``step``'s inputs, run it, record it. Any user-facing error becomes a :class:`BuildError`
        naming the step (a stale input stays a :class:`StaleInput`)."""
        from shiftspike.rtl_gen.synth import DoesNotFit, TooManyPins

        self.check_inputs(step)
        reads = {rel: content_hash(self.path(rel)) for rel in step.reads}
        try:
            self._discard(step)
            result = getattr(self, f"_{step.name}")()
        except (BuildError, StaleInput):
            raise
        except (DoesNotFit, TooManyPins) as exc:
            raise BuildError(step.name, f"{exc}; fewer --lanes make smaller cores") from None
        except ShiftspikeError as exc:
            raise BuildError(step.name, str(exc)) from None
        except OSError as exc:  # moving or removing the step's own files and folders
            raise BuildError(step.name, f"{exc.filename}: {exc.strerror or exc}") from None
        self._write_record(step, reads, result.facts)
        return result

    def config(self):
        """The run's config: the one given, else ``train/config.json``."""
        from shiftspike.quant.config import read_run_config

        return self.cfg if self.cfg is not None else read_run_config(self.path("train"))

    # -- the steps ---------------------------------------------------------------------------------

    def _train(self) -> StepResult:
        from shiftspike.quant.train import train

        if self.cfg is None:
            raise BuildError("train", "needs a config (a preset or a TOML file)")
        summary = train(self.cfg, self.path("train"), resume=True, console=self.options.console,
                        progress=self.options.train_progress)
        return StepResult("train", {"dataset": summary["dataset"], "epochs": summary["epochs"],
                                    "qat_test_accuracy": summary["test_accuracy"]}, {"summary": summary})

    def _export(self) -> StepResult:
        from shiftspike.quant.export import export
        from shiftspike.quant.inputs import test_split

        cfg = self.config()
        with safe_io.Outputs() as outputs:
            model_tmp = outputs.stage(self.path("model.ssm"), ".ssm")
            export_tmp = outputs.stage(self.path("export.json"))
            inputs_tmp = outputs.stage(self.path("test_inputs.npy"), ".npy")
            labels_tmp = outputs.stage(self.path("test_labels.npy"), ".npy")
            result = export(self.path("train"), model_tmp, data_path=self.options.data_path)
            check = result.check.to_json()
            if not result.check.exact:
                raise BuildError("export", f"{check['mismatches']} values of the integer model differ from the "
                                           f"QAT model; first: {check['first_mismatch']}", "train/checkpoint.pt")
            x, y = test_split(cfg, data_path=self.options.data_path)
            np.save(inputs_tmp, x, allow_pickle=False)
            np.save(labels_tmp, y, allow_pickle=False)
            safe_io.write_json(export_tmp, {"check": check, "bounds": [b.to_json() for b in result.bounds]})
        facts = {key: check[key] for key in ("samples", "mismatches", "qat_accuracy", "integer_accuracy")}
        return StepResult("export", facts, {"export": result, "inputs": x.shape})

    def _inputs(self):
        from shiftspike.sim import load
        from shiftspike.sim.trace import check_input

        model = load(self.path("model.ssm"))
        return model, check_input(model, safe_io.load_npy(self.path("test_inputs.npy")))

    def _report(self) -> StepResult:
        from shiftspike.sim.energy import load_table
        from shiftspike.sim.plot import energy_chart
        from shiftspike.sim.report import build_report, reports_markdown
        from shiftspike.sim.resources import check_resources

        model, x = self._inputs()
        check_resources(model, x.shape[0], x.shape[1])
        text = f"{self.config().data.name} test split, B={x.shape[1]}, T={x.shape[0]}"
        reports = {name: build_report(model, x, load_table(name), text) for name in ENERGY_TABLES}
        with self.staged_folder("report/") as folder:
            for name, report in reports.items():
                safe_io.write_json(folder / f"report-{name}.json", report.to_json())
                with safe_io.atomic_path(folder / f"energy-{name}.png", ".png") as tmp:
                    energy_chart(report, tmp)
            safe_io.write_atomic(folder / "report.md", reports_markdown(reports))
        first = reports[ENERGY_TABLES[0]].totals
        facts = {name: r.totals["energy_pj_per_sample"] for name, r in reports.items()} | {
            "table": ENERGY_TABLES[0], "ratio_to_mul_free": first["ratio_to_mul_free"],
            "may_overflow": first["may_overflow"]}
        return StepResult("report", facts, {"reports": reports})

    def _rtl(self) -> StepResult:
        from shiftspike.rtl_gen.cores import write_cores
        from shiftspike.rtl_gen.network_folder import write_network_folder

        model, x = self._inputs()
        cores, networks = {}, {}
        with self.staged_folder("rtl/") as folder:
            for arith in VARIANTS:
                cores[arith] = write_cores(model, folder / arith, lanes=self.options.lanes, arith=arith)
                for core in cores[arith]:
                    if core.warnings:
                        raise BuildError("rtl", f"Verilator lint: {core.warnings[0]}",
                                         f"rtl/{arith}/{core.verilog.name}")
                networks[arith] = write_network_folder(model, folder / "network" / arith, self.options.network_lanes,
                                                       arith, x=x)
                if networks[arith].warnings:
                    raise BuildError("rtl", f"Verilator lint: {networks[arith].warnings[0]}",
                                     f"rtl/network/{arith}/{networks[arith].verilog.name}")
        facts = {"lanes": self.options.lanes} | {arith: [
            {"layer": c.index, "top": c.top, "file": f"rtl/{arith}/{c.verilog.name}", "lanes": c.timing.lanes,
             "cycles_per_step": c.timing.cycles_per_step, "latency": c.timing.latency} for c in written]
            for arith, written in cores.items()}
        facts["network"] = {arith: {"top": n.top, "file": f"rtl/network/{arith}/{n.verilog.name}",
                                    "plan": n.plan.to_json()} for arith, n in networks.items()}
        return StepResult("rtl", facts, {"cores": cores, "networks": networks})

    def _synth(self) -> StepResult:
        from shiftspike.rtl_gen.cores import synthesize_cores
        from shiftspike.rtl_gen.network_folder import read_network_folder, synthesize_network

        target, network_target = self.options.target, self.options.network_target
        _, x = self._inputs()
        # the networks place and route while the cores do: the longest runs overlap
        with ThreadPoolExecutor(len(VARIANTS)) as pool:
            # the multiplier network may not fit the device (its DSPs): that is a result, not a failure
            targets = {"shift": network_target, "mul": network_target if self.options.network_comparison else None}
            networks = {arith: pool.submit(synthesize_network, read_network_folder(self.path(f"rtl/network/{arith}")),
                                           targets[arith], x, arith == "mul") for arith in VARIANTS}
            # the comparison variant may not fit the device: that is a result, not a failure
            rows = {arith: synthesize_cores(self.path(f"rtl/{arith}"), target, unfit_ok=arith == "mul",
                                            progress=self.progress) for arith in VARIANTS}
            network_rows = {arith: future.result() for arith, future in networks.items()}
        facts = {"target": target, **rows, "network": {"target": network_target, **network_rows}}
        safe_io.write_json(self.path("synth.json"), facts)
        return StepResult("synth", facts, {"rows": rows, "network": network_rows})

    def _verify(self) -> StepResult:
        from shiftspike.rtl_gen.cores import verdict_json, verify_cores
        from shiftspike.rtl_gen.verify import SIMULATORS

        model, x = self._inputs()
        simulators = list(self.options.simulators or SIMULATORS)
        workdir = self.path("verify/")
        verdicts = verify_cores(model, x[:, : self.options.samples], self.path("rtl/shift"), simulators, workdir,
                                progress=self.progress)
        network = self._verify_network(model, x, simulators, workdir / "network")
        safe_io.write_json(workdir / "verdicts.json", {"verdicts": [verdict_json(v) for v in verdicts],
                                                       "network": [v.to_json() | {"run": run}
                                                                   for run, v in network]})
        failed = [v for v in verdicts if not v.passed]
        if failed:
            v = failed[0]
            why = v.first_mismatch or f"{v.cycles} cycles != cycle model {v.expected_cycles}"
            raise BuildError("verify", f"{v.top} on {v.simulator}: {why}", "verify/verdicts.json")
        failed = [v for _, v in network if not v.passed]
        if failed:
            v = failed[0]
            raise BuildError("verify", f"{v.top} on {v.simulator}: {v.first_mismatch or 'cycles differ from the model'}",
                             "verify/verdicts.json")
        # wall time and waveform paths stay in verdicts.json: the summary is the same for the same seed
        facts = {"verdicts": [{k: value for k, value in verdict_json(v).items() if k not in ("seconds", "waves")}
                              for v in verdicts],
                 "network": [{k: value for k, value in v.to_json().items() if k != "seconds"}
                             | {"run": run} for run, v in network]}
        return StepResult("verify", facts, {"verdicts": verdicts, "network": network})

    def _verify_network(self, model, x, simulators: list[str], workdir: Path) -> list[tuple[str, object]]:
        """The shift-add network: the test samples back to back on Verilator (classes, sums, cycles), and a
        few samples with random stalls and resets, every layer at every step, on Icarus (the other simulator;
        on Verilator if it is the only one); ``(run, verdict)`` pairs."""
        from shiftspike.rtl_gen.verify_network import verify_network, verify_test_set

        folder = self.path("rtl/network/shift")
        opts = self.options
        runs = []
        if "verilator" in simulators:
            runs.append(("test set, back to back", verify_test_set(folder, model, x[:, : opts.network_samples],
                                                                    workdir / "test-set")))
        stalled = "icarus" if "icarus" in simulators else simulators[0]
        runs.append(("stalls and resets, every layer", verify_network(
            folder, model, x[:, : opts.network_stalled], stalled, workdir / f"stalled-{stalled}")))
        return runs

    def _summary(self) -> StepResult:
        facts = {name: self.facts(name) for name in STEP_NAMES if name != "summary"}
        with safe_io.Outputs() as outputs:
            safe_io.write_json(outputs.stage(self.path("summary.json")), facts)
            safe_io.write_atomic(outputs.stage(self.path("summary.md"), ".md"), summary_markdown(facts))
        return StepResult("summary", {}, {"summary": self.path("summary.md")})


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


#: The run folder's files as the summary lists them.
FILES = (
    ("train/", "training run: config.json, metrics.jsonl, checkpoint.pt, summary.json"),
    ("model.ssm", "integer model (docs/model-format.md)"),
    ("export.json", "exactness check per layer and bound analysis"),
    ("test_inputs.npy", "integer test inputs [T, B, features]; labels in test_labels.npy"),
    ("report/", "report-*.json, report.md, energy-*.png (energy per layer by operation kind)"),
    ("rtl/shift/", "shift-add cores: <module>.v, sidecar .json, single-layer model .ssm"),
    ("rtl/mul/", "multiplier cores, for comparison"),
    ("rtl/network/shift/", "the whole-network accelerator (shift-add): <module>.v, sidecar .json, model .ssm"),
    ("rtl/network/mul/", "the whole-network accelerator with multipliers, for comparison"),
    ("synth.json", "synthesis results of both variants"),
    ("verify/verdicts.json", "verification verdicts; builds and logs in verify/<module>/<simulator>/"),
    ("steps/", "each step's record: sha256 of what it read and wrote, and its facts"),
    ("summary.json", "every number of this summary"),
)


def _cell(value, digits: str = ".4g") -> str:
    return "-" if value is None else format(value, digits) if isinstance(value, float) else str(value)


def _dsp_note(mul: dict) -> str:
    """The sentence on the multiplier network's DSPs, when it was placed on a device that has them."""
    if not mul.get("dsps"):
        return ""
    return (" A multiplier maps to a DSP block, so the multiplier variant's logic cells "
            f"({_cell(mul['logic_cells'])}) leave out its {mul['dsps']} DSPs.")


def network_markdown(rtl: dict, synth: dict, verdicts: list[dict]) -> list[str]:
    """The summary's section on the whole-network accelerator: area, Fmax, cycles, latency and throughput of
    both variants, and the verification runs."""
    lines = ["", f"## The whole network in hardware ({synth['target']})", "",
             "| variant | module | lanes per layer | logic cells | FFs | block RAM | DSPs | multipliers | Fmax MHz "
             "| cycles/sample (mean, max) | µs/sample | samples/s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arith in VARIANTS:
        row = synth[arith]
        lanes = ",".join(str(p) for p in row["lanes"])
        unfit = "does not fit" if row.get("does_not_fit") else None
        lines.append(f"| {arith} | `{row['top']}` | {lanes} | " + " | ".join(unfit or _cell(row.get(key)) for key in (
            "logic_cells", "ffs", "ram_blocks", "dsps", "multipliers", "fmax_mhz")) +
            f" | {row['cycles_per_sample']:.1f}, {row['max_cycles_per_sample']} | "
            f"{unfit or _cell(row['latency_us'], '.2f')} | {unfit or _cell(row['samples_per_second'], ',.0f')} |")
    shift, mul = synth["shift"], synth["mul"]
    if mul.get("does_not_fit"):
        lines += ["", f"The multiplier network does not fit: {mul['does_not_fit']}."]
    if mul.get("synthesized") is False:
        lines += ["", "The multiplier network is generated (`rtl/network/mul/`) but not synthesized: `shiftspike flow "
                  "--network-comparison` adds its place and route (minutes); its cycles are the cycle model's."]
    lines += ["", f"Cycles per sample are the cycle model's for each test sample run alone ({shift['samples']} "
              "samples; the RTL matches them to the cycle, below); µs per sample at Fmax; samples per second "
              "with the samples streamed back to back." + _dsp_note(mul), "",
              "| run | simulator | samples | class-exact | mismatching classes | layers compared | values differing "
              "| cycles = model | verdict |", "|---|---|---:|---:|---:|---|---:|---|---|"]
    for v in verdicts:
        cycles_ok = v["cycle_deviations"] == 0 and list(v["cycles"]) == list(v["expected_cycles"])
        lines.append(f"| {v['run']} | {v['simulator']} | {v['samples']} | {v['class_exact']} | "
                     f"{v['mismatching_classes']} | {'yes' if v['layers_compared'] else 'no'} | {v['mismatches']} | "
                     f"{'yes' if cycles_ok else 'no'} | "
                     f"{'passed' if v['passed'] else 'FAILED: ' + str(v['first_mismatch'])} |")
    return lines


def summary_markdown(facts: dict) -> str:
    """``summary.md`` from the steps' facts: accuracy, exactness, energy, area (nextpnr logic cells), Fmax,
    cycles, verdicts and where each file is."""
    train, export, report, rtl = facts["train"], facts["export"], facts["report"], facts["rtl"]
    synth, verify = facts["synth"], facts["verify"]["verdicts"]
    energy, ratio = report[report["table"]], report["ratio_to_mul_free"]
    passed = sum(v["passed"] for v in verify)
    lines = [
        "# shiftspike flow summary", "",
        f"Dataset `{train['dataset']}`, {train['epochs']} epochs of quantization-aware training of the "
        "multiplication-free network, exported to an integer model and turned into Verilog.", "",
        "## Accuracy and exactness", "",
        f"* QAT model (eval): test accuracy **{export['qat_accuracy']:.4f}**",
        f"* integer model (Numba simulator): test accuracy **{export['integer_accuracy']:.4f}**",
        f"* exactness: **{export['mismatches']} mismatches** between the integer model and the QAT model over "
        f"every layer's output on {export['samples']} test samples", "",
        f"## Energy (table `{report['table']}`, pJ per sample on the test split)", "",
        "| network | pJ/sample | relative to mul-free |", "|---|---:|---:|",
        f"| mul-free (this network) | {_fmt(energy['mul_free'])} | 1.00x |",
        f"| same network, multiplier per tap | {_fmt(energy['mul_taps'])} | {ratio['mul_taps']:.2f}x |",
        f"| same network, PSN neurons (T x T) | {_fmt(energy['psn'])} | {ratio['psn']:.2f}x |", "",
        f"## Hardware ({synth['target']}, at most {rtl['lanes']} lanes per core)", "",
        "| layer | variant | module | lanes | logic cells | FFs | RAM | DSPs | multipliers | Fmax MHz "
        "| cycles/time step | updates/s |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arith in VARIANTS:
        for row in synth[arith]:
            fmax, ups = row["fmax_mhz"], row["updates_per_second"]
            cells = " | ".join("does not fit" if row.get("does_not_fit") else str(row[key])
                               for key in ("logic_cells", "ffs", "ram_blocks", "dsps", "multipliers"))
            lines.append(f"| {row['layer']} | {arith} | `{row['top']}` | {row['lanes']} | {cells} | "
                         f"{'-' if fmax is None else f'{fmax:.1f}'} | {row['cycles_per_step']} | "
                         f"{'-' if ups is None else f'{ups:.3g}'} |")
    lines += ["", "Logic cells: nextpnr's used iCE40 logic cells (LUT, flip-flop and carry) on `ice40-hx8k`; "
              "Yosys's 4-input LUTs on `generic`.", "",
              f"## RTL verification: {passed} of {len(verify)} passed", "",
              "Each shift-add core, driven by the currents of real test samples (first sample without stalls, "
              "the others with random stalls and a reset in mid-stream), against the simulator, time step by "
              "time step.", "",
              "| layer | module | simulator | samples x steps | mismatches | cycles (model) | verdict |",
              "|---:|---|---|---|---:|---|---|"]
    for v in verify:
        lines.append(f"| {v['layer']} | `{v['top']}` | {v['simulator']} | {v['samples']} x {v['steps']} | "
                     f"{v['mismatches']} | {v['cycles']} ({v['expected_cycles']}) | "
                     f"{'passed' if v['passed'] else 'FAILED: ' + str(v['first_mismatch'])} |")
    lines += network_markdown(facts["rtl"]["network"], synth["network"], facts["verify"]["network"])
    lines += ["", "## Files", "", "| path | what |", "|---|---|"]
    lines += [f"| `{path}` | {what} |" for path, what in FILES]
    return "\n".join(lines) + "\n"
