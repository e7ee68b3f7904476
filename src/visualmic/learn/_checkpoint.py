"""Reading torch files for the learn package: one place that turns a bad file into ModelError."""

from __future__ import annotations

import os

from .._errors import ModelError

__all__ = ["torch_load"]


def torch_load(path: str | os.PathLike, *, what: str, hint: str):
    """``torch.load`` a weights-only file on the CPU; a bad file becomes one :class:`ModelError`.

    Parameters
    ----------
    path : path-like
        The file (its existence is the caller's check: each caller has its own
        :class:`~visualmic.InputFileError` message).
    what : str
        What the file is, for the message (e.g. ``"enhancer checkpoint"``).
    hint : str
        What to do, appended to the message after a semicolon.

    Returns
    -------
    object
        What the file holds (tensors on the CPU).

    Raises
    ------
    ModelError
        ``cannot read <what> '<path>' (<first line of torch's error>); <hint>``.
    """
    import torch

    p = os.fspath(path)
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        text = str(exc).strip()
        detail = text.splitlines()[0] if text else type(exc).__name__
        raise ModelError(f"cannot read {what} {p!r} ({detail}); {hint}") from None
