#!/bin/sh
# Makes sure DIR holds the four MNIST files: copied from LOCAL when that folder has them,
# otherwise downloaded from a public mirror. The MD5 sums of the original files are checked
# either way, and the script says which it did.
set -u
dir=${1:-data/mnist}
local_dir=${2:-}
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
sums="f68b3c2dcbeaaa9fbdd348bbdeb94873  train-images-idx3-ubyte.gz
d53e105ee54ea40749a09fcbcd1e9432  train-labels-idx1-ubyte.gz
9fb629c4189551a2d022fa330f9573f3  t10k-images-idx3-ubyte.gz
ec29112dd5afa0611ce80d1b7f02629c  t10k-labels-idx1-ubyte.gz"
mirrors="https://storage.googleapis.com/cvdf-datasets/mnist https://ossci-datasets.s3.amazonaws.com/mnist"

check() { (cd "$dir" && echo "$sums" | md5sum -c --quiet >/dev/null 2>&1); }

mkdir -p "$dir" || exit 1
if check; then echo "MNIST: $dir already has the four files (MD5 checked)"; exit 0; fi
if [ -n "$local_dir" ] && [ -f "$local_dir/train-images-idx3-ubyte.gz" ]; then
    for f in $files; do cp "$local_dir/$f" "$dir/$f" || exit 1; done
    if check; then echo "MNIST: copied from $local_dir into $dir (MD5 checked)"; exit 0; fi
    echo "MNIST: the copies from $local_dir do not match the known MD5 sums" >&2
fi
for m in $mirrors; do
    ok=1
    for f in $files; do
        if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$dir/$f.part" "$m/$f" || ok=0
        else wget -q -O "$dir/$f.part" "$m/$f" || ok=0; fi
        [ $ok -eq 1 ] && mv "$dir/$f.part" "$dir/$f"
    done
    rm -f "$dir"/*.part
    if [ $ok -eq 1 ] && check; then echo "MNIST: downloaded from $m into $dir (MD5 checked)"; exit 0; fi
done
echo "MNIST: could not get the files into $dir (no local copy, downloads failed or MD5 mismatch)." >&2
echo "Download the four files named in the README by hand and put them in $dir." >&2
exit 1
