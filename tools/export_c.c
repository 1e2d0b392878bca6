/* export_c.c - a convae model file as a C header for microcontrollers: the architecture and the
   weights as static const arrays (float32, or int8 with one scale per output channel and
   activation scales calibrated on sample images), the scratch size as a constant, and, if asked,
   a few test images with the outputs this machine computes for them, so that a device can check
   itself (examples/embedded_infer.c does).

   Build:  make bin/export_c   (or: cc -O2 -I. tools/export_c.c -o export_c -lm)
   Run:    bin/export_c runs/mnist/model.cae model.h [--int8] [--data DIR] [--test 8] [--eval]
           --help lists the flags.

   The header is written whole or not at all (a temporary file, then a rename). Float outputs
   embedded for --test come from the _ref layer functions (the plain loops every kernel set is
   held to); int8 ones from cae_qnet_forward, whose integers are the same on every platform. */
#define CONVAE_IMPLEMENTATION
#include "convae.h"
#define CONVAE_REPORT_IMPLEMENTATION
#include "examples/convae_report.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *model, *out, *name, *data;
    int int8, calib, test, eval, lab_init;
    unsigned long long seed;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: export_c MODEL.cae OUT.h [flags]\n"
               "  --name NAME     prefix of the C names: NAME_params, NAME_SCRATCH_BYTES, ... (default: model)\n"
               "  --int8          int8 weights (per output channel) and activations (per layer), calibrated on\n"
               "                  the first --calib training images of --data\n"
               "  --data DIR      MNIST folder: training images to calibrate on, test images for --test and --eval\n"
               "                  (default ../shared/data/mnist; .gz or raw); \"synthetic\": made-up strokes\n"
               "  --calib N       calibration images (300)\n"
               "  --test N        embed the first N test images and this machine's outputs for them (0)\n"
               "  --eval          test MSE and BCE on the whole test set: float32, and int8 with --int8\n"
               "  --lab-init SEED no MODEL.cae: the lab's model as cae_net_create initialises it (for tests)\n"
               "  --help          this text\n");
}

static int parse_num(const char *s, double lo, double hi, double *v)
{
    char *end;
    if (!s || !*s) return 0;
    *v = strtod(s, &end);
    return *end == 0 && *v >= lo && *v <= hi;
}

/* 1: run; 0: bad flags; -1: help printed */
static int parse_args(int argc, char **argv, options *o)
{
    int i, pos = 0;
    double d;
    memset(o, 0, sizeof *o);
    o->name = "model", o->data = "../shared/data/mnist", o->calib = 300;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--int8")) o->int8 = 1;
        else if (!strcmp(a, "--eval")) o->eval = 1;
        else if (a[0] != '-' && pos == 0) o->model = a, pos++;
        else if (a[0] != '-' && pos == 1) o->out = a, pos++;
        else if (!v) {
            fprintf(stderr, "error: %s needs a value (or is unknown); see --help\n", a);
            return 0;
        } else if (!strcmp(a, "--name")) o->name = v, i++;
        else if (!strcmp(a, "--data")) o->data = v, i++;
        else if (!strcmp(a, "--calib") && parse_num(v, 1, 60000, &d)) o->calib = (int)d, i++;
        else if (!strcmp(a, "--test") && parse_num(v, 0, 1000, &d)) o->test = (int)d, i++;
        else if (!strcmp(a, "--lab-init") && parse_num(v, 0, 1e18, &d)) o->lab_init = 1, o->seed = (unsigned long long)d, i++;
        else {
            fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v);
            return 0;
        }
    }
    if (o->lab_init && pos == 1) o->out = o->model, o->model = NULL, pos++; /* export_c --lab-init 42 OUT.h */
    if (pos != 2) {
        fprintf(stderr, "error: give a model file and the header to write; see --help\n");
        return 0;
    }
    for (i = 0; o->name[i]; i++)
        if (!(isalnum((unsigned char)o->name[i]) || o->name[i] == '_') || (i == 0 && isdigit((unsigned char)o->name[0]))) {
            fprintf(stderr, "error: --name %s is not a C identifier\n", o->name);
            return 0;
        }
    return 1;
}

/* ------------------------------------------------------------------ data */

/* n 28x28 pictures of one to three strokes, from seed: what --data synthetic gives where there
   is no MNIST (a test of the pipeline, not of the model's quality) */
static int synth_images(cae_idx *x, int n, unsigned long long seed)
{
    cae_rng r = cae_rng_seed(seed);
    unsigned char *px = (unsigned char *)calloc((size_t)n * 784, 1);
    int i, s, t;
    if (!px) return 0;
    for (i = 0; i < n; i++)
        for (s = 0, t = 1 + cae_rng_below(&r, 3); s < t; s++) {
            float x0 = 4 + 20 * cae_rng_uniform(&r), y0 = 4 + 20 * cae_rng_uniform(&r);
            float x1 = 4 + 20 * cae_rng_uniform(&r), y1 = 4 + 20 * cae_rng_uniform(&r);
            int k;
            for (k = 0; k <= 40; k++) {
                int xx = (int)(x0 + (x1 - x0) * (float)k / 40.0f), yy = (int)(y0 + (y1 - y0) * (float)k / 40.0f);
                px[(size_t)i * 784 + (size_t)yy * 28 + xx] = 255;
            }
        }
    memset(x, 0, sizeof *x);
    x->type = CAE_IDX_U8, x->ndim = 3, x->dims[0] = n, x->dims[1] = x->dims[2] = 28;
    x->count = (size_t)n * 784, x->elem_size = 1, x->data = px;
    return 1;
}

/* DIR/stem.gz or DIR/stem: n x h x w u8 images ("synthetic": made up) */
static int load_images(const char *dir, const char *stem, cae_idx *x)
{
    char path[1024];
    cae_err e;
    int rc;
    if (!strcmp(dir, "synthetic")) return synth_images(x, stem[0] == 't' && stem[1] == '1' ? 100 : 1000, stem[0]);
    snprintf(path, sizeof path, "%s/%s.gz", dir, stem);
    rc = cae_idx_load(path, x, &e);
    if (rc == CAE_ERR_IO) {
        snprintf(path, sizeof path, "%s/%s", dir, stem);
        rc = cae_idx_load(path, x, &e);
    }
    if (rc) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    if (x->type != CAE_IDX_U8 || x->ndim != 3 || x->dims[0] < 1) {
        fprintf(stderr, "error: %s: expected u8 images N x H x W\n", path);
        cae_idx_free(x);
        return 0;
    }
    return 1;
}

static void to_float(float *dst, const cae_idx *x, int first, int n)
{
    size_t hw = (size_t)x->dims[1] * x->dims[2], i;
    const unsigned char *p = (const unsigned char *)x->data + (size_t)first * hw;
    for (i = 0; i < (size_t)n * hw; i++) dst[i] = p[i] * (1.0f / 255.0f);
}

/* ------------------------------------------------------------------ the float reference */

/* One image through the _ref layer functions: out gets the net's output; buf holds 2 x maxact. */
static void forward_ref(const cae_net *net, const float *x, float *out, float *buf)
{
    const float *in = x;
    int l;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        float *o = l == net->nlayers - 1 ? out : buf + (size_t)(l % 2) * net->maxact;
        size_t on = (size_t)L->oh * L->ow * L->oc;
        if (L->kind == CAE_CONV2D) {
            const float *wt = net->param + L->poff;
            cae_conv2d_forward_ref(o, in, wt, wt + L->nparams - L->oc, 1, L->h, L->w, L->c, L->oc, L->k, L->act);
        } else if (L->kind == CAE_MAXPOOL2D) {
            cae_maxpool2d_forward_ref(o, NULL, in, 1, L->h, L->w, L->c);
        } else if (L->kind == CAE_UPSAMPLE2D) {
            cae_upsample2d_forward_ref(o, in, 1, L->h, L->w, L->c);
        } else if (L->kind == CAE_RELU) {
            cae_relu_forward_ref(o, in, on);
        } else {
            cae_sigmoid_forward(o, in, on);
        }
        in = o;
    }
}

/* ------------------------------------------------------------------ int8 quantisation */

typedef struct qarrays {
    signed char *wq, *sq;
    int *iq;
    float *fq;
    size_t nwq, niq, nsq, nfq;
} qarrays;

static void free_q(qarrays *a)
{
    free(a->wq), free(a->sq), free(a->iq), free(a->fq);
    memset(a, 0, sizeof *a);
}

static long long lround_away(double v) /* long long: 2^31 must fit where long has 32 bits (Windows) */
{
    return v >= 0 ? (long long)(v + 0.5) : -(long long)(0.5 - v);
}

/* Scales from the float net: weights per output channel (max |w| -> 127); each conv's output
   per layer (max |value| over the calibration images -> 127; pooling, upsampling and ReLU keep
   their input's); the input 1/127 (pixels in [0, 1]). Then the integer parameters. */
static int quantize(const cae_net *net, const float *calib, int ncalib, qarrays *a)
{
    double act[CAE_MAX_LAYERS], in_scale = 1.0 / 127.0, s_in;
    size_t per = cae_net_scratch_bytes(net), i, wo = 0, io = 0, so = 0, fo;
    void *scratch = malloc(per);
    float *y = (float *)malloc(sizeof(float) * net->maxact * 64);
    cae_err e;
    int l, b;
    memset(a, 0, sizeof *a);
    if (!scratch || !y) {
        free(scratch), free(y);
        fprintf(stderr, "error: out of memory\n");
        return 0;
    }
    for (l = 0; l < net->nlayers; l++) { /* calibration: the largest |output| of each conv */
        const cae_layer *L = net->layer + l;
        size_t on = (size_t)L->oh * L->ow * L->oc;
        act[l] = 0;
        if (L->kind != CAE_CONV2D || l == net->nlayers - 1) continue;
        for (b = 0; b < ncalib; b += 64) {
            int k = ncalib - b < 64 ? ncalib - b : 64;
            cae_tensor x = cae_tensor_of((float *)calib + (size_t)b * net->h * net->w * net->c, k, net->h, net->w, net->c);
            cae_tensor t = cae_tensor_of(y, k, L->oh, L->ow, L->oc);
            if (cae_net_encode(net, l, &x, &t, scratch, per, &e)) {
                fprintf(stderr, "error: calibration: %s\n", e.msg);
                free(scratch), free(y);
                return 0;
            }
            for (i = 0; i < on * (size_t)k; i++)
                if (fabs(y[i]) > act[l]) act[l] = fabs(y[i]);
        }
    }
    free(scratch), free(y);
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        if (L->kind == CAE_SIGMOID) {
            fprintf(stderr, "error: int8: layer %s: a Sigmoid layer of its own is not supported (only a conv's "
                            "activation)\n", L->name);
            return 0;
        }
        if (L->kind == CAE_CONV2D) a->nwq += (size_t)L->k * L->k * L->c * L->oc, a->niq += 2 * (size_t)L->oc, a->nsq += (size_t)L->oc;
    }
    a->nfq = 1 + (size_t)net->nlayers + a->nsq;
    a->wq = (signed char *)malloc(a->nwq), a->sq = (signed char *)malloc(a->nsq);
    a->iq = (int *)malloc(sizeof(int) * a->niq), a->fq = (float *)malloc(sizeof(float) * a->nfq);
    if (!a->wq || !a->sq || !a->iq || !a->fq) {
        free_q(a);
        fprintf(stderr, "error: out of memory\n");
        return 0;
    }
    a->fq[0] = (float)in_scale;
    fo = 1 + (size_t)net->nlayers;
    s_in = in_scale;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        const float *wt = net->param + L->poff, *bias = wt + L->nparams - L->oc;
        size_t nk = (size_t)L->k * L->k * L->c, o, j;
        double s_out = s_in; /* pooling, upsampling, ReLU */
        if (L->kind == CAE_CONV2D) {
            int last = l == net->nlayers - 1;
            s_out = last ? 1.0 : (act[l] > 0 ? act[l] / 127.0 : 1.0);
            for (o = 0; o < (size_t)L->oc; o++) {
                double m = 0, sw, M, f;
                int ex;
                long long m0;
                for (j = 0; j < nk; j++) m = fabs(wt[j * L->oc + o]) > m ? fabs(wt[j * L->oc + o]) : m;
                sw = m > 0 ? m / 127.0 : 1.0;
                for (j = 0; j < nk; j++) {
                    long long v = lround_away(wt[j * L->oc + o] / sw);
                    a->wq[wo + j * L->oc + o] = (signed char)(v > 127 ? 127 : v < -127 ? -127 : v);
                }
                {
                    double bq = bias[o] / (s_in * sw);
                    a->iq[io + o] = (int)(bq > 2e9 ? 2e9 : bq < -2e9 ? -2e9 : (double)lround_away(bq));
                }
                M = s_in * sw / s_out; /* sum -> the next layer's int8: m0 / 2^shift */
                f = frexp(M, &ex);
                m0 = lround_away(f * 2147483648.0);
                if (m0 >= 2147483648LL) m0 /= 2, ex++;
                if (31 - ex < 1 || 31 - ex > 62) {
                    fprintf(stderr, "error: int8: %s channel %zu: requantisation factor %g out of range\n", L->name, o, M);
                    free_q(a);
                    return 0;
                }
                a->iq[io + L->oc + o] = (int)m0;
                a->sq[so + o] = (signed char)(31 - ex);
                a->fq[fo + o] = (float)(s_in * sw);
            }
            wo += nk * L->oc, io += 2 * (size_t)L->oc, so += (size_t)L->oc, fo += (size_t)L->oc;
        }
        a->fq[1 + l] = (float)s_out;
        s_in = s_out;
    }
    return 1;
}

/* ------------------------------------------------------------------ measuring */

typedef struct quality {
    double mse, bce;
} quality;

static int eval_float(const cae_net *net, const cae_idx *te, quality *qf)
{
    size_t per = cae_net_scratch_bytes(net), hw = (size_t)net->h * net->w;
    float *x = (float *)malloc(sizeof(float) * hw * 256), *mse = (float *)malloc(sizeof(float) * 256);
    void *scratch = malloc(per);
    double bce = 0, msum = 0;
    cae_err e;
    int b, i, n = te->dims[0];
    if (!x || !mse || !scratch) {
        free(x), free(mse), free(scratch);
        return 0;
    }
    for (b = 0; b < n; b += 256) {
        int k = n - b < 256 ? n - b : 256;
        cae_tensor t;
        double l;
        to_float(x, te, b, k);
        t = cae_tensor_of(x, k, net->h, net->w, 1);
        if (cae_net_evaluate(net, &t, &t, CAE_LOSS_BCE, &l, mse, scratch, per, &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            free(x), free(mse), free(scratch);
            return 0;
        }
        bce += l * k;
        for (i = 0; i < k; i++) msum += mse[i];
    }
    qf->bce = bce / n, qf->mse = msum / n;
    free(x), free(mse), free(scratch);
    return 1;
}

static int eval_int8(const cae_qnet *q, const cae_idx *te, quality *qq)
{
    const cae_layer *L = q->net.layer + q->net.nlayers - 1;
    size_t per = cae_qnet_scratch_bytes(q), hw = (size_t)q->net.h * q->net.w, on = (size_t)L->oh * L->ow * L->oc, j;
    float *x = (float *)malloc(sizeof(float) * hw), *y = (float *)malloc(sizeof(float) * on);
    float *z = (float *)malloc(sizeof(float) * on);
    int *sums = (int *)malloc(sizeof(int) * on), i, n = te->dims[0];
    void *scratch = malloc(per);
    double bce = 0, msum = 0;
    cae_err e;
    if (!x || !y || !z || !sums || !scratch || L->kind != CAE_CONV2D || on != hw) {
        free(x), free(y), free(z), free(sums), free(scratch);
        fprintf(stderr, "error: int8 evaluation wants a net ending in a conv with the input's size\n");
        return 0;
    }
    for (i = 0; i < n; i++) {
        to_float(x, te, i, 1);
        if (cae_qnet_forward(q, x, y, sums, scratch, per, &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            free(x), free(y), free(z), free(sums), free(scratch);
            return 0;
        }
        for (j = 0; j < on; j++) z[j] = (float)sums[j] * q->conv[q->net.nlayers - 1].deq[j % L->oc];
        bce += (L->act == CAE_ACT_SIGMOID ? cae_bce_logits(z, x, on, NULL, 0.0f) : cae_bce(y, x, on, NULL, 0.0f)) / (double)on;
        msum += cae_mse(y, x, on, NULL, 0.0f) / (double)on;
    }
    qq->bce = bce / n, qq->mse = msum / n;
    free(x), free(y), free(z), free(sums), free(scratch);
    return 1;
}

/* the layer specs a net was made from (names pointing into the net) */
static void specs_of(const cae_net *net, cae_layer_spec *specs)
{
    int i;
    for (i = 0; i < net->nlayers; i++) {
        const cae_layer *L = net->layer + i;
        specs[i].kind = L->kind, specs[i].filters = L->kind == CAE_CONV2D ? L->oc : 0, specs[i].ksize = L->k;
        specs[i].act = L->act, specs[i].name = L->name;
    }
}

/* ------------------------------------------------------------------ writing C */

/* NAME in capitals, for the macros */
static void upper(char *dst, size_t cap, const char *s)
{
    size_t i;
    for (i = 0; s[i] && i + 1 < cap; i++) dst[i] = (char)toupper((unsigned char)s[i]);
    dst[i] = 0;
}

static void put_floats(cae_text *t, const char *decl, const float *v, size_t n)
{
    size_t i;
    cae_text_printf(t, "%s[%zu] = {", decl, n ? n : 1);
    for (i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "%.9g", v[i]); /* 9 digits: the float comes back exactly */
        if (!strpbrk(num, ".e")) strcat(num, ".0");
        cae_text_printf(t, "%s%sf", i % 8 ? ", " : i ? ",\n    " : "\n    ", num);
    }
    cae_text_printf(t, "%s};\n", n ? "" : "0");
}

static void put_ints(cae_text *t, const char *decl, const int *v, const signed char *c, const unsigned char *u,
                     size_t n)
{
    size_t i;
    cae_text_printf(t, "%s[%zu] = {", decl, n ? n : 1);
    for (i = 0; i < n; i++)
        cae_text_printf(t, "%s%d", i % 16 ? ", " : i ? ",\n    " : "\n    ", v ? v[i] : c ? (int)c[i] : (int)u[i]);
    cae_text_printf(t, "%s};\n", n ? "" : "0");
}

int main(int argc, char **argv)
{
    options o;
    cae_net net;
    cae_qnet qn;
    qarrays qa;
    cae_idx tr, te;
    cae_err e;
    cae_text t;
    cae_layer_spec specs[CAE_MAX_LAYERS];
    char up[64];
    float *calib = NULL, *x = NULL, *y = NULL, *buf = NULL, *expect = NULL, *mse = NULL;
    int *sums = NULL, ok = 0, i, nspec, latent;
    size_t hw, on, flash = 0, ram;
    const cae_layer *last;
    unsigned long crc = 0;
    quality qf, qq;

    memset(&net, 0, sizeof net), memset(&tr, 0, sizeof tr), memset(&te, 0, sizeof te), memset(&t, 0, sizeof t);
    memset(&qa, 0, sizeof qa);
    i = parse_args(argc, argv, &o);
    if (i <= 0) return i ? 0 : 2;
    if (o.lab_init) {
        const cae_layer_spec *spec = cae_lab_specs(&nspec);
        if (cae_net_create(&net, 28, 28, 1, spec, nspec, o.seed, &e)) goto fail_e;
    } else if (cae_net_load(&net, o.model, &e)) {
        goto fail_e;
    }
    net.ks = cae_kernels_get(0); /* the host's float figures as a scalar device computes them */
    hw = (size_t)net.h * net.w * net.c;
    last = net.layer + net.nlayers - 1;
    on = (size_t)last->oh * last->ow * last->oc;
    latent = cae_net_find(&net, "enc_pool2");
    if ((o.int8 || o.test || o.eval) && !load_images(o.data, "t10k-images-idx3-ubyte", &te)) goto fail;
    if ((o.test || o.eval) && (size_t)te.dims[1] * te.dims[2] != hw) {
        fprintf(stderr, "error: the test images are %dx%d, the model takes %dx%dx%d\n", te.dims[1], te.dims[2], net.h,
                net.w, net.c);
        goto fail;
    }
    if (o.test > te.dims[0]) o.test = te.dims[0];
    if (o.int8) {
        int ncal;
        if (!load_images(o.data, "train-images-idx3-ubyte", &tr)) goto fail;
        if ((size_t)tr.dims[1] * tr.dims[2] != hw) {
            fprintf(stderr, "error: the training images do not fit the model\n");
            goto fail;
        }
        ncal = o.calib < tr.dims[0] ? o.calib : tr.dims[0];
        calib = (float *)malloc(sizeof(float) * hw * (size_t)ncal);
        if (!calib) goto nomem;
        to_float(calib, &tr, 0, ncal);
        if (!quantize(&net, calib, ncal, &qa)) goto fail;
        specs_of(&net, specs);
        if (cae_qnet_init(&qn, net.h, net.w, net.c, specs, net.nlayers, qa.wq, qa.nwq, qa.iq, qa.niq, qa.sq, qa.nsq, qa.fq,
                          qa.nfq, &e))
            goto fail_e;
        printf("int8: calibrated on %d training images; activation scales:", ncal);
        for (i = 0; i < net.nlayers; i++) printf(" %s %.4g", net.layer[i].name, qn.scale[i]);
        printf("\n");
    }
    if (o.eval) {
        if (!eval_float(&net, &te, &qf)) goto fail;
        printf("float32 on %d test images: mean MSE %.6f, BCE %.6f\n", te.dims[0], qf.mse, qf.bce);
        if (o.int8) {
            if (!eval_int8(&qn, &te, &qq)) goto fail;
            printf("int8    on %d test images: mean MSE %.6f, BCE %.6f (MSE %+.1f%%, BCE %+.2f%% against float32)\n",
                   te.dims[0], qq.mse, qq.bce, 100.0 * (qq.mse / qf.mse - 1), 100.0 * (qq.bce / qf.bce - 1));
        }
    }
    /* the embedded test: images, this machine's outputs and per-image MSE */
    if (o.test) {
        size_t per = o.int8 ? cae_qnet_scratch_bytes(&qn) : 0;
        void *scratch = per ? malloc(per) : NULL;
        x = (float *)malloc(sizeof(float) * hw), y = (float *)malloc(sizeof(float) * on);
        buf = (float *)malloc(sizeof(float) * 2 * net.maxact);
        expect = (float *)malloc(sizeof(float) * on * (size_t)o.test), mse = (float *)malloc(sizeof(float) * (size_t)o.test);
        sums = (int *)malloc(sizeof(int) * on);
        if (!x || !y || !buf || !expect || !mse || !sums || (per && !scratch)) {
            free(scratch);
            goto nomem;
        }
        for (i = 0; i < o.test; i++) {
            to_float(x, &te, i, 1);
            if (o.int8) {
                size_t j;
                unsigned char le[4];
                if (cae_qnet_forward(&qn, x, y, sums, scratch, per, &e)) {
                    free(scratch);
                    goto fail_e;
                }
                for (j = 0; j < on; j++) { /* the sums' CRC, little-endian on every host */
                    unsigned long u = (unsigned long)(unsigned)sums[j];
                    le[0] = (unsigned char)(u & 255), le[1] = (unsigned char)(u >> 8 & 255);
                    le[2] = (unsigned char)(u >> 16 & 255), le[3] = (unsigned char)(u >> 24 & 255);
                    crc = cae_crc32(crc, le, 4);
                }
            } else {
                forward_ref(&net, x, y, buf);
            }
            memcpy(expect + (size_t)i * on, y, sizeof(float) * on);
            mse[i] = (float)(cae_mse(y, x, on, NULL, 0.0f) / (double)on);
        }
        free(scratch);
    }

    /* the header */
    upper(up, sizeof up, o.name);
    cae_text_printf(&t,
                    "/* %s - generated by convae's tools/export_c (convae %s) from %s: do not edit.\n"
                    "   %s. Include convae.h before this file; a microcontroller build can define\n"
                    "   CONVAE_NO_STDIO and CONVAE_NO_TRAIN (and CONVAE_NO_GZIP) first. Use:\n",
                    o.out, CONVAE_VERSION, o.model ? o.model : "the lab's model, freshly initialised",
                    o.int8 ? "int8 weights (one scale per output channel) and activations (one per layer)"
                           : "float32 weights");
    if (o.int8)
        cae_text_printf(&t,
                        "       cae_qnet q;\n"
                        "       static unsigned char scratch[%s_SCRATCH_BYTES];\n"
                        "       cae_qnet_init(&q, %s_H, %s_W, %s_C, %s_specs, %s_NLAYERS, %s_wq, %s_NWQ, %s_iq, %s_NIQ,\n"
                        "                     %s_sq, %s_NSQ, %s_fq, %s_NFQ, &e);\n"
                        "       cae_qnet_forward(&q, x, y, NULL, scratch, sizeof scratch, &e);   -- or cae_qnet_encode */\n",
                        up, up, up, up, o.name, up, o.name, up, o.name, up, o.name, up, o.name, up);
    else
        cae_text_printf(&t,
                        "       cae_net net;\n"
                        "       static float scratch[%s_SCRATCH_BYTES / sizeof(float)];\n"
                        "       cae_net_init(&net, %s_H, %s_W, %s_C, %s_specs, %s_NLAYERS, %s_params, %s_NPARAMS, &e);\n"
                        "       cae_net_forward(&net, &x, &y, scratch, sizeof scratch, &e);   -- or cae_net_encode */\n",
                        up, up, up, up, o.name, up, o.name, up);
    cae_text_printf(&t, "#ifndef %s_H_INCLUDED\n#define %s_H_INCLUDED\n\n", up, up);
    cae_text_printf(&t, "#define %s_INT8 %d\n#define %s_H %d\n#define %s_W %d\n#define %s_C %d\n#define %s_NLAYERS %d\n", up,
                    o.int8, up, net.h, up, net.w, up, net.c, up, net.nlayers);
    cae_text_printf(&t, "#define %s_OUT_H %d\n#define %s_OUT_W %d\n#define %s_OUT_C %d\n", up, last->oh, up, last->ow, up,
                    last->oc);
    cae_text_printf(&t, "#define %s_LATENT_LAYER %d /* enc_pool2, or -1 */\n", up, latent);
    if (o.int8) {
        ram = cae_qnet_scratch_bytes(&qn);
    } else {
        cae_net dev; /* the net a device makes with cae_net_init: no Winograd kernels */
        specs_of(&net, specs);
        if (cae_net_init(&dev, net.h, net.w, net.c, specs, net.nlayers, net.param, net.nparams, &e)) goto fail_e;
        ram = cae_net_scratch_bytes(&dev);
    }
    cae_text_printf(&t, "#define %s_SCRATCH_BYTES %zu /* %s */\n\n", up, ram,
                    o.int8 ? "cae_qnet_scratch_bytes" : "cae_net_scratch_bytes of a net made by cae_net_init");
    cae_text_printf(&t, "static const cae_layer_spec %s_specs[%d] = {\n", o.name, net.nlayers);
    for (i = 0; i < net.nlayers; i++) {
        const cae_layer *L = net.layer + i;
        cae_text_printf(&t, "    {%d, %d, %d, %d, \"%s\"},\n", L->kind, L->kind == CAE_CONV2D ? L->oc : 0, L->k, L->act,
                        L->name);
    }
    cae_text_printf(&t, "};\n\n");
    if (o.int8) {
        char d[128];
        cae_text_printf(&t, "#define %s_NWQ %zu\n#define %s_NIQ %zu\n#define %s_NSQ %zu\n#define %s_NFQ %zu\n", up, qa.nwq,
                        up, qa.niq, up, qa.nsq, up, qa.nfq);
        snprintf(d, sizeof d, "static const signed char %s_wq", o.name);
        put_ints(&t, d, NULL, qa.wq, NULL, qa.nwq);
        snprintf(d, sizeof d, "static const int %s_iq", o.name);
        put_ints(&t, d, qa.iq, NULL, NULL, qa.niq);
        snprintf(d, sizeof d, "static const signed char %s_sq", o.name);
        put_ints(&t, d, NULL, qa.sq, NULL, qa.nsq);
        snprintf(d, sizeof d, "static const float %s_fq", o.name);
        put_floats(&t, d, qa.fq, qa.nfq);
        flash = qa.nwq + sizeof(int) * qa.niq + qa.nsq + sizeof(float) * qa.nfq;
    } else {
        char d[128];
        cae_text_printf(&t, "#define %s_NPARAMS %zu\n", up, net.nparams);
        snprintf(d, sizeof d, "static const float %s_params", o.name);
        put_floats(&t, d, net.param, net.nparams);
        flash = sizeof(float) * net.nparams;
    }
    cae_text_printf(&t, "#define %s_MODEL_BYTES %zu /* the arrays above */\n", up, flash);
    if (o.test) {
        char d[128];
        unsigned char *px = (unsigned char *)te.data;
        cae_text_printf(&t, "\n/* %d test images (bytes: x = byte / 255), this machine's outputs for them (%s), and each\n"
                            "   one's MSE against its input */\n#define %s_NTEST %d\n",
                        o.test, o.int8 ? "cae_qnet_forward" : "the _ref layer functions", up, o.test);
        snprintf(d, sizeof d, "static const unsigned char %s_test_images", o.name);
        put_ints(&t, d, NULL, NULL, px, hw * (size_t)o.test);
        snprintf(d, sizeof d, "static const float %s_test_expected", o.name);
        put_floats(&t, d, expect, on * (size_t)o.test);
        snprintf(d, sizeof d, "static const float %s_test_mse", o.name);
        put_floats(&t, d, mse, (size_t)o.test);
        if (o.int8)
            cae_text_printf(&t, "#define %s_TEST_SUMS_CRC 0x%08lxUL /* CRC-32 of the last layer's int32 sums, little-endian */\n",
                            up, crc);
    }
    cae_text_printf(&t, "\n#endif /* %s_H_INCLUDED */\n", up);
    if (cae_text_write(o.out, &t, &e)) goto fail_e;
    printf("wrote %s: %s, %d layers, model arrays %zu bytes, scratch %zu bytes%s\n", o.out,
           o.int8 ? "int8" : "float32", net.nlayers, flash, ram, o.test ? ", with test images" : "");
    ok = 1;
    goto done;
nomem:
    fprintf(stderr, "error: out of memory\n");
    goto fail;
fail_e:
    fprintf(stderr, "error: %s\n", e.msg);
fail:
    ok = 0;
done:
    cae_text_free(&t);
    free_q(&qa);
    free(calib), free(x), free(y), free(buf), free(expect), free(mse), free(sums);
    cae_net_free(&net);
    cae_idx_free(&tr), cae_idx_free(&te);
    return ok ? 0 : 1;
}
