"""The ``shiftspike`` command line: it parses arguments, calls the library, renders the result, maps errors.

Every error a user can cause is a :class:`~shiftspike.sim.errors.ShiftspikeError`; :func:`main` catches it
once and prints ``shiftspike VERB: error: ...`` (one line) on stderr with exit code 2. Outputs are staged
(``shiftspike.sim.safe_io.Outputs``) and every destination is checked before the work, so a failed run
leaves nothing behind; SIGTERM unwinds like an exception, so the staged temporaries are removed too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from shiftspike.sim.errors import ShiftspikeError

from . import cli_flow, cli_rtl, cli_sim, cli_train

EXIT_USAGE = 2
#: Exit status after SIGTERM, as a shell reports a process killed by it.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (``shiftspike VERB: error: ...``) and exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="shiftspike", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    for module in (cli_sim, cli_train, cli_rtl, cli_flow):
        module.add_verbs(verbs)
    return parser


def _terminate(signum, frame):
    raise SystemExit(EXIT_TERMINATED)


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns its exit code (0, 1 for a failed check, 2 for a user error)."""
    args = build_parser().parse_args(argv)
    handler = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if handler else None
    try:
        args.func(args)
    except ShiftspikeError as exc:
        print(f"shiftspike {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if handler:
            signal.signal(signal.SIGTERM, previous)
    return 0
