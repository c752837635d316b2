"""Simulated sonographer gaze while reviewing frames, written like an EyeTribe log.

Review protocol (paper 1): the frames of a clip are shown one after the
other; the sonographer looks at each as long as they want (a dwell time of
about 0.8-3 s), so a frame's ``timestamp_ms`` is the time it appeared on the
gaze log's clock. Within a frame the eyes make **fixations** (log-normal
durations, 150-600 ms) separated by **saccades** whose duration follows the
main sequence (``21 ms + 2.2 ms/deg``), so their speed is far above the
30 deg/s I-VT threshold. Near the abdominal circumference plane fixations
land on the structures that matter (stomach, umbilical vein, spine, abdominal
outline); on background frames they wander over the sector. The tracker adds
Gaussian noise, slow drift, blinks (samples with the fail bit and (0, 0)
coordinates) and random lost samples.

Outputs per sequence: the EyeTribe API frame stream (one JSON object per
line), a plain CSV ``time_ms,x_px,y_px`` (lost samples empty) and the
ground-truth fixation list ``onset_ms,offset_ms,duration_ms,x_px,y_px,frame,target``
(screen pixels; ``frame`` is the 0-based index of the frame in the review,
``target`` the structure looked at or empty for a free look).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomtl.fileio import write_text

__all__ = [
    "ScreenSetup",
    "review_screen",
    "FrameView",
    "GazeRecording",
    "simulate_review_gaze",
    "write_eyetribe",
    "write_gaze_csv",
    "write_fixations_csv",
    "STATE_GAZE",
    "STATE_EYES",
    "STATE_PRESENCE",
    "STATE_FAIL",
    "STATE_LOST",
    "BODY_LOOK_PROBABILITY",
    "BODY_LOOK_SPREAD",
]

STATE_GAZE, STATE_EYES, STATE_PRESENCE, STATE_FAIL, STATE_LOST = 0x1, 0x2, 0x4, 0x8, 0x10
_TRACKING = STATE_GAZE | STATE_EYES | STATE_PRESENCE
#: Of the free looks on a frame with a ``body``, the share that goes to the fetal trunk.
BODY_LOOK_PROBABILITY = 0.8
#: Spread (standard deviation, in trunk radii) of those looks around the trunk's centre.
BODY_LOOK_SPREAD = 0.5


@dataclass(frozen=True)
class ScreenSetup:
    """Screen geometry and where the (uncropped) canvas is drawn on it.

    ``image_rect_px`` is ``(x0, y0, width, height)`` on the screen; the canvas
    ``canvas_hw`` is scaled uniformly into it.
    """

    screen_px: tuple[int, int]
    screen_cm: tuple[float, float]
    distance_cm: float
    image_rect_px: tuple[int, int, int, int]
    canvas_hw: tuple[int, int]

    @property
    def px_per_deg(self) -> float:
        """Screen pixels per degree of visual angle at the screen centre (mean of x and y)."""
        cm = 2 * self.distance_cm * math.tan(math.radians(0.5))
        return (
            cm
            * 0.5
            * (self.screen_px[0] / self.screen_cm[0] + self.screen_px[1] / self.screen_cm[1])
        )

    @property
    def scale(self) -> float:
        """Screen pixels per canvas pixel."""
        return self.image_rect_px[2] / self.canvas_hw[1]

    def canvas_to_screen(
        self, x: np.ndarray | float, y: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canvas pixel ``(x, y)`` -> screen pixel ``(x, y)`` (centres map to centres)."""
        x0, y0, w, h = self.image_rect_px
        sx, sy = w / self.canvas_hw[1], h / self.canvas_hw[0]
        return x0 + (np.asarray(x) + 0.5) * sx - 0.5, y0 + (np.asarray(y) + 0.5) * sy - 0.5


def review_screen(
    canvas_hw: tuple[int, int],
    *,
    crop_px: int = 240,
    input_px: int = 240,
    field_deg: float = 1.5,
    sigma_px: float = 30.0,
    screen_px: tuple[int, int] = (1680, 1050),
    screen_cm: tuple[float, float] = (33.2, 20.7),
    distance_cm: float = 50.0,
) -> ScreenSetup:
    """The review screen; the canvas is drawn so ``field_deg`` maps to ``sigma_px`` at the input.

    The paper blurs fixations with sigma = 30 px at 240x240 for a 1.5 deg
    field of view (50 cm from a 33.2 x 20.7 cm screen); a ``crop_px`` wide
    crop of the canvas resized to ``input_px`` therefore has to cover
    ``crop_px * px_per_deg * field_deg / sigma_px * (input_px / crop_px)``
    screen pixels.
    """
    probe = ScreenSetup(
        screen_px, screen_cm, distance_cm, (0, 0, canvas_hw[1], canvas_hw[0]), canvas_hw
    )
    scale = probe.px_per_deg * field_deg / sigma_px * input_px / crop_px  # screen px per canvas px
    width, height = int(round(canvas_hw[1] * scale)), int(round(canvas_hw[0] * scale))
    if width > screen_px[0] or height > screen_px[1]:
        raise ValueError(
            f"canvas_hw {canvas_hw} scaled by {scale:.3f} does not fit screen_px {screen_px}"
        )
    rect = ((screen_px[0] - width) // 2, (screen_px[1] - height) // 2, width, height)
    return ScreenSetup(screen_px, screen_cm, distance_cm, rect, canvas_hw)


@dataclass(frozen=True)
class FrameView:
    """One frame as reviewed: when it is on screen and what is worth looking at.

    ``targets`` maps structure names to screen points; ``focus`` (0..1) is the
    probability that a fixation goes to a target rather than a free look
    (high near the standard plane, low on background); ``free_box`` is the
    screen box ``(x0, y0, x1, y1)`` of free looks. ``body`` ``(x, y, radius)``,
    when given, is the fetal trunk on the screen: a free look then goes to the
    body with probability :data:`BODY_LOOK_PROBABILITY` (normal around its
    centre, spread :data:`BODY_LOOK_SPREAD` radii, kept in ``free_box``) and
    anywhere in ``free_box`` otherwise. A reviewer searching a frame looks over
    the fetus, seldom at the maternal tissue around it.
    """

    onset_ms: int
    offset_ms: int
    targets: dict[str, tuple[float, float]]
    focus: float
    free_box: tuple[float, float, float, float]
    body: tuple[float, float, float] | None = None


@dataclass
class GazeRecording:
    """Samples (``time_ms``, ``x_px``/``y_px`` NaN when lost, ``state``) and true fixations."""

    time_ms: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    state: np.ndarray
    fixations: list[tuple[int, int, float, float, int, str]] = field(default_factory=list)


def simulate_review_gaze(
    views: list[FrameView],
    *,
    screen: ScreenSetup,
    rng: np.random.Generator,
    sample_rate_hz: float = 30.0,
    duration_median_ms: float = 280.0,
    noise_deg: float = 0.12,
    blink_probability: float = 0.06,
    lost_probability: float = 0.01,
) -> GazeRecording:
    """Gaze samples and ground-truth fixations for a review of ``views`` (in display order)."""
    if not views:
        raise ValueError("views: expected at least one FrameView, got none")
    ppd = screen.px_per_deg
    onsets: list[float] = []
    offsets: list[float] = []
    points: list[tuple[float, float]] = []
    fixations: list[tuple[int, int, float, float, int, str]] = []
    blinks: list[tuple[float, float]] = []
    previous = np.array(views[0].free_box[:2]) * 0.5 + np.array(views[0].free_box[2:]) * 0.5
    for index, view in enumerate(views):
        latency = rng.uniform(150.0, 300.0) if index == 0 else rng.uniform(60.0, 160.0)
        t = float(view.onset_ms) + latency  # the eyes stay put until they react to the new frame
        if index == 0:
            onsets.append(float(view.onset_ms))
            points.append((float(previous[0]), float(previous[1])))
            fixations.append((int(view.onset_ms), 0, float(previous[0]), float(previous[1]), 0, ""))
            offsets.append(t)
        offsets[-1] = t
        fixations[-1] = (fixations[-1][0], int(round(t)), *fixations[-1][2:])
        names = sorted(view.targets)
        while True:
            point, target = _choose_point(view, names, previous, ppd, rng)
            amplitude_deg = float(np.hypot(*(point - previous))) / ppd
            if rng.random() < blink_probability:
                blink = rng.uniform(100.0, 250.0)
                blinks.append((t, t + blink))
                t += blink
            t += 21.0 + 2.2 * amplitude_deg  # main-sequence saccade
            duration = float(
                np.clip(rng.lognormal(math.log(duration_median_ms), 0.35), 150.0, 600.0)
            )
            if t + duration > view.offset_ms:
                if view.offset_ms - t >= 150.0:
                    duration = view.offset_ms - t
                else:
                    # too little time left for another fixation: keep looking where the eyes are
                    offsets[-1] = float(view.offset_ms)
                    fixations[-1] = (fixations[-1][0], int(view.offset_ms), *fixations[-1][2:])
                    break
            onsets.append(t)
            offsets.append(t + duration)
            points.append((float(point[0]), float(point[1])))
            fixations.append(
                (
                    int(round(t)),
                    int(round(t + duration)),
                    float(point[0]),
                    float(point[1]),
                    index,
                    target,
                )
            )
            previous = point
            t += duration
            if t >= view.offset_ms - 1e-6:
                break
    start, end = float(views[0].onset_ms), float(views[-1].offset_ms)
    step = 1000.0 / sample_rate_hz
    times = start + np.arange(int(math.floor((end - start) / step)) + 1) * step
    onset_arr, offset_arr = np.asarray(onsets), np.asarray(offsets)
    pts = np.asarray(points)
    # position: the fixation point inside a fixation, a minimum-jerk saccade between two
    after = np.searchsorted(onset_arr, times, side="right")  # fixations started at or before t
    current = np.clip(after - 1, 0, len(onset_arr) - 1)
    nxt = np.clip(after, 0, len(onset_arr) - 1)
    in_fix = (after > 0) & (times < offset_arr[current])
    gap_end = onset_arr[nxt]
    sacc_dur = (
        21.0
        + 2.2
        * np.hypot(*(pts[nxt] - np.where((after > 0)[:, None], pts[current], pts[nxt])).T)
        / ppd
    )
    sacc_start = gap_end - sacc_dur
    progress = np.clip((times - sacc_start) / np.maximum(sacc_dur, 1e-6), 0.0, 1.0)
    progress = progress**3 * (10 - 15 * progress + 6 * progress**2)
    origin = np.where((after > 0)[:, None], pts[current], pts[nxt])
    xy = np.where(in_fix[:, None], pts[current], origin + (pts[nxt] - origin) * progress[:, None])
    drift = np.cumsum(rng.normal(0.0, 0.03 * ppd, size=xy.shape), axis=0)
    drift -= _running_mean_by_segment(drift, current)  # drift wanders around the fixation point
    xy = xy + drift + rng.normal(0.0, noise_deg * ppd, size=xy.shape)
    state = np.full(times.shape, _TRACKING, dtype=np.int64)
    lost = rng.random(times.shape) < lost_probability
    state[lost] = STATE_LOST
    for b0, b1 in blinks:
        state[(times >= b0) & (times < b1)] = STATE_PRESENCE | STATE_FAIL
    bad = state != _TRACKING
    xy[bad] = np.nan
    return GazeRecording(
        time_ms=np.rint(times).astype(np.int64),
        x_px=xy[:, 0],
        y_px=xy[:, 1],
        state=state,
        fixations=fixations,
    )


def _choose_point(
    view: FrameView, names: list[str], previous: np.ndarray, ppd: float, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """A fixation point at least 1.5 deg from ``previous`` (target or free look)."""
    for _ in range(20):
        if names and rng.random() < view.focus:
            target = names[int(rng.integers(len(names)))]
            point = np.asarray(view.targets[target]) + rng.normal(0.0, 0.25 * ppd, size=2)
        else:
            x0, y0, x1, y1 = view.free_box
            target = ""
            if view.body is not None and rng.random() < BODY_LOOK_PROBABILITY:
                x, y, radius = view.body
                point = np.clip(np.array([x, y]) + rng.normal(0.0, BODY_LOOK_SPREAD * radius, 2),
                                (x0, y0), (x1, y1))
            else:
                point = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        if np.hypot(*(point - previous)) >= 1.5 * ppd:
            return point, target
    direction = rng.normal(size=2)
    return previous + 2.0 * ppd * direction / np.linalg.norm(direction), ""


def _running_mean_by_segment(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Per-sample mean of ``values`` over the samples sharing its ``segment`` id."""
    counts = np.bincount(segment, minlength=segment.max() + 1).astype(np.float64)
    out = np.empty_like(values)
    for axis in range(values.shape[1]):
        sums = np.bincount(segment, weights=values[:, axis], minlength=segment.max() + 1)
        out[:, axis] = (sums / np.maximum(counts, 1))[segment]
    return out


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def write_eyetribe(
    path: str | os.PathLike[str], recording: GazeRecording, *, rng: np.random.Generator
) -> Path:
    """Write the EyeTribe API frame stream (``{"category":"tracker",...}`` per line)."""
    lines = []
    x_raw, y_raw = recording.x_px, recording.y_px
    valid = np.isfinite(x_raw)
    # the tracker's "avg" is a running mean of the last 3 valid raw samples
    x_avg, y_avg = _running_avg(x_raw, valid), _running_avg(y_raw, valid)
    disparity = rng.normal(0.0, 6.0, size=(len(x_raw), 2))
    psize = 21.0 + np.cumsum(rng.normal(0.0, 0.05, size=len(x_raw)))
    for i, (t_ms, state) in enumerate(zip(recording.time_ms.tolist(), recording.state.tolist())):
        stamp = _dt.datetime.fromtimestamp(t_ms / 1000.0, tz=_dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        )[:-3]
        if valid[i]:
            raw = (x_raw[i], y_raw[i])
            avg = (x_avg[i], y_avg[i])
            left = (raw[0] - disparity[i, 0], raw[1] - disparity[i, 1])
            right = (raw[0] + disparity[i, 0], raw[1] + disparity[i, 1])
            size_l, size_r = psize[i], psize[i] + 0.4
            pc_l = (0.42 + raw[0] / 20000.0, 0.52 + raw[1] / 20000.0)
            pc_r = (0.58 + raw[0] / 20000.0, 0.52 + raw[1] / 20000.0)
        else:
            raw = avg = left = right = (0.0, 0.0)
            size_l = size_r = 0.0
            pc_l = pc_r = (0.0, 0.0)
        fix = (
            "true"
            if valid[i]
            and i > 0
            and valid[i - 1]
            and np.hypot(x_raw[i] - x_raw[i - 1], y_raw[i] - y_raw[i - 1]) < 40.0
            else "false"
        )
        eye_l = (
            f'{{"avg":{{"x":{_fmt(left[0])},"y":{_fmt(left[1])}}},"raw":{{"x":{_fmt(left[0])},'
            f'"y":{_fmt(left[1])}}},"psize":{_fmt(size_l)},"pcenter":{{"x":{pc_l[0]:.4f},"y":{pc_l[1]:.4f}}}}}'
        )
        eye_r = (
            f'{{"avg":{{"x":{_fmt(right[0])},"y":{_fmt(right[1])}}},"raw":{{"x":{_fmt(right[0])},'
            f'"y":{_fmt(right[1])}}},"psize":{_fmt(size_r)},"pcenter":{{"x":{pc_r[0]:.4f},"y":{pc_r[1]:.4f}}}}}'
        )
        lines.append(
            f'{{"category":"tracker","request":"get","statuscode":200,"values":{{"frame":{{'
            f'"timestamp":"{stamp}","time":{t_ms},"fix":{fix},"state":{state},'
            f'"raw":{{"x":{_fmt(raw[0])},"y":{_fmt(raw[1])}}},"avg":{{"x":{_fmt(avg[0])},"y":{_fmt(avg[1])}}},'
            f'"lefteye":{eye_l},"righteye":{eye_r}}}}}}}'
        )
    return write_text(path, "\n".join(lines) + "\n")


def _running_avg(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    for i in range(len(values)):
        if valid[i]:
            window = [values[j] for j in range(max(0, i - 2), i + 1) if valid[j]]
            out[i] = sum(window) / len(window)
    return out


def write_gaze_csv(path: str | os.PathLike[str], recording: GazeRecording) -> Path:
    """Write ``time_ms,x_px,y_px`` (lost samples: empty x and y)."""
    rows = ["time_ms,x_px,y_px"]
    for t_ms, x, y in zip(
        recording.time_ms.tolist(), recording.x_px.tolist(), recording.y_px.tolist()
    ):
        rows.append(f"{t_ms},{x:.2f},{y:.2f}" if math.isfinite(x) else f"{t_ms},,")
    return write_text(path, "\n".join(rows) + "\n")


def write_fixations_csv(path: str | os.PathLike[str], recording: GazeRecording) -> Path:
    """Write the true fixations ``onset_ms,offset_ms,duration_ms,x_px,y_px,frame,target``."""
    rows = ["onset_ms,offset_ms,duration_ms,x_px,y_px,frame,target"]
    for onset, offset, x, y, frame, target in recording.fixations:
        rows.append(f"{onset},{offset},{offset - onset},{x:.2f},{y:.2f},{frame},{target}")
    return write_text(path, "\n".join(rows) + "\n")
