"""The fuzz campaign: mutated inputs and hostile options through the command line.

Every supported input kind (FFV1/MKV, raw AVI, ``.npy`` arrays, folders of PNG, TIFF
and BMP frames, Photron ``.cih``/``.mraw``, Phantom ``.cine``, multi-page TIFF, WAV)
is built once from one synthetic video with a known sound, then each case copies one
input, mutates it (truncation, byte flips in the header or the payload, zeroed blocks,
appended garbage; folders with gaps, mixed types, broken or resized frames; ``.npy``
files with hostile dtypes, shapes and headers, an ``.npz`` renamed ``.npy``), adds
hostile option values and output paths, and runs the command line in a child process
under a timeout and a memory limit (``resource.setrlimit``): forked from the campaign
after importing visualmic once (``visualmic.cli.main(argv)``, as ``python -m visualmic``
runs it), or with ``--exec`` a fresh ``python -m visualmic`` (same outcomes, slower).
Each case is classified:

=================  ==========================================================
success            exit 0, outputs valid (and, when comparable, |r| >= 0.5 with
                   the truth or a warning was printed)
clean error        exit 1 or 2 with a one-line ``error:`` message
traceback          a Python traceback on stderr
internal error     ``internal error`` on stderr (an exception the CLI did not expect)
hang               the timeout expired
signal             killed by a signal (a crash)
broken output      exit 0 but an output is missing, unreadable, empty or not finite
silent garbage     exit 0, no warning, |r| < 0.5 with the truth
input modified     an input file changed
leftovers          temporary ``.part`` files left beside the outputs
=================  ==========================================================

The last seven are failures: their inputs, command, stdout and stderr are kept in
``--keep`` (default ``fuzz-failures/``) for reproduction. Case ``i`` of a seed is
the same whatever ``--cases`` is, so a failure is re-run with ``--only i``.

Run (from the project root)::

    python benchmarks/fuzz.py --cases 100 --seed 0            # the CI sample, a few minutes
    python benchmarks/fuzz.py --cases 1000 --seed 1 --jobs 2  # the campaign in docs/reliability.md
    python benchmarks/fuzz.py --seed 1 --only 417             # one case again

Prints a table (cases per category, overall and per input kind) and exits 1 with
``--strict`` when any case failed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # format_writers: the camera-file writers

CATEGORIES = ("success", "clean error", "traceback", "internal error", "hang", "signal",
              "broken output", "silent garbage", "input modified", "leftovers")
FAILURES = CATEGORIES[2:]
FPS = 2200.0
SIZE = 48
DURATION = 0.25

# ----------------------------------------------------------------------------- base inputs


def build_bases(root: Path) -> dict:
    """Write one clean input of every kind (same frames, same truth); return their paths."""
    import av
    import tifffile
    from format_writers import write_cine, write_image_folder, write_photron

    import visualmic
    from visualmic.io.video import open_video

    root.mkdir(parents=True, exist_ok=True)
    res = visualmic.synthesize(root / "video.mkv", audio="melody", duration=DURATION,
                               size=(SIZE, SIZE), amplitude=0.05, noise_sigma=1.0, seed=7)
    frames = np.rint(open_video(res.video_path).read()).clip(0, 255).astype(np.uint8)
    bases = {"mkv": res.video_path, "wav": res.truth_path}
    with av.open(str(root / "raw.avi"), "w") as c:
        s = c.add_stream("rawvideo", rate=25)  # FFmpeg's AVI muxer refuses 2200; -s gives it
        s.width, s.height, s.pix_fmt = SIZE, SIZE, "gray"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="gray")
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    bases["avi"] = root / "raw.avi"
    np.save(root / "u8.npy", frames)
    np.save(root / "f32.npy", frames.astype(np.float32))
    bases["npy"], bases["npyf"] = root / "u8.npy", root / "f32.npy"
    for ext in (".png", ".tif", ".bmp"):
        bases["dir" + ext] = write_image_folder(root / f"frames{ext}", frames, ext)
    bases["cih"] = write_photron(root / "cam", frames, bits=8, fps=FPS)[0]
    bases["cine"] = write_cine(root / "cam.cine", frames, bits=8, fps=FPS)
    tifffile.imwrite(root / "stack.tif", frames, imagej=True,
                     metadata={"axes": "TYX", "finterval": 1 / FPS})
    bases["tiffstack"] = root / "stack.tif"
    return bases


# ----------------------------------------------------------------------------- mutations


def _flip(data: bytearray, rng: random.Random, lo: int, hi: int, n: int) -> None:
    if hi <= lo:
        return
    for _ in range(n):
        i = rng.randrange(lo, hi)
        data[i] ^= 1 << rng.randrange(8)


def mutate_file(path: Path, rng: random.Random) -> str:
    """Damage one file in place; return the mutation's name."""
    data = bytearray(path.read_bytes())
    n = len(data)
    kind = rng.choice(["truncate", "flip_header", "flip_payload", "zero_block",
                       "append_garbage", "flip_header", "zero_block", "none"])
    if kind == "truncate":
        data = data[: rng.randrange(0, max(1, n))]
    elif kind == "flip_header":
        _flip(data, rng, 0, min(n, 4096), rng.choice([1, 1, 2, 8]))
    elif kind == "flip_payload":
        _flip(data, rng, min(n, 4096), n, rng.choice([1, 4, 64]))
    elif kind == "zero_block":
        size = rng.choice([64, 512, 4096, 16384])
        at = rng.randrange(0, max(1, n - size)) if rng.random() < 0.6 else \
            rng.randrange(0, max(1, min(n, 8192)))
        data[at:at + size] = bytes(len(data[at:at + size]))
    elif kind == "append_garbage":
        data += bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 100, 5000])))
    path.write_bytes(bytes(data))
    return kind


def mutate_npy(path: Path, rng: random.Random) -> str:
    """Hostile ``.npy`` headers, dtypes and shapes (or a generic file mutation)."""
    kind = rng.choice(["dtype", "shape", "header", "npz", "object", "file", "file"])
    if kind == "file":
        return "npy_" + mutate_file(path, rng)
    arr = np.load(path)
    if kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, frames=arr)
    elif kind == "object":
        np.save(path, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    elif kind == "dtype":
        dt = rng.choice(["complex128", "bool", "<U4", ">f8", "float16", "int64", "V8"])
        try:
            np.save(path, arr.astype(dt))
        except (TypeError, ValueError):
            np.save(path, arr.view(np.uint8).astype(np.complex64))
        kind += ":" + dt
    else:
        raw = path.read_bytes()
        head_end = raw.index(b"\n") + 1
        head = raw[:head_end].decode("latin1")
        old = head[head.index("'shape': ") + 9: head.index(")", head.index("'shape'")) + 1]
        if kind == "shape":
            new = rng.choice(["(-550, 48, 48)", "(0, 48, 48)", "(99999999999, 48, 48)",
                              "(550, 48)", "(1, 550, 48, 48, 1)", "(48, 48, 550)",
                              "(550, 48, 4800)", "()"])
        else:
            new = rng.choice(["(550, 48, 48", "[550]", "None", "(550.5, 48, 48)",
                              "__import__('os')"])
        head = head.replace(old, new).rstrip("\n")
        head = head[:head_end - 1].ljust(head_end - 1) if len(head) < head_end else head
        path.write_bytes(head.encode("latin1") + b"\n" + raw[head_end:])
        kind += ":" + new
    return "npy_" + kind


def mutate_folder(folder: Path, rng: random.Random) -> str:
    """Break a folder of frames: gaps, mixed types, bad or resized frames, too few frames."""
    files = sorted((p for p in folder.iterdir() if p.is_file()),
                   key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0))
    kind = rng.choice(["gap", "mixed", "corrupt", "few", "empty", "resize", "junk", "file"])
    if kind == "gap":
        for p in rng.sample(files[1:-1], rng.choice([1, 3])):
            p.unlink()
    elif kind == "mixed":
        from PIL import Image

        other = ".tif" if files[0].suffix != ".tif" else ".png"
        for p in rng.sample(files, rng.choice([2, 50])):
            Image.open(p).save(p.with_suffix(other))
            p.unlink()
    elif kind in ("corrupt", "file"):
        return "dir_" + mutate_file(rng.choice(files), rng)
    elif kind == "few":
        for p in files[rng.choice([1, 2, 3]):]:
            p.unlink()
    elif kind == "empty":
        for p in files:
            p.unlink()
    elif kind == "resize":
        from PIL import Image

        p = rng.choice(files)
        Image.open(p).resize((SIZE + 3, SIZE - 5)).save(p)
    elif kind == "junk":
        (folder / f"frame{len(files) // 2}x{files[0].suffix}").write_bytes(b"not an image")
    return "dir_" + kind


# ----------------------------------------------------------------------------- options

HOSTILE = {
    "--scales": ["0", "-1", "99999999999999999999999", "1e3", "nan", "40", "1", "6"],
    "--orientations": ["0", "1", "99999999999999999999999", "17", "x", "8"],
    "--reference": ["0", "99999999999999999999999", "100000", "700", "8"],
    "--chunk-size": ["0", "99999999999999999999999", "1", "3", "70000"],
    "-s": ["1e308", "0", "-5", "nan", "inf", "1e-300", "99999999999999999999999", "1",
           "2200", "3e7"],
    "--specsub-window": ["1e308", "0", "1e-300", "10", "0.001"],
    "--specsub-hop": ["1e308", "0", "0.0001", "5"],
    "--output-rate": ["1e308", "1e-300", "0", "1", "44100", "1000001", "3"],
    "--highpass": ["1e-300", "0", "1099", "5000", "-1", "nan", "0.1"],
    "--start": ["-1", "99999999999999999999999", "549", "600", "x"],
    "--end": ["0", "1", "2", "99999999999999999999999", "-3"],
    "--start-time": ["1e300", "-1", "0.2499", "nan"],
    "--end-time": ["0", "1e-300", "1e300"],
    "--roi": ["0,0,99999999999999999999999,5", "-1,0,5,5", "a,b", "0,0,0,0", "40,40,8,8",
              "0,0,1,1", "47,0,1,48"],
    "--downsample": ["0", "1e308", "1e-308", "48", "0.02", "47.9"],
    "--max-lag": ["-1", "99999999999999999999999", "100000"],
    "--workers": ["0", "99999999", "-2"],
    "--method": ["fast", "auto", "bogus"],
    "--denoise": ["specsub", "wiener"],
    "--weighting": ["uniform", "ml2"],
}
# Options that change which part of the signal comes out or its band: no truth comparison.
NOT_COMPARABLE = {"--start", "--end", "--start-time", "--end-time", "--output-rate",
                  "--highpass", "--denoise", "--specsub-window", "--specsub-hop", "-s"}


def pick_options(rng: random.Random) -> list[str]:
    """Zero to two hostile options (each with one of its values)."""
    args: list[str] = []
    for name in rng.sample(sorted(HOSTILE), rng.choice([1, 1, 1, 2])):
        args += [name, rng.choice(HOSTILE[name])]
    if any(a in ("--specsub-window", "--specsub-hop") for a in args) and "--denoise" not in args:
        args += ["--denoise", "specsub"]
    return args


def pick_outputs(rng: random.Random, inputs: list[str]) -> tuple[list[str], list[str], str]:
    """Output options: usually plain, sometimes hostile; return (args, outputs, kind)."""
    kind = rng.choice(["plain", "spectrogram", "spectrogram", "same_as_spectrogram", "input",
                                         "proc", "no_folder", "directory", "read_only",
                                         "spectrogram_input"])
    out = "out.wav"
    table = {
        "plain": (["-o", out], [out]),
        "spectrogram": (["-o", out, "--spectrogram", "spec.png"], [out, "spec.png"]),
        "same_as_spectrogram": (["-o", out, "--spectrogram", "./out.wav"], [out]),
        "input": (["-o", inputs[0]], []),
        "proc": (["-o", "/proc/x.wav"], []),
        "no_folder": (["-o", "missing/x.wav"], []),
        "directory": (["-o", "."], []),
        "read_only": (["-o", "ro.wav"], []),
        "spectrogram_input": (["-o", out, "--spectrogram", inputs[-1]], [out]),
    }
    args, outs = table[kind]
    return list(args), outs, kind


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One run of the command line on one (mutated) input."""

    index: int
    kind: str
    mutation: str
    argv: list
    inputs: list
    outputs: list
    comparable: bool
    folder: Path
    category: str = ""
    detail: str = ""
    hashes: dict = field(default_factory=dict)
    expect_error: bool = False  # a hostile output path: exit 0 would be a broken output


def make_case(i: int, seed: int, bases: dict, work: Path) -> Case:
    """Build case ``i`` of ``seed``: copy an input, mutate it, choose command and options."""
    rng = random.Random(f"{seed}:{i}")
    folder = work / f"case{i:05d}"
    folder.mkdir(parents=True)
    kind = rng.choice(["mkv"] * 4 + ["avi", "avi", "npy", "npy", "npyf", "dir.png", "dir.tif",
                                      "dir.bmp", "cih", "cine", "tiffstack", "wav", "synth"])
    if kind == "synth":
        argv = ["synth", "-o", "s.mkv", "--duration", "0.05", "--size", "32"] + rng.choice(
            [["--fps", "1e308"], ["--size", "99999999x99999999"], ["--duration", "1e308"],
             ["--amplitude", "nan"], ["--noise", "-1"], ["--seed", "-1"], ["--fps", "10"],
             ["--lowpass", "1e308"], ["--resonance", "1e308,1e-308"], ["--audio", "s.mkv"],
             ["--bit-depth", "16"], ["--direction", "1e308"], []])
        return Case(i, kind, "options", argv, [], ["s.mkv", "s.truth.wav", "s.json"], False,
                    folder)
    src = bases[kind]
    # A case mutates the input (60%), or gives hostile options (25%) or output paths
    # (15%) for a clean or mutated input.
    focus = rng.choices(["input", "options", "outputs"], weights=[60, 25, 15])[0]
    mutate_it = focus == "input" or rng.random() < 0.3
    if kind == "cih":
        for p in (src, src.with_suffix(".mraw")):
            shutil.copy(p, folder / p.name)
        target = folder / rng.choice([src.name, src.with_suffix(".mraw").name])
        inputs = [str(folder / src.name), str(folder / src.with_suffix(".mraw").name)]
        mutation = (("cih_" if target.suffix == ".cih" else "mraw_") + mutate_file(target, rng)
                    if mutate_it else "none")
    elif kind.startswith("dir"):
        shutil.copytree(src, folder / "frames")
        inputs = [str(folder / "frames")]
        mutation = mutate_folder(folder / "frames", rng) if mutate_it else "none"
    else:
        shutil.copy(src, folder / src.name)
        inputs = [str(folder / src.name)]
        mutate = mutate_npy if kind.startswith("npy") else mutate_file
        mutation = mutate(folder / src.name, rng) if mutate_it else "none"
    truth = str(bases["wav"])
    if kind == "wav":
        cmd = rng.choice(["denoise", "evaluate"])
        argv = [cmd, inputs[0], truth] if cmd == "evaluate" else \
            ["denoise", inputs[0], "-o", "out.wav"] + rng.choice(
                [[], ["--window", "1e308"], ["--hop", "1e-300"], ["--output-rate", "1e308"],
                 ["--noise-quantile", "2"], ["--floor", "1e308"], ["-o", inputs[0]]])
        outs = ["out.wav"] if cmd == "denoise" else []
        case = Case(i, kind, mutation, argv, inputs, outs, False, folder)
        case.expect_error = argv[-2:] == ["-o", inputs[0]]
        return case
    options = pick_options(rng) if focus == "options" else []
    out_args, outs, out_kind = pick_outputs(rng, inputs) if focus == "outputs" else \
        (["-o", "out.wav"], ["out.wav"], "plain")
    if out_kind == "read_only":
        (folder / "ro.wav").write_bytes(b"old")
        (folder / "ro.wav").chmod(0o444)
    if kind in ("npy", "npyf", "avi") or kind.startswith("dir"):
        options = (["-s", str(FPS)] if "-s" not in options else []) + options
    argv = ["recover", inputs[0], *options, *out_args]
    extra = options[2:] if options[:2] == ["-s", str(FPS)] else options
    comparable = not NOT_COMPARABLE.intersection(extra[::2])
    if out_kind != "plain":
        mutation += "+" + out_kind
    case = Case(i, kind, mutation, argv, inputs, outs, comparable, folder)
    case.expect_error = out_kind not in ("plain", "spectrogram")
    return case


def _hash_inputs(paths) -> dict:
    out = {}
    for p in map(Path, paths):
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _limits(memory_mb: int):
    def apply():
        os.setsid()
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def preload() -> None:
    """Import what the command line needs once, before forking (saves ~1 s per case)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401 - the spectrogram figure
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    import visualmic.cli
    import visualmic.engine.recover  # noqa: F401
    import visualmic.eval.plot  # noqa: F401
    import visualmic.io.video  # noqa: F401

    for name in visualmic.cli._COMMANDS:
        importlib.import_module("visualmic.cli." + name)


def start_forked(case: Case, memory_mb: int) -> int:
    """Fork a child that runs ``visualmic.cli.main(case.argv)`` in the case's folder."""
    case.hashes = _hash_inputs(case.inputs)
    out = os.open(case.folder / ".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(case.folder / ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    pid = os.fork()
    if pid:
        os.close(out)
        os.close(err)
        return pid
    code = 70
    try:  # the child: never returns into the campaign
        _limits(memory_mb)()
        os.chdir(case.folder)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        sys.argv = ["visualmic", *case.argv]
        from visualmic.cli import main as cli_main

        code = int(cli_main(case.argv) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # an uncaught exception: a traceback, as Python would print it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def wait_forked(running: dict, timeout: float) -> list:
    """Collect finished (or timed-out) children: ``[(case, exit code or None)]``."""
    done = []
    for pid, (case, t0) in list(running.items()):
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            code = os.waitstatus_to_exitcode(status)
        elif time.monotonic() - t0 > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = None
        else:
            continue
        del running[pid]
        done.append((case, code))
    return done


def read_outputs(case: Case) -> tuple[str, str]:
    """The child's stdout and stderr (and remove their files)."""
    texts = []
    for name in (".stdout", ".stderr"):
        p = case.folder / name
        texts.append(p.read_text(errors="replace") if p.exists() else "")
        p.unlink(missing_ok=True)
    return texts[0], texts[1]


def run_case(case: Case, *, timeout: float, memory_mb: int) -> tuple[int | None, str, str]:
    """Run ``python -m visualmic`` for a case; return (exit code or None on timeout, out, err)."""
    case.hashes = _hash_inputs(case.inputs)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "visualmic", *case.argv], cwd=case.folder,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, preexec_fn=_limits(memory_mb))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _correlation(path: Path, truth: Path) -> float | None:
    """|Pearson r| of a recovered WAV with the truth at the best lag within 5 samples."""
    import soundfile as sf

    y, rate = sf.read(path, dtype="float64")
    t, trate = sf.read(truth, dtype="float64")
    if rate != trate or y.ndim != 1 or len(y) < 64:
        return None
    n = min(len(y), len(t))
    best = 0.0
    for lag in range(-5, 6):
        a = y[max(0, lag): n + min(0, lag)]
        b = t[max(0, -lag): n - max(0, lag)]
        m = min(len(a), len(b))
        if m > 32 and np.std(a[:m]) > 0 and np.std(b[:m]) > 0:
            best = max(best, abs(float(np.corrcoef(a[:m], b[:m])[0, 1])))
    return best


def _broken(case: Case) -> str:
    """Why an output of a successful run is unusable ('' when all are fine)."""
    import soundfile as sf

    for name in case.outputs:
        p = case.folder / name
        if not p.is_file() or p.stat().st_size == 0:
            return f"{name} missing or empty"
        if p.suffix == ".png" and not p.read_bytes().startswith(b"\x89PNG"):
            return f"{name} is not a PNG"
        if p.suffix == ".wav":
            try:
                y, _ = sf.read(p, dtype="float64")
            except (RuntimeError, sf.LibsndfileError) as exc:
                return f"{name} unreadable: {exc}"
            if y.size == 0 or not np.all(np.isfinite(y)):
                return f"{name} empty or not finite"
    return ""


def classify(case: Case, code: int | None, err: str, truth: Path) -> None:
    """Set ``case.category`` and ``case.detail`` from the run's outcome."""
    last = err.strip().splitlines()[-1] if err.strip() else ""
    leftovers = [p.name for p in case.folder.rglob("*") if ".part" in p.name]
    if code is None:
        case.category, case.detail = "hang", "timeout"
    elif "Traceback (most recent call last)" in err:
        case.category, case.detail = "traceback", last
    elif code < 0:
        case.category, case.detail = "signal", f"signal {-code}"
    elif "internal error" in err:
        case.category, case.detail = "internal error", last
    elif _hash_inputs(case.inputs) != case.hashes:
        case.category, case.detail = "input modified", ""
    elif leftovers:
        case.category, case.detail = "leftovers", ", ".join(leftovers)
    elif code != 0:
        ok = code in (1, 2) and "error:" in last and len(last) < 600
        case.category, case.detail = ("clean error", last) if ok else ("broken output", last)
    else:
        case.category, case.detail = _judge_success(case, err, truth)


def _judge_success(case: Case, err: str, truth: Path) -> tuple[str, str]:
    if case.expect_error:
        return "broken output", "exit 0 with a hostile output path"
    broken = _broken(case)
    if broken:
        return "broken output", broken
    if case.comparable and "out.wav" in case.outputs:
        r = _correlation(case.folder / "out.wav", truth)
        if r is not None and r < 0.5 and "warning:" not in err:
            return "silent garbage", f"|r| = {r:.3f} and no warning"
        warned = [ln for ln in err.splitlines() if "warning:" in ln]
        note = f"; {warned[0]}" if warned else ""
        return "success", ("" if r is None else f"|r| = {r:.3f}") + note
    return "success", ""


# ----------------------------------------------------------------------------- report


def print_table(cases: list[Case]) -> None:
    """Cases per category: overall, then per input kind (columns that are not all zero)."""
    cols = [c for c in CATEGORIES if any(k.category == c for k in cases)] or ["success"]
    kinds = sorted({c.kind for c in cases})
    width = max(len(k) for k in kinds + ["all"]) + 2
    head = "kind".ljust(width) + "".join(f"{c:>16}" for c in cols) + f"{'total':>8}"
    print(head)
    print("-" * len(head))
    for kind in kinds + ["all"]:
        sel = [c for c in cases if kind in ("all", c.kind)]
        print(kind.ljust(width) + "".join(f"{sum(k.category == c for k in sel):>16}"
                                          for c in cols) + f"{len(sel):>8}")


def main(argv: list[str] | None = None) -> int:
    """Run the campaign; return 1 with --strict when a case failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100, help="number of cases (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    ap.add_argument("--only", type=int, nargs="*", help="run only these case numbers")
    ap.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per case (120)")
    ap.add_argument("--memory", type=int, default=3072, help="address-space limit in MB")
    ap.add_argument("--keep", default="fuzz-failures", help="folder for failing cases")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any case failed")
    ap.add_argument("--verbose", action="store_true", help="print every case's outcome")
    ap.add_argument("--exec", action="store_true", help="run each case as `python -m "
                    "visualmic` (default: fork this process after importing visualmic once)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="visualmic-fuzz-"))
    keep = Path(args.keep)
    try:
        bases = build_bases(work / "bases")
        indices = args.only if args.only else range(args.cases)
        indices = list(indices)  # each case is built just before it runs (bounded disk use)

        def finish(case: Case, code, out: str, err: str) -> Case:
            classify(case, code, err, bases["wav"])
            if case.category in FAILURES:
                dest = keep / f"seed{args.seed}-case{case.index:05d}"
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(case.folder, dest, symlinks=True)
                (dest / "command.txt").write_text(
                    "python -m visualmic " + " ".join(case.argv) + f"\n# exit {code}\n")
                (dest / "stdout.txt").write_text(out)
                (dest / "stderr.txt").write_text(err)
            shutil.rmtree(case.folder, ignore_errors=True)
            return case

        done = []
        if args.exec:  # a fresh interpreter per case (slower: imports every time)
            def one(case: Case) -> Case:
                code, out, err = run_case(case, timeout=args.timeout, memory_mb=args.memory)
                return finish(case, code, out, err)

            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                done = list(pool.map(lambda i: one(make_case(i, args.seed, bases, work)),
                                     indices))
        else:  # forked from this process after importing visualmic once
            preload()
            pending, running = list(indices), {}
            while pending or running:
                while pending and len(running) < max(1, args.jobs):
                    case = make_case(pending.pop(0), args.seed, bases, work)
                    running[start_forked(case, args.memory)] = (case, time.monotonic())
                for case, code in wait_forked(running, args.timeout):
                    out, err = read_outputs(case)
                    done.append(finish(case, code, out, err))
                time.sleep(0.02)
            done.sort(key=lambda c: c.index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"visualmic fuzz campaign: {len(done)} cases, seed {args.seed}")
    print_table(done)
    failed = [c for c in done if c.category in FAILURES]
    for c in done if args.verbose else failed:
        print(f"case {c.index} [{c.kind} {c.mutation}] {c.category}: {c.detail}\n"
              f"    python -m visualmic {' '.join(c.argv)}")
    if failed:
        print(f"{len(failed)} failing case(s) kept in {keep}/")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
