/* fuzz_npy.c - libFuzzer harness for the NumPy readers in convae.h (cae_npy_parse, cae_npz_get).

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_npy.c -o fuzz_npy -lm
       ./fuzz_npy -max_total_time=120 corpus/
   Replay files without libFuzzer:
       cc -DFUZZ_STANDALONE -g -fsanitize=address -I. tests/fuzz_npy.c -o fuzz_npy -lm
       ./fuzz_npy file...
   Each input, in a buffer of exactly its size, goes through cae_npy_parse and, as a .npz,
   through cae_npz_get for the members arr_0 and w. An array that is read must write back
   (cae_npy_write_mem) and read again to the same type, shape and bytes. */
#define CONVAE_MAX_BYTES ((size_t)64 << 20) /* keep what a fuzzed file may ask for small */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int zeroed(const cae_idx *x)
{
    int i;
    for (i = 0; i < CONVAE_IDX_MAX_DIMS; i++)
        if (x->dims[i]) return 0;
    return !x->type && !x->ndim && !x->count && !x->data;
}

/* a parsed array writes back and reads again the same, or the harness aborts */
static void round_trip(const cae_idx *x)
{
    size_t n = cae_npy_bytes(x);
    unsigned char *b = (unsigned char *)malloc(n ? n : 1);
    cae_idx y;
    cae_err e;
    int i;
    if (!n || !b || cae_npy_write_mem(x, b, n, &e) != CAE_OK || cae_npy_parse(b, n, &y, "again", &e) != CAE_OK) abort();
    if (y.type != x->type || y.ndim != x->ndim || y.count != x->count ||
        memcmp(y.data, x->data, x->count * (size_t)x->elem_size) != 0)
        abort();
    for (i = 0; i < x->ndim; i++)
        if (y.dims[i] != x->dims[i]) abort();
    cae_idx_free(&y);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const members[2] = {"arr_0", "w"};
    unsigned char *b = (unsigned char *)malloc(size ? size : 1);
    cae_idx x;
    cae_err e;
    int k, rc;
    if (!b) return 0;
    memcpy(b, data, size);
    for (k = -1; k < 2; k++) {
        e.msg[0] = 0;
        memset(&x, 0x5a, sizeof x);
        rc = k < 0 ? cae_npy_parse(b, size, &x, "fuzz", &e) : cae_npz_get(b, size, members[k], &x, "fuzz", &e);
        if (rc == CAE_OK) {
            round_trip(&x);
            cae_idx_free(&x);
        } else if (!e.msg[0] || !zeroed(&x)) {
            abort(); /* every failure says why and leaves nothing behind */
        }
    }
    free(b);
    return 0;
}

#include "fuzz_main.h"
