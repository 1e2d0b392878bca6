#!/bin/sh
# Runs each test program given, then the checks that need more than one program: the
# header as strict C99 and as C++, and the lab on the real MNIST files when they are there.
set -u
fail=0
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then echo "FAILED: $t"; fail=1; fi
done

echo "== header as strict C99 and as C++ (warnings are errors)"
tmp=$(mktemp -d)
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nint main(void){return 0;}\n' > "$tmp/t.c"
cp "$tmp/t.c" "$tmp/t.cpp"
${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -I. -c "$tmp/t.c" -o "$tmp/c.o" || { echo "FAILED: C99 build"; fail=1; }
${CXX:-c++} -Wall -Wextra -Werror -I. -c "$tmp/t.cpp" -o "$tmp/cpp.o" || { echo "FAILED: C++ build"; fail=1; }
${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -DCONVAE_NO_STDIO -DCONVAE_STATIC -I. -c "$tmp/t.c" -o "$tmp/c2.o" \
    || { echo "FAILED: CONVAE_NO_STDIO build"; fail=1; }

mnist=${CONVAE_MNIST_DIR:-../shared/data/mnist}
if [ -f "$mnist/train-images-idx3-ubyte.gz" ] || [ -f "$mnist/train-images-idx3-ubyte" ]; then
    echo "== the lab on the real MNIST files in $mnist (1 epoch on 2,000 images)"
    if bin/mnist_autoencoder --data "$mnist" --epochs 1 --limit 2000 --out "$tmp/lab" > "$tmp/lab.log" 2>&1 &&
        grep -q 'val_loss' "$tmp/lab.log" && [ -s "$tmp/lab/history.csv" ] && [ -s "$tmp/lab/mse.csv" ] &&
        [ "$(wc -l < "$tmp/lab/mse.csv")" -eq 10001 ]; then
        grep -E '^Epoch|^MSE|^Total params' "$tmp/lab.log"
    else
        cat "$tmp/lab.log"; echo "FAILED: lab on MNIST"; fail=1
    fi
else
    echo "== skipped the lab on real MNIST: $mnist not found (set CONVAE_MNIST_DIR)"
fi
rm -rf "$tmp"
if [ $fail -ne 0 ]; then echo "SOME TESTS FAILED"; exit 1; fi
echo "ALL TESTS PASSED"
