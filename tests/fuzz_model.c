/* fuzz_model.c - libFuzzer harness for the model-file reader in convae.h.

   Fuzz (from the repository root):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_model.c -o fuzz_model -lm
       ./fuzz_model -max_total_time=120 corpus/
   Replay files without libFuzzer:
       cc -DFUZZ_STANDALONE -g -fsanitize=address tests/fuzz_model.c -o fuzz_model -lm
       ./fuzz_model file...
   Random bytes rarely carry a right CRC-32, so for inputs whose first byte is odd the harness
   writes the right one into the last four bytes: the checks behind the CRC get fuzzed too.
   A model that loads must then run. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *b = (unsigned char *)malloc(size ? size : 1);
    cae_model *m = NULL;
    cae_err e;
    if (!b) return 0;
    memcpy(b, data, size);
    if (size >= 4 && (b[0] & 1)) cae__put32(b + size - 4, cae_crc32(0, b, size - 4));
    e.msg[0] = 0;
    if (cae__load_buf(&m, b, size, "fuzz", 2, &e) == CAE_OK) {
        float *x = (float *)calloc((size_t)m->h * m->w * m->c, sizeof(float));
        const cae_layer *L = m->layer + m->nlayers - 1;
        float *y = (float *)malloc(sizeof(float) * (size_t)L->oh * L->ow * L->oc);
        if (x && y && cae_model_predict(m, x, 1, y, &e) != CAE_OK) abort();
        free(x), free(y);
        cae_model_free(m);
    } else if (!e.msg[0] || m) {
        abort(); /* every failure says why and leaves no model behind */
    }
    free(b);
    return 0;
}

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        static unsigned char buf[1 << 22];
        size_t n;
        if (!f) continue;
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
