"""Attention maps for a whole dataset: ``sonomtl gaze maps``.

For each sequence with a gaze log (``gaze.logs`` in ``dataset.yaml``): read the log,
detect fixations, assign them to frames by ``timestamp_ms``, map their centroids from
the screen into the frame (``image_rect_px``) and through the frame's own
preprocessing (crop, resize or resampling: :func:`sonomtl.data.preprocess.plan_preprocessing`),
draw the map at the model input size and save it as ``.npy`` float32; the manifest's
``attention`` column then points at the maps, and its ``fixations`` column holds each
frame's fixation centroids in original frame pixels (JSON ``[[x, y], ...]``, the exact
result of the screen -> frame mapping, fixations off the frame left out), from which
the data layer draws the fixation maps that NSS, IG and AUC score against.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomtl.errors import InputError
from sonomtl.gaze.fixations import FixationParams, detect_fixations
from sonomtl.gaze.geometry import ScreenGeometry
from sonomtl.gaze.maps import (
    Normalisation,
    attention_map,
    fixations_per_frame,
    screen_to_frame,
    sigma_px_for,
)
from sonomtl.gaze.readers import read_gaze_log
from sonomtl.gaze.samples import warn

__all__ = ["MapsSummary", "write_dataset_attention_maps"]


@dataclass(frozen=True)
class MapsSummary:
    """What :func:`write_dataset_attention_maps` did."""

    maps_written: int
    sequences: int
    fixations: int
    frames_without_fixation: int
    fixations_off_image: int
    fixations_off_frame: int = 0
    #: One line per sequence that failed (it wrote nothing; the others are written).
    failures: tuple[str, ...] = ()


def write_dataset_attention_maps(
    folder: str | os.PathLike[str], *, sigma_deg: float = 1.5, window_ms: float = 0.0,
    normalise: Normalisation = "max", params: FixationParams | None = None,
    out_dir: str = "attention", weighting: str = "binary",
) -> MapsSummary:
    """Write one attention map per frame of every gaze-tracked sequence; fill ``attention``
    and ``fixations``.

    Frames of sequences without a log keep their ``attention`` and ``fixations``
    values. Each frame needs ``timestamp_ms``. Fixations off the frame are left out of
    both (counted, one warning); those on the frame but outside the model input (cropped
    away) stay in ``fixations`` but draw nothing. ``weighting``: ``"binary"`` (the paper)
    or ``"duration"``. Each sequence succeeds or fails on its own: a bad log (missing,
    empty, garbage, unsorted) or a bad row fails that sequence only, which then writes
    no map and leaves its manifest cells as they were; the failures are listed in
    :attr:`MapsSummary.failures`.
    """
    from sonomtl.data.manifest import load_dataset, update_manifest_column
    from sonomtl.fileio import atomic_path

    if weighting not in ("binary", "duration"):
        raise ValueError(f"weighting must be 'binary' or 'duration', got {weighting!r}")
    parts = Path(out_dir).parts
    if not parts or Path(out_dir).is_absolute() or ".." in parts:
        # the manifest names files relative to the dataset folder: the maps live inside it
        raise InputError(f"must be a folder inside the dataset (a relative path without '..'), "
                         f"got {out_dir!r}", field="out_dir")
    folder = Path(folder)
    spec, records = load_dataset(folder)
    setup = spec.gaze
    yaml_file = folder / "dataset.yaml"
    if setup is None:
        raise InputError("no 'gaze:' block: the dataset has no eye-tracking setup",
                         file=yaml_file, field="gaze")
    try:
        geometry = ScreenGeometry(screen_px=setup.screen_px, screen_cm=setup.screen_cm,
                                  distance_cm=setup.distance_cm)
    except (TypeError, ValueError) as error:
        raise InputError(str(error), file=yaml_file, field="gaze") from None
    by_sequence: dict[str, list] = {}
    for record in records:
        if record.sequence is not None and record.sequence in setup.logs:
            by_sequence.setdefault(record.sequence, []).append(record)
    untracked = sum(1 for r in records if r.sequence is None or r.sequence not in setup.logs)
    if untracked:
        warn(f"{untracked} manifest rows belong to no sequence with a gaze log: "
             "their attention is left as it was")
    updates: dict[int, str] = {}
    points_by_row: dict[int, list[list[float]]] = {}
    counts = _Counts()
    failures: list[str] = []
    for sequence, frames in by_sequence.items():
        try:  # a bad sequence (log missing, empty, garbage, unsorted; a bad row) fails alone
            maps, points, sequence_counts = _sequence_maps(
                folder, spec, geometry, sequence, frames, params=params, sigma_deg=sigma_deg,
                window_ms=window_ms, normalise=normalise, weighting=weighting, out_dir=out_dir)
        except InputError as error:
            failures.append(str(error) if error.file else f"sequence {sequence}: {error}")
            continue
        for row, (name, attention) in maps.items():  # written only once the sequence is whole
            with atomic_path(folder / name) as tmp:
                np.save(tmp, attention, allow_pickle=False)
            updates[row] = name
        points_by_row.update(points)
        counts.add(sequence_counts)
    total_fixations, empty_frames = counts.fixations, counts.empty_frames
    off_image, off_frame = counts.off_image, counts.off_frame
    if off_frame:
        warn(f"{off_frame} fixation-frame pairs fell off the frame and were dropped")
    if off_image:
        warn(f"{off_image} fixation-frame pairs fell outside the model input (cropped away): "
             "kept in 'fixations', not drawn in the maps")
    if empty_frames:
        warn(f"{empty_frames} frames have no fixation: their maps are all zeros")
    if updates:
        update_manifest_column(folder, "attention", updates)
        update_manifest_column(folder, "fixations", points_by_row)
    return MapsSummary(len(updates), len(by_sequence), total_fixations, empty_frames, off_image,
                       off_frame, tuple(failures))


@dataclass
class _Counts:
    fixations: int = 0
    empty_frames: int = 0
    off_image: int = 0
    off_frame: int = 0

    def add(self, other: _Counts) -> None:
        self.fixations += other.fixations
        self.empty_frames += other.empty_frames
        self.off_image += other.off_image
        self.off_frame += other.off_frame


def _sequence_maps(folder: Path, spec, geometry: ScreenGeometry, sequence: str, frames: list, *,
                   params: FixationParams | None, sigma_deg: float, window_ms: float,
                   normalise: Normalisation, weighting: str, out_dir: str,
                   ) -> tuple[dict[int, tuple[str, np.ndarray]], dict[int, list[list[float]]],
                              _Counts]:
    """One sequence's maps ``{row: (file name, map)}``, fixation points per row and counts.

    Nothing is written here: a sequence that fails half-way leaves no file behind.
    """
    from sonomtl.data.io import read_frame
    from sonomtl.data.preprocess import auto_sector_box, mask_rectangles, plan_preprocessing

    setup = spec.gaze
    counts = _Counts()
    maps: dict[int, tuple[str, np.ndarray]] = {}
    points_by_row: dict[int, list[list[float]]] = {}
    for record in frames:
        if record.timestamp_ms is None:
            raise InputError("timestamp_ms is needed to align gaze",
                             file=folder / "manifest.csv", row=record.row,
                             field="timestamp_ms")
    frames = sorted(frames, key=lambda r: r.timestamp_ms)
    samples = read_gaze_log(folder / setup.logs[sequence], format=setup.format)
    fixations = detect_fixations(samples, geometry=geometry, params=params)
    counts.fixations += len(fixations)
    times = np.array([r.timestamp_ms for r in frames], dtype=np.float64)
    if len(times) > 1 and not (np.diff(times) > 0).all():
        dup = frames[int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1]
        raise InputError("two frames of one sequence share a timestamp_ms",
                         file=folder / "manifest.csv", row=dup.row, field="timestamp_ms")
    assigned = fixations_per_frame(times, fixations, end_ms=float(samples.time_ms[-1]),
                                   window_ms=window_ms)
    centroids = np.stack([fixations.x_px, fixations.y_px], axis=1)
    for record, indices in zip(frames, assigned):
        image, spacing = read_frame(folder, record)
        crop = spec.crop
        if crop == "auto":  # found as the data layer finds it: overlays blanked first
            crop = auto_sector_box(mask_rectangles(image, spec.mask_rects)
                                   if spec.mask_rects else image)
        try:
            pipeline = plan_preprocessing(
                image.shape[:2], input_hw=spec.input_size, crop_box_rc=crop,
                spacing_mm=spacing, target_spacing_mm=spec.target_spacing_mm,
            )
        except ValueError as error:  # the frame, not dataset.yaml, is named
            raise InputError(
                f"frame is {image.shape[1]}x{image.shape[0]} (width x height); dataset.yaml "
                f"crop {list(crop) if isinstance(crop, tuple) else crop} and input_size "
                f"{list(spec.input_size)} do not fit it: {error}",
                file=folder / record.source, row=record.row,
                field="image" if record.image is not None else "video") from None
        rows, cols = image.shape[:2]
        rect = setup.image_rect_px
        in_frame = screen_to_frame(centroids[indices], image_rect_px=rect,
                                   frame_hw=(rows, cols))
        on_frame = ((in_frame[:, 0] >= -0.5) & (in_frame[:, 0] <= cols - 0.5)
                    & (in_frame[:, 1] >= -0.5) & (in_frame[:, 1] <= rows - 0.5))
        counts.off_frame += int(np.count_nonzero(~on_frame))
        in_frame, indices = in_frame[on_frame], indices[on_frame]
        points_by_row[record.row] = in_frame.tolist()
        points = pipeline.apply_points(in_frame)
        matrix = pipeline.matrix
        scale = (abs(matrix[0, 0]) * cols / rect[2], abs(matrix[1, 1]) * rows / rect[3])
        sigma = sigma_px_for(geometry=geometry, sigma_deg=sigma_deg,
                             model_px_per_screen_px=scale)
        out_rows, out_cols = pipeline.output_hw
        inside = ((points[:, 0] > -0.5) & (points[:, 0] < out_cols - 0.5)
                  & (points[:, 1] > -0.5) & (points[:, 1] < out_rows - 0.5))
        counts.off_image += int(np.count_nonzero(~inside))
        weights = fixations.duration_ms[indices] if weighting == "duration" else None
        attention = attention_map(points, output_hw=pipeline.output_hw, sigma_px=sigma,
                                  normalise=normalise, weights=weights)
        if not inside.any():
            counts.empty_frames += 1
        maps[record.row] = (f"{out_dir}/{_safe(sequence)}/row{record.row:06d}.npy", attention)
    return maps, points_by_row, counts


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"
