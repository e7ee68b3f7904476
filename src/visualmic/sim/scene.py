"""Synthetic scenes: a static textured wall with windows that vibrate, each with its own sound.

A *scene* is a static textured background (the wall) and one or more rectangular
*windows*.  Each window is a fixed aperture through which a periodic texture (the
wall's own texture, or a texture of its own) is translated by
``sign · amplitude · a(t)`` pixels along the window's direction, where ``a(t)`` is
its sound (built in or a WAV file) optionally shaped by its own object response
(:func:`visualmic.sim.synthesize.object_response`) and normalised to peak 1.  Windows that
share a sound and a response move together, in phase (``sign = +1``) or in
opposite phase (``sign = -1``): a *mode*.  Later windows are drawn over earlier
ones.  Every frame is rendered exactly like :func:`visualmic.sim.synthesize.synthesize`
renders a whole frame: an exact sub-pixel Fourier shift of a texture larger than
the window (no wrap-around), then Gaussian sensor noise, 8- or 16-bit
quantisation, and lossless FFV1/MKV (or ``.npy``).

Scene description (a JSON file for ``visualmic synth --scene FILE.json``, or a dict)::

    {
      "size": [128, 128],        # [H, W] or N, pixels (default [128, 128])
      "fps": 2200,               # Hz (default 2200)
      "duration": 2.0,           # seconds (default 2)
      "texture": "noise",        # the wall's texture, a kind of visualmic.sim.synthesize.TEXTURES
      "noise_sigma": 1.0,        # sensor noise, 8-bit grey levels (x257 at 16 bit)
      "bit_depth": 8,            # 8 or 16
      "seed": 0,                 # seeds textures, sounds and noise
      "sounds": {                # optional named sounds
        "a": {"audio": "melody"},
        "b": {"audio": "tone", "frequency": 440}
      },
      "windows": [               # at least one
        {"rect": [32, 32, 64, 64],   # x (left column), y (top row), w, h in pixels
         "sound": "a",               # a name from "sounds", or an inline sound:
                                     #   "audio": KIND|WAV (+ "frequency", "voice", "text", "wpm")
         "amplitude": 0.03,          # peak displacement, px (default 0.02)
         "direction": 0,             # degrees, 0 = right, 90 = down (default 0)
         "sign": 1,                  # +1 or -1 (default +1)
         "resonance": [400, 10],     # optional (f0 Hz, Q)
         "lowpass": null,            # optional cut-off, Hz
         "texture": "background"}    # "background" (default) or a texture kind
      ]
    }

Windows without ``"sound"`` or ``"audio"`` use ``{"audio": "melody"}``; inline
sounds with the same description are the same sound.  Audio file paths are
relative to the JSON file's folder.  Unknown keys are errors (typos do not pass
silently).

Beside the video go ``<stem>.json`` (the scene, every window's truth and the
Cramér–Rao bounds) and one truth WAV per mode: ``<stem>.truth.wav`` for mode 0
and ``<stem>.truth.<m>.wav`` for mode ``m >= 1`` (float32, ``round(fps)`` Hz, the
mode's ``a(t)`` with peak 1; a window moves by ``sign · amplitude · a(t)``).

Bounds
------
Window ``i`` (amplitude ``A_i``, direction ``u_i``, visible pixels ``W_i``) carries
the Fisher information ``G_i / σ²`` with ``G_i = Σ_{W_i} (u_i·∇I_i)²`` (``I_i`` the
noise-free texture seen through it, exact spectral derivatives), so its per-frame
bound is ``crb_var = σ² / G_i`` px² (:func:`visualmic.sim.bounds.translation_crb`).
A mode (windows sharing ``a(t)``) has the union bound on ``A_ref · a(t)`` with
``A_ref`` the largest amplitude in the mode::

    crb_var = A_ref² σ² / Σ_i A_i² G_i

and both are turned into SNRs in 80–1000 Hz by :func:`visualmic.sim.bounds.crb_snr_db`.
Signs do not change the bound (an estimator that knows the mode flips them).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from .._errors import AudioError, ParameterError
from .._progress import ProgressCallback, report
from ..io.atomic import atomic_path, check_output_path
from ._common import SCALE_16
from ._scene_spec import Scene, load_scene, scene_from_options
from .bounds import crb_snr_db, periodic_gradients, translation_crb, unit_vector
from .render import shift_factors, write_video
from .sounds import AUDIO_KINDS, make_audio, object_response
from .synthesize import sidecar_paths
from .textures import TEXTURES, make_texture

__all__ = ["Scene", "SceneResult", "load_scene", "scene_from_options", "synthesize_scene",
           "scene_truth_paths", "AUDIO_KINDS", "TEXTURES"]

_MARGIN = 16  # px of texture around each window beyond the motion (as synthesize)
_BAND = (80.0, 1000.0)


@dataclasses.dataclass(frozen=True, eq=False)
class SceneResult:
    """What :func:`synthesize_scene` wrote and the known answer.

    Attributes
    ----------
    video_path, meta_path : Path
        The video and its JSON record (``<stem>.json``).
    truth_paths : list of Path
        One truth WAV per mode (``<stem>.truth.wav``, ``<stem>.truth.1.wav``, ...).
    fps : float
        Frame rate in Hz.
    truths : np.ndarray [shape=(n_modes, T)]
        Each mode's ``a(t)``, peak 1.
    motions : np.ndarray [shape=(n_windows, T)]
        Each window's displacement along its direction, px (``sign · A · a(t)``).
    window_mode : np.ndarray [shape=(n_windows,), dtype=int]
        The mode of each window.
    owner : np.ndarray [shape=(H, W), dtype=int]
        Which window each pixel shows (-1: the static wall).
    clean_frame : np.ndarray [shape=(H, W)], float64
        The noise-free frame at rest, in the video's grey units.
    window_crb_var, window_crb_snr_db : np.ndarray [shape=(n_windows,)]
        Per-window bound (px² per frame) and SNR bound (dB, 80–1000 Hz).
    mode_crb_var, mode_crb_snr_db : np.ndarray [shape=(n_modes,)]
        Union bound of each mode, referred to its largest amplitude.
    params : dict
        The JSON record.
    """

    video_path: Path
    meta_path: Path
    truth_paths: list
    fps: float
    truths: np.ndarray
    motions: np.ndarray
    window_mode: np.ndarray
    owner: np.ndarray
    clean_frame: np.ndarray
    window_crb_var: np.ndarray
    window_crb_snr_db: np.ndarray
    mode_crb_var: np.ndarray
    mode_crb_snr_db: np.ndarray
    params: dict


def scene_truth_paths(path, n_modes: int) -> list[Path]:
    """Truth WAV paths beside a scene video: ``<stem>.truth.wav``, ``<stem>.truth.1.wav``, ..."""
    first, _ = sidecar_paths(path)
    p = Path(path)
    return [first] + [p.with_name(f"{p.stem}.truth.{m}.wav") for m in range(1, n_modes)]


# --------------------------------------------------------------------------- rendering


class _WindowShifter:
    """Fourier-translate one periodic texture and crop one window of it (float32)."""

    def __init__(self, texture: np.ndarray, top: int, left: int, size: tuple, direction: float):
        self.big = texture.shape
        self.top, self.left = top, left
        self.size = size
        self.ux, self.uy = unit_vector(direction)
        self.spec = sfft.rfft2(texture).astype(np.complex64)

    def __call__(self, d: np.ndarray) -> np.ndarray:
        hb, wb = self.big
        h, w = self.size
        d = np.asarray(d, dtype=np.float64)
        rx = shift_factors(wb, d * self.ux, real=True, dtype=np.complex64)
        spec = self.spec[None] * rx[:, None, :]
        spec *= shift_factors(hb, d * self.uy, real=False, dtype=np.complex64)[:, :, None]
        rows = sfft.ifft(spec, axis=1)[:, self.top : self.top + h]
        return sfft.irfft(rows, n=wb, axis=2)[:, :, self.left : self.left + w]


def _clean_frame(scene: Scene, wall, origin, sources, owner) -> np.ndarray:
    """The noise-free frame at rest (float64, video grey units)."""
    h, w = scene.size
    clean = wall[origin[0] : origin[0] + h, origin[1] : origin[1] + w].copy()
    for i, (win, (tex, t0, l0)) in enumerate(zip(scene.windows, sources)):
        view = clean[win.y : win.y + win.h, win.x : win.x + win.w]
        vis = owner[win.y : win.y + win.h, win.x : win.x + win.w] == i
        view[vis] = tex[t0 : t0 + win.h, l0 : l0 + win.w][vis]
    return clean


def _owner_map(scene: Scene) -> np.ndarray:
    h, w = scene.size
    owner = np.full((h, w), -1, dtype=np.int64)
    for i, win in enumerate(scene.windows):
        owner[win.y : win.y + win.h, win.x : win.x + win.w] = i
    for i, win in enumerate(scene.windows):
        if not (owner == i).any():
            raise ParameterError(
                f"windows[{i}] rect {list(win.rect)} is entirely covered by later windows; "
                "move or remove it"
            )
    return owner


def _textures(scene: Scene, margin: int, s_tex: int, scale: float):
    """The wall's texture and, per window, (texture, top, left) of its crop."""
    h, w = scene.size
    big = tuple(sfft.next_fast_len(s + 2 * margin, real=True) for s in (h, w))
    wall = make_texture(big, kind=scene.texture, seed=s_tex) * scale
    top0, left0 = (big[0] - h) // 2, (big[1] - w) // 2
    out = []
    for i, win in enumerate(scene.windows):
        if win.texture == "background":
            out.append((wall, top0 + win.y, left0 + win.x))
            continue
        shape = tuple(sfft.next_fast_len(s + 2 * margin, real=True) for s in (win.h, win.w))
        seed = int(np.random.SeedSequence([s_tex, i + 1]).generate_state(1)[0])
        tex = make_texture(shape, kind=win.texture, seed=seed) * scale
        out.append((tex, (shape[0] - win.h) // 2, (shape[1] - win.w) // 2))
    return wall, (top0, left0), out


def _modes(scene: Scene, s_audio: int):
    """Sounds -> per-mode truths; returns (truths (M, T), window_mode, audio_infos)."""
    sounds, infos = {}, {}
    for j, snd in enumerate(scene.sounds):
        # Sound 0 is seeded like synthesize()'s audio, so that a one-window,
        # whole-frame scene renders exactly what synthesize() renders.
        seed = s_audio if j == 0 else int(np.random.SeedSequence([s_audio, j]).generate_state(1)[0])
        y = make_audio(snd.audio, rate=scene.fps, duration=scene.duration, seed=seed,
                       frequency=snd.frequency, voice=snd.voice, text=snd.text, wpm=snd.wpm)
        sounds[snd.name] = y
        infos[snd.name] = seed
    keys, truths, window_mode = [], [], []
    for win in scene.windows:
        key = (win.sound, win.resonance, win.lowpass)
        if key not in keys:
            shaped = object_response(sounds[win.sound], rate=scene.fps, resonance=win.resonance,
                                     lowpass=win.lowpass)
            peak = float(np.max(np.abs(shaped)))
            if peak == 0 or not math.isfinite(peak):
                raise AudioError(
                    f"the object response of a window on sound {win.sound!r} turned it into "
                    "silence; change its resonance or lowpass"
                )
            keys.append(key)
            truths.append(shaped / peak)
        window_mode.append(keys.index(key))
    return np.stack(truths), np.array(window_mode), infos


def _render(scene: Scene, wall_crop, sources, owner, motions, *, s_noise: int, scale: float,
            chunk: int = 256):
    """Yield quantised frame chunks ``(t, H, W)`` of the scene.

    The chunk shrinks for large textures so that one shifted spectrum stays under
    about 64 MB; the frames do not depend on the chunk (the noise is drawn in order).
    """
    spec_bytes = max(tex.shape[0] * (tex.shape[1] // 2 + 1) * 8 for tex, _, _ in sources)
    chunk = int(min(chunk, max(1, 2**26 // spec_bytes)))
    h, w = scene.size
    top = 65535 if scene.bit_depth == 16 else 255
    dtype = np.uint16 if scene.bit_depth == 16 else np.uint8
    rng = np.random.default_rng(s_noise)
    shifters = [_WindowShifter(tex, t0, l0, (win.h, win.w), win.direction)
                for win, (tex, t0, l0) in zip(scene.windows, sources)]
    masks = [owner[win.y : win.y + win.h, win.x : win.x + win.w] == i
             for i, win in enumerate(scene.windows)]
    base = wall_crop.astype(np.float32)
    n = motions.shape[1]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        frames = np.repeat(base[None], stop - start, axis=0)
        for i, win in enumerate(scene.windows):
            view = frames[:, win.y : win.y + win.h, win.x : win.x + win.w]
            np.copyto(view, shifters[i](motions[i, start:stop]), where=masks[i][None])
        if scene.noise_sigma > 0:
            noise = rng.standard_normal(frames.shape, dtype=np.float32)
            noise *= np.float32(scene.noise_sigma * scale)
            frames += noise
        np.rint(frames, out=frames)
        np.clip(frames, 0, top, out=frames)
        yield frames.astype(dtype)


# --------------------------------------------------------------------------- bounds


def _window_gradients(scene: Scene, sources, owner) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact ``(∂I/∂x, ∂I/∂y)`` of the texture over each window's visible pixels (1-D arrays)."""
    out = []
    grads: dict[int, tuple] = {}
    for i, (win, (tex, t0, l0)) in enumerate(zip(scene.windows, sources)):
        if id(tex) not in grads:
            grads[id(tex)] = periodic_gradients(tex)
        gx, gy = grads[id(tex)]
        vis = owner[win.y : win.y + win.h, win.x : win.x + win.w] == i
        sl = (slice(t0, t0 + win.h), slice(l0, l0 + win.w))
        out.append((gx[sl][vis], gy[sl][vis]))
    return out


def _snr(motion: np.ndarray, var: float, rate: float) -> float:
    if rate / 2 <= _BAND[0] or not math.isfinite(var):
        return math.nan if rate / 2 <= _BAND[0] else -math.inf
    return crb_snr_db(motion, var, rate=rate, band=_BAND)


def _bounds(scene: Scene, grads, truths, window_mode, sigma: float):
    """Per-window and per-mode bounds (variance px², SNR dB) and the modes' JSON records."""
    win_var, win_snr, win_var_q, info = [], [], [], []
    sig_q = math.sqrt(sigma * sigma + 1 / 12)
    for i, (win, (gx, gy)) in enumerate(zip(scene.windows, grads)):
        ux, uy = unit_vector(win.direction)
        info.append(float(np.sum((ux * gx + uy * gy) ** 2)))
        var = translation_crb(gx, gy, direction=win.direction, sigma=sigma)
        win_var.append(var)
        win_var_q.append(translation_crb(gx, gy, direction=win.direction, sigma=sig_q))
        motion = win.sign * win.amplitude * truths[window_mode[i]]
        win_snr.append(_snr(motion, var, scene.fps))
    mode_var, mode_snr, modes = [], [], []
    for m in range(len(truths)):
        ids = [i for i in range(len(scene.windows)) if window_mode[i] == m]
        a_ref = max(scene.windows[i].amplitude for i in ids)
        fisher = sum(scene.windows[i].amplitude ** 2 * info[i] for i in ids)
        if sigma == 0:
            var = 0.0
        else:
            var = a_ref**2 * sigma**2 / fisher if fisher > 0 else math.inf
        mode_var.append(var)
        mode_snr.append(_snr(a_ref * truths[m], var, scene.fps))
        xs = [scene.windows[i].x for i in ids] + [scene.windows[i].x + scene.windows[i].w for i in ids]
        ys = [scene.windows[i].y for i in ids] + [scene.windows[i].y + scene.windows[i].h for i in ids]
        modes.append({
            "windows": ids,
            "sound": scene.windows[ids[0]].sound,
            "resonance": _listed(scene.windows[ids[0]].resonance),
            "lowpass": scene.windows[ids[0]].lowpass,
            "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
            "reference_amplitude_px": a_ref,
            "crb_var_px2": var,
            "crb_snr_db": mode_snr[-1],
        })
    return (np.array(info), np.array(win_var), np.array(win_var_q), np.array(win_snr),
            np.array(mode_var), np.array(mode_snr), modes)


def _listed(value):
    return None if value is None else [float(v) for v in value]


# --------------------------------------------------------------------------- synthesize


def synthesize_scene(path, scene, *, progress: ProgressCallback | None = None) -> SceneResult:
    """Render a scene of vibrating windows on a static wall, with truths and bounds.

    This function is long because of its documentation; its code is 47 lines
    of straight-line steps.

    Parameters
    ----------
    path : path-like
        The video, ``.mkv`` (lossless FFV1) or ``.npy``.  Beside it go
        ``<stem>.json`` and the truth WAVs (see :func:`scene_truth_paths`).
    scene : Scene, dict or path-like
        The scene: a :class:`Scene`, a dict, or a JSON file (schema in the
        module docstring; :func:`load_scene` validates it).
    progress : callable, optional
        ``progress(frames_written, n_frames)``.

    Returns
    -------
    SceneResult

    Raises
    ------
    ParameterError
        On an invalid scene (one line naming the key and what to do).
    InputFileError, AudioError
        If an audio file is missing or unreadable.
    OutputError
        If an output cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scene.mkv"
    >>> res = synthesize_scene(out, {"size": 32, "duration": 0.05, "windows": [
    ...     {"rect": [0, 0, 16, 32], "audio": "tone"},
    ...     {"rect": [16, 0, 16, 32], "audio": "tone", "sign": -1}]})
    >>> res.motions.shape, res.truths.shape, res.window_mode.tolist()
    ((2, 110), (1, 110), [0, 0])
    """
    from .. import __version__

    sc = load_scene(scene)
    video = Path(path)
    if video.suffix.lower() not in (".mkv", ".npy"):
        raise ParameterError(f"output {str(video)!r} must end in .mkv (FFV1) or .npy")
    inputs = tuple(Path(s.audio) for s in sc.sounds if s.is_file)
    if not isinstance(scene, (dict, Scene)):
        inputs += (Path(scene),)
    s_tex, s_audio, s_noise = (int(x) for x in np.random.SeedSequence(sc.seed).generate_state(3))
    truths, window_mode, sound_seeds = _modes(sc, s_audio)
    _, meta_path = sidecar_paths(video)
    truth_paths = scene_truth_paths(video, len(truths))
    for p in (video, meta_path, *truth_paths):
        check_output_path(p, inputs=inputs)

    scale = SCALE_16 if sc.bit_depth == 16 else 1
    sigma = sc.noise_sigma * scale
    margin = _MARGIN + math.ceil(max(w.amplitude for w in sc.windows))
    wall, (top0, left0), sources = _textures(sc, margin, s_tex, scale)
    owner = _owner_map(sc)
    clean = _clean_frame(sc, wall, (top0, left0), sources, owner)
    motions = np.stack([win.sign * win.amplitude * truths[m]
                        for win, m in zip(sc.windows, window_mode)])
    grads = _window_gradients(sc, sources, owner)
    info, win_var, win_var_q, win_snr, mode_var, mode_snr, modes = _bounds(
        sc, grads, truths, window_mode, sigma)

    n = truths.shape[1]
    frames = _render(sc, clean, sources, owner, motions, s_noise=s_noise, scale=scale)
    written = write_video(video, frames, fps=sc.fps, bit_depth=sc.bit_depth,
                          progress=progress, total=n)
    from ..io.audio import write_audio

    for p, y in zip(truth_paths, truths):
        write_audio(p, y, max(1, round(sc.fps)), inputs=inputs)
    record = _record(sc, video, truth_paths, written, margin, scale, sound_seeds, window_mode,
                     info, win_var, win_var_q, win_snr, modes, __version__)
    with atomic_path(meta_path, inputs=inputs) as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    report(progress, written, n)
    return SceneResult(
        video_path=video, meta_path=meta_path, truth_paths=truth_paths, fps=sc.fps,
        truths=truths, motions=motions, window_mode=window_mode, owner=owner,
        clean_frame=clean, window_crb_var=win_var, window_crb_snr_db=win_snr,
        mode_crb_var=mode_var, mode_crb_snr_db=mode_snr, params=record,
    )


def _strict(value):
    """JSON-safe copy: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.generic):
        return _strict(value.item())
    return value


def _record(sc: Scene, video, truth_paths, written, margin, scale, sound_seeds, window_mode,
            info, win_var, win_var_q, win_snr, modes, version) -> dict:
    """The JSON record beside the video (the scene, truths and bounds)."""
    windows = []
    for i, win in enumerate(sc.windows):
        m = int(window_mode[i])
        windows.append({
            "rect": list(win.rect),
            "sound": win.sound,
            "audio": sc.sound(win.sound).audio,
            "truth": truth_paths[m].name,
            "mode": m,
            "amplitude_px": win.amplitude,
            "direction_deg": win.direction,
            "sign": win.sign,
            "resonance": _listed(win.resonance),
            "lowpass": win.lowpass,
            "texture": win.texture,
            "gradient_energy": float(info[i]),
            "crb_var_px2": float(win_var[i]),
            "crb_var_with_quantization_px2": float(win_var_q[i]),
            "crb_snr_db": float(win_snr[i]),
        })
    for m, mode in enumerate(modes):
        mode["truth"] = truth_paths[m].name
    one = modes[0] if len(modes) == 1 else None
    record = {
        "version": version,
        "kind": "scene",
        "video": video.name,
        "truth": truth_paths[0].name,
        "fps": sc.fps,
        "duration": written / sc.fps,
        "n_frames": written,
        "size": list(sc.size),
        "texture": sc.texture,
        "margin_px": margin,
        "noise_sigma": sc.noise_sigma,
        "noise_sigma_video_units": sc.noise_sigma * scale,
        "bit_depth": sc.bit_depth,
        "seed": sc.seed,
        "truth_rate": max(1, round(sc.fps)),
        "sounds": [dict(s.as_dict(), seed=sound_seeds[s.name]) for s in sc.sounds],
        "windows": windows,
        "modes": modes,
        "crb_band_hz": list(_BAND),
        # The bound of the vibrating region when there is one mode (else see "modes").
        "crb_var_px2": None if one is None else one["crb_var_px2"],
        "crb_snr_db": None if one is None else one["crb_snr_db"],
    }
    return _strict(record)
