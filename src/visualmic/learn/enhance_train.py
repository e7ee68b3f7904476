"""Training the hybrid enhancer on synthetic visual-microphone data generated on the fly.

Data
----
The classical estimate is, to a very good approximation, the true motion plus
noise that does not depend on the sound and is white to ±30% at any frame
rate.  Training data are therefore mixed on the fly from cached banks:

1. **Clean sounds** (:func:`~.enhance_data.build_audio_bank`): espeak-ng speech
   with training voices, rates and texts (synthetic voices without espeak-ng),
   synthetic voices, random music, tones, chords and chirps, plucked and bowed
   strings, percussion, engine and machine hums, band-limited noise and
   silence (:mod:`.enhance_sounds`, :mod:`.enhance_content`); each shaped by a
   random object response (none, a resonance or a low-pass) and high-passed
   like the classical output.  Half are made at a lower frame rate (400 Hz up
   to the model's 2200 Hz, log-uniform), sample for sample: the model enhances
   signals up to its rate natively (a 128-sample frame is 213 ms at 600 fps).
2. **Estimation noise**: white noise with a random spectral tilt (±3 dB), or,
   with ``n_renders > 0``, the residuals of videos rendered with
   :mod:`visualmic.sim.synthesize` and recovered classically
   (:func:`~.enhance_render.build_render_bank`); with recording artefacts half
   of the time (illumination flicker at 100/120 Hz and harmonics folded at the
   frame rate, compression blocking, drift).

Each example (:class:`~.enhance_data.ExampleSampler`) is a crop of a clean
sound scaled to a random SNR in its scored band (80 Hz to min(1 kHz, 0.45 ×
frame rate)) against noise made at the sound's frame rate.  The validation set
(:func:`~.enhance_data.build_validation`) holds fixed held-out mixtures at 600,
1000, 2200 and 5000 fps of nine kinds of content.

Loss
----
Negative SI-SDR (a monotonic function of the least-squares SNR of the
evaluation) of the 80–1000 Hz band, in dB, plus a multi-resolution STFT loss
(spectral convergence + log magnitude, windows 64/128/256) on the full band;
silent targets count by the energy the output keeps.  The safeguard of
:class:`~.enhance_model.EnhancerNet` is on during training too.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._errors import ParameterError
from .._progress import ProgressCallback, report
from .enhance import (
    EnhancerConfig,
    EnhancerNet,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
    torch_threads,
)
from .enhance_config import (
    TRAINING_TEXTS,
    TRAINING_TEXTURES,
    TRAINING_VOICES,
    VALIDATION_TEXTURES,
    EnhancerTrainConfig,
)
from .enhance_data import ExampleSampler, build_audio_bank, build_validation
from .enhance_loss import (
    band_si_sdr,
    baselines,
    enhancer_loss,
    multires_stft_loss,
    si_sdr,
    validate,
)
from .enhance_render import build_render_bank, render_clip
from .enhance_sounds import clean_sound, random_music

__all__ = [
    "EnhancerTrainConfig",
    "TRAINING_TEXTURES",
    "VALIDATION_TEXTURES",
    "TRAINING_VOICES",
    "TRAINING_TEXTS",
    "random_music",
    "clean_sound",
    "build_audio_bank",
    "render_clip",
    "build_render_bank",
    "build_validation",
    "ExampleSampler",
    "si_sdr",
    "band_si_sdr",
    "multires_stft_loss",
    "enhancer_loss",
    "validate",
    "train_enhancer",
]

# --------------------------------------------------------------------------- training


def _lr_factor(step: int, cfg: EnhancerTrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def _state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state")


@dataclass
class TrainResult:
    """What :func:`train_enhancer` did.

    Attributes
    ----------
    output : Path
        The best checkpoint (by validation gain).
    step : int
        Steps done.
    best : dict
        Validation metrics of the best checkpoint.
    history : list of dict
        One entry per validation.
    seconds : float
        Wall time of this call.
    """

    output: Path
    step: int
    best: dict
    history: list = field(default_factory=list)
    seconds: float = 0.0


def train_enhancer(
    output,
    *,
    cache,
    config: EnhancerTrainConfig | None = None,
    model_config: EnhancerConfig | None = None,
    resume: bool = False,
    steps: int | None = None,
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
    log=None,
) -> TrainResult:
    """Train the enhancer; write the best checkpoint to ``output``.

    Parameters
    ----------
    output : path-like
        The checkpoint to write (the model with the best validation gain, its
        configurations, step and metrics; loadable by
        :func:`visualmic.learn.enhance.load_enhancer`).  The full training state
        (optimiser, step, history) goes to ``<output>.state`` after every
        validation, for ``resume``.
    cache : path-like
        Folder of the cached data banks (created if missing; reused when the
        data settings match).
    config : EnhancerTrainConfig, optional
        Training settings (default :class:`EnhancerTrainConfig`).  On ``resume`` the
        stored one is used.
    model_config : EnhancerConfig, optional
        Architecture (default :class:`~visualmic.learn.enhance.EnhancerConfig`).
    resume : bool, optional
        Continue from ``<output>.state``.
    steps : int, optional
        Override ``config.steps`` (on ``resume``, to train a finished run
        longer; the cosine schedule is stretched to the new length).
    time_limit : float, optional
        Stop (after a validation and checkpoint) once this many seconds have
        passed; the run can be resumed later.
    progress : callable, optional
        ``progress(done, total)`` over data building and steps.
    log : callable, optional
        ``log(message)`` for one-line status messages.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        Bad settings, or ``resume`` without a state file.

    Notes
    -----
    This function is long because of its documentation; its code is under 80 lines.
    """
    from ..io.atomic import check_output_path

    t_start = time.perf_counter()
    out = check_output_path(output)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    state_path = _state_path(out)
    state = None
    if resume:
        if not state_path.is_file():
            raise ParameterError(f"cannot resume: {str(state_path)!r} does not exist; "
                                 "start without --resume")
        state = read_checkpoint(state_path)
        cfg = EnhancerTrainConfig.from_dict(state["train_config"])
    else:
        cfg = config or EnhancerTrainConfig()
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    say = log or (lambda msg: None)
    sampler, val, base, offset, total = _prepare_data(cache, cfg, progress, say)
    run = {"cfg": cfg, "val": val, "base": base, "out": out, "state_path": state_path,
           "say": say, "progress": progress, "offset": offset, "total": total,
           "t_start": t_start, "time_limit": time_limit}
    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        model, opt, sched, step, history, best = _start(cfg, state, state_path, model_config,
                                                        val, base, say)
        step, best = _loop(model, opt, sched, sampler, step, history, best, run)
    return TrainResult(output=out, step=step, best=best, history=history,
                       seconds=time.perf_counter() - t_start)


def _prepare_data(cache: Path, cfg: EnhancerTrainConfig, progress, say):
    """Build or load the banks and the validation set; the sampler and baselines."""
    stage = {"offset": 0}
    n_sounds = sum(cfg.content().values())
    total = n_sounds + cfg.n_renders + cfg.n_val + cfg.steps

    def sub_progress(done, _total):
        report(progress, stage["offset"] + done, total)

    clips, rates = build_audio_bank(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += len(clips)
    noises = build_render_bank(cache, cfg, progress=sub_progress, log=say) if cfg.n_renders else []
    stage["offset"] += cfg.n_renders
    val = build_validation(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += cfg.n_val
    base = baselines(val, cfg.rate)
    raw_m = np.mean([b["raw"] for b in base])
    ss_m = np.mean([b["specsub"] for b in base])
    best_m = np.mean([max(b["raw"], b["specsub"]) for b in base])
    say(f"validation baselines: raw {raw_m:.2f} dB, specsub {ss_m:.2f} dB, best-of {best_m:.2f} dB")
    return ExampleSampler(clips, rates, noises, cfg), val, base, stage["offset"], total


#: EnhancerConfig fields that older checkpoints lack (they load with the feature off).
_NEWER_FEATURES = ("white_cap_db", "reference_margin_db")


def _start(cfg, state, state_path, model_config, val, base, say):
    """The model, optimiser and schedule: new, from ``cfg.init``, or resumed from ``state``."""
    if state is not None:
        model = model_from_checkpoint(state, source=repr(str(state_path)))
    elif cfg.init:
        ckpt = read_checkpoint(cfg.init)
        model = model_from_checkpoint(ckpt, source=repr(cfg.init))
        newer = {k: getattr(EnhancerConfig, k) for k in _NEWER_FEATURES
                 if k not in ckpt["model_config"]}
        if newer:
            # Continue a model written before the white-noise cap or noise references with them
            # on (the weights carry over: both only change the noise estimate).
            model.config = dataclasses.replace(model.config, **newer)
        say(f"starting from {cfg.init}")
    else:
        model = EnhancerNet(model_config or EnhancerConfig())
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    step, history, best = 0, [], {"gain_db": -math.inf}
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
        history = list(state.get("history", []))
        best = dict(state.get("best", best))
        say(f"resumed at step {step} (best validation gain {best['gain_db']:.2f} dB)")
    else:
        m = validate(model, val, rate=cfg.rate, stft_weight=cfg.stft_weight, base_scores=base)
        history.append({"step": 0, **m})
        say(f"step 0: validation loss {m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, "
            f"gain {m['gain_db']:+.2f} dB")
    return model, opt, sched, step, history, best


def checkpoint_extra(cfg: EnhancerTrainConfig) -> dict:
    """What a checkpoint records about its training: config, rates and content trained for."""
    from .enhance_sounds import espeak_available

    content = [k for k, c in cfg.content().items() if c]
    if "speech" in content and not espeak_available():
        content[content.index("speech")] = "speech (synthetic voices: no espeak-ng)"
    return {"train_config": cfg.to_dict(), "rates": list(cfg.rates), "content": content}


def _loop(model, opt, sched, sampler, step, history, best, run):
    """Optimise until ``cfg.steps`` or the time limit; validate and checkpoint on the way."""
    cfg, out = run["cfg"], run["out"]
    running, t_last = [], time.perf_counter()
    while step < cfg.steps:
        x, t, ref = sampler.batch(step)
        y = model.enhance(x, reference=ref)
        loss = enhancer_loss(y, t, rate=cfg.rate, stft_weight=cfg.stft_weight, noisy=x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        step += 1
        running.append(loss.item())
        report(run["progress"], run["offset"] + step, run["total"])
        out_of_time = (run["time_limit"] is not None
                       and time.perf_counter() - run["t_start"] > run["time_limit"])
        if not (step % cfg.val_every == 0 or step == cfg.steps or out_of_time):
            continue
        m = validate(model, run["val"], rate=cfg.rate, stft_weight=cfg.stft_weight,
                     base_scores=run["base"])
        entry = {"step": step, "train_loss": float(np.mean(running)), **m,
                 "seconds_per_step": (time.perf_counter() - t_last) / max(1, len(running))}
        history.append(entry)
        running, t_last = [], time.perf_counter()
        improved = m["gain_db"] > best["gain_db"]
        if improved:
            best = {"step": step, **m}
            save_checkpoint(out, model, extra={**checkpoint_extra(cfg), "step": step, "metrics": m})
        save_checkpoint(run["state_path"], model, extra={
            **checkpoint_extra(cfg), "step": step, "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "history": history, "best": best,
        })
        run["say"](f"step {step}: train loss {entry['train_loss']:.3f}, validation loss "
                   f"{m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, gain {m['gain_db']:+.2f} dB, "
                   f"over raw {m['gain_over_raw_db']:+.2f} (worst {m['worst_gain_db']:+.2f})"
                   f"{' *' if improved else ''} [{entry['seconds_per_step']:.2f} s/step]")
        if out_of_time:
            run["say"](f"time limit reached at step {step}; continue with --resume")
            break
    return step, best
