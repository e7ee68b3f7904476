"""Are the outputs of two source trees identical? (the restructuring's proof).

Runs the same command lines (``synth``, ``recover`` with every method, with and
without ``--enhance`` and ``--dask``, ``listen``, ``evaluate``, ``denoise``) through
``python -m visualmic`` with ``PYTHONPATH`` set to each tree's ``src``, then compares
every WAV written (max |a - b| / peak of a) and the numbers in each ``--json``
summary (timings excepted).

Run (from the project root; the baseline tree is e.g. a worktree of an old commit)::

    git worktree add /tmp/base 086380a
    python benchmarks/equivalence.py --base /tmp/base/src --new src [--quick]

Prints one row per output and exits 1 if any differs by more than ``--tol`` (1e-6)
of its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

VIDEOS = {
    # name: synth arguments
    "cam8": ["--texture", "camera", "--audio", "melody", "--amplitude", "0.02", "--noise", "1.5",
             "--size", "96", "--duration", "0.6", "--seed", "3"],
    "brick16": ["--texture", "brick", "--audio", "chirp", "--amplitude", "0.03", "--noise", "1",
                "--size", "80", "--duration", "0.6", "--bit-depth", "16", "--direction", "30",
                "--seed", "4"],
    "large": ["--texture", "noise", "--audio", "tone", "--amplitude", "0.4", "--noise", "1",
              "--size", "64", "--duration", "0.5", "--seed", "5"],
}

RECOVER = {
    # name: (video, recover arguments)
    "phase": ("cam8", []),
    "fast": ("cam8", ["--method", "fast"]),
    "auto": ("large", ["--method", "auto"]),
    "phase16": ("brick16", ["--reference", "8", "--denoise", "specsub"]),
    "uniform": ("brick16", ["--weighting", "uniform", "--scales", "2", "--no-highpass-bands"]),
    "roi": ("cam8", ["--roi", "10,12,64,60", "--downsample", "2", "--start", "5", "--end", "900"]),
    "enhance": ("cam8", ["--enhance"]),
    "dask": ("cam8", ["--dask", "--workers", "1", "--chunk-size", "64"]),
    "dask_fast": ("brick16", ["--method", "fast", "--dask", "--workers", "1"]),
    "out44k": ("cam8", ["--output-rate", "44100", "--pcm16"]),
}


def run(src: Path, args: list[str], cwd: Path, stdin: bytes | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    r = subprocess.run([sys.executable, "-m", "visualmic", *args], cwd=cwd, env=env,
                       input=stdin, capture_output=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"{src}: visualmic {' '.join(args)} failed:\n{r.stderr.decode()}")
    return r.stdout.decode()


def produce(src: Path, out: Path, quick: bool, extra: list[str] = ()) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for name, args in VIDEOS.items():
        run(src, ["synth", "-o", f"{name}.mkv", *args, "-q"], out)
    for name, (video, args) in RECOVER.items():
        if quick and name.startswith("dask"):
            continue
        text = run(src, ["recover", f"{video}.mkv", "-o", f"rec_{name}.wav", "--json", "-q", *extra,
                         *args], out)
        summaries[name] = json.loads(text)
    frames = (np.load(out / "cam8_frames.npy") if (out / "cam8_frames.npy").exists() else None)
    if frames is None:
        import av  # noqa: PLC0415 - decode the synthetic video to raw bytes for listen
        with av.open(str(out / "cam8.mkv")) as c:
            frames = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)])
    h, w = frames.shape[1:]
    run(src, ["listen", "--raw", f"{w}x{h}", "--fps", "2200", "-o", "listen.wav", "-q"], out,
        stdin=frames.astype(np.uint8).tobytes())
    summaries["evaluate"] = json.loads(run(
        src, ["evaluate", "rec_phase.wav", "cam8.truth.wav", "--band", "80,1000", "--json"], out))
    run(src, ["denoise", "rec_phase.wav", "-o", "den.wav", "-q"], out)
    return summaries


def numbers(obj, prefix=""):
    """Flatten the numeric leaves of a JSON summary (timings and paths excluded)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if "timing" in k or k in ("path", "warnings"):
                continue
            yield from numbers(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, float(obj)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="src folder of the baseline tree")
    ap.add_argument("--new", type=Path, default=Path("src"), help="src folder of the new tree")
    ap.add_argument("--quick", action="store_true", help="skip the Dask runs")
    ap.add_argument("--tol", type=float, default=1e-6, help="relative tolerance (of the peak)")
    ap.add_argument("--out", type=Path, help="keep the outputs here")
    ap.add_argument("--new-recover-args", default="",
                    help="extra recover options for the new tree only (before each case's own), e.g. to pin defaults "
                    "that changed on purpose: '--method phase --weighting ml'")
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp(prefix="vm-equiv-"))
    sa = produce(a.base, root / "base", a.quick)
    sb = produce(a.new, root / "new", a.quick, a.new_recover_args.split())
    worst = 0.0
    print(f"{'output':28s} {'max |a-b| / peak':>18s}")
    for wav in sorted((root / "base").glob("*.wav")):
        x, ra = sf.read(wav, dtype="float64")
        y, rb = sf.read(root / "new" / wav.name, dtype="float64")
        if ra != rb or x.shape != y.shape:
            print(f"{wav.name:28s} {'DIFFERENT SHAPE/RATE':>18s}")
            worst = np.inf
            continue
        d = float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-30))
        worst = max(worst, d)
        print(f"{wav.name:28s} {d:18.2e}")
    for vid in VIDEOS:
        for suffix in (".mkv", ".truth.wav"):
            same = (root / "base" / f"{vid}{suffix}").read_bytes() == \
                (root / "new" / f"{vid}{suffix}").read_bytes()
            print(f"{vid + suffix:28s} {'identical bytes' if same else 'BYTES DIFFER':>18s}")
    for name in sa:
        na, nb = dict(numbers(sa[name])), dict(numbers(sb[name]))
        keys = sorted(set(na) & set(nb))
        d = max((abs(na[k] - nb[k]) / max(abs(na[k]), 1e-12) for k in keys), default=0.0)
        missing = sorted(set(na) - set(nb))
        print(f"{'json ' + name:28s} {d:18.2e}" + (f"  missing: {missing[:3]}" if missing else ""))
    print(f"worst WAV difference: {worst:.2e} of peak (tolerance {a.tol:g}); outputs in {root}")
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
