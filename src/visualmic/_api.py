"""The public ``visualmic.recover``: the engine's recover, plus loading a named enhancer.

The engine takes the hybrid enhancer as a callable and never imports
:mod:`visualmic.learn`; this top-level module (above every layer, like the CLI) turns
``enhance=True`` (the model shipped with the package) or a checkpoint path into that
callable, so that the public API stays ``visualmic.recover(video, enhance=True)``.
"""

from __future__ import annotations

import functools
import os

from ._errors import ModelError, ParameterError
from .engine.recover import recover as _engine_recover

__all__ = ["recover", "load_enhancer_option"]


def load_enhancer_option(enhance):
    """Turn ``enhance`` (None, False, True, a path or a callable) into a callable or None.

    Imports PyTorch only when a model is asked for.

    Raises
    ------
    ParameterError
        For a value of another type.
    ModelError
        When PyTorch is missing or the checkpoint cannot be loaded.
    """
    if enhance is None or enhance is False:
        return None
    if callable(enhance):
        return enhance
    if not (enhance is True or isinstance(enhance, (str, os.PathLike))):
        raise ParameterError(
            f"enhance={enhance!r} must be None, True (the shipped model) or a checkpoint path"
        )
    try:
        from .learn.enhance import load_enhancer
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise ModelError(
                "enhancement needs PyTorch, which is not installed; run "
                "`pip install 'visualmic[learn]'` or recover without --enhance"
            ) from None
        raise
    return load_enhancer(None if enhance is True else enhance)


@functools.wraps(_engine_recover)
def recover(source, **kwargs):  # noqa: D103 - the docstring is the engine's (wraps)
    if "enhance" in kwargs:
        kwargs["enhance"] = load_enhancer_option(kwargs["enhance"])
    return _engine_recover(source, **kwargs)
