/* fuzz_ckpt.c - libFuzzer harness for the checkpoint reader in convae.h (cae_trainer_read_state).

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_ckpt.c -o fuzz_ckpt -lm
       ./fuzz_ckpt -max_total_time=120 corpus/
   Replay files without libFuzzer:
       cc -DFUZZ_STANDALONE -g -fsanitize=address -I. tests/fuzz_ckpt.c -o fuzz_ckpt -lm
       ./fuzz_ckpt file...
   The checkpoints are read into a trainer of a small model (8x8x1: conv 3, pool, conv 4, up,
   conv 1 sigmoid; the seed corpus holds its checkpoints). Random bytes rarely carry a right
   CRC-32, so for inputs whose first byte is odd the harness writes the right one into the last
   four bytes (and into the model file inside, when its size field allows), so that the checks
   behind the CRCs get fuzzed too. A rejected checkpoint must leave the trainer as it was; an
   accepted one must give a trainer that steps. */
#define CONVAE_MAX_BYTES ((size_t)64 << 20)
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

static const cae_layer_spec fuzz_specs[5] = {{CAE_CONV2D, 3, 3, CAE_ACT_RELU, "c1"},
                                             {CAE_MAXPOOL2D, 0, 0, 0, "p1"},
                                             {CAE_CONV2D, 4, 3, CAE_ACT_RELU, "c2"},
                                             {CAE_UPSAMPLE2D, 0, 0, 0, "u1"},
                                             {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "out"}};

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v & 255), p[1] = (unsigned char)(v >> 8 & 255);
    p[2] = (unsigned char)(v >> 16 & 255), p[3] = (unsigned char)(v >> 24 & 255);
}

static unsigned char *state(const cae_trainer *t, size_t *n)
{
    unsigned char *b;
    cae_err e;
    *n = cae_trainer_state_bytes(t, 0);
    b = (unsigned char *)malloc(*n);
    if (!b || cae_trainer_write_state(t, NULL, 0, b, *n, &e) != CAE_OK) abort();
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cae_trainer *t;
    unsigned char *b = (unsigned char *)malloc(size ? size : 1), *before, *after;
    const unsigned char *user;
    size_t ulen, n1, n2;
    cae_err e;
    if (!t) { /* one trainer for the whole run */
        cae_net net;
        if (cae_net_create(&net, 8, 8, 1, fuzz_specs, 5, 3, &e) || cae_trainer_create(&t, &net, 2, &e)) abort();
        cae_net_free(&net);
    }
    if (!b) return 0;
    memcpy(b, data, size);
    if (size >= 24 && (b[0] & 1)) {
        unsigned long long mlen = (unsigned long long)b[12] | (unsigned long long)b[13] << 8 |
                                  (unsigned long long)b[14] << 16 | (unsigned long long)b[15] << 24;
        if (mlen >= 4 && mlen <= size - 24 && !b[16] && !b[17] && !b[18] && !b[19])
            put32(b + 20 + mlen - 4, cae_crc32(0, b + 20, (size_t)mlen - 4));
        put32(b + size - 4, cae_crc32(0, b, size - 4));
    }
    before = state(t, &n1);
    e.msg[0] = 0;
    if (cae_trainer_read_state(t, b, size, "fuzz", &user, &ulen, &e) == CAE_OK) {
        float x[2 * 64];
        cae_tensor xt = cae_tensor_of(x, 2, 8, 8, 1);
        memset(x, 0, sizeof x);
        if (ulen && (user < b || user + ulen > b + size)) abort();
        if (cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, NULL, &e) != CAE_OK) abort();
    } else {
        after = state(t, &n2);
        if (!e.msg[0] || n1 != n2 || memcmp(before, after, n1) != 0) abort(); /* said why, changed nothing */
        free(after);
    }
    free(before);
    free(b);
    return 0;
}

#include "fuzz_main.h"
