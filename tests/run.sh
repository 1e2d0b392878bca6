#!/bin/sh
# Runs each test program given, then the checks that need more than one program: the compile
# matrix (tests/matrix.sh), the kernel set choice, and the lab on the real MNIST files when
# they are there.
set -u
fail=0
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then echo "FAILED: $t"; fail=1; fi
done

# both headers by gcc, clang, g++ and clang++ in each language standard, the build options,
# the programs, the OpenMP loops: tests/matrix.sh
tests/matrix.sh || fail=1
tmp=$(mktemp -d)

echo "== kernel sets: chosen at run time; CONVAE_KERNELS names one, a bad name is an error"
cpu_avx2=0
if grep -q ' avx2' /proc/cpuinfo 2>/dev/null && grep -q ' fma' /proc/cpuinfo 2>/dev/null; then cpu_avx2=1; fi
# bin/mnist_autoencoder is built without -march: on an AVX2 machine it must still run the AVX2 set
first=$(bin/mnist_autoencoder --data /nonexistent --out "$tmp/k" 2>/dev/null | grep -o 'kernels: [a-z0-9]*' | head -1)
want=scalar; [ $cpu_avx2 = 1 ] && want=avx2
[ $cpu_avx2 = 1 ] && grep -q ' avx512f' /proc/cpuinfo 2>/dev/null && want=avx512
case "$(uname -m)" in x86_64|i?86) ;; *) want=scalar ;; esac
[ "$first" = "kernels: $want" ] || { echo "FAILED: a build without -march reports '$first', expected 'kernels: $want'"; fail=1; }
first=$(CONVAE_KERNELS=scalar bin/mnist_autoencoder --data /nonexistent --out "$tmp/k" 2>/dev/null | grep -o 'kernels: [a-z0-9]*' | head -1)
[ "$first" = "kernels: scalar" ] || { echo "FAILED: CONVAE_KERNELS=scalar gives '$first'"; fail=1; }
if CONVAE_KERNELS=bogus bin/mnist_autoencoder --data /nonexistent --out "$tmp/k" > "$tmp/k.log" 2>&1 ||
    ! grep -q 'unknown kernel set "bogus"' "$tmp/k.log"; then
    cat "$tmp/k.log"; echo "FAILED: CONVAE_KERNELS=bogus must be a clear error"; fail=1
fi
echo "   without -march: $want; CONVAE_KERNELS=scalar: scalar; CONVAE_KERNELS=bogus: $(grep -o 'unknown kernel set.*' "$tmp/k.log" | head -1)"

echo "== experiments on made-up images: --arch, --holdout-class, --noise/--mask, examples/latent_sweep"
mkdir -p "$tmp/x" && bin/make_data "$tmp/x" 1500 400 > /dev/null
if bin/mnist_autoencoder --data "$tmp/x" --epochs 1 --tsne 0 --arch "c8,p|c8,u,c1" --holdout-class 3 --noise 0.2 --mask 0.1 \
    --out "$tmp/xo" > "$tmp/xo.log" 2>&1 && grep -q '^AUC 0\.[0-9]' "$tmp/xo.log" && grep -q 'rebuilt 0\.' "$tmp/xo.log" &&
    grep -q 'latent = output of enc_pool1: (14, 14, 8)' "$tmp/xo.log" && [ -s "$tmp/xo/anomaly_roc.svg" ]; then
    echo "   $(grep '^AUC' "$tmp/xo.log")"
else
    tail -5 "$tmp/xo.log"; echo "FAILED: --arch --holdout-class --noise --mask"; fail=1
fi
mkdir -p "$tmp/x3" && bin/make_data "$tmp/x3" 600 100 16 1 3 > /dev/null # colour: N x 16 x 16 x 3 IDX
if bin/mnist_autoencoder --data "$tmp/x3" --epochs 1 --tsne 50 --out "$tmp/x3o" > "$tmp/x3o.log" 2>&1 &&
    grep -q 'x_train: (600, 16, 16, 3)' "$tmp/x3o.log" && [ -s "$tmp/x3o/reconstructions.ppm" ] &&
    grep -q '^MSE' "$tmp/x3o.log"; then
    echo "   colour images (600 x 16 x 16 x 3): $(grep '^MSE' "$tmp/x3o.log")"
    if command -v pngcheck >/dev/null 2>&1; then pngcheck -q "$tmp"/x3o/*.png || { echo "FAILED: colour PNGs"; fail=1; }; fi
else
    tail -5 "$tmp/x3o.log"; echo "FAILED: the lab on colour images"; fail=1
fi
if bin/latent_sweep --data "$tmp/x" --epochs 1 --sizes 2,16 --out "$tmp/sw" > "$tmp/sw.log" 2>&1 &&
    [ "$(wc -l < "$tmp/sw/sweep.csv")" -eq 3 ] && [ -s "$tmp/sw/latent_sweep.html" ]; then
    grep '^latent' "$tmp/sw.log" | sed 's/^/   /'
else
    cat "$tmp/sw.log"; echo "FAILED: latent_sweep"; fail=1
fi
if command -v xmllint >/dev/null 2>&1; then
    for f in "$tmp"/sw/*.svg "$tmp/xo/anomaly_roc.svg"; do xmllint --noout "$f" || { echo "FAILED: $f is not XML"; fail=1; }; done
fi
for bad in "--sizes 0" "--sizes 4,x" "--epochs 0" "--bogus 1"; do
    # shellcheck disable=SC2086
    if bin/latent_sweep --data "$tmp/x" $bad --out "$tmp/sw" > "$tmp/e.log" 2>&1 || ! grep -q '^error' "$tmp/e.log"; then
        echo "FAILED: latent_sweep $bad must be an error"; fail=1
    fi
done

echo "== --gpu on the emulated grid (bin/mnist_autoencoder_gpuemu) against the CPU lab, resume, --gpu without the unit"
mkdir -p "$tmp/g" && bin/make_data "$tmp/g" 200 40 > /dev/null
gflags="--data $tmp/g --batch 32 --tsne 0 --arch c8,p|c8,u,c1 --checkpoint-every 3"
# shellcheck disable=SC2086
if bin/mnist_autoencoder $gflags --epochs 2 --out "$tmp/gc" > "$tmp/gc.log" 2>&1 &&
    bin/mnist_autoencoder_gpuemu --gpu $gflags --epochs 2 --out "$tmp/gg" > "$tmp/gg.log" 2>&1 &&
    bin/mnist_autoencoder_gpuemu --gpu $gflags --epochs 1 --out "$tmp/gr" > "$tmp/gr1.log" 2>&1 &&
    bin/mnist_autoencoder_gpuemu --gpu $gflags --epochs 2 --resume --out "$tmp/gr" > "$tmp/gr.log" 2>&1 &&
    grep -q 'GPU: the CPU, walking the CUDA grid' "$tmp/gg.log"; then
    # loss and val_loss of each epoch within 1e-4 relative of the CPU's
    if paste -d, "$tmp/gc/history.csv" "$tmp/gg/history.csv" | awk -F, 'NR > 1 { for (i = 2; i <= 3; i++) {
            d = $i - $(i + 5); if (d < 0) d = -d; if (d > 1e-4 * $i) bad = 1 } } END { exit bad }'; then
        echo "   CPU:  $(tail -1 "$tmp/gc/history.csv")"; echo "   GPU (emulated): $(tail -1 "$tmp/gg/history.csv")"
    else
        cat "$tmp/gc/history.csv" "$tmp/gg/history.csv"; echo "FAILED: --gpu's losses are not the CPU's"; fail=1
    fi
    cmp -s "$tmp/gg/model.cae" "$tmp/gr/model.cae" ||
        { echo "FAILED: --gpu resumed from a checkpoint is not the same bits as --gpu straight through"; fail=1; }
else
    tail -3 "$tmp/gc.log" "$tmp/gg.log" "$tmp/gr.log"; echo "FAILED: the lab with --gpu (emulated)"; fail=1
fi
if bin/mnist_autoencoder --gpu --data "$tmp/g" --out "$tmp/gnone" > "$tmp/gn.log" 2>&1; [ $? -ne 2 ] ||
    ! grep -q 'built without the CUDA unit' "$tmp/gn.log" || [ -e "$tmp/gnone" ]; then
    cat "$tmp/gn.log"; echo "FAILED: --gpu without the CUDA unit must be an error that writes nothing"; fail=1
fi

echo "== checkpoints: SIGKILL twice and resume, Ctrl-C and resume, other settings, damaged checkpoints, --load"
tests/resume.sh bin/mnist_autoencoder bin/make_data || { echo "FAILED: checkpoints and resume"; fail=1; }

mnist=${CONVAE_MNIST_DIR:-../shared/data/mnist}
echo "== NumPy and Keras"
kdata=$mnist
if [ ! -f "$mnist/train-images-idx3-ubyte.gz" ] && [ ! -f "$mnist/train-images-idx3-ubyte" ]; then
    kdata=$tmp/made_up
    mkdir -p "$kdata" && bin/make_data "$kdata" 2000 300
fi
py=
for p in ${CONVAE_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" 2>/dev/null; then py=$p; break; fi
done
if [ -n "$py" ]; then # NumPy reads what the lab writes, with the shapes the README gives
    bin/mnist_autoencoder --data "$kdata" --epochs 1 --limit 500 --tsne 40 --out "$tmp/np" > "$tmp/np.log" 2>&1 &&
    "$py" - "$tmp/np" <<'PY' || { cat "$tmp/np.log"; echo "FAILED: NumPy cannot read the lab's .npy/.npz files"; fail=1; }
import sys, numpy as np
d = sys.argv[1]
w = np.load(d + "/weights.npz")
shapes = [w["arr_%d" % i].shape for i in range(len(w.files))]
assert shapes == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (3, 3, 64, 64), (64,), (3, 3, 64, 32), (32,),
                  (3, 3, 32, 1), (1,)], shapes
z, r, m = np.load(d + "/latents.npy"), np.load(d + "/reconstructions.npy"), np.load(d + "/mse.npy")
assert z.shape == (40, 7, 7, 64) and r.shape == (40, 28, 28, 1) and z.dtype == np.float32, (z.shape, r.shape)
assert m.ndim == 1 and 0 < m.min() and m.max() < 1 and 0 <= r.min() and r.max() <= 1
csv = np.loadtxt(d + "/mse.csv", delimiter=",", skiprows=1)[:, 2]
assert np.abs(csv - m).max() < 1e-7, np.abs(csv - m).max()
print("   NumPy %s reads weights.npz %s, latents.npy %s, reconstructions.npy %s, mse.npy %s (= mse.csv)"
      % (np.__version__, len(w.files), z.shape, r.shape, m.shape))
PY
else
    echo "   skipped the NumPy check: no python3 with numpy (apt-get install python3-numpy)"
fi
tf=
for p in ${CONVAE_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import tensorflow, numpy" 2>/dev/null; then tf=$p; break; fi
done
if [ -n "$tf" ]; then
    if TF_CPP_MIN_LOG_LEVEL=2 "$tf" tests/keras_roundtrip.py bin/mnist_autoencoder "$kdata" > "$tmp/keras.log" 2>&1; then
        grep -E '^(convae|Keras|Tensor)' "$tmp/keras.log" | sed 's/^/   /'
    else
        tail -5 "$tmp/keras.log"; echo "FAILED: Keras round trip"; fail=1
    fi
else
    echo "   skipped the Keras round trip: no Python with tensorflow (pip install tensorflow-cpu; CONVAE_PYTHON=that python)"
fi

if [ -f "$mnist/train-images-idx3-ubyte.gz" ] || [ -f "$mnist/train-images-idx3-ubyte" ]; then
    echo "== the lab on the real MNIST files in $mnist (1 epoch on 2,000 images, t-SNE of 300)"
    if bin/mnist_autoencoder --data "$mnist" --epochs 1 --limit 2000 --tsne 300 --out "$tmp/lab" > "$tmp/lab.log" 2>&1 &&
        grep -q 'val_loss' "$tmp/lab.log" && [ -s "$tmp/lab/history.csv" ] && [ -s "$tmp/lab/mse.csv" ] &&
        [ "$(wc -l < "$tmp/lab/mse.csv")" -eq 10001 ] && [ -s "$tmp/lab/report.html" ]; then
        grep -E '^Epoch|^MSE|^Total params|accuracy' "$tmp/lab.log"
    else
        cat "$tmp/lab.log"; echo "FAILED: lab on MNIST"; fail=1
    fi
    for f in samples samples_normalized class_distribution pixel_histogram loss_curves reconstructions \
             mse_histogram anomalies latent_pca latent_tsne; do
        [ -s "$tmp/lab/$f.svg" ] || { echo "FAILED: the lab did not write $f.svg"; fail=1; }
    done
    if command -v xmllint >/dev/null 2>&1; then
        for f in "$tmp"/lab/*.svg; do xmllint --noout "$f" || { echo "FAILED: $f is not well-formed XML"; fail=1; }; done
    fi
    if command -v pngcheck >/dev/null 2>&1; then
        pngcheck -q "$tmp"/lab/*.png || { echo "FAILED: pngcheck"; fail=1; }
    fi
else
    echo "== skipped the lab on real MNIST: $mnist not found (set CONVAE_MNIST_DIR)"
fi
rm -rf "$tmp"
if [ $fail -ne 0 ]; then echo "SOME TESTS FAILED"; exit 1; fi
echo "ALL TESTS PASSED"
