#!/usr/bin/env bash
# The GPU measurements the open issues ask for, as one run sized for a 15-minute device lease:
#   1. the GPU tests (tests/inference/test_device.py, tests/training/test_gpu.py: mixed-precision
#      training on the GPU, the checkpoint predicting on the CPU, GPU runner == CPU runner);
#   2. issue 9: M-SEN G 240x240 and the abdominal network 512x512 (its pass alone and end to end:
#      decode a PNG, preprocess, one pass, landmarks, measurements; target <= 20 ms) on the GPU in
#      fp32 and fp16 (benchmarks/bench_inference.py --device cuda);
#   3. issue 6: training throughput and the share of step time waiting for data at batch 64,
#      240x240, bf16-mixed, 4 and 8 DataLoader workers (target <= 10 %; bench_training.py).
# Every part has its own time limit (about 7 minutes in all) and a failing part does not stop the
# others. Output: $OUT/gpu_checks.log and one file per part ($OUT defaults to runs/gpu-checks).
#
# The device machine has PyTorch, Lightning, onnx(runtime), safetensors, scipy, OpenCV, Pillow,
# matplotlib and pytest but not albumentations (+ its dependencies) or pydicom, and no network
# (pydantic 2.14 needs typing_extensions >= 4.16, so that travels too, ahead of the image's).
# Fetch those as wheels here once (the folder is git-ignored; av is not needed by these checks):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl albumentations==2.0.8 albucore==0.0.24 \
#     pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
#     simsimd==6.5.16 stringzilla==5.3.2 pydicom==3.0.2 typing_extensions==4.16.0
# then run it there with the device tool: command "bash benchmarks/gpu_checks.sh", carry [".whl"],
# timeout_s 570. Locally, without a GPU, DEVICE=cpu ACCELERATOR=cpu PRECISION=32-true STEPS=5
# ITERS=1 BATCH=8 WORKERS="0 2" bash benchmarks/gpu_checks.sh checks the plumbing.
set -uo pipefail

OUT=${OUT:-runs/gpu-checks}
DEVICE=${DEVICE:-cuda}
ACCELERATOR=${ACCELERATOR:-gpu}
PRECISION=${PRECISION:-bf16-mixed}
STEPS=${STEPS:-300}
ITERS=${ITERS:-50}
BATCH=${BATCH:-64}
WORKERS=${WORKERS:-4 8}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_checks.log") 2>&1
# shellcheck source=benchmarks/device_env.sh
source "$(dirname "$0")/device_env.sh"
install_wheels

part() {  # part NAME SECONDS COMMAND...: run one check with its own limit, log its status
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo "=== $name (limit ${limit} s)"
    timeout "$limit" "$@"
    echo "=== $name: exit status $? after $((SECONDS - start)) s"
}

part environment 30 bash -c "nvidia-smi || true; uname -a; nproc; $PYTHON -c 'import torch, \
lightning; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \
torch.cuda.is_available(), \"lightning\", lightning.__version__)'"
part gpu-tests 120 "$PYTHON" -m pytest -q -p no:cacheprovider tests/inference/test_device.py \
    tests/training/test_gpu.py
part inference 150 bash -c "$PYTHON benchmarks/bench_inference.py --device $DEVICE \
    --iters $ITERS --warmup 10 > $OUT/inference_gpu.json; cat $OUT/inference_gpu.json"
# shellcheck disable=SC2086  # WORKERS is a list
part training 240 "$PYTHON" benchmarks/bench_training.py --accelerator "$ACCELERATOR" \
    --precision "$PRECISION" --batch-size "$BATCH" --steps "$STEPS" --samples 1024 \
    --workers $WORKERS
echo "=== done in $SECONDS s"
