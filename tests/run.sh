#!/bin/sh
# Runs each test program given, then the checks that need more than one program: the
# header as strict C99 and as C++, and the lab on the real MNIST files when they are there.
set -u
fail=0
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then echo "FAILED: $t"; fail=1; fi
done

echo "== convae.h and examples/convae_report.h as strict C99 and as C++ (warnings are errors)"
tmp=$(mktemp -d)
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nint main(void){return 0;}\n' > "$tmp/t.c"
cp "$tmp/t.c" "$tmp/t.cpp"
${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -I. -c "$tmp/t.c" -o "$tmp/c.o" || { echo "FAILED: C99 build"; fail=1; }
${CXX:-c++} -Wall -Wextra -Werror -I. -c "$tmp/t.cpp" -o "$tmp/cpp.o" || { echo "FAILED: C++ build"; fail=1; }
for opts in "-DCONVAE_NO_STDIO -DCONVAE_STATIC" "-DCONVAE_NO_TRAIN" "-DCONVAE_NO_GZIP" "-DCONVAE_NO_SIMD" \
            "-DCONVAE_NO_STDIO -DCONVAE_NO_TRAIN -DCONVAE_NO_GZIP -DCONVAE_STATIC"; do
    ${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror $opts -I. -c "$tmp/t.c" -o "$tmp/c2.o" \
        || { echo "FAILED: build with $opts"; fail=1; }
done
# the report header on its own, over convae.h, likewise
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\n#define CONVAE_REPORT_IMPLEMENTATION\n#include "examples/convae_report.h"\nint main(void){return 0;}\n' > "$tmp/r.c"
cp "$tmp/r.c" "$tmp/r.cpp"
${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -I. -c "$tmp/r.c" -o "$tmp/r.o" || { echo "FAILED: convae_report.h as C99"; fail=1; }
${CXX:-c++} -Wall -Wextra -Werror -I. -c "$tmp/r.cpp" -o "$tmp/rpp.o" || { echo "FAILED: convae_report.h as C++"; fail=1; }
if grep -qE 'svg|png_|tsne|zlib_compress' convae.h; then echo "FAILED: convae.h holds report code"; grep -nE 'svg|png_|tsne|zlib_compress' convae.h | head -3; fail=1; fi
# a second file that only includes the header must link with the one that implements it
printf '#include "convae.h"\nint other(void){cae_rng r = cae_rng_seed(1); return (int)(cae_rng_next(&r) & 1);}\n' > "$tmp/u.c"
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nint other(void);\nint main(void){return other() > 1;}\n' > "$tmp/m.c"
${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -I. "$tmp/m.c" "$tmp/u.c" -o "$tmp/two" -lm ||
    { echo "FAILED: a second file that includes convae.h does not link"; fail=1; }

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
