/* test_inference.c - convae.h as an embedded project builds it: no stdio, no training, no
   gzip (CONVAE_NO_STDIO, CONVAE_NO_TRAIN, CONVAE_NO_GZIP), with the caller's allocator.
   A net goes to a model file in memory and back, runs on caller scratch, and a net made by
   cae_net_init over parameters the caller keeps runs with no allocation at all.

       cc -std=c99 -O2 -I. tests/test_inference.c -o test_inference -lm && ./test_inference

   The library part of this program has no stdio; the test itself prints with printf. */
#include <stdlib.h>
#include <string.h>

static long g_allocs; /* calls of the allocator through convae.h's hooks */
static void *count_malloc(size_t n)
{
    g_allocs++;
    return malloc(n);
}
static void *count_realloc(void *p, size_t n)
{
    g_allocs++;
    return realloc(p, n);
}
#define CONVAE_MALLOC(n) count_malloc(n)
#define CONVAE_REALLOC(p, n) count_realloc(p, n)
#define CONVAE_FREE(p) free(p)
#define CONVAE_NO_STDIO
#define CONVAE_NO_TRAIN
#define CONVAE_NO_GZIP
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <math.h>
#include <stdio.h>

static int g_checks, g_fails;

static int check(int ok, const char *what)
{
    g_checks++;
    if (!ok) {
        g_fails++;
        printf("FAIL: %s\n", what);
    }
    return ok;
}

/* n deterministic images with strokes of different brightness */
static void make_images(float *x, int n, int hw, unsigned long long seed)
{
    cae_rng r = cae_rng_seed(seed);
    int i, j;
    for (i = 0; i < n * hw; i++) x[i] = 0.0f;
    for (i = 0; i < n; i++)
        for (j = 0; j < 60; j++) x[(size_t)i * hw + (size_t)cae_rng_below(&r, hw)] = cae_rng_uniform(&r);
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

int main(void)
{
    enum { N = 5, HW = 28 * 28 };
    int count, i;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_net net, back, fixed;
    cae_err e;
    float *x = (float *)malloc(sizeof(float) * N * HW), *y1 = (float *)malloc(sizeof(float) * N * HW);
    float *y2 = (float *)malloc(sizeof(float) * N * HW), *y3 = (float *)malloc(sizeof(float) * N * HW);
    unsigned char *file = NULL, *scratch = NULL;
    size_t len = 0, bytes = 0;
    long before;
    cae_tensor tx, t1, t2, t3;
    memset(&back, 0, sizeof back), memset(&fixed, 0, sizeof fixed);
    if (!x || !y1 || !y2 || !y3) return 2;
    make_images(x, N, HW, 5);
    tx = cae_tensor_of(x, N, 28, 28, 1);
    t1 = cae_tensor_of(y1, N, 28, 28, 1), t2 = cae_tensor_of(y2, N, 28, 28, 1), t3 = cae_tensor_of(y3, N, 28, 28, 1);

    if (!check(cae_net_create(&net, 28, 28, 1, specs, count, 9, &e) == CAE_OK, e.msg)) return 1;
    bytes = cae_net_scratch_bytes(&net);
    scratch = (unsigned char *)malloc(bytes);
    len = cae_net_file_bytes(&net);
    file = (unsigned char *)malloc(len);
    if (!scratch || !file) return 2;
    check(cae_net_forward(&net, &tx, &t1, scratch, bytes, &e) == CAE_OK, e.msg);

    /* a model file written to memory loads back from memory, and the net computes the same */
    check(cae_net_write_mem(&net, file, len, &e) == CAE_OK, e.msg);
    check(cae_net_write_mem(&net, file, len - 1, &e) == CAE_ERR_ARG, "write_mem into one byte too few is an error");
    if (check(cae_net_load_mem(&back, file, len, "lab.cae", &e) == CAE_OK, e.msg)) {
        check(back.nparams == net.nparams && memcmp(back.param, net.param, sizeof(float) * net.nparams) == 0,
              "loaded parameters equal the saved ones, bit for bit");
        check(cae_net_forward(&back, &tx, &t2, scratch, bytes, &e) == CAE_OK, e.msg);
        check(memcmp(y1, y2, sizeof(float) * N * HW) == 0, "the loaded net's output equals the original's, bit for bit");
    }
    check(cae_net_load_mem(&fixed, file, len - 1, "cut.cae", &e) == CAE_ERR_FORMAT && fixed.nlayers == 0,
          "a file one byte short is a format error and leaves the net zeroed");
    file[len / 2] ^= 0x10;
    check(cae_net_load_mem(&fixed, file, len, "flip.cae", &e) == CAE_ERR_FORMAT && strstr(e.msg, "CRC") != NULL,
          "a flipped byte is a CRC error");
    file[len / 2] ^= 0x10;

    /* a net over the caller's parameters: no allocation to make it or to run it */
    before = g_allocs;
    if (check(cae_net_init(&fixed, 28, 28, 1, specs, count, back.param, back.nparams, &e) == CAE_OK, e.msg)) {
        check(fixed.own == NULL && fixed.wino == NULL, "cae_net_init owns nothing");
        check(cae_net_forward(&fixed, &tx, &t3, scratch, bytes, &e) == CAE_OK, e.msg);
        check(g_allocs == before, "cae_net_init and cae_net_forward allocate nothing");
        printf("  direct convolution vs the created net (%s): max |diff| %.3g\n", cae_kernels_name(net.ks),
               max_diff(y3, y1, (size_t)N * HW));
        check(max_diff(y3, y1, (size_t)N * HW) <= 1e-5, "cae_net_init's net agrees with the created one within 1e-5");
        fixed.ks = back.ks = cae_kernels_get(0); /* both on the scalar set: no Winograd either way */
        check(cae_net_forward(&fixed, &tx, &t3, scratch, bytes, &e) == CAE_OK, e.msg);
        check(cae_net_forward(&back, &tx, &t2, scratch, bytes, &e) == CAE_OK, e.msg);
        check(memcmp(y2, y3, sizeof(float) * N * HW) == 0, "on the scalar set, the two nets agree bit for bit");
    }
    check(cae_net_init(&fixed, 28, 28, 1, specs, count, back.param, back.nparams - 1, &e) == CAE_ERR_ARG,
          "cae_net_init with a wrong parameter count is an error");
    check(cae_net_forward(&net, &tx, &t1, scratch, bytes - 1, &e) == CAE_ERR_ARG, "too little scratch is an error");

    /* without an inflater, gzip data is a clear error; raw IDX still parses */
    {
        static const unsigned char gz[20] = {0x1F, 0x8B, 8, 0};
        static const unsigned char idx[9] = {0, 0, 0x08, 1, 0, 0, 0, 1, 42};
        cae_idx d;
        check(cae_idx_parse(gz, sizeof gz, &d, "x.gz", &e) == CAE_ERR_FORMAT && strstr(e.msg, "CONVAE_NO_GZIP"),
              "gzip under CONVAE_NO_GZIP says so");
        if (check(cae_idx_parse(idx, sizeof idx, &d, "x", &e) == CAE_OK, e.msg))
            check(d.count == 1 && cae_idx_get(&d, 0) == 42.0, "raw IDX parses");
        cae_idx_free(&d);
    }
    for (i = 0; cae_kernels_get(i); i++) printf("  kernel set %d: %s%s\n", i, cae_kernels_name(cae_kernels_get(i)),
                                               cae_kernels_usable(cae_kernels_get(i)) ? "" : " (not on this CPU)");
    cae_net_free(&net), cae_net_free(&back);
    free(x), free(y1), free(y2), free(y3), free(file), free(scratch);
    if (g_fails) {
        printf("test_inference: %d of %d checks FAILED\n", g_fails, g_checks);
        return 1;
    }
    printf("test_inference: %d checks passed (no stdio, no training, no gzip in the library)\n", g_checks);
    return 0;
}
