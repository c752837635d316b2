"""results.json sections -> formatted tables, checked against hand-computed numbers."""

from __future__ import annotations

import math

from sonomtl.report.tables import (
    benchmark_table,
    classification_tables,
    comparison_tables,
    experiment_table,
    format_number,
    landmark_tables,
    saliency_table,
)
from tests.report.report_folders import CONFUSION, results_dict


def test_format_number_handles_missing_percent_and_integers() -> None:
    assert format_number(None) == "-"
    assert format_number(math.nan) == "-"
    assert format_number(0.9651, digits=1, percent=True) == "96.5"
    assert format_number(2_345_678) == "2,345,678"
    assert format_number(2.5254, digits=3) == "2.525"
    assert format_number(True) == "True"  # booleans are not numbers


def test_classification_tables_match_the_hand_counted_confusion_matrix() -> None:
    summary, per_class = classification_tables(results_dict()["classification"])
    # 39 correct of 50 (see CONFUSION)
    assert summary.rows == [["78.0", "78.2", "78.0", "77.9", "50"]]
    rows = {row[0]: row[1:] for row in per_class.rows}
    # kidney_long: 10 true positives, 11 predicted (column 0), 13 true (row 0)
    assert rows["kidney_long"] == ["90.9", "76.9", "83.3", "13"]
    # others: 12 / (1 + 2 + 12) = 80.0, recall 12 / 15 = 80.0
    assert rows["others"] == ["80.0", "80.0", "80.0", "15"]
    assert sum(int(r[-1]) for r in per_class.rows) == sum(map(sum, CONFUSION))
    assert per_class.columns[1] == "precision (%)"


def test_missing_values_become_dashes_not_errors() -> None:
    summary, per_class = classification_tables(
        {"accuracy": 0.5, "per_class": {"a": {"precision": None, "recall": math.nan}}}
    )
    assert summary.rows == [["50.0", "-", "-", "-", "-"]]
    assert per_class.rows == [["a", "-", "-", "-", "-"]]


def test_saliency_table_keeps_paper_column_order() -> None:
    table = saliency_table({"M-SEN": {"KLD": 1.0, "NSS": 2.525, "IG": 0.543, "CC": 0.693}})
    assert table.columns == ["model", "IG", "CC", "NSS", "KLD"]
    assert table.rows == [["M-SEN", "0.543", "0.693", "2.525", "1.000"]]


def test_landmark_tables_show_mm_statistics() -> None:
    section = {
        "point_error_mm": {"a": {"mean": 1.5, "std": 0.5, "median": 1.25, "n": 4}},
        "measurement_abs_error_mm": {"KL_LA": {"mean": 4.278, "std": 1.0, "median": 4.0, "n": 7}},
        "success_detection_rate": {"2": 0.5, "4": 1.0},
    }
    points, measurements, sdr = landmark_tables(section)
    assert points.columns == ["landmark", "mean (mm)", "std (mm)", "median (mm)", "n"]
    assert points.rows == [["a", "1.50", "0.50", "1.25", "4"]]
    assert measurements.rows == [["KL_LA", "4.28", "1.00", "4.00", "7"]]
    assert sdr.columns == ["<= 2 mm (%)", "<= 4 mm (%)"] and sdr.rows == [["50.0", "100.0"]]


def test_comparison_tables_put_measurements_in_columns_like_paper_004_table_1() -> None:
    models = {
        "SFCN": {"landmarks": {"measurement_abs_error_mm": {"KL_LA": {"mean": 7.044}}}},
        "MGCN R": {
            "landmarks": {
                "measurement_abs_error_mm": {"KL_LA": {"mean": 4.278}, "KT_LA": {"mean": 4.426}}
            }
        },
    }
    (table,) = comparison_tables(models)
    assert table.columns == ["model", "KL_LA (mm)", "KT_LA (mm)"]
    assert table.rows == [["SFCN", "7.04", "-"], ["MGCN R", "4.28", "4.43"]]


def test_experiment_table_formats_cells_and_detects_numeric_columns() -> None:
    table = experiment_table(
        "table2", {"columns": ["model", "IG"],
                   "rows": [["M-SEN", 0.5431], ["SS-att", None], ["Centre bias", -1.2e-9]]}
    )
    assert table.title == "table2"
    assert table.rows == [["M-SEN", "0.543"], ["SS-att", "-"], ["Centre bias", "0.000"]]
    assert table.numeric_columns == {1}


def test_experiment_table_keeps_p_values_readable_in_a_one_decimal_table() -> None:
    # Table 1 of M-SEN prints F1 with one decimal; its p-values must not round to "0.0"
    table = experiment_table(
        "table1",
        {"columns": ["Model", "F1-score", "p (F1)", "p"], "digits": 1,
         "rows": [["M-SEN", 75.273, 0.0017, 3.6e-4], ["SonoNet-16", 86.377, None, float("nan")]]},
    )
    assert table.rows == [["M-SEN", "75.3", "0.002", "3.6e-04"], ["SonoNet-16", "86.4", "-", "n/a"]]


def test_benchmark_table_reads_bench_json_entries() -> None:
    table = benchmark_table(
        [
            {
                "backend": "onnxruntime",
                "dtype": "float32",
                "latency_ms": {"p50": 8.2, "p95": 11.9},
                "throughput_fps": 121.0,
            }
        ]
    )
    assert table.rows == [["-", "onnxruntime", "float32", "-", "8.20", "11.90", "121.0", "-", "-"]]
    assert "latency p50 (ms)" in table.columns and "throughput (frames/s)" in table.columns
