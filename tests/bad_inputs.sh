#!/bin/sh
# Runs the lab on bad inputs made here: missing, cut and corrupt files, raw and gzipped IDX
# headers that lie, bad flags and values, an output folder that cannot be written. Each case
# must end with a line on stderr that starts with "error:", a non-zero exit status, no crash
# or hang, and no sanitizer or leak report (build the lab with -fsanitize=address,undefined:
# make sanitize does). Prints one line per case: its name and the first line of stderr.
#
# usage: tests/bad_inputs.sh LAB [MAKE_DATA]      (MAKE_DATA: bin/make_data)
set -u
lab=${1:?usage: tests/bad_inputs.sh LAB [MAKE_DATA]}
make_data=${2:-bin/make_data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
cases=0 failed=0

# run NAME ARG...: the lab with these flags, and how it ended
run() {
    name=$1
    shift
    timeout 60 "$lab" "$@" > "$tmp/stdout" 2> "$tmp/stderr"
    rc=$?
    first=$(head -n 1 "$tmp/stderr")
    why=
    case $first in error:*) ;; *) why="the first line on stderr does not start with 'error:'" ;; esac
    [ $rc -eq 0 ] && why="exit status 0"
    [ $rc -ge 124 ] && why="hung or crashed (exit status $rc)"
    grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$tmp/stdout" "$tmp/stderr" &&
        why="sanitizer report"
    cases=$((cases + 1))
    if [ -n "$why" ]; then
        failed=$((failed + 1))
        printf 'FAILED %s: %s\n' "$name" "$why"
        head -n 40 "$tmp/stderr"
    else
        printf '%-28s %s\n' "$name" "$first"
    fi
}

# data NAME: the lab on the folder $d, which the case has just spoiled
data() { run "$1" --data "$d" --out "$tmp/out" --epochs 1 --tsne 0; }

# a fresh copy of the good folder in $d
fresh() { rm -rf "$d" && cp -R "$good" "$d"; }

# the number as 4 big-endian bytes
be32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"
}

# poke FILE OFFSET OCTAL: overwrites one byte
poke() { printf "\\$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null; }

# flip FILE OFFSET: inverts the bits of one byte
flip() {
    b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    poke "$1" "$2" "$(printf '%03o' $((255 - b)))"
}

# idx FILE TYPE DIM...: an IDX header (type as two hex digits), and nothing after it
idx() {
    f=$1 t=$2
    shift 2
    printf "\\000\\000\\$(printf '%03o' 0x$t)\\$(printf '%03o' $#)" > "$f"
    for n in "$@"; do be32 "$n" >> "$f"; done
}

good=$tmp/good d=$tmp/d
TI=train-images-idx3-ubyte TL=train-labels-idx1-ubyte SI=t10k-images-idx3-ubyte SL=t10k-labels-idx1-ubyte
mkdir "$good" "$tmp/small" && "$make_data" "$good" 64 32 28 && "$make_data" "$tmp/small" 64 32 14 || exit 1
tail -c +17 "$good/$TI" > "$tmp/pixels"   # 64 images of 28x28
tail -c +9 "$good/$TL" > "$tmp/labels"    # 64 labels
: > "$tmp/afile"

echo "== folders and files"
run no_such_folder --data "$tmp/none" --out "$tmp/out"
run data_is_a_file --data "$tmp/afile" --out "$tmp/out"
mkdir "$tmp/empty" && run empty_folder --data "$tmp/empty" --out "$tmp/out"
fresh && rm "$d/$TL" && data no_train_labels
fresh && rm "$d/$SI" && data no_test_images
fresh && rm "$d/$TI" && mkdir "$d/$TI" && data folder_for_a_file
fresh && : > "$d/$TI" && data empty_file

echo "== gzip"
gz() { fresh && gzip -n -c "$good/$TI" > "$d/$TI.gz" && rm "$d/$TI" && z=$d/$TI.gz && zn=$(wc -c < "$z"); }
gz && head -c $((zn / 2)) "$z" > "$tmp/cut" && mv "$tmp/cut" "$z" && data gz_cut_in_half
gz && head -c 10 "$z" > "$tmp/cut" && mv "$tmp/cut" "$z" && data gz_header_only
gz && head -c 5 "$z" > "$tmp/cut" && mv "$tmp/cut" "$z" && data gz_cut_in_header
gz && head -c $((zn - 4)) "$z" > "$tmp/cut" && mv "$tmp/cut" "$z" && data gz_cut_trailer
gz && flip "$z" $((zn - 8)) && data gz_bad_crc
gz && flip "$z" $((zn - 1)) && data gz_bad_isize
gz && flip "$z" $((zn / 2)) && data gz_flipped_middle
gz && flip "$z" 12 && data gz_flipped_start
gz && poke "$z" 2 007 && data gz_method_7
gz && poke "$z" 3 340 && data gz_reserved_flags
gz && poke "$z" 3 004 && data gz_fextra_flag_set
gz && poke "$z" 3 010 && head -c 20 "$z" > "$tmp/cut" && mv "$tmp/cut" "$z" && data gz_fname_flag_cut
gz && printf 'junk' >> "$z" && data gz_trailing_junk
gz && cat "$z" "$z" > "$tmp/two" && mv "$tmp/two" "$z" && data gz_two_members
gz && { printf '\037\213\010\000\000\000\000\000\000\003'; head -c 4000 "$good/$TI"; } > "$z" && data gz_not_deflate
fresh && { idx "$tmp/h" 08 2147483647 28 28 && cat "$tmp/h" "$tmp/pixels"; } | gzip -n > "$d/$TI.gz" && rm "$d/$TI" &&
    data gz_idx_lies_about_count

echo "== IDX headers"
fresh && printf '\000\000\010' > "$d/$TI" && data idx_3_bytes
fresh && idx "$d/$TI" 08 64 28 && data idx_header_cut
fresh && idx "$d/$TI" 08 64 28 28 && poke "$d/$TI" 0 001 && cat "$tmp/pixels" >> "$d/$TI" && data idx_bad_magic
fresh && idx "$d/$TI" 07 64 28 28 && cat "$tmp/pixels" >> "$d/$TI" && data idx_unknown_type
fresh && idx "$d/$TI" 0d 64 28 28 && head -c $((64 * 784 * 4)) /dev/zero >> "$d/$TI" && data idx_float_images
fresh && idx "$d/$TL" 0c 64 && head -c 256 /dev/zero >> "$d/$TL" && data idx_int32_labels
fresh && idx "$d/$TI" 08 && data idx_no_dimensions
fresh && idx "$d/$TI" 08 64 28 28 && poke "$d/$TI" 3 310 && data idx_200_dimensions
fresh && idx "$d/$TI" 08 64 784 && cat "$tmp/pixels" >> "$d/$TI" && data idx_images_2d
fresh && idx "$d/$TI" 08 64 28 28 5 && for k in 1 2 3 4 5; do cat "$tmp/pixels" >> "$d/$TI"; done && data idx_images_5_channels
fresh && idx "$d/$TI" 08 64 28 28 1 1 && cat "$tmp/pixels" >> "$d/$TI" && data idx_images_5d
fresh && idx "$d/$TL" 08 64 1 && cat "$tmp/labels" >> "$d/$TL" && data idx_labels_2d
fresh && idx "$d/$TI" 08 0 28 28 && idx "$d/$TL" 08 0 && data idx_zero_images
fresh && idx "$d/$SI" 08 0 28 28 && idx "$d/$SL" 08 0 && data idx_zero_test_images
fresh && idx "$d/$TI" 08 64 0 28 && data idx_zero_height
fresh && idx "$d/$TL" 08 63 && head -c 63 "$tmp/labels" >> "$d/$TL" && data idx_fewer_labels
fresh && idx "$d/$SL" 08 65 && cat "$tmp/labels" >> "$d/$SL" && printf '\001' >> "$d/$SL" && data idx_more_test_labels
fresh && idx "$d/$TI" 08 2147483648 28 28 && cat "$tmp/pixels" >> "$d/$TI" && data idx_2to31_images
fresh && idx "$d/$TI" 08 2147483647 28 28 && cat "$tmp/pixels" >> "$d/$TI" && data idx_2to31_minus_1_images
fresh && idx "$d/$TI" 08 2147483647 2147483647 2147483647 && data idx_size_overflows
fresh && idx "$d/$TI" 08 65 28 28 && cat "$tmp/pixels" >> "$d/$TI" && data idx_header_says_more
fresh && idx "$d/$TI" 08 63 28 28 && cat "$tmp/pixels" >> "$d/$TI" && data idx_header_says_less
fresh && head -c $((16 + 784 * 10 + 100)) "$good/$TI" > "$d/$TI" && data idx_cut_mid_image
fresh && cp "$tmp/small/$SI" "$tmp/small/$SL" "$d/" && data idx_test_14x14_train_28x28
fresh && idx "$d/$TI" 08 1 300 300 && head -c 90000 /dev/zero >> "$d/$TI" && idx "$d/$TL" 08 1 && printf '\001' >> "$d/$TL" &&
    idx "$d/$SI" 08 1 300 300 && head -c 90000 /dev/zero >> "$d/$SI" && cp "$d/$TL" "$d/$SL" && data idx_300x300_images
rm -rf "$d" && mkdir "$d" && "$make_data" "$d" 64 32 30 && data idx_30x30_images
fresh && idx "$d/$TL" 08 64 && head -c 64 /dev/zero | tr '\000' '\003' >> "$d/$TL" &&
    run holdout_every_training_image --data "$d" --out "$tmp/out" --epochs 1 --tsne 0 --holdout-class 3

echo "== model files, Keras weights and checkpoints (from a good 1-epoch run)"
run=$tmp/run
if ! "$lab" --data "$good" --out "$run" --epochs 1 --tsne 0 > "$tmp/stdout" 2> "$tmp/stderr" ||
    [ ! -s "$run/model.cae" ] || [ ! -s "$run/checkpoint.cae" ] || [ ! -s "$run/weights.npz" ]; then
    cat "$tmp/stderr"
    echo "FAILED: the good run for the cases below"
    exit 1
fi
# spoil FILE HOW: a copy of the run's FILE in $tmp/bad, cut in half or with a byte flipped
spoil() {
    rm -rf "$tmp/bad" && cp -R "$run" "$tmp/bad" && f=$tmp/bad/$1 && n=$(wc -c < "$f")
    case $2 in
    cut) head -c $((n / 2)) "$f" > "$tmp/cut" && mv "$tmp/cut" "$f" ;;
    flip) flip "$f" $((n / 2)) ;;
    esac
}
go="--data $good --out $tmp/out --tsne 0"
# shellcheck disable=SC2086
{
run load_missing $go --load "$tmp/none.cae"
run load_empty_file $go --load "$tmp/afile"
spoil model.cae cut && run load_cut_in_half $go --load "$f"
spoil model.cae flip && run load_byte_flipped $go --load "$f"
run load_an_idx_file $go --load "$good/$TI"
run load_28x28_model_14x14_data --data "$tmp/small" --out "$tmp/out" --tsne 0 --load "$run/model.cae"
run load_and_load_weights $go --load "$run/model.cae" --load-weights "$run/weights.npz"
run load_weights_missing $go --load-weights "$tmp/none.npz"
run load_weights_model_file $go --load-weights "$run/model.cae"
spoil weights.npz cut && run load_weights_cut_in_half $go --load-weights "$f"
spoil weights.npz flip && run load_weights_byte_flipped $go --load-weights "$f"
run load_weights_14x14_data --data "$tmp/small" --out "$tmp/out" --tsne 0 --load-weights "$run/weights.npz"
rm -rf "$tmp/empty_out" && run resume_nothing_to_resume --data "$good" --out "$tmp/empty_out" --resume
run resume_with_load --data "$good" --out "$run" --resume --load "$run/model.cae"
spoil checkpoint.cae none && run resume_other_seed --data "$good" --out "$tmp/bad" --epochs 1 --tsne 0 --resume --seed 7
spoil checkpoint.cae none && run resume_other_batch --data "$good" --out "$tmp/bad" --epochs 1 --tsne 0 --resume --batch 32
spoil checkpoint.cae none && run resume_fewer_epochs --data "$good" --out "$tmp/bad" --epochs 0 --tsne 0 --resume
spoil checkpoint.cae none && run resume_other_data --data "$tmp/small" --out "$tmp/bad" --epochs 1 --tsne 0 --resume
spoil checkpoint.cae cut && run resume_cut_in_half --data "$good" --out "$tmp/bad" --epochs 1 --tsne 0 --resume
spoil checkpoint.cae flip && run resume_byte_flipped --data "$good" --out "$tmp/bad" --epochs 1 --tsne 0 --resume
}

echo "== flags"
ok="--data $good --out $tmp/out --epochs 1 --tsne 0"
# shellcheck disable=SC2086
{
run unknown_flag $ok --frobnicate 1
run flag_without_value $ok --epochs
run stray_word $ok foo
run epochs_negative $ok --epochs -1
run epochs_fraction $ok --epochs 1.5
run epochs_too_many $ok --epochs 1e9
run epochs_word $ok --epochs ten
run batch_zero $ok --batch 0
run batch_huge $ok --batch 1000000
run lr_abc $ok --lr abc
run lr_zero $ok --lr 0
run lr_nan $ok --lr nan
run lr_empty $ok --lr ""
run lr_trailing_junk $ok --lr 0.01x
run seed_negative $ok --seed -5
run val_frac_one $ok --val-frac 1
run limit_zero $ok --limit 0
run threads_zero $ok --threads 0
run tsne_negative $ok --tsne -1
run checkpoint_every_fraction $ok --checkpoint-every 2.5
run checkpoint_every_negative $ok --checkpoint-every -1
run load_empty_name $ok --load ""
run arch_empty $ok --arch ""
run arch_unknown_layer $ok --arch "c32,x,c1"
run arch_last_not_a_conv $ok --arch "c8,p"
run arch_zero_filters $ok --arch "c0,c1"
run arch_even_kernel $ok --arch "c8k4,c1"
run arch_bar_at_the_end $ok --arch "c8,c1|"
run arch_two_bars $ok --arch "c8|c8|c1"
run arch_33_layers $ok --arch "$(printf 'c1,%.0s' $(seq 32))c1"
run arch_8_upsamplings $ok --arch "u,u,u,u,u,u,u,u,c1"
run arch_output_14x14 $ok --arch "c8,p,c1"
run arch_1_2G_params $ok --arch "c4096,c4096,c4096,c1"
run noise_two $ok --noise 2
run noise_negative $ok --noise -0.1
run mask_one $ok --mask 1
run holdout_class_256 $ok --holdout-class 256
run holdout_class_fraction $ok --holdout-class 1.5
run lang_xx $ok --lang xx
run data_empty $ok --data ""
run out_empty $ok --out ""
run out_under_a_file $ok --out "$tmp/afile/sub"
run out_is_a_file $ok --out "$tmp/afile"
run out_path_too_long $ok --out "$tmp/$(printf '%01100d' 0)"
# files that cannot be written at the end of a whole run: a folder where each should go
for f in history.csv model.cae report.html; do
    rm -rf "$tmp/out" && mkdir -p "$tmp/out/$f" && run "out_${f%.*}_is_a_folder" $ok
done
export CONVAE_KERNELS=bogus
run kernels_env_bogus $ok
unset CONVAE_KERNELS
}

echo "$cases bad inputs, $failed failed"
[ $failed -eq 0 ]
