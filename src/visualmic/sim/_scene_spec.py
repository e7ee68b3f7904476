"""Scene descriptions for :mod:`visualmic.sim.scene`: parsing and validation.

Every error is a one-line :class:`~visualmic.ParameterError` that names the key
(``scene windows[1].rect=...``) and says what to do.  The schema is documented in
:mod:`visualmic.sim.scene`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from pathlib import Path

from .._errors import InputFileError, ParameterError
from ..synth import AUDIO_KINDS, TEXTURES

__all__ = ["Scene", "Sound", "Window", "load_scene", "scene_from_options"]

_SCENE_KEYS = ("size", "fps", "duration", "texture", "noise_sigma", "bit_depth", "seed",
               "sounds", "windows")
_SOUND_KEYS = ("audio", "frequency", "voice", "text", "wpm")
_WINDOW_KEYS = ("rect", "sound", "amplitude", "direction", "sign", "resonance", "lowpass",
                "texture") + _SOUND_KEYS
_MIN_SIZE = 16


@dataclasses.dataclass(frozen=True)
class Sound:
    """A sound of the scene: a built-in kind or an audio file, with its options."""

    name: str
    audio: str
    frequency: float = 440.0
    voice: str | None = None
    text: str | None = None
    wpm: int | None = None

    @property
    def is_file(self) -> bool:
        """True when ``audio`` is a file path rather than a built-in kind."""
        return self.audio not in AUDIO_KINDS

    def as_dict(self) -> dict:
        """The JSON form (name, audio and the options that apply)."""
        d = {"name": self.name, "audio": self.audio}
        if self.audio == "tone":
            d["frequency"] = self.frequency
        if self.audio == "speech":
            d.update(voice=self.voice, text=self.text, wpm=self.wpm)
        return d


@dataclasses.dataclass(frozen=True)
class Window:
    """A vibrating window: rectangle ``(x, y, w, h)`` px and how its texture moves."""

    rect: tuple
    sound: str
    amplitude: float = 0.02
    direction: float = 0.0
    sign: int = 1
    resonance: tuple | None = None
    lowpass: float | None = None
    texture: str = "background"

    @property
    def x(self) -> int:  # noqa: D102
        return self.rect[0]

    @property
    def y(self) -> int:  # noqa: D102
        return self.rect[1]

    @property
    def w(self) -> int:  # noqa: D102
        return self.rect[2]

    @property
    def h(self) -> int:  # noqa: D102
        return self.rect[3]


@dataclasses.dataclass(frozen=True)
class Scene:
    """A validated scene (see :func:`load_scene`)."""

    windows: tuple
    sounds: tuple
    size: tuple = (128, 128)
    fps: float = 2200.0
    duration: float = 2.0
    texture: str = "noise"
    noise_sigma: float = 1.0
    bit_depth: int = 8
    seed: int = 0

    def sound(self, name: str) -> Sound:
        """The sound called ``name``."""
        return next(s for s in self.sounds if s.name == name)


# --------------------------------------------------------------------------- checks


def _number(where: str, value, *, minimum=None, strict=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"scene {where}={value!r} must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"scene {where}={value!r} must be a finite number")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        op = ">" if strict else ">="
        raise ParameterError(f"scene {where}={value!r} must be {op} {minimum:g}")
    return v


def _integer(where: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"scene {where}={value!r} must be an integer >= {minimum}")
    return int(value)


def _keys(where: str, d, allowed) -> dict:
    if not isinstance(d, dict):
        raise ParameterError(f"scene {where} must be a JSON object {{...}}, got {d!r}")
    for k in d:
        if k not in allowed:
            raise ParameterError(
                f"scene {where} has an unknown key {k!r}; expected one of {', '.join(allowed)}"
            )
    return d


def _size(value) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ParameterError(f"scene size={value!r} must be N or [H, W] in pixels")
    h, w = (_integer("size", v, minimum=_MIN_SIZE) for v in value)
    return h, w


def _choice(where: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"scene {where}={value!r} is unknown; choose one of {', '.join(choices)}")
    return value


def _sound(where: str, name: str, spec: dict, base: Path | None) -> Sound:
    if "audio" not in spec:
        raise ParameterError(f"scene {where} needs an 'audio' (a built-in kind or a WAV file)")
    audio = spec["audio"]
    if not isinstance(audio, str) or not audio:
        raise ParameterError(f"scene {where}.audio={audio!r} must be a kind or a file path")
    if audio not in AUDIO_KINDS:
        p = Path(audio)
        if base is not None and not p.is_absolute():
            p = base / p
        if not p.is_file():
            raise InputFileError(
                f"scene {where}.audio={audio!r} is neither a built-in kind "
                f"({', '.join(AUDIO_KINDS)}) nor an existing file; check the path"
            )
        audio = os.fspath(p)
    freq = _number(f"{where}.frequency", spec.get("frequency", 440.0), minimum=0, strict=True)
    if audio != "tone":
        freq = 440.0  # only tones have a frequency
    wpm = spec.get("wpm")
    if wpm is not None:
        wpm = _integer(f"{where}.wpm", wpm, minimum=80)
    for key in ("voice", "text"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise ParameterError(f"scene {where}.{key}={spec[key]!r} must be a string")
    return Sound(name, audio, freq, spec.get("voice"), spec.get("text"), wpm)


def _pair_or_none(where: str, value, fps: float, *, pair: bool):
    if value is None:
        return None
    if pair:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ParameterError(f"scene {where}={value!r} must be [f0_hz, q] or null")
        f0 = _number(f"{where}[0]", value[0], minimum=0, strict=True)
        q = _number(f"{where}[1]", value[1], minimum=0, strict=True)
    else:
        f0 = _number(where, value, minimum=0, strict=True)
    if f0 >= fps / 2:
        raise ParameterError(
            f"scene {where}={value!r}: {f0:g} Hz must lie below the Nyquist frequency {fps / 2:g} Hz"
        )
    return (f0, q) if pair else f0


def _rect(where: str, value, size) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ParameterError(f"scene {where}={value!r} must be [x, y, w, h] in pixels")
    x, y = (_integer(where, v, minimum=0) for v in value[:2])
    w, h = (_integer(where, v, minimum=2) for v in value[2:])
    H, W = size
    if x + w > W or y + h > H:
        raise ParameterError(
            f"scene {where}={list(value)} reaches outside the {W}x{H} frame "
            "(x + w <= width and y + h <= height); shrink or move it"
        )
    return (x, y, w, h)


def _window(i: int, spec, sc: dict, sounds: dict, base) -> Window:
    where = f"windows[{i}]"
    _keys(where, spec, _WINDOW_KEYS)
    if "rect" not in spec:
        raise ParameterError(f"scene {where} needs a 'rect': [x, y, w, h] in pixels")
    rect = _rect(f"{where}.rect", spec["rect"], sc["size"])
    inline = {k: spec[k] for k in _SOUND_KEYS if k in spec}
    if "sound" in spec:
        if inline:
            raise ParameterError(
                f"scene {where} gives both 'sound' and {', '.join(inline)}; "
                "name a sound from 'sounds' or describe it inline, not both"
            )
        name = spec["sound"]
        if name not in sounds:
            raise ParameterError(
                f"scene {where}.sound={name!r} is not in 'sounds' "
                f"({', '.join(sounds) or 'none defined'}); define it there"
            )
    else:
        snd = _sound(where, "", inline or {"audio": "melody"}, base)
        same = [s for s in sounds.values() if dataclasses.replace(s, name="") == snd]
        if same:
            name = same[0].name
        else:
            name = snd.audio if snd.audio != "tone" else f"tone@{snd.frequency:g}Hz"
            name = name if name not in sounds else f"{name}#{len(sounds)}"
            sounds[name] = dataclasses.replace(snd, name=name)
    sign = spec.get("sign", 1)
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ParameterError(f"scene {where}.sign={sign!r} must be 1 or -1")
    texture = spec.get("texture", "background")
    if texture != "background":
        _choice(f"{where}.texture", texture, ("background",) + TEXTURES)
    return Window(
        rect=rect,
        sound=name,
        amplitude=_number(f"{where}.amplitude", spec.get("amplitude", 0.02), minimum=0),
        direction=_number(f"{where}.direction", spec.get("direction", 0.0)),
        sign=int(sign),
        resonance=_pair_or_none(f"{where}.resonance", spec.get("resonance"), sc["fps"], pair=True),
        lowpass=_pair_or_none(f"{where}.lowpass", spec.get("lowpass"), sc["fps"], pair=False),
        texture=texture,
    )


def _parse(d: dict, base: Path | None) -> Scene:
    _keys("description", d, _SCENE_KEYS)
    sc = {
        "size": _size(d.get("size", [128, 128])),
        "fps": _number("fps", d.get("fps", 2200.0), minimum=0, strict=True),
        "texture": _choice("texture", d.get("texture", "noise"), TEXTURES),
        "noise_sigma": _number("noise_sigma", d.get("noise_sigma", 1.0), minimum=0),
        "seed": _integer("seed", d.get("seed", 0), minimum=0),
    }
    sc["duration"] = _number("duration", d.get("duration", 2.0), minimum=0, strict=True)
    if round(sc["duration"] * sc["fps"]) < 2:
        raise ParameterError(
            f"scene duration={sc['duration']:g} s at fps={sc['fps']:g} gives fewer than 2 frames; "
            "make it longer"
        )
    bit_depth = d.get("bit_depth", 8)
    if isinstance(bit_depth, bool) or bit_depth not in (8, 16):
        raise ParameterError(f"scene bit_depth={bit_depth!r} is not supported; choose 8 or 16")
    sc["bit_depth"] = int(bit_depth)
    sounds = {}
    named = d.get("sounds", {})
    if not isinstance(named, dict):
        raise ParameterError(f"scene sounds must be an object {{name: {{...}}}}, got {named!r}")
    for name, spec in named.items():
        if not name:
            raise ParameterError("scene sounds has an empty name; give every sound a name")
        _keys(f"sounds[{name!r}]", spec, _SOUND_KEYS)
        sounds[name] = _sound(f"sounds[{name!r}]", name, spec, base)
    wins = d.get("windows")
    if not isinstance(wins, list) or not wins:
        raise ParameterError(
            "scene windows must be a non-empty list of windows, e.g. "
            '[{"rect": [32, 32, 64, 64], "audio": "melody"}]'
        )
    windows = tuple(_window(i, w, sc, sounds, base) for i, w in enumerate(wins))
    used = {w.sound for w in windows}
    return Scene(windows=windows, sounds=tuple(s for s in sounds.values() if s.name in used), **sc)


def load_scene(source) -> Scene:
    """Read and validate a scene.

    Parameters
    ----------
    source : Scene, dict or path-like
        A scene, its dict form, or a JSON file holding it (schema in
        :mod:`visualmic.sim.scene`; audio paths relative to the file's folder).

    Returns
    -------
    Scene

    Raises
    ------
    InputFileError
        The JSON file or an audio file does not exist.
    ParameterError
        Invalid JSON or an invalid value (one line naming the key).

    Examples
    --------
    >>> sc = load_scene({"windows": [{"rect": [0, 0, 64, 128], "audio": "tone", "sign": -1}]})
    >>> sc.size, sc.windows[0].sign, sc.sounds[0].name
    ((128, 128), -1, 'tone@440Hz')
    """
    if isinstance(source, Scene):
        return source
    if isinstance(source, dict):
        return _parse(source, None)
    if not isinstance(source, (str, os.PathLike)):
        raise ParameterError(f"scene={source!r} must be a dict, a Scene or a JSON file path")
    path = Path(source)
    if not path.is_file():
        raise InputFileError(f"scene file {str(path)!r} not found; check the path")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"scene file {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}); fix it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read scene file {str(path)!r} ({exc})") from None
    return _parse(d, path.parent)


def _per_window(name: str, values, n: int) -> list:
    values = list(values)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ParameterError(
            f"{name} has {len(values)} values for {n} windows; give one (for every window) "
            "or one per window"
        )
    return values


def scene_from_options(windows, *, audio=("melody",), frequency=(440.0,), amplitude=(0.02,),
                       direction=(0.0,), sign=(1,), texture=("background",), resonance=(None,),
                       lowpass=(None,), **scene) -> Scene:
    """Build a scene from per-window option lists (what ``synth --window ...`` gives).

    Parameters
    ----------
    windows : sequence of (x, y, w, h)
        Window rectangles in pixels.
    audio, frequency, amplitude, direction, sign, texture, resonance, lowpass : sequence
        One value for every window, or one value per window (in the order of
        ``windows``).  Windows with the same ``audio`` (and ``frequency`` for
        tones) share one sound.
    **scene
        Scene-level keys: ``size``, ``fps``, ``duration``, ``texture`` (of the
        wall: pass it as ``background_texture``), ``noise_sigma``, ``bit_depth``,
        ``seed``.

    Returns
    -------
    Scene

    Raises
    ------
    ParameterError
        A list whose length is neither 1 nor the number of windows, or an invalid value.
    """
    n = len(windows)
    if n == 0:
        raise ParameterError("give at least one window (x, y, w, h)")
    cols = {k: _per_window(f"window_{k}", v, n) for k, v in dict(
        audio=audio, frequency=frequency, amplitude=amplitude, direction=direction, sign=sign,
        texture=texture, resonance=resonance, lowpass=lowpass).items()}
    specs = []
    for i, rect in enumerate(windows):
        spec = {k: cols[k][i] for k in cols}
        spec["rect"] = list(rect)
        if spec["audio"] != "tone":
            spec.pop("frequency")
        specs.append({k: v for k, v in spec.items() if v is not None or k == "resonance"})
    d = {k: v for k, v in scene.items() if v is not None and k != "background_texture"}
    if scene.get("background_texture") is not None:
        d["texture"] = scene["background_texture"]
    d["windows"] = specs
    return _parse(d, None)
