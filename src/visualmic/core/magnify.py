"""Phase-based motion magnification (Wadhwa et al. 2013), streamed chunk by chunk.

Each frame goes through the complex steerable pyramid.  In every oriented band
the local phase difference to a reference frame, ``Δφ = angle(c · conj(c_ref))``,
is proportional to the local displacement along the band's orientation.  A causal
Butterworth band-pass (second-order sections whose state is carried from one
chunk to the next, so a video streams in bounded memory) keeps the temporal band
of interest; optionally it is smoothed in space with the reference amplitude as
weight (which quiets the phase noise of weak, texture-less regions).  The band's
coefficients are turned by ``(A - 1)`` times the filtered phase, and the frame
is rebuilt by adding the change of the bands (:func:`visualmic.core.reconstruct.
reconstruct` of ``new - old``), so the residual bands, and motion outside the
temporal band, pass through untouched.  A motion in the band therefore comes out
``A`` times larger (at the band's centre, where the filter's gain is 1), up to
the point where the magnified phase wraps (keep ``A · motion`` well below a
quarter of the finest band's wavelength, about 1 px).

The causal filter delays the magnified component by its group delay (a few
periods of the band's centre frequency); the unmagnified image is not delayed.

References
----------
.. [1] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Phase-based video
   motion processing", ACM TOG 32(4) (SIGGRAPH 2013).
   https://doi.org/10.1145/2461912.2461966
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy import signal as ssig

from .._errors import ParameterError
from .._validate import check_band, check_rate, finite_number
from .pyramid import SteerablePyramid
from .reconstruct import reconstruct

__all__ = ["PhaseMagnifier", "magnify_frames"]


class PhaseMagnifier:
    """Stateful phase-based magnifier for frames of one shape; call it on consecutive chunks.

    Parameters
    ----------
    reference : np.ndarray [shape=(H, W)]
        Reference frame in grey levels (e.g. the first frame, or a mean of the first few).
    fps : float
        Frame rate in Hz.
    band : (float, float)
        Temporal pass band ``(lo, hi)`` in Hz, inside ``(0, fps/2)``.
    factor : float
        Magnification ``A > 0``: motion in the band comes out ``A`` times as large
        (1 leaves the video unchanged, 0.5 halves the motion).
    scales : int, optional
        Pyramid scales (default: all the frame size allows).
    orientations : int, optional
        Orientations per scale (default 4).
    highpass_bands : bool, optional
        Also magnify the oriented high-pass bands (default True: fine texture
        moves too).
    order : int, optional
        Butterworth order of the band-pass (default 2; the filter has ``2 * order`` poles).
    sigma : float, optional
        Standard deviation in pixels (of each band's own grid) of the
        amplitude-weighted Gaussian smoothing of the filtered phase; 0 (default) = none.
    dtype : {np.float32, np.float64}, optional
        Working precision (default float32).

    Attributes
    ----------
    overflow : float
        Largest share, over bands and chunks so far, of a band's structure
        (reference amplitude² weighted) whose added phase exceeded pi/2: above
        about 0.01 the magnified motion smears (lower the factor or narrow the band).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.normal(128, 20, size=(8, 32, 32))
    >>> mag = PhaseMagnifier(frames[0], fps=1000, band=(50, 150), factor=1.0)
    >>> bool(np.allclose(mag(frames), frames, atol=1e-3))
    True
    """

    def __init__(self, reference, *, fps: float, band, factor: float, scales=None,
                 orientations: int = 4, highpass_bands: bool = True, order: int = 2,
                 sigma: float = 0.0, dtype=np.float32):
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2:
            raise ParameterError(f"reference of shape {ref.shape} must be one frame (H, W)")
        if not np.isfinite(ref).all():
            raise ParameterError("reference holds NaN or infinite values; give finite grey levels")
        self.fps = check_rate(fps, "fps")
        self.band = check_band(band, self.fps)
        self.factor = finite_number("factor", factor, minimum=0.0, strict=True)
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not \
                1 <= order <= 8:
            raise ParameterError(f"order={order!r} must be an integer from 1 to 8")
        self.sigma = finite_number("sigma", sigma, minimum=0.0)
        self.shape = ref.shape
        # Even sizes: the pyramid's frequency grid is symmetric only then (exact rebuild).
        self._pad = (ref.shape[0] % 2, ref.shape[1] % 2)
        self.pyr = SteerablePyramid(self._even(ref[None])[0].shape, scales=scales,
                                    orientations=orientations, highpass=highpass_bands,
                                    dtype=dtype)
        ref_bands = self.pyr.forward(self._even(ref[None]).astype(self.pyr.dtype))
        self._ref_conj = [np.conj(b[0]) / np.maximum(np.abs(b[0]), 1e-12) for b in ref_bands]
        # Amplitude² of the reference, normalised per band: where the image has structure.
        self._energy = []
        for b in ref_bands:
            e = np.abs(b[0]).astype(np.float64) ** 2
            self._energy.append((e / max(e.sum(), 1e-300)).astype(self.pyr.dtype))
        self.overflow = 0.0
        self._weights = None
        if self.sigma > 0:
            amps = [np.abs(b[0]).astype(np.float64) for b in ref_bands]
            self._weights = [(a, ndimage.gaussian_filter(a, self.sigma) + 1e-12) for a in amps]
        self.sos = ssig.butter(int(order), self.band, btype="bandpass", fs=self.fps,
                               output="sos")
        self._state = [np.zeros((self.sos.shape[0], 2, *b.shape), np.float64)
                       for b in self.pyr.bands]
        self.frames_done = 0

    def _even(self, frames: np.ndarray) -> np.ndarray:
        if self._pad == (0, 0):
            return frames
        return np.pad(frames, ((0, 0), (0, self._pad[0]), (0, self._pad[1])), mode="edge")

    def __call__(self, frames) -> np.ndarray:
        """Magnify the next chunk of frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Consecutive frames in grey levels (the chunks must follow each other).

        Returns
        -------
        np.ndarray [shape=(t, H, W)]
            Magnified frames in the working dtype (not rounded or clipped).
        """
        x = np.asarray(frames)
        if x.ndim != 3 or x.shape[1:] != self.shape:
            raise ParameterError(
                f"frames of shape {x.shape} do not match the magnifier's frame shape "
                f"{self.shape}; give chunks (t, {self.shape[0]}, {self.shape[1]})"
            )
        if x.shape[0] == 0:
            return x.astype(self.pyr.dtype)
        xe = self._even(x.astype(self.pyr.dtype, copy=False))
        coeffs = self.pyr.forward(xe)
        deltas = []
        gain = self.factor - 1.0
        for i, c in enumerate(coeffs):
            dphi = np.angle(c * self._ref_conj[i][None])  # (t, h, w), radians
            filt, self._state[i] = ssig.sosfilt(self.sos, dphi, axis=0, zi=self._state[i])
            if self._weights is not None:
                amp, norm = self._weights[i]
                filt = ndimage.gaussian_filter(filt * amp[None], (0, self.sigma, self.sigma))
                filt /= norm[None]
            theta = (gain * filt).astype(self.pyr.dtype)
            big = (np.abs(theta) > np.pi / 2).mean(axis=0, dtype=self.pyr.dtype)
            self.overflow = max(self.overflow, float((big * self._energy[i]).sum()))
            turn = np.empty(c.shape, c.dtype)  # exp(i theta) - 1, accurate for small theta
            half = np.sin(0.5 * theta)
            turn.real = -2.0 * half * half
            turn.imag = np.sin(theta)
            turn *= c
            deltas.append(turn)
        out = xe + reconstruct(self.pyr, deltas)
        self.frames_done += x.shape[0]
        return out[:, : self.shape[0], : self.shape[1]]


def magnify_frames(frames, *, fps: float, band, factor: float, reference: int = 1,
                   chunk: int = 64, **options) -> np.ndarray:
    """Magnify an in-memory video (see :class:`PhaseMagnifier` for the options).

    Parameters
    ----------
    frames : np.ndarray [shape=(T, H, W)]
        Grey levels.
    fps, band, factor
        As in :class:`PhaseMagnifier`.
    reference : int, optional
        The reference frame is the mean of the first ``reference`` frames.
    chunk : int, optional
        Frames per batch (results do not depend on it).

    Returns
    -------
    np.ndarray [shape=(T, H, W)]
        Magnified frames (float, not rounded).
    """
    x = np.asarray(frames)
    if x.ndim != 3 or x.shape[0] < 1:
        raise ParameterError(f"frames of shape {x.shape} must be a video (T, H, W)")
    if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)) or not \
            1 <= reference <= x.shape[0]:
        raise ParameterError(f"reference={reference!r} must be from 1 to the {x.shape[0]} frames")
    mag = PhaseMagnifier(x[:reference].astype(np.float64).mean(axis=0), fps=fps, band=band,
                         factor=factor, **options)
    return np.concatenate([mag(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])
