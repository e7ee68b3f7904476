"""Textures: band-limited procedural noise and the photographs shipped with scikit-image."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from .._errors import ParameterError
from ._common import make_rng, shape2

__all__ = ["TEXTURES", "PHOTO_TEXTURES", "make_texture"]

#: Photographs shipped inside scikit-image (``skimage.data``) that load without
#: a network connection in scikit-image >= 0.22.
PHOTO_TEXTURES = (
    "camera",
    "astronaut",
    "brick",
    "grass",
    "gravel",
    "coffee",
    "chelsea",
    "moon",
    "text",
    "rocket",
    "coins",
    "page",
    "immunohistochemistry",
)

#: Every texture kind :func:`make_texture` accepts.
TEXTURES = ("noise",) + PHOTO_TEXTURES

# Procedural texture: mean and standard deviation on the 8-bit scale, and the
# radial pass band in cycles/px (raised-cosine edges between the pairs).
_NOISE_MEAN = 128.0
_NOISE_STD = 40.0
_NOISE_RISE = (1 / 64, 1 / 32)
_NOISE_FALL = (0.2, 0.4)
# Soft limiter: identity within ±_KNEE of the mean, tanh saturation beyond, so
# the texture stays inside [mean − _KNEE − _SPAN, mean + _KNEE + _SPAN] = [4, 252].
_KNEE = 96.0
_SPAN = 28.0


# --------------------------------------------------------------------------- textures


def _raised_cosine(f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Smooth step from 0 (f <= lo) to 1 (f >= hi) with a raised-cosine edge."""
    t = np.clip((f - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def _soft_limit(x: np.ndarray, mean: float) -> np.ndarray:
    """Identity within ±_KNEE of ``mean``; smooth tanh saturation beyond (C¹)."""
    s = x - mean
    a = np.abs(s)
    over = a > _KNEE
    a[over] = _KNEE + _SPAN * np.tanh((a[over] - _KNEE) / _SPAN)
    return mean + np.sign(s) * a


def _noise_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    white = rng.standard_normal((h, w))
    fy = sfft.fftfreq(h)[:, None]
    fx = sfft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    gain = _raised_cosine(f, *_NOISE_RISE) * (1.0 - _raised_cosine(f, *_NOISE_FALL))
    tex = sfft.irfft2(sfft.rfft2(white) * gain, s=(h, w))
    std = tex.std()
    if std == 0:  # pragma: no cover - only for degenerate 1-pixel pass bands
        return np.full((h, w), _NOISE_MEAN)
    tex = _NOISE_MEAN + (tex - tex.mean()) * (_NOISE_STD / std)
    return _soft_limit(tex, _NOISE_MEAN)


def _load_photo(kind: str) -> np.ndarray:
    """Load a scikit-image photograph as float64 grey levels on the 8-bit scale."""
    from skimage import color, data, util

    img = getattr(data, kind)()
    if img.ndim == 3:
        if img.shape[-1] == 4:
            img = color.rgba2rgb(img)
        img = color.rgb2gray(img)
    return util.img_as_float64(img) * 255.0


def _periodic_component(u: np.ndarray) -> np.ndarray:
    """Periodic part of the periodic + smooth decomposition of an image.

    L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging
    Vis. 39, 2011, doi:10.1007/s10851-010-0227-1.  Removing the smooth part
    removes the jump between opposite borders, so a Fourier shift of the
    result does not ring at the seam.
    """
    h, w = u.shape
    v = np.zeros_like(u)
    v[0, :] += u[-1, :] - u[0, :]
    v[-1, :] += u[0, :] - u[-1, :]
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] += u[:, 0] - u[:, -1]
    cy = np.cos(2 * np.pi * np.arange(h) / h)[:, None]
    cx = np.cos(2 * np.pi * np.arange(w) / w)[None, :]
    den = 2 * cy + 2 * cx - 4
    den[0, 0] = 1.0
    s_hat = sfft.fft2(v) / den
    s_hat[0, 0] = 0.0
    return u - np.real(sfft.ifft2(s_hat))


def _photo_texture(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    from skimage.transform import resize

    photo = _load_photo(kind)
    ph, pw = photo.shape
    h, w = shape
    # Crop a window of the target's aspect ratio, at most twice the target size
    # (so fine detail survives), at a random position; resize it to the target.
    scale = min(ph / h, pw / w, 2.0)
    ch = min(ph, max(1, round(h * scale)))
    cw = min(pw, max(1, round(w * scale)))
    top = int(rng.integers(0, ph - ch + 1))
    left = int(rng.integers(0, pw - cw + 1))
    crop = photo[top : top + ch, left : left + cw]
    if (ch, cw) != (h, w):
        crop = resize(crop, (h, w), order=3, mode="reflect",
                      anti_aliasing=scale > 1, preserve_range=True)
    tex = _periodic_component(np.asarray(crop, dtype=np.float64))
    # Keep the texture inside [1, 254] so that sensor noise rarely clips.
    m = float(tex.mean())
    lo, hi = float(tex.min()), float(tex.max())
    k = 1.0
    if hi > 254.0:
        k = min(k, (254.0 - m) / (hi - m))
    if lo < 1.0:
        k = min(k, (m - 1.0) / (m - lo))
    return m + k * (tex - m) if k < 1.0 else tex


def make_texture(shape, *, kind: str = "noise", seed=0) -> np.ndarray:
    """Make a periodic grey texture on the 8-bit scale.

    Parameters
    ----------
    shape : int or tuple (H, W) of int
        Texture size in pixels (each at least 8).
    kind : str, default "noise"
        One of :data:`TEXTURES`.  ``"noise"``: white Gaussian noise filtered in
        the Fourier domain by a smooth radial band-pass (raised-cosine rise
        from 1/64 to 1/32 cycles/px, flat to 0.2, raised-cosine fall to zero
        at 0.4, nothing near Nyquist), rescaled to mean 128 and standard
        deviation 40 and passed through a smooth limiter so that it stays in
        [4, 252].  Any other name is a photograph from ``skimage.data``
        (:data:`PHOTO_TEXTURES`): converted to grey, a window of the
        target's aspect ratio and at most twice its size is cropped at a
        random position and resized to ``shape`` (anti-aliased when
        shrinking), then made periodic by removing the smooth component of
        Moisan's periodic + smooth decomposition, and compressed towards its
        mean if needed to stay in [1, 254].
    seed : int, default 0
        Seed of the noise or of the crop position.

    Returns
    -------
    np.ndarray [shape=(H, W)], float64
        Grey levels on the 8-bit scale.  The texture is periodic (opposite
        borders join smoothly), so a Fourier shift of it has no seam.

    Raises
    ------
    ParameterError
        If ``shape`` is too small or ``kind`` is unknown.
    """
    shp = shape2("shape", shape, minimum=8)
    rng = make_rng(seed)
    if kind == "noise":
        return _noise_texture(shp, rng)
    if kind in PHOTO_TEXTURES:
        return _photo_texture(kind, shp, rng)
    raise ParameterError(f"texture={kind!r} is unknown; choose one of {', '.join(TEXTURES)}")
