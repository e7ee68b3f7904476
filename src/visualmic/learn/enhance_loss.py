"""Losses and validation scores of the enhancer."""

from __future__ import annotations

import math

import numpy as np
import torch

from .enhance import EnhancerNet
from .enhance_config import BAND, scored_band

__all__ = ["si_sdr", "band_si_sdr", "multires_stft_loss", "enhancer_loss", "validate", "baselines"]

# --------------------------------------------------------------------------- losses


def si_sdr(estimate: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per row ``(B, n) -> (B,)``: ``10 log10(ρ² / (1 − ρ²))``.

    ρ is the normalised correlation of estimate and target.  The SNR after the
    least-squares scaling of :func:`visualmic.eval.metrics.snr` (the project's bar)
    is ``10 log10(1 / (1 − ρ²))``, a monotonic function of it:
    ``SNR = 10 log10(1 + 10^(SI-SDR / 10))``, so maximising one maximises the other.
    """
    dot = (estimate * target).sum(-1)
    ee = (estimate * estimate).sum(-1)
    tt = (target * target).sum(-1)
    rho2 = dot * dot / (ee * tt + eps * eps)
    rho2 = rho2.clamp(0.0, 1.0 - 1e-7)
    return 10 * torch.log10(rho2 / (1 - rho2) + eps)


def band_limit(y: torch.Tensor, rate: float, band=BAND) -> torch.Tensor:
    n = y.shape[-1]
    spec = torch.fft.rfft(y)
    f = torch.fft.rfftfreq(n, 1.0 / rate)
    mask = ((f >= band[0]) & (f <= band[1])).to(spec.dtype)
    return torch.fft.irfft(spec * mask, n=n)


def band_si_sdr(estimate: torch.Tensor, target: torch.Tensor, *, rate: float,
                band=BAND) -> torch.Tensor:
    """SI-SDR (dB) of the ``band`` (Hz, ideal FFT band-pass) of each row ``(B, n) -> (B,)``."""
    return si_sdr(band_limit(estimate, rate, band), band_limit(target, rate, band))


def multires_stft_loss(estimate: torch.Tensor, target: torch.Tensor,
                       resolutions=((64, 16), (128, 32), (256, 64))) -> torch.Tensor:
    """Multi-resolution STFT loss (spectral convergence + L1 log magnitude), a scalar.

    Both signals are divided by the target's RMS first, so the loss does not
    depend on units.
    """
    scale = target.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12)
    e, t = estimate / scale, target / scale
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        w = torch.hann_window(n_fft, device=e.device)
        E = torch.stft(e, n_fft, hop, window=w, return_complex=True).abs()
        T = torch.stft(t, n_fft, hop, window=w, return_complex=True).abs()
        sc = torch.linalg.vector_norm(T - E, dim=(-2, -1)) / torch.linalg.vector_norm(
            T, dim=(-2, -1)).clamp_min(1e-8)
        floor = 1e-3 * math.sqrt(n_fft)
        logmag = (torch.log(T + floor) - torch.log(E + floor)).abs().mean(dim=(-2, -1))
        total = total + (sc + logmag).mean()
    return total / len(resolutions)


def enhancer_loss(estimate: torch.Tensor, target: torch.Tensor, *, rate: float,
                  stft_weight: float = 1.0, noisy: torch.Tensor | None = None) -> torch.Tensor:
    """Training loss: ``−mean band SI-SDR (dB) + stft_weight · multi-resolution STFT loss``.

    Rows whose target is silent (no SI-SDR exists) count instead by the
    energy the output keeps of the input ``noisy`` (``10 log10(E_out/E_in)``
    in dB, floored at −30 dB: the less, the better).
    """
    energy = target.pow(2).sum(-1)
    sound = energy > 1e-12 * estimate.pow(2).sum(-1).clamp_min(1e-30)
    parts = []
    if bool(sound.any()):
        parts.append(-band_si_sdr(estimate[sound], target[sound], rate=rate))
        if stft_weight:
            parts[-1] = parts[-1] + stft_weight * multires_stft_loss(estimate[sound], target[sound])
    if noisy is not None and bool((~sound).any()):
        kept = estimate[~sound].pow(2).sum(-1) / noisy[~sound].pow(2).sum(-1).clamp_min(1e-30)
        parts.append(10 * torch.log10(kept + 1e-3))
    if not parts:
        return estimate.new_zeros(())
    return torch.cat([q.reshape(-1) for q in parts]).mean()


# --------------------------------------------------------------------------- validation


def baselines(val: list[dict], rate: float) -> list[dict]:
    """Raw and spectral-subtraction SNRs (dB, scored band) of each validation mixture."""
    from ..core.post import spectral_subtraction
    from ..eval.metrics import snr

    out = []
    for v in val:
        est, tgt = v["estimate"].astype(np.float64), v["target"].astype(np.float64)
        src = v.get("rate", rate)
        r, band = min(src, rate), scored_band(src)
        raw = snr(est, tgt, rate=r, band=band, max_lag=3)
        ss = snr(spectral_subtraction(est, r), tgt, rate=r, band=band, max_lag=3)
        out.append({"raw": raw, "specsub": ss})
    return out


def validate(model: EnhancerNet, val: list[dict], *, rate: float, stft_weight: float,
             base_scores: list[dict] | None = None) -> dict:
    """Score a model on the validation mixtures (no gradient, evaluation mode, then back).

    Returns
    -------
    dict
        ``loss`` (mean training loss), ``snr_db`` (mean enhanced SNR in each
        mixture's scored band, LS scale, best lag within ±3), ``gain_db`` (mean
        gain over the better of the raw and spectral-subtraction outputs),
        ``gain_over_raw_db`` (mean), ``worst_gain_db`` (over raw),
        ``per_video`` gains over raw.
    """
    from ..eval.metrics import snr

    was_training = model.training
    model.eval()
    losses, snrs, gains, over_raw = [], [], [], []
    base = base_scores or baselines(val, rate)
    try:
        with torch.no_grad():
            for v, b in zip(val, base):
                x = torch.from_numpy(v["estimate"].astype(np.float32))[None]
                t = torch.from_numpy(v["target"].astype(np.float32))[None]
                ref = v.get("reference")
                ref = None if ref is None else torch.from_numpy(ref.astype(np.float32))[None]
                y = model.enhance(x, reference=ref)
                losses.append(float(enhancer_loss(y, t, rate=rate, stft_weight=stft_weight)))
                src = v.get("rate", rate)
                s = snr(y[0].double().numpy(), v["target"].astype(np.float64),
                        rate=min(src, rate), band=scored_band(src), max_lag=3)
                snrs.append(s)
                gains.append(s - max(b["raw"], b["specsub"]))
                over_raw.append(s - b["raw"])
    finally:
        model.train(was_training)
    return {
        "loss": float(np.mean(losses)),
        "snr_db": float(np.mean(snrs)),
        "gain_db": float(np.mean(gains)),
        "gain_over_raw_db": float(np.mean(over_raw)),
        "worst_gain_db": float(np.min(over_raw)),
        "per_video": [round(g, 2) for g in over_raw],
    }
