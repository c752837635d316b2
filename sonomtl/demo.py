"""``sonomtl demo``: the whole toolkit on simulated data, in minutes, on a laptop CPU.

:func:`run_demo` runs eight numbered steps into ``out`` (default ``runs/demo``):

1. simulate fetal sweeps with gaze logs (:func:`sonomtl.data.synthetic.generate_sweeps`);
2. turn the gaze logs into attention maps
   (:func:`sonomtl.gaze.dataset_maps.write_dataset_attention_maps`);
3. simulate abdominal views with landmarks (:func:`sonomtl.data.synthetic.generate_abdominal`);
4. train M-SEN with its adversarial stage (``sonomtl/configs/demo/msen.yaml``);
5. train the abdominal multi-task network MGCN_R (``sonomtl/configs/demo/abdominal.yaml``);
6. evaluate both on their held-out subjects (:func:`sonomtl.evaluation.evaluate.evaluate_run`);
7. export the M-SEN generator to ONNX and benchmark it, PyTorch against ONNX Runtime
   (``runs/msen/benchmark.json``);
8. write ``report.html`` covering both runs and the benchmark.

Layout: ``out/data/sweeps-<key>/`` and ``out/data/abdominal-<key>/`` (``<key>``
hashes the generation parameters; a ``.complete`` file marks a finished data
set), ``out/runs/msen/``, ``out/runs/abdominal/``, ``out/msen.onnx``,
``out/report.html``. A re-run reuses complete data sets and finished runs of
the same config (an interrupted run resumes from its checkpoint; a run of other
settings is trained again) unless ``fresh``.

The scale is a demonstration, not the papers': a dozen simulated subjects,
96x96 inputs, a few epochs. The figures show that every part runs and learns
something; they are not the papers' results (docs/reproducing.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["DemoStepError", "DemoSizes", "run_demo", "default_config_dir", "quick_sizes"]

_STEPS = (
    "simulate sweeps with gaze logs",
    "attention maps from the gaze logs",
    "simulate abdominal views",
    "train M-SEN (generator, then adversarial)",
    "train the abdominal network (MGCN_R)",
    "evaluate both runs",
    "export M-SEN to ONNX and benchmark",
    "write the report",
)


class DemoStepError(RuntimeError):
    """A demo step failed; the message names the step and the cause."""


@dataclass(frozen=True)
class DemoSizes:
    """Sizes of the demo (the defaults are the ``sonomtl demo`` scale).

    Attributes
    ----------
    sweep_subjects, frames_per_clip
        Simulated fetal sweeps (one clip per subject).
    abdominal_images, abdominal_subjects
        Simulated abdominal views (11 views, balanced).
    input_size, abdominal_input_size
        Side of the M-SEN and of the abdominal model inputs, pixels (the simulator's
        abdominal views need at least 64).
    msen_epochs, msen_adversarial_steps, msen_batch_size
        M-SEN schedule.
    abdominal_landmark_epochs, abdominal_view_epochs
        Abdominal schedule.
    bench_iters
        Timed runs per backend in the benchmark.
    """

    sweep_subjects: int = 12
    frames_per_clip: int = 16
    abdominal_images: int = 132
    abdominal_subjects: int = 33
    input_size: int = 96
    abdominal_input_size: int = 96
    msen_epochs: int = 8
    msen_adversarial_steps: int = 20
    msen_batch_size: int = 16
    abdominal_landmark_epochs: int = 6
    abdominal_view_epochs: int = 3
    bench_iters: int = 20
    extra: dict[str, Any] = field(default_factory=dict)


def quick_sizes() -> DemoSizes:
    """The ``sonomtl demo --quick`` scale: every step runs, in about a minute on 2 CPU cores.

    Tiny data (3 sweeps of 6 frames, 22 abdominal images), 32x32 M-SEN input,
    one epoch per stage: it shows that the installed package works end to end;
    its figures mean nothing.
    """
    return DemoSizes(sweep_subjects=3, frames_per_clip=6, abdominal_images=22,
                     abdominal_subjects=6, input_size=32, abdominal_input_size=64,
                     msen_epochs=1, msen_adversarial_steps=2, msen_batch_size=4,
                     abdominal_landmark_epochs=1, abdominal_view_epochs=1, bench_iters=2,
                     extra={"msen": ["trainer.progress_bar=false"],
                            "abdominal": ["trainer.progress_bar=false",
                                          "modules.net.kwargs.gcn_kernel=3"]})


def default_config_dir() -> Path:
    """The packaged ``sonomtl/configs/demo`` folder."""
    from sonomtl.resources import config_dir

    return config_dir("demo")


def _key(params: dict[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _cached_dataset(parent: Path, prefix: str, params: dict[str, Any], *, fresh: bool,
                    build: Callable[[Path], None]) -> tuple[Path, bool]:
    """``parent/<prefix>-<key>``, built atomically by ``build(tmp)`` unless complete already."""
    from sonomtl.fileio import write_json

    folder = parent / f"{prefix}-{_key(params)}"
    marker = folder / ".complete"
    if marker.is_file() and not fresh:
        return folder, True
    tmp = parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        write_json(tmp / ".complete", params)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder, False


def _finished(run_dir: Path, config: Any) -> bool | None:
    """True: a finished run of ``config``; False: one that can resume; None: nothing usable
    (no run, or a run of other settings: other sizes, data or weights)."""
    from sonomtl.experiments.reuse import check_reusable
    from sonomtl.training.checkpoint import latest_checkpoint, read_metadata

    try:
        if not check_reusable(run_dir, config):
            return None
        paths = latest_checkpoint(run_dir)
    except InputError:
        return None
    if paths is None:
        return False
    return bool(read_metadata(paths.weights).get("finished"))


def _train(config_file: Path, run_dir: Path, data: Path, overrides: Sequence[str], *,
           fresh: bool) -> bool:
    """Train (or resume) a run; returns True when a finished run was reused."""
    from sonomtl.config import load_config
    from sonomtl.training.run import train

    config = load_config(config_file, [f"data.root={data}", *overrides])
    state = None if fresh else _finished(run_dir, config)
    if state is True:
        return True
    if state is None and run_dir.exists():
        shutil.rmtree(run_dir)
    train(config, run_dir=run_dir, resume=state is False)
    return False


def _benchmark(run_dir: Path, onnx_path: Path, *, iters: int) -> list[dict[str, Any]]:
    """PyTorch (the trained generator) and ONNX Runtime (its export) on one frame, side by side."""
    from sonomtl.inference.bench import benchmark
    from sonomtl.inference.export import export_onnx
    from sonomtl.inference.predictor import load_model

    module, config, _ = load_model(run_dir)
    export_onnx(module, config, onnx_path)
    entries = [{"name": "M-SEN generator", **benchmark(source, backend=backend, iters=iters,
                                                      warmup=3)}
               for source, backend in ((run_dir, "torch"), (onnx_path, "onnx"))]
    entries[1]["speedup_vs_torch"] = (entries[0]["latency_ms"]["mean"]
                                      / entries[1]["latency_ms"]["mean"])
    return entries


def _pretrained_or_random(log: Callable[[str], None], *, progress: bool = True) -> list[str]:
    """Start M-SEN from the official SonoNet-16 weights (as the paper) when they can be had.

    The model store finds ``sononet16`` locally or downloads it (3.7 MB, checked).
    Where it cannot be had (offline, ``$SONOMTL_OFFLINE=1``), one line says so
    and what to download, and M-SEN starts from N(0, 0.01): the demo still runs.
    """
    from sonomtl.errors import InputError
    from sonomtl.store import resolve_weights

    try:
        resolve_weights("sononet16", progress=progress)
    except InputError as error:
        log(f"SonoNet-16 weights unavailable, M-SEN starts from random weights (a weaker plane "
            f"classifier): {error}")
        return ["modules.G.kwargs.pretrained=null"]
    return []


def _headlines(msen: dict[str, Any], abdominal: dict[str, Any],
               bench: list[dict[str, Any]]) -> dict[str, float | None]:
    import math

    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    errors = [number(m.get("mean")) for m in
              abdominal.get("landmarks", {}).get("measurement_abs_error_mm", {}).values()]
    errors = [e for e in errors if e is not None]
    plane = msen.get("classification", {}).get("labels", ["ACP"])[0]
    return {
        "msen_acp_f1": number(msen.get("classification", {}).get("per_class", {})
                              .get(plane, {}).get("f1")),
        "msen_nss": number(msen.get("saliency", {}).get("NSS")),
        "msen_cc": number(msen.get("saliency", {}).get("CC")),
        "abdominal_measurement_error_mm": sum(errors) / len(errors) if errors else None,
        "abdominal_view_accuracy": number(abdominal.get("classification", {}).get("accuracy")),
        "onnx_speedup": number(bench[1].get("speedup_vs_torch")) if len(bench) > 1 else None,
    }


def run_demo(
    out: str | os.PathLike[str] = "runs/demo",
    *,
    fresh: bool = False,
    sizes: DemoSizes | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the demo into ``out``; returns the summary also written to ``out/demo.json``.

    Parameters
    ----------
    out
        The demo folder.
    fresh
        Rebuild everything (data sets, runs, evaluation, export) instead of reusing it.
    sizes
        The scale (default :class:`DemoSizes`; tests pass smaller ones).
    config_dir
        Folder of ``msen.yaml`` and ``abdominal.yaml`` (default ``sonomtl/configs/demo``).
    log
        Receives the numbered step lines and the final summary.

    Returns
    -------
    dict
        ``report`` (path), ``headlines``, ``steps`` (per step: seconds, reused),
        ``wall_time_s``.

    Raises
    ------
    DemoStepError
        A step failed (the message names it); what earlier steps built is kept.
    """
    from sonomtl.fileio import write_json

    sizes = sizes or DemoSizes()
    out = Path(out)
    configs = Path(config_dir) if config_dir is not None else default_config_dir()
    weights_overrides = _pretrained_or_random(log)  # first: its one line opens the log
    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    size = sizes.input_size

    def step(number: int, action: Callable[[], bool]) -> None:
        name = _STEPS[number - 1]
        log(f"[{number}/{len(_STEPS)}] {name} ... (elapsed {time.perf_counter() - started:.0f} s)")
        tic = time.perf_counter()
        try:
            reused = bool(action())
        except (InputError, DemoStepError) as error:
            raise DemoStepError(f"demo step {number}/{len(_STEPS)} ({name}) failed: "
                                f"{error}") from error
        except Exception as error:  # any failure: name the step, keep the cause chained
            raise DemoStepError(f"demo step {number}/{len(_STEPS)} ({name}) failed: "
                                f"{type(error).__name__}: {error}") from error
        seconds = time.perf_counter() - tic
        steps.append({"step": number, "name": name, "seconds": seconds, "reused": reused})
        log(f"      {'reused' if reused else 'done'} in {seconds:.1f} s")

    sweep_params = {"kind": "sweeps", "subjects": sizes.sweep_subjects,
                    "frames_per_clip": sizes.frames_per_clip, "seed": 0}

    def sweeps() -> bool:
        from sonomtl.data.synthetic import generate_sweeps

        def build(tmp: Path) -> None:
            generate_sweeps(tmp, subjects=sizes.sweep_subjects,
                            frames_per_clip=sizes.frames_per_clip, seed=0, video=False,
                            gaze=True)

        state["sweeps"], reused = _cached_dataset(out / "data", "sweeps", sweep_params,
                                                  fresh=fresh, build=build)
        return reused

    def maps() -> bool:
        from sonomtl.gaze.dataset_maps import write_dataset_attention_maps

        marker = state["sweeps"] / ".maps-complete"
        if marker.is_file() and not fresh:
            return True
        summary = write_dataset_attention_maps(state["sweeps"])
        write_json(marker, {"maps_written": summary.maps_written})
        log(f"      {summary.maps_written} maps from {summary.fixations} fixations in "
            f"{summary.sequences} gaze logs")
        return False

    abdominal_params = {"kind": "abdominal", "images": sizes.abdominal_images,
                        "subjects": sizes.abdominal_subjects,
                        "input_size": sizes.abdominal_input_size, "seed": 0}

    def abdominal_data() -> bool:
        from sonomtl.data.synthetic import generate_abdominal

        def build(tmp: Path) -> None:
            generate_abdominal(tmp, images=sizes.abdominal_images, seed=0,
                               input_size=sizes.abdominal_input_size,
                               subjects=sizes.abdominal_subjects)

        state["abdominal"], reused = _cached_dataset(out / "data", "abdominal", abdominal_params,
                                                     fresh=fresh, build=build)
        return reused

    runs = out / "runs"

    def train_msen() -> bool:
        overrides = [f"data.params.input_hw=[{size},{size}]",
                     f"modules.D.kwargs.input_hw=[{size},{size}]",
                     f"stages.pretrain.epochs={sizes.msen_epochs}",
                     f"stages.adversarial.steps={sizes.msen_adversarial_steps}",
                     f"data.batch_size={sizes.msen_batch_size}", f"out_dir={runs}",
                     *weights_overrides, *sizes.extra.get("msen", ())]
        return _train(configs / "msen.yaml", runs / "msen", state["sweeps"], overrides,
                      fresh=fresh)

    def train_abdominal() -> bool:
        overrides = [f"stages.landmarks.epochs={sizes.abdominal_landmark_epochs}",
                     f"stages.views.epochs={sizes.abdominal_view_epochs}", f"out_dir={runs}",
                     *sizes.extra.get("abdominal", ())]
        return _train(configs / "abdominal.yaml", runs / "abdominal", state["abdominal"],
                      overrides, fresh=fresh)

    reused_runs: dict[str, bool] = {}

    def evaluate() -> bool:
        from sonomtl.evaluation.evaluate import evaluate_run

        reused = True
        for name in ("msen", "abdominal"):
            target = runs / name / "results.json"
            trained_now = not any(s["reused"] for s in steps
                                  if s["step"] == (4 if name == "msen" else 5))
            if target.is_file() and not trained_now and not fresh:
                state[name] = json.loads(target.read_text(encoding="utf-8"))
                continue
            reused = False
            state[name] = evaluate_run(runs / name, log=lambda line: log(f"      {line}"))
        reused_runs["evaluate"] = reused
        return reused

    def export_and_bench() -> bool:
        bench_path = runs / "msen" / "benchmark.json"
        onnx_path = out / "msen.onnx"
        if bench_path.is_file() and onnx_path.is_file() and reused_runs.get("evaluate") \
                and not fresh:
            state["bench"] = json.loads(bench_path.read_text(encoding="utf-8"))
            return True
        entries = _benchmark(runs / "msen", onnx_path, iters=sizes.bench_iters)
        write_json(bench_path, entries)
        state["bench"] = entries
        log(f"      torch {entries[0]['latency_ms']['p50']:.1f} ms, onnx "
            f"{entries[1]['latency_ms']['p50']:.1f} ms per frame (p50); "
            f"{onnx_path} ({entries[1]['size_mb']:.1f} MB)")
        return False

    def report() -> bool:
        from sonomtl.report import write_report

        state["report"] = write_report([runs / "msen", runs / "abdominal"],
                                       out=out / "report.html",
                                       title="sonomtl demo (simulated data, demonstration scale)")
        return False

    for number, action in enumerate((sweeps, maps, abdominal_data, train_msen, train_abdominal,
                                     evaluate, export_and_bench, report), start=1):
        step(number, action)
    headlines = _headlines(state["msen"], state["abdominal"], state["bench"])
    summary = {"report": str(state["report"]), "headlines": headlines, "steps": steps,
               "wall_time_s": time.perf_counter() - started, "sizes": {
                   k: v for k, v in vars(sizes).items() if k != "extra"}}
    write_json(out / "demo.json", summary)

    def shown(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    log(f"report: {state['report']}")
    log(f"  M-SEN ACP F1 {shown(headlines['msen_acp_f1'], 3)}, attention NSS "
        f"{shown(headlines['msen_nss'], 2)} (CC {shown(headlines['msen_cc'], 2)}); abdominal "
        f"mean measurement error {shown(headlines['abdominal_measurement_error_mm'], 1)} mm")
    log(f"  demonstration scale on simulated data, not the papers' figures "
        f"({summary['wall_time_s'] / 60:.1f} min)")
    return summary
