"""``sonomtl experiment msen``: every row of paper 000's Tables 1-2, cross-validated by subject.

For each config of ``sonomtl/configs/msen/`` (one per table row) and each fold, train
on the other folds (:func:`sonomtl.training.run.train`), predict the held-out
fold, then write into ``out``:

* ``<row>/fold<k>/``: the run folders (config, metrics.csv, checkpoints);
* ``results.json``: ``models`` (per row: per-fold and summarised figures, and
  per fold the errors of each held-out video), ``tables`` (``table1``,
  ``table2``, ``comparisons``: the paper's orderings with paired t-tests,
  ``errors_by_subject``: the videos with misclassified frames), the settings
  and the wall time;
* ``tables.md``: the same tables in Markdown;
* ``figures/attention_examples.npz``: a Fig. 2 grid (frames, ground truth,
  each map model's prediction), read by ``sonomtl report``.

Scales: ``paper`` runs the configs as they are (30 epochs, 2000 adversarial
steps, batch 64, 240x240, 5 folds); ``quick`` (:data:`QUICK_OVERRIDES`) trains
at 64x64 with batches of 16 for 3 epochs and 20 adversarial steps on 2 folds, with
torch on one CPU thread (:data:`QUICK_THREADS`; docs/reproducing.md says why);
``medium`` (:data:`MEDIUM_OVERRIDES`) is the documented larger CPU scale: 128x128,
8 epochs, 60 adversarial steps, 5 folds, torch's own thread count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.experiments.reuse import check_reusable
from sonomtl.experiments.threads import QUICK_THREADS, torch_threads

__all__ = [
    "MSEN_ROWS",
    "ABLATION_ROWS",
    "QUICK_OVERRIDES",
    "MEDIUM_OVERRIDES",
    "QUICK_THREADS",
    "SCALES",
    "default_config_dir",
    "run_msen_experiment",
]

#: ``(config name, row title, inputs)`` in the order of the paper's tables.
MSEN_ROWS: tuple[tuple[str, str, str], ...] = (
    ("msen_bce_gan", "M-SEN BCE + GAN", "I"),
    ("msen_bce", "M-SEN BCE", "I"),
    ("msen_mse_gan", "M-SEN MSE + GAN", "I"),
    ("msen_mse", "M-SEN MSE", "I"),
    ("sononet32", "SonoNet-32", "I"),
    ("sononet16", "SonoNet-16", "I"),
    ("ss_cls", "SS-cls Net", "A"),
    ("sonoeyenet_late_ft", "SonoEyeNet-Late FT", "I and A"),
    ("ss_att_bce", "SS-att BCE", "I"),
    ("ss_att_mse", "SS-att MSE", "I"),
)
#: Rows that are not in the paper, run only when named in ``rows``: the SonoNet-16
#: baseline with less of SonoNet's pretraining, to separate what M-SEN's architecture
#: adds from what the official weights give the baseline.
ABLATION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("sononet16_blocks3", "SonoNet-16 (blocks 1-3 pretrained)", "I"),
    ("sononet16_scratch", "SonoNet-16 (random init)", "I"),
)
_ALL_ROWS = MSEN_ROWS + ABLATION_ROWS
CENTRE_BIAS = ("centre_bias", "Centre bias (baseline)", "-")
SCALES = ("quick", "medium", "paper")
_CPU_OVERRIDES: tuple[str, ...] = (
    "data.batch_size=16",
    "data.val_batch_size=64",
    "data.num_workers=0",
    "data.params.validate=false",
    "trainer.accelerator=cpu",
    "checkpoint.every_n_steps=null",
)
#: What ``--scale quick`` changes in every config (dotted overrides).
QUICK_OVERRIDES: tuple[str, ...] = (
    "data.params.input_hw=[64,64]", *_CPU_OVERRIDES, "stages.pretrain.epochs=3")
#: What ``--scale medium`` changes: 128x128 frames (8x8 attention maps before
#: up-sampling, where 64x64 gives 4x4), 8 epochs, 60 adversarial steps.
MEDIUM_OVERRIDES: tuple[str, ...] = (
    "data.params.input_hw=[128,128]", *_CPU_OVERRIDES, "stages.pretrain.epochs=8")
_SCALE_OVERRIDES = {"quick": QUICK_OVERRIDES, "medium": MEDIUM_OVERRIDES, "paper": ()}
_ADVERSARIAL_OVERRIDES = {
    "quick": ("stages.adversarial.steps=20", "modules.D.kwargs.input_hw=[64,64]"),
    "medium": ("stages.adversarial.steps=60", "modules.D.kwargs.input_hw=[128,128]"),
    "paper": (),
}
_DEFAULT_FOLDS = {"quick": 2, "medium": 5, "paper": 5}
_EXAMPLES = 4
_COMPARISONS = (
    # (a, b, section, metric): the paper's claims
    ("msen_bce_gan", "sononet16", "classification", "f1"),
    ("msen_bce", "sononet16", "classification", "f1"),
    ("msen_bce", "msen_mse", "classification", "f1"),
    ("msen_bce_gan", "msen_mse_gan", "classification", "f1"),
    ("msen_bce_gan", "msen_bce", "classification", "f1"),
    ("msen_mse_gan", "msen_mse", "classification", "f1"),
    ("msen_bce", "msen_mse", "saliency", "NSS"),
    ("msen_bce_gan", "msen_bce", "saliency", "NSS"),
    ("msen_mse_gan", "msen_mse", "saliency", "NSS"),
    # "all M-SEN models ... outperform the SonoNet models"
    ("msen_bce_gan", "sononet32", "classification", "f1"),
    ("msen_bce", "sononet32", "classification", "f1"),
    # M-SEN BCE + GAN "competitive to" SonoEyeNet-Late FT (p = 0.692), which needs gaze at
    # inference; SS-cls Net "similar to" it
    ("msen_bce_gan", "sonoeyenet_late_ft", "classification", "f1"),
    ("ss_cls", "sonoeyenet_late_ft", "classification", "f1"),
    # M-SEN BCE + GAN "outperforms ... SS-att BCE and SS-att MSE in IG and NSS, but not in CC",
    # and each M-SEN row's maps against the single-task ones of the same loss (Table 2)
    ("msen_bce_gan", "ss_att_bce", "saliency", "NSS"),
    ("msen_bce_gan", "ss_att_bce", "saliency", "IG"),
    ("msen_bce_gan", "ss_att_bce", "saliency", "CC"),
    ("msen_bce_gan", "ss_att_mse", "saliency", "NSS"),
    ("msen_bce_gan", "ss_att_mse", "saliency", "IG"),
    ("msen_bce", "ss_att_bce", "saliency", "NSS"),
    ("msen_mse", "ss_att_mse", "saliency", "NSS"),
    # the ablation rows, when run
    ("msen_bce_gan", "sononet16_blocks3", "classification", "f1"),
    ("msen_bce", "sononet16_blocks3", "classification", "f1"),
    ("sononet16", "sononet16_blocks3", "classification", "f1"),
    ("msen_bce_gan", "sononet16_scratch", "classification", "f1"),
    ("msen_bce", "sononet16_scratch", "classification", "f1"),
    ("sononet16", "sononet16_scratch", "classification", "f1"),
)


def default_config_dir() -> Path:
    """The packaged ``sonomtl/configs/msen`` folder."""
    from sonomtl.resources import config_dir

    return config_dir("msen")


def _ensure_attention(data: Path, log: Callable[[str], None]) -> tuple[Any, list[Any]]:
    from sonomtl.data.manifest import load_dataset

    spec, records = load_dataset(data)
    no_maps = not any(r.attention for r in records)
    # maps made before the fixations column existed: make both again from the logs
    no_fixations = spec.gaze is not None and all(r.fixations is None for r in records)
    if no_maps or no_fixations:
        if spec.gaze is None:
            raise InputError("the manifest has no attention maps and dataset.yaml no gaze: "
                             "block to make them from", file=data / "manifest.csv",
                             field="attention")
        from sonomtl.gaze.dataset_maps import write_dataset_attention_maps

        summary = write_dataset_attention_maps(data)
        log(f"attention maps and fixations from the gaze logs: {summary.maps_written} frames "
            f"(as 'sonomtl gaze maps {data}')")
        spec, records = load_dataset(data)
    if not any(r.fixations for r in records):
        log("no fixations in the manifest: NSS, IG and AUC are not computed (n/a)")
    return spec, records


def _overrides(name: str, *, scale: str, data: Path, folds: int, fold: int, seed: int,
               has_adversarial: bool, pretrained_ok: bool, extra: Sequence[str]) -> list[str]:
    items = [f"data.root={data}", f"data.params.folds={folds}", f"data.params.fold={fold}",
             f"data.params.split_seed={seed}", f"seed={seed}", f"name={name}-fold{fold}"]
    items += list(_SCALE_OVERRIDES[scale])
    if has_adversarial:
        items += list(_ADVERSARIAL_OVERRIDES[scale])
    if not pretrained_ok:
        items.append("modules.G.kwargs.pretrained=null")
    return items + list(extra)


def _load_row_config(config_file: Path, items: list[str]) -> tuple[Any, list[str]]:
    """A row's config with ``items``; D is made to see the frames G sees (after ``--set``)."""
    from sonomtl.config import load_config
    from sonomtl.models.msen import MSEN_INPUT_HW
    from sonomtl.schema import parse_params
    from sonomtl.training.msen_task import MSENDataParams

    config = load_config(config_file, items)
    params = parse_params(MSENDataParams, config.data.params, key="data.params", file=config_file)
    frame_hw = list(params.input_hw or MSEN_INPUT_HW)
    if "D" in config.modules and list(config.modules["D"].kwargs.get("input_hw", frame_hw)) \
            != frame_hw:
        items = [*items, f"modules.D.kwargs.input_hw=[{frame_hw[0]},{frame_hw[1]}]"]
        config = load_config(config_file, items)
    return config, items


def _pretrained_twin(config: Any, out: Path, fold: int, *, exclude: str) -> str | None:
    """The row of this experiment whose finished fold run ``config`` can start from."""
    from sonomtl.training.fork import check_fork_source

    for run_dir in sorted(out.glob(f"*/fold{fold}")):
        if run_dir.parent.name == exclude:
            continue
        try:
            check_fork_source(config, run_dir)
        except InputError:
            continue
        return run_dir.parent.name
    return None


def _predict(result: Any, config: Any) -> dict[str, np.ndarray]:
    """Predictions of the trained modules on the held-out fold (eval mode, no gradients)."""
    from sonomtl.evaluation.msen import predict_msen

    task = result.task
    params = dict(config.data.params, validate=True)
    val = task.build_datasets(root=config.data.root, params=params, seed=config.seed).val
    modules = {n: m.eval() for n, m in result.modules.items()}
    return predict_msen(task, modules, val,
                        batch_size=config.data.val_batch_size or config.data.batch_size)


def run_msen_experiment(
    *,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    folds: int | None = None,
    scale: str = "quick",
    rows: Sequence[str] | None = None,
    seed: int = 0,
    config_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    adversarial_steps: int | None = None,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and evaluate the rows of Tables 1-2; write results.json, tables.md and figures.

    Parameters
    ----------
    data
        Dataset folder (frames, labels ACP/BG, ``attention`` maps or a ``gaze:`` block;
        missing maps are written first, as ``sonomtl gaze maps`` does).
    out
        Experiment folder (created; must not hold results of an earlier run).
    folds
        Cross-validation folds (default 2 for ``quick``, 5 otherwise).
    scale
        ``"quick"``, ``"medium"`` or ``"paper"`` (see the module docstring).
    rows
        Config names to run (default all of :data:`MSEN_ROWS`; the
        :data:`ABLATION_ROWS` run only when named).
    seed
        Seed of the split and of every run.
    config_dir
        Folder of the configs (default ``sonomtl/configs/msen``).
    overrides
        Extra dotted overrides for every config (after the scale's).
    adversarial_steps
        K, the adversarial steps of the rows that have them (default: the
        scale's; the paper: 2000).
    threads
        CPU threads for torch during the runs (restored afterwards). Default:
        :data:`QUICK_THREADS` for ``quick`` (small tensors gain little from more
        threads, and lose much on a shared CPU), torch's own setting for ``paper``.
    log
        Progress lines go here.

    Returns
    -------
    dict
        The contents of results.json.
    """
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {SCALES}, got {scale!r}")
    with torch_threads(threads, scale=scale) as threads:
        return _run(data=data, out=out, folds=folds, scale=scale, rows=rows, seed=seed,
                    config_dir=config_dir, overrides=overrides,
                    adversarial_steps=adversarial_steps, threads=threads, log=log)


def _run(*, data: str | os.PathLike[str], out: str | os.PathLike[str], folds: int | None,
         scale: str, rows: Sequence[str] | None, seed: int,
         config_dir: str | os.PathLike[str] | None, overrides: Sequence[str],
         adversarial_steps: int | None, threads: int | None,
         log: Callable[[str], None]) -> dict[str, Any]:
    """The body of :func:`run_msen_experiment` (arguments checked, threads set)."""
    from sonomtl.config import load_config
    from sonomtl.experiments.msen_tables import (
        compare,
        errors_by_subject,
        fold_classification,
        fold_saliency,
        markdown_tables,
        subject_errors_table,
        summarise_folds,
        table1,
        table2,
    )
    from sonomtl.fileio import write_json, write_text
    from sonomtl.metrics.saliency import centre_bias_map
    from sonomtl.training.checkpoint import latest_checkpoint
    from sonomtl.training.fork import started_from
    from sonomtl.training.msen_task import resolve_weights_path
    from sonomtl.training.run import train

    started = time.perf_counter()
    data, out = Path(data), Path(out)
    folds = int(folds or _DEFAULT_FOLDS[scale])
    known = [r[0] for r in _ALL_ROWS]
    chosen = list(rows) if rows else [r[0] for r in MSEN_ROWS]
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise InputError(f"unknown rows {unknown}; known: {', '.join(known)}", field="rows")
    if (out / "results.json").exists():
        raise InputError("the experiment folder already holds results; choose another --out",
                         file=out)
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    spec, _ = _ensure_attention(data, log)
    try:
        resolve_weights_path("sononet16")
        pretrained_ok = True
    except InputError as error:
        pretrained_ok = False
        log(f"SonoNet-16 weights unavailable, every network starts from N(0, 0.01): {error}")
    labels = list(spec.classes)

    per_fold: dict[str, list[dict[str, Any]]] = {}
    maps_by_row: dict[str, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    settings: dict[str, Any] = {}
    adversarial = {name: any(s.pattern == "adversarial"
                             for s in load_config(config_dir / f"{name}.yaml").stages)
                   for name in chosen}
    per_fold.update({name: [] for name in chosen})  # tables in the order asked for
    # rows without the adversarial stage first: an adversarial row starts from its twin's
    # finished pre-training (the same stage, settings and seed) instead of repeating it
    for name in sorted(chosen, key=lambda n: adversarial[n]):
        config_file = config_dir / f"{name}.yaml"
        for fold in range(folds):
            items = _overrides(name, scale=scale, data=data, folds=folds, fold=fold, seed=seed,
                               has_adversarial=adversarial[name], pretrained_ok=pretrained_ok,
                               extra=overrides)
            if adversarial[name] and adversarial_steps is not None:
                items.append(f"stages.adversarial.steps={adversarial_steps}")
            config, items = _load_row_config(config_file, items)
            settings.setdefault(name, items)
            tic = time.perf_counter()
            run_dir = out / name / f"fold{fold}"
            reused = check_reusable(run_dir, config)
            resumed = reused and latest_checkpoint(run_dir) is not None
            twin = None if reused else _pretrained_twin(config, out, fold, exclude=name)
            result = train(config, run_dir=run_dir, resume=reused,
                           start_from=None if twin is None else out / twin / f"fold{fold}")
            source = started_from(run_dir)  # by this invocation or an earlier one
            source_row = None if source is None else source.parent.name
            pred = _predict(result, config)
            figures: dict[str, Any] = {
                "train_s": result.timing["data_s"] + result.timing["step_s"],  # all invocations
                "wall_s": time.perf_counter() - tic,  # this invocation, prediction included
                "resumed": resumed, "started_from": source_row}
            if "scores" in pred:
                y_pred = pred["scores"].argmax(1)
                figures["classification"] = fold_classification(pred["label"], y_pred,
                                                                 labels=labels)
                figures["errors_by_subject"] = errors_by_subject(pred["subject"], pred["label"],
                                                                 y_pred)
            if "attention" in pred:
                hw = pred["attention"].shape[1:]
                figures["saliency"] = fold_saliency(pred["attention"], pred["truth"],
                                                    fixation_maps=pred.get("fixation_map"),
                                                    baseline_map=centre_bias_map(hw))
                maps_by_row.setdefault(name, {}).update(
                    {int(i): (im, t, a) for i, im, t, a in
                     zip(pred["index"], pred["image"], pred["truth"], pred["attention"])})
                bias_folds = per_fold.setdefault("centre_bias", [])
                if len(bias_folds) == fold:  # once per fold, on the first map model's frames
                    bias = np.broadcast_to(centre_bias_map(hw), pred["truth"].shape)
                    bias_folds.append({"saliency": fold_saliency(
                        bias, pred["truth"], fixation_maps=pred.get("fixation_map"),
                        baseline_map=centre_bias_map(hw))})
            per_fold[name].append(figures)
            shown = ", ".join(f"{k} {v:.2f}" for section in ("classification", "saliency")
                              for k, v in figures.get(section, {}).items()
                              if k in ("f1", "NSS", "CC"))
            log(f"{name} fold {fold}: {shown} (training {figures['train_s']:.0f} s"
                f"{', resumed' if resumed else ''}"
                f"{f', after the stages of {source_row}' if source_row else ''}; "
                f"{figures['wall_s']:.0f} s now)")

    summaries: dict[str, dict[str, Any]] = {}
    for name, fold_list in per_fold.items():
        summary: dict[str, Any] = {}
        if "classification" in fold_list[0]:
            summary["classification"] = summarise_folds(
                [f["classification"] for f in fold_list], ("precision", "recall", "f1",
                                                           "accuracy"))
        if "saliency" in fold_list[0]:
            summary["saliency"] = summarise_folds(
                [f["saliency"] for f in fold_list], ("IG", "CC", "NSS", "SIM", "AUC", "sAUC"))
        summaries[name] = summary
    all_rows = [*_ALL_ROWS, CENTRE_BIAS]
    comparisons = [c for c in (compare(summaries, a, b, section=s, metric=m)
                               for a, b, s, m in _COMPARISONS) if c is not None]
    comparisons += [c for c in (compare(summaries, r, "centre_bias", section="saliency",
                                        metric=m)
                                for r in chosen for m in ("NSS", "CC")) if c is not None]
    titles = {r[0]: r[1] for r in all_rows}
    errors = {name: {subject: counts for fold_figures in fold_list
                     for subject, counts in fold_figures["errors_by_subject"].items()}
              for name, fold_list in per_fold.items() if "errors_by_subject" in fold_list[0]}
    tables = {
        "table1": table1(summaries, _ALL_ROWS),
        "table2": table2(summaries, all_rows),
        "comparisons": {
            "title": "The paper's orderings, as found here (paired t-test across folds)",
            "columns": ["A", "B", "metric", "A mean", "B mean", "A better", "p"],
            "rows": [[titles[c["a"]], titles[c["b"]], c["metric"], c["mean_a"], c["mean_b"],
                      "yes" if c["a_better"] else "no", c["p_value"]] for c in comparisons],
            "digits": 3,
        },
        "errors_by_subject": subject_errors_table(errors, titles),
    }
    results = {
        "experiment": "msen",
        "paper": "000 (M-SEN)",
        "dataset": str(data),
        "scale": scale,
        "folds": folds,
        "seed": seed,
        "torch_threads": threads,
        "sononet_pretrained": pretrained_ok,
        "wall_time_s": time.perf_counter() - started,
        "overrides": settings,
        "models": {name: {"title": titles[name], "cv": summaries[name],
                          "per_fold": per_fold[name]} for name in summaries},
        "comparisons": comparisons,
        "tables": tables,
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_examples(out, maps_by_row, [r[0] for r in MSEN_ROWS], titles)
    write_json(out / "results.json", results)
    header = (f"# M-SEN experiment ({scale} scale, {folds} folds, {data})\n\n"
              f"Wall time {results['wall_time_s'] / 60:.1f} min.\n\n")
    write_text(out / "tables.md", header + markdown_tables(tables))
    from sonomtl.report import write_report

    write_report([out], out=out / "report.html")
    log(f"report {out / 'report.html'}")
    log(f"{out}: results.json, tables.md ({results['wall_time_s'] / 60:.1f} min)")
    return results


def _write_examples(out: Path, maps_by_row: dict[str, dict[int, tuple]], order: Sequence[str],
                    titles: dict[str, str]) -> None:
    """Fig. 2 data: up to 4 frames (plane frames first) with every map model's prediction."""
    names = [n for n in order if n in maps_by_row]
    if not names:
        return
    from sonomtl.fileio import atomic_path

    common = set.intersection(*(set(maps_by_row[n]) for n in names))
    first = maps_by_row[names[0]]
    ranked = sorted(common, key=lambda i: (-float(first[i][1].max()), i))[:_EXAMPLES]
    frames = np.stack([first[i][0] for i in ranked]).astype(np.float32)
    truth = np.stack([first[i][1] for i in ranked]).astype(np.float32)
    predictions = np.stack([np.stack([maps_by_row[n][i][2] for i in ranked]) for n in names])
    path = out / "figures" / "attention_examples.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, frames=frames, ground_truth=truth,
                 predictions=predictions.astype(np.float32),
                 model_names=np.array([titles[n] for n in names]))
