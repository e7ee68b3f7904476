"""Argument validators shared by the library's public functions.

Each returns the cleaned value or raises :class:`ParameterError` with a one-line
message that echoes the bad value and says what is expected.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._errors import ParameterError

__all__ = ["check_audio", "check_positive", "check_rate", "check_band",
           "finite_number", "positive_number", "check_choice", "check_scale", "displacement_units",
           "in_range", "LIMITS", "MIN_RELATIVE_CUTOFF"]


def check_audio(y, name: str = "y") -> np.ndarray:
    """Return ``y`` as a 1-D finite floating array (no copy when possible).

    Raises
    ------
    ParameterError
        If ``y`` is not 1-D, is empty, is not numeric, or holds NaN or inf.
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.float16:
        if arr.dtype.kind in "fiu":
            arr = arr.astype(np.float32)
        else:
            raise ParameterError(
                f"{name} has dtype {arr.dtype}; give real-valued audio samples (a float array)"
            )
    if arr.ndim != 1:
        raise ParameterError(
            f"{name} has shape {arr.shape}; give mono audio of shape (n,) (mix or pick a channel)"
        )
    if arr.size == 0:
        raise ParameterError(f"{name} is empty; give at least one audio sample")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ParameterError(
            f"{name} holds {bad} NaN or infinite sample(s); clean the signal before processing"
        )
    return arr


def check_positive(value, name: str) -> float:
    """Return ``value`` as a positive finite float or raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be a positive number")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive finite number")
    return v


def check_rate(rate, name: str = "rate") -> float:
    """Return a sampling rate in Hz as a positive finite float."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ParameterError(f"{name}={rate!r} must be a positive sampling rate in Hz")
    r = float(rate)
    if not math.isfinite(r) or r <= 0:
        raise ParameterError(f"{name}={rate!r} must be a positive sampling rate in Hz")
    return r


def check_band(band, rate: float) -> tuple[float, float]:
    """Validate a pass band ``(lo, hi)`` in Hz against the Nyquist frequency."""
    try:
        if isinstance(band, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ParameterError(
            f"band={band!r} must be a pair (lo, hi) of frequencies in Hz, e.g. (80, 1000)"
        ) from None
    nyquist = rate / 2
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(f"band={band!r} must hold finite frequencies in Hz")
    if lo >= hi:
        raise ParameterError(f"band={band!r}: the low edge must be below the high edge")
    if lo <= 0 or hi >= nyquist:
        raise ParameterError(
            f"band={band!r} Hz must lie inside (0, {nyquist:g}) Hz, the Nyquist range of "
            f"rate={rate:g} Hz; narrow the band"
        )
    return lo, hi


# --------------------------------------------------------------------------- filtering


def finite_number(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float, checking ``value > minimum`` (strict) or ``>=``."""
    if isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} must be a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a number") from None
    if not math.isfinite(v):
        raise ParameterError(f"{name}={value!r} must be a finite number")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        rel = ">" if strict else ">="
        raise ParameterError(f"{name}={value!r} must be {rel} {minimum:g}")
    return v


def positive_number(name: str, value, *, integer: bool = False, allow_none: bool = False,
                    allow_zero: bool = False):
    """Return ``value`` as a positive (or non-negative) finite float or int.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        The value to check.
    integer : bool, optional
        Require a whole number (returned as int).
    allow_none : bool, optional
        Accept (and return) None.
    allow_zero : bool, optional
        Accept 0.

    Raises
    ------
    ParameterError
        ``"{name}={value!r} must be a positive integer"`` (or number, non-negative).

    Examples
    --------
    >>> positive_number("fps", 2200)
    2200.0
    >>> positive_number("scales", 3, integer=True)
    3
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        try:
            v = float(value)
        except OverflowError:  # an int beyond float range
            v = math.inf
        ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
        if integer:
            ok = ok and v.is_integer()
    if not ok:
        sign = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name}={value!r} must be a {sign} {'integer' if integer else 'number'}")
    return int(value) if integer else v


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ParameterError.

    Examples
    --------
    >>> check_choice("weighting", "ml", ("ml", "uniform"))
    'ml'
    """
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name}={value!r} must be one of {{{options}}}")
    return value


# --------------------------------------------------------------------------- units


def check_scale(scale, name: str = "scale") -> float | None:
    """Validate an image scale in millimetres per pixel (``--scale MM_PER_PX``).

    Parameters
    ----------
    scale : float or None
        Size of one pixel on the imaged surface, in mm (e.g. 0.05 for 20 pixels
        per millimetre); None keeps displacements in pixels.

    Returns
    -------
    float or None

    Raises
    ------
    ParameterError
        If ``scale`` is not a positive finite number.

    Examples
    --------
    >>> check_scale(0.05), check_scale(None)
    (0.05, None)
    """
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (
            math.isfinite(float(scale)) and float(scale) > 0):
        raise ParameterError(
            f"{name}={scale!r} must be a positive number of millimetres per pixel, e.g. 0.05 "
            "(20 pixels per mm); measure a known length in the frame to find it"
        )
    return float(scale)


def displacement_units(scale=None) -> tuple[str, float]:
    """Unit label and factor for displacement outputs: pixels, or mm with a scale.

    Multiply a displacement in pixels by ``factor`` to express it in ``label``.

    Parameters
    ----------
    scale : float or None
        Millimetres per pixel (validated by :func:`check_scale`).

    Returns
    -------
    (str, float)
        ``("px", 1.0)`` without a scale, ``("mm", scale)`` with one.

    Examples
    --------
    >>> displacement_units(None), displacement_units(0.05)
    (('px', 1.0), ('mm', 0.05))
    """
    value = check_scale(scale)
    return ("px", 1.0) if value is None else ("mm", value)


# --------------------------------------------------------------------------- physical ranges

#: Physical bounds of the options shared by the library and the command line:
#: ``name: (lowest, highest, unit)``. Values outside are refused with a one-line
#: message that states the range (they would otherwise overflow or exhaust memory).
LIMITS: dict[str, tuple[float, float, str]] = {
    "fps": (1e-3, 1e7, "Hz"),
    "output_rate": (1.0, 1e6, "Hz"),
    "highpass": (0.0, 5e6, "Hz"),
    "seconds": (0.0, 1e6, "s"),
    "window": (1e-5, 3600.0, "s"),
    "factor": (0.0, 1e6, ""),
    "downsample": (1e-3, 1e3, ""),
    "frames": (0, 1 << 40, "frames"),
    "chunk_size": (1, 1 << 16, "frames"),
    "reference": (1, 1 << 16, "frames"),
    "scales": (1, 32, ""),
    "orientations": (2, 16, ""),
    "max_lag": (0, 1 << 20, "samples"),
    "size": (1, 1 << 15, "pixels"),
    "count": (0, 1 << 31, ""),
}

#: Lowest high-pass cut-off as a fraction of the sampling rate (the filter's settling
#: length, hence its cost, grows as rate / cutoff).
MIN_RELATIVE_CUTOFF = 1e-4


def in_range(name: str, value, limit: str | tuple, *, integer: bool = False,
             allow_none: bool = False, allow_zero: bool = False):
    """Return ``value`` (float, or int when ``integer``) if it lies in a physical range.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        The value to check (a number, or text from the command line).
    limit : str or tuple
        A key of :data:`LIMITS`, or ``(lowest, highest, unit)``.
    integer : bool, optional
        Require a whole number (returned as int).
    allow_none : bool, optional
        Accept (and return) None.
    allow_zero : bool, optional
        Accept 0 even when the range starts above it (0 = off).

    Raises
    ------
    ParameterError
        ``"{name}={value!r} must be ... from {lo} to {hi} {unit}"``.

    Examples
    --------
    >>> in_range("fps", "2200", "fps")
    2200.0
    >>> in_range("fps", 1e308, "fps")
    Traceback (most recent call last):
    ...
    visualmic._errors.ParameterError: fps=1e+308 must be a number from 0.001 to 1e+07 Hz
    """
    if value is None and allow_none:
        return None
    lo, hi, unit = LIMITS[limit] if isinstance(limit, str) else limit
    kind = "an integer" if integer else "a number"
    where = f"{kind} from {lo:g} to {hi:g}{' ' + unit if unit else ''}"
    if allow_zero and lo > 0:
        where += " (or 0 = off)"
    v = _as_number(value, integer)
    ok = v is not None and (lo <= v <= hi or (allow_zero and v == 0))
    if not ok:
        shown = value if isinstance(value, str) else f"{value!r}" if v is None else f"{v:g}"
        raise ParameterError(f"{name}={shown} must be {where}")
    return int(v) if integer else float(v)


def _as_number(value, integer: bool):
    """``value`` as an int (exact) or a finite float; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text) if integer else float(text)
        except ValueError:
            try:
                v = float(text)
            except ValueError:
                return None
            return int(v) if integer and math.isfinite(v) and v.is_integer() else None
    if integer:
        if isinstance(value, (numbers.Integral, np.integer)):
            return int(value)
        if isinstance(value, (numbers.Real, np.floating)) and float(value).is_integer():
            return int(value)
        return None
    if isinstance(value, (numbers.Real, np.integer, np.floating)):
        try:
            v = float(value)
        except OverflowError:
            return None
        return v if math.isfinite(v) else None
    return None
