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
#include <string.h>

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

static double max_abs(const float *x, size_t n)
{
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* the device trainer against cae_trainer_step: the first step's loss and gradient, the
   parameters after `steps` steps (the last with inputs given from the host), evaluation, the
   state handed to a CPU trainer and back, and bad calls */
static void trainer_case(const char *arch, int h, int w, int c, int batch, int steps)
{
    cae_arch a;
    cae_net net, at;
    cae_trainer *cpu = NULL, *cpu2 = NULL;
    cae_gpu_trainer *gpu = NULL, *gpu2 = NULL;
    cae_adam ad = cae_adam_default(), ad2;
    cae_rng r = cae_rng_seed(5);
    cae_err e;
    int ndata = 3 * batch, *idx = (int *)malloc(sizeof(int) * (size_t)ndata), i, s, bad;
    size_t hw = (size_t)h * w * c, np, j;
    unsigned char *px = (unsigned char *)malloc((size_t)ndata * hw);
    float *x = rnd(&r, (size_t)batch * hw, 0, 1), *xn = rnd(&r, (size_t)batch * hw, 0, 1), *g, *p, *m, *v, *cm, *cv;
    char what[128];
    double lc = 0, lg = 0, l2 = 0;
    if (cae_arch_parse(&a, arch, &e) || cae_net_create(&net, h, w, c, a.spec, a.n, 9, &e)) {
        printf("error: %s: %s\n", arch, e.msg);
        failures++;
        return;
    }
    np = net.nparams;
    g = rnd(&r, np, 0, 0), p = rnd(&r, np, 0, 0), m = rnd(&r, np, 0, 0), v = rnd(&r, np, 0, 0);
    for (j = 0; j < (size_t)ndata * hw; j++) px[j] = (unsigned char)(j * 7919 % 251 < 120 ? j * 31 % 256 : 0);
    need(cae_trainer_create(&cpu, &net, batch, &e), &e);
    need(cae_gpu_trainer_create(&gpu, &net, &ad, batch, &e), &e);
    if (!cpu || !gpu) return;
    need(cae_gpu_trainer_data(gpu, px, ndata, &e), &e);
    for (s = 0; s < steps; s++) {
        cae_tensor t = cae_tensor_of(x, batch, h, w, c), tn = cae_tensor_of(xn, batch, h, w, c);
        int last = s == steps - 1; /* inputs from the host: xn, a noisy copy of the targets */
        for (i = 0; i < batch; i++) idx[i] = (i * 5 + s * 3) % ndata;
        for (i = 0; i < batch; i++)
            for (j = 0; j < hw; j++) {
                x[(size_t)i * hw + j] = px[(size_t)idx[i] * hw + j] * (1.0f / 255.0f);
                xn[(size_t)i * hw + j] = x[(size_t)i * hw + j] * 0.5f + 0.25f;
            }
        need(cae_trainer_step(cpu, last ? &tn : &t, &t, CAE_LOSS_BCE, &lc, &e), &e);
        need(cae_gpu_trainer_step(gpu, idx, batch, last ? xn : NULL, &lg, &e), &e);
        if (s == 0) {
            const float *gr = cae_trainer_grad(cpu);
            need(cae_gpu_trainer_grad(gpu, g, &e), &e);
            snprintf(what, sizeof what, "trainer %s: first step's gradient", arch);
            close_all(what, g, gr, np, 2e-5 * max_abs(gr, np), 1e-3);
        }
        if (!(fabs(lg - lc) <= 1e-5 * lc)) printf("  FAILED: step %d: loss %.9g, the CPU's %.9g\n", s, lg, lc), failures++;
    }
    printf("  %d steps: loss %.9g, the CPU's %.9g\n", steps, lg, lc);
    need(cae_gpu_trainer_get_state(gpu, p, m, v, &ad2, &e), &e);
    if (ad2.t != steps) printf("  FAILED: the device trainer counted %lld steps\n", ad2.t), failures++;
    /* Adam moves each parameter by about lr per step whatever the gradient's size, so the
       differences are in units of lr * steps */
    snprintf(what, sizeof what, "trainer %s: parameters after %d steps", arch, steps);
    close_all(what, p, cae_trainer_net(cpu)->param, np, 0.02 * ad.lr * steps, 0);
    /* evaluation: the device's loss against cae_net_evaluate on the device's parameters */
    need(cae_net_init(&at, h, w, c, a.spec, a.n, p, np, &e), &e);
    {
        cae_tensor t = cae_tensor_of(x, batch, h, w, c);
        size_t sb = cae_net_scratch_bytes(&at) * 64;
        void *scr = malloc(sb);
        need(cae_net_evaluate(&at, &t, &t, CAE_LOSS_BCE, &lc, NULL, scr, sb, &e), &e);
        need(cae_gpu_trainer_evaluate(gpu, idx, batch, NULL, &lg, &e), &e);
        printf("  evaluate: %.9g, cae_net_evaluate %.9g\n", lg, lc);
        if (!(fabs(lg - lc) <= 1e-5 * lc)) printf("  FAILED: the losses differ\n"), failures++;
        free(scr);
    }
    /* the state handed to a CPU trainer (as a checkpoint would) and to a second device trainer:
       one more step from each; the two device trainers agree bit for bit */
    need(cae_trainer_create(&cpu2, &net, batch, &e), &e);
    if (!cpu2) return;
    cae_trainer_moments(cpu2, &cm, &cv);
    memcpy(cm, m, np * 4), memcpy(cv, v, np * 4);
    *cae_trainer_adam(cpu2) = ad2;
    need(cae_trainer_set_params(cpu2, p, np, &e), &e);
    need(cae_gpu_trainer_create(&gpu2, &net, &ad, batch, &e), &e);
    if (!gpu2) return;
    bad = cae_gpu_trainer_step(gpu2, idx, 1, NULL, &l2, &e) != CAE_ERR_ARG; /* no data set yet */
    need(cae_gpu_trainer_data(gpu2, px, ndata, &e), &e);
    need(cae_gpu_trainer_set_state(gpu2, p, m, v, &ad2, &e), &e);
    {
        cae_tensor t = cae_tensor_of(x, batch, h, w, c);
        float *p2 = rnd(&r, np, 0, 0);
        need(cae_trainer_step(cpu2, &t, &t, CAE_LOSS_BCE, &lc, &e), &e);
        need(cae_gpu_trainer_step(gpu, idx, batch, NULL, &lg, &e), &e);
        need(cae_gpu_trainer_step(gpu2, idx, batch, NULL, &l2, &e), &e);
        need(cae_gpu_trainer_get_state(gpu, p, NULL, NULL, NULL, &e), &e);
        need(cae_gpu_trainer_get_state(gpu2, p2, NULL, NULL, NULL, &e), &e);
        if (lg != l2 || memcmp(p, p2, np * 4)) printf("  FAILED: two device trainers from one state differ\n"), failures++;
        snprintf(what, sizeof what, "trainer %s: one step from the handed-over state", arch);
        close_all(what, p, cae_trainer_net(cpu2)->param, np, 0.02 * ad.lr, 0);
        free(p2);
    }
    /* bad calls: an index outside the data set, too large a batch, no images */
    idx[0] = ndata;
    bad += cae_gpu_trainer_step(gpu, idx, 1, NULL, &lg, &e) != CAE_ERR_ARG;
    idx[0] = 0;
    bad += cae_gpu_trainer_step(gpu, idx, batch + 1, NULL, &lg, &e) != CAE_ERR_ARG;
    bad += cae_gpu_trainer_data(gpu, NULL, 1, &e) != CAE_ERR_ARG;
    if (bad) printf("  FAILED: %d bad calls were not refused\n", bad), failures++;
    cae_trainer_free(cpu), cae_trainer_free(cpu2), cae_gpu_trainer_free(gpu), cae_gpu_trainer_free(gpu2);
    cae_net_free(&net);
    free(idx), free(px), free(x), free(xn), free(g), free(p), free(m), free(v);
}

/* nets the device trainer refuses */
static void trainer_refusals(void)
{
    static const char *const arch[] = {"c4,p|c4,c1", "c4,p|c4,u,c2"}; /* output 2x smaller; 2 channels */
    cae_adam ad = cae_adam_default();
    cae_gpu_trainer *g = NULL;
    cae_arch a;
    cae_net net;
    cae_err e;
    int i;
    for (i = 0; i < 2; i++) {
        need(cae_arch_parse(&a, arch[i], &e), &e);
        need(cae_net_create(&net, 8, 8, 1, a.spec, a.n, 1, &e), &e);
        if (cae_gpu_trainer_create(&g, &net, &ad, 4, &e) != CAE_ERR_ARG || g)
            printf("FAILED: the device trainer took %s\n", arch[i]), failures++;
        else printf("refused %s: %s\n", arch[i], e.msg);
        cae_net_free(&net);
    }
}

/* test_gpu: every case; test_gpu --lab BATCH STEPS: only the lab's model against the CPU
   trainer, at the lab's batch size (tools/gpu_check.sh on a GPU) */
int main(int argc, char **argv)
{
    cae_rng r = cae_rng_seed(11);
    char name[256];
    cae_err e;
    int rc = cae_gpu_available(name, sizeof name, &e);
    printf("GPU backend: %s; device: %s\n", cae_gpu_backend(), rc ? e.msg : name);
    if (rc) return 1;
    if (argc == 4 && !strcmp(argv[1], "--lab")) {
        int batch = atoi(argv[2]), steps = atoi(argv[3]);
        if (batch < 1 || batch > 4096 || steps < 1 || steps > 100000) {
            printf("usage: test_gpu [--lab BATCH STEPS] (batch 1..4096, steps 1..100000)\n");
            return 2;
        }
        trainer_case(CAE_LAB_ARCH, 28, 28, 1, batch, steps);
        printf("%s: %d failed\n", failures ? "FAILED" : "passed", failures);
        return failures > 100 ? 100 : failures;
    }
    if (argc != 1) {
        printf("usage: test_gpu [--lab BATCH STEPS]\n");
        return 2;
    }
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
    trainer_case("c5,p,c7|c6,u,c3", 6, 10, 3, 7, 4);
    trainer_case("c8,p|c8,u,c1", 12, 10, 1, 9, 6);
    trainer_case(CAE_LAB_ARCH, 28, 28, 1, 6, 3);
    trainer_refusals();
    printf("%s: %d failed\n", failures ? "FAILED" : "passed", failures);
    return failures > 100 ? 100 : failures;
}
