"""Atomic output files: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._errors import OutputError

__all__ = ["atomic_path", "check_output_path", "check_outputs", "same_path"]


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name the same file (also before either exists).

    Compares the resolved absolute paths (symbolic links, ``..`` and ``.`` followed),
    then, when both exist, their device and inode (hard links, bind mounts).

    Examples
    --------
    >>> same_path("out.wav", "./sub/../out.wav")
    True
    """
    pa, pb = Path(a), Path(b)
    if os.path.normcase(str(pa.resolve())) == os.path.normcase(str(pb.resolve())):
        return True
    try:
        return os.path.samefile(pa, pb)
    except FileNotFoundError:  # one of them does not exist yet: distinct by name
        return False
    except OSError as exc:  # e.g. permission denied on a folder: cannot prove they differ
        raise OutputError(
            f"cannot tell whether {str(pa)!r} and {str(pb)!r} are the same file "
            f"({exc.strerror or exc}); choose another output path"
        ) from exc


def check_output_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """Validate an output path before long work starts.

    Parameters
    ----------
    path : path-like
        Where the output will be written.
    inputs : tuple of path-like
        The user's input files; the output may never be one of them.

    Returns
    -------
    Path
        The output path.

    Raises
    ------
    OutputError
        If the path is an input file, a directory, or its folder is missing or
        not writable.
    """
    out = Path(path)
    for src in inputs:
        if src is not None and same_path(out, src):
            raise OutputError(
                f"output {str(out)!r} is the input file; choose another output path"
            )
        if src is not None and Path(src).is_dir() and same_path(out.parent, src):
            raise OutputError(  # it would become one of the input frames (or clutter them)
                f"output {str(out)!r} is inside the input folder {str(src)!r}; write it "
                "elsewhere"
            )
    if out.is_dir():
        raise OutputError(f"output {str(out)!r} is a directory; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(
            f"output folder {str(parent)!r} does not exist; create it or choose another path"
        )
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {str(parent)!r} is not writable; choose another path")
    _temporary(out).unlink()  # proves that the folder takes new files (not e.g. /proc)
    if out.exists() and not out.is_file():
        raise OutputError(f"output {str(out)!r} exists and is not a regular file (a device or "
                          "pipe); choose another path")
    return out


def check_outputs(outputs: Iterable, *, inputs: Iterable = (), force: bool = False) -> list[Path]:
    """Validate every output of one command: each valid, none an input, all distinct.

    Parameters
    ----------
    outputs : iterable of path-like or None
        The files the command will write (None entries are skipped).
    inputs : iterable of path-like or None
        The files it reads; no output may be one of them.
    force : bool, optional
        Replace outputs that exist but are read-only (default False: refuse).

    Returns
    -------
    list of Path
        The outputs, in order.

    Raises
    ------
    OutputError
        If an output is an input, two outputs are the same file, an output is
        read-only (without ``force``), or :func:`check_output_path` refuses one.

    Examples
    --------
    >>> check_outputs(["a.wav", "sub/../a.wav"])
    Traceback (most recent call last):
    ...
    visualmic._errors.OutputError: outputs 'a.wav' and 'sub/../a.wav' are the same file; give each output its own path
    """
    ins = tuple(p for p in inputs if p is not None)
    outs = [Path(p) for p in outputs if p is not None]
    for i, out in enumerate(outs):
        for other in outs[:i]:
            if same_path(out, other):
                raise OutputError(f"outputs {str(other)!r} and {str(out)!r} are the same file; "
                                  "give each output its own path")
        check_output_path(out, inputs=ins)
        if not force and out.is_file() and (not os.access(out, os.W_OK)
                                            or not out.stat().st_mode & stat.S_IWUSR):
            raise OutputError(f"output {str(out)!r} is read-only; use --force to replace it, "
                              "or choose another path")
    return outs


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target on success.

    The temporary file keeps the target's suffix so that writers choosing a
    format from the extension (soundfile, matplotlib, PyAV) behave the same.
    On any exception the temporary file is removed and the target is untouched.
    """
    out = check_output_path(path, inputs=inputs)
    tmp_path = _temporary(out)
    # mkstemp creates 0600 files; give the output the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, out)
        except OSError as exc:
            raise OutputError(f"cannot write {str(out)!r}: {exc.strerror or exc}; choose "
                              "another path") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _temporary(out: Path) -> Path:
    """Create an empty temporary file beside ``out`` (same suffix); OutputError if impossible."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".part{out.suffix}",
                                   dir=out.parent if str(out.parent) else ".")
    except OSError as exc:
        raise OutputError(f"cannot create files beside {str(out)!r}: {exc.strerror or exc}; "
                          "choose another path") from exc
    os.close(fd)
    return Path(tmp)
