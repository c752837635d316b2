"""Free-hand fetal abdominal sweeps with ACP/BG labels and review gaze (paper 1).

One clip per subject: the probe moves from the bottom to the top of the
maternal abdomen, so the transverse section climbs the fetal trunk (see
:mod:`sonomtl.data.synthetic.fetal`); the sonographer slows down near the
abdominal circumference plane, so a clip holds a short stretch of ACP frames
among background. Each clip is then reviewed frame by frame with simulated
gaze (:mod:`sonomtl.data.synthetic.gaze`).

Layout of the written dataset::

    DIR/dataset.yaml  manifest.csv
    DIR/images/CLIP/CLIP_NNN.png     screen canvas (300x400 grey) with overlays
    DIR/videos/CLIP.mp4              the clip's frames at 30 fps (unless video=False)
    DIR/gaze/CLIP.jsonl              EyeTribe API frames, 30 Hz
    DIR/gaze/CLIP.csv                time_ms,x_px,y_px
    DIR/gaze/CLIP_fixations.csv      ground-truth fixations
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sonomtl.data.synthetic.fetal import ACP_LEVELS, fetal_scene, is_acp, random_fetus
from sonomtl.data.synthetic.formation import CanvasLayout, ScanGeometry, Scanner
from sonomtl.data.synthetic.gaze import (
    FrameView,
    ScreenSetup,
    review_screen,
    simulate_review_gaze,
    write_eyetribe,
    write_fixations_csv,
    write_gaze_csv,
)
from sonomtl.data.synthetic.overlays import draw_depth_scale, draw_grey_bar, draw_text
from sonomtl.data.synthetic.scene import render_scene
from sonomtl.fileio import atomic_path, write_bytes

__all__ = [
    "SWEEP_CANVAS_HW",
    "SWEEP_CROP",
    "SweepClip",
    "render_sweep_clip",
    "generate_sweeps",
    "GAZE_EPOCH_MS",
]

#: Screen canvas of a sweep frame (rows, cols).
SWEEP_CANVAS_HW = (300, 400)
#: Crop (row0, row1, col0, col1) removing the overlays: a 240x240 window on the sector.
SWEEP_CROP = (50, 290, 80, 320)
#: Clock of the first gaze log (2017-03-01 12:00:00 UTC, ms); clip ``i`` starts ``i`` hours later.
GAZE_EPOCH_MS = 1488369600000

_SECTOR_TOP_PX = 38
_SECTOR_DEPTH_PX = 255
_CLASSES = ("ACP", "BG")


@dataclass
class SweepClip:
    """A rendered clip: ``uint8`` frames, sweep levels, labels, gaze targets and the trunk.

    ``targets_px`` and ``trunk_px`` (centre ``x, y`` and radius of the fetal
    trunk, one per frame) are in canvas pixels.
    """

    clip_id: str
    frames: list[np.ndarray]
    levels: list[float]
    labels: list[str]
    targets_px: list[dict[str, tuple[float, float]]]
    spacing_mm: float
    sector_mask: np.ndarray
    trunk_px: list[tuple[float, float, float]] = field(default_factory=list)


def _sweep_levels(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """Levels of ``n_frames`` equally spaced in time; the probe slows down near the ACP."""
    start, stop = rng.uniform(-0.05, 0.08), rng.uniform(0.92, 1.08)
    grid = np.linspace(start, stop, 2001)
    centre = 0.5 * (ACP_LEVELS[0] + ACP_LEVELS[1]) + rng.uniform(-0.015, 0.015)
    slowdown = rng.uniform(0.6, 0.8)
    speed = 1.0 - slowdown * np.exp(-(((grid - centre) / 0.07) ** 2))
    speed *= np.exp(0.2 * np.interp(grid, np.linspace(start, stop, 9), rng.standard_normal(9)))
    time = np.concatenate([[0.0], np.cumsum(np.diff(grid) / speed[1:])])
    time /= time[-1]
    sample_times = np.clip(
        np.linspace(0.0, 1.0, n_frames) + rng.normal(0.0, 0.15 / n_frames, n_frames), 0, 1
    )
    return np.interp(np.sort(sample_times), time, grid)


def render_sweep_clip(clip_index: int, *, seed: int, n_frames: int) -> SweepClip:
    """Render clip ``clip_index`` of the data set with ``seed`` (pure: no files)."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    rng = np.random.default_rng([int(seed), int(clip_index), 1])
    depth_mm = float(rng.uniform(100.0, 140.0))
    apex_mm = float(rng.uniform(60.0, 80.0))
    geometry = ScanGeometry(
        kind="convex",
        depth_mm=depth_mm,
        fov_deg=float(rng.uniform(56.0, 66.0)),
        apex_radius_mm=apex_mm,
        n_samples=288,
        n_lines=160,
        frequency_mhz=float(rng.uniform(3.0, 4.0)),
    )
    spacing = depth_mm / _SECTOR_DEPTH_PX
    layout = CanvasLayout(
        SWEEP_CANVAS_HW, spacing, (SWEEP_CANVAS_HW[1] / 2 - 0.5, float(_SECTOR_TOP_PX))
    )
    scanner = Scanner(geometry, layout)
    fetus = random_fetus(rng, depth_mm=depth_mm, apex_radius_mm=apex_mm)
    overlay = _sweep_overlay(rng, depth_mm=depth_mm, spacing_mm=spacing)
    overlay_mask = overlay > 0
    gain_db = float(rng.normal(-32.0, 1.5))
    dynamic_range_db = float(rng.uniform(50.0, 60.0))
    levels = _sweep_levels(rng, n_frames)
    offset = np.zeros(2)
    rotation = 0.0
    clip = SweepClip(f"clip_{clip_index + 1:03d}", [], [], [], [], spacing, scanner.sector_mask)
    for level in levels:
        offset = 0.85 * offset + rng.normal(0.0, 0.8, 2)
        rotation += float(rng.normal(0.0, 0.015))
        scene, targets_mm = fetal_scene(
            fetus, float(level), offset_mm=(float(offset[0]), float(offset[1])), rotation=rotation
        )
        rendered = render_scene(
            scene,
            scanner,
            rng=rng,
            gain_db=gain_db + float(rng.normal(0.0, 0.5)),
            dynamic_range_db=dynamic_range_db,
        )
        image = rendered.image
        image[overlay_mask] = overlay[overlay_mask]
        targets = {}
        for name, (x_mm, z_mm) in targets_mm.items():
            x_px, y_px = layout.mm_to_px(x_mm, z_mm)
            r, c = int(round(float(y_px))), int(round(float(x_px)))
            if (
                0 <= r < SWEEP_CANVAS_HW[0]
                and 0 <= c < SWEEP_CANVAS_HW[1]
                and scanner.sector_mask[r, c]
            ):
                targets[name] = (float(x_px), float(y_px))
        clip.frames.append(image)
        clip.levels.append(float(level))
        clip.labels.append("ACP" if is_acp(float(level)) else "BG")
        clip.targets_px.append(targets)
        trunk_x, trunk_y = layout.mm_to_px(fetus.centre_mm[0] + offset[0],
                                           fetus.centre_mm[1] + offset[1])
        clip.trunk_px.append((float(trunk_x), float(trunk_y), fetus.radius_mm / spacing))
    return clip


def _sweep_overlay(rng: np.random.Generator, *, depth_mm: float, spacing_mm: float) -> np.ndarray:
    """Per-clip overlay canvas (0 = transparent): text band, grey bar, depth scale."""
    overlay = np.zeros(SWEEP_CANVAS_HW, dtype=np.uint8)
    weeks, days = int(rng.integers(19, 33)), int(rng.integers(0, 7))
    draw_text(overlay, f"GA={weeks}w{days}d", (6, 14))
    draw_text(overlay, "AB2-7/OB", (150, 14))
    draw_text(overlay, f"{depth_mm / 10:.1f}cm / 30Hz", (140, 29), scale=0.35)
    draw_text(
        overlay,
        f"MI {rng.uniform(0.5, 1.2):.1f}  TIs {rng.uniform(0.1, 0.6):.1f}",
        (290, 14),
        scale=0.35,
    )
    draw_text(overlay, f"Gn {int(rng.integers(0, 10))}", (350, 60), scale=0.33)
    draw_text(overlay, f"DR {int(rng.integers(50, 61))}", (350, 75), scale=0.33)
    draw_grey_bar(overlay, (4, 60, 9, 200))
    draw_depth_scale(
        overlay, x_px=388, top_px=_SECTOR_TOP_PX, mm_per_px=spacing_mm, depth_mm=depth_mm
    )
    return overlay


def _png_bytes(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - cv2 failure
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()


def _write_video(path: Path, frames: list[np.ndarray], *, fps: int = 30) -> None:
    """MP4 (H.264, yuv420p) of ``frames`` at ``fps``, written atomically and reproducibly."""
    import av

    rows, cols = frames[0].shape
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream(
                "libx264", rate=fps, options={"crf": "20", "preset": "veryfast", "threads": "1"}
            )
            stream.width, stream.height = cols + cols % 2, rows + rows % 2
            stream.pix_fmt = "yuv420p"
            for image in frames:
                padded = np.pad(image, ((0, rows % 2), (0, cols % 2)))
                frame = av.VideoFrame.from_ndarray(padded, format="gray")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def generate_sweeps(
    out_dir: str | os.PathLike[str],
    *,
    subjects: int = 33,
    frames_per_clip: int = 49,
    seed: int = 0,
    video: bool = True,
    gaze: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a sweeps data set (ACP/BG frames, videos, gaze logs) into ``out_dir``.

    Parameters
    ----------
    out_dir
        Dataset folder (created; existing files of the same names are replaced).
    subjects
        Number of clips (one per subject). The paper: 33 clips, 1,616 frames.
    frames_per_clip
        Frames kept per clip (the sweep sub-sampled).
    seed
        Same seed, same bytes.
    video
        Also write one MP4 per clip (30 fps).
    gaze
        Also simulate the review and write the gaze logs.
    progress
        Called as ``progress(done, total)`` after each clip.

    Returns
    -------
    Path
        The dataset folder.
    """
    from sonomtl.data.manifest import DatasetSpec, GazeSetup, write_dataset

    if subjects < 1:
        raise ValueError(f"subjects must be >= 1, got {subjects}")
    if frames_per_clip < 2:
        raise ValueError(f"frames_per_clip must be >= 2, got {frames_per_clip}")
    out = Path(out_dir)
    screen = review_screen(SWEEP_CANVAS_HW, crop_px=SWEEP_CROP[3] - SWEEP_CROP[2])
    rows: list[dict] = []
    logs: dict[str, str] = {}
    videos: dict[str, str] = {}
    for index in range(subjects):
        clip = render_sweep_clip(index, seed=seed, n_frames=frames_per_clip)
        gaze_rng = np.random.default_rng([int(seed), index, 2])
        onsets = _review_timing(clip, gaze_rng, start_ms=GAZE_EPOCH_MS + index * 3_600_000)
        for i, image in enumerate(clip.frames):
            relative = f"images/{clip.clip_id}/{clip.clip_id}_{i:03d}.png"
            write_bytes(out / relative, _png_bytes(image))
            rows.append(
                {
                    "image": relative,
                    "subject": clip.clip_id,
                    "sequence": clip.clip_id,
                    "label": clip.labels[i],
                    "spacing_mm": round(clip.spacing_mm, 6),
                    "timestamp_ms": int(onsets[i]),
                    "sweep_level": f"{clip.levels[i]:.4f}",
                }
            )
        if video:
            videos[clip.clip_id] = f"videos/{clip.clip_id}.mp4"
            _write_video(out / videos[clip.clip_id], clip.frames)
        if gaze:
            views = _frame_views(clip, onsets, screen)
            recording = simulate_review_gaze(views, screen=screen, rng=gaze_rng)
            logs[clip.clip_id] = f"gaze/{clip.clip_id}.jsonl"
            write_eyetribe(out / logs[clip.clip_id], recording, rng=gaze_rng)
            write_gaze_csv(out / f"gaze/{clip.clip_id}.csv", recording)
            write_fixations_csv(out / f"gaze/{clip.clip_id}_fixations.csv", recording)
        if progress is not None:
            progress(index + 1, subjects)
    gaze_setup = None
    if gaze:
        gaze_setup = GazeSetup(
            screen_px=screen.screen_px,
            screen_cm=screen.screen_cm,
            distance_cm=screen.distance_cm,
            image_rect_px=screen.image_rect_px,
            format="eyetribe",
            logs=logs,
        )
    spec = DatasetSpec(
        name="synthetic-sweeps",
        classes=_CLASSES,
        input_size=(240, 240),
        crop=SWEEP_CROP,
        frame_rate_hz=30,
        gaze=gaze_setup,
        description="Simulated free-hand fetal abdominal sweeps (ACP vs background) with gaze "
        "(sonomtl synth sweeps).",
        metadata={
            "generator": "sonomtl synth sweeps",
            "seed": int(seed),
            "subjects": int(subjects),
            "frames_per_clip": int(frames_per_clip),
            "videos": videos,
            "gaze_csv": {k: f"gaze/{k}.csv" for k in logs},
            "gaze_fixations": {k: f"gaze/{k}_fixations.csv" for k in logs},
            "acp_levels": list(ACP_LEVELS),
        },
    )
    return write_dataset(out, spec, rows)


def _review_timing(clip: SweepClip, rng: np.random.Generator, *, start_ms: int) -> np.ndarray:
    """Onset (ms, log clock) of every frame in the review: dwell 0.8-2 s, 1.5-3 s near the ACP."""
    centre = 0.5 * (ACP_LEVELS[0] + ACP_LEVELS[1])
    dwell = np.array(
        [
            rng.uniform(1500.0, 3000.0) if abs(level - centre) < 0.1 else rng.uniform(800.0, 2000.0)
            for level in clip.levels
        ]
    )
    onsets = start_ms + np.concatenate([[0.0], np.cumsum(np.rint(dwell))])
    return onsets.astype(np.int64)


def _frame_views(clip: SweepClip, onsets: np.ndarray, screen: ScreenSetup) -> list[FrameView]:
    """What the reviewer looks at on every frame (screen px)."""
    r0, r1, c0, c1 = SWEEP_CROP
    bx0, by0 = screen.canvas_to_screen(c0 + 10, r0 + 10)
    bx1, by1 = screen.canvas_to_screen(c1 - 10, r1 - 10)
    views = []
    for i, level in enumerate(clip.levels):
        distance = (
            0.0 if is_acp(level) else min(abs(level - ACP_LEVELS[0]), abs(level - ACP_LEVELS[1]))
        )
        focus = 0.9 if distance == 0.0 else (0.6 if distance < 0.08 else 0.25)
        targets = {}
        for name, (x, y) in clip.targets_px[i].items():
            if not (c0 <= x < c1 and r0 <= y < r1):
                continue
            sx, sy = screen.canvas_to_screen(x, y)
            targets[name] = (float(sx), float(sy))
        x, y, radius = clip.trunk_px[i]
        sx, sy = screen.canvas_to_screen(x, y)
        views.append(
            FrameView(
                onset_ms=int(onsets[i]),
                offset_ms=int(onsets[i + 1]),
                targets=targets,
                focus=focus,
                free_box=(float(bx0), float(by0), float(bx1), float(by1)),
                body=(float(sx), float(sy), radius * screen.scale),
            )
        )
    return views


def acp_fraction(levels: list[float]) -> float:
    """Fraction of ``levels`` in the ACP window (for reports)."""
    return float(np.mean([is_acp(level) for level in levels])) if levels else math.nan
