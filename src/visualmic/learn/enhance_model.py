"""Hybrid enhancement: a learned time-frequency mask on the classical motion signal.

The classical pipeline (:func:`visualmic.recover`) is close to the Cramér–Rao
bound for each frame on its own: what is left is white sensor noise that no
per-frame estimator can remove.  Sound, however, is structured (harmonics,
formants, onsets, pauses) and is sparse in time and frequency, so a model of the
*signal* can remove noise that the per-frame bound allows — the job of a
speech-enhancement network.  :class:`EnhancerNet` is such a network, sized for
a CPU:

1. the combined motion signal ``y`` (the maximum-likelihood combination of all
   pyramid bands, high-passed) is transformed with an STFT (Hann window
   ``n_fft`` = 128 samples, hop 32: 58 ms and 17 Hz resolution at 2200 Hz);
2. the noise power of every frequency bin is estimated from the signal itself
   (a low quantile of the bin's power over time, scaled to the mean of an
   exponential distribution and smoothed across frequency), so the input is the
   *a-posteriori SNR* ``|Y|² / N(f)`` in decibels: the features and therefore
   the mask do not depend on the scale of ``y`` (radians, pixels or any gain);
3. two small 2-D convolutions over (frequency, time), then a stack of dilated
   depth-wise-separable residual blocks over time (a temporal convolutional
   network, receptive field ±80 frames = ±1.2 s at 2200 Hz) predict a real mask
   ``M ∈ [0, mask_max]`` per bin;
4. the enhanced signal is the inverse STFT of ``M · Y`` (the noisy phase kept).

Why the combined signal and not the band signals: under the model of
:mod:`visualmic.core.combine` (each band ``s_b = g_b d + n_b`` with Gaussian noise),
the weighted combination is a sufficient statistic for ``d``; the bands have
already contributed through their maximum-likelihood weights.  A per-band input
would only let the network re-learn that combination.

Everything is per-frame normalised or convolutional, so processing a long
signal in chunks (with enough context, see :meth:`EnhancerNet.context`) gives
the same result as processing it at once; :meth:`Enhancer.__call__` does this
with ``chunk_frames``.

This module holds the model, its configuration and inference; it knows nothing
of training (see :mod:`visualmic.learn.enhance_train`).

References
----------
.. [1] A. Davis et al., "The visual microphone: passive recovery of sound from
   video", ACM TOG 33(4), 2014. https://doi.org/10.1145/2601097.2601119
.. [2] Y. Luo and N. Mesgarani, "Conv-TasNet: surpassing ideal time-frequency
   magnitude masking for speech separation", IEEE/ACM TASLP 27(8), 2019.
   https://doi.org/10.1109/TASLP.2019.2915167
.. [3] H. Erdogan, J. R. Hershey, S. Watanabe and J. Le Roux, "Phase-sensitive
   and recognition-boosted speech separation using deep recurrent neural
   networks", ICASSP 2015. https://doi.org/10.1109/ICASSP.2015.7178061
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ModelError, ParameterError

__all__ = ["EnhancerConfig", "EnhancerNet"]


@dataclass(frozen=True)
class EnhancerConfig:
    """Architecture and signal parameters of :class:`EnhancerNet`.

    Attributes
    ----------
    rate : float
        Sampling rate (Hz) the model was trained at; other rates are resampled
        to it (see :class:`Enhancer`).  Default 2200 (a 2200 fps camera).
    n_fft : int
        STFT window length in samples (Hann); ``n_fft // 2 + 1`` frequency bins.
    hop : int
        STFT hop in samples (``n_fft`` must be a multiple of it).
    front_channels : int
        Channels of the two 2-D convolutions over (frequency, time).
    front_kernel : tuple of int
        ``(frequency, time)`` kernel size of those convolutions (odd numbers).
    channels : int
        Channels between the residual blocks (bottleneck).
    hidden : int
        Channels inside each residual block.
    dilations : tuple of int
        One residual block per entry, with this time dilation (kernel 3).
    mask_max : float
        Upper bound of the mask (values above 1 let the model undo destructive
        interference of noise and signal).
    noise_quantile : float
        Quantile of each bin's power over time taken as its noise level (0.2:
        robust to a signal present in up to ~70% of the frames of a bin).
    noise_smooth : int
        Width (bins, odd) of the median filter across frequency applied to the
        noise estimate.
    feature_range_db : tuple of float
        A-posteriori SNRs are clipped to this range (dB) before the network.
    guard : bool
        The safeguard (see :meth:`EnhancerNet.guard_floor`): where a bin's
        a-posteriori SNR shows the signal with high confidence, the mask is
        floored at the power-subtraction gain ``sqrt(1 - 1/γ)``, so the
        enhancer cannot remove more than the estimated noise from it,
        whatever the network says.  Default True.
    guard_db : tuple of float
        ``(lo, hi)`` in dB: the floor is off below ``lo`` (a noise-only bin
        exceeds 6 dB with probability e^-4 = 2%), fully on above ``hi`` (12 dB:
        probability 1e-7), and ramps linearly in dB in between.
    reference_margin_db : float or None
        With a noise reference (see :meth:`EnhancerNet.enhance`), a bin's
        noise estimate is capped at the reference's power plus this margin
        (dB; default 2): the reference of ``recover`` (two halves of the frame,
        see :func:`visualmic.core.spatial.split_half_noise_cells`) reads
        0.80-0.98x the output's noise.  ``None``: references are ignored (checkpoints
        written before them).
    white_cap_db : float or None
        The noise estimate of a bin is capped at this many dB above the
        signal's white-noise level (the 30th percentile of the per-bin
        estimates across frequency), because the classical estimate's noise is
        white to ±30%: a sound that fills a bin most of the time (dense
        harmonics, a hum, sustained notes at high SNR) otherwise reads as
        noise there.  ``None``: no cap (checkpoints written before it).
    white_quantile : float
        The quantile across frequency bins of the per-bin noise estimates that
        is taken as the white-noise level for ``white_cap_db``.
    """

    rate: float = 2200.0
    n_fft: int = 128
    hop: int = 32
    front_channels: int = 8
    front_kernel: tuple = (5, 3)
    channels: int = 96
    hidden: int = 192
    dilations: tuple = (1, 2, 4, 8, 16, 32, 1, 2, 4, 8)
    mask_max: float = 1.2
    noise_quantile: float = 0.2
    noise_smooth: int = 9
    feature_range_db: tuple = (-30.0, 60.0)
    guard: bool = True
    guard_db: tuple = (6.0, 12.0)
    white_cap_db: float | None = 3.0
    white_quantile: float = 0.3
    reference_margin_db: float | None = 2.0

    def __post_init__(self):
        def positive_int(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ParameterError(f"EnhancerConfig.{name}={v!r} must be a positive integer")

        for name in ("n_fft", "hop", "front_channels", "channels", "hidden", "noise_smooth"):
            positive_int(name, getattr(self, name))
        if not (isinstance(self.rate, (int, float)) and math.isfinite(self.rate) and self.rate > 0):
            raise ParameterError(f"EnhancerConfig.rate={self.rate!r} must be a positive number (Hz)")
        if self.n_fft % self.hop:
            raise ParameterError(
                f"EnhancerConfig.n_fft={self.n_fft} must be a multiple of hop={self.hop}"
            )
        if len(self.front_kernel) != 2 or any(int(k) % 2 == 0 or k <= 0 for k in self.front_kernel):
            raise ParameterError(
                f"EnhancerConfig.front_kernel={self.front_kernel!r} must be two odd positive sizes"
            )
        if not self.dilations or any(int(d) <= 0 for d in self.dilations):
            raise ParameterError(
                f"EnhancerConfig.dilations={self.dilations!r} must be positive integers"
            )
        if not 0 < self.noise_quantile < 1:
            raise ParameterError(
                f"EnhancerConfig.noise_quantile={self.noise_quantile!r} must be in (0, 1)"
            )
        if self.noise_smooth % 2 == 0:
            raise ParameterError(f"EnhancerConfig.noise_smooth={self.noise_smooth} must be odd")
        if self.reference_margin_db is not None and not (
            isinstance(self.reference_margin_db, (int, float)) and 0 <= self.reference_margin_db < 60
        ):
            raise ParameterError(f"EnhancerConfig.reference_margin_db={self.reference_margin_db!r} "
                                 "must be in [0, 60) dB or None")
        if not 0 < self.white_quantile < 1:
            raise ParameterError(f"EnhancerConfig.white_quantile={self.white_quantile!r} must be in (0, 1)")
        if self.white_cap_db is not None and not (
            isinstance(self.white_cap_db, (int, float)) and 0 <= self.white_cap_db < 60
        ):
            raise ParameterError(
                f"EnhancerConfig.white_cap_db={self.white_cap_db!r} must be in [0, 60) dB or None"
            )
        if not self.mask_max > 0:
            raise ParameterError(f"EnhancerConfig.mask_max={self.mask_max!r} must be > 0")
        g_lo, g_hi = self.guard_db
        if not g_lo < g_hi:
            raise ParameterError(f"EnhancerConfig.guard_db={self.guard_db!r} must be (lo, hi), lo < hi")
        lo, hi = self.feature_range_db
        if not lo < hi:
            raise ParameterError(
                f"EnhancerConfig.feature_range_db={self.feature_range_db!r} must be (lo, hi), lo < hi"
            )

    @property
    def n_bins(self) -> int:
        """Number of STFT frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        """Plain-type dictionary (what a checkpoint stores)."""
        d = dataclasses.asdict(self)
        d["front_kernel"] = list(self.front_kernel)
        d["dilations"] = list(self.dilations)
        d["feature_range_db"] = list(self.feature_range_db)
        d["guard_db"] = list(self.guard_db)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EnhancerConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ModelError(
                f"enhancer config has unknown keys {sorted(unknown)}; the checkpoint was "
                "written by another version of visualmic"
            )
        kw = dict(d)
        kw.setdefault("white_cap_db", None)  # written before the cap existed: keep its behaviour
        kw.setdefault("reference_margin_db", None)
        for key in ("front_kernel", "dilations", "feature_range_db", "guard_db"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


class _ChannelNorm(nn.Module):
    """Layer normalisation over channels at each time step (streaming-safe)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    """Residual block: 1×1 expand, dilated depth-wise conv over time, 1×1 project."""

    def __init__(self, channels: int, hidden: int, dilation: int):
        super().__init__()
        self.expand = nn.Conv1d(channels, hidden, 1)
        self.act1 = nn.PReLU(hidden)
        self.norm1 = _ChannelNorm(hidden)
        self.depthwise = nn.Conv1d(hidden, hidden, 3, dilation=dilation, padding=dilation,
                                   groups=hidden)
        self.act2 = nn.PReLU(hidden)
        self.norm2 = _ChannelNorm(hidden)
        self.project = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(self.act1(self.expand(x)))
        y = self.norm2(self.act2(self.depthwise(y)))
        return x + self.project(y)


class EnhancerNet(nn.Module):
    """Mask estimator: a-posteriori SNR features ``(B, F, T)`` -> mask ``(B, F, T)``.

    Parameters
    ----------
    config : EnhancerConfig, optional
        Architecture (default: the shipped model's).

    Notes
    -----
    :meth:`forward` maps features to a mask; :meth:`enhance` runs the whole
    chain on waveforms (STFT, noise estimate, features, mask, inverse STFT) and
    is what training and inference use.  No layer normalises over time, so
    every output frame depends only on input frames within ``±context`` of it.
    """

    def __init__(self, config: EnhancerConfig | None = None):
        super().__init__()
        cfg = config or EnhancerConfig()
        self.config = cfg
        kf, kt = (int(k) for k in cfg.front_kernel)
        pad = (kf // 2, kt // 2)
        c = cfg.front_channels
        self.front = nn.Sequential(
            nn.Conv2d(1, c, (kf, kt), padding=pad),
            nn.PReLU(c),
            nn.Conv2d(c, c, (kf, kt), padding=pad),
            nn.PReLU(c),
        )
        self.inp = nn.Conv1d(c * cfg.n_bins, cfg.channels, 1)
        self.blocks = nn.ModuleList(_Block(cfg.channels, cfg.hidden, int(d)) for d in cfg.dilations)
        self.out = nn.Conv1d(cfg.channels, cfg.n_bins, 1)
        # Start as the identity (mask 1 everywhere): training begins at the classical output.
        nn.init.zeros_(self.out.weight)
        nn.init.constant_(self.out.bias, math.log(1.0 / (cfg.mask_max - 1.0)) if cfg.mask_max > 1
                          else 4.0)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    # ------------------------------------------------------------------ the network
    @property
    def context(self) -> int:
        """Frames each side of an output frame that it depends on (half receptive field)."""
        kt = int(self.config.front_kernel[1])
        return 2 * (kt // 2) + sum(int(d) for d in self.config.dilations)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mask from features.

        Parameters
        ----------
        features : torch.Tensor [shape=(B, F, T)]
            A-posteriori SNR per bin and frame, in units of 10 dB, clipped
            (see :meth:`features`).

        Returns
        -------
        torch.Tensor [shape=(B, F, T)]
            Mask in ``[0, mask_max]``.
        """
        B, Fb, T = features.shape
        h = self.front(features.unsqueeze(1))  # (B, C, F, T)
        h = self.inp(h.reshape(B, -1, T))
        for block in self.blocks:
            h = block(h)
        return self.config.mask_max * torch.sigmoid(self.out(h))

    # ------------------------------------------------------------------ signal chain
    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """STFT ``(B, n) -> (B, F, T)`` complex, Hann window, centred frames."""
        cfg = self.config
        return torch.stft(y, cfg.n_fft, hop_length=cfg.hop, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft` ``(B, F, T) -> (B, length)``."""
        cfg = self.config
        return torch.istft(spec, cfg.n_fft, hop_length=cfg.hop, window=self.window,
                           center=True, length=length)

    def noise_floor(self, power: torch.Tensor) -> torch.Tensor:
        """Noise power per bin ``(B, F, 1)`` from the power spectrogram ``(B, F, T)``.

        The ``noise_quantile`` quantile of each bin's power over time, divided by
        ``-ln(1 - q)`` (the quantile of a unit exponential, the distribution of
        a noise-only bin), median-filtered across ``noise_smooth`` bins, and
        capped at ``white_cap_db`` above the white-noise level across
        frequency (see :class:`EnhancerConfig`).
        """
        cfg = self.config
        k_th = min(power.shape[-1], max(1, int(round(cfg.noise_quantile * power.shape[-1]))))
        q = torch.kthvalue(power, k_th, dim=-1, keepdim=True).values
        q = q / -math.log1p(-cfg.noise_quantile)
        q = self._smooth_bins(q)
        if cfg.white_cap_db is not None:
            q = torch.minimum(q, self._white_level(q) * 10 ** (cfg.white_cap_db / 10))
        floor = power.mean(dim=(1, 2), keepdim=True) * 1e-9 + 1e-30
        return torch.maximum(q, floor)

    def _smooth_bins(self, q: torch.Tensor) -> torch.Tensor:
        """Median filter of ``(B, F, 1)`` across ``noise_smooth`` bins (edges replicated)."""
        k = self.config.noise_smooth
        if k > 1 and q.shape[1] >= k:
            padded = F.pad(q.transpose(1, 2), (k // 2, k // 2), mode="replicate")
            q = padded.unfold(-1, k, 1).median(dim=-1).values.transpose(1, 2)
        return q

    def reference_cap(self, noise: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Cap the noise estimate ``(B, F, 1)`` with a noise reference's STFT ``(B, F, T)``.

        The reference's mean power per bin (median-smoothed across bins) plus
        ``reference_margin_db``; rows whose reference is all zeros are left as
        they are (no reference).
        """
        cfg = self.config
        if cfg.reference_margin_db is None:
            return noise
        level = self._smooth_bins((reference.real**2 + reference.imag**2).mean(-1, keepdim=True))
        have = level.amax(dim=1, keepdim=True) > 0
        capped = torch.minimum(noise, level * 10 ** (cfg.reference_margin_db / 10))
        return torch.where(have, capped, noise)

    def _white_level(self, q: torch.Tensor) -> torch.Tensor:
        """White-noise level ``(B, 1, 1)``: the ``white_quantile`` of the per-bin noise ``q`` ``(B, F, 1)``.

        Bins 0-1 (under the 20 Hz high-pass at the lowest rates) and the top
        10% (the anti-alias filter of a resampled signal) are left out.
        """
        n_bins = q.shape[1]
        lo, hi = min(2, n_bins - 1), max(min(2, n_bins - 1) + 1, int(0.9 * n_bins))
        band = q[:, lo:hi, 0]
        k = max(1, int(round(self.config.white_quantile * band.shape[1])))
        return torch.kthvalue(band, k, dim=1).values[:, None, None]

    def features(self, power: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A-posteriori SNR ``power / noise`` in units of 10 dB, clipped: ``(B, F, T)``."""
        lo, hi = self.config.feature_range_db
        snr_db = 10.0 * torch.log10(power / noise + 1e-12)
        return snr_db.clamp(lo, hi) / 10.0

    def guard_floor(self, gamma: torch.Tensor) -> torch.Tensor:
        """The safeguard's mask floor from the a-posteriori SNR ``γ = |Y|²/N`` ``(B, F, T)``.

        ``sqrt(max(0, 1 - 1/γ))`` (the power-subtraction gain: what is left
        after removing the estimated noise power) times a confidence ramp that
        is 0 below ``guard_db[0]`` and 1 above ``guard_db[1]``.  With the
        floor, the output energy of a confident bin is at least its input
        energy minus the noise estimate: strong tones, harmonics and onsets
        keep their prominence whatever the network predicts.
        """
        g_lo, g_hi = self.config.guard_db
        g_db = 10.0 * torch.log10(gamma.clamp_min(1e-12))
        ramp = ((g_db - g_lo) / (g_hi - g_lo)).clamp(0.0, 1.0)
        return ramp * (1.0 - 1.0 / gamma.clamp_min(1.0)).sqrt()

    def enhance(self, y: torch.Tensor, *, reference: torch.Tensor | None = None,
                chunk_frames: int | None = None, stats: dict | None = None) -> torch.Tensor:
        """Enhance a batch of waveforms at the model's rate.

        Parameters
        ----------
        y : torch.Tensor [shape=(B, n)]
            Noisy motion signals (any scale; each is normalised by its RMS
            internally and the result scaled back).
        reference : torch.Tensor [shape=(B, n)], optional
            Noise references in the units of ``y``: signals whose power
            spectrum is about that of the noise in ``y`` (``recover``'s comes
            from two halves of the frame); they bound the noise estimate (see
            :meth:`reference_cap`).  A row of zeros means none for that signal.
        chunk_frames : int, optional
            Run the network over at most this many STFT frames at a time (plus
            :attr:`context` frames of context each side); the result equals
            the unchunked one to float rounding.  Bounds memory on long inputs.
        stats : dict, optional
            Filled with ``guarded`` (fraction of the input energy in bins
            where the safeguard's floor is above the network's mask),
            ``removed`` (energy the mask removes, ``Σ|Y|²(1-M)²``), ``noise``
            (the noise estimate's energy ``Σ N``) and ``total`` (``Σ|Y|²``), per row.

        Returns
        -------
        torch.Tensor [shape=(B, n)]
            Enhanced signals, same scale as ``y``.
        """
        n = y.shape[-1]
        rms = y.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-30)
        x = y / rms
        spec = self.stft(x)
        power = spec.real**2 + spec.imag**2
        noise = self.noise_floor(power)
        if reference is not None:
            noise = self.reference_cap(noise, self.stft(reference / rms))
            noise = torch.maximum(noise, power.mean(dim=(1, 2), keepdim=True) * 1e-9 + 1e-30)
        feats = self.features(power, noise)
        if chunk_frames is None or chunk_frames >= feats.shape[-1]:
            mask = self(feats)
        else:
            mask = self._chunked(feats, int(chunk_frames))
        if self.config.guard:
            floor = self.guard_floor(power / noise)
            if stats is not None:
                total = power.sum(dim=(1, 2)).clamp_min(1e-30)
                stats["guarded"] = (power * (floor > mask)).sum(dim=(1, 2)) / total
            mask = torch.maximum(mask, floor)
        if stats is not None:
            stats["removed"] = (power * (1 - mask) ** 2).sum(dim=(1, 2))
            stats["noise"] = noise.sum(dim=(1, 2)) * power.shape[-1]
            stats["total"] = power.sum(dim=(1, 2))
            stats.setdefault("guarded", torch.zeros(y.shape[0]))
        return self.istft(spec * mask, n) * rms

    def _chunked(self, feats: torch.Tensor, chunk: int) -> torch.Tensor:
        if chunk <= 0:
            raise ParameterError(f"chunk_frames={chunk} must be a positive integer")
        T = feats.shape[-1]
        ctx = self.context
        parts = []
        for start in range(0, T, chunk):
            stop = min(T, start + chunk)
            lo, hi = max(0, start - ctx), min(T, stop + ctx)
            m = self(feats[..., lo:hi])
            parts.append(m[..., start - lo : start - lo + (stop - start)])
        return torch.cat(parts, dim=-1)


