/* mnist_autoencoder.c - the course lab "image reconstruction with a convolutional
   autoencoder on MNIST", sections 0 to 7, in C with convae.h.

   Build:  cc -O3 -march=native -fopenmp -I. examples/mnist_autoencoder.c -o mnist_autoencoder -lm
   Run:    ./mnist_autoencoder --data data/mnist --out runs/mnist
   Flags:  --help lists them. Everything it prints is also written to the output folder. */
#define CONVAE_IMPLEMENTATION
#include "convae.h"

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

typedef struct options {
    const char *data, *out;
    int epochs, batch, limit, threads;
    float lr, val_frac;
    unsigned long long seed;
} options;

static double now(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC; /* single-threaded: CPU time is wall time */
#endif
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnist_autoencoder [flags]\n"
            "  --data DIR      folder with the four MNIST IDX files, .gz or raw (default data/mnist)\n"
            "  --out DIR       output folder (default runs/mnist)\n"
            "  --epochs N      training epochs (15)\n"
            "  --batch N       batch size (256)\n"
            "  --lr X          Adam learning rate (1e-3)\n"
            "  --seed N        random seed for weights and shuffling (42)\n"
            "  --val-frac X    fraction of the training file, taken from its start, for validation (0.1)\n"
            "  --limit N       use only the first N training images, before the split (all)\n"
            "  --threads N     OpenMP threads (all cores)\n"
            "  --help          this text\n");
}

/* Parses a whole string as a number in [lo, hi]; returns 0 on anything else. */
static int parse_num(const char *s, double lo, double hi, double *v)
{
    char *end;
    if (!s || !*s) return 0;
    *v = strtod(s, &end);
    return *end == 0 && *v >= lo && *v <= hi;
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;
    o->data = "data/mnist", o->out = "runs/mnist";
    o->epochs = 15, o->batch = 256, o->limit = 0, o->threads = 0;
    o->lr = 1e-3f, o->val_frac = 0.1f, o->seed = 42;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "error: %s needs a value (or is unknown); see --help\n", a);
            return 0;
        }
        i++;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--epochs") && parse_num(v, 0, 100000, &d)) o->epochs = (int)d;
        else if (!strcmp(a, "--batch") && parse_num(v, 1, 65536, &d)) o->batch = (int)d;
        else if (!strcmp(a, "--lr") && parse_num(v, 1e-9, 10, &d)) o->lr = (float)d;
        else if (!strcmp(a, "--seed") && parse_num(v, 0, 1e18, &d)) o->seed = (unsigned long long)d;
        else if (!strcmp(a, "--val-frac") && parse_num(v, 0, 0.9, &d)) o->val_frac = (float)d;
        else if (!strcmp(a, "--limit") && parse_num(v, 1, 1e9, &d)) o->limit = (int)d;
        else if (!strcmp(a, "--threads") && parse_num(v, 1, 1024, &d)) o->threads = (int)d;
        else {
            fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v);
            return 0;
        }
    }
    return 1;
}

/* Loads DIR/stem.gz, or DIR/stem when there is no .gz, with a message that says what to do
   when neither is there. */
static int load_idx(const char *dir, const char *stem, cae_idx *x)
{
    char path[1024];
    cae_err e;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.gz", dir, stem);
    f = fopen(path, "rb");
    if (f) fclose(f);
    else snprintf(path, sizeof path, "%s/%s", dir, stem);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr,
                "error: %s/%s.gz (or %s without .gz) not found.\n"
                "  Put the four MNIST files there (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
                "  t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz): `make data` fetches them,\n"
                "  or point --data at the folder that has them.\n",
                dir, stem, stem);
        return 0;
    }
    fclose(f);
    if (cae_idx_load(path, x, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    return 1;
}

/* Images n x h x w bytes, labels n bytes, from a pair of IDX files. */
typedef struct dataset {
    cae_idx img, lab;
    int n, h, w;
    const unsigned char *px, *y;
} dataset;

static int load_split(const char *dir, const char *prefix, dataset *d)
{
    char si[64], sl[64];
    snprintf(si, sizeof si, "%s-images-idx3-ubyte", prefix);
    snprintf(sl, sizeof sl, "%s-labels-idx1-ubyte", prefix);
    if (!load_idx(dir, si, &d->img) || !load_idx(dir, sl, &d->lab)) return 0;
    if (d->img.type != CAE_IDX_U8 || d->img.ndim != 3 || d->lab.type != CAE_IDX_U8 || d->lab.ndim != 1 ||
        d->lab.dims[0] != d->img.dims[0]) {
        fprintf(stderr, "error: %s/%s*: expected u8 images N x H x W and N u8 labels\n", dir, prefix);
        return 0;
    }
    d->n = d->img.dims[0], d->h = d->img.dims[1], d->w = d->img.dims[2];
    d->px = (const unsigned char *)d->img.data, d->y = (const unsigned char *)d->lab.data;
    return 1;
}

/* Converts images idx[0..n) to floats in [0,1], NHWC with one channel. */
static void to_float(float *dst, const unsigned char *px, const int *idx, int first, int n, int hw)
{
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *s = px + (size_t)(idx ? idx[i] : first + i) * hw;
        for (j = 0; j < hw; j++) dst[(size_t)i * hw + j] = s[j] * (1.0f / 255.0f);
    }
}

static int write_grid(const char *dir, const char *name, const float *imgs, int n, int h, int w, int cols)
{
    char path[1024];
    int gw, gh, ok;
    unsigned char *px;
    cae_err e;
    cae_grid_size(n, h, w, cols, 2, &gw, &gh);
    px = (unsigned char *)malloc((size_t)gw * gh);
    if (!px) return 0;
    cae_grid(px, imgs, n, h, w, 1, cols, 2);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ok = cae_write_pnm(path, px, gw, gh, 1, &e) == CAE_OK;
    if (!ok) fprintf(stderr, "error: %s\n", e.msg);
    else printf("  wrote %s (%dx%d)\n", path, gw, gh);
    free(px);
    return ok;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A text bar of length proportional to v/max. */
static void bar(double v, double max, int width)
{
    int i, n = max > 0 ? (int)(v / max * width + 0.5) : 0;
    for (i = 0; i < n; i++) putchar('#');
}

int main(int argc, char **argv)
{
    options o;
    dataset tr, te;
    cae_model *m = NULL;
    cae_err e;
    cae_rng rng;
    int nspec, i, ep, hw, ntrain, nval, nfit, *perm, threads = 1, latent;
    const cae_layer_spec *spec = cae_lab_specs(&nspec);
    float *xb, *mse, *recon;
    double t_start = now(), count[10] = {0}, hist[10] = {0};
    char path[1024], *summary;
    FILE *csv;

    memset(&tr, 0, sizeof tr), memset(&te, 0, sizeof te);
    if (!parse_args(argc, argv, &o)) return 2;
    make_dir(o.out);

    /* ---- 0. setup ---------------------------------------------------------------- */
#ifdef _OPENMP
    if (o.threads) omp_set_num_threads(o.threads);
    threads = omp_get_max_threads();
#endif
    rng = cae_rng_seed(o.seed);
    printf("== 0. Setup\n");
    printf("convae %s, kernels: %s, threads: %d%s, GPU: none, seed: %llu\n", CONVAE_VERSION, cae_simd_name(),
           threads,
#ifdef _OPENMP
           " (OpenMP)",
#else
           " (built without OpenMP)",
#endif
           o.seed);

    /* ---- 1. load and explore -------------------------------------------------------- */
    printf("\n== 1. Load MNIST from %s\n", o.data);
    if (!load_split(o.data, "train", &tr) || !load_split(o.data, "t10k", &te)) return 1;
    if (tr.h != te.h || tr.w != te.w) {
        fprintf(stderr, "error: train images are %dx%d, test images %dx%d\n", tr.h, tr.w, te.h, te.w);
        return 1;
    }
    hw = tr.h * tr.w;
    printf("x_train: (%d, %d, %d) uint8   y_train: (%d,)\n", tr.n, tr.h, tr.w, tr.n);
    printf("x_test:  (%d, %d, %d) uint8   y_test:  (%d,)\n", te.n, te.h, te.w, te.n);
    {
        float sample[9 * 28 * 28];
        int k = tr.n < 9 ? tr.n : 9;
        if (hw <= 28 * 28) {
            to_float(sample, tr.px, NULL, 0, k, hw);
            printf("first %d training labels (3x3, as in samples.pgm):\n", k);
            for (i = 0; i < k; i++) {
                printf("  %d", tr.y[i]);
                if (i % 3 == 2 || i == k - 1) putchar('\n');
            }
            write_grid(o.out, "samples.pgm", sample, k, tr.h, tr.w, 3);
        }
    }
    for (i = 0; i < tr.n; i++) count[tr.y[i] < 10 ? tr.y[i] : 9]++;
    printf("class distribution (train):\n");
    for (i = 0; i < 10; i++) {
        printf("  %d: %6.0f (%4.1f%%) ", i, count[i], 100.0 * count[i] / tr.n);
        bar(count[i], tr.n * 0.2, 40);
        putchar('\n');
    }
    {
        size_t j, np = (size_t)tr.n * hw;
        double mx = 0;
        for (j = 0; j < np; j++) hist[tr.px[j] * 10 / 256]++;
        for (i = 0; i < 10; i++) mx = hist[i] > mx ? hist[i] : mx;
        printf("pixel values (train), 10 bins of 0..255:\n");
        for (i = 0; i < 10; i++) {
            printf("  %3d-%3d: %5.1f%% ", i * 256 / 10, (i + 1) * 256 / 10 - 1, 100.0 * hist[i] / np);
            bar(hist[i], mx, 40);
            putchar('\n');
        }
    }

    /* ---- 2. preprocess ---------------------------------------------------------------- */
    ntrain = o.limit && o.limit < tr.n ? o.limit : tr.n;
    nval = (int)(ntrain * (double)o.val_frac);
    nfit = ntrain - nval;
    printf("\n== 2. Preprocess\n");
    printf("float32 in [0,1] (x/255), one channel: train (%d, %d, %d, 1), validation (%d, %d, %d, 1) = first %.0f%%,"
           " test (%d, %d, %d, 1)\n",
           nfit, tr.h, tr.w, nval, tr.h, tr.w, o.val_frac * 100.0, te.n, te.h, te.w);
    if (nfit < 1) {
        fprintf(stderr, "error: no training images left after the validation split\n");
        return 1;
    }
    xb = (float *)malloc(sizeof(float) * (size_t)o.batch * hw);
    mse = (float *)malloc(sizeof(float) * (size_t)te.n);
    recon = (float *)malloc(sizeof(float) * 20 * (size_t)hw);
    perm = (int *)malloc(sizeof(int) * (size_t)nfit);
    if (!xb || !mse || !recon || !perm) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    {
        int k = nfit < 9 ? nfit : 9;
        float lo = 1, hi = 0;
        to_float(xb, tr.px, NULL, nval, k, hw);
        for (i = 0; i < k * hw; i++) lo = xb[i] < lo ? xb[i] : lo, hi = xb[i] > hi ? xb[i] : hi;
        printf("pixel range before: [0, 255] uint8; after: [%.3f, %.3f] float32 (first %d training images)\n", lo,
               hi, k);
        write_grid(o.out, "samples_normalized.pgm", xb, k, tr.h, tr.w, 3);
    }

    /* ---- 3. the model ----------------------------------------------------------------- */
    printf("\n== 3. Model\n");
    if (cae_model_create(&m, tr.h, tr.w, 1, spec, nspec, o.batch, o.seed, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 1;
    }
    m->adam.lr = o.lr;
    {
        size_t need = cae_model_summary(m, "conv_autoencoder", NULL, 0);
        summary = (char *)malloc(need);
        if (summary) cae_model_summary(m, "conv_autoencoder", summary, need), fputs(summary, stdout), free(summary);
    }

    /* ---- 4. train ---------------------------------------------------------------------- */
    printf("\n== 4. Train: Adam(lr=%g), binary cross-entropy, batch %d, %d epochs, shuffled\n", o.lr, o.batch,
           o.epochs);
    snprintf(path, sizeof path, "%s/history.csv", o.out);
    csv = fopen(path, "w");
    if (!csv) {
        fprintf(stderr, "error: %s: cannot write\n", path);
        return 1;
    }
    fprintf(csv, "epoch,loss,val_loss,train_seconds,val_seconds\n");
    for (i = 0; i < nfit; i++) perm[i] = nval + i;
    for (ep = 1; ep <= o.epochs; ep++) {
        double t0 = now(), sum = 0, val = 0, t1, t2;
        int b;
        cae_rng_shuffle(&rng, perm, nfit);
        for (b = 0; b < nfit; b += o.batch) {
            int n = nfit - b < o.batch ? nfit - b : o.batch;
            double loss;
            to_float(xb, tr.px, perm + b, 0, n, hw);
            if (cae_model_train_step(m, xb, xb, n, CAE_LOSS_BCE, &loss, &e)) {
                fprintf(stderr, "error: %s\n", e.msg);
                return 1;
            }
            sum += loss * n; /* Keras reports the image-weighted mean over the epoch */
        }
        t1 = now();
        for (b = 0; b < nval; b += o.batch) {
            int n = nval - b < o.batch ? nval - b : o.batch;
            double loss;
            to_float(xb, tr.px, NULL, b, n, hw);
            cae_model_evaluate(m, xb, xb, n, CAE_LOSS_BCE, &loss, NULL, &e);
            val += loss * n;
        }
        t2 = now();
        printf("Epoch %d/%d - %.1fs - loss: %.4f - val_loss: %.4f (%.0f img/s)\n", ep, o.epochs, t1 - t0, sum / nfit,
               nval ? val / nval : 0.0, nfit / (t1 - t0));
        fflush(stdout);
        if (nval) fprintf(csv, "%d,%.6f,%.6f,%.3f,%.3f\n", ep, sum / nfit, val / nval, t1 - t0, t2 - t1);
        else fprintf(csv, "%d,%.6f,,%.3f,%.3f\n", ep, sum / nfit, t1 - t0, t2 - t1);
    }
    fclose(csv);
    snprintf(path, sizeof path, "%s/model.cae", o.out);
    if (cae_model_save(m, path, &e)) fprintf(stderr, "warning: %s\n", e.msg);
    else printf("  wrote %s/history.csv and %s\n", o.out, path);

    /* ---- 5. reconstructions ------------------------------------------------------------ */
    printf("\n== 5. Reconstructions of 10 test images\n");
    to_float(recon, te.px, NULL, 0, 10, hw);
    cae_model_predict(m, recon, 10, recon + 10 * hw, &e);
    write_grid(o.out, "reconstructions.pgm", recon, 20, te.h, te.w, 10);
    printf("  top row: originals, bottom row: reconstructions\n");

    /* ---- 6. per-image MSE on the test set ----------------------------------------------- */
    printf("\n== 6. Per-image reconstruction MSE on the %d test images\n", te.n);
    {
        double test_bce = 0, mean = 0;
        float *sorted = (float *)malloc(sizeof(float) * (size_t)te.n), hmax;
        int b, bins[10] = {0}, top = 0;
        for (b = 0; b < te.n; b += o.batch) {
            int n = te.n - b < o.batch ? te.n - b : o.batch;
            double loss;
            to_float(xb, te.px, NULL, b, n, hw);
            cae_model_evaluate(m, xb, xb, n, CAE_LOSS_BCE, &loss, mse + b, &e);
            test_bce += loss * n;
        }
        for (i = 0; i < te.n; i++) mean += mse[i];
        if (!sorted) return 1;
        memcpy(sorted, mse, sizeof(float) * (size_t)te.n);
        qsort(sorted, (size_t)te.n, sizeof(float), cmp_float);
        printf("test BCE: %.6f\n", test_bce / te.n);
        printf("MSE min %.6f  max %.6f  mean %.6f  median %.6f\n", sorted[0], sorted[te.n - 1], mean / te.n,
               te.n % 2 ? sorted[te.n / 2] : 0.5f * (sorted[te.n / 2 - 1] + sorted[te.n / 2]));
        hmax = sorted[te.n - 1] > 0 ? sorted[te.n - 1] : 1;
        for (i = 0; i < te.n; i++) bins[(int)(mse[i] / hmax * 9.999f)]++;
        for (i = 0; i < 10; i++) top = bins[i] > top ? bins[i] : top;
        printf("histogram (10 bins up to the max; the long right tail holds the unusual digits):\n");
        for (i = 0; i < 10; i++) {
            printf("  %.5f-%.5f %5d ", hmax * i / 10, hmax * (i + 1) / 10, bins[i]);
            bar(bins[i], top, 40);
            putchar('\n');
        }
        free(sorted);
        snprintf(path, sizeof path, "%s/mse.csv", o.out);
        csv = fopen(path, "w");
        if (!csv) {
            fprintf(stderr, "error: %s: cannot write\n", path);
            return 1;
        }
        fprintf(csv, "index,label,mse\n");
        for (i = 0; i < te.n; i++) fprintf(csv, "%d,%d,%.8f\n", i, te.y[i], mse[i]);
        fclose(csv);
        printf("  wrote %s\n", path);
    }

    /* ---- 7. the encoder alone ------------------------------------------------------------ */
    printf("\n== 7. Encoder: latent codes\n");
    latent = cae_model_find(m, "enc_pool2");
    {
        const cae_layer *L = m->layer + latent;
        int n = te.n < o.batch ? te.n : o.batch;
        size_t j, nz = 0, ln = (size_t)L->oh * L->ow * L->oc;
        float *z = (float *)malloc(sizeof(float) * (size_t)n * ln);
        if (!z) return 1;
        to_float(xb, te.px, NULL, 0, n, hw);
        cae_model_encode(m, latent, xb, n, z, &e);
        for (j = 0; j < (size_t)n * ln; j++) nz += z[j] > 0;
        printf("latent (output of %s) for %d test images: (%d, %d, %d, %d) = %zu numbers per image, %.1f%% non-zero\n",
               L->name, n, n, L->oh, L->ow, L->oc, ln, 100.0 * nz / ((double)n * ln));
        free(z);
    }

    printf("\ndone in %.1f s; results in %s\n", now() - t_start, o.out);
    cae_model_free(m);
    free(xb), free(mse), free(recon), free(perm);
    cae_idx_free(&tr.img), cae_idx_free(&tr.lab), cae_idx_free(&te.img), cae_idx_free(&te.lab);
    return 0;
}
