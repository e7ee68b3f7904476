"""Frame-pair datasets: build them from videos and audio, store them, serve them.

A dataset is a folder holding

``pairs.npy``
    float32 array ``(N, S, 2S)``, memory-mapped when read: sample ``i`` is a
    pair of ``S x S`` crops of one video placed side by side, the reference
    frame (or frame ``t-1``) on the left and frame ``t`` on the right, in the
    video's grey levels (0..255 for 8-bit, 0..65535 for 16-bit).
``labels.npy``
    float32 array ``(N,)`` in [-1, 1]: the audio at frame ``t``, resampled
    to the frame rate, normalised per video to peak 1 or, when the sources
    know their motion in pixels (synthetic videos), the displacement in
    pixels divided by ``label_unit_px`` (see :func:`build_dataset`).
``index.npz``
    Per sample: video index, frame, reference frame, crop position.
``metadata.csv``
    One row per video: ``video_name, frame_rate, num_frames`` (the research
    layout) followed by where its samples are and how it was made.
``SampledData.csv``
    One row per sample: ``frame, value`` (the research layout) followed by
    ``video_name, sample, ref_frame, x, y``.
``dataset.json``
    How the pairs were made (:class:`PairConfig`), the sources, the seed.

Everything is deterministic given the seed, in the order the sources are
given (sorted by name for a folder).  Labels line up with frames exactly:
frame ``t`` of a video at ``fps`` gets the audio at time
``audio_offset + t / fps``, after resampling the audio to ``fps`` with a
polyphase anti-aliasing filter (never by nearest-index stretching).

The sign of the label
---------------------
A translation by ``d`` along ``θ`` looks exactly like one by ``-d`` along
``θ + 180°``, so the sign of the motion is only defined relative to a
direction convention.  Synthetic datasets draw the direction in
``(-90°, 90°]`` (the motion has a rightward component), which is
:func:`visualmic.synth.synthesize`'s convention for its default direction 0:
a model trained on them outputs the displacement's sign with respect to the
rightward half-plane.

The code lives in topic modules, re-exported here: :mod:`.pair_config` (settings,
sources, labels), :mod:`.crops`, :mod:`.sources`, :mod:`.dataset` (build, load,
split) and :mod:`.pairs` (normalisation, serving).
"""

from __future__ import annotations

from .crops import CropPlan
from .dataset import Dataset, build_dataset, load_dataset, split_indices
from .pair_config import (
    DATASET_FORMAT,
    PairConfig,
    PairSource,
    SyntheticSpec,
    frame_labels,
)
from .pairs import PairDataset, PairNormalizer
from .sources import match_video_dir, synthetic_sources

__all__ = [
    "PairConfig",
    "PairSource",
    "SyntheticSpec",
    "Dataset",
    "PairNormalizer",
    "PairDataset",
    "CropPlan",
    "build_dataset",
    "synthetic_sources",
    "match_video_dir",
    "frame_labels",
    "split_indices",
    "load_dataset",
    "DATASET_FORMAT",
]
