/* test_core.c - tests for the core of convae.h: layers, losses, Adam, initialisation, the
   model (shapes, gradients, training, determinism), model files and the image grid.

   Build and run from the repository root (OpenMP optional; also builds as C++):
       cc -std=c99 -O2 -fopenmp -I. tests/test_core.c -o test_core -lm && ./test_core

   Prints one line per group and "test_core: N checks passed", or every failure with what
   differed and by how much, and then exits non-zero. Expected values are worked out in this
   file (by hand or by plain double-precision formulas), never by calling the code under test.
   Tolerances are written next to each check as atol + rtol*|ref|.

   Two internal functions are called, as only a test may: cae__refresh_flips (after editing
   m->param by hand) and cae__load_buf (to parse every truncation of a model file from an
   exactly sized buffer). -DTRAIN_N=64 shortens the training group for slow sanitizer runs
   (its loss-drop check then fails: one step is not enough). */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <stdarg.h>
#ifdef _WIN32
#include <direct.h>
#define test_mkdir(p) _mkdir(p)
#else
#include <sys/stat.h>
#define test_mkdir(p) mkdir(p, 0700)
#endif

/* ================================================================ check bookkeeping */

static int g_checks, g_fails;             /* whole run */
static int g_group_checks, g_group_fails; /* current group */
static int g_shown;                       /* failures printed in this group */
static const char *g_group;
static double g_t0;

static double now_s(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

static void group_begin(const char *name)
{
    g_group = name;
    g_group_checks = g_group_fails = g_shown = 0;
    g_t0 = now_s();
}

static void group_end(const char *fmt, ...)
{
    char extra[512];
    va_list ap;
    extra[0] = 0;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(extra, sizeof extra, fmt, ap);
        va_end(ap);
    }
    printf("%-13s %6d checks, %d failed, %6.2f s%s%s\n", g_group, g_group_checks, g_group_fails, now_s() - g_t0,
           extra[0] ? "  " : "", extra);
    fflush(stdout);
}

/* Counts one check; on failure prints the message (the first 30 of a group). */
static int check(int ok, const char *fmt, ...)
{
    g_checks++, g_group_checks++;
    if (ok) return 1;
    g_fails++, g_group_fails++;
    if (g_shown < 30) {
        va_list ap;
        printf("  FAIL [%s] ", g_group);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    } else if (g_shown == 30) {
        printf("  ... more failures in [%s] not shown\n", g_group);
    }
    g_shown++;
    return 0;
}

/* |got - ref| <= atol + rtol*|ref| (NaN never passes); says what differed and by how much. */
static int check_close(double got, double ref, double atol, double rtol, const char *fmt, ...)
{
    double d = fabs(got - ref), tol = atol + rtol * fabs(ref);
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return check(d <= tol, "%s: got %.9g, want %.9g, |diff| %.3g > tol %.3g (atol %g + rtol %g*|ref|)", what, got, ref,
                 d, tol, atol, rtol);
}

/* Normalised error |got-ref| / (atol + rtol*|ref|): <= 1 passes. */
static double nerr(double got, double ref, double atol, double rtol)
{
    double d = fabs(got - ref);
    if (d != d) return 1e30;
    return d / (atol + rtol * fabs(ref));
}

/* ================================================================ helpers */

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_core: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

static float *fbuf(size_t n)
{
    return (float *)xmalloc(n * sizeof(float));
}

static float *fcopy(const float *a, size_t n)
{
    float *p = fbuf(n);
    memcpy(p, a, n * sizeof(float));
    return p;
}

static void fill_u(float *a, size_t n, cae_rng *r, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++) a[i] = lo + (hi - lo) * cae_rng_uniform(r);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

static int all_zero(const float *a, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i] != 0.0f) return 0;
    return 1;
}

static double sigmoid_d(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* Central difference of f at *p: slope over the float-representable step actually taken. */
static double fd_slope(double (*f)(void *), void *ctx, float *p, float eps)
{
    float p0 = *p, hi = p0 + eps, lo = p0 - eps;
    double fh, fl;
    *p = hi;
    fh = f(ctx);
    *p = lo;
    fl = f(ctx);
    *p = p0;
    return (fh - fl) / ((double)hi - (double)lo);
}

typedef struct gstat {
    double worst;   /* largest |analytic - numeric| / (atol + rtol*|numeric|) */
    int checked, skipped;
} gstat;

/* Holds the analytic gradient g of f w.r.t. x[0..n) to central differences on up to nsample
   coordinates (all when n <= nsample; else random ones plus the first and last). Fails on an
   all-zero gradient. With kink_guard, a coordinate whose slope changes between eps and eps/2
   by more than a quarter of the tolerance (a ReLU or max-pool switch inside the step) is
   skipped and counted. */
static void grad_check(const char *what, double (*f)(void *), void *ctx, float *x, const float *g, size_t n,
                       int nsample, float eps, double atol, double rtol, int kink_guard, cae_rng *r, gstat *st)
{
    size_t j, cnt = n <= (size_t)nsample ? n : (size_t)nsample;
    check(!all_zero(g, n), "%s: analytic gradient is all zero (%zu values)", what, n);
    for (j = 0; j < cnt; j++) {
        size_t i = n <= (size_t)nsample ? j : (j == 0 ? 0 : j == 1 ? n - 1 : (size_t)cae_rng_below(r, (int)n));
        double num = fd_slope(f, ctx, x + i, eps), e;
        if (kink_guard) {
            double half = fd_slope(f, ctx, x + i, eps * 0.5f);
            if (fabs(num - half) > 0.25 * (atol + rtol * fabs(half))) {
                st->skipped++;
                continue;
            }
        }
        e = nerr(g[i], num, atol, rtol);
        if (e > st->worst) st->worst = e;
        st->checked++;
        check_close(g[i], num, atol, rtol, "%s[%zu] analytic vs central difference (eps %g)", what, i, (double)eps);
    }
}

static const char *g_tmpdir;
static char g_tag[64];

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_core_%s_%s", g_tmpdir, g_tag, name);
}

static int write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(b, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long sz;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (unsigned char *)xmalloc((size_t)(sz > 0 ? sz : 1));
    if (sz < 0 || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v & 255), p[1] = (unsigned char)(v >> 8 & 255);
    p[2] = (unsigned char)(v >> 16 & 255), p[3] = (unsigned char)(v >> 24 & 255);
}

/* Rewrites the trailing CRC-32 so that a deliberately edited file reaches the semantic checks. */
static void fix_crc(unsigned char *b, size_t n)
{
    put32(b + n - 4, cae_crc32(0, b, n - 4));
}

/* ================================================================ 1. layer forward by hand */

static void conv_both(float *out_ref, float *out_fast, const float *in, const float *wt, const float *bias, int n,
                      int h, int w, int ci, int co, int k, int act)
{
    float *work = fbuf(cae_conv2d_work_floats(h, w, ci, co, k));
    cae_conv2d_forward_ref(out_ref, in, wt, bias, n, h, w, ci, co, k, act);
    cae_conv2d_forward(out_fast, in, wt, bias, n, h, w, ci, co, k, act, work);
    free(work);
}

static void expect_conv(const char *what, const float *in, const float *wt, const float *bias, int h, int w, int ci,
                        int co, int k, int act, const double *want)
{
    size_t j, no = (size_t)h * w * co;
    float *a = fbuf(no), *b = fbuf(no);
    conv_both(a, b, in, wt, bias, 1, h, w, ci, co, k, act);
    for (j = 0; j < no; j++) {
        check_close(a[j], want[j], 1e-6, 1e-6, "%s ref out[%zu] (y %zu x %zu o %zu)", what, j, j / co / w, j / co % w,
                    j % co);
        check_close(b[j], want[j], 1e-6, 1e-6, "%s fast out[%zu] (y %zu x %zu o %zu)", what, j, j / co / w,
                    j / co % w, j % co);
    }
    free(a);
    free(b);
}

static void test_forward_by_hand(void)
{
    group_begin("forward");
    {
        /* 3x3 input 1..9, 3x3 kernel, bias 0.5, zero padding all round.
           out[0][0] = 1*1 + 2*0 + 4*(-1) + 5*3 + 0.5 = 12.5 (only the lower-right 2x2 of the
           kernel sees the image); the centre sees all of it: 30 + 0.5. */
        const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float K[9] = {1, 0, -1, 2, 1, 0, 0, -1, 3};
        const float b[1] = {0.5f};
        const double want[9] = {12.5, 17.5, 1.5, 19.5, 30.5, 9.5, 2.5, 20.5, 30.5};
        expect_conv("conv k3 3x3", in, K, b, 3, 3, 1, 1, 3, CAE_ACT_NONE, want);
    }
    {
        /* 2x2 image, 2 in and 2 out channels, bias {2.5, 1}: pre-activations worked out on
           paper (NHWC: pixel-major, channel fastest), then ReLU and sigmoid of them. */
        const float in[8] = {1, -1, 2, 0.5f, 3, 2, 4, -2};
        const float wt[36] = {0.5f, -1, 0,     0.5f, 1,     0,  -0.5f, 0.5f, 0,  1, 1,     -1,
                              -1,   0,  0.5f,  0.5f, 0,     -0.5f, 1,   1,    -0.5f, 0, 0,     0.5f,
                              0.5f, -1, 1,     0,    -1,    -0.5f, 0,   1,    0.5f, 0, -0.5f, 1};
        const float b[2] = {2.5f, 1.0f};
        const double pre[8] = {0.5, -1.75, 1.0, -7.0, 4.5, 1.5, 0.75, -3.25};
        double relu[8], sig[8];
        int j;
        for (j = 0; j < 8; j++) relu[j] = pre[j] > 0 ? pre[j] : 0.0, sig[j] = sigmoid_d(pre[j]);
        expect_conv("conv 2->2 none", in, wt, b, 2, 2, 2, 2, 3, CAE_ACT_NONE, pre);
        expect_conv("conv 2->2 relu", in, wt, b, 2, 2, 2, 2, 3, CAE_ACT_RELU, relu);
        expect_conv("conv 2->2 sigmoid", in, wt, b, 2, 2, 2, 2, 3, CAE_ACT_SIGMOID, sig);
    }
    {
        /* k=2: Keras pads 0 on top/left and 1 on bottom/right, so
           out[y][x] = 1*in[y][x] + 2*in[y][x+1] + 3*in[y+1][x] + 4*in[y+1][x+1]. */
        const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float K[4] = {1, 2, 3, 4};
        const double want[9] = {37, 47, 21, 67, 77, 33, 23, 26, 9};
        expect_conv("conv k2 3x3", in, K, NULL, 3, 3, 1, 1, 2, CAE_ACT_NONE, want);
    }
    {
        /* k=2 on a 2x3 (non-square) image, bias 1: last row sees only the top kernel row. */
        const float in[6] = {1, 2, 3, 4, 5, 6};
        const float K[4] = {1, -1, 2, 0.5f};
        const float b[1] = {1};
        const double want[6] = {10.5, 13.0, 16, 0, 0, 7};
        expect_conv("conv k2 2x3", in, K, b, 2, 3, 1, 1, 2, CAE_ACT_NONE, want);
    }
    {
        /* k=4: pads 1 top/left, 2 bottom/right. out[0][0] = sum in[i][j]*K[i+1][j+1] = 573. */
        const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        float K[16];
        const double want[9] = {573, 528, 363, 393, 348, 231, 217, 178, 111};
        int j;
        for (j = 0; j < 16; j++) K[j] = (float)(j + 1);
        expect_conv("conv k4 3x3", in, K, NULL, 3, 3, 1, 1, 4, CAE_ACT_NONE, want);
    }
    {
        /* k=1: a per-pixel matrix product, 2 -> 3 channels, bias {0, 1, -2}. */
        const float in[4] = {1, 2, -3, 0.5f};
        const float wt[6] = {1, 0, -1, 0.5f, 2, 1};
        const float b[3] = {0, 1, -2};
        const double want[6] = {2.0, 5, -1, -2.75, 2.0, 1.5};
        expect_conv("conv k1 1x2", in, wt, b, 1, 2, 2, 3, 1, CAE_ACT_NONE, want);
    }
    {
        /* maxpool 4x4 -> 2x2. Bottom-left window {9,6,2,9} ties: the first (index 8) wins;
           bottom-right is all 1: its top-left (index 10) wins. */
        const float in[16] = {1, 5, 2, 0, 3, 4, 8, 7, 9, 6, 1, 1, 2, 9, 1, 1};
        const float want[4] = {5, 8, 9, 1};
        const int warg[4] = {1, 6, 8, 10};
        const float dout[4] = {1, 2, 3, 4};
        float out[4], din[16];
        int arg[4], j;
        cae_maxpool2d_forward(out, arg, in, 1, 4, 4, 1);
        for (j = 0; j < 4; j++) {
            check(out[j] == want[j], "maxpool 4x4 out[%d] = %g, want %g", j, out[j], want[j]);
            check(arg[j] == warg[j], "maxpool 4x4 argmax[%d] = %d, want %d", j, arg[j], warg[j]);
        }
        for (j = 0; j < 16; j++) din[j] = 99.0f; /* backward must overwrite, not add */
        cae_maxpool2d_backward(din, dout, arg, 1, 4, 4, 1);
        for (j = 0; j < 16; j++) {
            float wd = j == 1 ? 1.0f : j == 6 ? 2.0f : j == 8 ? 3.0f : j == 10 ? 4.0f : 0.0f;
            check(din[j] == wd, "maxpool 4x4 backward din[%d] = %g, want %g", j, din[j], wd);
        }
    }
    {
        /* maxpool on 3x5 with 2 channels and 2 images -> 2x3 (Keras 'same': ceil). Channel 1 is
           minus channel 0; image 2 is constant (every window a tie: its first pixel wins).
           The last row and column pool over the 2 or 1 pixels that exist. argmax is the NHWC
           index within the image: pixel*2 + channel. */
        const float c0[15] = {1, 2, 3, 4, 5, 6, 0, 8, 1, 2, 3, 7, 7, 9, -1};
        const float w0[6] = {6, 8, 5, 7, 9, -1}, w1[6] = {0, -1, -2, -3, -7, 1};
        const int p0[6] = {5, 7, 4, 11, 13, 14}, p1[6] = {6, 8, 9, 10, 12, 14}, pt[6] = {0, 2, 4, 10, 12, 14};
        float in[60], out[24];
        int arg[24], j;
        for (j = 0; j < 15; j++) in[2 * j] = c0[j], in[2 * j + 1] = -c0[j], in[30 + 2 * j] = in[31 + 2 * j] = 0.5f;
        cae_maxpool2d_forward(out, arg, in, 2, 3, 5, 2);
        for (j = 0; j < 6; j++) {
            check(out[2 * j] == w0[j] && arg[2 * j] == 2 * p0[j], "maxpool 3x5 ch0 out[%d] = %g argmax %d, want %g at %d",
                  j, out[2 * j], arg[2 * j], w0[j], 2 * p0[j]);
            check(out[2 * j + 1] == w1[j] && arg[2 * j + 1] == 2 * p1[j] + 1,
                  "maxpool 3x5 ch1 out[%d] = %g argmax %d, want %g at %d", j, out[2 * j + 1], arg[2 * j + 1], w1[j],
                  2 * p1[j] + 1);
            check(out[12 + 2 * j] == 0.5f && arg[12 + 2 * j] == 2 * pt[j] && arg[13 + 2 * j] == 2 * pt[j] + 1,
                  "maxpool 3x5 ties out[%d] = %g argmax %d/%d, want 0.5 at %d/%d", j, out[12 + 2 * j],
                  arg[12 + 2 * j], arg[13 + 2 * j], 2 * pt[j], 2 * pt[j] + 1);
        }
    }
    {
        /* upsample 2x nearest: 1x2 image, 2 channels {a0,a1},{b0,b1} -> 2x4, each pixel twice
           in both directions; backward sums each 2x2 block. */
        const float in[4] = {1, -2, 3, 0.5f};
        const float want[16] = {1, -2, 1, -2, 3, 0.5f, 3, 0.5f, 1, -2, 1, -2, 3, 0.5f, 3, 0.5f};
        float out[16], dout[16], din[4];
        const float wdin[4] = {0 + 2 + 8 + 10, 1 + 3 + 9 + 11, 4 + 6 + 12 + 14, 5 + 7 + 13 + 15};
        int j;
        cae_upsample2d_forward(out, in, 1, 1, 2, 2);
        for (j = 0; j < 16; j++) check(out[j] == want[j], "upsample out[%d] = %g, want %g", j, out[j], want[j]);
        for (j = 0; j < 16; j++) dout[j] = (float)j;
        for (j = 0; j < 4; j++) din[j] = 99.0f;
        cae_upsample2d_backward(din, dout, 1, 1, 2, 2);
        for (j = 0; j < 4; j++) check(din[j] == wdin[j], "upsample backward din[%d] = %g, want %g", j, din[j], wdin[j]);
    }
    {
        /* ReLU and sigmoid values, including 0 and huge or infinite arguments */
        const float x[9] = {-3.0f, 0.0f, 2.5f, 1.0f, -1.0f, 100.0f, -100.0f, 1e30f, -1e30f};
        float y[9], dy[9], dx[9];
        int j;
        float inf = (float)HUGE_VAL;
        float xi[2], yi[2];
        cae_relu_forward(y, x, 9);
        for (j = 0; j < 9; j++) check(y[j] == (x[j] > 0 ? x[j] : 0.0f), "relu(%g) = %g", x[j], y[j]);
        for (j = 0; j < 9; j++) dy[j] = (float)(j + 1);
        cae_relu_backward(dx, dy, y, 9);
        for (j = 0; j < 9; j++)
            check(dx[j] == (x[j] > 0 ? dy[j] : 0.0f), "relu backward at x=%g: %g, want %g", x[j], dx[j],
                  x[j] > 0 ? dy[j] : 0.0f);
        cae_sigmoid_forward(y, x, 9);
        check(y[1] == 0.5f, "sigmoid(0) = %.9g, want exactly 0.5", y[1]);
        for (j = 0; j < 9; j++) {
            check(y[j] == y[j] && y[j] >= 0.0f && y[j] <= 1.0f, "sigmoid(%g) = %g: not in [0,1]", x[j], y[j]);
            check_close(y[j], sigmoid_d(x[j]), 1e-30, 2e-7, "sigmoid(%g)", x[j]);
        }
        check(y[5] == 1.0f && y[7] == 1.0f, "sigmoid(100) = %.9g, sigmoid(1e30) = %.9g, want 1", y[5], y[7]);
        check(y[6] < 1e-30f && y[8] < 1e-30f, "sigmoid(-100) = %g, sigmoid(-1e30) = %g, want ~0", y[6], y[8]);
        xi[0] = inf, xi[1] = -inf;
        cae_sigmoid_forward(yi, xi, 2);
        check(yi[0] == 1.0f && yi[1] >= 0.0f && yi[1] < 1e-30f, "sigmoid(+-inf) = %g, %g, want 1, ~0", yi[0], yi[1]);
        cae_sigmoid_backward(dx, dy, y, 9);
        for (j = 0; j < 9; j++) {
            double s = y[j], want = dy[j] * s * (1.0 - s);
            check_close(dx[j], want, 1e-30, 1e-6, "sigmoid backward at x=%g", x[j]);
        }
        check(dx[1] == 0.5f, "sigmoid backward at 0 with dy=2: %g, want 0.5", dx[1]);
    }
    group_end(NULL);
}

/* ================================================================ 2. gradients by finite differences */

typedef struct conv_ctx {
    int n, h, w, ci, co, k, act, fast;
    float *in, *wt, *bias, *out, *R, *work;
} conv_ctx;

/* L = sum(conv(in) * R) */
static double conv_L(void *p)
{
    conv_ctx *c = (conv_ctx *)p;
    if (c->fast)
        cae_conv2d_forward(c->out, c->in, c->wt, c->bias, c->n, c->h, c->w, c->ci, c->co, c->k, c->act, c->work);
    else
        cae_conv2d_forward_ref(c->out, c->in, c->wt, c->bias, c->n, c->h, c->w, c->ci, c->co, c->k, c->act);
    return dot(c->out, c->R, (size_t)c->n * c->h * c->w * c->co);
}

static void conv_grad_case(int fast, int n, int h, int w, int ci, int co, int k, int act, cae_rng *r, gstat *st)
{
    conv_ctx c;
    size_t nin = (size_t)n * h * w * ci, nout = (size_t)n * h * w * co, nw = (size_t)k * k * ci * co, wk;
    float *din = fbuf(nin), *dwt = fbuf(nw), *dbias = fbuf((size_t)co), *dpre = fbuf(nout), *work2;
    char name[128];
    const double atol = 2e-3, rtol = 2e-2;
    const float eps = 1e-2f;
    c.n = n, c.h = h, c.w = w, c.ci = ci, c.co = co, c.k = k, c.act = act, c.fast = fast;
    c.in = fbuf(nin), c.wt = fbuf(nw), c.bias = fbuf((size_t)co), c.out = fbuf(nout), c.R = fbuf(nout);
    wk = cae_conv2d_work_floats(h, w, ci, co, k);
    c.work = fbuf(wk);
    work2 = fbuf(wk);
    fill_u(c.in, nin, r, -1, 1);
    fill_u(c.wt, nw, r, -1, 1);
    {
        size_t i;
        float s = 1.0f / sqrtf((float)(ci * k * k)); /* outputs of order 1 */
        for (i = 0; i < nw; i++) c.wt[i] *= s;
    }
    fill_u(c.bias, (size_t)co, r, -0.5f, 0.5f);
    fill_u(c.R, nout, r, -1, 1);
    /* analytic: dpre = dL/d(pre-activation); backward writes din and adds into dwt, dbias */
    conv_L(&c);
    if (act == CAE_ACT_SIGMOID)
        cae_sigmoid_backward(dpre, c.R, c.out, nout);
    else
        memcpy(dpre, c.R, nout * sizeof(float));
    {
        size_t i;
        for (i = 0; i < nin; i++) din[i] = 1e6f; /* must be overwritten */
    }
    memset(dwt, 0, nw * sizeof(float));
    memset(dbias, 0, (size_t)co * sizeof(float));
    if (fast)
        cae_conv2d_backward(din, dwt, dbias, dpre, c.in, c.wt, n, h, w, ci, co, k, work2);
    else
        cae_conv2d_backward_ref(din, dwt, dbias, dpre, c.in, c.wt, n, h, w, ci, co, k);
    snprintf(name, sizeof name, "%s n%d %dx%d ci%d co%d k%d act%d", fast ? "fast" : "ref", n, h, w, ci, co, k, act);
    {
        char what[160];
        snprintf(what, sizeof what, "%s din", name);
        grad_check(what, conv_L, &c, c.in, din, nin, 24, eps, atol, rtol, 0, r, st);
        snprintf(what, sizeof what, "%s dwt", name);
        grad_check(what, conv_L, &c, c.wt, dwt, nw, 24, eps, atol, rtol, 0, r, st);
        snprintf(what, sizeof what, "%s dbias", name);
        grad_check(what, conv_L, &c, c.bias, dbias, (size_t)co, 12, eps, atol, rtol, 0, r, st);
    }
    free(c.in), free(c.wt), free(c.bias), free(c.out), free(c.R), free(c.work), free(work2);
    free(din), free(dwt), free(dbias), free(dpre);
}

typedef struct pool_ctx {
    int kind, n, h, w, c; /* kind: 0 maxpool, 1 upsample, 2 relu, 3 sigmoid */
    float *in, *out, *R;
    int *arg;
    size_t nout;
} pool_ctx;

static double simple_L(void *p)
{
    pool_ctx *c = (pool_ctx *)p;
    size_t nin = (size_t)c->n * c->h * c->w * c->c;
    if (c->kind == 0) cae_maxpool2d_forward(c->out, c->arg, c->in, c->n, c->h, c->w, c->c);
    if (c->kind == 1) cae_upsample2d_forward(c->out, c->in, c->n, c->h, c->w, c->c);
    if (c->kind == 2) cae_relu_forward(c->out, c->in, nin);
    if (c->kind == 3) cae_sigmoid_forward(c->out, c->in, nin);
    return dot(c->out, c->R, c->nout);
}

static void simple_grad_case(int kind, int n, int h, int w, int ch, cae_rng *r, gstat *st)
{
    static const char *names[4] = {"maxpool", "upsample", "relu", "sigmoid"};
    pool_ctx c;
    size_t nin = (size_t)n * h * w * ch, i;
    float *din;
    char what[96];
    c.kind = kind, c.n = n, c.h = h, c.w = w, c.c = ch;
    c.nout = kind == 0 ? (size_t)n * ((h + 1) / 2) * ((w + 1) / 2) * ch : kind == 1 ? 4 * nin : nin;
    c.in = fbuf(nin), c.out = fbuf(c.nout), c.R = fbuf(c.nout), din = fbuf(nin);
    c.arg = (int *)xmalloc(c.nout * sizeof(int));
    fill_u(c.R, c.nout, r, -1, 1);
    if (kind == 0) {
        /* distinct values 0.1 apart in random order: no ties, no switch within +-eps */
        int *perm = (int *)xmalloc(nin * sizeof(int));
        for (i = 0; i < nin; i++) perm[i] = (int)i;
        cae_rng_shuffle(r, perm, (int)nin);
        for (i = 0; i < nin; i++) c.in[i] = 0.1f * (float)perm[i] - 3.0f;
        free(perm);
    } else if (kind == 2) {
        for (i = 0; i < nin; i++) { /* away from the kink: |x| > 0.05; both signs present */
            float v = 0.05f + 0.95f * cae_rng_uniform(r) + 1e-3f;
            c.in[i] = (i == 0 || (i != 1 && cae_rng_below(r, 2))) ? v : -v;
        }
    } else {
        fill_u(c.in, nin, r, kind == 3 ? -4.0f : -1.0f, kind == 3 ? 4.0f : 1.0f);
    }
    simple_L(&c);
    for (i = 0; i < nin; i++) din[i] = 1e6f;
    if (kind == 0) cae_maxpool2d_backward(din, c.R, c.arg, n, h, w, ch);
    if (kind == 1) cae_upsample2d_backward(din, c.R, n, h, w, ch);
    if (kind == 2) cae_relu_backward(din, c.R, c.out, nin);
    if (kind == 3) cae_sigmoid_backward(din, c.R, c.out, nin);
    snprintf(what, sizeof what, "%s n%d %dx%dx%d din", names[kind], n, h, w, ch);
    grad_check(what, simple_L, &c, c.in, din, nin, 64, 1e-2f, 1e-3, 1e-2, 0, r, st);
    free(c.in), free(c.out), free(c.R), free(c.arg), free(din);
}

static void test_layer_gradients(void)
{
    static const int chs[5] = {1, 3, 5, 17, 33};
    static const int hh[3] = {1, 3, 7}, ww[3] = {1, 5, 7};
    static const int ks[4] = {1, 2, 3, 5};
    cae_rng r = cae_rng_seed(2);
    gstat conv_st, simple_st;
    int fast, a, b, i;
    memset(&conv_st, 0, sizeof conv_st);
    memset(&simple_st, 0, sizeof simple_st);
    group_begin("gradients");
    for (fast = 0; fast < 2; fast++) {
        i = 0;
        for (a = 0; a < 3; a++)
            for (b = 0; b < 4; b++, i++) {
                /* every image size with every kernel size; channel counts cycle through all
                   of {1,3,5,17,33} on both sides */
                int ci = chs[(i + fast) % 5], co = chs[(3 * i + 2) % 5];
                conv_grad_case(fast, 1 + i % 2, hh[a], ww[a], ci, co, ks[b], CAE_ACT_NONE, &r, &conv_st);
            }
        /* through a fused sigmoid (smooth, so no kinks): dpre = sigmoid_backward(R) */
        conv_grad_case(fast, 2, 3, 5, 3, 5, 3, CAE_ACT_SIGMOID, &r, &conv_st);
        conv_grad_case(fast, 1, 7, 7, 17, 1, 2, CAE_ACT_SIGMOID, &r, &conv_st);
    }
    /* shapes that take the SIMD kernels where built: Winograd both ways, one output channel */
    conv_grad_case(1, 1, 7, 7, 16, 32, 3, CAE_ACT_NONE, &r, &conv_st);
    conv_grad_case(1, 2, 3, 5, 32, 8, 3, CAE_ACT_NONE, &r, &conv_st);
    conv_grad_case(1, 1, 7, 7, 8, 1, 3, CAE_ACT_NONE, &r, &conv_st);
    conv_grad_case(1, 1, 3, 5, 16, 16, 2, CAE_ACT_NONE, &r, &conv_st);
    for (a = 0; a < 3; a++) {
        int k;
        for (k = 0; k < 4; k++) simple_grad_case(k, 2, hh[a], ww[a], 1 + 2 * (a % 2), &r, &simple_st);
    }
    simple_grad_case(0, 1, 4, 4, 2, &r, &simple_st);
    simple_grad_case(0, 2, 6, 3, 3, &r, &simple_st);
    simple_grad_case(1, 1, 2, 3, 4, &r, &simple_st);
    group_end("conv: %d coords, worst err/tol %.3f (tol 2e-3 + 2e-2*|fd|); pool/up/relu/sigmoid: %d coords, "
              "worst %.3f (tol 1e-3 + 1e-2*|fd|)",
              conv_st.checked, conv_st.worst, simple_st.checked, simple_st.worst);
}

/* ================================================================ 3. fast kernels vs reference */

typedef struct maxerr {
    double abs;   /* largest |fast - ref| */
    double ratio; /* largest |fast - ref| / (1e-5 + 1e-4*|ref|) */
    double sum_ratio; /* dwt, dbias: largest |fast - ref| / (2^-24 * sum of |terms|) */
} maxerr;

/* fast vs ref within 1e-5 + 1e-4*|ref|. dwt and dbias are float sums over every pixel of the
   batch (up to 3*28*28 terms) that the reference adds one by one: its own rounding grows
   with sum|terms| (S, given for those), so they also get 2^-20*S (16 float ulps of S). A
   dropped or doubled term is off by a whole term, far above that. */
static void compare_arrays(const char *what, const float *got, const float *ref, const double *S, size_t n, maxerr *me)
{
    size_t i, bad = 0, worst = 0;
    double wr = 0.0, tol_w = 0.0;
    for (i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), tol = 1e-5 + 1e-4 * fabs(ref[i]), q;
        if (d != d) d = 1e30;
        if (d > me->abs) me->abs = d;
        if (d / tol > me->ratio) me->ratio = d / tol;
        if (S) {
            const double ulp = 1.0 / 16777216.0; /* 2^-24 */
            if (S[i] > 0 && d / (S[i] * ulp) > me->sum_ratio) me->sum_ratio = d / (S[i] * ulp);
            tol += 16 * ulp * S[i];
        }
        q = d / tol;
        if (q > wr) wr = q, worst = i, tol_w = tol;
        if (q > 1.0) bad++;
    }
    check(bad == 0, "%s: %zu of %zu differ; worst [%zu] fast %.9g ref %.9g |diff| %.3g > tol %.3g (1e-5 + 1e-4*|ref|%s)",
          what, bad, n, worst, n ? got[worst] : 0.0f, n ? ref[worst] : 0.0f,
          n ? fabs((double)got[worst] - ref[worst]) : 0.0, tol_w, S ? " + 2^-20*sum|terms|" : "");
}

/* S for dwt [k,k,ci,co] and dbias [co]: the sums of |terms| the backward pass adds, plus the
   starting values */
static void conv_abs_sums(double *Sw, double *Sb, const float *in, const float *dpre, const float *dw0,
                          const float *db0, int n, int h, int w, int ci, int co, int k)
{
    int b, y, x, kh, kw, i, o, p = (k - 1) / 2;
    size_t nw = (size_t)k * k * ci * co, j;
    for (j = 0; j < nw; j++) Sw[j] = fabs(dw0[j]);
    for (o = 0; o < co; o++) Sb[o] = fabs(db0[o]);
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *g = dpre + (((size_t)b * h + y) * w + x) * co;
                for (o = 0; o < co; o++) Sb[o] += fabs(g[o]);
                for (kh = 0; kh < k; kh++)
                    for (kw = 0; kw < k; kw++) {
                        int iy = y + kh - p, ix = x + kw - p;
                        const float *a;
                        double *s;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        a = in + (((size_t)b * h + iy) * w + ix) * ci;
                        s = Sw + (size_t)(kh * k + kw) * ci * co;
                        for (i = 0; i < ci; i++)
                            for (o = 0; o < co; o++) s[(size_t)i * co + o] += fabs((double)a[i] * g[o]);
                    }
            }
}

static void fast_vs_ref_case(int n, int h, int w, int ci, int co, int k, int act, int nullcheck, cae_rng *r, maxerr *mf,
                             maxerr *mb, maxerr *mw)
{
    size_t nin = (size_t)n * h * w * ci, nout = (size_t)n * h * w * co, nw = (size_t)k * k * ci * co, i;
    size_t wk = cae_conv2d_work_floats(h, w, ci, co, k);
    float *in = fbuf(nin), *wt = fbuf(nw), *bias = fbuf((size_t)co), *o1 = fbuf(nout), *o2 = fbuf(nout);
    float *dpre = fbuf(nout), *din1 = fbuf(nin), *din2 = fbuf(nin), *work = fbuf(wk);
    float *dw1 = fbuf(nw), *dw2, *db1 = fbuf((size_t)co), *db2;
    double *Sw, *Sb;
    char what[128];
    float s = sqrtf(3.0f / (float)(ci * k * k));
    fill_u(in, nin, r, -1, 1);
    fill_u(wt, nw, r, -s, s);
    fill_u(bias, (size_t)co, r, -0.5f, 0.5f);
    fill_u(dpre, nout, r, -1, 1);
    fill_u(dw1, nw, r, -1, 1); /* accumulators start non-zero: backward must add */
    fill_u(db1, (size_t)co, r, -1, 1);
    dw2 = fcopy(dw1, nw), db2 = fcopy(db1, (size_t)co);
    Sw = (double *)xmalloc(nw * sizeof(double)), Sb = (double *)xmalloc((size_t)co * sizeof(double));
    conv_abs_sums(Sw, Sb, in, dpre, dw1, db1, n, h, w, ci, co, k);
    for (i = 0; i < nout; i++) o2[i] = 1e6f;
    cae_conv2d_forward_ref(o1, in, wt, bias, n, h, w, ci, co, k, act);
    cae_conv2d_forward(o2, in, wt, bias, n, h, w, ci, co, k, act, work);
    snprintf(what, sizeof what, "forward n%d %dx%d ci%d co%d k%d act%d", n, h, w, ci, co, k, act);
    compare_arrays(what, o2, o1, NULL, nout, mf);
    for (i = 0; i < nin; i++) din2[i] = 1e6f;
    cae_conv2d_backward_ref(din1, dw1, db1, dpre, in, wt, n, h, w, ci, co, k);
    cae_conv2d_backward(din2, dw2, db2, dpre, in, wt, n, h, w, ci, co, k, work);
    snprintf(what, sizeof what, "backward din n%d %dx%d ci%d co%d k%d", n, h, w, ci, co, k);
    compare_arrays(what, din2, din1, NULL, nin, mb);
    snprintf(what, sizeof what, "backward dwt n%d %dx%d ci%d co%d k%d", n, h, w, ci, co, k);
    compare_arrays(what, dw2, dw1, Sw, nw, mw);
    snprintf(what, sizeof what, "backward dbias n%d %dx%d ci%d co%d k%d", n, h, w, ci, co, k);
    compare_arrays(what, db2, db1, Sb, (size_t)co, mw);
    if (nullcheck) {
        /* din, dwt, dbias may each be NULL; what is computed must not change */
        float *dw3 = fbuf(nw), *db3 = fbuf((size_t)co), *din3 = fbuf(nin);
        memset(dw3, 0, nw * sizeof(float));
        memset(db3, 0, (size_t)co * sizeof(float));
        cae_conv2d_backward(NULL, dw3, db3, dpre, in, wt, n, h, w, ci, co, k, work);
        memset(dw2, 0, nw * sizeof(float));
        memset(db2, 0, (size_t)co * sizeof(float));
        cae_conv2d_backward(din2, dw2, db2, dpre, in, wt, n, h, w, ci, co, k, work);
        check(memcmp(dw3, dw2, nw * sizeof(float)) == 0 && memcmp(db3, db2, (size_t)co * sizeof(float)) == 0,
              "backward with din NULL changes dwt/dbias (%s)", what);
        cae_conv2d_backward(din3, NULL, NULL, dpre, in, wt, n, h, w, ci, co, k, work);
        check(memcmp(din3, din2, nin * sizeof(float)) == 0, "backward with dwt, dbias NULL changes din (%s)", what);
        cae_conv2d_backward_ref(NULL, dw3, NULL, dpre, in, wt, n, h, w, ci, co, k); /* no crash */
        free(dw3), free(db3), free(din3);
    }
    free(in), free(wt), free(bias), free(o1), free(o2), free(dpre), free(din1), free(din2), free(work);
    free(dw1), free(dw2), free(db1), free(db2), free(Sw), free(Sb);
}

static void test_fast_vs_ref(void)
{
    static const int chs[9] = {1, 3, 5, 8, 16, 17, 32, 33, 64};
    static const int hh[5] = {1, 3, 7, 14, 28}, ww[5] = {1, 5, 7, 14, 28};
    static const int ks[5] = {3, 1, 2, 5, 3};
    /* the lab model's five convolutions */
    static const int lab[5][4] = {{28, 28, 1, 32}, {14, 14, 32, 64}, {7, 7, 64, 64}, {14, 14, 64, 32}, {28, 28, 32, 1}};
    cae_rng r = cae_rng_seed(3);
    maxerr mf, mb, mw;
    int i, cases = 0;
    memset(&mf, 0, sizeof mf);
    memset(&mb, 0, sizeof mb);
    memset(&mw, 0, sizeof mw);
    group_begin("fast-vs-ref");
    for (i = 0; i < 45; i++) {
        /* every input channel count with every image size; the rest drawn */
        int ci = chs[i % 9], img = (i / 9) % 5, co = chs[cae_rng_below(&r, 9)], k = ks[cae_rng_below(&r, 5)];
        int n = 1 + cae_rng_below(&r, 3), h = hh[img], w = ww[img];
        /* keep each case under ~12M multiply-adds so the whole run stays short */
        while ((double)n * h * w * ci * co * k * k > 12e6) {
            if (n > 1)
                n--;
            else if (k > 3)
                k = 3;
            else
                co = co > 1 ? co / 2 : 1;
        }
        fast_vs_ref_case(n, h, w, ci, co, k, i % 3, i % 7 == 0, &r, &mf, &mb, &mw);
        cases++;
    }
    for (i = 0; i < 5; i++, cases++)
        fast_vs_ref_case(2, lab[i][0], lab[i][1], lab[i][2], lab[i][3], 3, i == 4 ? CAE_ACT_SIGMOID : CAE_ACT_RELU, i == 2,
                         &r, &mf, &mb, &mw);
    /* channel counts the SIMD kernels special-case: multiples of 8 in, 16 or 1 out (Winograd
       for 3x3 both ways, 6x16 blocks, one-channel dot products), on odd and even sizes */
    {
        static const int cin[4] = {8, 16, 32, 64}, cout[4] = {1, 16, 32, 64};
        int a, b, c;
        for (a = 0; a < 4; a++)
            for (b = 0; b < 4; b++)
                for (c = 0; c < 4; c++, cases++) {
                    int ci = cin[a], co = cout[b], n = c < 2 ? 2 : 1;
                    if (c == 3 && ci * co > 1024) co /= 4; /* 14x14: keep it short */
                    fast_vs_ref_case(n, hh[c], ww[c] + (c == 3), ci, co, 3, (a + b + c) % 3, 0, &r, &mf, &mb, &mw);
                }
        for (a = 0; a < 4; a++)
            for (b = 0; b < 3; b++, cases++) {
                static const int kk[3] = {1, 2, 5};
                fast_vs_ref_case(1, 7, 7, cin[a], b == 1 ? 16 : 1, kk[b], b, 0, &r, &mf, &mb, &mw);
            }
    }
    group_end("%d cases (%s kernels), max |fast-ref| and its ratio to 1e-5+1e-4*|ref|: forward %.3g (%.3f), din %.3g "
              "(%.3f), dwt/dbias %.3g (%.3f; %.2f float ulps of sum|terms|, limit 16)",
              cases, cae_simd_name(), mf.abs, mf.ratio, mb.abs, mb.ratio, mw.abs, mw.ratio, mw.sum_ratio);
}

/* Pooling, upsampling and ReLU: the SIMD versions must give exactly the reference's values
   (they add the same numbers in the same order), argmax included, on channel counts with and
   without a tail past the last multiple of 8 and on odd sizes; ReLU also on NaN, -0 and +-inf. */
static void test_layers_fast_vs_ref(void)
{
    static const int chs[6] = {1, 3, 8, 13, 32, 64}, hs[5] = {1, 2, 3, 7, 14}, ws[5] = {1, 5, 4, 7, 14};
    cae_rng r = cae_rng_seed(11);
    int a, b, cases = 0;
    group_begin("layers-simd");
    for (a = 0; a < 6; a++)
        for (b = 0; b < 5; b++, cases++) {
            int n = 2, c = chs[a], h = hs[b], w = ws[(b + a) % 5], oh = (h + 1) / 2, ow = (w + 1) / 2;
            size_t ni = (size_t)n * h * w * c, np = (size_t)n * oh * ow * c, nu = 4 * ni, i;
            float *x = (float *)malloc(sizeof(float) * nu), *p1 = (float *)malloc(sizeof(float) * nu);
            float *p2 = (float *)malloc(sizeof(float) * nu), *g = (float *)malloc(sizeof(float) * nu);
            int *a1 = (int *)malloc(sizeof(int) * np), *a2 = (int *)malloc(sizeof(int) * np);
            size_t bad = 0, bada = 0;
            for (i = 0; i < nu; i++) {
                /* a coarse grid of values, so that ties inside a window happen */
                x[i] = (float)(cae_rng_below(&r, 7) - 3) * 0.5f;
                g[i] = cae_rng_uniform(&r) - 0.5f;
            }
            cae_maxpool2d_forward_ref(p1, a1, x, n, h, w, c);
            cae_maxpool2d_forward(p2, a2, x, n, h, w, c);
            for (i = 0; i < np; i++) bad += p1[i] != p2[i], bada += a1[i] != a2[i];
            check(!bad && !bada, "maxpool forward %dx%dx%d: %zu values and %zu argmax differ", h, w, c, bad, bada);
            cae_maxpool2d_backward_ref(p1, g, a1, n, h, w, c);
            memset(p2, 0x7f, sizeof(float) * ni); /* the fast path must write every element */
            cae_maxpool2d_backward(p2, g, a1, n, h, w, c);
            for (i = 0, bad = 0; i < ni; i++) bad += p1[i] != p2[i];
            check(!bad, "maxpool backward %dx%dx%d: %zu of %zu differ", h, w, c, bad, ni);
            cae_upsample2d_forward_ref(p1, x, n, h, w, c);
            cae_upsample2d_forward(p2, x, n, h, w, c);
            for (i = 0, bad = 0; i < nu; i++) bad += p1[i] != p2[i];
            check(!bad, "upsample forward %dx%dx%d: %zu of %zu differ", h, w, c, bad, nu);
            cae_upsample2d_backward_ref(p1, g, n, h, w, c);
            cae_upsample2d_backward(p2, g, n, h, w, c);
            for (i = 0, bad = 0; i < ni; i++) bad += p1[i] != p2[i];
            check(!bad, "upsample backward %dx%dx%d: %zu of %zu differ", h, w, c, bad, ni);
            free(x), free(p1), free(p2), free(g), free(a1), free(a2);
        }
    {
        float x[37], y1[37], y2[37], d[37], d1[37], d2[37];
        int i, bad = 0;
        for (i = 0; i < 37; i++) x[i] = (float)(i % 9) - 4.0f, d[i] = (float)i;
        x[3] = 0.0f / 0.0f, x[5] = -0.0f, x[8] = 1.0f / 0.0f, x[20] = -1.0f / 0.0f, x[30] = 0.0f / 0.0f;
        cae_relu_forward_ref(y1, x, 37);
        cae_relu_forward(y2, x, 37);
        for (i = 0; i < 37; i++) bad += memcmp(y1 + i, y2 + i, sizeof(float)) != 0;
        check(!bad, "relu forward: %d of 37 differ bitwise (NaN, -0, inf included)", bad);
        cae_relu_backward_ref(d1, d, x, 37);
        cae_relu_backward(d2, d, x, 37);
        for (i = 0, bad = 0; i < 37; i++) bad += d1[i] != d2[i];
        check(!bad, "relu backward: %d of 37 differ", bad);
        cases++;
    }
    group_end("%d cases (%s kernels), all bit-identical", cases, cae_simd_name());
}

/* ================================================================ 4. losses */

typedef struct loss_ctx {
    int kind; /* 0 bce_logits, 1 bce, 2 mse */
    float *x, *t;
    size_t n;
} loss_ctx;

static double loss_L(void *p)
{
    loss_ctx *c = (loss_ctx *)p;
    if (c->kind == 0) return cae_bce_logits(c->x, c->t, c->n, NULL, 0.0f);
    if (c->kind == 1) return cae_bce(c->x, c->t, c->n, NULL, 0.0f);
    return cae_mse(c->x, c->t, c->n, NULL, 0.0f);
}

static void test_losses(void)
{
    static const float ts[4] = {0.0f, 1.0f, 0.3f, 0.5f};
    const float scale = 0.25f;
    cae_rng r = cae_rng_seed(4);
    gstat st;
    int j, ti;
    memset(&st, 0, sizeof st);
    group_begin("losses");
    /* BCE from logits: value max(z,0) - z t + log(1 + exp(-|z|)) in double; gradient
       (sigmoid(z) - t) * scale; finite at +-100 */
    for (ti = 0; ti < 4; ti++) {
        float z[128], t[128], g[128];
        int nz = 0;
        double sum = 0.0, got;
        for (j = -60; j <= 60; j++) z[nz++] = 0.5f * (float)j;
        z[nz++] = 100.0f, z[nz++] = -100.0f, z[nz++] = 88.5f, z[nz++] = -88.5f, z[nz++] = 1e-3f;
        for (j = 0; j < nz; j++) t[j] = ts[ti];
        got = cae_bce_logits(z, t, (size_t)nz, g, scale);
        for (j = 0; j < nz; j++) {
            double zd = z[j], td = t[j];
            double want = (zd > 0 ? zd : 0.0) - zd * td + log1p(exp(-fabs(zd)));
            double one = cae_bce_logits(z + j, t + j, 1, NULL, 0.0f);
            sum += want;
            check(one == one && fabs(one) < 1e30 && g[j] == g[j] && fabs(g[j]) < 1e30,
                  "bce_logits z=%g t=%g not finite: %g, grad %g", z[j], t[j], one, g[j]);
            check_close(one, want, 1e-6, 1e-6, "bce_logits value z=%g t=%g", z[j], t[j]);
            check_close(g[j], (sigmoid_d(zd) - td) * scale, 1e-7, 1e-6, "bce_logits grad z=%g t=%g scale %g", z[j],
                        t[j], scale);
        }
        check_close(got, sum, 1e-5, 1e-6, "bce_logits sum over %d values, t=%g", nz, ts[ti]);
    }
    /* BCE from probabilities, clipped to [1e-7, 1-1e-7] as Keras: p = 0 and 1 give the
       clipped (finite) values; the clip has zero slope outside */
    {
        static const float ps[10] = {0.0f, 1e-9f, 1e-7f, 0.01f, 0.3f, 0.5f, 0.9f, 0.99f, 1.0f, 1.5f};
        const float lo = 1e-7f, hi = 1.0f - 1e-7f;
        for (ti = 0; ti < 4; ti++)
            for (j = 0; j < 10; j++) {
                float p = ps[j], t = ts[ti], g = 7.0f;
                float q = p < lo ? lo : p > hi ? hi : p;
                double qd = q, want = -(t * log(qd) + (1.0 - t) * log(1.0 - qd));
                double wg = (p < lo || p > hi) ? 0.0 : (qd - t) / (qd * (1.0 - qd)) * scale;
                double got = cae_bce(&p, &t, 1, &g, scale);
                check(got == got && fabs(got) < 1e30 && g == g && fabs(g) < 1e30, "bce p=%g t=%g not finite: %g, grad %g",
                      p, t, got, g);
                check_close(got, want, 1e-6, 1e-6, "bce value p=%g t=%g (clipped to %.9g)", p, t, q);
                check_close(g, wg, 1e-6, 1e-5, "bce grad p=%g t=%g scale %g", p, t, scale);
            }
        {
            float p0 = 0.0f, p1 = 1.0f, t0 = 0.0f, t1 = 1.0f;
            double want = -log((double)1e-7f);
            check_close(cae_bce(&p0, &t1, 1, NULL, 0), want, 1e-6, 1e-6, "bce(p=0, t=1) = -log(1e-7)");
            check_close(cae_bce(&p1, &t0, 1, NULL, 0), -log(1.0 - (double)hi), 1e-6, 1e-6,
                        "bce(p=1, t=0) = -log(1 - (1-1e-7))");
        }
    }
    /* MSE: sum (y-t)^2, gradient 2 (y-t) scale */
    {
        float y[50], t[50], g[50];
        double want = 0.0, got;
        fill_u(y, 50, &r, -2, 2);
        fill_u(t, 50, &r, 0, 1);
        got = cae_mse(y, t, 50, g, scale);
        for (j = 0; j < 50; j++) {
            double d = (double)y[j] - t[j];
            want += d * d;
            check_close(g[j], 2.0 * d * scale, 1e-7, 1e-6, "mse grad y=%g t=%g", y[j], t[j]);
        }
        check_close(got, want, 1e-6, 1e-6, "mse sum of 50");
    }
    /* all three gradients (scale 1) against central differences */
    for (ti = 0; ti < 3; ti++) {
        static const char *names[3] = {"bce_logits", "bce", "mse"};
        float x[40], t[40], g[40];
        loss_ctx c;
        if (ti == 1)
            fill_u(x, 40, &r, 0.05f, 0.95f);
        else
            fill_u(x, 40, &r, -6, 6);
        fill_u(t, 40, &r, 0, 1);
        t[0] = 0.0f, t[1] = 1.0f;
        c.kind = ti, c.x = x, c.t = t, c.n = 40;
        if (ti == 0) cae_bce_logits(x, t, 40, g, 1.0f);
        if (ti == 1) cae_bce(x, t, 40, g, 1.0f);
        if (ti == 2) cae_mse(x, t, 40, g, 1.0f);
        grad_check(names[ti], loss_L, &c, x, g, 40, 40, ti == 1 ? 1e-3f : 1e-2f, 2e-3, 2e-2, 0, &r, &st);
    }
    group_end("finite differences: %d coords, worst err/tol %.3f", st.checked, st.worst);
}

/* ================================================================ 5. Adam */

static void test_adam(void)
{
    cae_adam a = cae_adam_default();
    /* the last two gradients are small enough that eps matters in the denominator */
    float p[6] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -0.75f};
    const float g1[6] = {0.1f, -0.2f, 0.0f, 3.0f, 1e-6f, -3e-7f};
    const float g2[6] = {-0.05f, -0.2f, 1.0f, 0.5f, 2e-6f, 0.0f};
    float m[6] = {0, 0, 0, 0, 0, 0}, v[6] = {0, 0, 0, 0, 0, 0};
    double P[6], M[6], V[6];
    double lr, b1, b2, eps;
    int j, step;
    group_begin("adam");
    check(a.lr == 1e-3f && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-7f && a.t == 0,
          "cae_adam_default: lr %g b1 %g b2 %g eps %g t %lld, want 1e-3 0.9 0.999 1e-7 0", a.lr, a.beta1, a.beta2,
          a.eps, a.t);
    lr = a.lr, b1 = a.beta1, b2 = a.beta2, eps = a.eps;
    for (j = 0; j < 6; j++) P[j] = p[j], M[j] = 0, V[j] = 0;
    for (step = 1; step <= 2; step++) {
        const float *g = step == 1 ? g1 : g2;
        double lr_t = lr * sqrt(1.0 - pow(b2, step)) / (1.0 - pow(b1, step));
        for (j = 0; j < 6; j++) {
            M[j] = b1 * M[j] + (1.0 - b1) * g[j];
            V[j] = b2 * V[j] + (1.0 - b2) * (double)g[j] * g[j];
            P[j] -= lr_t * M[j] / (sqrt(V[j]) + eps);
        }
        cae_adam_step(&a, p, g, m, v, 6);
        check(a.t == step, "adam t = %lld after %d steps", a.t, step);
        for (j = 0; j < 6; j++) {
            check_close(m[j], M[j], 1e-12, 1e-6, "adam step %d m[%d]", step, j);
            check_close(v[j], V[j], 1e-18, 1e-6, "adam step %d v[%d]", step, j);
            /* parameters move by ~1e-3: 1e-6 of that is far below the float spacing of p */
            check_close(p[j], P[j], 1e-7, 1e-7, "adam step %d param[%d] (g %g)", step, j, g[j]);
        }
    }
    /* step 1 by hand for p[0]: m = 0.01, v = 1e-5, lr_t = 1e-3*sqrt(1e-3)/0.1, update
       = lr_t * 0.01/(sqrt(1e-5)+1e-7) ~ 9.9997e-4: Adam's first step is ~lr in size */
    {
        float q = 0.5f, gg = 0.1f, mm = 0.0f, vv = 0.0f;
        cae_adam b = cae_adam_default();
        cae_adam_step(&b, &q, &gg, &mm, &vv, 1);
        check_close(0.5 - q, 1e-3 * 0.1 / (0.1 + 1e-7 / sqrt(1e-3)), 2e-8, 1e-4, "adam first step size for g=0.1");
    }
    group_end(NULL);
}

/* ================================================================ 6. Glorot */

static void test_glorot(void)
{
    const size_t n = 100000;
    const int fan_in = 3 * 3 * 32, fan_out = 3 * 3 * 64;
    double lim = sqrt(6.0 / (fan_in + fan_out)), mean = 0, var = 0, lo = 1, hi = -1;
    float *w = fbuf(n);
    cae_rng r = cae_rng_seed(6);
    size_t i, out = 0;
    group_begin("glorot");
    cae_glorot_uniform(w, n, fan_in, fan_out, &r);
    for (i = 0; i < n; i++) {
        if (!(fabs(w[i]) <= lim * (1 + 1e-7))) out++;
        mean += w[i];
        if (w[i] < lo) lo = w[i];
        if (w[i] > hi) hi = w[i];
    }
    mean /= (double)n;
    for (i = 0; i < n; i++) var += (w[i] - mean) * (w[i] - mean);
    var /= (double)(n - 1);
    check(out == 0, "glorot: %zu of %zu values outside +-%.6f", out, n, lim);
    /* standard error of the mean is lim/sqrt(3n); of the variance ~0.3% of lim^2/3 */
    check(fabs(mean) < 5 * lim / sqrt(3.0 * (double)n), "glorot: mean %.3g, want |mean| < %.3g", mean,
          5 * lim / sqrt(3.0 * (double)n));
    check_close(var, lim * lim / 3, 0, 0.02, "glorot: variance (want lim^2/3)");
    check(lo < -0.999 * lim && hi > 0.999 * lim, "glorot: range [%g, %g] does not reach +-%g", lo, hi, lim);
    free(w);
    group_end("lim %.5f, mean %.2e, var/(lim^2/3) %.4f", lim, mean, var / (lim * lim / 3));
}

/* ================================================================ 7. the model */

typedef struct model_ctx {
    cae_model *m;
    const float *x, *t;
    int n, loss;
} model_ctx;

/* the mean loss cae_model_evaluate reports, after a change to m->param */
static double model_L(void *p)
{
    model_ctx *c = (model_ctx *)p;
    double l = -1.0;
    cae_err e;
    cae__refresh_flips(c->m); /* the input-gradient path keeps flipped kernels */
    if (cae_model_evaluate(c->m, c->x, c->t, c->n, c->loss, &l, NULL, &e) != CAE_OK) {
        check(0, "evaluate failed: %s", e.msg);
    }
    return l;
}

/* Whole-model gradient: train_step with lr = 0 leaves the parameters where they are and the
   gradient of the mean loss in m->grad; hold it to central differences of evaluate's loss. */
static void model_grad_case(const char *title, const cae_layer_spec *specs, int ns, int h, int w, int c, int n, int loss,
                            cae_rng *r, gstat *st)
{
    cae_model *m = NULL;
    cae_err e;
    model_ctx ctx;
    size_t in_n = (size_t)h * w * c, out_n, i;
    float *x, *t, *p0, *g;
    double l0 = -1, l1 = -1;
    int rc = cae_model_create(&m, h, w, c, specs, ns, 4, 77, &e), skipped_before = st->skipped;
    if (!check(rc == CAE_OK, "%s: create failed: %s", title, e.msg)) return;
    out_n = (size_t)m->layer[ns - 1].oh * m->layer[ns - 1].ow * m->layer[ns - 1].oc;
    x = fbuf(in_n * n), t = fbuf(out_n * n);
    fill_u(x, in_n * n, r, 0, 1);
    fill_u(t, out_n * n, r, 0, 1);
    for (i = 0; i < out_n * n; i += 3) t[i] = (float)(i % 2); /* some hard 0/1 targets */
    /* random biases too, so their gradients are not at a special point */
    for (i = 0; i < (size_t)m->nlayers; i++) {
        const cae_layer *L = m->layer + i;
        if (L->kind == CAE_CONV2D) fill_u(m->param + L->poff + L->nparams - L->oc, (size_t)L->oc, r, -0.2f, 0.3f);
    }
    cae__refresh_flips(m);
    p0 = fcopy(m->param, m->nparams);
    m->adam.lr = 0.0f;
    rc = cae_model_train_step(m, x, t, n, loss, &l0, &e);
    check(rc == CAE_OK, "%s: train_step: %s", title, e.msg);
    check(memcmp(p0, m->param, m->nparams * sizeof(float)) == 0, "%s: parameters moved with lr = 0", title);
    g = fcopy(m->grad, m->nparams);
    /* thousands of tiny evaluations follow: one thread, so that a busy machine does not make
       each OpenMP region wait for a descheduled partner (results do not depend on it) */
    m->threads = 1;
    ctx.m = m, ctx.x = x, ctx.t = t, ctx.n = n, ctx.loss = loss;
    l1 = model_L(&ctx);
    check_close(l1, l0, 1e-12, 1e-9, "%s: evaluate's loss vs train_step's", title);
    /* eps 1e-3: a ReLU or pooling switch inside the step is then rare (and caught by the
       eps/2 comparison); rounding noise in the mean loss is ~1e-8, i.e. ~1e-5 in the slope */
    grad_check(title, model_L, &ctx, m->param, g, m->nparams, 300, 1e-3f, 1e-4, 2e-2, 1, r, st);
    {
        int tried = m->nparams < 300 ? (int)m->nparams : 300;
        check(st->skipped - skipped_before <= tried / 10, "%s: %d of %d coordinates skipped as kinks (more than 10%%)",
              title, st->skipped - skipped_before, tried);
    }
    free(x), free(t), free(p0), free(g);
    cae_model_free(m);
}

static void test_model(void)
{
    static const char *names[9] = {"enc_conv1",     "enc_pool1", "enc_conv2",     "enc_pool2",      "dec_conv1",
                                   "dec_upsample1", "dec_conv2", "dec_upsample2", "dec_conv_output"};
    static const int shapes[9][3] = {{28, 28, 32}, {14, 14, 32}, {14, 14, 64}, {7, 7, 64}, {7, 7, 64},
                                     {14, 14, 64}, {14, 14, 32}, {28, 28, 32}, {28, 28, 1}};
    static const size_t np[9] = {320, 0, 18496, 0, 36928, 0, 18464, 0, 289};
    int count = 0, rc, l;
    cae_model *m = NULL;
    cae_err e;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_rng r = cae_rng_seed(7);
    gstat st;
    memset(&st, 0, sizeof st);
    group_begin("model");
    check(count == 9, "cae_lab_specs: %d layers, want 9", count);
    rc = cae_model_create(&m, 28, 28, 1, specs, count, 64, 1, &e);
    if (check(rc == CAE_OK && m, "create lab model: %d %s", rc, e.msg)) {
        char *buf;
        size_t need, need2;
        char small[40];
        int li;
        check(m->nparams == 74497, "lab model nparams %zu, want 74497", m->nparams);
        check(m->nlayers == 9, "lab model nlayers %d", m->nlayers);
        for (l = 0; l < 9 && l < m->nlayers; l++) {
            const cae_layer *L = m->layer + l;
            check(L->oh == shapes[l][0] && L->ow == shapes[l][1] && L->oc == shapes[l][2],
                  "layer %d (%s) output %dx%dx%d, want %dx%dx%d", l, L->name, L->oh, L->ow, L->oc, shapes[l][0],
                  shapes[l][1], shapes[l][2]);
            check(strcmp(L->name, names[l]) == 0, "layer %d name \"%s\", want \"%s\"", l, L->name, names[l]);
            check(L->nparams == np[l], "layer %d (%s) nparams %zu, want %zu", l, names[l], L->nparams, np[l]);
        }
        li = cae_model_find(m, "enc_pool2");
        check(li == 3 && m->layer[li].oh == 7 && m->layer[li].ow == 7 && m->layer[li].oc == 64,
              "cae_model_find(enc_pool2) = %d, want 3 with 7x7x64", li);
        check(cae_model_find(m, "nope") == -1, "cae_model_find(nope) = %d, want -1", cae_model_find(m, "nope"));
        need = cae_model_summary(m, "autoencoder", NULL, 0);
        buf = (char *)xmalloc(need);
        need2 = cae_model_summary(m, "autoencoder", buf, need);
        check(need2 == need && strlen(buf) + 1 == need, "summary: needs %zu, then %zu, strlen %zu", need, need2,
              strlen(buf));
        check(strstr(buf, "Total params: 74,497") != NULL, "summary lacks \"Total params: 74,497\":\n%s", buf);
        check(strstr(buf, "autoencoder") != NULL, "summary lacks its title");
        for (l = 0; l < 9; l++) check(strstr(buf, names[l]) != NULL, "summary lacks layer name %s", names[l]);
        check(strstr(buf, "(None, 7, 7, 64)") != NULL, "summary lacks \"(None, 7, 7, 64)\"");
        memset(small, 'x', sizeof small);
        need2 = cae_model_summary(m, "autoencoder", small, sizeof small);
        check(need2 == need && small[sizeof small - 1] == 0 && strncmp(small, buf, sizeof small - 1) == 0,
              "summary into a 40-byte buffer: returned %zu (want %zu), truncated text wrong or not terminated", need2,
              need);
        free(buf);
        cae_model_free(m);
    }
    {
        /* default names count per kind, Keras style */
        const cae_layer_spec s[4] = {{CAE_CONV2D, 2, 3, CAE_ACT_RELU, NULL},
                                     {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                     {CAE_CONV2D, 1, 1, CAE_ACT_NONE, ""},
                                     {CAE_SIGMOID, 0, 0, 0, NULL}};
        static const char *want[4] = {"conv2d_1", "max_pooling2d_1", "conv2d_2", "sigmoid_1"};
        rc = cae_model_create(&m, 5, 5, 1, s, 4, 1, 1, &e);
        if (check(rc == CAE_OK, "create small model: %s", e.msg)) {
            for (l = 0; l < 4; l++)
                check(strcmp(m->layer[l].name, want[l]) == 0, "default name of layer %d: \"%s\", want \"%s\"", l,
                      m->layer[l].name, want[l]);
            check(m->layer[1].oh == 3 && m->layer[1].ow == 3, "maxpool of 5x5 gives %dx%d, want 3x3", m->layer[1].oh,
                  m->layer[1].ow);
            cae_model_free(m);
        }
    }
    {
        /* whole-model gradient checks on tiny models */
        const cae_layer_spec tiny[5] = {{CAE_CONV2D, 3, 3, CAE_ACT_RELU, NULL},
                                        {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                        {CAE_CONV2D, 4, 3, CAE_ACT_RELU, NULL},
                                        {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                        {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, NULL}};
        /* the same with separate activation layers and an even kernel */
        const cae_layer_spec split[7] = {{CAE_CONV2D, 3, 2, CAE_ACT_NONE, NULL},
                                         {CAE_RELU, 0, 0, 0, NULL},
                                         {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                         {CAE_CONV2D, 2, 3, CAE_ACT_RELU, NULL},
                                         {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                         {CAE_CONV2D, 2, 3, CAE_ACT_NONE, NULL},
                                         {CAE_SIGMOID, 0, 0, 0, NULL}};
        const cae_layer_spec wide[5] = {{CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL},
                                        {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                        {CAE_CONV2D, 8, 3, CAE_ACT_RELU, NULL},
                                        {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                        {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, NULL}};
        model_grad_case("tiny BCE", tiny, 5, 6, 6, 1, 3, CAE_LOSS_BCE, &r, &st);
        model_grad_case("tiny MSE", tiny, 5, 6, 6, 1, 3, CAE_LOSS_MSE, &r, &st);
        model_grad_case("split BCE", split, 7, 6, 6, 2, 2, CAE_LOSS_BCE, &r, &st);
        model_grad_case("split MSE", split, 7, 6, 6, 2, 2, CAE_LOSS_MSE, &r, &st);
        /* channel counts that take the SIMD paths where built (16-wide blocks, Winograd
           8->16 forward and 16->8 input gradient, one-output-channel kernels) */
        model_grad_case("wide BCE", wide, 5, 6, 6, 8, 2, CAE_LOSS_BCE, &r, &st);
    }
    group_end("model gradients: %d coords checked, %d skipped at kinks, worst err/tol %.3f (tol 1e-4 + 2e-2*|fd|)",
              st.checked, st.skipped, st.worst);
}

/* ================================================================ 8. training */

/* n deterministic 28x28 pictures: 1-3 anti-aliased strokes and sometimes a soft blob. */
static float *make_images(int n, unsigned long long seed)
{
    float *x = fbuf((size_t)n * 784);
    cae_rng r = cae_rng_seed(seed);
    int i, y, xx, s;
    memset(x, 0, (size_t)n * 784 * sizeof(float));
    for (i = 0; i < n; i++) {
        float *im = x + (size_t)i * 784;
        int strokes = 1 + cae_rng_below(&r, 3);
        for (s = 0; s < strokes; s++) {
            float ax = 4 + 20 * cae_rng_uniform(&r), ay = 4 + 20 * cae_rng_uniform(&r);
            float bx = 4 + 20 * cae_rng_uniform(&r), by = 4 + 20 * cae_rng_uniform(&r);
            float th = 1.0f + 1.2f * cae_rng_uniform(&r);
            float dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy + 1e-6f;
            for (y = 0; y < 28; y++)
                for (xx = 0; xx < 28; xx++) {
                    float u = ((xx - ax) * dx + (y - ay) * dy) / l2, px, py, d, v;
                    u = u < 0 ? 0 : u > 1 ? 1 : u;
                    px = ax + u * dx - xx, py = ay + u * dy - y;
                    d = sqrtf(px * px + py * py);
                    v = th - d;
                    v = v < 0 ? 0 : v > 1 ? 1 : v;
                    if (v > im[y * 28 + xx]) im[y * 28 + xx] = v;
                }
        }
        if (cae_rng_below(&r, 2)) {
            float cx = 6 + 16 * cae_rng_uniform(&r), cy = 6 + 16 * cae_rng_uniform(&r), rad = 2 + 3 * cae_rng_uniform(&r);
            for (y = 0; y < 28; y++)
                for (xx = 0; xx < 28; xx++) {
                    float d2 = ((xx - cx) * (xx - cx) + (y - cy) * (y - cy)) / (rad * rad);
                    float v = expf(-d2);
                    if (v > im[y * 28 + xx]) im[y * 28 + xx] = v;
                }
        }
    }
    return x;
}

/* mean loss over n images, evaluated in chunks of the model's batch size */
static double eval_all(cae_model *m, const float *x, int n, int loss)
{
    double total = 0.0, l;
    cae_err e;
    int i;
    for (i = 0; i < n; i += m->max_batch) {
        int b = n - i < m->max_batch ? n - i : m->max_batch;
        if (!check(cae_model_evaluate(m, x + (size_t)i * 784, x + (size_t)i * 784, b, loss, &l, NULL, &e) == CAE_OK,
                   "evaluate: %s", e.msg))
            return -1.0;
        total += l * b;
    }
    return total / n;
}

/* 256 images, 4 steps: the scalar kernels (any build without -mavx2 -mfma) do ~1e9
   multiply-adds a second, and this group alone is then ~12 CPU-seconds. The loss drops ~15%. */
#ifndef TRAIN_N
#define TRAIN_N 256
#endif

static void test_training(void)
{
    int count, step, rc;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_model *m = NULL;
    cae_err e;
    float *x = make_images(TRAIN_N, 8);
    double before, after, l = 0;
    group_begin("training");
    rc = cae_model_create(&m, 28, 28, 1, specs, count, 64, 42, &e);
    if (!check(rc == CAE_OK, "create: %s", e.msg)) {
        free(x);
        group_end(NULL);
        return;
    }
    before = eval_all(m, x, TRAIN_N, CAE_LOSS_BCE);
    for (step = 0; step < TRAIN_N / 64; step++) { /* one pass over the images */
        const float *b = x + (size_t)step * 64 * 784;
        rc = cae_model_train_step(m, b, b, 64, CAE_LOSS_BCE, &l, &e);
        check(rc == CAE_OK && l == l, "train_step %d: rc %d loss %g %s", step, rc, l, rc ? e.msg : "");
    }
    after = eval_all(m, x, TRAIN_N, CAE_LOSS_BCE);
    check(after < 0.9 * before, "training %d steps: BCE %.5f -> %.5f, want a drop of at least 10%%", TRAIN_N / 64,
          before, after);
    check(m->adam.t == TRAIN_N / 64, "adam.t = %lld after %d steps", m->adam.t, TRAIN_N / 64);
    group_end("BCE on the %d images %.4f -> %.4f after %d steps of 64 (lr 1e-3)", TRAIN_N, before, after, TRAIN_N / 64);
    cae_model_free(m);
    free(x);
}

/* ================================================================ 9. determinism */

/* A small model for the determinism checks: it takes the same kinds of kernels as the lab
   model (16-wide blocks, Winograd, one output channel) at a fraction of the cost. */
static const cae_layer_spec det_specs[5] = {{CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL},
                                            {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                            {CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL},
                                            {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                            {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, NULL}};

static cae_model *trained(unsigned long long seed, int threads, const float *x, int n, int steps)
{
    int s;
    cae_model *m = NULL;
    cae_err e;
    if (!check(cae_model_create(&m, 28, 28, 1, det_specs, 5, 64, seed, &e) == CAE_OK, "create: %s", e.msg)) return NULL;
    m->threads = threads;
    for (s = 0; s < steps; s++)
        check(cae_model_train_step(m, x + (size_t)s * n * 784, x + (size_t)s * n * 784, n, CAE_LOSS_BCE, NULL, &e) ==
                  CAE_OK,
              "train_step: %s", e.msg);
    return m;
}

static void test_determinism(void)
{
    float *x = make_images(2 * 37, 9);
    cae_model *a, *b, *c = NULL;
    cae_err e;
    group_begin("determinism");
    a = trained(5, 0, x, 37, 2);
    b = trained(5, 0, x, 37, 2);
    if (a && b) {
        check(memcmp(a->param, b->param, a->nparams * sizeof(float)) == 0, "same seed and batches, different parameters");
        check(memcmp(a->m, b->m, a->nparams * sizeof(float)) == 0 && memcmp(a->v, b->v, a->nparams * sizeof(float)) == 0,
              "same seed and batches, different Adam moments");
    }
    cae_model_free(a);
    cae_model_free(b);
    a = b = NULL;
    if (check(cae_model_create(&a, 28, 28, 1, det_specs, 5, 8, 5, &e) == CAE_OK, "create: %s", e.msg) &&
        check(cae_model_create(&b, 28, 28, 1, det_specs, 5, 64, 5, &e) == CAE_OK, "create: %s", e.msg) &&
        check(cae_model_create(&c, 28, 28, 1, det_specs, 5, 8, 6, &e) == CAE_OK, "create: %s", e.msg)) {
        size_t i, same = 0;
        check(memcmp(a->param, b->param, a->nparams * sizeof(float)) == 0,
              "same seed, different batch size: different initial weights");
        for (i = 0; i < a->nparams; i++) same += a->param[i] == c->param[i];
        /* only the zero biases (16+16+1 = 33) may agree */
        check(same == 33, "seeds 5 and 6: %zu of %zu initial values equal, want only the 33 zero biases", same,
              a->nparams);
        cae_model_free(c);
    }
    cae_model_free(a);
    cae_model_free(b);
#ifdef _OPENMP
    a = trained(5, 1, x, 37, 2);
    b = trained(5, 2, x, 37, 2);
    if (a && b)
        check(memcmp(a->param, b->param, a->nparams * sizeof(float)) == 0,
              "OpenMP: 1 and 2 threads give different parameters");
    cae_model_free(a);
    cae_model_free(b);
    group_end("OpenMP: 1 vs 2 threads compared");
#else
    group_end("no OpenMP: thread-count check not built");
#endif
    free(x);
}

/* ================================================================ 10. batch-size consistency */

static void test_batch_consistency(void)
{
    const int n = 5;
    int count, i, L;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_model *m = NULL;
    cae_err e;
    float *x = make_images(n, 10), *all, *one, mse_all[5], mse_one;
    double lall = 0, lone, sum = 0;
    size_t out_n = 784, lat_n = 7 * 7 * 64;
    group_begin("batch");
    if (!check(cae_model_create(&m, 28, 28, 1, specs, count, 16, 11, &e) == CAE_OK, "create: %s", e.msg)) {
        free(x);
        group_end(NULL);
        return;
    }
    /* non-zero biases so nothing is trivially zero */
    for (i = 0; i < 9; i++)
        if (m->layer[i].kind == CAE_CONV2D) {
            cae_rng r = cae_rng_seed((unsigned long long)i);
            fill_u(m->param + m->layer[i].poff + m->layer[i].nparams - m->layer[i].oc, (size_t)m->layer[i].oc, &r, -0.1f,
                   0.1f);
        }
    cae__refresh_flips(m);
    all = fbuf(n * out_n), one = fbuf(out_n);
    check(cae_model_predict(m, x, n, all, &e) == CAE_OK, "predict: %s", e.msg);
    check(cae_model_evaluate(m, x, x, n, CAE_LOSS_BCE, &lall, mse_all, &e) == CAE_OK, "evaluate: %s", e.msg);
    for (i = 0; i < n; i++) {
        check(cae_model_predict(m, x + (size_t)i * 784, 1, one, &e) == CAE_OK, "predict 1: %s", e.msg);
        check(memcmp(one, all + (size_t)i * out_n, out_n * sizeof(float)) == 0,
              "predict: image %d alone differs from image %d of a batch of %d", i, i, n);
        check(cae_model_evaluate(m, x + (size_t)i * 784, x + (size_t)i * 784, 1, CAE_LOSS_BCE, &lone, &mse_one, &e) ==
                  CAE_OK,
              "evaluate 1: %s", e.msg);
        sum += lone;
        check(mse_one == mse_all[i], "evaluate: per-image mse of image %d alone %.9g, in a batch %.9g", i, mse_one,
              mse_all[i]);
        {
            double want = 0;
            size_t j;
            for (j = 0; j < out_n; j++) {
                double d = (double)one[j] - x[(size_t)i * 784 + j];
                want += d * d;
            }
            check_close(mse_one, want / out_n, 1e-9, 1e-5, "evaluate: mse of image %d vs its prediction", i);
        }
    }
    check_close(lall, sum / n, 1e-6, 0, "evaluate: loss of a batch of %d vs the mean of one at a time", n);
    free(all);
    free(one);
    /* encode at the bottleneck, batch vs one at a time */
    L = cae_model_find(m, "enc_pool2");
    all = fbuf(n * lat_n), one = fbuf(lat_n);
    check(cae_model_encode(m, L, x, n, all, &e) == CAE_OK, "encode: %s", e.msg);
    for (i = 0; i < n; i++) {
        check(cae_model_encode(m, L, x + (size_t)i * 784, 1, one, &e) == CAE_OK, "encode 1: %s", e.msg);
        check(memcmp(one, all + (size_t)i * lat_n, lat_n * sizeof(float)) == 0,
              "encode: image %d alone differs from the batch", i);
    }
    check(!all_zero(all, n * lat_n), "encode: latent all zero");
    free(all);
    free(one);
    free(x);
    cae_model_free(m);
    group_end(NULL);
}

/* ================================================================ 11. save and load */

static char g_msg[320]; /* the message of the last load_fails */

static int load_fails(const char *path, const char *what, int want1, int want2)
{
    cae_model *m = (cae_model *)(void *)&g_checks; /* must be set to NULL */
    cae_err e;
    int rc;
    e.code = 0, e.msg[0] = 0;
    rc = cae_model_load(&m, path, 4, &e);
    check(rc == want1 || rc == want2, "%s: load returned %d %s (%s), want %s%s%s", what, rc, cae_strerror(rc), e.msg,
          cae_strerror(want1), want2 != want1 ? " or " : "", want2 != want1 ? cae_strerror(want2) : "");
    check(m == NULL, "%s: *out not NULL after a failed load", what);
    check(e.msg[0] != 0 && e.code == rc, "%s: no message (code %d, returned %d)", what, e.code, rc);
    memcpy(g_msg, e.msg, sizeof g_msg);
    if (rc == CAE_OK) cae_model_free(m);
    return rc;
}

static void test_save_load(void)
{
    const cae_layer_spec tiny[5] = {{CAE_CONV2D, 3, 3, CAE_ACT_RELU, "c1"},
                                    {CAE_MAXPOOL2D, 0, 0, 0, "p1"},
                                    {CAE_CONV2D, 4, 3, CAE_ACT_RELU, "c2"},
                                    {CAE_UPSAMPLE2D, 0, 0, 0, "u1"},
                                    {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "out"}};
    char path[512], path2[512], tmpdir[600], trunc[512];
    int count, rc, l;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_model *m = NULL, *m2 = NULL;
    cae_err e;
    float *x = make_images(4, 12), *p1 = fbuf(4 * 784), *p2 = fbuf(4 * 784);
    unsigned char *b = NULL, *c;
    size_t len = 0, i;
    group_begin("save/load");
    tmp_path(path, sizeof path, "lab.cae");
    tmp_path(path2, sizeof path2, "tiny.cae");
    tmp_path(trunc, sizeof trunc, "cut.cae");
    /* the lab model: save, load, same predictions bit for bit */
    rc = cae_model_create(&m, 28, 28, 1, specs, count, 4, 13, &e);
    if (check(rc == CAE_OK, "create: %s", e.msg)) {
        m->adam.lr = 1e-2f;
        cae_model_train_step(m, x, x, 4, CAE_LOSS_BCE, NULL, &e); /* non-zero biases */
        rc = cae_model_save(m, path, &e);
        check(rc == CAE_OK, "save %s: %s", path, e.msg);
        rc = cae_model_load(&m2, path, 4, &e);
        if (check(rc == CAE_OK && m2, "load %s: %d %s", path, rc, e.msg)) {
            check(m2->nparams == m->nparams && memcmp(m2->param, m->param, m->nparams * sizeof(float)) == 0,
                  "loaded parameters differ");
            check(m2->nlayers == m->nlayers && m2->h == 28 && m2->w == 28 && m2->c == 1, "loaded shape differs");
            for (l = 0; l < m->nlayers && l < m2->nlayers; l++)
                check(strcmp(m->layer[l].name, m2->layer[l].name) == 0 && m->layer[l].act == m2->layer[l].act &&
                          m->layer[l].oc == m2->layer[l].oc,
                      "loaded layer %d differs (%s vs %s)", l, m2->layer[l].name, m->layer[l].name);
            cae_model_predict(m, x, 4, p1, &e);
            cae_model_predict(m2, x, 4, p2, &e);
            check(memcmp(p1, p2, 4 * 784 * sizeof(float)) == 0, "predictions after load differ");
            cae_model_free(m2);
            m2 = NULL;
        }
        /* failed saves: a missing folder; a target whose .tmp sibling cannot be created */
        {
            char missing[600];
            snprintf(missing, sizeof missing, "%s/test_core_%s_no_such_dir/m.cae", g_tmpdir, g_tag);
            e.msg[0] = 0;
            rc = cae_model_save(m, missing, &e);
            check(rc == CAE_ERR_IO && e.msg[0], "save into a missing folder: %d (%s), want CAE_ERR_IO", rc, e.msg);
        }
        snprintf(tmpdir, sizeof tmpdir, "%s.tmp", path);
        check(test_mkdir(tmpdir) == 0, "cannot make %s for the test", tmpdir);
        m->adam.lr = 1e-2f;
        cae_model_train_step(m, x, x, 4, CAE_LOSS_BCE, NULL, &e); /* now differs from the file */
        e.msg[0] = 0;
        rc = cae_model_save(m, path, &e);
        check(rc == CAE_ERR_IO && e.msg[0], "save with %s a folder: %d (%s), want CAE_ERR_IO", tmpdir, rc, e.msg);
        remove(tmpdir);
        rc = cae_model_load(&m2, path, 4, &e);
        if (check(rc == CAE_OK && m2, "the old file does not load after a failed save: %d %s", rc, e.msg)) {
            cae_model_predict(m2, x, 4, p2, &e);
            check(memcmp(p1, p2, 4 * 784 * sizeof(float)) == 0, "the old file changed after a failed save");
            cae_model_free(m2);
            m2 = NULL;
        }
        cae_model_free(m);
        m = NULL;
    }
    remove(path);
    /* a small model for the damaged files */
    rc = cae_model_create(&m, 6, 6, 1, tiny, 5, 4, 14, &e);
    if (check(rc == CAE_OK, "create tiny: %s", e.msg) &&
        check(cae_model_save(m, path2, &e) == CAE_OK, "save tiny: %s", e.msg) &&
        check((b = read_bytes(path2, &len)) != NULL && len == 28 + 5 * 48 + 8 + 4 * m->nparams + 4,
              "tiny file: %zu bytes, want %zu", len, 28 + 5 * 48 + 8 + 4 * m->nparams + 4)) {
        int ok_all = 1;
        /* every truncation fails cleanly. The parser (cae__load_buf, internal) gets each prefix
           in a buffer of exactly that size, so a sanitizer sees any read past the end; a few
           lengths also go through real files (writing ~1000 files is slow on some disks). */
        for (i = 0; i < len; i++) {
            int r2;
            cae_model *t = NULL;
            unsigned char *cut = (unsigned char *)xmalloc(i);
            memcpy(cut, b, i);
            e.msg[0] = 0;
            r2 = cae__load_buf(&t, cut, i, "cut", 4, &e);
            free(cut);
            if (!(r2 == CAE_ERR_FORMAT || r2 == CAE_ERR_IO) || t != NULL || !e.msg[0]) {
                ok_all = 0;
                check(0, "file cut to %zu of %zu bytes: parser returned %d (%s)", i, len, r2, e.msg);
                if (r2 == CAE_OK) cae_model_free(t);
            }
        }
        check(ok_all, "truncated files");
        {
            const size_t cuts[8] = {0, 1, 8, 27, 28 + 48, len / 2, len - 4, len - 1};
            int q;
            for (q = 0; q < 8; q++) {
                char what[64];
                write_bytes(trunc, b, cuts[q]);
                snprintf(what, sizeof what, "file cut to %zu of %zu bytes", cuts[q], len);
                load_fails(trunc, what, CAE_ERR_FORMAT, CAE_ERR_IO);
            }
        }
        c = (unsigned char *)xmalloc(len + 8);
        /* one flipped byte in the parameters: the CRC catches it */
        memcpy(c, b, len);
        c[len / 2] ^= 0x10;
        write_bytes(trunc, c, len);
        if (load_fails(trunc, "flipped byte", CAE_ERR_FORMAT, CAE_ERR_FORMAT) == CAE_ERR_FORMAT)
            check(strstr(g_msg, "CRC") != NULL, "flipped byte: message does not mention the CRC: %s", g_msg);
        /* flipped CRC itself */
        memcpy(c, b, len);
        c[len - 1] ^= 1;
        write_bytes(trunc, c, len);
        load_fails(trunc, "damaged CRC", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        /* wrong magic (CRC recomputed) */
        memcpy(c, b, len);
        c[0] = 'X';
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "wrong magic", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        /* version 2 */
        memcpy(c, b, len);
        put32(c + 8, 2);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "version 2", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        /* absurd layer counts, CRC recomputed so the layer check is what fails */
        {
            static const unsigned long counts[4] = {0, 33, 0x7FFFFFFFUL, 0xFFFFFFFFUL};
            int q;
            for (q = 0; q < 4; q++) {
                char what[64];
                memcpy(c, b, len);
                put32(c + 24, counts[q]);
                fix_crc(c, len);
                write_bytes(trunc, c, len);
                snprintf(what, sizeof what, "layer count %lu", counts[q]);
                if (load_fails(trunc, what, CAE_ERR_FORMAT, CAE_ERR_FORMAT) == CAE_ERR_FORMAT)
                    check(strstr(g_msg, "layers") != NULL, "%s: message does not say so: %s", what, g_msg);
            }
            /* 6 layers claimed but 5 stored: the table runs into the parameters */
            memcpy(c, b, len);
            put32(c + 24, 6);
            fix_crc(c, len);
            write_bytes(trunc, c, len);
            load_fails(trunc, "layer count 6 of 5", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        }
        /* absurd input size, absurd filter count, wrong parameter count, extra bytes */
        memcpy(c, b, len);
        put32(c + 12, 100000);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "input height 100000", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        memcpy(c, b, len);
        put32(c + 28 + 4, 0xFFFFFFF0UL);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "filters 0xFFFFFFF0", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        memcpy(c, b, len);
        put32(c + 28 + 5 * 48, (unsigned long)m->nparams + 1);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "parameter count + 1", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        memcpy(c, b, len);
        put32(c + 28 + 5 * 48 + 4, 1);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "parameter count + 2^32", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        memcpy(c, b, len - 4);
        memset(c + len - 4, 0, 4);
        len += 4;
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "4 extra bytes", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        len -= 4;
        /* a layer table that describes a different model of the same file length: ksize 3 -> 1
           in the last conv changes the parameter count */
        memcpy(c, b, len);
        put32(c + 28 + 4 * 48 + 8, 1);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "kernel size changed", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        /* a semantically bad layer (unknown kind 9, conv with 0 filters) is a bad file */
        memcpy(c, b, len);
        put32(c + 28, 9);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "unknown layer kind 9", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        memcpy(c, b, len);
        put32(c + 28 + 4, 0);
        fix_crc(c, len);
        write_bytes(trunc, c, len);
        load_fails(trunc, "conv with 0 filters", CAE_ERR_FORMAT, CAE_ERR_FORMAT);
        /* missing file; max_batch 0 */
        remove(trunc);
        load_fails(trunc, "missing file", CAE_ERR_IO, CAE_ERR_IO);
        load_fails(path2 + strlen(path2), "empty path", CAE_ERR_IO, CAE_ERR_ARG);
        {
            cae_model *t = NULL;
            rc = cae_model_load(&t, path2, 0, &e);
            check(rc == CAE_ERR_ARG && t == NULL, "load with max_batch 0: %d, want CAE_ERR_ARG", rc);
            if (t) cae_model_free(t);
        }
        free(c);
    }
    free(b);
    remove(path2);
    remove(trunc);
    cae_model_free(m);
    free(x), free(p1), free(p2);
    group_end(NULL);
}

/* ================================================================ 12. bad arguments */

static void expect_create_fails(const char *what, int want, int h, int w, int c, const cae_layer_spec *s, int ns,
                                int batch)
{
    cae_model *m = (cae_model *)(void *)&g_checks;
    cae_err e;
    int rc;
    e.code = 0, e.msg[0] = 0;
    rc = cae_model_create(&m, h, w, c, s, ns, batch, 1, &e);
    check(rc == want, "create with %s: returned %d (%s), want %d (%s)", what, rc, e.msg, want, cae_strerror(want));
    check(m == NULL, "create with %s: *out not NULL", what);
    check(e.code == rc && e.msg[0] != 0, "create with %s: error code %d, message \"%s\"", what, e.code, e.msg);
    if (rc == CAE_OK && m) cae_model_free(m);
}

static void test_bad_args(void)
{
    cae_layer_spec s[34];
    cae_model *m = NULL;
    cae_err e;
    float x[2 * 36], out[2 * 36];
    double l;
    int i, rc;
    group_begin("bad args");
    for (i = 0; i < 34; i++) {
        s[i].kind = CAE_RELU, s[i].filters = 0, s[i].ksize = 0, s[i].act = 0, s[i].name = NULL;
    }
    expect_create_fails("0 layers", CAE_ERR_ARG, 28, 28, 1, s, 0, 8);
    expect_create_fails("33 layers", CAE_ERR_ARG, 28, 28, 1, s, 33, 8);
    expect_create_fails("-1 layers", CAE_ERR_ARG, 28, 28, 1, s, -1, 8);
    expect_create_fails("NULL specs", CAE_ERR_ARG, 28, 28, 1, NULL, 3, 8);
    {
        cae_model *mm = NULL;
        rc = cae_model_create(&mm, 28, 28, 1, s, 32, 1, 1, &e); /* 32 layers is allowed */
        check(rc == CAE_OK, "create with 32 layers: %d %s", rc, e.msg);
        cae_model_free(mm);
    }
    s[0].kind = 0;
    expect_create_fails("kind 0", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].kind = 6;
    expect_create_fails("kind 6", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].kind = -1;
    expect_create_fails("kind -1", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].kind = CAE_CONV2D, s[0].filters = 0, s[0].ksize = 3;
    expect_create_fails("filters 0", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].filters = -4;
    expect_create_fails("filters -4", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].filters = 8, s[0].ksize = 0;
    expect_create_fails("kernel 0", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].ksize = 16;
    expect_create_fails("kernel 16", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].ksize = 3, s[0].act = 3;
    expect_create_fails("act 3", CAE_ERR_ARG, 28, 28, 1, s, 2, 8);
    s[0].act = CAE_ACT_RELU;
    expect_create_fails("input 0x28", CAE_ERR_SHAPE, 0, 28, 1, s, 2, 8);
    expect_create_fails("input 28x0", CAE_ERR_SHAPE, 28, 0, 1, s, 2, 8);
    expect_create_fails("0 channels", CAE_ERR_SHAPE, 28, 28, 0, s, 2, 8);
    expect_create_fails("input 4097x1", CAE_ERR_SHAPE, 4097, 1, 1, s, 2, 8);
    expect_create_fails("batch 0", CAE_ERR_ARG, 28, 28, 1, s, 2, 0);
    expect_create_fails("batch -1", CAE_ERR_ARG, 28, 28, 1, s, 2, -1);
    {
        cae_layer_spec up[1];
        up[0].kind = CAE_UPSAMPLE2D, up[0].filters = 0, up[0].ksize = 0, up[0].act = 0, up[0].name = NULL;
        expect_create_fails("upsampling 4000 to 8000", CAE_ERR_SHAPE, 4000, 1, 1, up, 1, 1);
    }
    rc = cae_model_create(NULL, 28, 28, 1, s, 2, 8, 1, &e);
    check(rc == CAE_ERR_ARG, "create with out NULL: %d, want CAE_ERR_ARG", rc);
    rc = cae_model_create(&m, 6, 6, 1, s, 1, 2, 1, NULL); /* a NULL cae_err is allowed */
    check(rc == CAE_OK, "create with e NULL: %d", rc);
    cae_model_free(m);
    m = NULL;
    /* calls on a model: n outside 1..max_batch, NULL data, unknown loss, bad layer */
    s[0].filters = 1; /* one output channel: x (2 images of 6x6x1) is also the target */
    rc = cae_model_create(&m, 6, 6, 1, s, 2, 2, 1, &e);
    if (check(rc == CAE_OK, "create 6x6: %s", e.msg)) {
        float *p0 = fcopy(m->param, m->nparams);
        memset(x, 0, sizeof x);
        check(cae_model_train_step(m, x, x, 0, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG && e.msg[0], "train_step n=0");
        check(cae_model_train_step(m, x, x, 3, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG && e.msg[0],
              "train_step n > max_batch");
        check(cae_model_train_step(m, x, x, -1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "train_step n=-1");
        check(cae_model_train_step(m, NULL, x, 1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "train_step x NULL");
        check(cae_model_train_step(m, x, NULL, 1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "train_step t NULL");
        check(cae_model_train_step(m, x, x, 1, 7, &l, &e) == CAE_ERR_ARG, "train_step loss 7");
        check(cae_model_train_step(NULL, x, x, 1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "train_step model NULL");
        check(memcmp(p0, m->param, m->nparams * sizeof(float)) == 0 && m->adam.t == 0,
              "a failed train_step changed the model");
        check(cae_model_evaluate(m, x, x, 0, CAE_LOSS_BCE, &l, NULL, &e) == CAE_ERR_ARG, "evaluate n=0");
        check(cae_model_evaluate(m, x, x, 3, CAE_LOSS_BCE, &l, NULL, &e) == CAE_ERR_ARG, "evaluate n=3 > 2");
        check(cae_model_evaluate(m, x, x, 1, 0, &l, NULL, &e) == CAE_ERR_ARG, "evaluate loss 0");
        check(cae_model_predict(m, x, 0, out, &e) == CAE_ERR_ARG, "predict n=0");
        check(cae_model_predict(m, x, 3, out, &e) == CAE_ERR_ARG, "predict n=3 > 2");
        check(cae_model_predict(m, x, 1, NULL, &e) == CAE_ERR_ARG, "predict out NULL");
        check(cae_model_predict(NULL, x, 1, out, &e) == CAE_ERR_ARG, "predict model NULL");
        check(cae_model_encode(m, -1, x, 1, out, &e) == CAE_ERR_ARG, "encode layer -1");
        check(cae_model_encode(m, 2, x, 1, out, &e) == CAE_ERR_ARG, "encode layer 2 of 2");
        check(cae_model_train_step(m, x, x, 2, CAE_LOSS_MSE, &l, &e) == CAE_OK, "train_step n = max_batch: %s", e.msg);
        free(p0);
        cae_model_free(m);
    }
    cae_model_free(NULL); /* allowed */
    check(strcmp(cae_strerror(CAE_OK), "ok") == 0 && cae_strerror(CAE_ERR_IO)[0] && cae_strerror(12345)[0],
          "cae_strerror");
    group_end(NULL);
}

/* ================================================================ 13. image grid */

static void test_grid(void)
{
    /* 3 images 2x2, 2 per row, 1 pixel of grey (128) around and between: 7x7. 0.5 -> 128
       (127.5 rounded up), 0.25 -> 64, 0.75 -> 191, -1 and 0 -> 0, 1 and 2 -> 255, NaN -> 0;
       the empty fourth cell stays grey. */
    float imgs[12];
    static const unsigned char want[49] = {128, 128, 128, 128, 128, 128, 128, /* */
                                           128, 0,   128, 128, 255, 0,   128, /* */
                                           128, 255, 0,   128, 64,  191, 128, /* */
                                           128, 128, 128, 128, 128, 128, 128, /* */
                                           128, 255, 0,   128, 128, 128, 128, /* */
                                           128, 0,   255, 128, 128, 128, 128, /* */
                                           128, 128, 128, 128, 128, 128, 128};
    unsigned char px[49 + 8];
    int gw = -1, gh = -1, i;
    group_begin("grid");
    imgs[0] = 0.0f, imgs[1] = 0.5f, imgs[2] = 1.0f, imgs[3] = -1.0f;
    imgs[4] = 2.0f, imgs[5] = (float)NAN, imgs[6] = 0.25f, imgs[7] = 0.75f;
    imgs[8] = 1.0f, imgs[9] = 0.0f, imgs[10] = 0.0f, imgs[11] = 1.0f;
    cae_grid_size(3, 2, 2, 2, 1, &gw, &gh);
    check(gw == 7 && gh == 7, "cae_grid_size(3 images 2x2, cols 2, pad 1) = %dx%d, want 7x7", gw, gh);
    memset(px, 77, sizeof px);
    cae_grid(px, imgs, 3, 2, 2, 1, 2, 1);
    for (i = 0; i < 49; i++)
        check(px[i] == want[i], "grid pixel (x %d, y %d) = %d, want %d", i % 7, i / 7, px[i], want[i]);
    for (i = 49; i < 57; i++) check(px[i] == 77, "grid wrote past its %d bytes (byte %d)", 49, i);
    cae_grid_size(3, 2, 2, 5, 0, &gw, &gh); /* more columns than images: one row of 3 */
    check(gw == 6 && gh == 2, "cae_grid_size(3 images, cols 5, pad 0) = %dx%d, want 6x2", gw, gh);
    cae_grid_size(3, 2, 2, 0, 2, &gw, &gh); /* cols < 1 is one column */
    check(gw == 6 && gh == 14, "cae_grid_size(3 images, cols 0, pad 2) = %dx%d, want 6x14", gw, gh);
    {
        /* 3 channels: each channel placed, grey pad in all three */
        float rgb[12] = {1, 0, 0.5f, 0, 1, 0, 0, 0, 1, 0.25f, 0.5f, 0.75f};
        unsigned char q[4 * 4 * 3];
        static const unsigned char wq[12] = {255, 0, 128, 0, 255, 0, 0, 0, 255, 64, 128, 191};
        cae_grid_size(1, 2, 2, 1, 1, &gw, &gh);
        check(gw == 4 && gh == 4, "rgb grid size %dx%d", gw, gh);
        cae_grid(q, rgb, 1, 2, 2, 3, 1, 1);
        for (i = 0; i < 12; i++) {
            int p = i / 3, y = 1 + p / 2, xx = 1 + p % 2;
            check(q[(y * 4 + xx) * 3 + i % 3] == wq[i], "rgb grid pixel %d channel %d = %d, want %d", p, i % 3,
                  q[(y * 4 + xx) * 3 + i % 3], wq[i]);
        }
        check(q[0] == 128 && q[1] == 128 && q[2] == 128 && q[47] == 128, "rgb grid pad not grey");
    }
    group_end(NULL);
}

/* ================================================================ main */

int main(void)
{
    double t0 = now_s();
    int local;
    g_tmpdir = getenv("TMPDIR");
    if (!g_tmpdir || !g_tmpdir[0]) g_tmpdir = getenv("TEMP");
#ifdef _WIN32
    if (!g_tmpdir || !g_tmpdir[0]) g_tmpdir = ".";
#else
    if (!g_tmpdir || !g_tmpdir[0]) g_tmpdir = "/tmp";
#endif
    /* a name of its own, so that two runs at once do not share files */
    snprintf(g_tag, sizeof g_tag, "%lx%lx", (unsigned long)time(NULL) & 0xFFFFFUL,
             (unsigned long)(((size_t)&local >> 4) & 0xFFFFFUL));
    printf("test_core: convae %s, %s kernels, ", CONVAE_VERSION, cae_simd_name());
#ifdef _OPENMP
    printf("OpenMP with %d threads\n", omp_get_max_threads());
#else
    printf("no OpenMP\n");
#endif
    test_forward_by_hand();
    test_layer_gradients();
    test_fast_vs_ref();
    test_layers_fast_vs_ref();
    test_losses();
    test_adam();
    test_glorot();
    test_model();
    test_training();
    test_determinism();
    test_batch_consistency();
    test_save_load();
    test_bad_args();
    test_grid();
    if (g_fails) {
        printf("test_core: %d of %d checks FAILED (%.1f s)\n", g_fails, g_checks, now_s() - t0);
        return 1;
    }
    printf("test_core: %d checks passed (%.1f s)\n", g_checks, now_s() - t0);
    return 0;
}
