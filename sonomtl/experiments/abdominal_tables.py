"""The abdominal experiment's outputs: Table 1, view accuracies, model sizes, timing, Figs. 3-4.

Written into the experiment folder (schema of docs/data-format.md, "Run and
experiment folders"): ``results.json`` (``models``, ``human``, ``tables``),
``tables.md`` and ``figures/``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_outputs", "paper_model_sizes", "one_pass_time_ms", "tables_markdown"]

_MIB = 2**20
_TABLE1_ROWS = ("Human", "SFCN", "MFCN", "MGCN", "MGCN_R")


def paper_model_sizes(*, num_classes: int, landmark_tasks: Mapping[str, Sequence[str]]) -> dict:
    """Parameters and fp32 sizes of the paper-layout networks (ResNet-50 everywhere).

    ``multi_task``: ``abdominal_mtl`` with all landmarks; ``single_task``: one
    ``resnet50_classifier`` + one ``abdominal_sfcn`` per landmark task.
    """
    import torch

    from sonomtl.metrics.results import model_figures
    from sonomtl.models import build_model

    num_landmarks = sum(len(v) for v in landmark_tasks.values())
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        mtl = model_figures(build_model("abdominal_mtl", num_classes=max(num_classes, 1),
                                        num_landmarks=num_landmarks))
        stl = [model_figures(build_model("resnet50_classifier",
                                         num_classes=max(num_classes, 1)))]
        stl += [model_figures(build_model("abdominal_sfcn", num_landmarks=len(names)))
                for names in landmark_tasks.values()]
    stl_params = sum(s["parameters"] for s in stl)
    return {
        "multi_task": {"parameters": mtl["parameters"], "size_mb": mtl["size_mb"],
                       "size_mib": mtl["parameters"] * 4 / _MIB},
        "single_task": {"parameters": stl_params, "size_mb": sum(s["size_mb"] for s in stl),
                        "size_mib": stl_params * 4 / _MIB, "networks": len(stl)},
    }


def one_pass_time_ms(module: Any, *, input_hw: Sequence[int] = (512, 512), iters: int = 3) -> dict:
    """Median wall time of one eval forward pass (batch 1, CPU, no gradients) in ms."""
    import torch

    module = module.eval().cpu()
    x = torch.zeros(1, 1, int(input_hw[0]), int(input_hw[1]))
    times = []
    with torch.no_grad():
        module(x)  # warm-up
        for _ in range(max(1, iters)):
            start = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "iters": len(times),
            "input_hw": [int(v) for v in input_hw], "threads": torch.get_num_threads()}


def _mean(stats: Any) -> float | None:
    value = stats.get("mean") if isinstance(stats, dict) else None
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _table1(evaluations: Mapping[str, Any], measurements: Sequence[str]) -> dict[str, Any]:
    rows = []
    for name in _TABLE1_ROWS:
        section = evaluations.get(name, {}).get("landmarks")
        if section is None:
            continue
        errors = section["measurement_abs_error_mm"]
        rows.append([name.replace("_", " "), *(_mean(errors.get(m, {})) for m in measurements),
                     _mean(section["point_error_mm"]["mean"])])
    return {"title": "Table 1: landmark-based measurement errors, mean |predicted - true| (mm)",
            "columns": ["Method", *measurements, "point error"], "rows": rows, "digits": 3,
            "note": "Held-out subjects; landmarks scored on the channels of each frame's true "
                    "view. Human: the second annotator against the first on every frame with "
                    "a second annotation."}


def _views_table(evaluations: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = []
    for name, title in (("STL", "STL (ResNet-50)"), ("MFCN", "MFCN"), ("MGCN", "MGCN"),
                        ("MGCN_R", "MTL (MGCN_R)"), ("Human", "Human (2nd annotator)")):
        section = evaluations.get(name, {}).get("classification")
        if section is not None:
            rows.append([title, section["accuracy"], section.get("kappa"), section["n"]])
    if not rows:
        return None
    return {"title": "View classification (Fig. 3): accuracy on held-out subjects",
            "columns": ["Model", "accuracy", "kappa", "n"], "rows": rows, "digits": 3}


def _size_table(paper: Mapping[str, Any], evaluations: Mapping[str, Any]) -> dict[str, Any]:
    rows = [["paper layout: multi-task (MGCN_R)", paper["multi_task"]["parameters"],
             paper["multi_task"]["size_mb"], paper["multi_task"]["size_mib"]],
            [f"paper layout: single-task set ({paper['single_task']['networks']} networks)",
             paper["single_task"]["parameters"], paper["single_task"]["size_mb"],
             paper["single_task"]["size_mib"]]]
    trained_stl = [evaluations[n]["model"] for n in ("STL", "SFCN") if n in evaluations]
    if "MGCN_R" in evaluations:
        model = evaluations["MGCN_R"]["model"]
        rows.append(["as trained: MGCN_R", model["parameters"], model["size_mb"],
                     model["parameters"] * 4 / _MIB])
    if trained_stl:
        params = sum(m["parameters"] for m in trained_stl)
        rows.append(["as trained: STL + SFCN", params, sum(m["size_mb"] for m in trained_stl),
                     params * 4 / _MIB])
    return {"title": "Model size, fp32 (paper: 539 MB single-task vs 100 MB multi-task)",
            "columns": ["Networks", "parameters", "MB", "MiB"], "rows": rows, "digits": 1}


def _fig3(out: Path, evaluations: Mapping[str, Any], labels: Sequence[str]) -> str | None:
    from sonomtl.fileio import write_bytes
    from sonomtl.report.figures import confusion_comparison_figure, figure_to_png

    confusions = {title: evaluations[name]["classification"]["confusion_matrix"]
                  for name, title in (("STL", "STL"), ("MGCN_R", "MTL"), ("Human", "Human"))
                  if "classification" in evaluations.get(name, {})}
    if not confusions:
        return None
    figure = confusion_comparison_figure(confusions=confusions, labels=list(labels))
    write_bytes(out / "figures" / "fig3_confusion.png", figure_to_png(figure))
    return "figures/fig3_confusion.png"


def _fig4(out: Path, evaluations: Mapping[str, Any], records: Sequence[Any], spec: Any,
          data: Path, count: int) -> str | None:
    """Overlays of MGCN (no regulariser) and MGCN_R on the same test frames."""
    from sonomtl.data.io import read_frame
    from sonomtl.fileio import write_bytes, write_json
    from sonomtl.report.figures import figure_to_png, landmark_overlay_figure
    from sonomtl.report.sources import read_landmark_examples

    shown = [n for n in ("MGCN", "MGCN_R") if "points" in evaluations.get(n, {})]
    if not shown:
        return None
    index = evaluations[shown[-1]]["test_index"]
    picks = [k for k, i in enumerate(index) if records[i].landmarks][:count]
    examples = []
    for k in picks:
        record = records[index[k]]
        image, _ = read_frame(data, record)
        name = f"fig4_frame_{k}.png"
        write_bytes(out / "figures" / name, _png(image))
        annotated = [n for n in spec.landmarks if n in record.landmarks]
        for model in shown:
            points = evaluations[model]["points"][k]
            predicted = {n: [float(v) for v in points[spec.landmark_index(n)]] for n in annotated}
            measured = {m: {"landmarks": list(d.landmarks)} for m, d in spec.measurements.items()
                        if set(d.landmarks) <= set(annotated)}
            examples.append({"image": name, "title": f"{model.replace('_', ' ')}: {record.label}",
                             "spacing_mm": list(record.spacing_mm),
                             "truth": {n: list(record.landmarks[n]) for n in annotated},
                             "prediction": predicted, "measurements": measured})
    path = write_json(out / "figures" / "landmark_examples.json",
                      {"examples": examples, "figure": "fig4_overlays.png"})
    loaded, _ = read_landmark_examples(path)
    figure = landmark_overlay_figure(examples=loaded, columns=len(shown))
    write_bytes(out / "figures" / "fig4_overlays.png", figure_to_png(figure))
    return "figures/fig4_overlays.png"


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def tables_markdown(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """The tables as Markdown (numbers with each table's ``digits``)."""
    from sonomtl.report.tables import format_number

    lines = []
    for table in tables.values():
        digits = int(table.get("digits", 3))
        lines += [f"## {table['title']}", "", "| " + " | ".join(table["columns"]) + " |",
                  "|" + "---|" * len(table["columns"])]
        for row in table["rows"]:
            lines.append("| " + " | ".join(format_number(v, digits=digits) for v in row) + " |")
        if table.get("note"):
            lines += ["", table["note"]]
        lines.append("")
    return "\n".join(lines)


def write_outputs(
    *, out: Path, spec: Any, records: Sequence[Any], trained: Mapping[str, Any],
    evaluations: Mapping[str, Any], scale: str, seed: int, data: Path, timing_iters: int,
    log: Callable[[str], None], wall_time_s: float, overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Write results.json, tables.md and the figures; returns the results."""
    from sonomtl.fileio import write_json, write_text

    measurements = list(spec.measurements)
    paper = paper_model_sizes(num_classes=len(spec.classes), landmark_tasks=spec.landmark_tasks)
    timing: dict[str, Any] = {}
    if timing_iters > 0:
        from sonomtl.models import build_model

        paper_net = build_model("abdominal_mtl", num_classes=max(len(spec.classes), 1),
                                num_landmarks=len(spec.landmarks))
        timing["paper_layout_mgcn_r_512"] = one_pass_time_ms(paper_net, iters=timing_iters)
        del paper_net
        if "MGCN_R" in trained:
            module = next(iter(trained["MGCN_R"].values()))["module"]
            timing["trained_mgcn_r_512"] = one_pass_time_ms(module, iters=timing_iters)
        log(f"one pass 512x512 (CPU): {timing['paper_layout_mgcn_r_512']['median_ms']:.0f} ms")
    tables: dict[str, Any] = {"table1": _table1(evaluations, measurements)}
    views = _views_table(evaluations)
    if views is not None:
        tables["views"] = views
    tables["model_size"] = _size_table(paper, evaluations)
    if timing:
        tables["timing"] = {
            "title": "One forward pass, 512x512, batch 1, CPU (median ms)",
            "columns": ["Network", "ms", "threads"],
            "rows": [[k, v["median_ms"], v["threads"]] for k, v in timing.items()], "digits": 0}
    figures = [f for f in (_fig3(out, evaluations, spec.classes),
                           _fig4(out, evaluations, records, spec, data, 3)) if f]
    models = {name: {k: v for k, v in result.items() if k not in ("points", "test_index")}
              for name, result in evaluations.items() if name != "Human"}
    for name, result in models.items():
        if name in trained:
            result["runs"] = [str(e["config"].run_dir) for e in trained[name].values()]
    results = {
        "experiment": "abdominal (paper 004)", "scale": scale, "seed": seed, "data": str(data),
        "models": models, "human": evaluations.get("Human", {}),
        "model_sizes": paper, "timing": timing, "tables": tables, "figures": figures,
        "wall_time_s": wall_time_s, "overrides": list(overrides),
    }
    write_json(out / "results.json", results)
    write_text(out / "tables.md", tables_markdown(tables))
    return results
