"""Atomic output files: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .._errors import OutputError

__all__ = ["atomic_path", "check_output_path"]


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
        try:
            if src is not None and out.exists() and Path(src).exists() and os.path.samefile(out, src):
                raise OutputError(
                    f"output {str(out)!r} is the input file; choose another output path"
                )
        except OSError:
            pass
    if out.is_dir():
        raise OutputError(f"output {str(out)!r} is a directory; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(
            f"output folder {str(parent)!r} does not exist; create it or choose another path"
        )
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder {str(parent)!r} is not writable; choose another path")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target on success.

    The temporary file keeps the target's suffix so that writers choosing a
    format from the extension (soundfile, matplotlib, PyAV) behave the same.
    On any exception the temporary file is removed and the target is untouched.
    """
    out = check_output_path(path, inputs=inputs)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".part{out.suffix}", dir=out.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the output the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
