/* test_inference.c - convae.h as an embedded project builds it: no stdio, no training, no
   gzip (CONVAE_NO_STDIO, CONVAE_NO_TRAIN, CONVAE_NO_GZIP), with the caller's allocator.
   A net goes to a model file in memory and back, runs on caller scratch, and a net made by
   cae_net_init over parameters the caller keeps runs with no allocation at all; an int8 net
   computes the integers worked out here by hand.

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

/* int8: a tiny net computed here by hand in integers (the rounding half away from zero, the
   ReLU's clamp at 0, the borders of 'same' padding) against cae_qnet_forward */
static long round_away(long long num, int sh)
{
    long long a = num < 0 ? -num : num, r = (a + (1LL << (sh - 1))) >> sh;
    return (long)(num < 0 ? -r : r);
}

static void test_int8(void)
{
    static const cae_layer_spec specs[2] = {{CAE_CONV2D, 2, 3, CAE_ACT_RELU, "c1"}, {CAE_CONV2D, 1, 1, CAE_ACT_SIGMOID, "c2"}};
    static const cae_layer_spec bad[1] = {{CAE_SIGMOID, 0, 0, 0, NULL}};
    /* c1: kernel [3][3][1][2]; c2: kernel [1][1][2][1] */
    static const signed char wq[18 + 2] = {1, -2, 3, 0, -1, 2, 4, 1, 0, -3, 2, 2, -1, 0, 1, 1, 3, -2, 5, -7};
    /* c1: biases 3, -4, multipliers 2^30 (x 1/2: halves to round), 1.5 * 2^30; c2: bias 10, multiplier (unused) 2^30 */
    static const int iq[4 + 2] = {3, -4, 1073741824, 1610612736, 10, 1073741824};
    static const signed char sq[2 + 1] = {31, 32, 31};
    static const float fq[1 + 2 + 2 + 1] = {1.0f / 127.0f, 0.05f, 1.0f, 0.1f, 0.1f, 0.02f};
    static const int qin[16] = {0, 5, 127, 3, 9, 0, 1, 2, 64, 7, 7, 7, 100, 0, 2, 1};
    cae_qnet q;
    cae_err e;
    float x[16], y[16];
    int sums[16], want[16], a1[16][2], i, yy, xx, o, k, bad_sums = 0;
    unsigned char scratch[1024];
    double worst = 0;
    long before;
    for (i = 0; i < 16; i++) x[i] = (float)qin[i] / 127.0f;
    before = g_allocs;
    if (!check(cae_qnet_init(&q, 4, 4, 1, specs, 2, wq, 20, iq, 6, sq, 3, fq, 6, &e) == CAE_OK, e.msg)) return;
    check(cae_qnet_scratch_bytes(&q) <= sizeof scratch, "int8 scratch fits 1 KiB for a 4x4 net");
    check(cae_qnet_forward(&q, x, y, sums, scratch, sizeof scratch, &e) == CAE_OK, e.msg);
    check(g_allocs == before, "cae_qnet_init and cae_qnet_forward allocate nothing");
    for (yy = 0; yy < 4; yy++) /* c1 by hand: sums, then round(sum * m / 2^s), ReLU */
        for (xx = 0; xx < 4; xx++)
            for (o = 0; o < 2; o++) {
                long long sum = iq[o];
                for (k = 0; k < 9; k++) {
                    int iy = yy + k / 3 - 1, ix = xx + k % 3 - 1;
                    if (iy >= 0 && iy < 4 && ix >= 0 && ix < 4) sum += (long long)qin[iy * 4 + ix] * wq[k * 2 + o];
                }
                {
                    long r = round_away(sum * iq[2 + o], sq[o]);
                    a1[yy * 4 + xx][o] = (int)(r < 0 ? 0 : r > 127 ? 127 : r);
                }
            }
    for (i = 0; i < 16; i++) { /* c2: 1x1, sums as floats through the sigmoid */
        double z;
        want[i] = iq[4] + a1[i][0] * wq[18] + a1[i][1] * wq[19];
        bad_sums += sums[i] != want[i];
        z = want[i] * 0.02;
        if (fabs(y[i] - 1.0 / (1.0 + exp(-z))) > worst) worst = fabs(y[i] - 1.0 / (1.0 + exp(-z)));
    }
    printf("  int8 by hand: %d of 16 sums differ, max |y - sigmoid| %.2g\n", bad_sums, worst);
    check(bad_sums == 0, "int8 sums equal the ones worked out by hand");
    check(worst < 1e-6, "int8 outputs: the sigmoid of the sums times the dequantisation scale");
    {
        signed char codes[32];
        int match = 1;
        check(cae_qnet_encode(&q, 0, x, codes, scratch, sizeof scratch, &e) == CAE_OK, e.msg);
        for (i = 0; i < 16; i++) match &= codes[2 * i] == a1[i][0] && codes[2 * i + 1] == a1[i][1];
        check(match, "cae_qnet_encode gives the first conv's int8 output");
        check(cae_qnet_encode(&q, 1, x, codes, scratch, sizeof scratch, &e) == CAE_ERR_ARG,
              "int8 encode to a sigmoid conv is an error");
    }
    check(cae_qnet_forward(&q, x, y, NULL, scratch, cae_qnet_scratch_bytes(&q) - 1, &e) == CAE_ERR_ARG,
          "int8: too little scratch is an error");
    check(cae_qnet_init(&q, 4, 4, 1, specs, 2, wq, 19, iq, 6, sq, 3, fq, 6, &e) == CAE_ERR_ARG && q.net.nlayers == 0,
          "int8: a weight short is an error and leaves the net zeroed");
    {
        static const signed char sq0[3] = {0, 32, 31};
        check(cae_qnet_init(&q, 4, 4, 1, specs, 2, wq, 20, iq, 6, sq0, 3, fq, 6, &e) == CAE_ERR_ARG, "int8: shift 0 is an error");
    }
    check(cae_qnet_init(&q, 4, 4, 1, bad, 1, wq, 0, iq, 0, sq, 0, fq, 2, &e) == CAE_ERR_ARG,
          "int8: a Sigmoid layer of its own is an error");
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
    test_int8();
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
