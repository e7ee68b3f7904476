"""Complex steerable pyramid built in the frequency domain, batched over frames.

The filters follow the construction of Simoncelli & Freeman (1995) and Portilla &
Simoncelli (2000) as implemented in pyrtools' ``SteerablePyramidFreq``
(``is_complex=True``): squared raised-cosine radial functions in log2 frequency
that tile the Fourier plane, and angular functions ``cos(theta - pi*k/K)**(K-1)``
restricted to one half-plane, so that each oriented band is complex (analytic)
and its phase measures local position.

Only the oriented bands are computed: the residual high-pass and low-pass bands
are real-valued and carry no phase, so they carry no motion.  Each band is
computed at the reduced resolution its spectral support allows (level ``s`` at
``1/2**s`` of the input size), from one forward FFT per frame, with every mask
precomputed once in the constructor (as plenoptic does).

References
----------
.. [1] E. P. Simoncelli and W. T. Freeman, "The steerable pyramid: a flexible
   architecture for multi-scale derivative computation", ICIP 1995.
   https://doi.org/10.1109/ICIP.1995.537667
.. [2] J. Portilla and E. P. Simoncelli, "A parametric texture model based on
   joint statistics of complex wavelet coefficients", IJCV 40(1), 2000.
   https://doi.org/10.1023/A:1026553619983
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
import scipy.fft as sfft

from .._errors import ParameterError

__all__ = ["SteerablePyramid", "Band", "max_scales"]

_FFT_WORKERS = -1  # use every core for the FFTs


@dataclass(frozen=True)
class Band:
    """Description of one oriented band.

    Attributes
    ----------
    level : int
        Scale index, 0 is the finest.
    orientation : int
        Orientation index ``k``; the band's preferred spatial-frequency direction is
        ``angle = pi * k / orientations`` radians (x to the right, y down).
    shape : tuple of int
        ``(h, w)`` of the band's coefficients.
    angle : float
        Preferred orientation in radians.
    frequency : float
        Peak radial spatial frequency in radians per input pixel.
    """

    level: int
    orientation: int
    shape: tuple
    angle: float
    frequency: float


def max_scales(shape: tuple) -> int:
    """Return the largest number of scales a frame of ``shape`` supports.

    This is ``floor(log2(min(H, W))) - 2``, as in pyrtools: the coarsest band keeps at
    least 8 pixels on its short side.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` in pixels.

    Returns
    -------
    int
    """
    return max(int(np.floor(np.log2(min(shape)))) - 2, 0)


def _raised_cosine_sqrt(x: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Sqrt of a raised cosine: 0 below ``start``, 1 above ``stop`` (pyrtools' rcosFn)."""
    t = np.clip((x - start) / (stop - start), 0.0, 1.0)
    return np.abs(np.cos(np.pi / 2 * (1.0 - t)))  # cos^2 rises from 0 to 1, sqrt of it


def _level_crop(dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of the centred crop that halves a shifted spectrum (pyrtools)."""
    ctr = np.ceil((dims + 0.5) / 2).astype(int)
    lodims = np.ceil((dims - 0.5) / 2).astype(int)
    loctr = np.ceil((lodims + 0.5) / 2).astype(int)
    return ctr - loctr, lodims


class SteerablePyramid:
    """Complex steerable pyramid for a fixed frame shape, applied to batches of frames.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the frames, in pixels.
    scales : int or None, optional
        Number of scales (levels of oriented bands). ``None`` uses
        :func:`max_scales` of ``shape``, which keeps every band that fits.
    orientations : int, optional
        Number of orientations ``K`` per scale (2..16); default 4. The angular
        filters are ``cos(theta - pi*k/K)**(K-1)`` on one half-plane.
    highpass : bool, optional
        If True, also split the high-pass residual (radial frequencies from half
        Nyquist to Nyquist and the corners of the spectrum) into ``K`` complex
        oriented bands with the same angular filters, at full resolution, listed
        first with ``level=-1``. The real residual itself is never returned. Natural
        and noise textures hold a large share of their gradient energy there
        (often over half), so these bands matter for motion. Default False (the
        classical pyramid, identical to pyrtools).
    dtype : {np.float32, np.float64}, optional
        Precision of the input frames; coefficients are complex64 or complex128.

    Attributes
    ----------
    bands : list of Band
        The oriented bands, finest first, orientation fastest.

    Examples
    --------
    >>> import numpy as np
    >>> pyr = SteerablePyramid((64, 64), scales=2, orientations=4)
    >>> coeffs = pyr.forward(np.random.default_rng(0).normal(size=(3, 64, 64)))
    >>> [c.shape for c in coeffs][:5]
    [(3, 64, 64), (3, 64, 64), (3, 64, 64), (3, 64, 64), (3, 32, 32)]
    """

    def __init__(self, shape, *, scales=None, orientations=4, highpass=False, dtype=np.float32):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 8:
            raise ParameterError(
                f"frame shape {shape} is too small for a steerable pyramid; frames need at "
                "least 8x8 pixels (use a larger --roi or less --downsample)"
            )
        top = max_scales(shape)
        if scales is None:
            scales = top
        if not isinstance(scales, (int, np.integer)) or scales < 1:
            raise ParameterError(f"scales={scales!r} must be a positive integer")
        if scales > top:
            raise ParameterError(
                f"scales={scales} is too many for {shape[1]}x{shape[0]} frames: at most {top} "
                "(each scale halves the size; use fewer scales or a larger region)"
            )
        if not isinstance(orientations, (int, np.integer)) or not 2 <= orientations <= 16:
            raise ParameterError(f"orientations={orientations!r} must be an integer from 2 to 16")
        self.shape = shape
        self.scales = int(scales)
        self.orientations = int(orientations)
        self.highpass = bool(highpass)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ParameterError(f"dtype={dtype!r} must be float32 or float64")
        self.cdtype = np.complex64 if self.dtype == np.float32 else np.complex128
        self._build()

    # -- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        H, W = self.shape
        K = self.orientations
        order = K - 1
        dims = np.array([H, W])
        # Frequency grid in units of Nyquist (1 = pi rad/px), fft-shifted layout, as pyrtools.
        xr, yr = np.meshgrid(np.linspace(-1, 1, W + 1)[:-1], np.linspace(-1, 1, H + 1)[:-1])
        ctr = np.ceil((dims + 0.5) / 2).astype(int)
        angle = np.arctan2(yr, xr)
        rad = np.sqrt(xr**2 + yr**2)
        rad[ctr[0] - 1, ctr[1] - 1] = rad[ctr[0] - 1, ctr[1] - 2]
        log_rad = np.log2(rad)

        const = (2 ** (2 * order)) * (factorial(order) ** 2) / float(K * factorial(2 * order))
        # lo0: 1 below radius 1/2, 0 above radius 1.
        lo = np.sqrt(np.clip(1.0 - _raised_cosine_sqrt(log_rad, -1.0, 0.0) ** 2, 0.0, None))
        start = np.array([0, 0])
        self.bands: list[Band] = []
        self._masks: list[np.ndarray] = []
        self._index: list[tuple[np.ndarray, np.ndarray]] = []
        if self.highpass:
            hi0 = _raised_cosine_sqrt(log_rad, -1.0, 0.0)
            rows, cols = self._unshifted_index(start, (H, W))
            for k in range(K):
                alfa = np.mod(np.pi + angle - np.pi * k / K, 2 * np.pi) - np.pi
                amask = 2.0 * np.sqrt(const) * np.cos(alfa) ** order * (np.abs(alfa) < np.pi / 2)
                self._masks.append(sfft.ifftshift(((-1j) ** order) * hi0 * amask).astype(self.cdtype))
                self._index.append((rows, cols))
                self.bands.append(Band(-1, k, (H, W), np.pi * k / K, float(np.pi)))
        for level in range(self.scales):
            hi = _raised_cosine_sqrt(log_rad, -(level + 2.0), -(level + 1.0))
            h, w = log_rad.shape
            rows, cols = self._unshifted_index(start, (h, w))
            for k in range(K):
                alfa = np.mod(np.pi + angle - np.pi * k / K, 2 * np.pi) - np.pi
                amask = 2.0 * np.sqrt(const) * np.cos(alfa) ** order * (np.abs(alfa) < np.pi / 2)
                mask = ((-1j) ** order) * lo * amask * hi
                # Store in unshifted (FFT) order for the level's grid.
                self._masks.append(sfft.ifftshift(mask).astype(self.cdtype))
                self._index.append((rows, cols))
                peak = np.pi * 2.0 ** (-(level + 1.0))  # where the radial masks cross
                self.bands.append(Band(level, k, (h, w), np.pi * k / K, float(peak)))
            # Next level: crop the shifted spectrum to half size and apply the low-pass.
            lostart, lodims = _level_crop(np.array(log_rad.shape))
            sl = (slice(lostart[0], lostart[0] + lodims[0]), slice(lostart[1], lostart[1] + lodims[1]))
            start = start + lostart
            log_rad = log_rad[sl]
            angle = angle[sl]
            lo = lo[sl] * np.sqrt(
                np.clip(1.0 - _raised_cosine_sqrt(log_rad, -(level + 2.0), -(level + 1.0)) ** 2, 0.0, None)
            )
        # Group bands by level: one gather per level, then a batched multiply and inverse FFT.
        self._levels = []
        for level in ([-1] if self.highpass else []) + list(range(self.scales)):
            ids = [i for i, b in enumerate(self.bands) if b.level == level]
            rows, cols = self._index[ids[0]]
            masks = np.stack([self._masks[i] for i in ids])  # (K, h, w)
            self._levels.append((ids, rows, cols, masks))

    def _unshifted_index(self, start: np.ndarray, size: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Map a level's ifftshifted grid to indices of the full unshifted spectrum."""
        H, W = self.shape
        h, w = size
        u = np.arange(h)
        v = np.arange(w)
        rows = (start[0] + (u + h // 2) % h - H // 2) % H
        cols = (start[1] + (v + w // 2) % w - W // 2) % W
        return rows, cols

    # -- application --------------------------------------------------------------------------
    @property
    def levels(self) -> list[int]:
        """Level indices in order: ``-1`` (oriented high-pass, if enabled), then 0, 1, ..."""
        return [self.bands[ids[0]].level for ids, *_ in self._levels]

    @property
    def n_bands(self) -> int:
        """Number of oriented bands (``(scales + highpass) * orientations``)."""
        return len(self.bands)

    def spectrum(self, frames: np.ndarray) -> np.ndarray:
        """Return the 2-D FFT of frames ``(T, H, W)`` in the pyramid's complex dtype."""
        frames = self._check(frames)
        return sfft.fft2(frames, axes=(-2, -1), workers=_FFT_WORKERS)

    def forward(self, frames: np.ndarray) -> list[np.ndarray]:
        """Compute the oriented complex bands of a batch of frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(T, H, W) or (H, W)]
            Frames in grey levels.

        Returns
        -------
        list of np.ndarray
            One complex array per band, shape ``(T, h, w)`` (or ``(h, w)`` for a
            single frame), in the order of :attr:`bands`.
        """
        single = np.ndim(frames) == 2
        spec = self.spectrum(frames[None] if single else frames)
        out = self.bands_from_spectrum(spec)
        return [b[0] for b in out] if single else out

    def bands_from_spectrum(self, spec: np.ndarray) -> list[np.ndarray]:
        """Compute the bands from a spectrum returned by :meth:`spectrum`."""
        out: list = [None] * self.n_bands
        for ids, rows, cols, masks in self._levels:
            sub = spec[:, rows[:, None], cols[None, :]]  # (T, h, w)
            prod = sub[:, None, :, :] * masks[None]  # (T, K, h, w)
            coeffs = sfft.ifft2(prod, axes=(-2, -1), workers=_FFT_WORKERS, overwrite_x=True)
            for j, i in enumerate(ids):
                out[i] = coeffs[:, j]
        return out

    def level_masks(self, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(rows, cols, masks)`` of a level: spectrum indices and the ``(K, h, w)`` masks.

        ``level`` is a band level (``-1`` for the oriented high-pass bands).
        """
        for ids, rows, cols, masks in self._levels:
            if self.bands[ids[0]].level == level:
                return rows, cols, masks
        raise ParameterError(f"level={level} is not in this pyramid (levels {self.levels})")

    def _check(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(
                f"frames of shape {frames.shape} do not match the pyramid's frame shape "
                f"{self.shape}; build the pyramid for (T, {self.shape[0]}, {self.shape[1]}) input"
            )
        return frames.astype(self.dtype, copy=False)
