"""Camera files and image stacks recover like the lossless original (issue 12 bar).

One lossless 16-bit synthetic video (FFV1/MKV, 2200 fps, 0.02 px of motion,
sensor noise 1.5 grey levels on the 8-bit scale, written by ``visualmic
synth``) is rewritten, with the writers of ``tests/format_writers.py``, as

* Photron 16-bit and packed 12-bit ``.mraw`` with a ``.cih`` header (given
  as the ``.cih`` and as the ``.mraw``) and a ``.cihx`` header;
* a multi-page TIFF (ImageJ, frame interval in the header);
* a BMP sequence (8 bit: the top byte; a folder has no rate: ``-s 2200``);
* Phantom ``.cine`` in 16 bit and packed 12 and 10 bit;

then each is recovered with the default settings (``visualmic recover FILE``,
frame rate from the header where the format has one) and scored against the
ground truth (SNR in 80-1000 Hz, least-squares scale, best lag within 3
samples).  The bar: every SNR within 0.3 dB of the FFV1 original's.

Run:  python benchmarks/formats.py [--duration S] [--size N] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from format_writers import (  # noqa: E402
    write_cine,
    write_image_folder,
    write_photron,
    write_tiff_stack,
)

import visualmic  # noqa: E402
from visualmic.io.audio import read_audio  # noqa: E402
from visualmic.io.video import open_video  # noqa: E402
from visualmic.metrics import snr  # noqa: E402

FPS = 2200.0


def build(out: Path, duration: float, size: int, seed: int) -> tuple[Path, list]:
    """Synthesise the FFV1 original and write every other format; return the cases."""
    clip = out / "clip.mkv"
    subprocess.run([sys.executable, "-m", "visualmic", "synth", "-o", str(clip), "--amplitude",
                    "0.02", "--noise", "1.5", "--bit-depth", "16", "--fps", f"{FPS:g}",
                    "--duration", f"{duration:g}", "--size", str(size), "--seed", str(seed),
                    "-q"], check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = np.concatenate([b.astype(np.uint16) for b in open_video(clip).chunks(512)])
    cases = [("FFV1 original (16 bit)", clip, None, 16)]
    p16, m16 = write_photron(out / "ph16", frames, bits=16, fps=FPS, effective=16)
    cases.append(("Photron 16 bit (.cih)", p16, None, 16))
    c12, m12 = write_photron(out / "ph12", frames >> 4, bits=12, fps=FPS)
    cases.append(("Photron packed 12 (.cih)", c12, None, 12))
    cases.append(("Photron packed 12 (.mraw)", m12, None, 12))
    x12, _ = write_photron(out / "ph12x", frames >> 4, bits=12, fps=FPS, header="cihx")
    cases.append(("Photron packed 12 (.cihx)", x12, None, 12))
    tif = write_tiff_stack(out / "stack.tif", frames, fps=FPS)
    cases.append(("multi-page TIFF (16 bit)", tif, None, 16))
    bmp = write_image_folder(out / "bmp", (frames >> 8).astype(np.uint8), ".bmp")
    cases.append(("BMP sequence (8 bit, -s)", bmp, FPS, 8))
    for bits, data in ((16, frames), (12, frames >> 4), (10, frames >> 6)):
        name = f"cine{bits}.cine"
        write_cine(out / name, data, bits=bits, fps=FPS)
        kind = "16 bit" if bits == 16 else f"packed {bits}"
        cases.append((f"Phantom cine {kind}", out / name, None, bits))
    return clip, cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of video (default 1)")
    ap.add_argument("--size", type=int, default=128, help="frame size in pixels (default 128)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default=None, help="keep the files in this folder")
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vm-formats-"))
    out.mkdir(parents=True, exist_ok=True)
    clip, cases = build(out, args.duration, args.size, args.seed)
    truth, truth_rate = read_audio(clip.with_name("clip.truth.wav"))
    print(f"{'format':<27} {'given as':<12} {'fps':>7} {'from':<7} {'bits':>4} {'MB':>6} "
          f"{'SNR dB':>7} {'vs FFV1':>7} {'bar':>4} {'s':>5}")
    ref_snr = None
    ok = True
    for label, path, fps, bits in cases:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = visualmic.recover(path, fps=fps, denoise="none")
        dt = time.perf_counter() - t0
        s = snr(rec.audio, truth, rate=rec.rate, band=(80, 1000), max_lag=3)
        ref_snr = s if ref_snr is None else ref_snr
        delta = s - ref_snr
        rate_ok = rec.fps == FPS
        passed = abs(delta) <= 0.3 and rate_ok
        ok &= passed
        size = sum(p.stat().st_size for p in (path.iterdir() if path.is_dir() else
                   [path, *[q for q in path.parent.glob(path.stem + ".*") if q != path]]))
        given = "folder" if path.is_dir() else path.suffix
        print(f"{label:<27} {given:<12} {rec.fps:>7g} {'-s' if fps else 'header':<7} {bits:>4} "
              f"{size / 1e6:>6.1f} {s:>7.2f} {delta:>+7.2f} {'ok' if passed else 'FAIL':>4} "
              f"{dt:>5.1f}", flush=True)
    print(f"\nbar (every format within 0.3 dB of FFV1, rate from the header): "
          f"{'met' if ok else 'NOT met'}; files in {out}")


if __name__ == "__main__":
    main()
