#!/bin/sh
# Seed corpora for the fuzz harnesses, one folder each under DIR, made afresh:
#   DIR/fuzz_idx    small IDX files of every element type, raw, gzipped (with and without the
#                   file name field, at two levels, one of stored blocks) and the raw deflate
#                   streams inside the .gz files
#   DIR/fuzz_model  small model files           \
#   DIR/fuzz_ckpt   checkpoints                  > written by tests/make_seeds.c
#   DIR/fuzz_npy    .npy and .npz files         /
#   DIR/fuzz_arch   --arch texts: the lab's, and others with every kind of layer
# A harness without a folder here starts from nothing.
#
# usage: tests/fuzz_corpus.sh DIR [BIN]      (BIN: where make_data and make_seeds are; bin)
set -eu
dir=${1:?usage: tests/fuzz_corpus.sh DIR [BIN]}
bin=${2:-bin}
idx=$dir/fuzz_idx
rm -rf "$dir"
mkdir -p "$idx" "$dir/fuzz_model" "$dir/fuzz_ckpt" "$dir/fuzz_npy"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# MNIST-like sets: 3 training and 2 test images of 4x4, then 3 training images of 9x9 pixels
"$bin/make_data" "$tmp" 3 2 4
for f in "$tmp"/*-ubyte; do cp "$f" "$idx/4x4-${f##*/}"; done
"$bin/make_data" "$tmp" 3 2 9 7
for f in "$tmp"/train-*-ubyte; do cp "$f" "$idx/9x9-${f##*/}"; done
# one small file of each other element type, and an empty set (0 x 28 x 28)
printf '\000\000\011\001\000\000\000\003\001\377\200' > "$idx/i8"
printf '\000\000\013\002\000\000\000\002\000\000\000\001\001\002\377\376' > "$idx/i16"
printf '\000\000\014\001\000\000\000\001\177\377\377\377' > "$idx/i32"
printf '\000\000\015\001\000\000\000\002\077\200\000\000\300\000\000\000' > "$idx/f32"
printf '\000\000\016\001\000\000\000\001\077\360\000\000\000\000\000\000' > "$idx/f64"
printf '\000\000\010\003\000\000\000\000\000\000\000\034\000\000\000\034' > "$idx/empty"

for f in "$idx"/*; do gzip -n -9 -c "$f" > "$f.gz"; done
gzip -1 -c "$idx/9x9-train-images-idx3-ubyte" > "$idx/9x9-fast-named.gz"          # FNAME field
gzip -n -c "$idx/9x9-train-images-idx3-ubyte.gz" > "$idx/9x9-stored.gz"           # incompressible
for f in "$idx"/*.gz; do # the deflate stream: without the 10-byte header and the 8-byte trailer
    case $f in *named.gz) continue ;; esac
    n=$(wc -c < "$f")
    tail -c +11 "$f" | head -c $((n - 18)) > "${f%.gz}.deflate"
done

"$bin/make_seeds" "$dir"
mkdir "$dir/fuzz_arch"
printf 'c32,p,c64,p|c64,u,c32,u,c1' > "$dir/fuzz_arch/lab"
printf 'c8k5,p|u,c1k1' > "$dir/fuzz_arch/k5"
printf 'c1' > "$dir/fuzz_arch/one"
printf 'p,c4k3,p|c2,u,u,c3k15' > "$dir/fuzz_arch/mixed"
for d in "$dir"/*; do printf '%s: %s files   ' "${d##*/}" "$(ls "$d" | wc -l)"; done
echo
