/* fuzz_idx.c - libFuzzer harness for the IDX reader and the inflater in convae.h.

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_idx.c -o fuzz_idx -lm
       ./fuzz_idx -max_total_time=120 corpus/
   Replay files without libFuzzer (any compiler):
       cc -DFUZZ_STANDALONE -g -fsanitize=address tests/fuzz_idx.c -o fuzz_idx -lm
       ./fuzz_idx file...
   Each input goes through cae_idx_parse (raw IDX, or gzip when it starts with 1f 8b) and,
   as raw deflate, through cae_inflate with a small output cap. */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cae_idx x;
    cae_err e;
    unsigned char *out;
    size_t len, used, i;
    double sum = 0;
    if (cae_idx_parse(data, size, &x, "fuzz", &e) == CAE_OK) {
        /* a success must describe its data exactly: read every element */
        for (i = 0; i < x.count; i++) sum += cae_idx_get(&x, i);
        if (sum != sum && x.type != CAE_IDX_F32 && x.type != CAE_IDX_F64) abort();
        cae_idx_free(&x);
    } else if (!e.msg[0] || e.code >= 0) {
        abort(); /* every failure must say why */
    }
    if (cae_inflate(data, size, &used, &out, &len, (size_t)1 << 20, &e) == CAE_OK) {
        if (used > size) abort();
        free(out);
    } else if (out || len) {
        abort();
    }
    return 0;
}

#include "fuzz_main.h"
