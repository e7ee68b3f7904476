"""One self-contained HTML page per run: parameters, warnings, tables, images and audio.

:func:`write_report` turns the summary of a run (``Recovery.summary()``, the
dictionary ``visualmic recover --json`` prints) and the run's media into ONE
HTML file that opens in any browser without a network or any other file:

* images (the spectrogram, a reference frame, a vibration map) are embedded as
  ``data:`` URIs (PNG, or SVG when given as SVG);
* audio is embedded as ``data:audio/wav`` players, resampled to 44.1 kHz
  16-bit PCM, a format every browser plays (a 2200 Hz float WAV is refused by
  many);
* the style sheet is inline; the page holds no script and references nothing
  outside itself (no ``http://``, no ``//`` URL, no relative file).

Every section is optional, so the same function serves ``recover --report`` and
a future ``map --report`` (which passes ``sources`` and ``vibration_map``).
The page is written atomically (:func:`visualmic.io.atomic.atomic_path`).
A minute of audio adds about 7 MB to the page (5.3 MB of PCM, base64-encoded).
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._errors import OutputError, ParameterError
from ..io.atomic import atomic_path

__all__ = ["write_report", "render_report", "check_report_path", "wav_bytes", "image_data_uri", "PLAYER_RATE"]

#: Sampling rate of the embedded audio players (Hz): what every browser plays.
PLAYER_RATE = 44100

_CSS = """
:root { --fg:#1d2430; --muted:#5b6575; --line:#d9dee7; --bg:#ffffff; --band:#f5f7fa;
        --accent:#2f5fb3; --warn-bg:#fff7e0; --warn-line:#e8b936; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1000px; margin:0 auto; padding:28px 32px 48px; }
header { border-bottom:2px solid var(--accent); margin-bottom:8px; padding-bottom:10px; }
h1 { font-size:24px; margin:0 0 4px; }
.sub { color:var(--muted); font-size:14px; margin:0; word-break:break-all; }
h2 { font-size:17px; margin:28px 0 10px; padding-bottom:4px; border-bottom:1px solid var(--line); }
table { border-collapse:collapse; font-size:13.5px; margin:4px 0 8px; }
th, td { padding:4px 12px 4px 8px; border-bottom:1px solid var(--line); text-align:left;
         vertical-align:top; }
th { background:var(--band); font-weight:600; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.ref td { font-weight:600; }
.kv th { width:220px; background:none; font-weight:500; color:var(--muted); }
.kv td { font-variant-numeric:tabular-nums; }
.bar { display:inline-block; height:9px; background:var(--accent); border-radius:2px;
       vertical-align:middle; }
.warn { background:var(--warn-bg); border-left:4px solid var(--warn-line); padding:8px 12px;
        margin:0; list-style:none; }
.warn li { margin:2px 0; }
.ok { color:var(--muted); }
figure { margin:6px 0 14px; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
.players { display:grid; grid-template-columns:max-content 1fr; gap:8px 16px; align-items:center; }
.players audio { width:100%; max-width:520px; }
.note { color:var(--muted); font-size:13px; }
.wide { overflow-x:auto; }
footer { margin-top:36px; color:var(--muted); font-size:12px; border-top:1px solid var(--line);
         padding-top:8px; }
"""

# Readable names of the scores of :func:`visualmic.eval.metrics.evaluate` (others are shown as is).
_METRIC_LABELS = {
    "snr_db": "SNR (dB)", "segsnr_db": "segmental SNR (dB)", "pearson": "Pearson r",
    "stoi": "STOI", "rmse": "RMS error", "mae": "mean absolute error",
    "lag": "lag (samples)", "scale": "least-squares gain on the recovery", "band": "band (Hz)",
    "rate": "rate (Hz)", "samples": "samples compared",
}

# Columns of the band table: (summary key, heading, format).
_BAND_COLUMNS = (
    ("level", "level", None),
    ("orientation", "orientation", None),
    ("weight", "weight", "{:.3f}"),
    ("gain", "gain", "{:.3g}"),
    ("snr_db", "SNR (dB)", "{:.1f}"),
    ("lag", "lag (samples)", "{:d}"),
    ("sign", "sign", "{:+d}"),
)


# --------------------------------------------------------------------------- media


def wav_bytes(y, rate: float, *, out_rate: int = PLAYER_RATE) -> bytes:
    """Encode audio as a 16-bit PCM mono WAV at ``out_rate`` (default 44.1 kHz), in memory.

    The samples are resampled with a polyphase anti-aliasing filter
    (:func:`visualmic.core.post.resample`), scaled so the peak is at most full
    scale (quiet audio is left as it is), and rounded.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples (full scale = 1).
    rate : float
        Sampling rate of ``y`` in Hz.
    out_rate : int, optional
        Rate of the WAV in Hz.

    Returns
    -------
    bytes
        A complete RIFF/WAVE file.

    Examples
    --------
    >>> data = wav_bytes(np.zeros(2200), 2200)
    >>> data[:4], int.from_bytes(data[24:28], "little")
    (b'RIFF', 44100)
    """
    import soundfile as sf

    from ..core.post import resample

    x = np.asarray(resample(y, rate, out_rate), dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        x = x / peak
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, int(out_rate), subtype="PCM_16", format="WAV")
    return buf.getvalue()


def image_data_uri(image) -> str:
    """Return a ``data:`` URI for an image: PNG or SVG bytes, SVG text, or a matplotlib Figure.

    A Figure is rendered to PNG at its own size and resolution.

    Raises
    ------
    ParameterError
        If ``image`` is none of these.
    """
    if hasattr(image, "savefig"):
        from .plot import figure_bytes

        image = figure_bytes(image, "png")
    if isinstance(image, str):
        image = image.encode("utf-8")
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            mime = "image/png"
        elif b"<svg" in data[:4096]:
            mime = "image/svg+xml"
        else:
            raise ParameterError(
                "image bytes are neither PNG nor SVG; give PNG bytes, SVG text or a Figure"
            )
        return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    raise ParameterError(
        f"image of type {type(image).__name__} cannot be embedded; give PNG bytes, SVG text "
        "or a matplotlib Figure"
    )


# --------------------------------------------------------------------------- HTML pieces


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value) -> str:
    """A readable cell for a value of a summary: numbers rounded, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if v != 0 else "0"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k} = {_fmt(v)}" for k, v in value.items())
    return str(value)


def _is_num(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _kv_table(rows: Sequence[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _table(records: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A table of dicts; columns default to the keys of the records, in first-seen order."""
    if columns is None:
        columns = []
        for r in records:
            columns.extend(k for k in r if k not in columns)
    numeric = {c: all(_is_num(r.get(c)) for r in records if r.get(c) is not None)
               for c in columns}
    head = "".join(f'<th class="{"num" if numeric[c] else ""}">{_e(c)}</th>' for c in columns)
    rows = []
    for r in records:
        cells = "".join(
            f'<td class="{"num" if numeric[c] else ""}">{_e(_fmt(r.get(c)))}</td>' for c in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _band_table(bands: Sequence[Mapping], reference: int | None, orientations: int | None) -> str:
    """The band table, with a bar for each weight and the reference band in bold."""
    top = max((abs(float(b.get("weight", 0.0))) for b in bands), default=0.0) or 1.0
    head = "".join(
        f'<th class="{"" if key in ("level", "orientation") else "num"}">{_e(name)}</th>'
        for key, name, _ in _BAND_COLUMNS
    ) + "<th>weight</th>"
    rows = []
    for i, b in enumerate(bands):
        cells = []
        for key, _, fmt in _BAND_COLUMNS:
            v = b.get(key)
            if key == "level":
                text = "high-pass" if v == -1 else str(v)
            elif key == "orientation" and orientations:
                text = f"{v} ({180.0 * v / orientations:g}°)"
            elif v is None:
                text = "—"
            elif fmt is not None:
                text = fmt.format(int(v) if "d" in fmt else float(v))
            else:
                text = str(v)
            cls = "" if key in ("level", "orientation") else "num"
            cells.append(f'<td class="{cls}">{_e(text)}</td>')
        width = 120.0 * abs(float(b.get("weight", 0.0))) / top
        cells.append(f'<td><span class="bar" style="width:{width:.1f}px"></span></td>')
        cls = ' class="ref"' if reference is not None and i == reference else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _players(audio: Sequence) -> str:
    items = []
    for i, track in enumerate(audio):
        try:
            label, y, rate = track
        except (TypeError, ValueError):
            raise ParameterError(
                f"audio[{i}] must be a (label, samples, rate) triple"
            ) from None
        uri = "data:audio/wav;base64," + base64.b64encode(wav_bytes(y, rate)).decode("ascii")
        seconds = np.size(y) / float(rate)
        items.append(
            f"<div>{_e(label)}<br><span class=\"note\">{seconds:.2f} s, recorded at "
            f"{float(rate):g} Hz</span></div>"
            f'<audio controls preload="metadata" src="{uri}"></audio>'
        )
    note = (f'<p class="note">Players are resampled to {PLAYER_RATE} Hz 16-bit PCM so that every '
            "browser plays them; the written audio file keeps its own rate.</p>")
    return f'<div class="players">{"".join(items)}</div>{note}'


# --------------------------------------------------------------------------- page


def _overview_rows(summary: Mapping, source) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    if source is not None:
        rows.append(("input", os.fspath(source) if isinstance(source, os.PathLike) else source))
    if "output" in summary:
        rows.append(("output", summary["output"]))
    shape = summary.get("frame_shape")
    for key, label in (("frames", "frames"), ("fps", "frame rate (fps)"),
                       ("duration_s", "duration (s)"), ("rate", "audio rate (Hz)")):
        if key in summary:
            rows.append((label, summary[key]))
    if shape:
        rows.append(("processed frame (W × H, px)", f"{shape[-1]} × {shape[0]}"))
    return rows


def _sections(summary: Mapping, *, source, audio, spectrogram, images, sources,
              vibration_map, tables) -> list[tuple[str, str]]:
    """Build the page's sections as ``(title, inner HTML)``, in reading order."""
    out: list[tuple[str, str]] = []
    out.append(("Input", _kv_table(_overview_rows(summary, source))))
    warns = list(summary.get("warnings") or [])
    out.append(("Warnings", f'<ul class="warn">{"".join(f"<li>{_e(w)}</li>" for w in warns)}</ul>'
                if warns else '<p class="ok">None.</p>'))
    if audio:
        out.append(("Audio", _players(audio)))
    figures = []
    if spectrogram is not None:
        figures.append(_figure(image_data_uri(spectrogram),
                               "Spectrogram (power in dB relative to each panel's peak)"))
    if vibration_map is not None:
        figures.append(_figure(image_data_uri(vibration_map), "Vibration map"))
    for caption, image in images:
        figures.append(_figure(image_data_uri(image), caption))
    if figures:
        out.append(("Images", "".join(figures)))
    metrics = summary.get("metrics")
    if metrics:
        out.append(("Scores against the ground truth",
                    _kv_table([(_METRIC_LABELS.get(k, k), v) for k, v in metrics.items()])))
    src_rows = sources if sources is not None else summary.get("sources")
    if src_rows:
        out.append(("Sources", _table(list(src_rows))))
    bands = summary.get("bands")
    if bands:
        params = summary.get("params") or {}
        out.append((
            "Bands",
            '<p class="note">Pyramid bands, combined with the weights shown; the reference band '
            "(bold) is the one the others were aligned to; lag and sign are the alignment.</p>"
            + _band_table(bands, summary.get("reference_band"), params.get("orientations")),
        ))
    for title, records in (tables or {}).items():
        out.append((str(title), f'<div class="wide">{_table(list(records))}</div>'))
    params = summary.get("params")
    if params:
        out.append(("Parameters", _kv_table(list(params.items()))))
    timings = summary.get("timings_s")
    if timings:
        rows = [(k.replace("_", " ") + " (s)", v) for k, v in timings.items()]
        total = timings.get("total")
        if total and summary.get("frames"):
            rows.append(("throughput (frames/s)", round(summary["frames"] / max(total, 1e-9))))
        out.append(("Timings", _kv_table(rows)))
    return out


def render_report(
    summary: Mapping | None = None,
    *,
    title: str = "visualmic report",
    source=None,
    audio: Sequence = (),
    spectrogram=None,
    images: Sequence = (),
    sources: Sequence[Mapping] | None = None,
    vibration_map=None,
    tables: Mapping[str, Sequence[Mapping]] | None = None,
) -> str:
    """Return the HTML text of a report (see :func:`write_report` for the parameters)."""
    from .. import __version__

    summary = dict(summary or {})
    sections = _sections(summary, source=source, audio=list(audio), spectrogram=spectrogram,
                         images=list(images), sources=sources, vibration_map=vibration_map,
                         tables=tables)
    body = "".join(f"<section><h2>{_e(t)}</h2>{inner}</section>" for t, inner in sections)
    sub = _e(os.fspath(source)) if source is not None else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main><header><h1>{_e(title)}</h1><p class="sub">{sub}</p></header>'
        f"{body}"
        f"<footer>Written by visualmic {_e(__version__)}. The visual microphone: Davis et "
        "al., ACM TOG 33(4), 2014, doi:10.1145/2601097.2601119. This page is self-contained: "
        "it needs no network and no other file.</footer></main></body></html>\n"
    )


def check_report_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """Check a report path before long work starts: an ``.html`` name in a writable folder.

    Raises
    ------
    OutputError
        If the name does not end in ``.html``/``.htm``, is an input, or cannot be written.
    """
    from ..io.atomic import check_output_path

    out = Path(path)
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"report {str(out)!r} must be an .html file; choose a name ending "
                          "in .html")
    return check_output_path(out, inputs=inputs)


def write_report(
    path: str | os.PathLike,
    summary: Mapping | None = None,
    *,
    title: str = "visualmic report",
    source=None,
    audio: Sequence = (),
    spectrogram=None,
    images: Sequence = (),
    sources: Sequence[Mapping] | None = None,
    vibration_map=None,
    tables: Mapping[str, Sequence[Mapping]] | None = None,
    inputs: tuple = (),
) -> Path:
    """Write a self-contained HTML report of a run, atomically.

    Every argument but ``path`` is optional: a section appears only when its
    content is given.

    Parameters
    ----------
    path : path-like
        Output file ending in ``.html`` or ``.htm``.
    summary : dict, optional
        A run's summary, as returned by ``Recovery.summary()`` (keys ``frames``,
        ``fps``, ``duration_s``, ``rate``, ``frame_shape``, ``bands``,
        ``reference_band``, ``params``, ``warnings``, ``timings_s``, and
        optionally ``output``, ``metrics`` and ``sources``).
    title : str, optional
        Page title.
    source : str or path-like, optional
        The input shown at the top (the video).
    audio : sequence of (str, np.ndarray [shape=(n,)], float)
        ``(label, samples, rate)`` per player, e.g. the recovered and the
        enhanced sound; each is embedded as a 44.1 kHz 16-bit PCM WAV.
    spectrogram : matplotlib Figure, PNG bytes or SVG text, optional
        The spectrogram image.
    images : sequence of (str, image), optional
        More ``(caption, image)`` pairs (e.g. the reference frame).
    sources : sequence of dict, optional
        One row per cell or source of a spatial analysis (any keys; numbers are
        right-aligned). Default: ``summary["sources"]`` if present.
    vibration_map : matplotlib Figure, PNG bytes or SVG text, optional
        The vibration map image.
    tables : dict of str to sequence of dict, optional
        Extra tables by title.
    inputs : tuple of path-like
        Input files the report may not overwrite.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputError
        If ``path`` does not end in ``.html``/``.htm``, is an input, or cannot be written.
    ParameterError
        If an image or audio track cannot be embedded.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.html"
    >>> _ = write_report(out, {"frames": 10, "fps": 2200.0}, audio=[("tone", np.zeros(100), 2200)])
    >>> "<audio" in out.read_text()
    True
    """
    out = check_report_path(path, inputs=inputs)
    text = render_report(summary, title=title, source=source, audio=audio,
                         spectrogram=spectrogram, images=images, sources=sources,
                         vibration_map=vibration_map, tables=tables)
    with atomic_path(out, inputs=inputs) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
