"""Synthetic content for enhancer training beyond speech and melodies, and recording artefacts.

Every generator takes ``(rate, n, rng)`` and returns a float64 signal of ``n``
samples at ``rate`` Hz, peak 1 (silence: zeros), with nothing above 0.45·rate:

* :func:`plucked_strings`: sums of decaying, slightly inharmonic partials (the
  modal solution of a plucked stiff string: amplitude ``|sin(π h p)| / h²`` for
  a pluck at fraction ``p`` of the length, higher partials decaying faster),
  single notes, open-string chords (E2 A2 D3 G3 B3 E4) and strums;
* :func:`bowed_strings`: sustained sawtooth-like partials (``1/h``) with vibrato,
  slow attack and a little bow noise;
* :func:`percussion`: drum hits (the inharmonic modes of a membrane, ratios
  1, 1.59, 2.14, 2.30, 2.65, 2.92) with noise bursts, on a random rhythm;
* :func:`hum`: engines and machines: a drifting fundamental of 20–150 Hz with
  many harmonics and shaft-rate modulation;
* :func:`band_noise`: band-limited noise, steady or in bursts;
* :func:`voice`: speech-like sound without espeak-ng (glottal pulses through
  three formants per syllable, with intonation and pauses); it replaces speech
  when espeak-ng is absent and adds held-out variety otherwise.

:func:`add_artefacts` adds what real recordings add to the motion estimate:
illumination flicker at 50/60/100/120 Hz and their harmonics (folded at the
frame rate, as a camera aliases them), compression blocking (a step every
group of pictures, and coarse quantisation), and sensor pattern noise (a slow
drift).  These are noise: the training target never contains them.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plucked_strings", "bowed_strings", "percussion", "hum", "band_noise", "voice",
           "add_artefacts", "fold_frequency", "OPEN_STRINGS_HZ"]

#: Open strings of a guitar in standard tuning (Hz): E2 A2 D3 G3 B3 E4.
OPEN_STRINGS_HZ = (82.41, 110.0, 146.83, 196.0, 246.94, 329.63)


def _peak1(y: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y / peak if peak > 0 else y


def _partials(f0: float, n: int, rate: float, rng: np.random.Generator, *, amps, decays,
              inharm: float = 0.0, vibrato: float = 0.0) -> np.ndarray:
    """Sum of partials ``h·f0·sqrt(1 + B h²)`` with given amplitudes and decay times (s)."""
    t = np.arange(n) / rate
    vib = 1.0 + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t + rng.uniform(0, 6.3))
    phase = 2 * np.pi * np.cumsum(np.full(n, f0) * vib) / rate
    y = np.zeros(n)
    for h, (a, tau) in enumerate(zip(amps, decays), start=1):
        ratio = h * math.sqrt(1 + inharm * h * h)
        if ratio * f0 >= 0.45 * rate or a == 0:
            continue
        env = np.exp(-t / tau) if tau is not None else 1.0
        y += a * env * np.sin(phase * ratio + rng.uniform(0, 2 * np.pi))
    return y


def _note_f0(rng: np.random.Generator, lo_midi: float, hi_midi: float, rate: float) -> float:
    """A random note (Hz) between two MIDI numbers, kept below 0.35·rate."""
    cap = 69 + 12 * math.log2(0.35 * rate / 440.0)
    hi = min(hi_midi, cap)
    lo = min(lo_midi, hi - 1)
    return 440.0 * 2 ** ((rng.uniform(lo, hi) - 69) / 12)


def plucked_strings(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked strings: notes, open-string chords and strums (see the module notes)."""
    y = np.zeros(n)
    pos = int(rng.integers(0, max(1, n // 8)))
    while pos < n:
        style = rng.random()
        if style < 0.35:  # open strings, together or strummed
            k = int(rng.integers(1, 7))
            f0s = list(rng.choice(OPEN_STRINGS_HZ, size=k, replace=False))
            f0s = [f for f in f0s if f < 0.35 * rate] or [OPEN_STRINGS_HZ[0]]
        elif style < 0.7:
            f0s = [_note_f0(rng, 40, 76, rate)]
        else:
            f0s = [_note_f0(rng, 40, 64, rate) * 2 ** (s / 12) for s in (0, 4, 7)[: int(rng.integers(2, 4))]]
        strum = rng.uniform(0.0, 0.04) * rate
        tau0 = rng.uniform(0.4, 3.0)
        for j, f0 in enumerate(f0s):
            start = pos + int(j * strum)
            if start >= n:
                break
            m = n - start
            hmax = max(1, int(0.45 * rate / f0))
            h = np.arange(1, min(hmax, 30) + 1)
            p = rng.uniform(0.08, 0.35)
            amps = np.abs(np.sin(np.pi * h * p)) / h**2 * rng.uniform(0.6, 1.0, h.size)
            decays = tau0 / (1 + rng.uniform(0.1, 0.6) * (h - 1))
            y[start:] += rng.uniform(0.5, 1.0) * _partials(
                f0, m, rate, rng, amps=amps, decays=decays, inharm=rng.uniform(0, 3e-4))
        pos += int(rng.uniform(0.25, 1.6) * rate)
    return _peak1(y)


def bowed_strings(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Bowed strings: sustained notes with vibrato, slow attacks and bow noise."""
    y = np.zeros(n)
    pos = 0
    while pos < n:
        m = min(n - pos, int(rng.uniform(0.4, 2.0) * rate))
        f0 = _note_f0(rng, 36, 84, rate)
        hmax = max(1, min(25, int(0.45 * rate / f0)))
        h = np.arange(1, hmax + 1)
        amps = (1.0 / h) * rng.uniform(0.4, 1.0, h.size)
        note = _partials(f0, m, rate, rng, amps=amps, decays=[None] * h.size,
                         vibrato=rng.uniform(0.0, 0.006))
        note += 0.03 * rng.standard_normal(m) * np.std(note)
        env = np.minimum(1.0, np.arange(m) / max(1.0, rng.uniform(0.05, 0.3) * rate))
        env *= np.minimum(1.0, (m - np.arange(m)) / max(1.0, 0.05 * rate))
        if rng.random() > 0.15 or pos == 0:  # rests, but never at the start
            y[pos:pos + m] += note * env
        pos += m
    return _peak1(y)


_MEMBRANE = (1.0, 1.59, 2.14, 2.30, 2.65, 2.92)


def percussion(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Drum-like hits on a random rhythm: membrane modes plus a noise burst each."""
    from scipy import signal as ssig

    y = np.zeros(n)
    beat = rng.uniform(0.12, 0.5) * rate
    drums = [(rng.uniform(50, min(250, 0.3 * rate)), rng.uniform(0.05, 0.5), rng.uniform(0.005, 0.08))
             for _ in range(int(rng.integers(1, 4)))]
    pos = int(rng.integers(0, max(1, int(beat))))
    while pos < n:
        f0, tau, tau_n = drums[int(rng.integers(len(drums)))]
        m = min(n - pos, int(6 * tau * rate) + 1)
        t = np.arange(m) / rate
        hit = np.zeros(m)
        for r in _MEMBRANE:
            if r * f0 < 0.45 * rate:
                hit += rng.uniform(0.2, 1.0) / r * np.exp(-t * r / tau) * np.sin(
                    2 * np.pi * r * f0 * t + rng.uniform(0, 6.3))
        lo, hi = sorted(rng.uniform(0.02, 0.44, 2) * rate)
        b, a = ssig.butter(2, [max(lo, 1.0), max(hi, lo + 5.0)], btype="band", fs=rate)
        burst = ssig.lfilter(b, a, rng.standard_normal(m)) * np.exp(-t / tau_n)
        hit += rng.uniform(0.0, 1.5) * burst / (np.max(np.abs(burst)) + 1e-12)
        y[pos:pos + m] += rng.uniform(0.3, 1.0) * hit
        pos += int(beat * rng.choice([0.5, 1, 1, 2]))
    return _peak1(y)


def hum(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Engine or machine hum: a drifting 20–150 Hz fundamental with many harmonics."""
    t = np.arange(n) / rate
    f0 = rng.uniform(20, 150)
    walk = np.cumsum(rng.standard_normal(max(2, n // 256 + 2)))
    walk = np.interp(np.arange(n), np.linspace(0, n - 1, walk.size), walk)
    drift = f0 * (1 + rng.uniform(0.0, 0.12) * walk / (np.max(np.abs(walk)) + 1e-12))
    phase = 2 * np.pi * np.cumsum(drift) / rate
    p = rng.uniform(0.3, 1.5)
    odd = rng.uniform(0.3, 1.0)
    y = np.zeros(n)
    for h in range(1, 60):
        if h * f0 * 1.15 >= 0.45 * rate:
            break
        a = h**-p * (1.0 if h % 2 else odd) * rng.uniform(0.5, 1.0)
        y += a * np.sin(h * phase + rng.uniform(0, 6.3))
    am = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * f0 / rng.choice([2, 4]) * t)
    return _peak1(y * am)


def band_noise(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise (a random band), steady or in bursts."""
    lo = rng.uniform(30, 0.3 * rate)
    hi = min(0.45 * rate, lo * rng.uniform(1.3, 6.0))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    y = np.fft.irfft(spec * ((f >= lo) & (f <= hi)), n)
    if rng.random() < 0.5:
        period = rng.uniform(0.2, 1.0) * rate
        y *= (np.sin(np.pi * np.arange(n) / period) ** 2) ** rng.uniform(1, 4)
    return _peak1(y)


def voice(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound without espeak-ng: formant-filtered glottal pulses per syllable."""
    y = np.zeros(n)
    f_base = rng.uniform(85, min(240, 0.3 * rate))
    pos = int(rng.integers(0, max(1, n // 10)))
    while pos < n:
        m = min(n - pos, int(rng.uniform(0.09, 0.3) * rate))
        t = np.arange(m) / rate
        f0 = f_base * (1 + rng.uniform(-0.15, 0.15) + rng.uniform(-0.2, 0.2) * t / max(t[-1], 1e-3))
        formants = [(rng.uniform(280, 850), rng.uniform(60, 120)),
                    (rng.uniform(850, 2400), rng.uniform(80, 160)),
                    (rng.uniform(2300, 3200), rng.uniform(120, 250))]
        phase = 2 * np.pi * np.cumsum(f0) / rate
        seg = np.zeros(m)
        f_mean = float(np.mean(f0))
        for h in range(1, int(0.45 * rate / f_mean) + 1):
            fh = h * f_mean
            gain = sum(1.0 / math.sqrt(1 + ((fh - fc) / bw) ** 2) for fc, bw in formants)
            seg += gain / h * np.sin(h * phase)
        if rng.random() < 0.25:  # an unvoiced, fricative-like syllable instead
            seg = band_noise(rate, m, rng) * rng.uniform(0.2, 0.6) * np.max(np.abs(seg))
        env = np.sin(np.pi * np.arange(m) / m) ** rng.uniform(0.5, 2.0)
        y[pos:pos + m] += seg * env * rng.uniform(0.4, 1.0)
        pos += m + (int(rng.uniform(0.1, 0.6) * rate) if rng.random() < 0.2 else 0)
    return _peak1(y)


def fold_frequency(f: float, rate: float) -> float:
    """Frequency ``f`` as a camera at ``rate`` frames per second records it (aliased)."""
    return abs(((f + rate / 2) % rate) - rate / 2)


def add_artefacts(noise: np.ndarray, rate: float, rng: np.random.Generator, *,
                  level: float = 1.0) -> np.ndarray:
    """Add recording artefacts to an estimation-noise signal (unit variance) at ``rate`` Hz.

    Parameters
    ----------
    noise : np.ndarray [shape=(n,)]
        Estimation noise, about unit variance.
    rate : float
        Frame rate in Hz.
    rng : np.random.Generator
        Source of randomness.
    level : float, optional
        Scale of the artefacts relative to the noise (each is drawn up to it).

    Returns
    -------
    np.ndarray [shape=(n,)]
        ``noise`` plus, each with probability 1/2: flicker (mains 50 or 60 Hz:
        lines at 2×mains and harmonics, sometimes the mains frequency too,
        folded at ``rate``, up to 3× the noise's RMS), compression blocking
        (a step every 8–60 frames and quantisation) and a slow drift.
    """
    n = noise.size
    t = np.arange(n) / rate
    out = np.array(noise, dtype=np.float64)
    if rng.random() < 0.5:
        mains = float(rng.choice([50.0, 60.0]))
        lines = [2 * mains * k for k in range(1, 5)] + ([mains] if rng.random() < 0.3 else [])
        amp = level * rng.uniform(0.2, 3.0)
        for i, f in enumerate(lines):
            fa = fold_frequency(f, rate)
            if 1.0 < fa < 0.45 * rate:
                out += amp / (i + 1) * np.sin(2 * np.pi * fa * t + rng.uniform(0, 6.3))
    if rng.random() < 0.5:
        gop = int(rng.integers(8, 61))
        steps = np.repeat(rng.standard_normal(n // gop + 1), gop)[:n]
        out += level * rng.uniform(0.1, 0.8) * steps
        q = level * rng.uniform(0.05, 0.5)
        out = q * np.round(out / q)
    if rng.random() < 0.5:
        walk = np.cumsum(rng.standard_normal(n)) / math.sqrt(max(n, 1))
        out += level * rng.uniform(0.5, 3.0) * (walk - walk.mean())
    return out
