"""The ``visualmic`` command line: a thin layer over the library.

Each sub-command lives in its own module ``cli/_<name>.py`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args) -> int``.  :func:`main` parses, calls it, and turns
:class:`visualmic.VisualMicError` into a one-line message and an exit code
(2 usage, 1 processing).  The library never imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .._errors import VisualMicError, VisualMicWarning

__all__ = ["main"]

# Sub-command modules, in the order `visualmic --help` lists them.
_COMMANDS = [
    "_recover",
    "_map",
    "_denoise",
    "_synth",
    "_evaluate",
    "_demo",
    "_dataset",
    "_train",
    "_enhancer",
    "_listen",
    "_batch",
    "_calibrate",
    "_magnify",
    "_preview",
]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit with code 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = _Parser(
        prog="visualmic",
        description="Recover sound from high-speed video (the visual microphone).",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"visualmic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMANDS:  # every command is part of the package: a failed import is a bug
        try:
            mod = importlib.import_module(f".{name}", __name__)
        except ImportError as exc:
            raise ImportError(f"the '{name.lstrip('_')}' command cannot be loaded ({exc}); "
                              "the installation is incomplete: reinstall visualmic") from exc
        mod.register(sub)
    return parser


def add_common(p: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` and ``--debug`` to a sub-command parser."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or warnings")
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")


def add_force(p: argparse.ArgumentParser) -> None:
    """Add ``--force`` (replace read-only output files) to a sub-command that writes files."""
    p.add_argument("--force", action="store_true",
                   help="replace output files even when they are read-only")


def check_outputs(args: argparse.Namespace, outputs, inputs=()) -> list:
    """Check a command's outputs up front (valid, distinct, never an input; ``--force``)."""
    from ..io.atomic import check_outputs as check

    return check(outputs, inputs=inputs, force=bool(getattr(args, "force", False)))


def progress_bar(args: argparse.Namespace, desc: str, unit: str = "frame"):
    """Return ``(callback, close)``: a progress hook drawing a tqdm bar on stderr.

    The bar is silent with ``--quiet`` or when stderr is not a terminal.
    """
    if getattr(args, "quiet", False):
        return None, lambda: None
    from tqdm import tqdm

    state: dict = {"bar": None}

    def callback(done: int, total: int | None) -> None:
        bar = state["bar"]
        if bar is None:
            bar = state["bar"] = tqdm(
                total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True, mininterval=0.2,
                disable=None,  # drawn only when stderr is a terminal
            )
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    return callback, close


def quiet_libraries() -> None:
    """Keep the log lines of Dask (here and in its worker processes) off stderr below ERROR."""
    import logging
    import os

    os.environ["DASK_LOGGING__DISTRIBUTED"] = "error"  # read by worker processes at start
    logging.getLogger("distributed").setLevel(logging.ERROR)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print a warning as one line on stderr (no source line, no file name)."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    print(f"visualmic: warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    try:
        parser = build_parser()
    except ImportError as exc:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        print(f"visualmic: error: {exc}", file=sys.stderr)
        return 1
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    debug = getattr(args, "debug", False)
    if getattr(args, "quiet", False):
        quiet_libraries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if getattr(args, "quiet", False) else "always",
                              VisualMicWarning)
        warnings.showwarning = _show_warning  # restored when the context exits
        try:
            return int(args.func(args) or 0)
        except VisualMicError as exc:
            if debug:
                raise
            print(f"visualmic {args.command}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("visualmic: interrupted", file=sys.stderr)
            return 130
        except MemoryError:
            if debug:
                raise
            print(f"visualmic {args.command}: error: out of memory; use --roi, --downsample "
                  "or a shorter --start/--end range", file=sys.stderr)
            return 1
        except BrokenPipeError:
            return 1
        except Exception as exc:  # a bug: still one line, with the way to see more
            if debug:
                raise
            print(f"visualmic {args.command}: internal error: {type(exc).__name__}: {exc} "
                  "(run again with --debug for a traceback and please report it)",
                  file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# -- argument types shared by the sub-commands --------------------------------------------------
# Every number on the command line is bounded: beyond these, values overflow or exhaust memory
# (the physical ranges of named options are in visualmic._validate.LIMITS).
MAX_INT = 1 << 40
MAX_FLOAT = 1e12


def ranged(limit, option: str, *, integer: bool = False, allow_zero: bool = False):
    """Argparse type for a number within a physical range of :data:`visualmic._validate.LIMITS`.

    The usage error states the range, e.g. ``--fps=1e308 must be a number from
    0.001 to 1e+07 Hz``.
    """
    from .._errors import ParameterError
    from .._validate import in_range

    def parse(text: str):
        try:
            return in_range(option, text, limit, integer=integer, allow_zero=allow_zero)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.lstrip("-").replace("-", "_")  # argparse names the type on errors
    return parse


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    return value


def positive_float(text: str) -> float:
    """Argparse type: a number > 0 (and at most 1e12)."""
    value = _number(text)
    if not 0 < value <= MAX_FLOAT:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number (at most "
                                         f"{MAX_FLOAT:g})")
    return value


def non_negative_float(text: str) -> float:
    """Argparse type: a number >= 0 (and at most 1e12)."""
    value = _number(text)
    if not 0 <= value <= MAX_FLOAT:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number from 0 to {MAX_FLOAT:g}")
    return value


def positive_int(text: str) -> int:
    """Argparse type: an integer > 0 (and at most 2**40)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer") from None
    if not 0 < value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer from 1 to {MAX_INT}")
    return value


def non_negative_int(text: str) -> int:
    """Argparse type: an integer >= 0 (and at most 2**40)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer >= 0") from None
    if not 0 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer from 0 to {MAX_INT}")
    return value


def workers(text: str) -> int:
    """Argparse type: a number of local worker processes, 1 to 4 per core."""
    import os

    top = 4 * (os.cpu_count() or 1)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= top:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer from 1 to {top} (4 per "
                                         "core of this machine)")
    return value


def print_json(obj) -> None:
    """Print one JSON object on stdout."""
    import json

    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
