/* latent_sweep.c - the lab's warning about the size of the latent code, measured: the lab's
   autoencoder trained with several bottleneck widths (the filters of enc_conv2, so a latent of
   7 x 7 x F numbers, from 8 times fewer than the 784 pixels to 4 times more), each for a few
   epochs from the same seed, and one page that shows what each size costs: test MSE and
   validation BCE against the latent size, and the same test images rebuilt by each.

   Build:  cc -O3 -fopenmp -I. examples/latent_sweep.c -o latent_sweep -lm
   Run:    ./latent_sweep --data data/mnist --out runs/sweep      (then open runs/sweep/latent_sweep.html) */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#define CONVAE_IMPLEMENTATION
#include "convae.h"
#define CONVAE_REPORT_IMPLEMENTATION
#include "convae_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(p) _mkdir(p)
#else
#define make_dir(p) mkdir(p, 0777)
#endif

#define MAX_SIZES 12
#define SHOWN 8 /* test images rebuilt by each size */

typedef struct options {
    const char *data, *out, *lang;
    int epochs, limit, nsizes, sizes[MAX_SIZES];
    unsigned long long seed;
} options;

typedef struct result {
    int filters, latent;     /* enc_conv2's filters; numbers in the latent code */
    int lh, lw;              /* its height and width */
    double val_bce, test_mse, seconds;
} result;

typedef struct sweep {
    options o;
    cae_idx img[2], lab[2]; /* train, test */
    int n[2], h, w, hw;
    cae_text page;
    float *xb, *shown;      /* a batch; the originals and each size's reconstructions */
    int *perm;
    result r[MAX_SIZES];
} sweep;

static void usage(FILE *f)
{
    fprintf(f, "usage: latent_sweep [flags]\n"
               "  --data DIR     the four MNIST IDX files, .gz or raw (data/mnist)\n"
               "  --out DIR      output folder (runs/sweep)\n"
               "  --epochs N     epochs per size (2)\n"
               "  --limit N      only the first N training images, before the 10%% validation split (all)\n"
               "  --sizes LIST   filters of the bottleneck convolution, comma-separated, each 1..256\n"
               "                 (2,4,8,16,32,64: latents of 98 to 3136 numbers; the lab's is 64)\n"
               "  --seed N       weights and shuffling (42)\n"
               "  --lang en|es   language of the page (en)\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;
    o->data = "data/mnist", o->out = "runs/sweep", o->lang = "en", o->epochs = 2, o->limit = 0, o->seed = 42;
    o->nsizes = 6;
    for (i = 0; i < 6; i++) o->sizes[i] = 2 << i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        double d = v ? strtod(v, &end) : 0;
        int whole = v && *v && end && !*end && d == floor(d);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), -1;
        if (!v) return fprintf(stderr, "error: %s needs a value (or is unknown); see --help\n", a), 0;
        i++;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--lang") && (!strcmp(v, "en") || !strcmp(v, "es"))) o->lang = v;
        else if (!strcmp(a, "--epochs") && whole && d >= 1 && d <= 1000) o->epochs = (int)d;
        else if (!strcmp(a, "--limit") && whole && d >= 20 && d <= 1e9) o->limit = (int)d;
        else if (!strcmp(a, "--seed") && whole && d >= 0 && d <= 1e18) o->seed = (unsigned long long)d;
        else if (!strcmp(a, "--sizes")) {
            const char *p = v;
            for (o->nsizes = 0; *p;) {
                long f = strtol(p, &end, 10);
                if (end == p || f < 1 || f > 256 || o->nsizes == MAX_SIZES || (*end && *end != ','))
                    return fprintf(stderr, "error: --sizes %s: a comma-separated list of 1 to %d filter counts, "
                                           "each 1..256\n", v, MAX_SIZES), 0;
                o->sizes[o->nsizes++] = (int)f;
                p = *end ? end + 1 : end;
            }
            if (!o->nsizes) return fprintf(stderr, "error: --sizes is empty\n"), 0;
        } else {
            return fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v), 0;
        }
    }
    return 1;
}

static double wall(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

/* a line on the terminal and, escaped, on the page */
static void say(sweep *S, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    fflush(stdout);
    cae_text_printf(&S->page, "<pre>");
    cae_text_xml(&S->page, buf);
    cae_text_printf(&S->page, "</pre>\n");
}

static const char *in_out(const sweep *S, char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", S->o.out, name);
    return buf;
}

static int embed_svg(sweep *S, const char *name)
{
    char path[1024];
    unsigned char *svg;
    size_t n;
    cae_err e;
    if (cae_read_file(in_out(S, path, sizeof path, name), &svg, &n, 0, &e)) return fprintf(stderr, "error: %s\n", e.msg), 0;
    cae_text_printf(&S->page, "<figure>");
    cae_text_put(&S->page, (const char *)svg, n);
    cae_text_printf(&S->page, "</figure>\n");
    free(svg);
    return 1;
}

/* DIR/stem.gz, or DIR/stem */
static int load(const sweep *S, const char *stem, cae_idx *x)
{
    char path[1024];
    cae_err e;
    int rc;
    snprintf(path, sizeof path, "%s/%s.gz", S->o.data, stem);
    if ((rc = cae_idx_load(path, x, &e)) == CAE_ERR_IO) {
        snprintf(path, sizeof path, "%s/%s", S->o.data, stem);
        rc = cae_idx_load(path, x, &e);
    }
    if (rc) fprintf(stderr, "error: %s%s\n", e.msg, rc == CAE_ERR_IO ? " (--data: the folder with the MNIST files)" : "");
    return rc == CAE_OK;
}

static int load_data(sweep *S)
{
    static const char *const stems[4] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-labels-idx1-ubyte"};
    int k;
    for (k = 0; k < 2; k++) {
        if (!load(S, stems[k], S->img + k) || !load(S, stems[k + 2], S->lab + k)) return 0;
        if (S->img[k].type != CAE_IDX_U8 || S->img[k].ndim != 3 || S->img[k].dims[0] < 1 ||
            S->img[k].dims[1] != S->img[0].dims[1] || S->img[k].dims[2] != S->img[0].dims[2] ||
            S->img[k].dims[1] % 4 || S->img[k].dims[2] % 4 || S->img[k].dims[1] > 256 || S->img[k].dims[2] > 256)
            return fprintf(stderr, "error: %s: expected u8 images N x H x W, H and W multiples of 4 up to 256, the same "
                                   "for train and test\n", S->o.data), 0;
        S->n[k] = S->img[k].dims[0];
    }
    S->h = S->img[0].dims[1], S->w = S->img[0].dims[2], S->hw = S->h * S->w;
    if (S->o.limit && S->o.limit < S->n[0]) S->n[0] = S->o.limit;
    S->xb = (float *)malloc(sizeof(float) * 256 * (size_t)S->hw);
    S->shown = (float *)malloc(sizeof(float) * (size_t)(S->o.nsizes + 1) * SHOWN * (size_t)S->hw);
    S->perm = (int *)malloc(sizeof(int) * (size_t)S->n[0]);
    if (!S->xb || !S->shown || !S->perm) return fprintf(stderr, "error: out of memory\n"), 0;
    return 1;
}

/* n images of split k (listed by idx, or from first on) into S->xb */
static cae_tensor batch(sweep *S, int k, const int *idx, int first, int n)
{
    const unsigned char *px = (const unsigned char *)S->img[k].data;
    int i, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < S->hw; j++) S->xb[(size_t)i * S->hw + j] = px[(size_t)(idx ? idx[i] : first + i) * S->hw + j] / 255.0f;
    return cae_tensor_of(S->xb, n, S->h, S->w, 1);
}

/* mean BCE and mean per-image MSE over images [first, first+n) of split k */
static int evaluate(sweep *S, const cae_net *net, int k, int first, int n, void *scratch, size_t bytes, double *bce,
                    double *mse)
{
    float m[256];
    cae_err e;
    int b, i;
    *bce = *mse = 0;
    for (b = 0; b < n; b += 256) {
        int c = n - b < 256 ? n - b : 256;
        cae_tensor x = batch(S, k, NULL, first + b, c);
        double loss;
        if (cae_net_evaluate(net, &x, &x, CAE_LOSS_BCE, &loss, m, scratch, bytes, &e))
            return fprintf(stderr, "error: %s\n", e.msg), 0;
        *bce += loss * c;
        for (i = 0; i < c; i++) *mse += m[i];
    }
    *bce /= n, *mse /= n;
    return 1;
}

/* One size: the lab's model with F filters in enc_conv2, trained from the seed. */
static int run_size(sweep *S, int s)
{
    char arch[96];
    cae_arch a;
    cae_net net;
    cae_trainer *t = NULL;
    cae_rng rng = cae_rng_seed(S->o.seed);
    result *r = S->r + s;
    void *scratch = NULL;
    size_t bytes = 0;
    cae_err e;
    int nval = S->n[0] / 10, nfit = S->n[0] - nval, ep, b, i, ok;
    double t0 = wall(), val_mse;
    r->filters = S->o.sizes[s];
    snprintf(arch, sizeof arch, "c32,p,c%d,p|c64,u,c32,u,c1", r->filters);
    ok = cae_arch_parse(&a, arch, &e) == CAE_OK && cae_net_create(&net, S->h, S->w, 1, a.spec, a.n, S->o.seed, &e) == CAE_OK;
    if (ok) {
        ok = cae_trainer_create(&t, &net, 256, &e) == CAE_OK;
        r->lh = net.layer[a.latent].oh, r->lw = net.layer[a.latent].ow;
        r->latent = r->lh * r->lw * net.layer[a.latent].oc;
        cae_net_free(&net);
    }
    if (ok) {
        int threads = 1;
#ifdef _OPENMP
        threads = omp_get_max_threads();
#endif
        bytes = cae_net_scratch_bytes(cae_trainer_net(t)) * (size_t)threads; /* a share per thread */
        scratch = malloc(bytes);
        if (!scratch) ok = 0, snprintf(e.msg, sizeof e.msg, "out of memory");
    }
    if (!ok) {
        fprintf(stderr, "error: %s: %s\n", arch, e.msg);
        cae_trainer_free(t);
        return 0;
    }
    for (i = 0; i < nfit; i++) S->perm[i] = nval + i;
    for (ep = 0; ok && ep < S->o.epochs; ep++) {
        cae_rng_shuffle(&rng, S->perm, nfit);
        for (b = 0; ok && b < nfit; b += 256) {
            int n = nfit - b < 256 ? nfit - b : 256;
            cae_tensor x = batch(S, 0, S->perm + b, 0, n);
            ok = cae_trainer_step(t, &x, &x, CAE_LOSS_BCE, NULL, &e) == CAE_OK;
        }
    }
    if (!ok) fprintf(stderr, "error: %s\n", e.msg);
    r->seconds = wall() - t0;
    ok = ok && evaluate(S, cae_trainer_net(t), 0, 0, nval, scratch, bytes, &r->val_bce, &val_mse) &&
         evaluate(S, cae_trainer_net(t), 1, 0, S->n[1], scratch, bytes, &val_mse, &r->test_mse);
    if (ok) { /* the first test images, rebuilt */
        cae_tensor x = batch(S, 1, NULL, 0, SHOWN), y = cae_tensor_of(S->shown + (size_t)(s + 1) * SHOWN * S->hw, SHOWN,
                                                                   S->h, S->w, 1);
        if (s == 0) memcpy(S->shown, S->xb, sizeof(float) * SHOWN * (size_t)S->hw);
        ok = cae_net_forward(cae_trainer_net(t), &x, &y, scratch, bytes, &e) == CAE_OK;
        if (!ok) fprintf(stderr, "error: %s\n", e.msg);
    }
    if (ok)
        say(S, "latent %dx%dx%-3d = %4d numbers (%5.2fx the input): val BCE %.4f, test MSE %.6f, %.1f s\n", r->lh, r->lw,
            r->filters, r->latent, (double)r->latent / S->hw, r->val_bce, r->test_mse, r->seconds);
    cae_trainer_free(t);
    free(scratch);
    return ok;
}

/* the figures, the table and the page */
static int report(sweep *S)
{
    const int es = !strcmp(S->o.lang, "es"), ns = S->o.nsizes;
    float x[MAX_SIZES], mse[MAX_SIZES], bce[MAX_SIZES];
    char path[1024], caps[MAX_SIZES + 1][40], title[200];
    const char *cap[(MAX_SIZES + 1) * SHOWN];
    cae_series sr[2];
    cae_plot plot;
    cae_text csv;
    cae_err e;
    int i, ok = 1;
    memset(&csv, 0, sizeof csv);
    cae_text_printf(&csv, "filters,latent,ratio,val_bce,test_mse,seconds\n");
    for (i = 0; i < ns; i++) {
        const result *r = S->r + i;
        x[i] = (float)(log((double)r->latent / S->hw) / log(2.0)), mse[i] = (float)r->test_mse, bce[i] = (float)r->val_bce;
        cae_text_printf(&csv, "%d,%d,%.4f,%.6f,%.8f,%.2f\n", r->filters, r->latent, (double)r->latent / S->hw, r->val_bce,
                        r->test_mse, r->seconds);
    }
    if (cae_text_write(in_out(S, path, sizeof path, "sweep.csv"), &csv, &e)) ok = 0, fprintf(stderr, "error: %s\n", e.msg);
    sr[0].label = es ? "MSE de prueba" : "test MSE", sr[0].x = x, sr[0].y = mse, sr[0].n = ns;
    sr[1].label = es ? "BCE de validación" : "validation BCE", sr[1].x = x, sr[1].y = bce, sr[1].n = ns;
    memset(&plot, 0, sizeof plot);
    plot.title = es ? "Error de reconstrucción según el tamaño del código latente"
                    : "Reconstruction error against the size of the latent code";
    plot.xlabel = es ? "log2(tamaño del código / tamaño de la imagen): -3 = 8 veces menor, 2 = 4 veces mayor"
                     : "log2(code size / image size): -3 = 8 times smaller, 2 = 4 times larger";
    plot.ylabel = es ? "error (escala log)" : "error (log scale)";
    plot.log_y = 1;
    if (cae_svg_lines(in_out(S, path, sizeof path, "latent_sweep.svg"), &plot, sr, 2, &e))
        ok = 0, fprintf(stderr, "error: %s\n", e.msg);
    for (i = 0; i < (ns + 1) * SHOWN; i++) cap[i] = NULL;
    snprintf(caps[0], sizeof caps[0], "%s", es ? "originales" : "originals");
    cap[0] = caps[0];
    for (i = 0; i < ns; i++) {
        snprintf(caps[i + 1], sizeof caps[i + 1], "%dx%dx%d = %d", S->r[i].lh, S->r[i].lw, S->r[i].filters, S->r[i].latent);
        cap[(i + 1) * SHOWN] = caps[i + 1];
    }
    snprintf(title, sizeof title, "%s", es ? "Las mismas imágenes de prueba reconstruidas con cada tamaño"
                                           : "The same test images rebuilt by each size");
    if (cae_svg_image_grid(in_out(S, path, sizeof path, "latent_sweep_samples.svg"), title, S->shown, (ns + 1) * SHOWN,
                           S->h, S->w, 1, SHOWN, cap, 0, &e))
        ok = 0, fprintf(stderr, "error: %s\n", e.msg);
    if (ok) ok = embed_svg(S, "latent_sweep.svg") && embed_svg(S, "latent_sweep_samples.svg");
    cae_text_printf(&S->page, "<p>");
    cae_text_xml(&S->page, es ? "Un código más pequeño que la imagen obliga a resumir y pierde detalle; uno mayor que la "
                                "imagen reconstruye mejor, pero ya no comprime: puede limitarse a copiar."
                              : "A code smaller than the image forces a summary and loses detail; one larger than the "
                                "image rebuilds better but no longer compresses: it can get away with copying.");
    cae_text_printf(&S->page, "</p>\n</body></html>\n");
    if (cae_text_write(in_out(S, path, sizeof path, "latent_sweep.html"), &S->page, &e))
        ok = 0, fprintf(stderr, "error: %s\n", e.msg);
    cae_text_free(&csv);
    if (ok) printf("done: %s/latent_sweep.html, latent_sweep.svg, latent_sweep_samples.svg, sweep.csv\n", S->o.out);
    return ok;
}

int main(int argc, char **argv)
{
    sweep S;
    int ok, s, k;
    double t0 = wall();
    memset(&S, 0, sizeof S);
    ok = parse_args(argc, argv, &S.o);
    if (ok <= 0) return ok ? 0 : 2;
    make_dir(S.o.out);
    cae_text_printf(&S.page, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>convae: latent "
                             "sweep</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 "
                             "1em;color:#222}pre{background:#f6f6f4;padding:.3em .6em;margin:.2em 0;font-size:13px}"
                             "svg{max-width:100%%;height:auto}</style></head>\n<body><h1>convae: %s</h1>\n",
                    S.o.lang, strcmp(S.o.lang, "es") ? "how large should the latent code be?"
                                                     : "¿qué tamaño debe tener el código latente?");
    ok = load_data(&S);
    if (ok)
        say(&S, "data: %s, %d training images (the first 10%% for validation), %d test images, %dx%d; %d epochs per "
                "size, seed %llu, kernels %s\n", S.o.data, S.n[0], S.n[1], S.h, S.w, S.o.epochs, S.o.seed,
            cae_kernels_name(cae_kernels_best()));
    for (s = 0; ok && s < S.o.nsizes; s++) ok = run_size(&S, s);
    if (ok) say(&S, "whole sweep: %.1f s\n", wall() - t0);
    ok = ok && report(&S);
    for (k = 0; k < 2; k++) cae_idx_free(S.img + k), cae_idx_free(S.lab + k);
    free(S.xb), free(S.shown), free(S.perm);
    cae_text_free(&S.page);
    return ok ? 0 : 1;
}
