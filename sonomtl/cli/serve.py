"""``sonomtl serve``: models as an HTTP/WebSocket service with a web page (and a DICOM node)."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, positive_int

__all__ = ["register"]

_EXAMPLES = """
  sonomtl serve runs/msen                                   # http://127.0.0.1:8000/
  sonomtl serve plane=runs/msen abdominal=export/abd.onnx --port 8080
  SONOMTL_SERVE_TOKEN=secret sonomtl serve runs/msen --host 0.0.0.0
  sonomtl serve runs/abdominal --dicom-port 11112 --ae-title SONOMTL --out /srv/sonomtl
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    from sonomtl.serve.dicom_cli import add_dicom_arguments

    parser = add_command(
        subparsers, "serve",
        help="serve models over HTTP and WebSocket, with a web page and a DICOM node",
        description=(
            "Serve one or more models (run folder, checkpoint, .onnx file or registry name, "
            "optionally NAME=SOURCE): POST /v1/predict, GET /v1/models, /healthz, /readyz, "
            "/metrics, WebSocket /v1/stream and a web page at /. Binds 127.0.0.1 unless --host "
            "says otherwise. SIGTERM lets the requests in flight finish, then exits 0."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="[NAME=]SOURCE")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default %(default)s: this machine only)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port (default %(default)s; 0 picks a free one)")
    parser.add_argument("--token", default=None,
                        help="require 'Authorization: Bearer TOKEN' (default: the environment "
                             "variable SONOMTL_SERVE_TOKEN; /healthz and /readyz stay open)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default=None,
                        help="default: onnx for .onnx files, else torch")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--max-upload-mb", type=float, default=64.0,
                        help="largest request body in MB (default %(default)s)")
    parser.add_argument("--max-frames", type=positive_int, default=600,
                        help="most frames in one /v1/predict request (default %(default)s)")
    parser.add_argument("--max-batch", type=positive_int, default=16,
                        help="most frames in one model call (default %(default)s)")
    parser.add_argument("--max-wait-ms", type=float, default=0.0,
                        help="how long a batch waits for more requests (default %(default)s: "
                             "it takes what is queued)")
    parser.add_argument("--max-queue", type=positive_int, default=64,
                        help="requests waiting per model before 503 (default %(default)s)")
    parser.add_argument("--no-batching", action="store_true",
                        help="run each request on its own (no dynamic batching)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="smoothed probability a best frame must reach (default %(default)s)")
    parser.add_argument("--smoothing-alpha", type=float, default=0.3,
                        help="exponential smoothing weight of the newest frame "
                             "(default %(default)s)")
    parser.add_argument("--out", default="serve-out",
                        help="folder the DICOM node writes into (default %(default)s)")
    add_dicom_arguments(parser)
    parser.set_defaults(func=_serve)


def _settings(args: argparse.Namespace) -> tuple[object, object]:
    import os

    from sonomtl.errors import InputError
    from sonomtl.serve.app import ServeSettings
    from sonomtl.serve.server import BatchSettings

    if not 0.0 < args.smoothing_alpha <= 1.0:
        raise InputError(f"must be in (0, 1], got {args.smoothing_alpha}",
                         field="--smoothing-alpha")
    if not 0.0 <= args.threshold <= 1.0:
        raise InputError(f"must be in [0, 1], got {args.threshold}", field="--threshold")
    if args.max_upload_mb <= 0 or args.max_wait_ms < 0 or not 0 <= args.port <= 65535:
        raise InputError("--max-upload-mb must be > 0, --max-wait-ms >= 0 and --port in "
                         "[0, 65535]", field="--max-upload-mb/--max-wait-ms/--port")
    token = args.token if args.token is not None else os.environ.get("SONOMTL_SERVE_TOKEN")
    serve = ServeSettings(token=token or None,
                          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                          max_frames=args.max_frames, max_batch_frames=args.max_batch,
                          threshold=args.threshold, smoothing_alpha=args.smoothing_alpha)
    batch = BatchSettings(max_batch_frames=args.max_batch, max_wait_ms=args.max_wait_ms,
                          max_queue=args.max_queue, batching=not args.no_batching)
    return serve, batch


def _serve(args: argparse.Namespace) -> int:
    from sonomtl.serve.app import create_app
    from sonomtl.serve.metrics import Metrics
    from sonomtl.serve.server import load_models, run_server

    serve_settings, batch_settings = _settings(args)
    metrics = Metrics()
    models = load_models(args.models, backend=args.backend, threads=args.threads,
                         device=args.device, batch=batch_settings, metrics=metrics)
    node = _dicom_node(args, models)
    app = create_app(models, serve_settings, metrics=metrics)

    def started(port: int) -> None:
        names = ", ".join(m.name for m in models)
        print(f"sonomtl serve: {names} on http://{args.host}:{port}/"
              + (" (token required)" if serve_settings.token else ""), flush=True)

    if node is not None:
        node.start()
    try:
        run_server(app, host=args.host, port=args.port, on_started=started)
    finally:
        if node is not None:
            node.stop()
    return 0


def _dicom_node(args: argparse.Namespace, models: list) -> object | None:
    from sonomtl.serve.dicom_cli import dicom_settings_from_args

    settings = dicom_settings_from_args(args, args.out)
    if settings is None:
        return None
    from sonomtl.serve.dicom_node import DicomNode

    model = models[0]
    return DicomNode(model.batcher.predict_frames, settings, model_name=model.name,
                     model_version=model.card.version, config=model.predictor.config)

