"""Training the hybrid enhancer on synthetic visual-microphone data generated on the fly.

Data
----
Rendering and recovering a video is the expensive part (tens of seconds per
clip on a CPU), while the classical estimate is, to a very good approximation,
the true motion plus noise that does not depend on the sound.  Training data
are therefore made in two stages, both cached on disk and reused across runs:

1. **Clean sounds** (:func:`build_audio_bank`): speech from espeak-ng with
   training voices, rates and texts; random music (melodies and chords with
   random scales, tempi, timbres, envelopes and vibrato); tones, chords of
   tones and chirps; each shaped by a random object response (none, a
   resonance or a low-pass) and high-passed like the classical output.
2. **Classical estimates of rendered videos** (:func:`build_render_bank`):
   videos rendered with :mod:`visualmic.synth` in memory (random training
   textures, 96–176 px, directions, sensor noise σ = 0.5–3 grey levels, 8 or
   16 bits, 0.003–0.1 px of motion driven by a clean sound), recovered with
   :func:`visualmic.recover` at default settings.  Each is fitted to its known
   motion; the residual is that video's estimation noise, in pixels.

Each training example is then made on the fly (:class:`ExampleSampler`): a
random crop of a clean sound, scaled to a random in-band SNR (80–1000 Hz)
against a random crop of a rendered video's estimation noise (random sign and
time direction, sometimes the mixture of two), and high-passed.  The
validation set (:func:`build_validation`) is *not* remixed: whole rendered
videos of held-out textures (``VALIDATION_TEXTURES``), voices and texts (the
defaults of :mod:`visualmic.synth`, none of which is used for training), the
built-in melody and music from a separate seed stream, at 0.005–0.05 px and
σ = 1–2, scored like the project's bar: SNR in 80–1000 Hz after a
least-squares fit at the best lag within ±3 samples.

Loss
----
Negative SI-SDR (a monotonic function of the least-squares SNR of the
evaluation) of the 80–1000 Hz band, in dB, plus a multi-resolution STFT loss
(spectral convergence + log magnitude, windows 64/128/256) on the full band.
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
from .enhance_data import (
    ExampleSampler,
    build_audio_bank,
    build_render_bank,
    build_validation,
    render_clip,
)
from .enhance_loss import (
    band_si_sdr,
    baselines,
    enhancer_loss,
    multires_stft_loss,
    si_sdr,
    validate,
)
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
    """
    from .._atomic import check_output_path

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

    stage = {"offset": 0}
    total_units = cfg.n_speech + cfg.n_music + cfg.n_other + cfg.n_renders + cfg.n_val + cfg.steps

    def sub_progress(done, _total):
        report(progress, stage["offset"] + done, total_units)

    clips = build_audio_bank(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += len(clips)
    noises = build_render_bank(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += cfg.n_renders
    val = build_validation(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += cfg.n_val
    base = baselines(val, cfg.rate)
    raw_m = np.mean([b["raw"] for b in base])
    ss_m = np.mean([b["specsub"] for b in base])
    best_m = np.mean([max(b["raw"], b["specsub"]) for b in base])
    say(f"validation baselines: raw {raw_m:.2f} dB, specsub {ss_m:.2f} dB, best-of {best_m:.2f} dB")
    sampler = ExampleSampler(clips, noises, cfg)

    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        if state is not None:
            model = model_from_checkpoint(state, source=repr(str(state_path)))
        else:
            model = EnhancerNet(model_config or EnhancerConfig())
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
        step = 0
        history: list = []
        best = {"gain_db": -math.inf}
        if state is not None:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            step = int(state["step"])
            history = list(state.get("history", []))
            best = dict(state.get("best", best))
            say(f"resumed at step {step} (best validation gain {best['gain_db']:.2f} dB)")
        else:
            m = validate(model, val, rate=cfg.rate, stft_weight=cfg.stft_weight, baselines=base)
            history.append({"step": 0, **m})
            say(f"step 0: validation loss {m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, "
                f"gain {m['gain_db']:+.2f} dB")
        running, t_last = [], time.perf_counter()
        while step < cfg.steps:
            x, t = sampler.batch(step)
            y = model.enhance(x)
            loss = enhancer_loss(y, t, rate=cfg.rate, stft_weight=cfg.stft_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            running.append(loss.item())
            report(progress, stage["offset"] + step, total_units)
            out_of_time = time_limit is not None and time.perf_counter() - t_start > time_limit
            if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
                m = validate(model, val, rate=cfg.rate, stft_weight=cfg.stft_weight,
                             baselines=base)
                entry = {"step": step, "train_loss": float(np.mean(running)), **m,
                         "seconds_per_step": (time.perf_counter() - t_last) / max(1, len(running))}
                history.append(entry)
                running, t_last = [], time.perf_counter()
                improved = m["gain_db"] > best["gain_db"]
                if improved:
                    best = {"step": step, **m}
                    save_checkpoint(out, model, extra={
                        "train_config": cfg.to_dict(), "step": step, "metrics": m,
                    })
                save_checkpoint(state_path, model, extra={
                    "train_config": cfg.to_dict(), "step": step, "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "history": history, "best": best,
                })
                say(f"step {step}: train loss {entry['train_loss']:.3f}, validation loss "
                    f"{m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, gain {m['gain_db']:+.2f} dB "
                    f"(worst vs raw {m['worst_gain_db']:+.2f}){' *' if improved else ''} "
                    f"[{entry['seconds_per_step']:.2f} s/step]")
                if out_of_time:
                    say(f"time limit reached at step {step}; continue with --resume")
                    break
    return TrainResult(output=out, step=step, best=best, history=history,
                       seconds=time.perf_counter() - t_start)
