"""--device of predict and bench: a GPU that is not there is one clear line, before any work;
on a machine with CUDA (the device machine), the GPU runner agrees with the CPU one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sonomtl.cli import main
from sonomtl.errors import InputError
from sonomtl.inference.device import onnx_providers, resolve_device
from sonomtl.inference.predictor import TorchRunner

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("name", [None, "cpu", "CPU", " cpu ", torch.device("cpu")])
def test_cpu_in_any_spelling_is_the_cpu(name):
    assert resolve_device(name) == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cuda:x", "", "mps:0:1"])
def test_a_device_torch_does_not_know_names_the_option(name):
    if name == "":  # empty means the default, the CPU
        assert resolve_device(name) == torch.device("cpu")
        return
    with pytest.raises(InputError) as caught:
        resolve_device(name)
    assert caught.value.field == "--device"
    assert "use cpu, cuda or cuda:N" in str(caught.value)


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_on_a_machine_without_one_is_refused(name):
    with pytest.raises(InputError, match="no CUDA device on this machine"):
        resolve_device(name)


def test_onnx_providers():
    import onnxruntime as ort

    assert onnx_providers(None) == ["CPUExecutionProvider"]
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(InputError, match="use cpu, cuda or cuda:N"):
        onnx_providers("cuda:one")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert onnx_providers("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    else:
        with pytest.raises(InputError, match="no CUDA provider"):
            onnx_providers("cuda")


@pytest.mark.parametrize(("dtype", "message"), [
    ("fp16", "fp16 with the torch backend needs a CUDA device"),
    ("int8", "use --backend onnx for int8"),
])
def test_torch_precisions_a_cpu_cannot_run_are_refused(dtype, message):
    from sonomtl.models.registry import build_model

    with pytest.raises(InputError, match=message) as caught:
        TorchRunner(build_model("msen", sononet_width=4), output_names=("a",), device="cpu",
                    dtype=dtype)
    assert caught.value.field == "--dtype"


@no_cuda
def test_predict_on_a_missing_gpu_stops_before_reading_or_writing(msen_run, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["predict", str(msen_run), str(tmp_path / "absent.png"), "--out", str(out),
                   "--device", "cuda", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    # the build is named as it is: a CPU-only wheel, or a CUDA wheel on a machine without a GPU
    build = ("a CPU-only build" if torch.version.cuda is None
             else f"built for CUDA {torch.version.cuda}")
    assert err.splitlines() == ["sonomtl: error: field --device: no CUDA device on this machine "
                                f"(torch {torch.__version__}, {build})"]
    assert not out.exists()


@no_cuda
def test_the_missing_gpu_message_names_the_installed_build(monkeypatch):
    """Both builds a CPU-only machine may have: the CPU wheel and the default CUDA wheel."""
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(InputError, match=r"\(torch .*, a CPU-only build\)$"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(InputError, match=r"\(torch .*, built for CUDA 13\.0\)$"):
        resolve_device("cuda")


@no_cuda
def test_bench_on_a_missing_gpu_is_one_line(capsys):
    assert main(["bench", "msen", "--device", "cuda:0", "--iters", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "field --device" in err and "Traceback" not in err


def test_bench_names_the_device_it_ran_on(capsys):
    assert main(["bench", "msen", "--input-size", "64", "64", "--iters", "1", "--warmup", "0",
                 "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"] == "cpu" and "peak_gpu_mb" not in result


@cuda
def test_gpu_runner_matches_the_cpu_runner_in_fp32_and_fp16():
    from sonomtl.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("msen").eval()
    names = ("attention_logits", "attention", "logits")
    batch = np.random.default_rng(0).normal(0, 50, (2, 1, 240, 240)).astype(np.float32)
    on_cpu = TorchRunner(model, output_names=names)(batch)
    on_gpu = TorchRunner(model, output_names=names, device="cuda")(batch)
    half = TorchRunner(model, output_names=names, device="cuda", dtype="fp16")(batch)
    for name in names:
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], atol=1e-3, rtol=1e-3)
        assert on_gpu[name].dtype == half[name].dtype == np.float32
    np.testing.assert_allclose(half["attention"], on_cpu["attention"], atol=2e-2)


@cuda
def test_bench_on_the_gpu_reports_its_memory(capsys):
    assert main(["bench", "msen", "--device", "cuda", "--dtype", "fp16", "--iters", "3",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"].startswith("cuda:0 (") and result["peak_gpu_mb"] > 0


def test_running_out_of_memory_asks_for_a_smaller_batch_not_another_size():
    from sonomtl.inference.predictor import Predictor
    from tests.inference.helpers import dot_config

    def exhausted(batch):  # what torch raises when a batch does not fit on the GPU
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    predictor = Predictor(exhausted, dot_config("msen"))
    frames = [np.zeros((40, 50), np.float32)] * 3
    with pytest.raises(InputError) as caught:
        predictor.predict_frames(frames, spacings_mm=[None] * 3, measure=False)
    assert caught.value.field == "--batch"
    assert "out of memory for a batch of 3 frames" in str(caught.value)
