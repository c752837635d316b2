"""Serving benchmark (issue 28): ``sonomtl serve`` on loopback against the in-process Predictor.

For each model (exported to ONNX fp32 here, served with ``--backend onnx``):

* M-SEN at the demo's size: SonoNet-16 trunk (the official weights' first blocks when
  ``../shared/data/sononet`` is there), 96x96 input;
* SonoNet-16 with the official weights, 224x288 input;
* the HC18 network of ``configs/abdominal/hc18_mgcn_r_cpu.yaml`` (``abdominal_mgcn``, four
  ellipse points, OFD/BPD/HC), 112x160 input, **untrained** (no trained HC18 checkpoint
  ships with the project; the speed does not depend on the weights).

it measures, each for ``--duration-s``:

* in-process ``Predictor.predict_frames`` on one frame (batch 1): ms per frame;
* one client, one frame at a time, over HTTP (``POST /v1/predict``, a PNG) and over the
  WebSocket (raw grey bytes): latency per frame and the ratio to the in-process time
  (the three interleaved in five rounds, so that other jobs' load hits them alike), and the
  CPU time per frame: of this process for the in-process calls, of the server process for the
  served ones (what the server adds, robust to other jobs' load, unlike wall time);
* ``--clients`` concurrent WebSocket streams, with and without dynamic batching:
  p50/p95/p99 latency per frame and frames/s in all;

and, with ``--soak-s``, a soak of ``--soak-clients`` clients (half HTTP, half WebSocket)
on M-SEN: requests sent, answered 200, errors, and the server's RSS at the start and end.
Frames are random at the model's input size (the resize is then the identity; SonoNet-16's
frames are 734x874, the box its preprocessing crops out of a screen capture). Clients run in
threads of this process, so they share the CPU with the server (on this 2-core machine the
figures include that cost). Timings on a shared machine are noisy.

Run: ``.venv/bin/python benchmarks/bench_serve.py --duration-s 10 --clients 4 --threads 2``
and the soak: ``... --models msen --duration-s 5 --soak-s 300 --soak-clients 8``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("SONOMTL_SHARED_DATA") or
              Path(__file__).resolve().parents[1] / ".." / "shared" / "data") / "sononet"


def export_models(folder: Path, names: list[str]) -> dict[str, Path]:
    """The benchmarked models as ONNX files in ``folder``."""
    from sonomtl.inference.config import config_from_model
    from sonomtl.inference.export import export_onnx
    from sonomtl.models.registry import build_model

    weights = SHARED / "SonoNet16.npz"
    specs = {
        "msen": ("msen", {"sononet_width": 16,
                          "pretrained": str(weights) if weights.is_file() else None},
                 {"input_hw": [96, 96]}),
        "sononet16": ("sononet16", {"pretrained": weights} if weights.is_file() else {}, {}),
        "hc18": ("abdominal_mgcn", {"num_classes": 0, "num_landmarks": 4,
                                    "landmark_names": ["ofd_1", "ofd_2", "bpd_1", "bpd_2"],
                                    "gcn_kernel": 7},
                 {"input_hw": [112, 160], "measurements": {
                     "OFD": {"type": "distance", "landmarks": ["ofd_1", "ofd_2"]},
                     "BPD": {"type": "distance", "landmarks": ["bpd_1", "bpd_2"]},
                     "HC": {"type": "ellipse_circumference",
                            "landmarks": ["ofd_1", "ofd_2", "bpd_1", "bpd_2"]}}}),
    }
    paths = {}
    for name in names:
        model_name, kwargs, preprocessing = specs[name]
        model = build_model(model_name, **{k: v for k, v in kwargs.items() if v is not None})
        if name == "hc18":  # the reduced config: one bottleneck per ResNet stage
            from sonomtl.models.abdominal import with_encoder_layers

            model = with_encoder_layers(model, [1, 1, 1, 1])
        model.eval()
        config = config_from_model(model.default_cfg, preprocessing)
        paths[name] = folder / f"{name}.onnx"
        export_onnx(model, config, paths[name])
    return paths


def bench_frame(config, *, seed: int) -> np.ndarray:
    """A random grey frame at the model's input size, or, for a model that crops a fixed box
    out of a screen capture (SonoNet-16), at the size that box needs."""
    hw = tuple(config.input_hw)
    if isinstance(config.crop, tuple):
        hw = (max(hw[0], config.crop[1]), max(hw[1], config.crop[3]))
    return np.random.default_rng(seed).integers(0, 256, hw).astype(np.float32)


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {"n": 0}
    ms = np.asarray(latencies_s) * 1000.0
    return {"n": int(ms.size), "mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99))}


def in_process_latencies(predictor, frame: np.ndarray, duration_s: float) -> list[float]:
    """Seconds per ``predict_frames`` call on one frame, for ``duration_s``."""
    times, end = [], time.monotonic() + duration_s
    while time.monotonic() < end:
        start = time.perf_counter()
        predictor.predict_frames([frame], spacings_mm=[(0.5, 0.5)])
        times.append(time.perf_counter() - start)
    return times


class Server:
    """``sonomtl serve`` in a subprocess on a free loopback port."""

    def __init__(self, name: str, path: Path, *, threads: int, batching: bool) -> None:
        command = [sys.executable, "-m", "sonomtl", "serve", f"{name}={path}", "--port", "0",
                   "--threads", str(threads), "--max-wait-ms", "0", "--max-queue", "256"]
        if not batching:
            command.append("--no-batching")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = f"http://{match.group(1)}:{match.group(2)}"

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the server process has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024.0

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(60)


def _png(frame: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def http_client(url: str, model: str, frame: np.ndarray, end: float, out: dict) -> None:
    import httpx

    body = _png(frame)
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < end:
            start = time.perf_counter()
            out["sent"] += 1
            try:
                response = client.post(f"{url}/v1/predict", files={"file": ("f.png", body)},
                                       data={"model": model, "spacing_mm": "0.5"})
                ok = response.status_code == 200 and response.json()["frames"] == 1
            except Exception as error:  # counted, the soak reports every kind
                out["errors"].append(repr(error)[:200])
                continue
            if ok:
                out["latency"].append(time.perf_counter() - start)
            else:
                out["errors"].append(f"{response.status_code}: {response.text[:200]}")


def ws_client(url: str, model: str, frame: np.ndarray, end: float, out: dict) -> None:
    from websockets.sync.client import connect

    header = json.dumps({"format": "raw", "shape": list(frame.shape), "spacing_mm": 0.5})
    payload = frame.astype(np.uint8).tobytes()
    with connect(url.replace("http", "ws") + f"/v1/stream?model={model}",
                 max_size=None) as socket:
        while time.monotonic() < end:
            start = time.perf_counter()
            out["sent"] += 1
            try:
                socket.send(header)
                socket.send(payload)
                reply = json.loads(socket.recv(timeout=60))
            except Exception as error:  # counted, the soak reports every kind
                out["errors"].append(repr(error)[:200])
                return
            if "error" in reply:
                out["errors"].append(reply["error"])
            else:
                out["latency"].append(time.perf_counter() - start)


def run_clients(url: str, model: str, frame: np.ndarray, *, kinds: list[str],
                duration_s: float, keep: bool = False) -> dict:
    """``kinds`` clients (``http``/``ws``) at once for ``duration_s``; ``keep`` adds the
    latencies themselves."""
    end = time.monotonic() + duration_s
    results = [{"sent": 0, "latency": [], "errors": []} for _ in kinds]
    threads = [threading.Thread(target=http_client if kind == "http" else ws_client,
                                args=(url, model, frame, end, out))
               for kind, out in zip(kinds, results)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + 120)
    elapsed = time.monotonic() - start
    latency = [t for r in results for t in r["latency"]]
    errors = [e for r in results for e in r["errors"]]
    return {**percentiles(latency), "frames_per_s": len(latency) / elapsed,
            "sent": sum(r["sent"] for r in results), "answered": len(latency),
            "errors": len(errors), "first_errors": errors[:3],
            **({"latencies_s": latency} if keep else {})}


def bench_model(name: str, path: Path, *, threads: int, clients: int, duration_s: float,
                rounds: int = 5) -> dict:
    """One model: batch 1 in-process vs HTTP vs WebSocket (interleaved in ``rounds`` so that
    the machine's load drifts over all three alike), then ``clients`` streams with and
    without dynamic batching."""
    from sonomtl.inference.predictor import load_predictor, read_onnx_config

    config = read_onnx_config(path)
    frame = bench_frame(config, seed=0)
    out: dict = {"input_hw": list(config.input_hw), "frame_hw": list(frame.shape)}
    predictor = load_predictor(path, backend="onnx", threads=threads)
    for _ in range(3):
        predictor.predict_frames([frame], spacings_mm=[(0.5, 0.5)])
    for batching in (True, False):
        server = Server(name, path, threads=threads, batching=batching)
        try:
            key = "batching" if batching else "no_batching"
            row: dict = {}
            if batching:
                single: dict[str, list[float]] = {"in_process": [], "http_1": [], "ws_1": []}
                cpu_s = dict.fromkeys(single, 0.0)
                for _ in range(rounds):
                    start = time.process_time()  # this process: nothing else runs meanwhile
                    single["in_process"] += in_process_latencies(predictor, frame,
                                                                 duration_s / rounds)
                    cpu_s["in_process"] += time.process_time() - start
                    for kind in ("http", "ws"):
                        start = server.cpu_s()
                        result = run_clients(server.url, name, frame, kinds=[kind],
                                             duration_s=duration_s / rounds, keep=True)
                        cpu_s[f"{kind}_1"] += server.cpu_s() - start
                        single[f"{kind}_1"] += result["latencies_s"]
                out["in_process"] = percentiles(single["in_process"])
                out["in_process"]["cpu_ms_per_frame"] = (
                    1000 * cpu_s["in_process"] / len(single["in_process"]))
                for kind in ("http_1", "ws_1"):
                    row[kind] = percentiles(single[kind])
                    for stat in ("mean", "p50"):
                        row[kind][f"{stat}_ratio_to_in_process"] = (
                            row[kind][f"{stat}_ms"] / out["in_process"][f"{stat}_ms"])
                    row[kind]["server_cpu_ms_per_frame"] = 1000 * cpu_s[kind] / len(single[kind])
                    row[kind]["cpu_ratio_to_in_process"] = (
                        row[kind]["server_cpu_ms_per_frame"]
                        / out["in_process"]["cpu_ms_per_frame"])
            row[f"ws_{clients}"] = run_clients(server.url, name, frame, kinds=["ws"] * clients,
                                               duration_s=duration_s)
            row["mean_batch_frames"] = _metric(server.url, name)
            out[key] = row
        finally:
            server.stop()
    return out


def _metric(url: str, model: str) -> float:
    import httpx

    text = httpx.get(f"{url}/metrics").text
    total = re.search(rf'sonomtl_batch_frames_sum{{model="{model}"}} (\S+)', text)
    count = re.search(rf'sonomtl_batch_frames_count{{model="{model}"}} (\S+)', text)
    return float(total.group(1)) / float(count.group(1)) if total and count else 0.0


def soak(path: Path, *, threads: int, clients: int, duration_s: float) -> dict:
    from sonomtl.inference.predictor import read_onnx_config

    frame = bench_frame(read_onnx_config(path), seed=1)
    server = Server("msen", path, threads=threads, batching=True)
    try:
        run_clients(server.url, "msen", frame, kinds=["ws"], duration_s=2)  # warm up
        rss_start = server.rss_mb()
        samples: list[float] = []
        done = threading.Event()

        def sample_rss() -> None:  # every 30 s: does memory level off or keep growing?
            while not done.wait(30.0):
                samples.append(round(server.rss_mb(), 1))

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        kinds = ["http" if i % 2 else "ws" for i in range(clients)]
        result = run_clients(server.url, "msen", frame, kinds=kinds, duration_s=duration_s)
        done.set()
        rss_end = server.rss_mb()
    finally:
        status = server.stop()
    return {**result, "duration_s": duration_s, "clients": clients, "rss_start_mb": rss_start,
            "rss_end_mb": rss_end, "rss_every_30_s_mb": samples,
            "lost": result["sent"] - result["answered"] - result["errors"],
            "exit_status": status}


def summary_table(results: dict, clients: int) -> str:
    """The headline figures as a Markdown table."""
    rows = ["| model (input) | in-process ms/frame p50, CPU ms/frame | HTTP 1 client p50 ms "
            "(ratio), server CPU ms/frame (ratio) | WS 1 client: the same |"
            f" WS x{clients} batching: frames/s, p50/p95/p99 ms, "
            f"mean batch | WS x{clients} no batching: frames/s, p50/p95/p99 ms |",
            "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name == "soak":
            continue
        b, n = r["batching"], r["no_batching"]
        many_b, many_n = b[f"ws_{clients}"], n[f"ws_{clients}"]
        rows.append(
            f"| {name} ({r['input_hw'][0]}x{r['input_hw'][1]}, frames {r['frame_hw'][0]}x"
            f"{r['frame_hw'][1]}) | {r['in_process']['p50_ms']:.1f}, "
            f"{r['in_process']['cpu_ms_per_frame']:.1f} "
            + "".join(f"| {b[k]['p50_ms']:.1f} ({b[k]['p50_ratio_to_in_process']:.2f}), "
                      f"{b[k]['server_cpu_ms_per_frame']:.1f} "
                      f"({b[k]['cpu_ratio_to_in_process']:.2f}) " for k in ("http_1", "ws_1"))
            +
            f"| {many_b['frames_per_s']:.1f}, {many_b['p50_ms']:.0f}/{many_b['p95_ms']:.0f}/"
            f"{many_b['p99_ms']:.0f}, {b['mean_batch_frames']:.2f} "
            f"| {many_n['frames_per_s']:.1f}, {many_n['p50_ms']:.0f}/{many_n['p95_ms']:.0f}/"
            f"{many_n['p99_ms']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="msen,sononet16,hc18")
    parser.add_argument("--duration-s", type=float, default=10.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent streams")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    parser.add_argument("--soak-s", type=float, default=0.0, help="soak length (0: none)")
    parser.add_argument("--soak-clients", type=int, default=8)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="sonomtl-bench-serve-") as tmp:
        paths = export_models(Path(tmp), names)
        for name in names:
            results[name] = bench_model(name, paths[name], threads=args.threads,
                                        clients=args.clients, duration_s=args.duration_s)
            print(json.dumps({name: results[name]}, indent=1), flush=True)
        if args.soak_s > 0:
            soak_path = paths.get("msen") or export_models(Path(tmp), ["msen"])["msen"]
            results["soak"] = soak(soak_path, threads=args.threads, clients=args.soak_clients,
                                   duration_s=args.soak_s)
            print(json.dumps({"soak": results["soak"]}, indent=1), flush=True)
    if any(name != "soak" for name in results):
        print(summary_table(results, args.clients))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
