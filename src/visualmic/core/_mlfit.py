"""Maximum-likelihood fits behind :mod:`visualmic.core.spatial` (private to the core layer).

Leave-one-out gain and noise fits of channels against their weighted sum, the
chi-square test and garrote that decide the cell weights, the broadband fit of band
and cell weights (:class:`Broadband`), the per-sub-band cell weights
(:func:`subband_weights`) and the right-angle band profile (:func:`rotate_profile`).
Shapes: channels first, time (or DFT bins) last.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from .combine import best_lag, combine_bands

EPS = 1e-300
P_AGREE = 1e-3  # false-alarm rate of the chi-square tests "cells differ"
#: A sub-band uses its own cell weights only if they promise this SNR ratio (1 dB)
#: over the broadband weights in that sub-band.
ADAPT_GAIN = 10 ** 1.0
#: Largest per-sample (per-bin) SNR one channel is credited with (linear, 30 dB).
MAX_CHANNEL_SNR = 1e3
#: Least combined power SNR (linear, 10 dB) of a sub-band before its weights may adapt.
SUBBAND_MIN_SNR = 10.0


def loo_fit(sig: np.ndarray, w: np.ndarray, unit: np.ndarray, *, bins: float):
    """Leave-one-out gains, noise and weight t-statistics of channels against their sum.

    ``sig`` (n, m) real or complex, current weights ``w`` (n,), the channels' unit
    responses ``unit`` (n,) fixing the scale of the estimate ``sum w sig / sum |w| unit``.
    ``bins`` is 1 for real samples and 2 for complex DFT bins (real degrees of
    freedom per entry). Returns ``(gain, noise, alpha_hat, se)`` with
    ``alpha_hat = gain / noise`` and ``se`` its standard error. With fewer than three
    channels (or one carrying all the weight) each is fitted against the whole sum,
    as :func:`visualmic.core.combine.combine_bands` does.
    """
    total = w @ sig
    norm = float(np.abs(w) @ unit)
    own = np.abs(w) * unit
    if len(w) > 2 and np.all(norm - own > 1e-9 * norm):
        loo = (total[None, :] - w[:, None] * sig) / (norm - own)[:, None]
    else:
        loo = np.broadcast_to(total / max(norm, EPS), sig.shape)
    ll = np.einsum("nt,nt->n", loo, loo.conj()).real + EPS
    gain = np.einsum("nt,nt->n", sig, loo.conj()).real / ll
    r = sig - gain[:, None] * loo
    # A channel must not claim a noise of ~0 (a silent channel, or one that carries nearly
    # all the weight and so fits itself): its weight gain / noise would explode. No
    # channel is credited with more than MAX_CHANNEL_SNR (30 dB) per sample or bin, and
    # silent channels get no gain.
    power = np.mean((sig * sig.conj()).real, axis=1)
    floor = 1e-12 * max(float(np.median(power)), EPS) + EPS
    gain = np.where(power > floor, gain, 0.0)
    noise = np.maximum(np.mean((r * r.conj()).real, axis=1),
                       np.maximum(power / MAX_CHANNEL_SNR, floor))
    se_gain = np.sqrt(noise / (bins * ll))
    se_gain = np.minimum(se_gain, 1e150)
    return gain, noise, gain / noise, se_gain / noise


def shrink(alpha: np.ndarray, se: np.ndarray, target: np.ndarray, tau: float):
    """Chi-square test of ``alpha`` against ``target`` (fitted scale), then a garrote.

    Returns ``(weights, differs)``: the target scaled by least squares if the
    deviations are consistent with noise, else target plus the garroted deviations.
    """
    iv = 1.0 / np.clip(se, 1e-150, 1e150) ** 2
    tt = float(np.sum(iv * target * target))
    scale = float(np.sum(iv * alpha * target)) / tt if tt > 0 else 0.0
    dev = alpha - scale * target
    z = dev / np.maximum(se, EPS)
    q = float(np.sum(z * z))
    n = len(alpha)
    if n < 3 or q <= chi2.isf(P_AGREE, n - 1):
        return scale * target, False
    keep = np.clip(1.0 - tau**2 / np.maximum(z * z, EPS), 0.0, 1.0)
    return scale * target + keep * dev, True


def garrote(alpha: np.ndarray, se: np.ndarray, tau: float) -> np.ndarray:
    """Garrote ``alpha`` towards 0: ``alpha * max(0, 1 - tau**2 / z**2)``."""
    z = alpha / np.maximum(se, EPS)
    return alpha * np.clip(1.0 - tau**2 / np.maximum(z * z, EPS), 0.0, 1.0)


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """``y[..., t] = x[..., t - lag]`` with zeros shifted in."""
    y = np.zeros_like(x)
    if lag > 0:
        y[..., lag:] = x[..., :-lag]
    elif lag < 0:
        y[..., :lag] = x[..., -lag:]
    else:
        y[...] = x
    return y


class Broadband:
    """State of the broadband fit (band weights, cell weights, lags, unit responses)."""

    def __init__(self, x: np.ndarray, share: np.ndarray, *, max_lag: int, iterations: int):
        nb, nc, T = x.shape
        self.tau = max(3.0, float(np.sqrt(2.0 * np.log(max(nc, 2)))))
        self.share = share
        whole = combine_bands(x.sum(axis=1), max_lag=0)
        self.beta = whole.weights * whole.signs
        self.g_band = whole.gains * whole.signs
        self.alpha = np.ones(nc)
        self.lags = np.zeros(nc, dtype=int)
        self.G = np.ones(nb)
        self.d = whole.signal
        self.uniform = True
        for it in range(iterations):
            y = np.einsum("b,bct->ct", self.beta, x)
            # Cells against the current estimate (leave-one-out); the first pass is
            # against the whole-frame estimate (all cells with weight 1).
            _, _, a_hat, se = loo_fit(y, self.alpha, self._unit(), bins=1.0)
            alpha, differs = shrink(a_hat, se, np.ones(nc), self.tau)
            if differs:
                alpha = garrote(a_hat, se, self.tau)
            self.uniform = not differs
            if not np.any(alpha):
                alpha = np.ones(nc)  # nothing significant: keep the whole frame
                self.uniform = True
            self.alpha, self.z = alpha, a_hat / np.maximum(se, EPS)
            if it == 2 and max_lag > 0 and not self.uniform:
                self._align(x, y, max_lag)
            self._fit_bands(x)
            d = self.alpha @ np.einsum("b,bct->ct", self.beta, x) / max(
                float(np.abs(self.alpha) @ self._unit()), EPS)
            done = np.allclose(d, self.d, rtol=1e-6, atol=1e-9 * (np.abs(d).max() + EPS))
            self.d = d
            if done and it > 3:
                break

    def _unit(self) -> np.ndarray:
        """``U[c] = sum_b beta[b] share[b, c] G[b]``: response of ``y[c]`` to a unit motion."""
        return np.abs(np.einsum("b,bc,b->c", self.beta, self.share, self.G)) + EPS

    def measured_unit(self, x: np.ndarray) -> np.ndarray:
        """Unit responses measured where the broadband estimate is seen, modelled elsewhere.

        A significant cell's ``|gamma[c]|`` (gain of ``y[c]`` against the estimate) is
        its response; other cells use the model :meth:`_unit` scaled to agree with the
        measured cells (least squares), so that every sub-band is in the same units.
        """
        y = np.einsum("b,bct->ct", self.beta, x)
        gam = np.abs(y @ self.d) / (float(self.d @ self.d) + EPS)
        model = self._unit()
        sig = self.alpha != 0
        if not np.any(sig):
            return model, 1.0
        k = float(gam[sig] @ model[sig]) / (float(model[sig] @ model[sig]) + EPS)
        return np.where(sig, np.maximum(gam, EPS), k * model + EPS), k

    def _fit_bands(self, x: np.ndarray) -> None:
        """Band weights from the alpha-weighted band signals, and the bands' unit gains."""
        z = np.einsum("c,bct->bt", self.alpha, x)
        if len(z) == 1:  # one band: nothing to weigh
            self.beta = np.ones(1)
            self.g_band = np.ones(1)
            self.G = np.ones(1)
            return
        unit = np.abs(self.g_band) + EPS
        g, _, beta, _ = loo_fit(z, self.beta, unit, bins=1.0)
        scale = float(np.abs(self.beta) @ unit) / max(float(np.abs(beta) @ np.abs(g)), EPS)
        self.beta = beta * scale  # leave-one-out, as combine_bands (scale kept)
        self.g_band = g
        # Gain per unit share of band energy, over the weighted cells.
        den = np.abs(self.alpha) @ self.share.T + EPS  # (nb,)
        G = g / den
        self.G = G / (np.abs(G).max() + EPS)

    def _align(self, x: np.ndarray, y: np.ndarray, max_lag: int) -> None:
        """Bounded, sign-aware lag of each significant cell against the estimate."""
        T = x.shape[-1]
        margin = 3.0 / np.sqrt(T)
        for c in np.nonzero(self.alpha)[0]:
            lag, corr = best_lag(y[c], self.d, max_lag=max_lag)
            if lag != 0:
                _, c0 = best_lag(y[c], self.d, max_lag=0)
                if abs(corr) - abs(c0) < margin:
                    lag = 0
            if lag != 0:
                self.lags[c] += lag
                x[:, c] = shift(x[:, c], lag)


def subband_weights(Yk: np.ndarray, alpha0: np.ndarray, unit: np.ndarray, tau: float,
             iterations: int) -> tuple[np.ndarray, bool, np.ndarray]:
    """Cell weights in one sub-band from the cells' DFT bins ``Yk`` (n_cells, m).

    Started from the first principal component of the cells (each normalised to
    unit power), iterated leave-one-out, then tested against the broadband weights
    ``alpha0`` (:func:`shrink`). Returns ``(weights, adapted, snr)`` with ``snr``
    the per-cell power SNR in the sub-band (linear).
    """
    nc, m = Yk.shape
    if m < 2 or nc < 2:
        return alpha0, False, np.zeros(nc)
    p = np.sqrt(np.mean(np.abs(Yk) ** 2, axis=1)) + EPS
    Z = Yk / p[:, None]
    _, vec = np.linalg.eigh((Z @ Z.conj().T).real)
    w = vec[:, -1] / p
    w *= np.sign(w @ alpha0) or 1.0
    gam = nu = None
    for _ in range(iterations):
        gam, nu, a_hat, se = loo_fit(Yk, w, unit, bins=2.0)
        new = garrote(a_hat, se, tau)
        if not np.any(new):
            new = a_hat
        if np.allclose(new, w, rtol=1e-5, atol=1e-12 * (np.abs(new).max() + EPS)):
            w = new
            break
        w = new
    d = w @ Yk / max(float(np.abs(w) @ unit), EPS)
    snr = gam**2 * float(np.sum(np.abs(d) ** 2)) / (nu * m)
    gam, nu, a_hat, se = loo_fit(Yk, w, unit, bins=2.0)
    weights, adapted = shrink(a_hat, se, alpha0, tau)
    if not adapted:
        return alpha0, False, snr
    # A sub-band that carries no clear signal keeps the broadband weights: fitted to
    # noise alone, its "weights" only add noise (measured: a pure tone lost 10 dB when
    # the noise-only sub-bands around it adapted). The combined power SNR of the
    # sub-band must beat both a fixed 10 dB and what fitting nc weights to m bins of
    # noise alone gives (about nc / m).
    # Judged with the broadband weights, which cannot fit the sub-band's noise, or with the
    # sub-band's own fit without its strongest channel (a fit to noise alone can make one
    # channel look clean, never several).
    gam0, nu0, _, _ = loo_fit(Yk, alpha0, unit, bins=2.0)
    d0 = alpha0 @ Yk / max(float(np.abs(alpha0) @ unit), EPS)
    snr0 = gam0**2 * float(np.sum(np.abs(d0) ** 2)) / (nu0 * m)
    need = max(SUBBAND_MIN_SNR, SUBBAND_MIN_SNR * nc / m)
    if float(np.sum(snr0)) < need and float(np.sum(snr) - np.max(snr)) < need:
        return alpha0, False, snr
    # Adopt the sub-band's own weights only if they promise a clearly better SNR in
    # the sub-band than the broadband weights (both judged with the same gains).
    def gain(v):
        return float(v @ gam) ** 2 / max(float((v * v) @ nu), EPS)
    if gain(weights) < ADAPT_GAIN * gain(alpha0):
        return alpha0, False, snr
    if float(np.sum(weights * alpha0 / np.clip(se, 1e-150, 1e150) ** 2)) < 0:
        weights = -weights  # keep the broadband polarity
    return weights, True, snr


def rotate_profile(beta: np.ndarray, orientations) -> np.ndarray | None:
    """Band profile for motion at right angles: orientation ``k`` takes ``k - K/2``'s value.

    A band of orientation ``theta_k = pi k / K`` responds to motion along ``phi`` as
    ``cos(theta_k - phi)``; for ``phi + 90°`` that is band ``theta_k - 90°``, negated when
    it wraps below 0. Assumes bands ordered level by level, orientation fastest, and
    roughly isotropic textures. None when it does not apply (``K`` odd or unknown).
    """
    if orientations is None:
        return None
    K = int(orientations)
    if K < 2 or K % 2 or len(beta) % K:
        return None
    b = np.asarray(beta).reshape(-1, K)
    out = np.empty_like(b)
    h = K // 2
    out[:, h:] = b[:, :h]
    out[:, :h] = -b[:, h:]
    return out.reshape(-1)
