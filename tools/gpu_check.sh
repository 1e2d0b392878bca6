#!/bin/sh
# tools/gpu_check.sh - on a machine with an NVIDIA GPU: builds the CUDA unit and holds every
# kernel to convae.h's scalar reference on the GPU itself (the same test make test runs with
# the kernels walked on the CPU). The trainer comparison and the epoch timings come with the
# device-resident trainer (issue 11), which is not written yet.
set -eu
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
make --no-print-directory cuda
bin/test_gpu_cuda
