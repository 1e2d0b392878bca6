/* test_core.c - tests for the core of convae.h: layers and kernel sets, losses, Adam,
   initialisation, the net and the trainer (shapes, gradients, training, determinism, scratch,
   allocation), model files and the image grid.

   Build and run from the repository root (OpenMP optional; also builds as C++):
       cc -std=c99 -O2 -fopenmp -I. tests/test_core.c -o test_core -lm && ./test_core

   Prints one line per group and "test_core: N checks passed", or every failure with what
   differed and by how much, and then exits non-zero. Expected values are worked out in this
   file (by hand or by plain double-precision formulas), never by calling the code under test.
   Tolerances are written next to each check as atol + rtol*|ref|.

   Only the public API is used. The groups that hold the fast kernels to the _ref functions run
   once for every kernel set built into the program that this CPU can run (and say which they
   skipped); the whole-net groups run on the set cae_net_create picks. The library allocates
   through counting hooks (below), so that the "no allocation" group can see every allocation.
   -DTRAIN_N=64 shortens the training group for slow sanitizer runs (its loss-drop check then
   fails: one step is not enough). */
#include <stdlib.h>

/* Allocation hooks: count every malloc and realloc the library makes (all three hooks or none). */
static long g_allocs;

static void *test_malloc(size_t n)
{
#ifdef _OPENMP
#pragma omp atomic
#endif
    g_allocs++;
    return malloc(n);
}

static void *test_realloc(void *p, size_t n)
{
#ifdef _OPENMP
#pragma omp atomic
#endif
    g_allocs++;
    return realloc(p, n);
}

static void test_free(void *p)
{
    free(p);
}

#define CONVAE_MALLOC(sz) test_malloc(sz)
#define CONVAE_REALLOC(p, sz) test_realloc(p, sz)
#define CONVAE_FREE(p) test_free(p)
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
    char extra[1024];
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

/* How many of the n floats differ bitwise between a and b; *maxd gets the largest |a - b|. */
static size_t bits_differ(const float *a, const float *b, size_t n, double *maxd)
{
    size_t i, k = 0;
    *maxd = 0.0;
    for (i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0) {
            double d = fabs((double)a[i] - b[i]);
            if (!(d <= *maxd)) *maxd = d; /* NaN sticks */
            k++;
        }
    return k;
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

/* OpenMP's thread count (1 without OpenMP). */
static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Scratch for k threads of net (the caller frees it); *bytes gets its size. */
static void *net_scratch(const cae_net *net, int k, size_t *bytes)
{
    *bytes = (size_t)k * cae_net_scratch_bytes(net);
    return xmalloc(*bytes);
}

/* 1 when net holds nothing (what a failed create or load leaves: nothing to free) */
static int net_is_empty(const cae_net *net)
{
    return net->nlayers == 0 && net->nparams == 0 && net->param == NULL && net->wino == NULL && net->own == NULL;
}

/* The kernel sets: at most this many are tested (the kernels group checks that it is enough). */
#define TEST_MAX_SETS 8

/* 1 when this CPU runs ks; else says so (the group then skips that set) and returns 0. */
static int usable_or_skip(const cae_kernels *ks)
{
    if (cae_kernels_usable(ks)) return 1;
    printf("  skipped: %s not supported by this CPU\n", cae_kernels_name(ks));
    return 0;
}

/* the set cae_net_create picks, or NULL with a failed check */
static const cae_kernels *default_set(void)
{
    const cae_kernels *ks = NULL;
    cae_err e;
    e.msg[0] = 0;
    check(cae_kernels_pick(NULL, &ks, &e) == CAE_OK && ks, "no default kernel set: %s", e.msg);
    return ks;
}

/* ================================================================ 1. kernel sets */

static void test_kernels(void)
{
    const cae_kernels *ks, *best = cae_kernels_best(), *got, *last_usable = NULL;
    cae_err e;
    char names[256];
    size_t len = 0;
    int i, j, rc, nsets = 0;
    group_begin("kernels");
    names[0] = 0;
    ks = cae_kernels_get(0);
    check(ks != NULL && strcmp(cae_kernels_name(ks), "scalar") == 0 && cae_kernels_usable(ks),
          "set 0 is \"%s\" (usable %d), want \"scalar\", usable", cae_kernels_name(ks), cae_kernels_usable(ks));
    check(cae_kernels_get(-1) == NULL, "cae_kernels_get(-1) is not NULL");
    for (i = 0; i < 64 && (ks = cae_kernels_get(i)) != NULL; i++) {
        const char *nm = cae_kernels_name(ks);
        int usable = cae_kernels_usable(ks);
        nsets++;
        check(nm && nm[0] && cae_kernels_about(ks)[0], "set %d has no name or no description", i);
        for (j = 0; j < i; j++)
            check(strcmp(cae_kernels_name(cae_kernels_get(j)), nm) != 0, "sets %d and %d are both \"%s\"", j, i, nm);
        if (usable) last_usable = ks;
        got = NULL;
        e.code = 0, e.msg[0] = 0;
        rc = cae_kernels_pick(nm, &got, &e);
        if (usable)
            check(rc == CAE_OK && got == ks, "pick(\"%s\"): %d (%s), got set \"%s\"", nm, rc, e.msg,
                  cae_kernels_name(got));
        else
            check(rc == CAE_ERR_ARG && e.msg[0], "pick(\"%s\"), a set this CPU cannot run: %d (%s), want CAE_ERR_ARG",
                  nm, rc, e.msg);
        if (len < sizeof names)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s%s", len ? ", " : "", nm,
                                    usable ? "" : " (not on this CPU)");
    }
    check(nsets >= 1 && nsets <= TEST_MAX_SETS, "%d kernel sets; this test handles 1..%d", nsets, TEST_MAX_SETS);
    check(cae_kernels_usable(best) && best == last_usable, "cae_kernels_best() is \"%s\" (usable %d), want \"%s\", "
          "the last usable set", cae_kernels_name(best), cae_kernels_usable(best), cae_kernels_name(last_usable));
    {
        static const char *pick_best[2] = {"auto", ""};
        got = NULL;
        rc = cae_kernels_pick("scalar", &got, &e);
        check(rc == CAE_OK && got == cae_kernels_get(0), "pick(\"scalar\"): %d, got \"%s\"", rc,
              cae_kernels_name(got));
        for (i = 0; i < 2; i++) {
            got = NULL;
            rc = cae_kernels_pick(pick_best[i], &got, &e);
            check(rc == CAE_OK && got == best, "pick(\"%s\"): %d, got \"%s\", want the best, \"%s\"", pick_best[i],
                  rc, cae_kernels_name(got), cae_kernels_name(best));
        }
    }
    e.code = 0, e.msg[0] = 0;
    rc = cae_kernels_pick("bogus", &got, &e);
    check(rc == CAE_ERR_ARG && e.code == rc, "pick(\"bogus\"): %d, want CAE_ERR_ARG", rc);
    check(strstr(e.msg, "bogus") != NULL && strstr(e.msg, "scalar") != NULL,
          "pick(\"bogus\"): the message should name it and list the sets (scalar, ...): \"%s\"", e.msg);
    group_end("built in: %s; best: %s", names, cae_kernels_name(best));
}

/* ================================================================ 2. layer forward by hand */

/* Runs the convolution through _ref and through every kernel set this CPU runs, and holds each
   to the values worked out by hand. */
static void expect_conv(const char *what, const float *in, const float *wt, const float *bias, int h, int w, int ci,
                        int co, int k, int act, const double *want)
{
    size_t j, no = (size_t)h * w * co;
    float *a = fbuf(no), *work = fbuf(cae_conv2d_work_floats(h, w, ci, co, k));
    const cae_kernels *ks;
    int si;
    cae_conv2d_forward_ref(a, in, wt, bias, 1, h, w, ci, co, k, act);
    for (j = 0; j < no; j++)
        check_close(a[j], want[j], 1e-6, 1e-6, "%s ref out[%zu] (y %zu x %zu o %zu)", what, j, j / co / w, j / co % w,
                    j % co);
    for (si = 0; (ks = cae_kernels_get(si)) != NULL; si++) {
        if (!cae_kernels_usable(ks)) continue; /* the group says which it skipped */
        cae_conv2d_forward(ks, a, in, wt, bias, 1, h, w, ci, co, k, act, work);
        for (j = 0; j < no; j++)
            check_close(a[j], want[j], 1e-6, 1e-6, "%s %s out[%zu] (y %zu x %zu o %zu)", what, cae_kernels_name(ks), j,
                        j / co / w, j / co % w, j % co);
    }
    free(a);
    free(work);
}

/* Max-pooling, upsampling and ReLU by hand, through the kernel set ks. */
static void by_hand_set(const cae_kernels *ks)
{
    const char *nm = cae_kernels_name(ks);
    {
        /* maxpool 4x4 -> 2x2. Bottom-left window {9,6,2,9} ties: the first (index 8) wins;
           bottom-right is all 1: its top-left (index 10) wins. */
        const float in[16] = {1, 5, 2, 0, 3, 4, 8, 7, 9, 6, 1, 1, 2, 9, 1, 1};
        const float want[4] = {5, 8, 9, 1};
        const int warg[4] = {1, 6, 8, 10};
        const float dout[4] = {1, 2, 3, 4};
        float out[4], out2[4], din[16];
        int arg[4], j;
        cae_maxpool2d_forward(ks, out, arg, in, 1, 4, 4, 1);
        for (j = 0; j < 4; j++) {
            check(out[j] == want[j], "%s maxpool 4x4 out[%d] = %g, want %g", nm, j, out[j], want[j]);
            check(arg[j] == warg[j], "%s maxpool 4x4 argmax[%d] = %d, want %d", nm, j, arg[j], warg[j]);
        }
        /* argmax NULL (inference): the same values */
        cae_maxpool2d_forward(ks, out2, NULL, in, 1, 4, 4, 1);
        for (j = 0; j < 4; j++)
            check(out2[j] == want[j], "%s maxpool 4x4 without argmax out[%d] = %g, want %g", nm, j, out2[j], want[j]);
        for (j = 0; j < 16; j++) din[j] = 99.0f; /* backward must overwrite, not add */
        cae_maxpool2d_backward(ks, din, dout, arg, 1, 4, 4, 1);
        for (j = 0; j < 16; j++) {
            float wd = j == 1 ? 1.0f : j == 6 ? 2.0f : j == 8 ? 3.0f : j == 10 ? 4.0f : 0.0f;
            check(din[j] == wd, "%s maxpool 4x4 backward din[%d] = %g, want %g", nm, j, din[j], wd);
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
        cae_maxpool2d_forward(ks, out, arg, in, 2, 3, 5, 2);
        for (j = 0; j < 6; j++) {
            check(out[2 * j] == w0[j] && arg[2 * j] == 2 * p0[j],
                  "%s maxpool 3x5 ch0 out[%d] = %g argmax %d, want %g at %d", nm, j, out[2 * j], arg[2 * j], w0[j],
                  2 * p0[j]);
            check(out[2 * j + 1] == w1[j] && arg[2 * j + 1] == 2 * p1[j] + 1,
                  "%s maxpool 3x5 ch1 out[%d] = %g argmax %d, want %g at %d", nm, j, out[2 * j + 1], arg[2 * j + 1],
                  w1[j], 2 * p1[j] + 1);
            check(out[12 + 2 * j] == 0.5f && arg[12 + 2 * j] == 2 * pt[j] && arg[13 + 2 * j] == 2 * pt[j] + 1,
                  "%s maxpool 3x5 ties out[%d] = %g argmax %d/%d, want 0.5 at %d/%d", nm, j, out[12 + 2 * j],
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
        cae_upsample2d_forward(ks, out, in, 1, 1, 2, 2);
        for (j = 0; j < 16; j++) check(out[j] == want[j], "%s upsample out[%d] = %g, want %g", nm, j, out[j], want[j]);
        for (j = 0; j < 16; j++) dout[j] = (float)j;
        for (j = 0; j < 4; j++) din[j] = 99.0f;
        cae_upsample2d_backward(ks, din, dout, 1, 1, 2, 2);
        for (j = 0; j < 4; j++)
            check(din[j] == wdin[j], "%s upsample backward din[%d] = %g, want %g", nm, j, din[j], wdin[j]);
    }
    {
        /* ReLU values, including 0 and huge arguments */
        const float x[9] = {-3.0f, 0.0f, 2.5f, 1.0f, -1.0f, 100.0f, -100.0f, 1e30f, -1e30f};
        float y[9], dy[9], dx[9];
        int j;
        cae_relu_forward(ks, y, x, 9);
        for (j = 0; j < 9; j++) check(y[j] == (x[j] > 0 ? x[j] : 0.0f), "%s relu(%g) = %g", nm, x[j], y[j]);
        for (j = 0; j < 9; j++) dy[j] = (float)(j + 1);
        cae_relu_backward(ks, dx, dy, y, 9);
        for (j = 0; j < 9; j++)
            check(dx[j] == (x[j] > 0 ? dy[j] : 0.0f), "%s relu backward at x=%g: %g, want %g", nm, x[j], dx[j],
                  x[j] > 0 ? dy[j] : 0.0f);
    }
}

static void test_forward_by_hand(void)
{
    const cae_kernels *ks;
    char sets[256];
    size_t n = 0;
    int si;
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
    for (si = 0; (ks = cae_kernels_get(si)) != NULL; si++)
        if (usable_or_skip(ks)) by_hand_set(ks);
    {
        /* sigmoid values, including 0 and huge or infinite arguments */
        const float x[9] = {-3.0f, 0.0f, 2.5f, 1.0f, -1.0f, 100.0f, -100.0f, 1e30f, -1e30f};
        float y[9], dy[9], dx[9];
        int j;
        float inf = (float)HUGE_VAL;
        float xi[2], yi[2];
        for (j = 0; j < 9; j++) dy[j] = (float)(j + 1);
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
    sets[0] = 0;
    for (si = 0; (ks = cae_kernels_get(si)) != NULL && n + 40 < sizeof sets; si++)
        if (cae_kernels_usable(ks)) n += (size_t)snprintf(sets + n, sizeof sets - n, " %s", cae_kernels_name(ks));
    group_end("conv, pool, upsample, relu by hand through ref and%s", sets);
}

/* ================================================================ 3. gradients by finite differences */

typedef struct conv_ctx {
    int n, h, w, ci, co, k, act;
    const cae_kernels *ks; /* the set to run, or NULL for the _ref functions */
    float *in, *wt, *bias, *out, *R, *work;
} conv_ctx;

/* L = sum(conv(in) * R) */
static double conv_L(void *p)
{
    conv_ctx *c = (conv_ctx *)p;
    if (c->ks)
        cae_conv2d_forward(c->ks, c->out, c->in, c->wt, c->bias, c->n, c->h, c->w, c->ci, c->co, c->k, c->act,
                           c->work);
    else
        cae_conv2d_forward_ref(c->out, c->in, c->wt, c->bias, c->n, c->h, c->w, c->ci, c->co, c->k, c->act);
    return dot(c->out, c->R, (size_t)c->n * c->h * c->w * c->co);
}

/* ks: the set to check, or NULL for the _ref functions */
static void conv_grad_case(const cae_kernels *ks, int n, int h, int w, int ci, int co, int k, int act, cae_rng *r,
                           gstat *st)
{
    conv_ctx c;
    size_t nin = (size_t)n * h * w * ci, nout = (size_t)n * h * w * co, nw = (size_t)k * k * ci * co, wk;
    float *din = fbuf(nin), *dwt = fbuf(nw), *dbias = fbuf((size_t)co), *dpre = fbuf(nout), *work2;
    char name[128];
    const double atol = 2e-3, rtol = 2e-2;
    const float eps = 1e-2f;
    c.n = n, c.h = h, c.w = w, c.ci = ci, c.co = co, c.k = k, c.act = act, c.ks = ks;
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
    if (ks)
        cae_conv2d_backward(ks, din, dwt, dbias, dpre, c.in, c.wt, n, h, w, ci, co, k, work2);
    else
        cae_conv2d_backward_ref(din, dwt, dbias, dpre, c.in, c.wt, n, h, w, ci, co, k);
    snprintf(name, sizeof name, "%s n%d %dx%d ci%d co%d k%d act%d", ks ? cae_kernels_name(ks) : "ref", n, h, w, ci, co,
             k, act);
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
    const cae_kernels *ks;
    float *in, *out, *R;
    int *arg;
    size_t nout;
} pool_ctx;

static double simple_L(void *p)
{
    pool_ctx *c = (pool_ctx *)p;
    size_t nin = (size_t)c->n * c->h * c->w * c->c;
    if (c->kind == 0) cae_maxpool2d_forward(c->ks, c->out, c->arg, c->in, c->n, c->h, c->w, c->c);
    if (c->kind == 1) cae_upsample2d_forward(c->ks, c->out, c->in, c->n, c->h, c->w, c->c);
    if (c->kind == 2) cae_relu_forward(c->ks, c->out, c->in, nin);
    if (c->kind == 3) cae_sigmoid_forward(c->out, c->in, nin);
    return dot(c->out, c->R, c->nout);
}

static void simple_grad_case(const cae_kernels *ks, int kind, int n, int h, int w, int ch, cae_rng *r, gstat *st)
{
    static const char *names[4] = {"maxpool", "upsample", "relu", "sigmoid"};
    pool_ctx c;
    size_t nin = (size_t)n * h * w * ch, i;
    float *din;
    char what[96];
    c.kind = kind, c.n = n, c.h = h, c.w = w, c.c = ch, c.ks = ks;
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
    if (kind == 0) cae_maxpool2d_backward(ks, din, c.R, c.arg, n, h, w, ch);
    if (kind == 1) cae_upsample2d_backward(ks, din, c.R, n, h, w, ch);
    if (kind == 2) cae_relu_backward(ks, din, c.R, c.out, nin);
    if (kind == 3) cae_sigmoid_backward(din, c.R, c.out, nin);
    snprintf(what, sizeof what, "%s %s n%d %dx%dx%d din", cae_kernels_name(ks), names[kind], n, h, w, ch);
    grad_check(what, simple_L, &c, c.in, din, nin, 64, 1e-2f, 1e-3, 1e-2, 0, r, st);
    free(c.in), free(c.out), free(c.R), free(c.arg), free(din);
}

/* The conv cases of one pass: ks NULL is the _ref pass, else the pass through the set ks. The
   channel counts differ between the two passes, so that together they cover more shapes. */
static void conv_grad_pass(const cae_kernels *ks, cae_rng *r, gstat *st)
{
    static const int chs[5] = {1, 3, 5, 17, 33};
    static const int hh[3] = {1, 3, 7}, ww[3] = {1, 5, 7};
    static const int kk[4] = {1, 2, 3, 5};
    int fast = ks != NULL, a, b, i = 0;
    for (a = 0; a < 3; a++)
        for (b = 0; b < 4; b++, i++) {
            /* every image size with every kernel size; channel counts cycle through all
               of {1,3,5,17,33} on both sides */
            int ci = chs[(i + fast) % 5], co = chs[(3 * i + 2) % 5];
            conv_grad_case(ks, 1 + i % 2, hh[a], ww[a], ci, co, kk[b], CAE_ACT_NONE, r, st);
        }
    /* through a fused sigmoid (smooth, so no kinks): dpre = sigmoid_backward(R) */
    conv_grad_case(ks, 2, 3, 5, 3, 5, 3, CAE_ACT_SIGMOID, r, st);
    conv_grad_case(ks, 1, 7, 7, 17, 1, 2, CAE_ACT_SIGMOID, r, st);
    if (!ks) return;
    /* shapes that take the SIMD kernels of a set that has them: Winograd both ways, one output
       channel */
    conv_grad_case(ks, 1, 7, 7, 16, 32, 3, CAE_ACT_NONE, r, st);
    conv_grad_case(ks, 2, 3, 5, 32, 8, 3, CAE_ACT_NONE, r, st);
    conv_grad_case(ks, 1, 7, 7, 8, 1, 3, CAE_ACT_NONE, r, st);
    conv_grad_case(ks, 1, 3, 5, 16, 16, 2, CAE_ACT_NONE, r, st);
}

static void test_layer_gradients(void)
{
    static const int hh[3] = {1, 3, 7}, ww[3] = {1, 5, 7};
    const cae_kernels *ks;
    cae_rng r = cae_rng_seed(2);
    gstat conv_st, simple_st;
    char sum[900];
    size_t len;
    int a, si;
    group_begin("gradients");
    memset(&conv_st, 0, sizeof conv_st);
    conv_grad_pass(NULL, &r, &conv_st);
    len = (size_t)snprintf(sum, sizeof sum, "ref conv: %d coords, worst err/tol %.3f", conv_st.checked, conv_st.worst);
    for (si = 0; (ks = cae_kernels_get(si)) != NULL; si++) {
        if (!usable_or_skip(ks)) continue;
        memset(&conv_st, 0, sizeof conv_st);
        memset(&simple_st, 0, sizeof simple_st);
        conv_grad_pass(ks, &r, &conv_st);
        for (a = 0; a < 3; a++) {
            int k;
            for (k = 0; k < 4; k++) simple_grad_case(ks, k, 2, hh[a], ww[a], 1 + 2 * (a % 2), &r, &simple_st);
        }
        simple_grad_case(ks, 0, 1, 4, 4, 2, &r, &simple_st);
        simple_grad_case(ks, 0, 2, 6, 3, 3, &r, &simple_st);
        simple_grad_case(ks, 1, 1, 2, 3, 4, &r, &simple_st);
        if (len < sizeof sum)
            len += (size_t)snprintf(sum + len, sizeof sum - len,
                                    "; %s conv: %d coords, worst %.3f, pool/up/relu/sigmoid: %d coords, worst %.3f",
                                    cae_kernels_name(ks), conv_st.checked, conv_st.worst, simple_st.checked,
                                    simple_st.worst);
    }
    group_end("%s (tol conv 2e-3 + 2e-2*|fd|, others 1e-3 + 1e-2*|fd|)", sum);
}

/* ================================================================ 4. fast kernels vs reference */

typedef struct maxerr {
    double abs;   /* largest |fast - ref| */
    double ratio; /* largest |fast - ref| / (1e-5 + 1e-4*|ref|) */
    double sum_ratio; /* largest |fast - ref| / (2^-24 * sum of |terms|) */
    double q;         /* largest |fast - ref| / the tolerance (the test fails above 1) */
} maxerr;

/* fast vs ref within 1e-5 + 1e-4*|ref|, plus 2^-20*S (16 float ulps of S) where S, the sum of
   the |terms| of each value, is given: dwt and dbias are float sums over every pixel of the
   batch (up to 3*28*28 terms) that the reference adds one by one, and a Winograd set's forward
   pass and input gradient round in proportion to S too, not to the result. A dropped or
   doubled term is off by a whole term, far above that. */
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
        if (q > me->q) me->q = q;
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

/* Sf for the forward pass's output [n,h,w,co] and Sd for the input gradient [n,h,w,ci]: the sums
   of |terms| each output adds (|bias| first). A Winograd set's rounding grows with them, not with
   the result, which may cancel to near zero: F(4x4,3x3)'s transforms scale by up to 8 and 1/24. */
static void conv_abs_sums_io(double *Sf, double *Sd, const float *in, const float *wt, const float *bias,
                             const float *dpre, int n, int h, int w, int ci, int co, int k)
{
    int b, y, x, kh, kw, i, o, p = (k - 1) / 2;
    size_t j;
    for (j = 0; j < (size_t)n * h * w * ci; j++) Sd[j] = 0.0;
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                double *f = Sf + (((size_t)b * h + y) * w + x) * co;
                const float *g = dpre + (((size_t)b * h + y) * w + x) * co;
                for (o = 0; o < co; o++) f[o] = fabs(bias[o]);
                for (kh = 0; kh < k; kh++)
                    for (kw = 0; kw < k; kw++) {
                        int iy = y + kh - p, ix = x + kw - p;
                        const float *a, *wk = wt + (size_t)(kh * k + kw) * ci * co;
                        double *d;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        a = in + (((size_t)b * h + iy) * w + ix) * ci;
                        d = Sd + (((size_t)b * h + iy) * w + ix) * ci;
                        for (i = 0; i < ci; i++)
                            for (o = 0; o < co; o++) {
                                double wv = fabs(wk[(size_t)i * co + o]);
                                f[o] += fabs(a[i]) * wv;
                                d[i] += fabs(g[o]) * wv;
                            }
                    }
            }
}

/* One shape: the _ref forward and backward once, then every usable set held to them (me[si]:
   the worst differences of set si). */
static void fast_vs_ref_case(int n, int h, int w, int ci, int co, int k, int act, int nullcheck, cae_rng *r,
                             maxerr *mf, maxerr *mb, maxerr *mw)
{
    size_t nin = (size_t)n * h * w * ci, nout = (size_t)n * h * w * co, nw = (size_t)k * k * ci * co, i;
    size_t wk = cae_conv2d_work_floats(h, w, ci, co, k);
    float *in = fbuf(nin), *wt = fbuf(nw), *bias = fbuf((size_t)co), *o1 = fbuf(nout), *o2 = fbuf(nout);
    float *dpre = fbuf(nout), *din1 = fbuf(nin), *din2 = fbuf(nin), *work = fbuf(wk);
    float *dw0 = fbuf(nw), *dw1, *dw2 = fbuf(nw), *db0 = fbuf((size_t)co), *db1, *db2 = fbuf((size_t)co);
    double *Sw, *Sb, *Sf = (double *)xmalloc(nout * sizeof(double)), *Sd = (double *)xmalloc(nin * sizeof(double));
    const cae_kernels *ks;
    char what[160];
    float s = sqrtf(3.0f / (float)(ci * k * k));
    int si;
    fill_u(in, nin, r, -1, 1);
    fill_u(wt, nw, r, -s, s);
    fill_u(bias, (size_t)co, r, -0.5f, 0.5f);
    fill_u(dpre, nout, r, -1, 1);
    fill_u(dw0, nw, r, -1, 1); /* accumulators start non-zero: backward must add */
    fill_u(db0, (size_t)co, r, -1, 1);
    dw1 = fcopy(dw0, nw), db1 = fcopy(db0, (size_t)co);
    Sw = (double *)xmalloc(nw * sizeof(double)), Sb = (double *)xmalloc((size_t)co * sizeof(double));
    conv_abs_sums(Sw, Sb, in, dpre, dw0, db0, n, h, w, ci, co, k);
    conv_abs_sums_io(Sf, Sd, in, wt, bias, dpre, n, h, w, ci, co, k);
    cae_conv2d_forward_ref(o1, in, wt, bias, n, h, w, ci, co, k, act);
    cae_conv2d_backward_ref(din1, dw1, db1, dpre, in, wt, n, h, w, ci, co, k);
    for (si = 0; si < TEST_MAX_SETS && (ks = cae_kernels_get(si)) != NULL; si++) {
        const char *nm = cae_kernels_name(ks);
        if (!cae_kernels_usable(ks)) continue; /* the group says which it skipped */
        for (i = 0; i < nout; i++) o2[i] = 1e6f;
        cae_conv2d_forward(ks, o2, in, wt, bias, n, h, w, ci, co, k, act, work);
        snprintf(what, sizeof what, "%s forward n%d %dx%d ci%d co%d k%d act%d", nm, n, h, w, ci, co, k, act);
        compare_arrays(what, o2, o1, Sf, nout, mf + si);
        for (i = 0; i < nin; i++) din2[i] = 1e6f;
        memcpy(dw2, dw0, nw * sizeof(float));
        memcpy(db2, db0, (size_t)co * sizeof(float));
        cae_conv2d_backward(ks, din2, dw2, db2, dpre, in, wt, n, h, w, ci, co, k, work);
        snprintf(what, sizeof what, "%s backward din n%d %dx%d ci%d co%d k%d", nm, n, h, w, ci, co, k);
        compare_arrays(what, din2, din1, Sd, nin, mb + si);
        snprintf(what, sizeof what, "%s backward dwt n%d %dx%d ci%d co%d k%d", nm, n, h, w, ci, co, k);
        compare_arrays(what, dw2, dw1, Sw, nw, mw + si);
        snprintf(what, sizeof what, "%s backward dbias n%d %dx%d ci%d co%d k%d", nm, n, h, w, ci, co, k);
        compare_arrays(what, db2, db1, Sb, (size_t)co, mw + si);
        if (nullcheck) {
            /* din, dwt, dbias may each be NULL; what is computed must not change */
            float *dw3 = fbuf(nw), *db3 = fbuf((size_t)co), *din3 = fbuf(nin);
            memset(dw3, 0, nw * sizeof(float));
            memset(db3, 0, (size_t)co * sizeof(float));
            cae_conv2d_backward(ks, NULL, dw3, db3, dpre, in, wt, n, h, w, ci, co, k, work);
            memset(dw2, 0, nw * sizeof(float));
            memset(db2, 0, (size_t)co * sizeof(float));
            cae_conv2d_backward(ks, din2, dw2, db2, dpre, in, wt, n, h, w, ci, co, k, work);
            check(memcmp(dw3, dw2, nw * sizeof(float)) == 0 && memcmp(db3, db2, (size_t)co * sizeof(float)) == 0,
                  "backward with din NULL changes dwt/dbias (%s)", what);
            cae_conv2d_backward(ks, din3, NULL, NULL, dpre, in, wt, n, h, w, ci, co, k, work);
            check(memcmp(din3, din2, nin * sizeof(float)) == 0, "backward with dwt, dbias NULL changes din (%s)", what);
            cae_conv2d_backward_ref(NULL, dw3, NULL, dpre, in, wt, n, h, w, ci, co, k); /* no crash */
            free(dw3), free(db3), free(din3);
        }
    }
    free(in), free(wt), free(bias), free(o1), free(o2), free(dpre), free(din1), free(din2), free(work);
    free(dw0), free(dw1), free(dw2), free(db0), free(db1), free(db2), free(Sw), free(Sb), free(Sf), free(Sd);
}

static void test_fast_vs_ref(void)
{
    static const int chs[9] = {1, 3, 5, 8, 16, 17, 32, 33, 64};
    static const int hh[5] = {1, 3, 7, 14, 28}, ww[5] = {1, 5, 7, 14, 28};
    static const int ks[5] = {3, 1, 2, 5, 3};
    /* the lab model's five convolutions */
    static const int lab[5][4] = {{28, 28, 1, 32}, {14, 14, 32, 64}, {7, 7, 64, 64}, {14, 14, 64, 32}, {28, 28, 32, 1}};
    cae_rng r = cae_rng_seed(3);
    maxerr mf[TEST_MAX_SETS], mb[TEST_MAX_SETS], mw[TEST_MAX_SETS];
    const cae_kernels *set;
    char sum[1200];
    size_t len = 0;
    int i, si, cases = 0;
    memset(mf, 0, sizeof mf);
    memset(mb, 0, sizeof mb);
    memset(mw, 0, sizeof mw);
    group_begin("fast-vs-ref");
    for (si = 0; (set = cae_kernels_get(si)) != NULL; si++) usable_or_skip(set);
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
        fast_vs_ref_case(n, h, w, ci, co, k, i % 3, i % 7 == 0, &r, mf, mb, mw);
        cases++;
    }
    for (i = 0; i < 5; i++, cases++)
        fast_vs_ref_case(2, lab[i][0], lab[i][1], lab[i][2], lab[i][3], 3, i == 4 ? CAE_ACT_SIGMOID : CAE_ACT_RELU, i == 2,
                         &r, mf, mb, mw);
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
                    fast_vs_ref_case(n, hh[c], ww[c] + (c == 3), ci, co, 3, (a + b + c) % 3, 0, &r, mf, mb, mw);
                }
        for (a = 0; a < 4; a++)
            for (b = 0; b < 3; b++, cases++) {
                static const int kk[3] = {1, 2, 5};
                fast_vs_ref_case(1, 7, 7, cin[a], b == 1 ? 16 : 1, kk[b], b, 0, &r, mf, mb, mw);
            }
    }
    sum[0] = 0;
    for (si = 0; si < TEST_MAX_SETS && (set = cae_kernels_get(si)) != NULL && len < sizeof sum; si++)
        if (cae_kernels_usable(set))
            len += (size_t)snprintf(sum + len, sizeof sum - len,
                                    "%s%s: forward %.3g (%.3f; %.2f ulps; %.2f), din %.3g (%.3f; %.2f ulps; %.2f), "
                                    "dwt/dbias %.3g (%.3f; %.2f ulps; %.2f)",
                                    len ? "; " : "", cae_kernels_name(set), mf[si].abs, mf[si].ratio, mf[si].sum_ratio,
                                    mf[si].q, mb[si].abs, mb[si].ratio, mb[si].sum_ratio, mb[si].q, mw[si].abs,
                                    mw[si].ratio, mw[si].sum_ratio, mw[si].q);
    group_end("%d cases; max |fast-ref|, its ratio to 1e-5+1e-4*|ref|, to float ulps of sum|terms| and to the "
              "tolerance, the first plus 16 of the second (fails above 1), per set: %s",
              cases, sum);
}

/* The pooling, upsampling and ReLU cases through the set ks; returns how many. */
static int layers_set(const cae_kernels *ks)
{
    static const int chs[6] = {1, 3, 8, 13, 32, 64}, hs[5] = {1, 2, 3, 7, 14}, ws[5] = {1, 5, 4, 7, 14};
    const char *nm = cae_kernels_name(ks);
    cae_rng r = cae_rng_seed(11); /* every set sees the same inputs */
    int a, b, cases = 0;
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
            cae_maxpool2d_forward(ks, p2, a2, x, n, h, w, c);
            for (i = 0; i < np; i++) bad += p1[i] != p2[i], bada += a1[i] != a2[i];
            check(!bad && !bada, "%s maxpool forward %dx%dx%d: %zu values and %zu argmax differ", nm, h, w, c, bad,
                  bada);
            cae_maxpool2d_forward(ks, p2, NULL, x, n, h, w, c); /* inference: no argmax */
            for (i = 0, bad = 0; i < np; i++) bad += p1[i] != p2[i];
            check(!bad, "%s maxpool forward %dx%dx%d without argmax: %zu of %zu differ", nm, h, w, c, bad, np);
            cae_maxpool2d_backward_ref(p1, g, a1, n, h, w, c);
            memset(p2, 0x7f, sizeof(float) * ni); /* the fast path must write every element */
            cae_maxpool2d_backward(ks, p2, g, a1, n, h, w, c);
            for (i = 0, bad = 0; i < ni; i++) bad += p1[i] != p2[i];
            check(!bad, "%s maxpool backward %dx%dx%d: %zu of %zu differ", nm, h, w, c, bad, ni);
            cae_upsample2d_forward_ref(p1, x, n, h, w, c);
            cae_upsample2d_forward(ks, p2, x, n, h, w, c);
            for (i = 0, bad = 0; i < nu; i++) bad += p1[i] != p2[i];
            check(!bad, "%s upsample forward %dx%dx%d: %zu of %zu differ", nm, h, w, c, bad, nu);
            cae_upsample2d_backward_ref(p1, g, n, h, w, c);
            cae_upsample2d_backward(ks, p2, g, n, h, w, c);
            for (i = 0, bad = 0; i < ni; i++) bad += p1[i] != p2[i];
            check(!bad, "%s upsample backward %dx%dx%d: %zu of %zu differ", nm, h, w, c, bad, ni);
            free(x), free(p1), free(p2), free(g), free(a1), free(a2);
        }
    {
        float x[37], y1[37], y2[37], d[37], d1[37], d2[37];
        int i, bad = 0;
        for (i = 0; i < 37; i++) x[i] = (float)(i % 9) - 4.0f, d[i] = (float)i;
        x[3] = 0.0f / 0.0f, x[5] = -0.0f, x[8] = 1.0f / 0.0f, x[20] = -1.0f / 0.0f, x[30] = 0.0f / 0.0f;
        cae_relu_forward_ref(y1, x, 37);
        cae_relu_forward(ks, y2, x, 37);
        for (i = 0; i < 37; i++) bad += memcmp(y1 + i, y2 + i, sizeof(float)) != 0;
        check(!bad, "%s relu forward: %d of 37 differ bitwise (NaN, -0, inf included)", nm, bad);
        cae_relu_backward_ref(d1, d, x, 37);
        cae_relu_backward(ks, d2, d, x, 37);
        for (i = 0, bad = 0; i < 37; i++) bad += d1[i] != d2[i];
        check(!bad, "%s relu backward: %d of 37 differ", nm, bad);
        cases++;
    }
    { /* the bias gradient: column sums added row after row, on channel counts around each width */
        static const int cs[] = {1, 3, 4, 8, 15, 16, 17, 31, 32, 33, 48, 64, 67, 100};
        float y[7 * 100], b1[100], b2[100];
        size_t ci;
        int i, bad;
        for (i = 0; i < 7 * 100; i++) y[i] = (float)((i * 37) % 101) / 7.0f - 5.0f + (float)i * 1e-4f;
        for (ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
            int c = cs[ci];
            for (i = 0; i < c; i++) b1[i] = b2[i] = 0.1f * (float)i;
            cae_bias_backward_ref(b1, y, 7, c);
            cae_bias_backward(ks, b2, y, 7, c);
            for (i = 0, bad = 0; i < c; i++) bad += memcmp(b1 + i, b2 + i, sizeof(float)) != 0;
            check(!bad, "%s bias backward, 7 rows of %d: %d of %d differ bitwise", nm, c, bad, c);
            cases++;
        }
    }
    return cases;
}

/* Pooling, upsampling, ReLU and the bias gradient: every set must give exactly the reference's
   values (they add the same numbers in the same order), argmax included, on channel counts with
   and without a tail past the last multiple of 8 and on odd sizes; ReLU also on NaN, -0 and
   +-inf. */
static void test_layers_fast_vs_ref(void)
{
    const cae_kernels *ks;
    char sum[256];
    size_t len = 0;
    int si;
    group_begin("layers-simd");
    sum[0] = 0;
    for (si = 0; (ks = cae_kernels_get(si)) != NULL; si++) {
        int cases;
        if (!usable_or_skip(ks)) continue;
        cases = layers_set(ks);
        if (len < sizeof sum)
            len += (size_t)snprintf(sum + len, sizeof sum - len, "%s%s: %d cases", len ? ", " : "",
                                    cae_kernels_name(ks), cases);
    }
    group_end("%s, all bit-identical to ref", sum);
}

/* cae_conv2d_wino_grad is the adjoint of cae_conv2d_wino_kernel (U = G g Gt, dg = Gt dU G): for
   any g and dU, <dU, U(g)> = <dg(dU), g>, and it adds into what dwt holds. Sizes whose pair
   count is not a multiple of 16 go through the copy that takes a last few pairs. */
static void test_wino_transforms(void)
{
    static const int sizes[][2] = {{1, 1}, {3, 5}, {7, 9}, {8, 16}, {16, 17}, {32, 64}};
    cae_rng r = cae_rng_seed(7);
    double worst = 0.0;
    int m, si;
    group_begin("winograd");
    for (m = 2; m <= 4; m += 2)
        for (si = 0; si < (int)(sizeof sizes / sizeof sizes[0]); si++) {
            int ci = sizes[si][0], co = sizes[si][1], planes = (m + 2) * (m + 2);
            size_t n = (size_t)ci * co, i;
            float *g = (float *)malloc(sizeof(float) * 9 * n), *U = (float *)malloc(sizeof(float) * planes * n);
            float *dU = (float *)malloc(sizeof(float) * planes * n), *dg = (float *)malloc(sizeof(float) * 9 * n);
            float *dg0 = (float *)malloc(sizeof(float) * 9 * n);
            double lhs = 0.0, rhs = 0.0, mag = 0.0, q;
            for (i = 0; i < 9 * n; i++) g[i] = cae_rng_uniform(&r) - 0.5f, dg0[i] = dg[i] = cae_rng_uniform(&r) - 0.5f;
            for (i = 0; i < (size_t)planes * n; i++) dU[i] = cae_rng_uniform(&r) - 0.5f;
            cae_conv2d_wino_kernel(m, U, g, ci, co);
            cae_conv2d_wino_grad(m, dg, dU, ci, co);
            for (i = 0; i < (size_t)planes * n; i++) lhs += (double)dU[i] * U[i], mag += fabs((double)dU[i] * U[i]);
            for (i = 0; i < 9 * n; i++)
                rhs += ((double)dg[i] - dg0[i]) * g[i], mag += fabs(((double)dg[i] - dg0[i]) * g[i]);
            q = fabs(lhs - rhs) / (1e-6 * mag + 1e-30);
            if (q > worst) worst = q;
            check(q <= 1.0,
                  "wino F(%dx%d) %dx%d: <dU, U(g)> %.9g, <dg(dU), g> %.9g: differ by %.3g, more than 1e-6 of %.3g", m,
                  m, ci, co, lhs, rhs, fabs(lhs - rhs), mag);
            free(g), free(U), free(dU), free(dg), free(dg0);
        }
    group_end("F(2x2) and F(4x4), 6 sizes each: the weight gradient is the kernel transform's adjoint, worst "
              "|difference| / (1e-6 sum|terms|) %.3f",
              worst);
}

/* ================================================================ 5. losses */

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
    /* every set's cae_bce_logits_sum against cae_bce_logits: 16 copies of one value (whole
       vectors), then random runs of every length past a vector's, within 1e-6 relative (plus
       1e-36 a value: past |z| = 87 the sets give log(1 + exp(-87)), 1.6e-38) */
    {
        static const float zs[] = {0.0f,   1e-30f, -1e-30f, 1e-8f,  -1e-8f,  1e-3f,  -0.5f,  0.5f,   0.34657f,
                                   -0.35f, 1.0f,   -1.0f,   2.5f,   -7.0f,   16.6f,  -17.0f, 30.0f,  -40.0f,
                                   86.9f,  -87.0f, 88.5f,   -88.5f, 100.0f,  -100.0f, 1e20f, -1e20f};
        static const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 784, 5000};
        float z[5000], t[5000];
        double worst = 0.0;
        const cae_kernels *ks;
        int si, k;
        for (si = 0; (ks = cae_kernels_get(si)) != NULL; si++) {
            if (!usable_or_skip(ks)) continue;
            for (ti = 0; ti < 4; ti++)
                for (j = 0; j < (int)(sizeof zs / sizeof zs[0]); j++) {
                    double want, got, q;
                    for (k = 0; k < 16; k++) z[k] = zs[j], t[k] = ts[ti];
                    want = cae_bce_logits(z, t, 16, NULL, 0.0f), got = cae_bce_logits_sum(ks, z, t, 16);
                    q = fabs(got - want) / (1e-6 * fabs(want) + 16e-36); /* 1e-36 a value: past |z| = 87 */
                    if (q > worst) worst = q;
                    check(q <= 1.0, "%s: bce_logits_sum of 16 x (z=%g, t=%g) %.9g, reference %.9g",
                          cae_kernels_name(ks), zs[j], ts[ti], got, want);
                }
            for (j = 0; j < (int)(sizeof lens / sizeof lens[0]); j++) {
                double want, got, q;
                fill_u(z, lens[j], &r, -12, 12);
                fill_u(t, lens[j], &r, 0, 1);
                want = cae_bce_logits(z, t, lens[j], NULL, 0.0f), got = cae_bce_logits_sum(ks, z, t, lens[j]);
                q = fabs(got - want) / (1e-6 * fabs(want) + 1e-36 * (double)lens[j]);
                if (q > worst) worst = q;
                check(q <= 1.0, "%s: bce_logits_sum of %zu random values %.9g, reference %.9g", cae_kernels_name(ks),
                      lens[j], got, want);
            }
        }
        group_end("finite differences: %d coords, worst err/tol %.3f; every set's bce_logits_sum: worst |diff| / "
                  "(1e-6 |reference| + 1e-36 n) %.3f",
                  st.checked, st.worst, worst);
    }
}

/* ================================================================ 6. Adam */

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
    /* float variables, not float constants: where FLT_EVAL_METHOD is not 0 (x87 under -m32, s390x
       under -std=c99) a constant such as 1e-3f has a wider type and a.lr == 1e-3f is false */
    const float want[4] = {1e-3f, 0.9f, 0.999f, 1e-7f};
    int j, step;
    group_begin("adam");
    check(a.lr == want[0] && a.beta1 == want[1] && a.beta2 == want[2] && a.eps == want[3] && a.t == 0,
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

/* ================================================================ 7. Glorot */

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

/* ================================================================ 8. the net and the trainer */

typedef struct model_ctx {
    cae_trainer *tr;
    float *p; /* the parameters the finite differences move */
    const float *x, *t;
    int n, loss;
    void *scratch;
    size_t bytes;
} model_ctx;

/* the mean loss cae_net_evaluate reports on the trainer's net, after a change to c->p */
static double model_L(void *p)
{
    model_ctx *c = (model_ctx *)p;
    const cae_net *net = cae_trainer_net(c->tr);
    const cae_layer *L = net->layer + net->nlayers - 1;
    cae_tensor x = cae_tensor_of((float *)c->x, c->n, net->h, net->w, net->c);
    cae_tensor t = cae_tensor_of((float *)c->t, c->n, L->oh, L->ow, L->oc);
    double l = -1.0;
    cae_err e;
    /* set_params remakes the kernels derived from the weights (Winograd, flipped) */
    if (cae_trainer_set_params(c->tr, c->p, net->nparams, &e) != CAE_OK ||
        cae_net_evaluate(net, &x, &t, c->loss, &l, NULL, c->scratch, c->bytes, &e) != CAE_OK) {
        check(0, "set_params or evaluate failed: %s", e.msg);
    }
    return l;
}

/* Whole-net gradient: a trainer step with lr = 0 leaves the parameters where they are and the
   gradient of the mean loss in cae_trainer_grad; hold it to central differences of
   cae_net_evaluate's loss. ks: the kernel set (NULL: the one cae_net_create picks). */
static void model_grad_case(const char *title, const cae_layer_spec *specs, int ns, int h, int w, int c, int n, int loss,
                            const cae_kernels *ks, cae_rng *r, gstat *st)
{
    cae_net net;
    cae_trainer *tr = NULL;
    const cae_net *tn;
    cae_err e;
    model_ctx ctx;
    size_t in_n = (size_t)h * w * c, out_n, i;
    float *x, *t, *p0, *g;
    double l0 = -1, l1 = -1;
    int rc = cae_net_create(&net, h, w, c, specs, ns, 77, &e), skipped_before = st->skipped;
    if (!check(rc == CAE_OK, "%s: create failed: %s", title, e.msg)) return;
    if (ks) net.ks = ks;
    rc = cae_trainer_create(&tr, &net, 4, &e);
    cae_net_free(&net); /* the trainer has its own copy */
    if (!check(rc == CAE_OK, "%s: trainer_create failed: %s", title, e.msg)) return;
    tn = cae_trainer_net(tr);
    check(tn->ks == (ks ? ks : default_set()), "%s: the trainer runs on %s, want %s", title, cae_kernels_name(tn->ks),
          ks ? cae_kernels_name(ks) : "the default set");
    out_n = (size_t)tn->layer[ns - 1].oh * tn->layer[ns - 1].ow * tn->layer[ns - 1].oc;
    x = fbuf(in_n * n), t = fbuf(out_n * n);
    fill_u(x, in_n * n, r, 0, 1);
    fill_u(t, out_n * n, r, 0, 1);
    for (i = 0; i < out_n * n; i += 3) t[i] = (float)(i % 2); /* some hard 0/1 targets */
    /* random biases too, so their gradients are not at a special point */
    ctx.p = fcopy(tn->param, tn->nparams);
    for (i = 0; i < (size_t)tn->nlayers; i++) {
        const cae_layer *L = tn->layer + i;
        if (L->kind == CAE_CONV2D) fill_u(ctx.p + L->poff + L->nparams - L->oc, (size_t)L->oc, r, -0.2f, 0.3f);
    }
    rc = cae_trainer_set_params(tr, ctx.p, tn->nparams, &e);
    check(rc == CAE_OK, "%s: set_params: %s", title, e.msg);
    p0 = fcopy(tn->param, tn->nparams);
    cae_trainer_adam(tr)->lr = 0.0f;
    {
        cae_tensor xt = cae_tensor_of(x, n, h, w, c);
        cae_tensor tt = cae_tensor_of(t, n, tn->layer[ns - 1].oh, tn->layer[ns - 1].ow, tn->layer[ns - 1].oc);
        rc = cae_trainer_step(tr, &xt, &tt, loss, &l0, &e);
    }
    check(rc == CAE_OK, "%s: trainer_step: %s", title, e.msg);
    {
        double md = 0.0;
        size_t nd = bits_differ(p0, tn->param, tn->nparams, &md);
        check(nd == 0, "%s: %zu of %zu parameters moved with lr = 0, by up to %.3g", title, nd, tn->nparams, md);
    }
    g = fcopy(cae_trainer_grad(tr), tn->nparams);
    /* thousands of tiny evaluations follow: scratch for one thread, so that a busy machine does
       not make each OpenMP region wait for a descheduled partner (results do not depend on it) */
    ctx.scratch = net_scratch(tn, 1, &ctx.bytes);
    ctx.tr = tr, ctx.x = x, ctx.t = t, ctx.n = n, ctx.loss = loss;
    l1 = model_L(&ctx);
    check_close(l1, l0, 1e-12, 1e-9, "%s: evaluate's loss vs trainer_step's", title);
    /* eps 1e-3: a ReLU or pooling switch inside the step is then rare (and caught by the
       eps/2 comparison); rounding noise in the mean loss is ~1e-8, i.e. ~1e-5 in the slope */
    grad_check(title, model_L, &ctx, ctx.p, g, tn->nparams, 300, 1e-3f, 1e-4, 2e-2, 1, r, st);
    {
        int tried = tn->nparams < 300 ? (int)tn->nparams : 300;
        check(st->skipped - skipped_before <= tried / 10, "%s: %d of %d coordinates skipped as kinks (more than 10%%)",
              title, st->skipped - skipped_before, tried);
    }
    free(x), free(t), free(p0), free(g), free(ctx.p), free(ctx.scratch);
    cae_trainer_free(tr);
}

static void test_model(void)
{
    static const char *names[9] = {"enc_conv1",     "enc_pool1", "enc_conv2",     "enc_pool2",      "dec_conv1",
                                   "dec_upsample1", "dec_conv2", "dec_upsample2", "dec_conv_output"};
    static const int shapes[9][3] = {{28, 28, 32}, {14, 14, 32}, {14, 14, 64}, {7, 7, 64}, {7, 7, 64},
                                     {14, 14, 64}, {14, 14, 32}, {28, 28, 32}, {28, 28, 1}};
    static const size_t np[9] = {320, 0, 18496, 0, 36928, 0, 18464, 0, 289};
    int count = 0, rc, l;
    cae_net net;
    cae_err e;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_rng r = cae_rng_seed(7);
    gstat st, st0;
    memset(&st, 0, sizeof st);
    memset(&st0, 0, sizeof st0);
    group_begin("model");
    check(count == 9, "cae_lab_specs: %d layers, want 9", count);
    rc = cae_net_create(&net, 28, 28, 1, specs, count, 1, &e);
    if (check(rc == CAE_OK && net.param, "create lab model: %d %s", rc, e.msg)) {
        char *buf;
        size_t need, need2;
        char small[40];
        int li;
        check(net.nparams == 74497, "lab model nparams %zu, want 74497", net.nparams);
        check(net.nlayers == 9, "lab model nlayers %d", net.nlayers);
        for (l = 0; l < 9 && l < net.nlayers; l++) {
            const cae_layer *L = net.layer + l;
            check(L->oh == shapes[l][0] && L->ow == shapes[l][1] && L->oc == shapes[l][2],
                  "layer %d (%s) output %dx%dx%d, want %dx%dx%d", l, L->name, L->oh, L->ow, L->oc, shapes[l][0],
                  shapes[l][1], shapes[l][2]);
            check(strcmp(L->name, names[l]) == 0, "layer %d name \"%s\", want \"%s\"", l, L->name, names[l]);
            check(L->nparams == np[l], "layer %d (%s) nparams %zu, want %zu", l, names[l], L->nparams, np[l]);
        }
        li = cae_net_find(&net, "enc_pool2");
        check(li == 3 && net.layer[li].oh == 7 && net.layer[li].ow == 7 && net.layer[li].oc == 64,
              "cae_net_find(enc_pool2) = %d, want 3 with 7x7x64", li);
        check(cae_net_find(&net, "nope") == -1, "cae_net_find(nope) = %d, want -1", cae_net_find(&net, "nope"));
        need = cae_net_summary(&net, "autoencoder", NULL, 0);
        buf = (char *)xmalloc(need);
        need2 = cae_net_summary(&net, "autoencoder", buf, need);
        check(need2 == need && strlen(buf) + 1 == need, "summary: needs %zu, then %zu, strlen %zu", need, need2,
              strlen(buf));
        check(strstr(buf, "Total params: 74,497") != NULL, "summary lacks \"Total params: 74,497\":\n%s", buf);
        check(strstr(buf, "autoencoder") != NULL, "summary lacks its title");
        for (l = 0; l < 9; l++) check(strstr(buf, names[l]) != NULL, "summary lacks layer name %s", names[l]);
        check(strstr(buf, "(None, 7, 7, 64)") != NULL, "summary lacks \"(None, 7, 7, 64)\"");
        memset(small, 'x', sizeof small);
        need2 = cae_net_summary(&net, "autoencoder", small, sizeof small);
        check(need2 == need && small[sizeof small - 1] == 0 && strncmp(small, buf, sizeof small - 1) == 0,
              "summary into a 40-byte buffer: returned %zu (want %zu), truncated text wrong or not terminated", need2,
              need);
        free(buf);
        cae_net_free(&net);
    }
    {
        /* default names count per kind, Keras style */
        const cae_layer_spec s[4] = {{CAE_CONV2D, 2, 3, CAE_ACT_RELU, NULL},
                                     {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                     {CAE_CONV2D, 1, 1, CAE_ACT_NONE, ""},
                                     {CAE_SIGMOID, 0, 0, 0, NULL}};
        static const char *want[4] = {"conv2d_1", "max_pooling2d_1", "conv2d_2", "sigmoid_1"};
        rc = cae_net_create(&net, 5, 5, 1, s, 4, 1, &e);
        if (check(rc == CAE_OK, "create small model: %s", e.msg)) {
            for (l = 0; l < 4; l++)
                check(strcmp(net.layer[l].name, want[l]) == 0, "default name of layer %d: \"%s\", want \"%s\"", l,
                      net.layer[l].name, want[l]);
            check(net.layer[1].oh == 3 && net.layer[1].ow == 3, "maxpool of 5x5 gives %dx%d, want 3x3",
                  net.layer[1].oh, net.layer[1].ow);
            cae_net_free(&net);
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
        /* on the set cae_net_create picks, then once more on the scalar set (unless that is the
           default: the same run again) */
        int pass, passes = default_set() == cae_kernels_get(0) ? 1 : 2;
        for (pass = 0; pass < passes; pass++) {
            const cae_kernels *ks = pass ? cae_kernels_get(0) : NULL;
            char title[64];
            const char *nm = pass ? "scalar" : "default";
            gstat *g = pass ? &st0 : &st;
            r = cae_rng_seed(7); /* both passes on the same inputs */
            snprintf(title, sizeof title, "%s tiny BCE", nm);
            model_grad_case(title, tiny, 5, 6, 6, 1, 3, CAE_LOSS_BCE, ks, &r, g);
            snprintf(title, sizeof title, "%s tiny MSE", nm);
            model_grad_case(title, tiny, 5, 6, 6, 1, 3, CAE_LOSS_MSE, ks, &r, g);
            snprintf(title, sizeof title, "%s split BCE", nm);
            model_grad_case(title, split, 7, 6, 6, 2, 2, CAE_LOSS_BCE, ks, &r, g);
            snprintf(title, sizeof title, "%s split MSE", nm);
            model_grad_case(title, split, 7, 6, 6, 2, 2, CAE_LOSS_MSE, ks, &r, g);
            /* channel counts that take the SIMD paths of a set that has them (16-wide blocks,
               Winograd 8->16 forward and 16->8 input gradient, one-output-channel kernels) */
            snprintf(title, sizeof title, "%s wide BCE", nm);
            model_grad_case(title, wide, 5, 6, 6, 8, 2, CAE_LOSS_BCE, ks, &r, g);
        }
    }
    if (st0.checked)
        group_end("model gradients (tol 1e-4 + 2e-2*|fd|): %s set: %d coords checked, %d skipped at kinks, worst "
                  "err/tol %.3f; scalar set: %d checked, %d skipped, worst %.3f",
                  cae_kernels_name(default_set()), st.checked, st.skipped, st.worst, st0.checked, st0.skipped,
                  st0.worst);
    else
        group_end("model gradients (tol 1e-4 + 2e-2*|fd|) on the scalar set, the default: %d coords checked, %d "
                  "skipped at kinks, worst err/tol %.3f",
                  st.checked, st.skipped, st.worst);
}

/* ================================================================ 9. training */

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
                    float fx = (float)xx, fy = (float)y, u = ((fx - ax) * dx + (fy - ay) * dy) / l2, px, py, d, v;
                    u = u < 0 ? 0 : u > 1 ? 1 : u;
                    px = ax + u * dx - fx, py = ay + u * dy - fy;
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
                    float fx = (float)xx - cx, fy = (float)y - cy, d2 = (fx * fx + fy * fy) / (rad * rad);
                    float v = expf(-d2);
                    if (v > im[y * 28 + xx]) im[y * 28 + xx] = v;
                }
        }
    }
    return x;
}

/* mean loss of net over n images (one call; scratch for as many threads as OpenMP has) */
static double eval_all(const cae_net *net, const float *x, int n, int loss)
{
    double l = -1.0;
    cae_err e;
    size_t bytes;
    void *scratch = net_scratch(net, max_threads(), &bytes);
    cae_tensor xt = cae_tensor_of((float *)x, n, 28, 28, 1);
    check(cae_net_evaluate(net, &xt, &xt, loss, &l, NULL, scratch, bytes, &e) == CAE_OK, "evaluate: %s", e.msg);
    free(scratch);
    return l;
}

/* 256 images, 4 steps: the scalar kernels do ~1e9 multiply-adds a second, and this group alone
   is then ~12 CPU-seconds (the AVX2 set: well under one). The loss drops ~15%. */
#ifndef TRAIN_N
#define TRAIN_N 256
#endif

static void test_training(void)
{
    int count, step, rc;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_net net;
    cae_trainer *t = NULL;
    cae_err e;
    float *x = make_images(TRAIN_N, 8);
    double before, after, l = 0;
    group_begin("training");
    rc = cae_net_create(&net, 28, 28, 1, specs, count, 42, &e);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&t, &net, 64, &e);
        cae_net_free(&net);
    }
    if (!check(rc == CAE_OK, "create: %s", e.msg)) {
        free(x);
        group_end(NULL);
        return;
    }
    before = eval_all(cae_trainer_net(t), x, TRAIN_N, CAE_LOSS_BCE);
    for (step = 0; step < TRAIN_N / 64; step++) { /* one pass over the images */
        cae_tensor b = cae_tensor_of(x + (size_t)step * 64 * 784, 64, 28, 28, 1);
        rc = cae_trainer_step(t, &b, &b, CAE_LOSS_BCE, &l, &e);
        check(rc == CAE_OK && l == l, "trainer_step %d: rc %d loss %g %s", step, rc, l, rc ? e.msg : "");
    }
    after = eval_all(cae_trainer_net(t), x, TRAIN_N, CAE_LOSS_BCE);
    check(after < 0.9 * before, "training %d steps: BCE %.5f -> %.5f, want a drop of at least 10%%", TRAIN_N / 64,
          before, after);
    check(cae_trainer_adam(t)->t == TRAIN_N / 64, "adam.t = %lld after %d steps", cae_trainer_adam(t)->t, TRAIN_N / 64);
    group_end("BCE on the %d images %.4f -> %.4f after %d steps of 64 (lr 1e-3, %s kernels)", TRAIN_N, before, after,
              TRAIN_N / 64, cae_kernels_name(cae_trainer_net(t)->ks));
    cae_trainer_free(t);
    free(x);
}

/* ================================================================ 10. determinism */

/* A small model for the determinism checks: it takes the same kinds of kernels as the lab
   model (16-wide blocks, Winograd, one output channel) at a fraction of the cost. */
static const cae_layer_spec det_specs[5] = {{CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL},
                                            {CAE_MAXPOOL2D, 0, 0, 0, NULL},
                                            {CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL},
                                            {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                            {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, NULL}};

/* A trainer for det_specs from seed, for batches of up to max_batch (NULL on failure). */
static cae_trainer *det_trainer(unsigned long long seed, int max_batch)
{
    cae_net net;
    cae_trainer *t = NULL;
    cae_err e;
    if (!check(cae_net_create(&net, 28, 28, 1, det_specs, 5, seed, &e) == CAE_OK, "create: %s", e.msg)) return NULL;
    check(cae_trainer_create(&t, &net, max_batch, &e) == CAE_OK, "trainer_create: %s", e.msg);
    cae_net_free(&net);
    return t;
}

/* One step on the n images at x (as their own targets). */
static void det_step(cae_trainer *t, const float *x, int n)
{
    cae_tensor b = cae_tensor_of((float *)x, n, 28, 28, 1);
    cae_err e;
    check(cae_trainer_step(t, &b, &b, CAE_LOSS_BCE, NULL, &e) == CAE_OK, "trainer_step: %s", e.msg);
}

static cae_trainer *trained(unsigned long long seed, int threads, const float *x, int n, int steps)
{
    int s, was = 0;
    cae_trainer *t;
#ifdef _OPENMP
    was = omp_get_max_threads(); /* a trainer runs no more threads than OpenMP offered when it was made */
    if (threads > 0) omp_set_num_threads(threads);
#endif
    t = det_trainer(seed, 64);
#ifdef _OPENMP
    omp_set_num_threads(was);
#endif
    (void)was;
    if (!t) return NULL;
    cae_trainer_set_threads(t, threads);
    for (s = 0; s < steps; s++) det_step(t, x + (size_t)s * n * 784, n);
    return t;
}

/* Checks that a and b hold the same parameters bit for bit. */
static void same_params(const cae_trainer *a, const cae_trainer *b, const char *what)
{
    const cae_net *na = cae_trainer_net(a), *nb = cae_trainer_net(b);
    double md = 0.0;
    size_t nd = na->nparams == nb->nparams ? bits_differ(na->param, nb->param, na->nparams, &md) : na->nparams;
    check(nd == 0, "%s: %zu of %zu parameters differ, by up to %.3g", what, nd, na->nparams, md);
}

static void test_determinism(void)
{
    float *x = make_images(3 * 37, 9);
    cae_trainer *a, *b, *c = NULL;
    group_begin("determinism");
    a = trained(5, 0, x, 37, 2);
    b = trained(5, 0, x, 37, 2);
    if (a && b) {
        same_params(a, b, "same seed and batches");
        /* The Adam moments are not visible; the next update depends on them (and on the
           parameters, equal above), so one more identical step must give the same bits. */
        det_step(a, x + (size_t)2 * 37 * 784, 37);
        det_step(b, x + (size_t)2 * 37 * 784, 37);
        same_params(a, b, "same seed and batches, after a third step (the Adam moments differ)");
    }
    cae_trainer_free(a);
    cae_trainer_free(b);
    a = det_trainer(5, 8);
    b = det_trainer(5, 64);
    c = det_trainer(6, 8);
    if (a && b && c) {
        const cae_net *na = cae_trainer_net(a), *nc = cae_trainer_net(c);
        size_t i, same = 0;
        same_params(a, b, "same seed, different batch size: initial weights");
        for (i = 0; i < na->nparams; i++) same += na->param[i] == nc->param[i];
        /* only the zero biases (16+16+1 = 33) may agree */
        check(same == 33, "seeds 5 and 6: %zu of %zu initial values equal, want only the 33 zero biases", same,
              na->nparams);
    }
    cae_trainer_free(a);
    cae_trainer_free(b);
    cae_trainer_free(c);
#ifdef _OPENMP
    a = trained(5, 1, x, 37, 2);
    b = trained(5, 2, x, 37, 2);
    if (a && b) same_params(a, b, "OpenMP: 1 and 2 threads");
    cae_trainer_free(a);
    cae_trainer_free(b);
    group_end("OpenMP: 1 vs 2 threads compared");
#else
    group_end("no OpenMP: thread-count check not built");
#endif
    free(x);
}

/* ================================================================ 11. batch-size consistency */

static void test_batch_consistency(void)
{
    const int n = 5;
    int count, i, L;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_net net0;
    const cae_net *net;
    cae_trainer *t = NULL;
    cae_err e;
    float *x = make_images(n, 10), *all, *one, *p, mse_all[5], mse_one;
    double lall = 0, lone, sum = 0;
    size_t out_n = 784, lat_n = 7 * 7 * 64, bytes;
    void *scratch;
    cae_tensor xa, xo, ya, yo;
    int rc;
    group_begin("batch");
    rc = cae_net_create(&net0, 28, 28, 1, specs, count, 11, &e);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&t, &net0, 1, &e);
        cae_net_free(&net0);
    }
    if (!check(rc == CAE_OK, "create: %s", e.msg)) {
        free(x);
        group_end(NULL);
        return;
    }
    net = cae_trainer_net(t);
    /* non-zero biases so nothing is trivially zero */
    p = fcopy(net->param, net->nparams);
    for (i = 0; i < 9; i++)
        if (net->layer[i].kind == CAE_CONV2D) {
            cae_rng r = cae_rng_seed((unsigned long long)i);
            fill_u(p + net->layer[i].poff + net->layer[i].nparams - net->layer[i].oc, (size_t)net->layer[i].oc, &r,
                   -0.1f, 0.1f);
        }
    check(cae_trainer_set_params(t, p, net->nparams, &e) == CAE_OK, "set_params: %s", e.msg);
    free(p);
    scratch = net_scratch(net, max_threads(), &bytes);
    all = fbuf(n * out_n), one = fbuf(out_n);
    xa = cae_tensor_of(x, n, 28, 28, 1), ya = cae_tensor_of(all, n, 28, 28, 1);
    check(cae_net_forward(net, &xa, &ya, scratch, bytes, &e) == CAE_OK, "forward: %s", e.msg);
    check(cae_net_evaluate(net, &xa, &xa, CAE_LOSS_BCE, &lall, mse_all, scratch, bytes, &e) == CAE_OK, "evaluate: %s",
          e.msg);
    for (i = 0; i < n; i++) {
        xo = cae_tensor_of(x + (size_t)i * 784, 1, 28, 28, 1), yo = cae_tensor_of(one, 1, 28, 28, 1);
        check(cae_net_forward(net, &xo, &yo, scratch, bytes, &e) == CAE_OK, "forward 1: %s", e.msg);
        {
            double md = 0.0;
            size_t nd = bits_differ(one, all + (size_t)i * out_n, out_n, &md);
            check(nd == 0, "forward: image %d alone differs from image %d of a batch of %d (%zu values, by up to %.3g)",
                  i, i, n, nd, md);
        }
        check(cae_net_evaluate(net, &xo, &xo, CAE_LOSS_BCE, &lone, &mse_one, scratch, bytes, &e) == CAE_OK,
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
            check_close(mse_one, want / (double)out_n, 1e-9, 1e-5, "evaluate: mse of image %d vs its output", i);
        }
    }
    check_close(lall, sum / n, 1e-6, 0, "evaluate: loss of a batch of %d vs the mean of one at a time", n);
    free(all);
    free(one);
    /* encode at the bottleneck, batch vs one at a time */
    L = cae_net_find(net, "enc_pool2");
    all = fbuf(n * lat_n), one = fbuf(lat_n);
    ya = cae_tensor_of(all, n, 7, 7, 64);
    check(cae_net_encode(net, L, &xa, &ya, scratch, bytes, &e) == CAE_OK, "encode: %s", e.msg);
    for (i = 0; i < n; i++) {
        xo = cae_tensor_of(x + (size_t)i * 784, 1, 28, 28, 1), yo = cae_tensor_of(one, 1, 7, 7, 64);
        check(cae_net_encode(net, L, &xo, &yo, scratch, bytes, &e) == CAE_OK, "encode 1: %s", e.msg);
        {
            double md = 0.0;
            size_t nd = bits_differ(one, all + (size_t)i * lat_n, lat_n, &md);
            check(nd == 0, "encode: image %d alone differs from the batch (%zu values, by up to %.3g)", i, nd, md);
        }
    }
    check(!all_zero(all, n * lat_n), "encode: latent all zero");
    free(all);
    free(one);
    free(x);
    free(scratch);
    cae_trainer_free(t);
    group_end(NULL);
}

/* ================================================================ 12. the net: init, scratch, shapes, memory files */

/* y = net(x) for x's images, with scratch for k threads; returns the status */
static int forward_k(const cae_net *net, const cae_tensor *x, cae_tensor *y, int k, cae_err *e)
{
    size_t bytes;
    void *scratch = net_scratch(net, k, &bytes);
    int rc = cae_net_forward(net, x, y, scratch, bytes, e);
    free(scratch);
    return rc;
}

static void test_net(void)
{
    enum { N = 5 }; /* not a multiple of the slice count */
    int count, rc, i;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    const cae_kernels *scalar = cae_kernels_get(0), *def;
    cae_net a, b, c;
    cae_trainer *t = NULL;
    cae_err e;
    float *x = make_images(N, 15), *ya = fbuf(N * 784), *yb = fbuf(N * 784), *lat = fbuf(N * 7 * 7 * 64), *p;
    float mse1[N], mse4[N];
    double l1 = -1, l4 = -2;
    size_t per, b1, b4, nd;
    double md = 0.0;
    void *s1, *s4;
    maxerr me;
    cae_tensor xt = cae_tensor_of(x, N, 28, 28, 1), yat = cae_tensor_of(ya, N, 28, 28, 1);
    cae_tensor ybt = cae_tensor_of(yb, N, 28, 28, 1);
    group_begin("net");
    memset(&me, 0, sizeof me);
    rc = cae_net_create(&a, 28, 28, 1, specs, count, 21, &e);
    if (!check(rc == CAE_OK, "create: %s", e.msg)) {
        free(x), free(ya), free(yb), free(lat);
        group_end(NULL);
        return;
    }
    def = a.ks;
    check(def == default_set(), "cae_net_create picked \"%s\", cae_kernels_pick(NULL) \"%s\"", cae_kernels_name(def),
          cae_kernels_name(default_set()));
    per = cae_net_scratch_bytes(&a);
    s1 = net_scratch(&a, 1, &b1);
    s4 = net_scratch(&a, 4, &b4);

    /* (a) a net over the caller's parameters: the same outputs as the net they come from */
    p = fcopy(a.param, a.nparams);
    rc = cae_net_init(&b, 28, 28, 1, specs, count, p, a.nparams, &e);
    if (check(rc == CAE_OK, "init: %s", e.msg)) {
        check(b.param == p && b.own == NULL && b.wino == NULL && b.nparams == a.nparams,
              "init: the net should point at the caller's parameters and own nothing");
        a.ks = b.ks = scalar;
        check(forward_k(&a, &xt, &yat, 4, &e) == CAE_OK && forward_k(&b, &xt, &ybt, 4, &e) == CAE_OK, "forward: %s",
              e.msg);
        nd = bits_differ(yb, ya, N * 784, &md);
        check(nd == 0, "scalar set: the init net's output differs from the created net's (%zu of %d, by up to %.3g)",
              nd, N * 784, md);
        a.ks = b.ks = def;
        check(forward_k(&a, &xt, &yat, 4, &e) == CAE_OK && forward_k(&b, &xt, &ybt, 4, &e) == CAE_OK, "forward: %s",
              e.msg);
        compare_arrays("default set: init net (direct convolution) vs created net", yb, ya, NULL, N * 784, &me);
        /* cae_net_set_kernels remakes the Winograd kernels for each set's F(m x m): every set's
           output against the init net's (direct convolutions on the default set) */
        for (i = 0; cae_kernels_get(i) != NULL; i++) {
            const cae_kernels *ks = cae_kernels_get(i);
            char what[96];
            if (!cae_kernels_usable(ks)) continue;
            check(cae_net_set_kernels(&a, ks, &e) == CAE_OK && a.ks == ks, "set_kernels %s: %s", cae_kernels_name(ks),
                  e.msg);
            check(a.wino_m == cae_conv2d_wino(ks, 32, 64, 3),
                  "set_kernels %s: Winograd kernels for F(%dx%d), the set's m is %d", cae_kernels_name(ks), a.wino_m,
                  a.wino_m, cae_conv2d_wino(ks, 32, 64, 3));
            check(forward_k(&a, &xt, &yat, 4, &e) == CAE_OK, "forward: %s", e.msg);
            snprintf(what, sizeof what, "net on set %s after cae_net_set_kernels", cae_kernels_name(ks));
            compare_arrays(what, ya, yb, NULL, N * 784, &me);
        }
        check(cae_net_set_kernels(&a, def, &e) == CAE_OK, "set_kernels back: %s", e.msg);
        if (cae_conv2d_wino(def, 32, 64, 3) != 2 && cae_kernels_get(1) && cae_kernels_usable(cae_kernels_get(1))) {
            a.ks = cae_kernels_get(1); /* set directly: its m is not the net's, so it convolves directly */
            check(forward_k(&a, &xt, &yat, 4, &e) == CAE_OK, "forward: %s", e.msg);
            compare_arrays("a set of another m assigned to net.ks", ya, yb, NULL, N * 784, &me);
            a.ks = def;
        }
    }

    /* (b) scratch for 1 thread or for 4: the same bits */
    check(cae_net_forward(&a, &xt, &yat, s1, b1, &e) == CAE_OK, "forward, 1 thread: %s", e.msg);
    check(cae_net_forward(&a, &xt, &ybt, s4, b4, &e) == CAE_OK, "forward, 4 threads: %s", e.msg);
    nd = bits_differ(yb, ya, N * 784, &md);
    check(nd == 0, "forward: scratch for 1 and for 4 threads, %zu of %d outputs differ, by up to %.3g", nd, N * 784,
          md);
    check(cae_net_evaluate(&a, &xt, &xt, CAE_LOSS_BCE, &l1, mse1, s1, b1, &e) == CAE_OK, "evaluate, 1 thread: %s",
          e.msg);
    check(cae_net_evaluate(&a, &xt, &xt, CAE_LOSS_BCE, &l4, mse4, s4, b4, &e) == CAE_OK, "evaluate, 4 threads: %s",
          e.msg);
    check(memcmp(&l1, &l4, sizeof l1) == 0 && memcmp(mse1, mse4, sizeof mse1) == 0,
          "evaluate: scratch for 1 and for 4 threads, loss %.17g vs %.17g (or the per-image mse) differ", l1, l4);

    /* (c) too little scratch, wrong shapes, a layer that is not there */
    {
        cae_tensor xw = cae_tensor_of(x, N, 28, 27, 1), xc = cae_tensor_of(x, 1, 28, 28, 2);
        cae_tensor yc = cae_tensor_of(ya, 1, 28, 28, 2), yn = cae_tensor_of(ya, N - 1, 28, 28, 1);
        cae_tensor lt = cae_tensor_of(lat, N, 7, 7, 64), lw = cae_tensor_of(lat, N, 14, 14, 64);
        int L = cae_net_find(&a, "enc_pool2");
        check(cae_net_forward(&a, &xt, &yat, s1, per - 1, &e) == CAE_ERR_ARG && e.msg[0],
              "forward with %zu bytes of scratch (needs %zu): not CAE_ERR_ARG", per - 1, per);
        check(cae_net_forward(&a, &xt, &yat, NULL, per, &e) == CAE_ERR_ARG, "forward with scratch NULL");
        check(cae_net_encode(&a, L, &xt, &lt, s1, per - 1, &e) == CAE_ERR_ARG, "encode with too little scratch");
        check(cae_net_evaluate(&a, &xt, &xt, CAE_LOSS_MSE, &l1, NULL, s1, per - 1, &e) == CAE_ERR_ARG,
              "evaluate with too little scratch");
        check(cae_net_evaluate(&a, &xt, &xt, CAE_LOSS_MSE, &l1, NULL, NULL, per, &e) == CAE_ERR_ARG,
              "evaluate with scratch NULL");
        check(cae_net_forward(&a, &xw, &yat, s1, b1, &e) == CAE_ERR_SHAPE && e.msg[0], "forward of 28x27 images");
        check(cae_net_forward(&a, &xc, &yc, s1, b1, &e) == CAE_ERR_SHAPE, "forward of 2-channel images");
        check(cae_net_forward(&a, &xt, &yc, s1, b1, &e) == CAE_ERR_SHAPE, "forward into a 1x28x28x2 output");
        check(cae_net_forward(&a, &xt, &yn, s1, b1, &e) == CAE_ERR_SHAPE, "forward of %d images into %d", N, N - 1);
        check(cae_net_encode(&a, L, &xt, &lw, s1, b1, &e) == CAE_ERR_SHAPE, "encode enc_pool2 into 14x14x64");
        check(cae_net_encode(&a, L, &xt, &lt, s1, b1, &e) == CAE_OK, "encode enc_pool2 into 7x7x64: %s", e.msg);
        check(cae_net_evaluate(&a, &xt, &yn, CAE_LOSS_MSE, &l1, NULL, s1, b1, &e) == CAE_ERR_SHAPE,
              "evaluate against %d targets for %d images", N - 1, N);
        check(cae_net_encode(&a, -1, &xt, &yat, s1, b1, &e) == CAE_ERR_ARG, "encode layer -1");
        check(cae_net_encode(&a, a.nlayers, &xt, &yat, s1, b1, &e) == CAE_ERR_ARG, "encode layer %d of %d", a.nlayers,
              a.nlayers);
    }

    /* (d) cae_net_init with the wrong parameter count, or none */
    {
        static const int dn[2] = {-1, 1};
        for (i = 0; i < 2; i++) {
            memset(&c, 0x5a, sizeof c);
            rc = cae_net_init(&c, 28, 28, 1, specs, count, p, a.nparams + dn[i], &e);
            check(rc == CAE_ERR_ARG && e.msg[0] && net_is_empty(&c), "init with %zu parameters of %zu: %d (%s)",
                  a.nparams + dn[i], a.nparams, rc, e.msg);
        }
        rc = cae_net_init(&c, 28, 28, 1, specs, count, NULL, a.nparams, &e);
        check(rc == CAE_ERR_ARG && net_is_empty(&c), "init with parameters NULL: %d", rc);
    }

    /* (e) a model file through memory: the same parameters and outputs; too small a buffer fails */
    rc = cae_trainer_create(&t, &a, N + 1, &e);
    if (check(rc == CAE_OK, "trainer: %s", e.msg)) {
        const cae_net *tn = cae_trainer_net(t);
        size_t len;
        unsigned char *buf;
        cae_trainer_adam(t)->lr = 1e-2f;
        check(cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, NULL, &e) == CAE_OK, "step: %s", e.msg); /* biases != 0 */
        len = cae_net_file_bytes(tn);
        check(len == 28 + (size_t)tn->nlayers * 48 + 8 + 4 * tn->nparams + 4, "cae_net_file_bytes: %zu, want %zu", len,
              28 + (size_t)tn->nlayers * 48 + 8 + 4 * tn->nparams + 4);
        buf = (unsigned char *)xmalloc(len + 8);
        memset(buf, 0xee, len + 8);
        rc = cae_net_write_mem(tn, buf, len, &e);
        check(rc == CAE_OK, "write_mem: %s", e.msg);
        for (i = 0; i < 8; i++) check(buf[len + i] == 0xee, "write_mem wrote past its %zu bytes (byte %d)", len, i);
        {
            /* the file cae_net_save writes holds the same bytes */
            char path[512];
            unsigned char *fb;
            size_t flen = 0;
            tmp_path(path, sizeof path, "mem.cae");
            check(cae_net_save(tn, path, &e) == CAE_OK, "save: %s", e.msg);
            fb = read_bytes(path, &flen);
            check(fb && flen == len && memcmp(fb, buf, len) == 0, "the saved file (%zu bytes) differs from write_mem's "
                  "%zu bytes", flen, len);
            free(fb);
            remove(path);
        }
        memset(&c, 0x5a, sizeof c);
        rc = cae_net_load_mem(&c, buf, len, "mem", &e);
        if (check(rc == CAE_OK, "load_mem: %s", e.msg)) {
            nd = c.nparams == tn->nparams ? bits_differ(c.param, tn->param, tn->nparams, &md) : tn->nparams;
            check(nd == 0, "load_mem: %zu of %zu parameters differ, by up to %.3g", nd, tn->nparams, md);
            check(c.nlayers == tn->nlayers && c.h == 28 && c.w == 28 && c.c == 1 && c.ks == def,
                  "load_mem: shape or kernel set differ");
            check(forward_k(tn, &xt, &yat, 4, &e) == CAE_OK && forward_k(&c, &xt, &ybt, 4, &e) == CAE_OK,
                  "forward: %s", e.msg);
            nd = bits_differ(yb, ya, N * 784, &md);
            check(nd == 0, "load_mem: %zu of %d outputs differ from the trained net's, by up to %.3g", nd, N * 784, md);
            cae_net_free(&c);
            check(net_is_empty(&c), "cae_net_free leaves the net not zeroed");
        }
        e.msg[0] = 0;
        rc = cae_net_write_mem(tn, buf, len - 1, &e);
        check(rc != CAE_OK && e.msg[0], "write_mem with %zu bytes of room for %zu: %d (%s)", len - 1, len, rc, e.msg);
        free(buf);
        cae_trainer_free(t);
    }
    group_end("default set %s; init vs created net (default set): max |diff| %.3g, ratio to 1e-5+1e-4*|ref| %.3f",
              cae_kernels_name(def), me.abs, me.ratio);
    cae_net_free(&a);
    free(x), free(ya), free(yb), free(lat), free(p), free(s1), free(s4);
}

/* ================================================================ 13. no allocation */

static void test_no_alloc(void)
{
    enum { N = 3 };
    int count, rc;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_net net, init;
    cae_trainer *t = NULL;
    cae_err e;
    float *x = make_images(N, 16), *y = fbuf(N * 784), *lat = fbuf(N * 7 * 7 * 64), *p = NULL;
    float mse[N];
    double l;
    size_t bytes;
    void *scratch = NULL;
    long c0;
    cae_tensor xt = cae_tensor_of(x, N, 28, 28, 1), yt = cae_tensor_of(y, N, 28, 28, 1);
    cae_tensor lt = cae_tensor_of(lat, N, 7, 7, 64);
    group_begin("no allocation");
    c0 = g_allocs;
    rc = cae_net_create(&net, 28, 28, 1, specs, count, 3, &e);
    if (!check(rc == CAE_OK, "create: %s", e.msg)) goto done;
    check(g_allocs > c0, "cae_net_create made no allocation through the hooks (are they used?)");
    c0 = g_allocs;
    rc = cae_trainer_create(&t, &net, N, &e);
    if (!check(rc == CAE_OK, "trainer_create: %s", e.msg)) goto done;
    check(g_allocs > c0, "cae_trainer_create made no allocation through the hooks");
    scratch = net_scratch(&net, max_threads(), &bytes); /* plain malloc: not counted */
    c0 = g_allocs;
    check(cae_net_forward(&net, &xt, &yt, scratch, bytes, &e) == CAE_OK, "forward: %s", e.msg);
    check(g_allocs == c0, "cae_net_forward: %ld allocations", g_allocs - c0);
    c0 = g_allocs;
    check(cae_net_encode(&net, 3, &xt, &lt, scratch, bytes, &e) == CAE_OK, "encode: %s", e.msg);
    check(g_allocs == c0, "cae_net_encode: %ld allocations", g_allocs - c0);
    c0 = g_allocs;
    check(cae_net_evaluate(&net, &xt, &xt, CAE_LOSS_BCE, &l, mse, scratch, bytes, &e) == CAE_OK,
                   "evaluate: %s", e.msg);
    check(g_allocs == c0, "cae_net_evaluate: %ld allocations", g_allocs - c0);
    c0 = g_allocs;
    check(cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, &l, &e) == CAE_OK, "step: %s", e.msg);
    check(cae_trainer_step(t, &xt, &xt, CAE_LOSS_MSE, &l, &e) == CAE_OK, "step: %s", e.msg);
    check(g_allocs == c0, "cae_trainer_step: %ld allocations in 2 steps", g_allocs - c0);
    c0 = g_allocs;
    check(cae_net_forward(cae_trainer_net(t), &xt, &yt, scratch, bytes, &e) == CAE_OK, "forward: %s", e.msg);
    check(g_allocs == c0, "cae_net_forward on the trainer's net: %ld allocations", g_allocs - c0);
    /* a net over the caller's parameters allocates nothing at all */
    p = fcopy(net.param, net.nparams);
    c0 = g_allocs;
    rc = cae_net_init(&init, 28, 28, 1, specs, count, p, net.nparams, &e);
    check(rc == CAE_OK, "init: %s", e.msg);
    if (rc == CAE_OK)
        check(cae_net_forward(&init, &xt, &yt, scratch, bytes, &e) == CAE_OK, "forward: %s", e.msg);
    check(g_allocs == c0, "cae_net_init and a forward pass on it: %ld allocations", g_allocs - c0);
    cae_net_free(&init);
done:
    cae_trainer_free(t);
    cae_net_free(&net);
    free(x), free(y), free(lat), free(p), free(scratch);
    group_end("forward, encode, evaluate, 2 trainer steps, init and forward on the lab model (batch %d)", N);
}

/* ================================================================ 14. save and load */

static char g_msg[320]; /* the message of the last load_fails */

static int load_fails(const char *path, const char *what, int want1, int want2)
{
    cae_net net;
    cae_err e;
    int rc;
    memset(&net, 0x5a, sizeof net); /* must be zeroed */
    e.code = 0, e.msg[0] = 0;
    rc = cae_net_load(&net, path, &e);
    check(rc == want1 || rc == want2, "%s: load returned %d %s (%s), want %s%s%s", what, rc, cae_strerror(rc), e.msg,
          cae_strerror(want1), want2 != want1 ? " or " : "", want2 != want1 ? cae_strerror(want2) : "");
    check(rc == CAE_OK || net_is_empty(&net), "%s: the net is not zeroed after a failed load", what);
    check(e.msg[0] != 0 && e.code == rc, "%s: no message (code %d, returned %d)", what, e.code, rc);
    memcpy(g_msg, e.msg, sizeof g_msg);
    if (rc == CAE_OK) cae_net_free(&net);
    return rc;
}

/* net's output for the n 28x28 images at x, into y */
static void forward28(const cae_net *net, const float *x, int n, float *y)
{
    size_t bytes;
    void *scratch = net_scratch(net, max_threads(), &bytes);
    cae_tensor xt = cae_tensor_of((float *)x, n, 28, 28, 1), yt = cae_tensor_of(y, n, 28, 28, 1);
    cae_err e;
    check(cae_net_forward(net, &xt, &yt, scratch, bytes, &e) == CAE_OK, "forward: %s", e.msg);
    free(scratch);
}

/* a small model for the damaged files and the checkpoints */
static const cae_layer_spec g_tiny[5] = {{CAE_CONV2D, 3, 3, CAE_ACT_RELU, "c1"},
                                         {CAE_MAXPOOL2D, 0, 0, 0, "p1"},
                                         {CAE_CONV2D, 4, 3, CAE_ACT_RELU, "c2"},
                                         {CAE_UPSAMPLE2D, 0, 0, 0, "u1"},
                                         {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "out"}};

static void test_save_load(void)
{
    const cae_layer_spec *tiny = g_tiny;
    char path[512], path2[512], tmpdir[600], trunc[512];
    int count, rc, l;
    const cae_layer_spec *specs = cae_lab_specs(&count);
    cae_net net, n2;
    cae_trainer *t = NULL;
    cae_err e;
    float *x = make_images(4, 12), *p1 = fbuf(4 * 784), *p2 = fbuf(4 * 784);
    unsigned char *b = NULL, *c;
    size_t len = 0, i;
    cae_tensor xt = cae_tensor_of(x, 4, 28, 28, 1);
    group_begin("save/load");
    tmp_path(path, sizeof path, "lab.cae");
    tmp_path(path2, sizeof path2, "tiny.cae");
    tmp_path(trunc, sizeof trunc, "cut.cae");
    /* the lab model: save, load, same outputs bit for bit */
    rc = cae_net_create(&net, 28, 28, 1, specs, count, 13, &e);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&t, &net, 4, &e);
        cae_net_free(&net);
    }
    if (check(rc == CAE_OK, "create: %s", e.msg)) {
        const cae_net *m = cae_trainer_net(t);
        cae_trainer_adam(t)->lr = 1e-2f;
        cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, NULL, &e); /* non-zero biases */
        rc = cae_net_save(m, path, &e);
        check(rc == CAE_OK, "save %s: %s", path, e.msg);
        rc = cae_net_load(&n2, path, &e);
        if (check(rc == CAE_OK && n2.param, "load %s: %d %s", path, rc, e.msg)) {
            double md = 0.0;
            size_t nd = n2.nparams == m->nparams ? bits_differ(n2.param, m->param, m->nparams, &md) : m->nparams;
            check(nd == 0, "loaded parameters: %zu of %zu differ, by up to %.3g", nd, m->nparams, md);
            check(n2.nlayers == m->nlayers && n2.h == 28 && n2.w == 28 && n2.c == 1, "loaded shape differs");
            for (l = 0; l < m->nlayers && l < n2.nlayers; l++)
                check(strcmp(m->layer[l].name, n2.layer[l].name) == 0 && m->layer[l].act == n2.layer[l].act &&
                          m->layer[l].oc == n2.layer[l].oc,
                      "loaded layer %d differs (%s vs %s)", l, n2.layer[l].name, m->layer[l].name);
            forward28(m, x, 4, p1);
            forward28(&n2, x, 4, p2);
            nd = bits_differ(p2, p1, 4 * 784, &md);
            check(nd == 0, "outputs after load: %zu of %d differ, by up to %.3g", nd, 4 * 784, md);
            cae_net_free(&n2);
        }
        /* failed saves: a missing folder; a target whose .tmp sibling cannot be created */
        {
            char missing[600];
            snprintf(missing, sizeof missing, "%s/test_core_%s_no_such_dir/m.cae", g_tmpdir, g_tag);
            e.msg[0] = 0;
            rc = cae_net_save(m, missing, &e);
            check(rc == CAE_ERR_IO && e.msg[0], "save into a missing folder: %d (%s), want CAE_ERR_IO", rc, e.msg);
        }
        snprintf(tmpdir, sizeof tmpdir, "%s.tmp", path);
        check(test_mkdir(tmpdir) == 0, "cannot make %s for the test", tmpdir);
        cae_trainer_adam(t)->lr = 1e-2f;
        cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, NULL, &e); /* now differs from the file */
        e.msg[0] = 0;
        rc = cae_net_save(m, path, &e);
        check(rc == CAE_ERR_IO && e.msg[0], "save with %s a folder: %d (%s), want CAE_ERR_IO", tmpdir, rc, e.msg);
        remove(tmpdir);
        rc = cae_net_load(&n2, path, &e);
        if (check(rc == CAE_OK && n2.param, "the old file does not load after a failed save: %d %s", rc, e.msg)) {
            forward28(&n2, x, 4, p2);
            double md = 0.0;
            size_t nd = bits_differ(p2, p1, 4 * 784, &md);
            check(nd == 0, "the old file changed after a failed save: %zu of %d outputs differ, by up to %.3g", nd,
                  4 * 784, md);
            cae_net_free(&n2);
        }
        cae_trainer_free(t);
        t = NULL;
    }
    remove(path);
    /* a small model for the damaged files */
    rc = cae_net_create(&net, 6, 6, 1, tiny, 5, 14, &e);
    if (check(rc == CAE_OK, "create tiny: %s", e.msg) &&
        check(cae_net_save(&net, path2, &e) == CAE_OK, "save tiny: %s", e.msg) &&
        check((b = read_bytes(path2, &len)) != NULL && len == 28 + 5 * 48 + 8 + 4 * net.nparams + 4 &&
                  cae_net_file_bytes(&net) == len,
              "tiny file: %zu bytes (cae_net_file_bytes %zu), want %zu", len, cae_net_file_bytes(&net),
              28 + 5 * 48 + 8 + 4 * net.nparams + 4)) {
        int ok_all = 1;
        /* every truncation fails cleanly. cae_net_load_mem gets each prefix in a buffer of
           exactly that size, so a sanitizer sees any read past the end; a few lengths also go
           through real files (writing ~1000 files is slow on some disks). */
        for (i = 0; i < len; i++) {
            int r2;
            cae_net cn;
            unsigned char *cut = (unsigned char *)xmalloc(i);
            memcpy(cut, b, i);
            memset(&cn, 0x5a, sizeof cn);
            e.msg[0] = 0;
            r2 = cae_net_load_mem(&cn, cut, i, "cut", &e);
            free(cut);
            if (!(r2 == CAE_ERR_FORMAT || r2 == CAE_ERR_IO) || !net_is_empty(&cn) || !e.msg[0]) {
                ok_all = 0;
                check(0, "file cut to %zu of %zu bytes: cae_net_load_mem returned %d (%s)", i, len, r2, e.msg);
                if (r2 == CAE_OK) cae_net_free(&cn);
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
        put32(c + 28 + 5 * 48, (unsigned long)net.nparams + 1);
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
        /* missing file; a trainer with max_batch 0 on a loaded net (loading takes no batch size) */
        remove(trunc);
        load_fails(trunc, "missing file", CAE_ERR_IO, CAE_ERR_IO);
        load_fails(path2 + strlen(path2), "empty path", CAE_ERR_IO, CAE_ERR_ARG);
        if (check(cae_net_load(&n2, path2, &e) == CAE_OK, "load tiny: %s", e.msg)) {
            t = (cae_trainer *)(void *)&g_checks; /* must be set to NULL */
            rc = cae_trainer_create(&t, &n2, 0, &e);
            check(rc == CAE_ERR_ARG && t == NULL, "trainer with max_batch 0: %d, want CAE_ERR_ARG", rc);
            if (rc == CAE_OK) cae_trainer_free(t);
            cae_net_free(&n2);
        }
        free(c);
    }
    free(b);
    remove(path2);
    remove(trunc);
    cae_net_free(&net);
    free(x), free(p1), free(p2);
    group_end(NULL);
}

/* ================================================================ 15. bad arguments */

/* Creating the net (and, when that works, a trainer for batches of `batch`: the batch size is
   the trainer's) fails with `want`, leaving nothing behind. */
static void expect_create_fails(const char *what, int want, int h, int w, int c, const cae_layer_spec *s, int ns,
                                int batch)
{
    cae_net net;
    cae_trainer *t = (cae_trainer *)(void *)&g_checks; /* must be set to NULL */
    cae_err e;
    int rc;
    e.code = 0, e.msg[0] = 0;
    memset(&net, 0x5a, sizeof net); /* must be zeroed */
    rc = cae_net_create(&net, h, w, c, s, ns, 1, &e);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&t, &net, batch, &e);
        cae_net_free(&net);
        check(t == NULL, "create with %s: the trainer is not NULL", what);
    } else {
        check(net_is_empty(&net), "create with %s: the net is not zeroed", what);
    }
    check(rc == want, "create with %s: returned %d (%s), want %d (%s)", what, rc, e.msg, want, cae_strerror(want));
    check(e.code == rc && e.msg[0] != 0, "create with %s: error code %d, message \"%s\"", what, e.code, e.msg);
    if (rc == CAE_OK && t) cae_trainer_free(t);
}

/* Checkpoints: a trainer that reads another's state goes on with the same bits; every
   truncation and every single-byte change of a checkpoint and of a model file is rejected
   and leaves the trainer as it was; another architecture is a shape error. */
static unsigned char *state_of(const cae_trainer *t, const void *user, size_t ulen, size_t *len)
{
    unsigned char *b;
    cae_err e;
    *len = cae_trainer_state_bytes(t, ulen);
    b = (unsigned char *)xmalloc(*len);
    if (!check(cae_trainer_write_state(t, user, ulen, b, *len, &e) == CAE_OK, "write state: %s", e.msg))
        memset(b, 0, *len);
    return b;
}

static void test_checkpoint(void)
{
    const cae_layer_spec *tiny = g_tiny;
    cae_layer_spec other[5];
    const char user[] = "the caller's bytes";
    cae_trainer *a = NULL, *b = NULL, *c = NULL;
    cae_net net;
    cae_err e;
    cae_rng r = cae_rng_seed(5);
    float *x = fbuf(4 * 64);
    unsigned char *mid, *end_a, *end_b, *before, *after, *bad, *model;
    const unsigned char *u = NULL;
    size_t len, len2, ulen = 0, i, mlen;
    int k, rc, bad_ok = 1, flips = 0;
    group_begin("checkpoints");
    fill_u(x, 4 * 64, &r, 0.0f, 1.0f);
    {
        cae_tensor xt = cae_tensor_of(x, 4, 8, 8, 1);
        rc = cae_net_create(&net, 8, 8, 1, tiny, 5, 21, &e);
        if (rc == CAE_OK) rc = cae_trainer_create(&a, &net, 4, &e);
        cae_net_free(&net);
        if (rc == CAE_OK) rc = cae_net_create(&net, 8, 8, 1, tiny, 5, 99, &e); /* other weights */
        if (rc == CAE_OK) rc = cae_trainer_create(&b, &net, 4, &e);
        cae_net_free(&net);
        if (!check(rc == CAE_OK, "create: %s", e.msg)) {
            cae_trainer_free(a), cae_trainer_free(b), free(x);
            group_end(NULL);
            return;
        }
        cae_trainer_adam(a)->lr = 3e-3f;
        for (k = 0; k < 3; k++) cae_trainer_step(a, &xt, &xt, CAE_LOSS_BCE, NULL, &e);
        mid = state_of(a, user, sizeof user, &len);
        for (k = 0; k < 3; k++) cae_trainer_step(a, &xt, &xt, CAE_LOSS_BCE, NULL, &e);
        end_a = state_of(a, NULL, 0, &len2);
        rc = cae_trainer_read_state(b, mid, len, "mid", &u, &ulen, &e);
        check(rc == CAE_OK && ulen == sizeof user && u && memcmp(u, user, ulen) == 0,
              "read state: %d %s; the caller's bytes: %zu", rc, e.msg, ulen);
        check(cae_trainer_adam(b)->t == 3 && cae_trainer_adam(b)->lr == cae_trainer_adam(a)->lr,
              "read state: Adam step %lld, want 3", cae_trainer_adam(b)->t);
        for (k = 0; k < 3; k++) cae_trainer_step(b, &xt, &xt, CAE_LOSS_BCE, NULL, &e);
        end_b = state_of(b, NULL, 0, &len);
        check(len == len2 && memcmp(end_a, end_b, len) == 0,
              "3 steps after reading the state differ from 3 steps of the trainer that wrote it");
        /* every truncation, every byte changed: rejected, the trainer as it was */
        before = state_of(b, NULL, 0, &len2);
        len = cae_trainer_state_bytes(a, sizeof user);
        for (i = 0; i < len; i++) {
            unsigned char *cut = (unsigned char *)xmalloc(i ? i : 1);
            memcpy(cut, mid, i);
            rc = cae_trainer_read_state(b, cut, i, "cut", &u, &ulen, &e);
            free(cut);
            if (rc != CAE_ERR_FORMAT && bad_ok) bad_ok = check(0, "checkpoint cut to %zu of %zu bytes: %d", i, len, rc);
        }
        bad = (unsigned char *)xmalloc(len);
        for (i = 0; i < len; i++)
            for (k = 0; k < 2; k++) {
                memcpy(bad, mid, len);
                bad[i] ^= (unsigned char)(k ? 0xFF : 0x01);
                rc = cae_trainer_read_state(b, bad, len, "flip", &u, &ulen, &e);
                flips++;
                if (rc == CAE_OK && bad_ok)
                    bad_ok = check(0, "checkpoint with byte %zu of %zu changed (^%02x) was read", i, len, k ? 0xFF : 1);
            }
        after = state_of(b, NULL, 0, &len);
        check(bad_ok, "damaged checkpoints");
        check(len == len2 && memcmp(before, after, len) == 0, "a rejected checkpoint changed the trainer");
        /* version 2 (CRC recomputed): says so */
        memcpy(bad, mid, len = cae_trainer_state_bytes(a, sizeof user));
        bad[8] = 2;
        put32(bad + len - 4, cae_crc32(0, bad, len - 4));
        rc = cae_trainer_read_state(b, bad, len, "v2", &u, &ulen, &e);
        check(rc == CAE_ERR_FORMAT && strstr(e.msg, "version 2") != NULL, "version 2: %d %s", rc, e.msg);
        free(bad);
        /* another architecture: a shape error that names the layer */
        memcpy(other, tiny, sizeof other);
        other[2].filters = 5;
        rc = cae_net_create(&net, 8, 8, 1, other, 5, 21, &e);
        if (rc == CAE_OK) rc = cae_trainer_create(&c, &net, 4, &e);
        cae_net_free(&net);
        if (check(rc == CAE_OK, "create other: %s", e.msg)) {
            rc = cae_trainer_read_state(c, mid, cae_trainer_state_bytes(a, sizeof user), "mid", &u, &ulen, &e);
            check(rc == CAE_ERR_SHAPE && strstr(e.msg, "c2") != NULL, "other architecture: %d %s", rc, e.msg);
        }
        /* the model file: every single-byte change rejected too */
        mlen = cae_net_file_bytes(cae_trainer_net(a));
        model = (unsigned char *)xmalloc(mlen);
        bad_ok = check(cae_net_write_mem(cae_trainer_net(a), model, mlen, &e) == CAE_OK, "write model: %s", e.msg);
        for (i = 0; i < mlen; i++)
            for (k = 0; k < 2; k++) {
                model[i] ^= (unsigned char)(k ? 0xFF : 0x01);
                rc = cae_net_load_mem(&net, model, mlen, "flip", &e);
                model[i] ^= (unsigned char)(k ? 0xFF : 0x01);
                flips++;
                if (rc == CAE_OK) {
                    cae_net_free(&net);
                    if (bad_ok) bad_ok = check(0, "model file with byte %zu of %zu changed was loaded", i, mlen);
                }
            }
        check(bad_ok, "damaged model files");
        free(model), free(mid), free(end_a), free(end_b), free(before), free(after);
        cae_trainer_free(a), cae_trainer_free(b), cae_trainer_free(c);
    }
    free(x);
    group_end("%d damaged copies rejected", flips);
}

/* --arch's text: the default is the lab's model, layer for layer and weight for weight; bad
   texts are errors that say where. */
static void test_arch(void)
{
    static const char *const bad[10] = {"", "c32,x", "c0,p", "c32,p|", "c32,,c1", "c32k4,c1", "pp,c1", "c32,p",
                                        "c1|c1|c1", "c5000,c1"};
    const cae_layer_spec *lab;
    cae_arch a;
    cae_net n1, n2;
    cae_err e;
    int n, l, k, rc;
    group_begin("arch");
    lab = cae_lab_specs(&n);
    rc = cae_arch_parse(&a, CAE_LAB_ARCH, &e);
    if (check(rc == CAE_OK && a.n == n && a.latent == 3, "parse %s: %d %s (%d layers, latent %d)", CAE_LAB_ARCH, rc,
              e.msg, a.n, a.latent)) {
        for (l = 0; l < n; l++)
            check(a.spec[l].kind == lab[l].kind && strcmp(a.spec[l].name, lab[l].name) == 0 &&
                      (lab[l].kind != CAE_CONV2D || (a.spec[l].filters == lab[l].filters &&
                                                     a.spec[l].ksize == lab[l].ksize && a.spec[l].act == lab[l].act)),
                  "layer %d: %s, the lab's is %s", l, a.spec[l].name, lab[l].name);
        rc = cae_net_create(&n1, 28, 28, 1, a.spec, a.n, 42, &e);
        if (rc == CAE_OK) rc = cae_net_create(&n2, 28, 28, 1, lab, n, 42, &e);
        if (check(rc == CAE_OK, "create: %s", e.msg)) {
            double md;
            check(n1.nparams == 74497 && bits_differ(n1.param, n2.param, n1.nparams, &md) == 0,
                  "the default text's net differs from the lab's (%zu parameters)", n1.nparams);
            cae_net_free(&n1), cae_net_free(&n2);
        }
    }
    rc = cae_arch_parse(&a, "c8k5,p,c4|c4,u,c1", &e);
    check(rc == CAE_OK && a.n == 6 && a.spec[0].ksize == 5 && a.latent == 2 && strcmp(a.spec[3].name, "dec_conv1") == 0 &&
              strcmp(a.spec[5].name, "dec_conv_output") == 0 && a.spec[5].act == CAE_ACT_SIGMOID &&
              a.spec[2].act == CAE_ACT_RELU,
          "c8k5,p,c4|c4,u,c1: %d %s", rc, e.msg);
    for (k = 0; k < 10; k++) {
        e.msg[0] = 0;
        rc = cae_arch_parse(&a, bad[k], &e);
        check(rc == CAE_ERR_ARG && strstr(e.msg, "arch \"") != NULL, "bad text \"%s\": %d (%s)", bad[k], rc, e.msg);
    }
    check(cae_arch_parse(&a, NULL, &e) == CAE_ERR_ARG, "NULL text");
    group_end(NULL);
}

static void test_bad_args(void)
{
    cae_layer_spec s[34];
    cae_net net;
    cae_trainer *m = NULL;
    cae_err e;
    float x[3 * 36], out[3 * 36];
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
    rc = cae_net_create(&net, 28, 28, 1, s, 32, 1, &e); /* 32 layers is allowed */
    if (check(rc == CAE_OK, "create with 32 layers: %d %s", rc, e.msg)) {
        rc = cae_trainer_create(&m, &net, 1, &e);
        check(rc == CAE_OK, "trainer with 32 layers: %d %s", rc, e.msg);
        cae_trainer_free(m);
        m = NULL;
        cae_net_free(&net);
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
    rc = cae_net_create(NULL, 28, 28, 1, s, 2, 1, &e);
    check(rc == CAE_ERR_ARG, "create with net NULL: %d, want CAE_ERR_ARG", rc);
    rc = cae_trainer_create(NULL, &net, 8, &e);
    check(rc == CAE_ERR_ARG, "trainer_create with out NULL: %d, want CAE_ERR_ARG", rc);
    rc = cae_net_create(&net, 6, 6, 1, s, 1, 1, NULL); /* a NULL cae_err is allowed */
    check(rc == CAE_OK, "create with e NULL: %d", rc);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&m, &net, 2, NULL);
        check(rc == CAE_OK, "trainer_create with e NULL: %d", rc);
        cae_trainer_free(m);
        m = NULL;
    }
    cae_net_free(&net);
    /* calls on a trainer and its net: n outside 1..max_batch, NULL data, unknown loss, bad layer */
    s[0].filters = 1; /* one output channel: x (2 images of 6x6x1) is also the target */
    rc = cae_net_create(&net, 6, 6, 1, s, 2, 1, &e);
    if (rc == CAE_OK) {
        rc = cae_trainer_create(&m, &net, 2, &e);
        cae_net_free(&net);
    }
    if (check(rc == CAE_OK, "create 6x6: %s", e.msg)) {
        const cae_net *mn = cae_trainer_net(m);
        float *p0 = fcopy(mn->param, mn->nparams);
        size_t bytes;
        void *scratch = net_scratch(mn, 1, &bytes);
        cae_tensor x0 = cae_tensor_of(x, 0, 6, 6, 1), x1 = cae_tensor_of(x, 1, 6, 6, 1);
        cae_tensor x2 = cae_tensor_of(x, 2, 6, 6, 1), x3 = cae_tensor_of(x, 3, 6, 6, 1);
        cae_tensor xm = cae_tensor_of(x, -1, 6, 6, 1), xnull = cae_tensor_of(NULL, 1, 6, 6, 1);
        cae_tensor o1 = cae_tensor_of(out, 1, 6, 6, 1), o3 = cae_tensor_of(out, 3, 6, 6, 1);
        cae_tensor o0 = cae_tensor_of(out, 0, 6, 6, 1), onull = cae_tensor_of(NULL, 1, 6, 6, 1);
        memset(x, 0, sizeof x);
        /* a batch of 0 or -1 images is a tensor of the wrong shape */
        check(cae_trainer_step(m, &x0, &x0, CAE_LOSS_BCE, &l, &e) == CAE_ERR_SHAPE && e.msg[0], "trainer_step n=0");
        check(cae_trainer_step(m, &x3, &x3, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG && e.msg[0],
              "trainer_step n > max_batch");
        check(cae_trainer_step(m, &xm, &xm, CAE_LOSS_BCE, &l, &e) == CAE_ERR_SHAPE, "trainer_step n=-1");
        check(cae_trainer_step(m, NULL, &x1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "trainer_step x NULL");
        check(cae_trainer_step(m, &xnull, &x1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "trainer_step x data NULL");
        check(cae_trainer_step(m, &x1, NULL, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "trainer_step t NULL");
        check(cae_trainer_step(m, &x1, &xnull, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "trainer_step t data NULL");
        check(cae_trainer_step(m, &x1, &x2, CAE_LOSS_BCE, &l, &e) == CAE_ERR_SHAPE, "trainer_step 1 image, 2 targets");
        check(cae_trainer_step(m, &x1, &x1, 7, &l, &e) == CAE_ERR_ARG, "trainer_step loss 7");
        check(cae_trainer_step(NULL, &x1, &x1, CAE_LOSS_BCE, &l, &e) == CAE_ERR_ARG, "trainer_step trainer NULL");
        check(memcmp(p0, mn->param, mn->nparams * sizeof(float)) == 0 && cae_trainer_adam(m)->t == 0,
              "a failed trainer_step changed the trainer");
        check(cae_net_evaluate(mn, &x0, &x0, CAE_LOSS_BCE, &l, NULL, scratch, bytes, &e) == CAE_ERR_SHAPE,
              "evaluate n=0");
        /* a net has no batch limit: 3 images evaluate although the trainer takes 2 */
        check(cae_net_evaluate(mn, &x3, &x3, CAE_LOSS_BCE, &l, NULL, scratch, bytes, &e) == CAE_OK,
              "evaluate n=3: %s", e.msg);
        check(cae_net_evaluate(mn, &x1, &x1, 0, &l, NULL, scratch, bytes, &e) == CAE_ERR_ARG, "evaluate loss 0");
        check(cae_net_forward(mn, &x0, &o0, scratch, bytes, &e) == CAE_ERR_SHAPE, "forward n=0");
        check(cae_net_forward(mn, &x3, &o3, scratch, bytes, &e) == CAE_OK, "forward n=3: %s", e.msg);
        check(cae_net_forward(mn, &x1, NULL, scratch, bytes, &e) == CAE_ERR_ARG, "forward out NULL");
        check(cae_net_forward(mn, &x1, &onull, scratch, bytes, &e) == CAE_ERR_ARG, "forward out data NULL");
        check(cae_net_forward(NULL, &x1, &o1, scratch, bytes, &e) == CAE_ERR_ARG, "forward net NULL");
        check(cae_net_encode(mn, -1, &x1, &o1, scratch, bytes, &e) == CAE_ERR_ARG, "encode layer -1");
        check(cae_net_encode(mn, 2, &x1, &o1, scratch, bytes, &e) == CAE_ERR_ARG, "encode layer 2 of 2");
        check(cae_trainer_step(m, &x2, &x2, CAE_LOSS_MSE, &l, &e) == CAE_OK, "trainer_step n = max_batch: %s", e.msg);
        free(p0);
        free(scratch);
        cae_trainer_free(m);
    }
    cae_trainer_free(NULL); /* allowed */
    cae_net_free(NULL);     /* allowed */
    cae_net_free(&net);     /* allowed on a freed (zeroed) net */
    check(strcmp(cae_strerror(CAE_OK), "ok") == 0 && cae_strerror(CAE_ERR_IO)[0] && cae_strerror(12345)[0],
          "cae_strerror");
    group_end(NULL);
}

/* ================================================================ 16. image grid */

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
    {
        const cae_kernels *ks = NULL;
        cae_err e;
        int i;
        printf("test_core: convae %s, kernel sets:", CONVAE_VERSION);
        for (i = 0; (ks = cae_kernels_get(i)) != NULL; i++)
            printf(" %s%s", cae_kernels_name(ks), cae_kernels_usable(ks) ? "" : " (not on this CPU)");
        if (cae_kernels_pick(NULL, &ks, &e) == CAE_OK)
            printf("; nets run on %s; ", cae_kernels_name(ks));
        else
            printf("; no default set (%s); ", e.msg);
    }
#ifdef _OPENMP
    printf("OpenMP with %d threads\n", omp_get_max_threads());
#else
    printf("no OpenMP\n");
#endif
    test_kernels();
    test_forward_by_hand();
    test_layer_gradients();
    test_fast_vs_ref();
    test_layers_fast_vs_ref();
    test_wino_transforms();
    test_losses();
    test_adam();
    test_glorot();
    test_model();
    /* most of the run under an emulator (tests/s390x.sh sets this); bin/scalar_test_core runs
       the same scalar code natively */
    if (getenv("CONVAE_TEST_SKIP_TRAINING")) printf("training         skipped (CONVAE_TEST_SKIP_TRAINING)\n");
    else test_training();
    test_determinism();
    test_batch_consistency();
    test_net();
    test_no_alloc();
    test_save_load();
    test_checkpoint();
    test_arch();
    test_bad_args();
    test_grid();
    if (g_fails) {
        printf("test_core: %d of %d checks FAILED (%.1f s)\n", g_fails, g_checks, now_s() - t0);
        return 1;
    }
    printf("test_core: %d checks passed (%.1f s)\n", g_checks, now_s() - t0);
    return 0;
}
