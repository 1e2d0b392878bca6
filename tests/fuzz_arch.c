/* fuzz_arch.c - libFuzzer harness for the --arch text parser in convae.h (cae_arch_parse).

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_arch.c -o fuzz_arch -lm
       ./fuzz_arch -max_total_time=120 corpus/
   Replay files without libFuzzer:
       cc -DFUZZ_STANDALONE -g -fsanitize=address -I. tests/fuzz_arch.c -o fuzz_arch -lm
       ./fuzz_arch file...
   Each input, as a NUL-terminated string, goes through cae_arch_parse. A failure must say why;
   a success must be a layer list cae_net_create takes (or refuses with a message) for an 8x8
   image, ending in a sigmoid convolution, each layer named (and found by that name). */
#define CONVAE_MAX_BYTES ((size_t)64 << 20) /* keep what a fuzzed model may ask for small */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = (char *)malloc(size + 1);
    cae_arch a;
    cae_net net;
    cae_err e;
    int l;
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    e.msg[0] = 0;
    if (cae_arch_parse(&a, s, &e) == CAE_OK) {
        if (a.n < 1 || a.n > CAE_MAX_LAYERS || a.spec[a.n - 1].kind != CAE_CONV2D ||
            a.spec[a.n - 1].act != CAE_ACT_SIGMOID || a.latent < -1 || a.latent >= a.n - 1)
            abort();
        for (l = 0; l < a.n; l++)
            if (a.spec[l].name != a.name[l] || !a.name[l][0] || memchr(a.name[l], 0, 32) == NULL) abort();
        if (cae_net_create(&net, 8, 8, 1, a.spec, a.n, 1, &e) == CAE_OK) {
            for (l = 0; l < a.n; l++)
                if (cae_net_find(&net, a.name[l]) != l) abort();
            cae_net_free(&net);
        } else if (!e.msg[0]) {
            abort();
        }
    } else if (!e.msg[0]) {
        abort(); /* every failure says why */
    }
    free(s);
    return 0;
}

#include "fuzz_main.h"
