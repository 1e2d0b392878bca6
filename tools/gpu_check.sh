#!/bin/sh
# tools/gpu_check.sh [DATA] - on a machine with an NVIDIA GPU, in about 4 minutes:
#   1. builds the CUDA unit and holds every kernel and the device trainer to convae.h's CPU
#      reference on the GPU itself (bin/test_gpu_cuda: the test make test runs on the CPU grid);
#   2. the lab's model: 100 steps at batch 256 on the GPU and on the CPU from the same
#      parameters (loss per step, parameters' largest difference); then one epoch of the lab on
#      the CPU and on the GPU from the same seed, val_loss within 1%;
#   3. the 15-epoch lab with --gpu: seconds per epoch (median), training time, val_loss against
#      the Keras figure 0.0658 (within 2%);
#   4. PyTorch on the same card, where torch sees a GPU (../shared/bench/pytorch_seed_ae_gpu.py,
#      or PYTORCH_GPU=path).
# DATA is the MNIST folder (default data/mnist: make data fills it from ../shared; the device
# tool carries it with carry=["data/mnist"]). Without it, made-up images stand in and the
# val_loss figures mean nothing against 0.0658. Exits non-zero when a check fails.
set -eu
cd "$(dirname "$0")/.."
data=${1:-data/mnist}
jobs=$(nproc 2>/dev/null || echo 4)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
make --no-print-directory -j"$jobs" cuda bin/mnist_autoencoder bin/make_data >/dev/null

echo "== 1. the kernels and the trainer on the GPU against the CPU reference"
bin/test_gpu_cuda >"$tmp/kernels.log" 2>&1 || { cat "$tmp/kernels.log"; fail=1; }
grep -h 'GPU backend\|^passed\|FAILED' "$tmp/kernels.log" || true
echo "== 2. the lab's model, batch 256: 100 steps on the GPU and on the CPU from the same parameters"
bin/test_gpu_cuda --lab 256 100 >"$tmp/steps.log" 2>&1 || fail=1
tail -5 "$tmp/steps.log"

real=1 # MNIST, which the val_loss target is for
if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ ! -e "$data/train-images-idx3-ubyte" ]; then
    echo "no MNIST in $data: 60,000 made-up images instead (val_loss not comparable with 0.0658)"
    data=$tmp/made real=0
    mkdir -p "$data" && bin/make_data "$data" 60000 10000 >/dev/null
fi
flags="--data $data --tsne 0 --checkpoint-every 1000000"

echo "== one epoch on the CPU ($jobs threads) and on the GPU, seed 42"
# shellcheck disable=SC2086
bin/mnist_autoencoder $flags --epochs 1 --out "$tmp/cpu1" >"$tmp/cpu1.log" 2>&1 || { tail -3 "$tmp/cpu1.log"; exit 1; }
# shellcheck disable=SC2086
bin/mnist_autoencoder_cuda --gpu $flags --epochs 1 --out "$tmp/gpu1" >"$tmp/gpu1.log" 2>&1 || { tail -3 "$tmp/gpu1.log"; exit 1; }
grep -h '^Epoch' "$tmp/cpu1.log" "$tmp/gpu1.log"
paste -d, "$tmp/cpu1/history.csv" "$tmp/gpu1/history.csv" | awk -F, 'NR == 2 {
    d = ($8 - $3) / $3; printf "   val_loss: CPU %.6f, GPU %.6f, relative difference %.2e (limit 1e-2)\n", $3, $8, d
    exit !(d < 1e-2 && d > -1e-2) }' || { echo "FAILED: val_loss after one epoch"; fail=1; }

echo "== 3. the 15-epoch lab on the GPU"
t0=$(date +%s)
# shellcheck disable=SC2086
bin/mnist_autoencoder_cuda --gpu $flags --epochs 15 --out "$tmp/gpu15" >"$tmp/gpu15.log" 2>&1 || { tail -3 "$tmp/gpu15.log"; exit 1; }
t1=$(date +%s)
grep -h 'GPU:\|training time\|MSE  min' "$tmp/gpu15.log" | head -5
awk -F, -v real="$real" 'NR > 1 { t[NR - 1] = $4; s += $4; v = $3 } END {
    n = NR - 1; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
    printf "   epochs: median %.2f s (training only), 15 epochs %.1f s; final val_loss %.6f",
        (t[int((n + 1) / 2)] + t[int(n / 2) + 1]) / 2, s, v
    if (!real) { print " (made-up images)"; exit 0 }
    printf " (Keras 0.0658: %+.2f%%)\n", 100 * (v - 0.0658) / 0.0658
    exit !(v < 0.0658 * 1.02) }' "$tmp/gpu15/history.csv" || { echo "FAILED: val_loss more than 2% above 0.0658"; fail=1; }
echo "   the whole lab run, with loading, sections 5-7 and the report: $((t1 - t0)) s"

echo "== 4. PyTorch on the same card"
py=${PYTORCH_GPU:-../shared/bench/pytorch_seed_ae_gpu.py}
if [ -e "$py" ] && python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    python3 "$py" "$data" --epochs 0 --time-epochs 3 --modes eager-fp32,eager-tf32 | grep RESULT || true
else
    echo "   skipped: no $py, or no torch with CUDA (pip install torch)"
fi
[ $fail = 0 ] && echo "GPU CHECK PASSED" || echo "GPU CHECK FAILED"
exit $fail
