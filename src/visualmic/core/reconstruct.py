"""Rebuilding frames from the oriented bands of a complex steerable pyramid.

:class:`visualmic.core.pyramid.SteerablePyramid` computes only the oriented complex
bands (the real residuals carry no phase).  Its masks tile the Fourier plane in
the squared sense: with ``B_k`` the real (two-sided) filter of band ``k``,
``|H0|² + Σ_k |B_k|² + |L|² = 1``, where ``H0`` is the high-pass residual (absent
when the pyramid has its oriented high-pass bands) and ``L`` the low-pass
residual.  The complex band's mask ``M_k`` is ``2 B_k`` on one half-plane, so the
adjoint of the band analysis, applied to complex coefficients ``c_k``, is

``x = ½ Re IFFT2( Σ_k scatter( conj(M_k) · FFT2_k(c_k) ) )``

(each level's spectrum is scattered back into the full-size spectrum at the
indices it was cropped from), and ``reconstruct(pyr, pyr.forward(x))`` is ``x``
filtered by ``P = Σ_k |B_k|² = 1 - |H0|² - |L|²``: exactly ``x`` for an image
whose spectrum lies where the bands cover the plane.  Phase-based editing
(motion magnification) therefore adds ``reconstruct(pyr, new - old)`` to the
frame, which leaves the residuals untouched.

This uses only the pyramid's public :meth:`~visualmic.core.pyramid.SteerablePyramid.level_masks`.

References
----------
.. [1] J. Portilla and E. P. Simoncelli, "A parametric texture model based on
   joint statistics of complex wavelet coefficients", IJCV 40(1), 2000.
   https://doi.org/10.1023/A:1026553619983
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .._errors import ParameterError

__all__ = ["reconstruct", "transfer_function"]


def reconstruct(pyr, coeffs) -> np.ndarray:
    """Apply the adjoint of the band analysis: frames from oriented complex bands.

    Parameters
    ----------
    pyr : visualmic.core.pyramid.SteerablePyramid
        The pyramid that made (or shapes) the coefficients.
    coeffs : list of np.ndarray [shape=(T, h, w)], complex
        One array per band, in the order of ``pyr.bands``, each of the band's
        shape (as :meth:`SteerablePyramid.forward` returns for a batch).

    Returns
    -------
    np.ndarray [shape=(T, H, W)]
        Real frames in the pyramid's float dtype.  For ``coeffs =
        pyr.forward(x)`` this is ``x`` without the residual bands (see the
        module docstring).

    Raises
    ------
    ParameterError
        If the number or shapes of the coefficient arrays do not match the pyramid.

    Examples
    --------
    >>> from visualmic.core.pyramid import SteerablePyramid
    >>> pyr = SteerablePyramid((32, 32), scales=2, highpass=True, dtype=np.float64)
    >>> n = np.arange(32)
    >>> x = np.cos(2 * np.pi * (6 * n[None, :] + 3 * n[:, None]) / 32)  # inside the bands
    >>> bool(np.allclose(reconstruct(pyr, pyr.forward(x[None]))[0], x))
    True
    """
    if len(coeffs) != pyr.n_bands:
        raise ParameterError(
            f"{len(coeffs)} coefficient arrays given for a pyramid of {pyr.n_bands} bands; "
            "give one per band, in the order of pyr.bands"
        )
    first = np.asarray(coeffs[0])
    if first.ndim != 3:
        raise ParameterError(
            f"coefficients of shape {first.shape} must be batches (T, h, w); add a leading axis"
        )
    n = first.shape[0]
    H, W = pyr.shape
    spec = np.zeros((n, H, W), dtype=pyr.cdtype)
    for level in pyr.levels:
        rows, cols, masks = pyr.level_masks(level)
        ids = [i for i, b in enumerate(pyr.bands) if b.level == level]
        shape = pyr.bands[ids[0]].shape
        for i in ids:
            if np.shape(coeffs[i]) != (n, *shape):
                raise ParameterError(
                    f"band {i} has coefficients of shape {np.shape(coeffs[i])}; the pyramid "
                    f"expects {(n, *shape)}"
                )
        stack = np.stack([np.asarray(coeffs[i], dtype=pyr.cdtype) for i in ids], axis=1)
        band_spec = sfft.fft2(stack, axes=(-2, -1), overwrite_x=True, workers=-1)  # (T, K, h, w)
        acc = np.einsum("tkhw,khw->thw", band_spec, masks.conj())
        spec[:, rows[:, None], cols[None, :]] += acc
    out = sfft.ifft2(spec, axes=(-2, -1), overwrite_x=True, workers=-1).real
    out *= 0.5
    return out.astype(pyr.dtype, copy=False)


def transfer_function(pyr) -> np.ndarray:
    """Return ``P``, the spectrum gain of ``reconstruct(pyr, pyr.forward(x))``.

    Returns
    -------
    np.ndarray [shape=(H, W)], float64
        In unshifted FFT order: 1 where the bands tile the plane, 0 at DC (the
        low-pass residual) and, without oriented high-pass bands, towards Nyquist.
    """
    impulse = np.zeros((1, *pyr.shape), dtype=pyr.dtype)
    impulse[0, 0, 0] = 1.0
    return sfft.fft2(reconstruct(pyr, pyr.forward(impulse))[0].astype(np.float64)).real
