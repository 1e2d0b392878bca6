/* fuzz_model.c - libFuzzer harness for the model-file reader in convae.h (cae_net_load_mem).

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_model.c -o fuzz_model -lm
       ./fuzz_model -max_total_time=120 corpus/
   Replay files without libFuzzer:
       cc -DFUZZ_STANDALONE -g -fsanitize=address -I. tests/fuzz_model.c -o fuzz_model -lm
       ./fuzz_model file...
   Each input is parsed from a buffer of exactly its size, so a sanitizer sees any read past the
   end. Random bytes rarely carry a right CRC-32, so for inputs whose first byte is odd the
   harness writes the right one into the last four bytes: the checks behind the CRC get fuzzed
   too. A net that loads must then run one zero image. */
#define CONVAE_MAX_BYTES ((size_t)64 << 20) /* keep what a fuzzed file may ask for small */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library caps a net's parameters at CONVAE_MAX_BYTES; the scratch and images of a run are
   the caller's, so the harness caps those the same way (a valid file may describe a net whose
   activations alone are gigabytes), and skips nets whose one image costs more than ~1e9
   multiply-adds (a valid file is not slow to parse, only to run). */
#define FUZZ_MAX_RUN_BYTES CONVAE_MAX_BYTES
#define FUZZ_MAX_MACS 1e9

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v & 255), p[1] = (unsigned char)(v >> 8 & 255);
    p[2] = (unsigned char)(v >> 16 & 255), p[3] = (unsigned char)(v >> 24 & 255);
}

/* 1 when one image through net stays within the caps above */
static int small_enough(const cae_net *net)
{
    const cae_layer *L = net->layer + net->nlayers - 1;
    double bytes = (double)cae_net_scratch_bytes(net) +
                   4.0 * ((double)net->h * net->w * net->c + (double)L->oh * L->ow * L->oc), macs = 0.0;
    int l;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *C = net->layer + l;
        if (C->kind == CAE_CONV2D) macs += (double)C->h * C->w * C->k * C->k * C->c * C->oc;
    }
    return bytes <= (double)FUZZ_MAX_RUN_BYTES && macs <= FUZZ_MAX_MACS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *b = (unsigned char *)malloc(size ? size : 1);
    cae_net net;
    cae_err e;
    if (!b) return 0;
    memcpy(b, data, size);
    if (size >= 4 && (b[0] & 1)) put32(b + size - 4, cae_crc32(0, b, size - 4));
    e.msg[0] = 0;
    memset(&net, 0x5a, sizeof net); /* a failed load must zero it */
    if (cae_net_load_mem(&net, b, size, "fuzz", &e) == CAE_OK) {
        if (small_enough(&net)) {
            const cae_layer *L = net.layer + net.nlayers - 1;
            size_t bytes = cae_net_scratch_bytes(&net);
            float *x = (float *)calloc((size_t)net.h * net.w * net.c, sizeof(float));
            float *y = (float *)malloc(sizeof(float) * (size_t)L->oh * L->ow * L->oc);
            void *scratch = malloc(bytes);
            if (x && y && scratch) {
                cae_tensor xt = cae_tensor_of(x, 1, net.h, net.w, net.c), yt = cae_tensor_of(y, 1, L->oh, L->ow, L->oc);
                if (cae_net_forward(&net, &xt, &yt, scratch, bytes, &e) != CAE_OK) abort();
            }
            free(x), free(y), free(scratch);
        }
        cae_net_free(&net);
    } else if (!e.msg[0] || net.nlayers || net.param || net.own) {
        abort(); /* every failure says why and leaves no net behind */
    }
    free(b);
    return 0;
}

#include "fuzz_main.h"
