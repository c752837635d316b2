"""Inference benchmark: the issue-9 standard set, side by side in one run.

* M-SEN generator, 240x240, batch 1: PyTorch eager fp32, onnxruntime fp32 and int8.
* SonoNet-16 (official weights), 224x288, batch 1: plain PyTorch eager vs
  onnxruntime (all graph optimisations: BN folded into convs, fused ReLUs) fp32,
  int8 with every conv quantised, and int8 with the first conv and the two
  adaptation convs kept fp32 (``SONONET_INT8``), both calibrated on the 13
  example frames, with the speed-up ratio and the issue-9 check (>= 2x eager
  frames/s, all 13 frames correct, probabilities within 0.02 of eager fp32).
* Abdominal network (``abdominal_mtl``), 512x512 end to end: decode a PNG,
  resample to 0.5 mm + pad, one pass, decode landmarks, measurements.
* Model sizes (MB = 10^6 bytes).

* ``--device cuda``: instead, the torch rows on the GPU in fp32 and fp16 (autocast):
  M-SEN G 240x240 at batch 1 and 64, the abdominal network's 512x512 pass alone
  and end to end (the issue-9 GPU target: at most 20 ms).

Run: ``.venv/bin/python benchmarks/bench_inference.py --threads 2 --iters 30``.
Timings on a shared machine are noisy; the ratios are measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

SONONET_FILES = {
    "3VV": "3VV", "4CH": "4CH", "ABDOMINAL": "Abdominal", "BRAIN-CB": "Brain (Cb.)",
    "BRAIN-TV": "Brain (Tv.)", "FEMUR": "Femur", "KIDNEYS": "Kidneys", "LIPS": "Lips",
    "LVOT": "LVOT", "PROFILE": "Profile", "RVOT": "RVOT", "SPINE-CORONAL": "Spine (cor.)",
    "SPINE-SAGITTAL": "Spine (sag.)",
}


def _fps(latency):
    return 1000.0 / latency["mean"]


def bench_msen(tmp, *, iters, warmup, sononet):
    from sonomtl.inference.bench import onnx_model_size, time_runner, torch_model_size
    from sonomtl.inference.config import config_from_model
    from sonomtl.inference.export import export_onnx
    from sonomtl.inference.predictor import OnnxRunner, TorchRunner
    from sonomtl.models.msen import msen_generator

    model = msen_generator(pretrained=sononet).eval()
    config = config_from_model(model.default_cfg)
    rng = np.random.default_rng(0)
    batch = rng.normal(0, 255, (1, 1, 240, 240)).astype(np.float32)
    calib = [rng.normal(0, 255, (1, 240, 240)).astype(np.float32) for _ in range(8)]
    out = {"parameters": torch_model_size(model)[0], "size_mb_torch": torch_model_size(model)[1]}
    out["torch_fp32"] = time_runner(TorchRunner(model, output_names=config.outputs), batch,
                                    iters=iters, warmup=warmup)
    for dtype in ("fp32", "int8"):
        path = os.path.join(tmp, f"msen-{dtype}.onnx")
        report = export_onnx(model, config, path, dtype=dtype, calibration=calib)
        out[f"onnx_{dtype}"] = time_runner(OnnxRunner(path), batch, iters=iters, warmup=warmup)
        out[f"onnx_{dtype}_size_mb"] = onnx_model_size(path)[1]
        out[f"onnx_{dtype}_max_abs_diff"] = report.max_abs_diff_vs_torch
    return out


def bench_sononet(tmp, *, iters, warmup, sononet_dir):
    from sonomtl.inference.bench import time_runner
    from sonomtl.inference.config import config_from_model
    from sonomtl.inference.export import SONONET_INT8, export_onnx
    from sonomtl.inference.predictor import OnnxRunner, TorchRunner
    from sonomtl.inference.sononet_classify import preprocess_sononet_frame, read_rgb
    from sonomtl.models.sononet import SONONET_CLASS_NAMES, sononet16

    model = sononet16(pretrained=sononet_dir / "SonoNet16.npz").eval()
    config = config_from_model(model.default_cfg)
    names = sorted(SONONET_FILES)
    frames = [preprocess_sononet_frame(read_rgb(sononet_dir / "example_images" / f"{n}.tiff"))[None]
              for n in names]
    truth = [SONONET_CLASS_NAMES.index(SONONET_FILES[n]) for n in names]
    eager = TorchRunner(model, output_names=config.outputs)
    runners = {"torch_eager_fp32": eager}
    variants = {"onnx_fp32": ("fp32", {}),
                "onnx_int8_all_convs": ("int8", {"keep_fp32_first": 0, "keep_fp32_last": 0}),
                "onnx_int8_fp32_first_and_adaptation": ("int8", SONONET_INT8)}
    for name, (dtype, options) in variants.items():
        path = os.path.join(tmp, f"sononet16-{name}.onnx")
        export_onnx(model, config, path, dtype=dtype, calibration=frames,
                    test_inputs=np.stack(frames[:2]), **options)
        runners[name] = OnnxRunner(path)

    def probs(runner):
        logits = np.concatenate([runner(f[None])["logits"] for f in frames])
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    reference = probs(eager)
    out = {}
    for name, runner in runners.items():
        p = probs(runner)
        out[name] = {"latency_ms": time_runner(runner, frames[0][None], iters=iters,
                                               warmup=warmup),
                     "correct_of_13": int((p.argmax(1) == np.array(truth)).sum()),
                     "max_abs_prob_diff_vs_eager": float(np.abs(p - reference).max())}
    base = _fps(out["torch_eager_fp32"]["latency_ms"])
    for name in out:
        row = out[name]
        row["speedup_vs_eager"] = _fps(row["latency_ms"]) / base
        row["meets_issue9_target"] = bool(row["speedup_vs_eager"] >= 2.0
                                          and row["correct_of_13"] == 13
                                          and row["max_abs_prob_diff_vs_eager"] <= 0.02)
    return out


def bench_abdominal(tmp, *, iters, warmup, device="cpu", dtype="fp32"):
    import time

    from PIL import Image

    from sonomtl.data.io import read_image
    from sonomtl.inference.bench import torch_model_size
    from sonomtl.inference.config import config_from_model
    from sonomtl.inference.predictor import Predictor, TorchRunner
    from sonomtl.models.abdominal import abdominal_mtl

    model = abdominal_mtl().eval()
    config = config_from_model(model.default_cfg)
    predictor = Predictor(TorchRunner(model, output_names=config.outputs, device=device,
                                      dtype=dtype), config)
    rng = np.random.default_rng(0)
    png = Path(tmp) / "abdominal.png"
    Image.fromarray(rng.integers(0, 255, (600, 800), dtype=np.uint8)).save(png)
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        predictor.predict_frames([read_image(png)], spacings_mm=[(0.3, 0.3)])
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    shared = abdominal_mtl(duplicate_late_stages=False)
    return {"device": str(predictor.runner.device), "dtype": dtype,
            "end_to_end_ms": {"p50": float(np.median(times)), "min": float(min(times))},
            "size_mb_fp32_paper_layout": torch_model_size(model)[1],
            "size_mb_fp32_shared_late_stages": torch_model_size(shared)[1]}


def bench_gpu(tmp, *, iters, warmup, device):
    """The torch rows on a CUDA device, fp32 and fp16 autocast: M-SEN G 240x240 (batch 1
    and 64) and the abdominal network 512x512, its pass alone and end to end."""
    import torch

    from sonomtl.inference.bench import benchmark

    out = {"gpu": torch.cuda.get_device_name(torch.device(device))}
    for dtype in ("fp32", "fp16"):
        for name, model, batch, size in (("msen_240x240_b1", "msen", 1, None),
                                         ("msen_240x240_b64", "msen", 64, None),
                                         ("abdominal_512x512_pass_b1", "abdominal_mtl", 1,
                                          (512, 512))):
            result = benchmark(model, backend="torch", dtype=dtype, batch=batch, input_hw=size,
                               iters=iters, warmup=warmup, device=device)
            out[f"{name}_{dtype}"] = {k: result[k] for k in ("latency_ms", "throughput_fps",
                                                             "peak_gpu_mb")}
        out[f"abdominal_512x512_end_to_end_{dtype}"] = bench_abdominal(
            tmp, iters=iters, warmup=warmup, device=device, dtype=dtype)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--abdominal-iters", type=int, default=3)
    parser.add_argument("--device", default="cpu",
                        help="cuda or cuda:N: time the torch rows on that GPU (fp32 and fp16) "
                             "instead of the CPU set")
    args = parser.parse_args()
    import torch

    from sonomtl.errors import InputError
    from sonomtl.fileio import shared_data_dir
    from sonomtl.inference.device import resolve_device

    try:
        resolve_device(args.device)
    except InputError as error:
        parser.error(str(error))

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    data = shared_data_dir()
    sononet_dir = None if data is None else data / "sononet"
    results = {"threads": args.threads, "torch": torch.__version__, "cpus": os.cpu_count(),
               "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.device != "cpu":
            results["gpu"] = bench_gpu(tmp, iters=args.iters, warmup=args.warmup,
                                       device=args.device)
            print(json.dumps(results, indent=2))
            return
        weights = sononet_dir / "SonoNet16.npz" if sononet_dir else None
        results["msen_240x240_b1"] = bench_msen(tmp, iters=args.iters, warmup=args.warmup,
                                                sononet=weights)
        if sononet_dir is not None:
            results["sononet16_224x288_b1"] = bench_sononet(tmp, iters=args.iters,
                                                            warmup=args.warmup,
                                                            sononet_dir=sononet_dir)
        results["abdominal_512x512_end_to_end"] = bench_abdominal(
            tmp, iters=args.abdominal_iters, warmup=1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
