"""Eye tracking: gaze logs -> fixations -> sonographer attention maps (paper 000, M-SEN).

Readers (:mod:`.readers`) give :class:`GazeSamples`; :func:`detect_fixations` runs the
paper's protocol (moving average, I-VT, merge, minimum duration) built from the
one-algorithm modules :mod:`.filters`, :mod:`.velocity`, :mod:`.ivt`, :mod:`.merge`;
:mod:`.maps` turns fixations into attention maps; :mod:`.scoring` scores detected
fixations against a ground-truth list.
"""

from __future__ import annotations

from sonomtl.gaze.fixations import (
    FixationParams,
    Fixations,
    detect_fixations,
    read_fixations_csv,
    write_fixations_csv,
)
from sonomtl.gaze.geometry import ScreenGeometry, angle_between_deg, pix2deg
from sonomtl.gaze.readers import read_csv, read_eyetribe_json, read_eyetribe_tsv, read_gaze_log
from sonomtl.gaze.samples import GazeSamples, GazeWarning, fill_gaps
from sonomtl.gaze.scoring import FixationScore, score_fixations

__all__ = [
    "FixationParams", "FixationScore", "Fixations", "GazeSamples", "GazeWarning", "ScreenGeometry",
    "angle_between_deg", "detect_fixations", "fill_gaps", "pix2deg", "read_csv",
    "read_eyetribe_json", "read_eyetribe_tsv", "read_fixations_csv", "read_gaze_log",
    "score_fixations", "write_fixations_csv",
]
