"""Scoring detected fixations against true ones: hand-built cases, exhaustive search, simulator."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from sonomtl.errors import InputError
from sonomtl.gaze import FixationParams, Fixations, ScreenGeometry
from sonomtl.gaze.scoring import (
    combine_scores,
    error_stats,
    score_dataset_fixations,
    score_fixations,
)

# The simulator's review screen (docs/simulator.md): 1680x1050 px, 33.2 x 20.7 cm, 50 cm.
SCREEN = ScreenGeometry(screen_px=(1680, 1050), screen_cm=(33.2, 20.7), distance_cm=50)
SAMPLE_MS = 1000 / 30


def _fix(intervals, points=None) -> Fixations:
    onset = np.array([a for a, _ in intervals], dtype=float)
    offset = np.array([b for _, b in intervals], dtype=float)
    if points is None:
        points = [(800.0 + 100 * k, 500.0) for k in range(len(intervals))]
    xy = np.array(points, dtype=float).reshape(-1, 2)
    return Fixations(onset, offset, xy[:, 0], xy[:, 1])


# ---------------------------------------------------------------- hand-built cases


def test_exact_match_gives_full_recall_and_zero_errors():
    truth = _fix([(0, 250), (300, 700), (760, 900)], [(100, 200), (900, 600), (1500, 1000)])
    score = score_fixations(truth, truth, geometry=SCREEN)
    assert (score.recall, score.precision, score.f1) == (1.0, 1.0, 1.0)
    assert score.true_index.tolist() == [0, 1, 2] == score.detected_index.tolist()
    for errors in (score.onset_error_ms, score.offset_error_ms, score.position_error_px,
                   score.position_error_deg):
        assert errors.tolist() == [0.0, 0.0, 0.0]
    assert score.n_split == score.n_merged == 0


def test_split_fixation_matches_the_larger_part_and_the_other_is_spurious():
    truth = _fix([(0, 600)], [(800, 500)])
    # The detector breaks it in two: 0-200 ms at x=790 and 300-600 ms at x=806.
    detected = _fix([(0, 200), (300, 600)], [(790, 500), (806, 500)])
    score = score_fixations(detected, truth, geometry=SCREEN)
    assert score.n_split == 1 and score.n_merged == 0
    assert score.detected_index.tolist() == [1]  # 300 ms of overlap beats 200 ms
    assert score.recall == 1.0 and score.precision == 0.5
    assert score.onset_error_ms.tolist() == [300.0] and score.offset_error_ms.tolist() == [0.0]
    assert score.position_error_px.tolist() == [6.0]


def test_missed_fixation_lowers_recall_only():
    truth = _fix([(0, 300), (350, 500), (560, 900)])
    detected = _fix([(33, 267), (600, 867)], [(800, 500), (1000, 500)])
    score = score_fixations(detected, truth, geometry=SCREEN)
    assert score.true_index.tolist() == [0, 2] and score.detected_index.tolist() == [0, 1]
    assert score.recall == pytest.approx(2 / 3) and score.precision == 1.0
    assert score.onset_error_ms.tolist() == [33.0, 40.0]
    assert score.offset_error_ms.tolist() == [-33.0, -33.0]
    assert score.summary()["n_missed"] == 1 and score.summary()["n_spurious"] == 0


def test_spurious_fixation_in_a_saccade_lowers_precision_only():
    truth = _fix([(0, 300), (400, 700)])
    detected = _fix([(0, 300), (310, 390), (400, 700)], [(800, 500), (0, 0), (900, 500)])
    score = score_fixations(detected, truth, geometry=SCREEN)
    assert score.detected_index.tolist() == [0, 2]
    assert score.recall == 1.0 and score.precision == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 * 2 / 5)


def test_detected_fixation_spanning_two_true_ones_is_merged_and_matches_one():
    truth = _fix([(0, 300), (330, 500)])
    detected = _fix([(0, 500)], [(850, 500)])
    score = score_fixations(detected, truth, geometry=SCREEN)
    assert score.n_merged == 1 and score.n_split == 0
    assert score.true_index.tolist() == [0]  # 300 ms of overlap beats 170 ms
    assert score.offset_error_ms.tolist() == [200.0]
    assert score.recall == 0.5 and score.precision == 1.0


def test_matching_prefers_more_pairs_over_more_overlap():
    # D2 overlaps T1 by 240 ms and T2 by 20 ms; D1 overlaps T1 by 40 ms.
    # Most overlap alone would pair T1-D2 (240 ms, one pair); the matching keeps two pairs.
    truth = _fix([(0, 300), (400, 700)])
    detected = _fix([(0, 40), (60, 420)])
    score = score_fixations(detected, truth, geometry=SCREEN)
    assert score.true_index.tolist() == [0, 1] and score.detected_index.tolist() == [0, 1]


def test_touching_intervals_do_not_match_but_a_single_sample_inside_does():
    truth = _fix([(100, 200)])
    touching = _fix([(200, 300)])
    assert score_fixations(touching, truth, geometry=SCREEN).n_matched == 0
    single_sample = _fix([(150, 150)])
    assert score_fixations(single_sample, truth, geometry=SCREEN).n_matched == 1


def test_position_error_in_degrees_is_the_visual_angle():
    # 1001 px on 50 cm at 50 cm: the distance is 1001 px; a point distance*tan(1 deg) right of
    # the centre pixel (500) is 1 deg away from it, and 10 px is atan(10/1001) deg.
    geometry = ScreenGeometry(screen_px=(1001, 1001), screen_cm=(50, 50), distance_cm=50)
    truth = _fix([(0, 100), (200, 300)], [(500, 500), (500, 500)])
    detected = _fix([(0, 100), (200, 300)],
                    [(500 + 1001 * math.tan(math.radians(1.0)), 500), (500, 510)])
    score = score_fixations(detected, truth, geometry=geometry)
    assert score.position_error_deg[0] == pytest.approx(1.0, abs=1e-9)
    assert score.position_error_deg[1] == pytest.approx(math.degrees(math.atan(10 / 1001)),
                                                         abs=1e-9)
    assert score.position_error_px[1] == pytest.approx(10.0)


def test_error_stats_are_of_absolute_errors_with_a_signed_median():
    stats = error_stats(np.array([-40.0, 10.0, 20.0, 30.0, 100.0]))
    assert stats.n == 5
    assert stats.median == 30.0 and stats.mean == 40.0 and stats.median_signed == 20.0
    # |e| sorted: 10 20 30 40 100; p90 at rank 3.6 -> 40 + 0.6 * 60 = 76
    assert stats.p90 == pytest.approx(76.0)
    empty = error_stats(np.zeros(0))
    assert empty.n == 0 and math.isnan(empty.median) and math.isnan(empty.p90)


def test_empty_lists_give_nan_rates_not_errors():
    none = _fix([])
    some = _fix([(0, 100)])
    assert math.isnan(score_fixations(none, none, geometry=SCREEN).recall)
    nothing_found = score_fixations(none, some, geometry=SCREEN)
    assert nothing_found.recall == 0.0 and math.isnan(nothing_found.precision)
    assert score_fixations(some, none, geometry=SCREEN).precision == 0.0


def test_combined_scores_pool_counts_and_offset_the_indices():
    a = score_fixations(_fix([(0, 100)]), _fix([(0, 100), (200, 300)]), geometry=SCREEN)
    # b: the true fixation is split; the second part (60 ms of overlap) is the match.
    b = score_fixations(_fix([(0, 30), (40, 100)]), _fix([(0, 100)]), geometry=SCREEN)
    pooled = combine_scores([a, b])
    assert (pooled.n_true, pooled.n_detected, pooled.n_matched) == (3, 3, 2)
    assert pooled.true_index.tolist() == [0, 2] and pooled.detected_index.tolist() == [0, 2]
    assert pooled.onset_error_ms.tolist() == [0.0, 40.0] and pooled.n_split == 1
    assert combine_scores([]).n_true == 0


def test_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="detected: fixations must be in time order"):
        score_fixations(_fix([(200, 300), (0, 100)]), _fix([]), geometry=SCREEN)
    with pytest.raises(ValueError, match="truth: offset_ms before onset_ms at index 0"):
        score_fixations(_fix([]), _fix([(100, 0)]), geometry=SCREEN)
    with pytest.raises(TypeError, match="truth must be a Fixations"):
        score_fixations(_fix([]), [(0, 100)], geometry=SCREEN)
    with pytest.raises(TypeError, match="geometry must be a ScreenGeometry"):
        score_fixations(_fix([]), _fix([]), geometry=(1680, 1050))


# ---------------------------------------------------------------- exhaustive search


def _random_intervals(rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    edges = np.sort(rng.choice(np.arange(0, 60), size=2 * n, replace=False)) * 10.0
    return [(float(edges[2 * k]), float(edges[2 * k + 1])) for k in range(n)]


def _best_by_brute_force(truth, detected) -> tuple[int, float]:
    """(pairs, total overlap) of the best one-to-one matching, trying every matching."""
    def overlap(t, d):
        return min(t[1], d[1]) - max(t[0], d[0])

    best = (0, 0.0)
    for k in range(1, min(len(truth), len(detected)) + 1):
        for rows in itertools.combinations(range(len(truth)), k):
            for cols in itertools.permutations(range(len(detected)), k):
                gains = [overlap(truth[r], detected[c]) for r, c in zip(rows, cols)]
                if min(gains) > 0:
                    best = max(best, (k, float(sum(gains))))
    return best


def test_matching_equals_exhaustive_search_on_random_interval_lists():
    rng = np.random.default_rng(4)
    for _ in range(150):
        truth = _random_intervals(rng, int(rng.integers(0, 5)))
        detected = _random_intervals(rng, int(rng.integers(0, 5)))
        t, d = _fix(truth), _fix(detected)
        score = score_fixations(d, t, geometry=SCREEN)
        overlaps = (np.minimum(t.offset_ms[score.true_index], d.offset_ms[score.detected_index])
                    - np.maximum(t.onset_ms[score.true_index], d.onset_ms[score.detected_index]))
        assert (overlaps > 0).all()
        assert len(set(score.detected_index.tolist())) == score.n_matched  # one-to-one
        assert (score.n_matched, float(overlaps.sum())) == _best_by_brute_force(truth, detected)


# ---------------------------------------------------------------- the simulator's logs


@pytest.fixture(scope="module")
def quick_sweeps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sonomtl synth sweeps --quick --no-video``: 3 clips x 12 frames, seed 0 (about 1 s)."""
    from sonomtl.data.synthetic import generate_sweeps

    return generate_sweeps(tmp_path_factory.mktemp("quick_sweeps"), subjects=3,
                           frames_per_clip=12, seed=0, video=False)


def _pooled(folder: Path, params: FixationParams):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the simulator's logs are clean: no GazeWarning expected
        per_clip = score_dataset_fixations(folder, params=params)
    assert sorted(per_clip) == ["clip_001", "clip_002", "clip_003"]
    return combine_scores(list(per_clip.values()))


def test_paper_protocol_on_the_simulator_finds_most_fixations_about_two_samples_late(
    quick_sweeps: Path,
):
    # Measured here (seed 0): 157 true, recall 0.71, precision 0.99, median |onset error| 66 ms
    # (late), |offset| 33 ms (early), position 0.074 deg; seeds 1-5 give recall 0.73-0.81 and
    # onset 65-69 ms, the paper-scale set (33 x 49) recall 0.75. The 3-sample moving average
    # spreads each saccade over ~3 samples: onsets come ~2 samples late, offsets ~1 early, so
    # 150-200 ms fixations fall under the 80 ms minimum and saccades under ~3 deg fall under
    # 30 deg/s (the neighbours merge). Floors: recall >= 0.65, precision >= 0.93, median onset
    # within 3 samples, median offset within 2, median position within 0.15 deg.
    score = _pooled(quick_sweeps, FixationParams())
    assert score.n_true > 100
    assert score.recall >= 0.65 and score.precision >= 0.93
    onset, offset = error_stats(score.onset_error_ms), error_stats(score.offset_error_ms)
    assert onset.median <= 3 * SAMPLE_MS and 0 < onset.median_signed  # late, never early
    assert offset.median <= 2 * SAMPLE_MS and offset.median_signed < 0  # early
    assert error_stats(score.position_error_deg).median <= 0.15
    # Fixations the smoothing merges show up as detected fixations spanning several true ones.
    assert score.n_merged >= 5


def test_plain_ivt_on_the_simulator_finds_nearly_all_fixations_within_two_samples(
    quick_sweeps: Path,
):
    # Plain I-VT (no smoothing, no merging; the pymovements-equivalent setting) measured here:
    # recall 1.00, precision 0.98, median |onset| 40 ms (the first fixation sample's speed is
    # taken from a saccade sample, so onsets are ~1 sample + sampling phase late), |offset|
    # 8 ms, position 0.054 deg (the tracker's 0.12 deg noise averaged over the fixation);
    # seeds 1-5: recall 0.97-0.99, precision 0.94-0.98, onset 38-42 ms. Floors with margin
    # below those.
    score = _pooled(quick_sweeps, FixationParams(smooth_window=1, merge_deg=0.0))
    assert score.recall >= 0.93 and score.precision >= 0.93
    assert error_stats(score.onset_error_ms).median <= 2 * SAMPLE_MS
    assert error_stats(score.offset_error_ms).median <= SAMPLE_MS
    assert error_stats(score.position_error_deg).median <= 0.15
    paper = _pooled(quick_sweeps, FixationParams())
    assert score.recall > paper.recall  # the paper's smoothing costs recall at 30 Hz


def test_dataset_without_ground_truth_is_an_input_error(quick_sweeps: Path, tmp_path: Path):
    text = (quick_sweeps / "dataset.yaml").read_text()
    start = text.index("  gaze_fixations:")
    end = text.index("  acp_levels:")
    copy = tmp_path / "no_truth"
    copy.mkdir()
    (copy / "dataset.yaml").write_text(text[:start] + text[end:])
    with pytest.raises(InputError, match="no ground-truth fixation lists"):
        score_dataset_fixations(copy)
