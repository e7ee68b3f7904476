"""Helpers shared by the synthetic-data modules: argument checks and seeded generators."""

from __future__ import annotations

import numpy as np

from .._errors import ParameterError

__all__ = ["shape2", "check_bit_depth", "make_rng", "SCALE_16"]

#: Scale factor from 8-bit grey levels to 16-bit ones (255 · 257 = 65535).
SCALE_16 = 257


def shape2(name: str, value, *, minimum: int) -> tuple[int, int]:
    """Validate an ``(H, W)`` pair of integers (an int means a square)."""
    given = value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={given!r} must be an integer or a pair (H, W)") from None
    out = []
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ParameterError(
                f"{name}={given!r} must hold integers >= {minimum} (height, width in pixels)"
            )
        out.append(int(v))
    return out[0], out[1]


def check_bit_depth(value) -> int:
    if isinstance(value, bool) or value not in (8, 16):
        raise ParameterError(f"bit_depth={value!r} is not supported; choose 8 or 16")
    return int(value)


def make_rng(seed) -> np.random.Generator:
    if isinstance(seed, bool):
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    return np.random.default_rng(int(seed))
