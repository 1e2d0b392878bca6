/* test_gpu.c - tools/convae_cuda.cu's layers against convae.h's scalar _ref functions.

   Built with -DCAE_GPU_CUDA and linked with the unit nvcc built for the GPU (make cuda:
   bin/test_gpu_cuda), or on its own (make test: bin/test_gpu), the same kernels included and
   built for host emulation, where every block and thread of each
   grid runs on the CPU. Odd shapes: sizes that are not multiples of the 64x64 tiles or of the
   16-wide sum steps, odd image sides for pooling, kernel sizes 1, 3 and 5, more pixels than one
   weight-gradient chunk. The largest difference is printed per layer; a test fails above
   atol + rtol*|ref|. Exit status: the number of failed checks (capped at 100). */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"
#ifdef CAE_GPU_CUDA
#include "../tools/convae_cuda.h" /* linked with the unit nvcc built */
#else
#define CAE_GPU_EMULATE
#include "../tools/convae_cuda.cu" /* the kernels, walked on the CPU */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

static float *rnd(cae_rng *r, size_t n, float lo, float hi)
{
    float *p = (float *)malloc(n * sizeof *p + 4);
    size_t i;
    if (!p) exit(2);
    for (i = 0; i < n; i++) p[i] = lo + (hi - lo) * cae_rng_uniform(r);
    return p;
}

/* compares n floats, prints the largest difference */
static void close_all(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol)
{
    double worst = 0.0, size = 0.0;
    size_t i, bad = 0, first = 0;
    for (i = 0; i < n; i++) size += fabs(ref[i]);
    if (!(size > 0.0)) {
        printf("%s: the reference is all zero: nothing is tested  FAILED\n", what);
        failures++;
    }
    for (i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= atol + rtol * fabs(ref[i]))) {
            if (!bad) first = i;
            bad++;
        }
        if (d > worst || d != d) worst = d;
    }
    printf("%-48s %8zu values, largest difference %.3g%s\n", what, n, worst, bad ? "  FAILED" : "");
    if (bad) {
        printf("  %zu outside %g + %g*|ref|; first at %zu: got %.9g, want %.9g\n", bad, atol, rtol, first,
               (double)got[first], (double)ref[first]);
        failures++;
    }
}

static void need(int rc, const cae_err *e)
{
    if (rc) {
        printf("error: %s\n", e->msg);
        failures++;
    }
}

static void conv_case(cae_rng *r, int n, int h, int w, int ci, int co, int k, int act)
{
    size_t nin = (size_t)n * h * w * ci, nout = (size_t)n * h * w * co, nw = (size_t)k * k * ci * co;
    float *in = rnd(r, nin, -1, 1), *wt = rnd(r, nw, -0.5f, 0.5f), *bias = rnd(r, (size_t)co, -0.5f, 0.5f);
    float *dpre = rnd(r, nout, -1, 1), *y = rnd(r, nout, 0, 0), *yr = rnd(r, nout, 0, 0);
    float *din = rnd(r, nin, 0, 0), *dinr = rnd(r, nin, 0, 0), *dw = rnd(r, nw, 0, 0), *dwr = rnd(r, nw, 0, 0);
    float *db = rnd(r, (size_t)co, 0, 0), *dbr = rnd(r, (size_t)co, 0, 0);
    char what[96];
    cae_err e;
    size_t i;
    cae_conv2d_forward_ref(yr, in, wt, bias, n, h, w, ci, co, k, act);
    need(cae_gpu_conv2d_forward(y, in, wt, bias, n, h, w, ci, co, k, act, &e), &e);
    snprintf(what, sizeof what, "conv %dx%dx%dx%d->%d k%d act%d forward", n, h, w, ci, co, k, act);
    close_all(what, y, yr, nout, 1e-5, 1e-5);
    for (i = 0; i < nw; i++) dwr[i] = 0.0f;
    for (i = 0; i < (size_t)co; i++) dbr[i] = 0.0f;
    cae_conv2d_backward_ref(dinr, dwr, dbr, dpre, in, wt, n, h, w, ci, co, k);
    need(cae_gpu_conv2d_backward(din, dw, db, dpre, in, wt, n, h, w, ci, co, k, &e), &e);
    /* the sums run over up to n*h*w terms of size ~1 in another order: relative to their size */
    snprintf(what, sizeof what, "  input gradient");
    close_all(what, din, dinr, nin, 1e-5 * sqrt((double)k * k * co), 1e-5);
    snprintf(what, sizeof what, "  weight gradient");
    close_all(what, dw, dwr, nw, 1e-5 * sqrt((double)n * h * w), 1e-5);
    snprintf(what, sizeof what, "  bias gradient");
    close_all(what, db, dbr, (size_t)co, 1e-5 * sqrt((double)n * h * w), 1e-5);
    free(in), free(wt), free(bias), free(dpre), free(y), free(yr), free(din), free(dinr), free(dw), free(dwr);
    free(db), free(dbr);
}

static void pool_case(cae_rng *r, int n, int h, int w, int c)
{
    int oh = (h + 1) / 2, ow = (w + 1) / 2;
    size_t nin = (size_t)n * h * w * c, nout = (size_t)n * oh * ow * c, i;
    float *in = rnd(r, nin, -1, 1), *y = rnd(r, nout, 0, 0), *yr = rnd(r, nout, 0, 0), *d = rnd(r, nout, -1, 1);
    float *din = rnd(r, nin, 0, 0), *dinr = rnd(r, nin, 0, 0), *ag = rnd(r, nout, 0, 0), *agr = rnd(r, nout, 0, 0);
    int *am = (int *)malloc(nout * sizeof *am + 4), *amr = (int *)malloc(nout * sizeof *amr + 4);
    char what[96];
    cae_err e;
    if (!am || !amr) exit(2);
    for (i = 0; i < nin; i += 7) in[i] = 0.0f; /* ties, as ReLU outputs have: the first one wins */
    cae_maxpool2d_forward_ref(yr, amr, in, n, h, w, c);
    need(cae_gpu_maxpool2d_forward(y, am, in, n, h, w, c, &e), &e);
    snprintf(what, sizeof what, "maxpool %dx%dx%dx%d forward", n, h, w, c);
    close_all(what, y, yr, nout, 0, 0);
    for (i = 0; i < nout; i++) ag[i] = (float)am[i], agr[i] = (float)amr[i];
    close_all("  argmax", ag, agr, nout, 0, 0);
    cae_maxpool2d_backward_ref(dinr, d, amr, n, h, w, c);
    need(cae_gpu_maxpool2d_backward(din, d, amr, n, h, w, c, &e), &e);
    close_all("  backward", din, dinr, nin, 0, 0);
    free(in), free(y), free(yr), free(d), free(din), free(dinr), free(ag), free(agr), free(am), free(amr);
}

static void up_case(cae_rng *r, int n, int h, int w, int c)
{
    size_t nin = (size_t)n * h * w * c, nout = nin * 4;
    float *in = rnd(r, nin, -1, 1), *y = rnd(r, nout, 0, 0), *yr = rnd(r, nout, 0, 0), *d = rnd(r, nout, -1, 1);
    float *din = rnd(r, nin, 0, 0), *dinr = rnd(r, nin, 0, 0);
    char what[96];
    cae_err e;
    cae_upsample2d_forward_ref(yr, in, n, h, w, c);
    need(cae_gpu_upsample2d_forward(y, in, n, h, w, c, &e), &e);
    snprintf(what, sizeof what, "upsample %dx%dx%dx%d forward", n, h, w, c);
    close_all(what, y, yr, nout, 0, 0);
    cae_upsample2d_backward_ref(dinr, d, n, h, w, c);
    need(cae_gpu_upsample2d_backward(din, d, n, h, w, c, &e), &e);
    close_all("  backward (same order of the 4 sums)", din, dinr, nin, 0, 0);
    free(in), free(y), free(yr), free(d), free(din), free(dinr);
}

static void vec_cases(cae_rng *r, size_t n)
{
    float *dy = rnd(r, n, -1, 1), *y = rnd(r, n, -1, 1), *dx = rnd(r, n, 0, 0), *dxr = rnd(r, n, 0, 0);
    float *t = rnd(r, n, 0, 1), *g = rnd(r, n, 0, 0), *gr = rnd(r, n, 0, 0), *p = rnd(r, n, -1, 1);
    float *m = rnd(r, n, -0.01f, 0.01f), *v = rnd(r, n, 0, 1e-4f), *pr = rnd(r, n, 0, 0), *mr = rnd(r, n, 0, 0);
    float *vr = rnd(r, n, 0, 0), *grad = rnd(r, n, -0.01f, 0.01f);
    double sum = 0.0, sumr;
    cae_adam a = cae_adam_default(), ar;
    char what[96];
    cae_err e;
    size_t i;
    for (i = 0; i < n; i += 5) y[i] = 0.0f; /* ReLU's kink: no gradient at 0 */
    for (i = 0; i < n; i += 97) dy[i] = 200.0f * dy[i]; /* logits far into the clamp */
    cae_relu_backward_ref(dxr, dy, y, n);
    need(cae_gpu_relu_backward(dx, dy, y, n, &e), &e);
    snprintf(what, sizeof what, "relu backward, %zu values", n);
    close_all(what, dx, dxr, n, 0, 0);
    sumr = cae_bce_logits(dy, t, n, gr, 0.25f);
    need(cae_gpu_bce_logits(dy, t, n, g, 0.25f, &sum, &e), &e);
    close_all("  bce from logits: gradient", g, gr, n, 1e-7, 1e-6);
    printf("  bce from logits: sum %.12g, reference %.12g\n", sum, sumr);
    if (!(fabs(sum - sumr) <= 1e-9 * fabs(sumr))) printf("  FAILED: the sums differ\n"), failures++;
    a.t = 6, ar = a;
    for (i = 0; i < n; i++) pr[i] = p[i], mr[i] = m[i], vr[i] = v[i];
    cae_adam_step(&ar, pr, grad, mr, vr, n);
    need(cae_gpu_adam_step(&a, p, grad, m, v, n, &e), &e);
    close_all("  adam: parameters", p, pr, n, 1e-7, 1e-6);
    close_all("  adam: m", m, mr, n, 1e-9, 1e-6);
    close_all("  adam: v", v, vr, n, 1e-12, 1e-6);
    if (a.t != ar.t) printf("  FAILED: adam counted %lld steps, the reference %lld\n", a.t, ar.t), failures++;
    free(dy), free(y), free(dx), free(dxr), free(t), free(g), free(gr), free(p), free(m), free(v), free(pr);
    free(mr), free(vr), free(grad);
}

int main(void)
{
    cae_rng r = cae_rng_seed(11);
    char name[256];
    cae_err e;
    int rc = cae_gpu_available(name, sizeof name, &e);
    printf("GPU backend: %s; device: %s\n", cae_gpu_backend(), rc ? e.msg : name);
    if (rc) return 1;
    /* the lab's shapes (batch 3), then odd ones */
    conv_case(&r, 3, 28, 28, 1, 32, 3, CAE_ACT_RELU);
    conv_case(&r, 3, 14, 14, 32, 64, 3, CAE_ACT_RELU);
    conv_case(&r, 3, 28, 28, 32, 1, 3, CAE_ACT_SIGMOID);
    conv_case(&r, 2, 7, 9, 5, 67, 3, CAE_ACT_NONE);
    conv_case(&r, 1, 11, 5, 70, 3, 5, CAE_ACT_RELU);
    conv_case(&r, 4, 6, 7, 3, 2, 1, CAE_ACT_NONE);
    conv_case(&r, 5, 33, 29, 2, 17, 3, CAE_ACT_RELU); /* 4785 pixels: three weight-gradient chunks */
    pool_case(&r, 3, 28, 28, 32);
    pool_case(&r, 2, 7, 9, 5);
    pool_case(&r, 1, 1, 3, 3);
    up_case(&r, 3, 7, 7, 64);
    up_case(&r, 2, 3, 5, 3);
    vec_cases(&r, 1000);
    vec_cases(&r, 200705); /* more than the 65,536 lanes of the loss sum, three times over */
    printf("%s: %d failed\n", failures ? "FAILED" : "passed", failures);
    return failures > 100 ? 100 : failures;
}
