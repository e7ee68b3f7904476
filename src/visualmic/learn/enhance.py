"""The hybrid enhancer as a callable: rate handling, the safeguard's report, checkpoints.

:class:`Enhancer` wraps a trained :class:`~visualmic.learn.enhance_model.EnhancerNet`
(the network, its features and its safeguard live in :mod:`.enhance_model`) so that
``enhancer(y, rate) -> y`` works at any frame rate; :func:`load_enhancer` reads a
checkpoint.  Nothing here knows about training (:mod:`.enhance_train`).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .._errors import InputFileError, ModelError, ParameterError, VisualMicWarning
from ._checkpoint import torch_load
from .enhance_model import EnhancerConfig, EnhancerNet

__all__ = [
    "EnhancerConfig",
    "EnhancerNet",
    "Enhancer",
    "default_checkpoint",
    "load_enhancer",
    "save_checkpoint",
    "CHECKPOINT_FORMAT",
    "read_checkpoint",
    "model_from_checkpoint",
    "torch_threads",
]

#: Value of the ``"format"`` key of every enhancer checkpoint.
CHECKPOINT_FORMAT = "visualmic-enhancer"
_CHECKPOINT_VERSION = 1


class Enhancer:
    """A trained :class:`EnhancerNet` as a callable ``enhancer(y, rate) -> y``.

    Parameters
    ----------
    model : EnhancerNet
        The network (put in evaluation mode).
    info : dict, optional
        What the checkpoint says about itself (path, training steps, validation
        metrics, ``rates`` and ``content`` it was trained for); kept as
        :attr:`info`.  Each call adds what it did (see :meth:`__call__`).
    threads : int, optional
        Torch threads used while enhancing (default 1: the model is small, and
        several threads on a busy machine are slower than one; the previous
        setting is restored afterwards).

    Notes
    -----
    The network works on samples: 128-sample STFT frames.  A signal at the
    model's rate (``config.rate``, 2200 Hz for the shipped model) or below is
    enhanced at its own rate: at 600 fps a frame spans 213 ms and a bin 4.7 Hz,
    the finer resolution that the narrower band needs (measured: 3–5 dB
    better on strings at 600 and 1000 fps than upsampling to 2200 Hz, see
    docs/enhance.md).  Training makes such signals natively too.  At a higher
    rate, the signal is resampled to the model's rate, that band is enhanced,
    and the band above it passes through unchanged.  The rates the checkpoint
    was trained for are ``info["rates"]`` (``(low, high)`` in Hz; a checkpoint
    without it: its model rate only); outside them the signal is returned unchanged, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.learn.enhance import Enhancer, EnhancerNet
    >>> enh = Enhancer(EnhancerNet())  # untrained: for shapes only
    >>> enh(np.random.default_rng(0).normal(size=2200), 2200.0).shape
    (2200,)
    """

    #: ``recover`` hands this enhancer a noise reference (``noise=``).
    accepts_noise_reference = True

    #: Fall back to the input when the mask removes, beyond the noise estimate's energy,
    #: more than this fraction of the rest (the energy the noise cannot explain).
    max_excess_removal = 0.25

    def __init__(self, model: EnhancerNet, *, info: dict | None = None, threads: int = 1):
        self.model = model.eval()
        self.config = model.config
        self.info = dict(info or {})
        self.threads = threads

    @property
    def rates(self) -> tuple[float, float]:
        """``(low, high)`` frame rates (Hz) the model was trained for."""
        r = self.info.get("rates")
        if r is None:
            return (self.config.rate * 0.99, self.config.rate * 1.01)
        return (float(r[0]), float(r[1]))

    def __call__(self, signal, rate: float, *, noise=None,
                 chunk_seconds: float | None = 30.0) -> np.ndarray:
        """Enhance one motion signal.

        Parameters
        ----------
        signal : np.ndarray [shape=(n,)]
            The classical combined motion signal (high-passed), any units.
        rate : float
            Its sampling rate in Hz (the video frame rate).  See the class
            notes for rates other than the model's.
        noise : np.ndarray [shape=(n,)], optional
            A noise reference: a signal whose power spectrum is about that of
            the noise in ``signal`` (``recover`` gives one made from two halves
            of the frame, see :func:`visualmic.core.spatial.split_half_noise_cells`,
            high-passed like ``signal``).  Where a sound fills a frequency bin
            all the time, the signal alone cannot tell its noise level; the
            reference bounds it.
        chunk_seconds : float or None, optional
            Network chunk length in seconds (default 30: memory stays bounded
            on long videos); ``None`` processes everything at once.  The
            result does not depend on it (to float rounding).

        Returns
        -------
        np.ndarray [shape=(n,)], float64
            The enhanced signal, in the units of ``signal``.  :attr:`info`
            then holds ``changed_fraction`` (``‖out − y‖² / ‖y‖²``),
            ``guarded_fraction`` (input energy in bins where the safeguard
            overrode the network), ``excess_removal`` (energy removed beyond
            the noise estimate, as a fraction of the energy the noise does not
            explain; above :attr:`max_excess_removal` the input is returned
            unchanged, with a warning), ``fallback`` (``None``, or why the
            input was returned unchanged), ``rate`` and ``noise_reference``
            (whether a non-zero ``noise`` was given).

        Raises
        ------
        ParameterError
            If the signal is not 1-D and finite, is shorter than one STFT
            window, or ``rate`` is not positive.
        """
        y, rate, noise = self._inputs(signal, rate, noise)
        cfg = self.config
        self.info.update(rate=rate, changed_fraction=0.0, guarded_fraction=0.0, fallback=None,
                         noise_reference=noise is not None and bool(np.any(noise)))
        if not np.any(y):
            return y.copy()
        chunk = None
        if chunk_seconds is not None:
            if not chunk_seconds > 0:
                raise ParameterError(f"chunk_seconds={chunk_seconds!r} must be > 0 or None")
            chunk = max(1, int(round(chunk_seconds * min(rate, cfg.rate) / cfg.hop)))
        lo, hi = self.rates
        if not lo <= rate <= hi:
            span = f"{lo:g}-{hi:g} Hz" if "rates" in self.info else f"{cfg.rate:g} Hz"
            return self._fall_back(
                y, f"the enhancer was trained at {span}, not {rate:g} Hz; "
                   "the signal is returned unenhanced (train one with `visualmic train-enhancer`)")
        out, stats = self._run(y, rate, chunk, noise)
        excess = (stats["removed"] - stats["noise"]) / max(stats["total"] - stats["noise"],
                                                           stats["noise"])
        self.info["excess_removal"] = excess
        if excess > self.max_excess_removal:
            return self._fall_back(
                y, f"the enhancer would remove {100 * excess:.0f}% of the energy that the "
                   "estimated noise does not explain (out of its training domain); the signal "
                   "is returned unenhanced")
        self.info["changed_fraction"] = float(np.sum((out - y) ** 2) / np.sum(y * y))
        self.info["guarded_fraction"] = stats["guarded"]
        return out

    def _inputs(self, signal, rate, noise) -> tuple[np.ndarray, float, np.ndarray | None]:
        """Checked signal (float64, at least one STFT window), rate and noise reference."""
        from .._validate import check_audio, check_rate

        y = np.asarray(check_audio(signal, "signal"), dtype=np.float64)
        rate = check_rate(rate)
        n_fft = self.config.n_fft
        if y.size < n_fft:
            raise ParameterError(
                f"signal has {y.size} samples; enhancement needs at least {n_fft} "
                f"({n_fft / rate * 1000:.0f} ms); give a longer recording"
            )
        if noise is not None:
            noise = np.asarray(check_audio(noise, "noise"), dtype=np.float64)
            if noise.shape != y.shape:
                raise ParameterError(f"noise reference has {noise.size} samples, the signal "
                                     f"{y.size}; give one of the same length")
        return y, rate, noise

    def _fall_back(self, y: np.ndarray, reason: str) -> np.ndarray:
        warnings.warn(reason, VisualMicWarning, stacklevel=3)
        self.info["fallback"] = reason
        return y.copy()

    def _run(self, y: np.ndarray, rate: float, chunk: int | None,
             noise: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Enhance natively up to the model's rate; above it, the band below its Nyquist only."""
        from ..core.post import resample

        cfg = self.config
        native = rate <= cfg.rate * 1.01

        x = y if native else resample(y, rate, cfg.rate)

        def tensor(v):
            return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))[None]

        ref = None
        if noise is not None:
            ref = tensor(noise if native else resample(noise, rate, cfg.rate)[: x.size])
        stats: dict = {}
        with torch.inference_mode(), torch_threads(self.threads):
            out = self.model.enhance(tensor(x), reference=ref, chunk_frames=chunk,
                                     stats=stats)[0].double().numpy()
        stats = {k: float(v[0]) for k, v in stats.items()}
        if native:
            return out, stats
        back = resample(out, cfg.rate, rate)
        low = resample(x, cfg.rate, rate)
        m = min(back.size, low.size, y.size)
        res = y.copy()
        res[:m] = back[:m] + (y[:m] - low[:m])  # enhanced low band + untouched high band
        return res, stats


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``torch.set_num_threads(n)`` and restore the old value after."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ---------------------------------------------------------------------- checkpoints


def default_checkpoint() -> Path:
    """Path of the pretrained enhancer shipped inside the package (``data/enhancer.pt``)."""
    return Path(__file__).resolve().parent.parent / "data" / "enhancer.pt"


def save_checkpoint(path, model: EnhancerNet, *, extra: dict | None = None) -> None:
    """Write a checkpoint that rebuilds the model alone (atomically).

    Parameters
    ----------
    path : path-like
        Output file (``.pt``).
    model : EnhancerNet
        The model.
    extra : dict, optional
        More entries (``train_config``, ``step``, ``metrics``, ``optimizer``, ...);
        plain Python types and tensors only.
    """
    from ..io.atomic import atomic_path

    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": _CHECKPOINT_VERSION,
        "model_config": model.config.to_dict(),
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    ckpt.update(extra or {})
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def read_checkpoint(path) -> dict:
    """Load and check a checkpoint dictionary (tensors on the CPU, weights only).

    Raises
    ------
    InputFileError
        If the file does not exist.
    ModelError
        If it is not a readable visualmic enhancer checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"enhancer checkpoint {str(p)!r} not found; check the path "
                             "(or use --enhance without a path for the shipped model)")
    ckpt = torch_load(p, what="enhancer checkpoint",
                      hint="retrain it with `visualmic train-enhancer`")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{str(p)!r} is not a visualmic enhancer checkpoint; "
                         "give a file written by `visualmic train-enhancer`")
    if ckpt.get("version") != _CHECKPOINT_VERSION:
        raise ModelError(f"enhancer checkpoint {str(p)!r} has version {ckpt.get('version')!r}, "
                         f"this visualmic reads version {_CHECKPOINT_VERSION}; retrain it")
    return ckpt


def model_from_checkpoint(ckpt: dict, *, source: str = "checkpoint") -> EnhancerNet:
    """Rebuild an :class:`EnhancerNet` from a checkpoint dictionary."""
    try:
        cfg = EnhancerConfig.from_dict(ckpt["model_config"])
        model = EnhancerNet(cfg)
        model.load_state_dict(ckpt["model"])
    except ModelError:
        raise
    except (KeyError, TypeError, RuntimeError, ParameterError) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise ModelError(f"enhancer checkpoint {source} does not match the model ({msg}); "
                         "retrain it with `visualmic train-enhancer`") from None
    return model


_CACHE: dict = {}


def load_enhancer(path=None) -> Enhancer:
    """Load an enhancer checkpoint (the shipped one by default).

    Parameters
    ----------
    path : path-like or None
        A checkpoint written by ``visualmic train-enhancer``; ``None`` (or
        ``True``) loads :func:`default_checkpoint`.

    Returns
    -------
    Enhancer

    Raises
    ------
    InputFileError
        If the file does not exist.
    ModelError
        If it is corrupt or incompatible.
    """
    p = default_checkpoint() if path is None or path is True else Path(os.fspath(path))
    try:
        key = (str(p.resolve()), p.stat().st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    ckpt = read_checkpoint(p)
    model = model_from_checkpoint(ckpt, source=repr(str(p)))
    info = {k: ckpt[k] for k in ("step", "metrics", "train_config", "rates", "content")
            if k in ckpt}
    info["path"] = str(p)
    enh = Enhancer(model, info=info)
    if key is not None:
        _CACHE[key] = enh
    return enh
