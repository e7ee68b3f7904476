"""Building, storing and reopening frame-pair datasets; train/validation splits."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, check_output_path
from .._errors import InputFileError, ParameterError
from .._progress import ProgressCallback, report
from .crops import CropPlan
from .pair_config import (
    DATASET_FORMAT,
    DATASET_VERSION,
    PairConfig,
    PairSource,
    frame_labels,
    normalise_labels,
)

__all__ = ["Dataset", "build_dataset", "load_dataset", "split_indices"]

# --------------------------------------------------------------------------- build


@dataclass
class Dataset:
    """A frame-pair dataset on disk (see the module docstring for the layout).

    Attributes
    ----------
    root : Path
        The dataset folder.
    pairs : np.ndarray [shape=(N, S, 2S)], float32
        Memory-mapped pairs in grey levels.
    labels : np.ndarray [shape=(N,)], float32
        Labels in ``[-1, 1]``.
    video : np.ndarray [shape=(N,)], int
        Index of each sample's video (a row of ``videos``).
    frame : np.ndarray [shape=(N,)], int
        Frame index of each sample within its video.
    videos : list of dict
        The rows of ``metadata.csv``.
    config : PairConfig
        How the pairs were cut.
    info : dict
        The contents of ``dataset.json``.
    """

    root: Path
    pairs: np.ndarray
    labels: np.ndarray
    video: np.ndarray
    frame: np.ndarray
    videos: list
    config: PairConfig
    info: dict

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def write_csv(path: Path, header: list[str], rows) -> None:
    """Write a CSV file atomically: one header row, then ``rows``."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def build_dataset(
    out_dir: str | os.PathLike,
    sources: Sequence[PairSource],
    *,
    config: PairConfig | None = None,
    seed: int = 0,
    labels: str = "auto",
    png: bool = False,
    overwrite: bool = False,
    extra_info: dict | None = None,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Cut frame pairs from (video, audio) sources and store them as a dataset.

    Parameters
    ----------
    out_dir : path-like
        Dataset folder; created (must be empty or absent unless ``overwrite``;
        a ``videos/`` sub-folder holding synthetic sources is kept).
    sources : sequence of PairSource
        The videos and their audio, in order.
    config : PairConfig, optional
        Input size, pairing, crops; default :class:`PairConfig()`.
    seed : int
        Seed of the random crop positions.
    labels : {"auto", "displacement", "per-video"}
        ``"per-video"``: each video's audio normalised to peak 1 (the research
        design).  ``"displacement"``: the displacement in pixels
        (audio x ``motion_scale``) divided by its largest value over the
        whole dataset, so labels stay in [-1, 1] and keep the videos'
        relative amplitudes; ``label_unit_px`` in ``dataset.json`` converts
        them back to pixels.  With per-video labels a model cannot tell a
        0.05 px video at its peak from a 0.2 px one at a quarter of it: the
        target is ambiguous and the learned response compresses; with
        displacement labels it is linear.  ``"auto"`` (default):
        displacement when every source knows its motion scale (synthetic
        videos do), else per video.
    png : bool
        Also write every pair as ``png/<video>/<frame>_<k>.png`` (8-bit or
        16-bit grey, the research layout; slow for large sets).
    overwrite : bool
        Replace an existing dataset in ``out_dir``.
    extra_info : dict, optional
        Stored in ``dataset.json`` (e.g. the synthetic spec).
    progress : callable, optional
        ``progress(frames_done, total_or_None)``.

    Returns
    -------
    Dataset
        The dataset, reopened from disk.

    Raises
    ------
    ParameterError
        Bad configuration, a duration mismatch (see :func:`frame_labels`), or
        a video with fewer than 2 frames.
    InputFileError, VideoError, AudioError
        Unreadable sources.
    OutputError
        If ``out_dir`` holds another dataset and ``overwrite`` is False.

    Notes
    -----
    Longer than 80 lines only by this documentation; its code is under 80 lines.
    """
    from .._errors import OutputError

    cfg = config or PairConfig()
    if not sources:
        raise ParameterError("no sources given; pass --video/--audio, --video-dir or --synthetic")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise OutputError(f"dataset folder {str(root)!r} is a file; choose a folder name")
    if (root / "dataset.json").exists() and not overwrite:
        raise OutputError(f"{str(root)!r} already holds a dataset; choose another folder or "
                          "pass --overwrite")
    root.mkdir(parents=True, exist_ok=True)
    check_output_path(root / "dataset.json")
    for src in sources:  # fail fast on missing files
        for p, what in ((src.video, "video"), (src.audio, "audio")):
            if not Path(p).exists():
                raise InputFileError(f"{what} file {str(p)!r} does not exist; check the path")

    if labels not in ("auto", "displacement", "per-video"):
        raise ParameterError(f"labels={labels!r} must be 'auto', 'displacement' or 'per-video'")
    known = all(src.motion_scale is not None for src in sources)
    if labels == "displacement" and not known:
        raise ParameterError("labels='displacement' needs the motion scale (pixels per audio "
                             "unit) of every source; use labels='per-video'")
    use_px = labels == "displacement" or (labels == "auto" and known)
    s = cfg.input_size
    raw_fd, raw_name = tempfile.mkstemp(prefix=".pairs.", suffix=".raw", dir=root)
    os.close(raw_fd)
    raw_path = Path(raw_name)
    cuts: list[dict] = []
    try:
        with open(raw_path, "wb") as raw:
            counter = {"frames": 0, "samples": 0, "names": set()}
            for vi, src in enumerate(sources):
                cuts.append(_cut_video(src, vi, raw, cfg=cfg, seed=seed, use_px=use_px,
                                       png_dir=root / "png" if png else None, counter=counter,
                                       progress=progress))
        n_total = counter["samples"]
        videos = [c["row"] for c in cuts]
        labels = np.concatenate([c["labels"] for c in cuts])
        unit = float(np.max(np.abs(labels))) if use_px and labels.size else None
        if unit:
            labels = labels / unit
            for row in videos:
                row["label_peak"] = row["label_peak"] / unit
        labels = labels.astype(np.float32)
        _raw_to_npy(raw_path, root, n_total, s)
    finally:
        raw_path.unlink(missing_ok=True)
        (root / ".pairs.npy.part").unlink(missing_ok=True)

    index = {k: np.concatenate([c[k] for c in cuts]) for k in ("frame", "video", "ref", "pos")}
    _write_tables(root, labels, index, videos)
    from .. import __version__

    info = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "visualmic": __version__,
            "config": dataclasses.asdict(cfg), "seed": int(seed), "num_samples": int(n_total),
            "num_videos": len(videos), "shape": [int(n_total), s, 2 * s],
            "labels": "displacement" if use_px else "per-video",
            "label_unit_px": unit if use_px else None,
            "label_convention": (("increment a(t)-a(t-1)" if cfg.pairs == "adjacent" else "a(t)")
                                 + (" in pixels / label_unit_px" if use_px
                                    else ", each video at peak 1")),
            **(extra_info or {})}
    with atomic_path(root / "dataset.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return load_dataset(root)


def _cut_video(src: PairSource, vi: int, raw, *, cfg: PairConfig, seed: int, use_px: bool,
               png_dir: Path | None, counter: dict, progress) -> dict:
    """Cut one video's pairs into the open ``raw`` file; return its labels, index and row."""
    from ..io.video import open_video

    s = cfg.input_size
    reader = open_video(src.video, fps=src.fps, roi=src.roi)
    fps = float(reader.fps)
    name = src.name or Path(src.video).stem
    base, k = name, 2
    while name in counter["names"]:
        name, k = f"{base}_{k}", k + 1
    counter["names"].add(name)
    plan = CropPlan(reader.shape, cfg, np.random.default_rng([int(seed), vi]))
    if cfg.pairs == "reference":
        ref = reader.reference(cfg.reference_frames).astype(np.float32)
    first_sample = counter["samples"]
    frames_in_video = 0
    prev = None
    vframes, vrefs, vpos = [], [], []
    for block in reader.chunks(256):
        t0 = frames_in_video
        t_idx = np.arange(t0, t0 + len(block))
        if cfg.pairs == "reference":
            left_frames = None
            keep = (t_idx % cfg.every) == 0
            ref_idx = np.zeros(len(block), np.int64) - (cfg.reference_frames > 1)
        else:
            prevs = np.concatenate([prev[None], block[:-1]]) if prev is not None \
                else np.concatenate([block[:1], block[:-1]])
            left_frames = prevs
            keep = ((t_idx % cfg.every) == 0) & (t_idx >= 1)
            ref_idx = t_idx - 1
        prev = block[-1].copy()
        frames_in_video += len(block)
        counter["frames"] += len(block)
        report(progress, counter["frames"], None)
        if not keep.any():
            continue
        cur = block[keep]
        pos = plan.positions(len(cur))
        right = plan.cut(cur, pos)
        if left_frames is None:
            left = plan.cut(np.broadcast_to(ref, cur.shape), pos)
        else:
            left = plan.cut(left_frames[keep], pos)
        pair = np.concatenate([left, right], axis=-1).reshape(-1, s, 2 * s)
        raw.write(np.ascontiguousarray(pair, dtype=np.float32).tobytes())
        kk = pos.shape[1]
        vframes.append(np.repeat(t_idx[keep], kk))
        vrefs.append(np.repeat(ref_idx[keep], kk))
        vpos.append(pos.reshape(-1, 2))
        if png_dir is not None:
            _write_pngs(png_dir / name, pair, np.repeat(t_idx[keep], kk), kk, reader.bit_depth)
    if frames_in_video < 2:
        raise ParameterError(f"video {str(src.video)!r} has {frames_in_video} frame; "
                             "need at least 2 frames to make pairs")
    y = frame_labels(src.audio, frames_in_video, fps, audio_offset=src.audio_offset,
                     stretch=src.stretch)
    if cfg.pairs == "adjacent":
        y = np.concatenate([[0.0], np.diff(y)])
    fr = np.concatenate(vframes)
    if use_px:  # displacement in pixels, normalised over the whole dataset by the caller
        y = y * float(src.motion_scale)
    _, peak = normalise_labels(y[np.unique(fr)])
    yn = y if use_px else (y / peak if peak > 0 else np.zeros_like(y))
    counter["samples"] += fr.size
    row = {"video_name": name, "frame_rate": fps, "num_frames": frames_in_video,
           "first_sample": first_sample, "num_samples": fr.size,
           "label_peak": peak, "height": reader.shape[0], "width": reader.shape[1],
           "bit_depth": reader.bit_depth, "video_file": str(src.video),
           "audio_file": str(src.audio), "audio_offset": src.audio_offset,
           "stretch": bool(src.stretch)}
    row.update(src.meta)
    return {"labels": yn[fr].astype(np.float64), "frame": fr, "ref": np.concatenate(vrefs),
            "pos": np.concatenate(vpos), "video": np.full(fr.size, vi, np.int64), "row": row}


def _raw_to_npy(raw_path: Path, root: Path, n_total: int, s: int) -> None:
    """Copy the raw float32 pairs into ``root/pairs.npy`` (through a temporary name)."""
    pairs_tmp = root / ".pairs.npy.part"
    out = np.lib.format.open_memmap(pairs_tmp, mode="w+", dtype=np.float32,
                                    shape=(n_total, s, 2 * s))
    per = s * 2 * s
    with open(raw_path, "rb") as raw:
        for i in range(0, n_total, 4096):
            m = min(4096, n_total - i)
            out[i:i + m] = np.frombuffer(raw.read(m * per * 4), np.float32).reshape(m, s, 2 * s)
    out.flush()
    del out
    os.replace(pairs_tmp, root / "pairs.npy")


def _write_tables(root: Path, labels: np.ndarray, index: dict, videos: list[dict]) -> None:
    """Write ``labels.npy``, ``index.npz``, ``metadata.csv`` and ``SampledData.csv``."""
    frame, video, refs, pos = index["frame"], index["video"], index["ref"], index["pos"]
    n_total = int(labels.size)
    with atomic_path(root / "labels.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, labels)
    with atomic_path(root / "index.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, video=video, frame=frame, ref_frame=refs, y=pos[:, 0], x=pos[:, 1])
    meta_cols = ["video_name", "frame_rate", "num_frames"]
    extra_cols = []
    for row in videos:
        for key in row:
            if key not in meta_cols and key not in extra_cols:
                extra_cols.append(key)
    write_csv(root / "metadata.csv", meta_cols + extra_cols,
              [[row.get(c, "") for c in meta_cols + extra_cols] for row in videos])
    names = [row["video_name"] for row in videos]
    write_csv(root / "SampledData.csv", ["frame", "value", "video_name", "sample", "ref_frame",
                                         "x", "y"],
              ([int(frame[i]), f"{float(labels[i]):.8g}", names[video[i]], i, int(refs[i]),
                int(pos[i, 1]), int(pos[i, 0])] for i in range(n_total)))


def _write_pngs(folder: Path, pair: np.ndarray, frames: np.ndarray, k: int, bit_depth) -> None:
    import imageio.v3 as iio  # shipped with scikit-image

    folder.mkdir(parents=True, exist_ok=True)
    deep = bit_depth is not None and bit_depth > 8
    for i, img in enumerate(pair):
        arr = np.clip(np.rint(img), 0, 65535 if deep else 255).astype(np.uint16 if deep else np.uint8)
        iio.imwrite(folder / f"{int(frames[i]):06d}_{i % k}.png", arr)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Open a dataset folder written by :func:`build_dataset`.

    Parameters
    ----------
    path : path-like
        The dataset folder.

    Returns
    -------
    Dataset
        With ``pairs`` memory-mapped (read-only).

    Raises
    ------
    InputFileError
        If the folder or one of its files is missing.
    ParameterError
        If it is not a visualmic frame-pair dataset or its files disagree.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputFileError(f"dataset folder {str(root)!r} does not exist; build one with "
                             "'visualmic dataset build'")
    for name in ("dataset.json", "pairs.npy", "labels.npy", "index.npz", "metadata.csv"):
        if not (root / name).is_file():
            raise InputFileError(f"dataset {str(root)!r} lacks {name}; rebuild it with "
                                 "'visualmic dataset build'")
    try:
        info = json.loads((root / "dataset.json").read_text())
        pairs = np.load(root / "pairs.npy", mmap_mode="r")
        labels = np.load(root / "labels.npy")
        with np.load(root / "index.npz") as idx:
            video, frame = idx["video"], idx["frame"]
        with open(root / "metadata.csv", newline="") as fh:
            videos = list(csv.DictReader(fh))
    except (OSError, ValueError, KeyError) as exc:
        raise ParameterError(f"dataset {str(root)!r} is unreadable ({type(exc).__name__}: {exc}); "
                             "rebuild it") from None
    if info.get("format") != DATASET_FORMAT:
        raise ParameterError(f"{str(root)!r} is not a visualmic frame-pair dataset; rebuild it")
    n = labels.shape[0]
    if pairs.ndim != 3 or pairs.shape[0] != n or video.shape[0] != n or frame.shape[0] != n:
        raise ParameterError(f"dataset {str(root)!r} has {pairs.shape[0]} pairs but {n} labels; "
                             "rebuild it")
    text_cols = ("video_name", "video_file", "audio_file", "texture", "audio_kind")
    videos = [{k: (v if k in text_cols else _parse_cell(v)) for k, v in row.items()}
              for row in videos]
    cfg = PairConfig(**info["config"])
    return Dataset(root=root, pairs=pairs, labels=labels, video=video, frame=frame,
                   videos=videos, config=cfg, info=info)


def _parse_cell(text: str):
    """A metadata.csv cell back as int, float, bool, None or str."""
    if text in ("", "None"):
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --------------------------------------------------------------------------- splits


def split_indices(dataset: Dataset, *, val_split: float = 0.2, kfold: int = 0, fold: int = 0,
                  gap: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous temporal split of every video into training and validation samples.

    Parameters
    ----------
    dataset : Dataset
        The dataset.
    val_split : float
        Fraction of each video's frames, at its end, held out for validation
        (ignored with ``kfold``); 0 puts everything in training.
    kfold : int
        ``K >= 2``: cut each video into ``K`` contiguous segments; fold ``k``
        validates on segment ``k`` of every video and trains on the rest.
    fold : int
        Which fold, ``0 <= fold < kfold``.
    gap : int
        Training frames dropped next to every train/validation boundary, so
        that no training frame neighbours a validation frame (consecutive
        frames at 2 kHz carry almost the same label).

    Returns
    -------
    train, val : np.ndarray of int
        Sample indices, sorted.

    Raises
    ------
    ParameterError
        For a split outside ``[0, 1)``, a bad fold, or videos too short to split.
    """
    if not (0.0 <= float(val_split) < 1.0):
        raise ParameterError(f"val_split={val_split!r} must be in [0, 1)")
    if kfold and (kfold < 2 or not (0 <= fold < kfold)):
        raise ParameterError(f"kfold={kfold}, fold={fold}: need kfold >= 2 and 0 <= fold < kfold")
    if gap < 0:
        raise ParameterError(f"gap={gap} must be >= 0 frames")
    train, val = [], []
    for vi, row in enumerate(dataset.videos):
        sel = np.flatnonzero(dataset.video == vi)
        if sel.size == 0:
            continue
        fr = dataset.frame[sel]
        lo, hi = int(fr.min()), int(fr.max()) + 1
        span = hi - lo
        if kfold:
            edges = lo + np.round(np.linspace(0, span, kfold + 1)).astype(int)
            v0, v1 = edges[fold], edges[fold + 1]
        elif val_split > 0:
            v0, v1 = hi - int(round(val_split * span)), hi
        else:
            train.append(sel)
            continue
        if v1 - v0 < 1 or span - (v1 - v0) <= 2 * gap:
            raise ParameterError(
                f"video {row['video_name']!r} has {span} frames: too short for this split with a "
                f"gap of {gap} frames; use a smaller --val-split/--kfold or longer videos"
            )
        is_val = (fr >= v0) & (fr < v1)
        is_train = (fr < v0 - gap) | (fr >= v1 + gap)  # the gap is taken from training
        train.append(sel[is_train])
        val.append(sel[is_val])
    tr = np.sort(np.concatenate(train)) if train else np.zeros(0, np.int64)
    va = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    if tr.size == 0:
        raise ParameterError("the split leaves no training samples; lower --val-split")
    return tr, va


