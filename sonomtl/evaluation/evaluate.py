"""Evaluate a trained run on its held-out data: ``results.json`` and the report's figure inputs.

:func:`evaluate_run` is what ``sonomtl evaluate RUN_DIR`` does. It reads the
run's resolved ``config.yaml`` and last checkpoint, rebuilds the task and the
held-out split the run trained with (fold / test fraction / seed from the
config), predicts, and writes (docs/data-format.md, "Run and experiment folders"):

* ``results.json`` (:func:`sonomtl.metrics.results.build_results`):
  ``classification``; ``saliency`` for attention models (against the
  samples' recorded ``fixation_map`` when the dataset has fixation points, see
  :func:`sonomtl.evaluation.msen.saliency_section`);
  ``landmarks`` with point errors and measurement errors in mm for the
  abdominal task, and ``human`` (second annotator against the first) when the
  split has second annotations; ``timing``; ``model``; plus ``evaluation``
  (run, checkpoint step, split, dataset, frames);
* ``predictions.jsonl``: each evaluated frame as ``sonomtl predict`` writes it
  (``label``, ``probabilities``; for landmark models the ``landmarks`` of the
  predicted view and their ``measurements_mm``), with its manifest ``row``;
  decoded by :mod:`sonomtl.decoding`, so ``predict`` on the same frame and
  checkpoint gives the same answer;
* ``figures/attention_examples.npz`` (M-SEN) or ``figures/landmark_examples.json``
  and its frame PNGs (abdominal), beside ``results.json``.

Splits: ``test`` and ``val`` of an M-SEN run are both its held-out fold (the
task has no third split); an abdominal run's ``test`` is its held-out subjects
and ``val`` its validation subjects (``val_fraction`` > 0); ``all`` is every row.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["PREDICTIONS_FILE", "SPLITS", "evaluate_run"]

SPLITS: tuple[str, ...] = ("test", "val", "all")
#: Per-frame answers, beside ``results.json``, one JSON object a line as ``sonomtl predict``
#: writes them, plus the frame's manifest ``row``.
PREDICTIONS_FILE = "predictions.jsonl"


def evaluate_run(
    run_dir: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    flip_test: bool | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Evaluate a run; write ``results.json`` and ``figures/`` beside it; return the results.

    Parameters
    ----------
    run_dir
        The run folder.
    data
        Dataset folder replacing the config's ``data.root``.
    split
        ``"test"``, ``"val"`` or ``"all"`` (see the module docstring).
    out
        The results file (default ``RUN_DIR/results.json``); ``figures/`` goes beside it.
    batch_size
        Frames per forward pass (default the config's ``data.val_batch_size`` or
        ``data.batch_size``).
    flip_test
        Abdominal runs: average each frame's heat maps with its mirror image's
        (``task.params.flip_test``; default: the run's config).
    log
        Receives one progress line.
    """
    from sonomtl.evaluation.runs import load_run
    from sonomtl.fileio import write_json, write_text
    from sonomtl.inference.config import config_from_model

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}",
                         field="--split")
    run = load_run(run_dir, data=data)
    size = int(batch_size or run.config.data.val_batch_size or run.config.data.batch_size)
    target = Path(out) if out is not None else run.run_dir / "results.json"
    figures = target.parent / "figures"
    title = run.run_dir.resolve().name
    kind = _kind_of(run)
    if flip_test is not None and kind != "abdominal":
        raise InputError("flip testing is for abdominal (landmark) runs", field="--flip-test")
    config = config_from_model(getattr(run.module, "default_cfg", {}) or {}, run.preprocessing,
                               file=run.run_dir)
    if kind == "msen":
        from sonomtl.evaluation.msen import frame_lines, msen_results, write_attention_examples

        results, pred = msen_results(run, split=split, batch_size=size)
        if "attention" in pred and "truth" in pred:
            write_attention_examples(figures, pred, title)
        lines = frame_lines(pred, config)
    else:
        from sonomtl.evaluation.abdominal import (
            abdominal_results,
            frame_lines,
            write_landmark_examples,
        )

        if flip_test is not None:
            run.task.params = dataclasses.replace(run.task.params, flip_test=bool(flip_test))
        results, pred = abdominal_results(run, split=split, batch_size=size)
        write_landmark_examples(figures, run.data_root, pred, title)
        lines = frame_lines(pred, config)
    write_text(target.parent / PREDICTIONS_FILE,
               "".join(json.dumps(line) + "\n" for line in lines))
    results["evaluation"] = {"run": str(run.run_dir), "task": run.config.task.name,
                             "checkpoint_step": run.step, "split": split,
                             "dataset": str(run.data_root),
                             "frames": results["timing"]["frames"],
                             "flip_test": getattr(run.task, "flip_permutation", None) is not None}
    write_json(target, results)
    log(f"{target}: {_headline(results)}")
    return results


def _headline(results: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "classification" in results:
        parts.append(f"accuracy {results['classification']['accuracy']:.3f}")
    if "saliency" in results:
        parts.append(f"NSS {results['saliency']['NSS']:.2f}")
    if "landmarks" in results:
        parts.append(f"point error {results['landmarks']['point_error_mm']['mean']['mean']:.2f} mm")
    return ", ".join(parts) or "no scores"


def _kind_of(run: Any) -> str:
    """``msen`` or ``abdominal``: the task's own ``kind``; other tasks cannot be evaluated."""
    kind = getattr(run.task, "kind", None)
    if kind not in ("msen", "abdominal"):
        raise InputError(f"sonomtl evaluate knows the msen and abdominal tasks, not "
                         f"{run.config.task.name!r}", file=run.run_dir / "config.yaml",
                         field="task.name")
    return str(kind)
