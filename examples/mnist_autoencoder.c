/* mnist_autoencoder.c - the course lab "image reconstruction with a convolutional
   autoencoder on MNIST", sections 0 to 7, in C with convae.h.

   Build:  cc -O3 -fopenmp -I. examples/mnist_autoencoder.c -o mnist_autoencoder -lm
   Run:    ./mnist_autoencoder --data data/mnist --out runs/mnist
   It prints what the lab prints and writes every figure (PNG/SVG/PGM), the CSV files, the
   trained model and report.html, one page with all of it, into the output folder.
   Read main() first: one function per section of the lab, 0 to 7. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* fileno, isatty and mkdir, which -std=c99 alone leaves out */
#endif
#define CONVAE_IMPLEMENTATION
#include "convae.h"
#define CONVAE_REPORT_IMPLEMENTATION
#include "convae_report.h"
#ifdef CONVAE_GPU /* make cuda: bin/mnist_autoencoder_cuda, linked with tools/convae_cuda.cu */
#include "../tools/convae_cuda.h"
#endif

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <direct.h>
#include <io.h>
#define make_dir(p) _mkdir(p)
#define is_terminal(f) _isatty(_fileno(f))
#else
#include <unistd.h> /* isatty, to redraw the progress line only on a terminal */
#define make_dir(p) mkdir(p, 0777)
#define is_terminal(f) isatty(fileno(f))
#endif

/* ------------------------------------------------------------------ settings */
typedef struct options {
    const char *data, *out, *lang, *load, *load_weights, *arch;
    int epochs, batch, limit, threads, tsne, resume, ckpt_every, holdout, gpu;
    float lr, val_frac, noise, mask;
    unsigned long long seed;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnist_autoencoder [flags]\n"
            "  --data DIR      folder with the four MNIST IDX files, .gz or raw (default data/mnist); other\n"
            "                  sets of u8 images N x H x W (x C, C 1..4) under the same names work too\n"
            "  --out DIR       output folder (default runs/mnist)\n"
            "  --epochs N      training epochs (15)\n"
            "  --batch N       batch size (256)\n"
            "  --lr X          Adam learning rate (1e-3)\n"
            "  --seed N        random seed for weights and shuffling (42)\n"
            "  --val-frac X    fraction of the training file, from its start, kept for validation (0.1)\n"
            "  --limit N       use only the first N training images, before the split (all)\n"
            "  --threads N     OpenMP threads (all cores)\n"
            "  --tsne N        test images in the PCA/t-SNE views of the latent space (2000; 0: none)\n"
            "  --lang en|es    language of report.html and the figures (en)\n"
            "  --checkpoint-every N  also save OUT/checkpoint.cae every N batches (100; 0: only after each\n"
            "                  epoch and on Ctrl-C); it holds all training depends on\n"
            "  --resume        go on from OUT/checkpoint.cae, with the same flags: the result is the same\n"
            "                  bits as a run that never stopped (--epochs may be raised)\n"
            "  --load FILE     start from a saved model (a model.cae); with --epochs 0, no training:\n"
            "                  sections 5-7 and the report for that model\n"
            "  --load-weights FILE.npz  start from Keras weights: np.savez(FILE, *model.get_weights())\n"
            "                  of the lab's Keras model\n"
            "  --arch SPEC     the model: convolutions cN (N filters, 3x3, ReLU; cNkK: KxK), p (2x2 max-pool),\n"
            "                  u (2x2 upsampling), \",\" between layers, \"|\" after the encoder; the last\n"
            "                  convolution has a sigmoid (default " CAE_LAB_ARCH ", the lab's)\n"
            "  --noise SIGMA   denoising: train on images with Gaussian noise of this deviation added (then\n"
            "                  clipped to [0,1]) to rebuild the clean ones; validation and test likewise\n"
            "  --mask P        denoising: each pixel of the input set to 0 with probability P\n"
            "  --holdout-class D  train (and validate) without the images of class D, then score the test set\n"
            "                  by reconstruction MSE as an anomaly detector for D: ROC curve and its AUC\n"
            "  --gpu           train on the GPU (bin/mnist_autoencoder_cuda, built by make cuda); the\n"
            "                  other sections run on the CPU\n"
            "  --help          this text\n"
            "It writes into OUT: report.html, the figures, history.csv, mse.csv, model.cae, checkpoint.cae,\n"
            "and for NumPy: weights.npz (Keras's get_weights() order), mse.npy, latents.npy and\n"
            "reconstructions.npy (the first --tsne test images).\n");
}

/* Parses a whole string as a number in [lo, hi]; 0 on anything else. */
static int parse_num(const char *s, double lo, double hi, double *v)
{
    char *end;
    if (!s || !*s) return 0;
    *v = strtod(s, &end);
    return *end == 0 && *v >= lo && *v <= hi;
}

/* The same for a whole number: "1.5" epochs is an error, not 1 epoch. */
static int parse_int(const char *s, double lo, double hi, double *v)
{
    return parse_num(s, lo, hi, v) && *v == (double)(long long)*v;
}

/* 1: run; 0: bad flags (said on stderr); -1: --help was printed */
static int parse_args(int argc, char **argv, options *o)
{
    int i;
    o->data = "data/mnist", o->out = "runs/mnist", o->lang = "en";
    o->epochs = 15, o->batch = 256, o->limit = 0, o->threads = 0, o->tsne = 2000;
    o->lr = 1e-3f, o->val_frac = 0.1f, o->seed = 42;
    o->load = o->load_weights = NULL, o->resume = 0, o->ckpt_every = 100, o->arch = CAE_LAB_ARCH;
    o->holdout = -1, o->noise = o->mask = 0.0f;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--resume")) {
            o->resume = 1;
            continue;
        }
        if (!strcmp(a, "--gpu")) {
#ifndef CONVAE_GPU
            fprintf(stderr, "error: --gpu: this program was built without the CUDA unit; make cuda builds "
                    "bin/mnist_autoencoder_cuda (it needs nvcc)\n");
            return 0;
#endif
            o->gpu = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "error: %s needs a value (or is unknown); see --help\n", a);
            return 0;
        }
        i++;
        if (!strcmp(a, "--data") && *v) o->data = v;
        else if (!strcmp(a, "--out") && *v) o->out = v; /* "" would write into / */
        else if (!strcmp(a, "--epochs") && parse_int(v, 0, 100000, &d)) o->epochs = (int)d;
        else if (!strcmp(a, "--batch") && parse_int(v, 1, 65536, &d)) o->batch = (int)d;
        else if (!strcmp(a, "--lr") && parse_num(v, 1e-9, 10, &d)) o->lr = (float)d;
        else if (!strcmp(a, "--seed") && parse_int(v, 0, 1e18, &d)) o->seed = (unsigned long long)d;
        else if (!strcmp(a, "--val-frac") && parse_num(v, 0, 0.9, &d)) o->val_frac = (float)d;
        else if (!strcmp(a, "--limit") && parse_int(v, 1, 1e9, &d)) o->limit = (int)d;
        else if (!strcmp(a, "--threads") && parse_int(v, 1, 1024, &d)) o->threads = (int)d;
        else if (!strcmp(a, "--tsne") && parse_int(v, 0, 10000, &d)) o->tsne = (int)d;
        else if (!strcmp(a, "--lang") && (!strcmp(v, "en") || !strcmp(v, "es"))) o->lang = v;
        else if (!strcmp(a, "--checkpoint-every") && parse_int(v, 0, 1e9, &d)) o->ckpt_every = (int)d;
        else if (!strcmp(a, "--load") && *v) o->load = v;
        else if (!strcmp(a, "--arch")) o->arch = v;
        else if (!strcmp(a, "--holdout-class") && parse_int(v, 0, 255, &d)) o->holdout = (int)d;
        else if (!strcmp(a, "--noise") && parse_num(v, 0, 1, &d)) o->noise = (float)d;
        else if (!strcmp(a, "--mask") && parse_num(v, 0, 0.99, &d)) o->mask = (float)d;
        else if (!strcmp(a, "--load-weights") && *v) o->load_weights = v;
        else {
            fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v);
            return 0;
        }
    }
    if (o->resume && (o->load || o->load_weights)) {
        fprintf(stderr, "error: --resume goes on from the checkpoint in --out; it does not take --load or --load-weights\n");
        return 0;
    }
    {
        cae_arch arch;
        cae_err e;
        if (cae_arch_parse(&arch, o->arch, &e)) {
            fprintf(stderr, "error: --arch: %s\n", e.msg);
            return 0;
        }
    }
    if (o->load && o->load_weights) {
        fprintf(stderr, "error: --load and --load-weights both give the starting weights: use one\n");
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ words, in two languages */
typedef struct texts {
    const char *sec[8], *samples, *label, *classes, *count, *digit, *pixels, *pixel_value, *normalized,
        *loss_title, *epoch, *loss, *train_loss, *val_loss, *recon, *mse_title, *mse, *images, *anomalies,
        *pca_title, *tsne_title, *settings, *pixel_count, *intro, *anomaly_note, *latent_note, *roc_title, *fpr, *tpr,
        *chance, *detector;
} texts;

static const texts EN = {
    {"0. Setup", "1. Load and explore the data", "2. Preprocessing", "3. The model", "4. Training",
     "5. Reconstructions", "6. Reconstruction error per image", "7. The encoder alone: the latent space"},
    "Training samples", "label", "Class distribution (training file)", "images", "class",
    "Pixel intensities (training file)", "pixel value (0-255)", "After normalisation: float32 in [0, 1]",
    "Loss per epoch (binary cross-entropy)", "epoch", "loss", "training loss", "validation loss",
    "Test images (top) and their reconstructions (bottom)", "Per-image reconstruction MSE (test set)", "MSE",
    "images", "The 16 test images the model reconstructs worst", "PCA of the latent codes",
    "t-SNE of the latent codes", "Settings", "pixels",
    "A convolutional autoencoder learns to compress 28x28 images of handwritten digits into a 7x7x64 code "
    "and to rebuild them from it. This page follows the lab's sections with everything the run printed "
    "and drew.",
    "Images with an unusually high reconstruction error are candidates for anomalies: strokes the model "
    "has rarely seen.",
    "Each point is one test image's latent code (7x7x64 numbers) reduced to two dimensions, coloured by "
    "its true class; the autoencoder never saw a label.",
    "ROC, scored by reconstruction MSE: held-out class", "false positive rate",
    "true positive rate", "chance", "MSE as the score"};

static const texts ES = {
    {"0. Configuración", "1. Carga y exploración de los datos", "2. Preprocesamiento", "3. El modelo",
     "4. Entrenamiento", "5. Reconstrucciones", "6. Error de reconstrucción por imagen",
     "7. El codificador solo: el espacio latente"},
    "Muestras de entrenamiento", "etiqueta", "Distribución de clases (entrenamiento)", "imágenes", "clase",
    "Intensidad de los píxeles (entrenamiento)", "valor del píxel (0-255)",
    "Tras normalizar: float32 en [0, 1]", "Pérdida por época (entropía cruzada binaria)", "época", "pérdida",
    "pérdida de entrenamiento", "pérdida de validación",
    "Imágenes de prueba (arriba) y sus reconstrucciones (abajo)",
    "MSE de reconstrucción por imagen (conjunto de prueba)", "MSE", "imágenes",
    "Las 16 imágenes de prueba peor reconstruidas", "PCA de los códigos latentes",
    "t-SNE de los códigos latentes", "Parámetros", "píxeles",
    "Un autocodificador convolucional aprende a comprimir imágenes de 28x28 de dígitos manuscritos en un "
    "código de 7x7x64 y a reconstruirlas a partir de él. Esta página sigue las secciones de la práctica con "
    "todo lo que la ejecución imprimió y dibujó.",
    "Las imágenes con un error de reconstrucción inusualmente alto son candidatas a anomalías: trazos que "
    "el modelo apenas ha visto.",
    "Cada punto es el código latente (7x7x64 números) de una imagen de prueba reducido a dos dimensiones, "
    "coloreado según su clase real; el autocodificador nunca vio una etiqueta.",
    "ROC, puntuación por MSE: clase excluida", "tasa de falsos positivos",
    "tasa de verdaderos positivos", "azar", "el MSE como puntuación"};

static const char *const FASHION[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ------------------------------------------------------------------ the page, in memory
   Everything printed with say() goes to the terminal and, HTML-escaped, into report.html;
   figures are embedded in it, so the page stands alone. The page is built in a cae_text and
   written in one piece at the end (as the CSV files are), so a run that stops half-way leaves
   the previous run's files whole. */
/* ------------------------------------------------------------------ the lab's state */
typedef struct dataset {
    cae_idx img, lab;
    int n, h, w, c;
    const unsigned char *px, *y; /* n x h x w x c bytes, n labels */
} dataset;

typedef struct lab {
    options o;
    const texts *T;
    const char *const *names; /* class names (Fashion-MNIST), or NULL: digits */
    int threads, live;
    double t_start, t_train;
    cae_text page;
    int in_pre; /* a <pre> block is open on the page */
    int ok;     /* 0 once a file could not be written */
    dataset tr, te;
    int hw, nval, nfit;  /* pixels per image; validation and training images */
    int val_end, ntrain; /* the training file's images in use: [0, val_end) validation, then training */
    int *vidx;           /* the validation images (all of [0, val_end) but --holdout-class's) */
    float *xn;           /* a batch of corrupted inputs (--noise, --mask) */
    cae_rng nrng;        /* the training inputs' corruption */
    cae_rng rng;
    cae_net net;         /* the initial weights, until the trainer has copied them */
    cae_arch arch;       /* the layers of --arch */
    cae_trainer *trainer;
#ifdef CONVAE_GPU
    cae_gpu_trainer *gpu; /* --gpu: training and validation there; L->trainer keeps the checkpoints */
    float *gparam;        /* the parameters on their way back from the device */
#endif
    char gpu_name[160];
    void *scratch;       /* for the net's inference calls, one share per thread */
    size_t scratch_bytes;
    float *xb, *mse;     /* a batch of images as floats (and room after it); per-test-image MSE */
    int *perm;
    float *hist_loss, *hist_val;
    /* where training stands: all of it goes into checkpoint.cae */
    int ep, pos, shuffled;     /* the epoch under way (from 1), its next batch's first image, its order drawn */
    double sum, ep_seconds;    /* the epoch's loss summed over its images so far; its training seconds */
    double *hist;              /* per finished epoch: loss, val_loss, training and validation seconds */
    unsigned long data_crc;    /* of the training file's images in use */
    int nckpt;                 /* checkpoints written, and their seconds */
    double t_ckpt;
} lab;

static double now(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC; /* single-threaded: CPU time is wall time */
#endif
}

/* Ends the printed-text block, if one is open, before a heading, paragraph or figure. */
static void end_pre(lab *L)
{
    if (L->in_pre) cae_text_printf(&L->page, "</pre>\n");
    L->in_pre = 0;
}

static void say(lab *L, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    if (!L->in_pre) cae_text_printf(&L->page, "<pre>");
    L->in_pre = 1;
    cae_text_xml(&L->page, buf);
}

static void section(lab *L, const char *title)
{
    printf("\n== %s\n", title);
    end_pre(L);
    cae_text_printf(&L->page, "<h2>");
    cae_text_xml(&L->page, title);
    cae_text_printf(&L->page, "</h2>\n");
}

static void note(lab *L, const char *s)
{
    end_pre(L);
    cae_text_printf(&L->page, "<p>");
    cae_text_xml(&L->page, s);
    cae_text_printf(&L->page, "</p>\n");
}

static const char *in_out(const lab *L, char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", L->o.out, name);
    return buf;
}

/* Reports a figure that could not be made and carries on: a missing picture should not stop
   the lab, but the run ends with a non-zero status. */
static void check(lab *L, int rc, const cae_err *e)
{
    if (!rc) return;
    fprintf(stderr, "warning: %s\n", e->msg);
    L->ok = 0;
}

/* Copies an SVG file of the output folder into the page, without its XML declaration. */
static void embed_svg(lab *L, const char *name)
{
    char path[1024];
    unsigned char *svg;
    size_t n;
    const char *s;
    cae_err e;
    if (cae_read_file(in_out(L, path, sizeof path, name), &svg, &n, 0, &e)) return; /* its maker said why */
    s = (const char *)svg;
    if (n >= 5 && strncmp(s, "<?xml", 5) == 0) {
        const char *nl = (const char *)memchr(s, '\n', n);
        n -= nl ? (size_t)(nl + 1 - s) : n;
        s = nl ? nl + 1 : s + n;
    }
    end_pre(L);
    cae_text_printf(&L->page, "<figure>");
    cae_text_put(&L->page, s, n);
    cae_text_printf(&L->page, "</figure>\n");
    free(svg);
}

/* Writes t to the output folder as name (temporary file, then rename) and frees it. */
static int write_text(lab *L, const char *name, cae_text *t)
{
    char path[1024];
    cae_err e;
    if (cae_text_write(in_out(L, path, sizeof path, name), t, &e) == CAE_OK) return 1;
    fprintf(stderr, "error: %s\n", e.msg);
    L->ok = 0;
    return 0;
}

/* NAME.pgm and NAME.png: n images in `cols` columns, the plain files the lab asks for
   (the .svg figures add titles and captions). */
static void write_grids(lab *L, const char *name, const float *imgs, int n, int h, int w, int cols)
{
    char file[256], path[1024];
    int gw, gh;
    unsigned char *px;
    cae_err e;
    const int c = L->tr.c;
    cae_grid_size(n, h, w, cols, 2, &gw, &gh);
    px = (unsigned char *)malloc((size_t)gw * gh * c);
    if (!px) {
        fprintf(stderr, "warning: no memory for %s\n", name);
        L->ok = 0;
        return;
    }
    cae_grid(px, imgs, n, h, w, c, cols, 2);
    if (c == 1 || c == 3) { /* PGM or PPM */
        snprintf(file, sizeof file, "%s.%s", name, c == 1 ? "pgm" : "ppm");
        check(L, cae_write_pnm(in_out(L, path, sizeof path, file), px, gw, gh, c, &e), &e);
    }
    snprintf(file, sizeof file, "%s.png", name);
    check(L, cae_write_png(in_out(L, path, sizeof path, file), px, gw, gh, c, &e), &e);
    free(px);
}

/* ------------------------------------------------------------------ data */
/* mkdir -p: creates each missing folder along the path */
static void make_dirs(const char *path)
{
    char buf[1024];
    size_t i, n = strlen(path);
    if (n >= sizeof buf) return;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\\' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            make_dir(buf);
            buf[i] = c;
        }
}

/* Loads DIR/stem.gz, or DIR/stem when there is no .gz, with a message that says what to do
   when neither is there. */
static int load_idx(const char *dir, const char *stem, cae_idx *x)
{
    char path[1024];
    cae_err e;
    int rc;
    snprintf(path, sizeof path, "%s/%s.gz", dir, stem);
    rc = cae_idx_load(path, x, &e);
    if (rc == CAE_ERR_IO) {
        snprintf(path, sizeof path, "%s/%s", dir, stem);
        rc = cae_idx_load(path, x, &e);
        if (rc == CAE_ERR_IO) {
            fprintf(stderr,
                    "error: %s/%s.gz (or %s without .gz) not found.\n"
                    "  Put the four MNIST files there (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
                    "  t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz): `make data` fetches them,\n"
                    "  or point --data at the folder that has them.\n",
                    dir, stem, stem);
            return 0;
        }
    }
    if (rc) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    return 1;
}

/* Images n x h x w bytes and n labels, from a pair of IDX files. The images stay bytes:
   batches are converted to floats as they are needed, which keeps memory small. */
static int load_split(const char *dir, const char *prefix, dataset *d)
{
    char si[64], sl[64];
    snprintf(si, sizeof si, "%s-images-idx3-ubyte", prefix);
    snprintf(sl, sizeof sl, "%s-labels-idx1-ubyte", prefix);
    if (!load_idx(dir, si, &d->img) || !load_idx(dir, sl, &d->lab)) return 0;
    if (d->img.type != CAE_IDX_U8 || (d->img.ndim != 3 && d->img.ndim != 4) || d->lab.type != CAE_IDX_U8 ||
        d->lab.ndim != 1 || d->lab.dims[0] != d->img.dims[0] || d->img.dims[0] < 1 || d->img.dims[1] < 1 ||
        d->img.dims[2] < 1 || (d->img.ndim == 4 && (d->img.dims[3] < 1 || d->img.dims[3] > 4))) {
        fprintf(stderr, "error: %s/%s*: expected u8 images N x H x W (or N x H x W x C, C 1..4) and N u8 labels\n", dir,
                prefix);
        return 0;
    }
    d->n = d->img.dims[0], d->h = d->img.dims[1], d->w = d->img.dims[2], d->c = d->img.ndim == 4 ? d->img.dims[3] : 1;
    d->px = (const unsigned char *)d->img.data, d->y = (const unsigned char *)d->lab.data;
    return 1;
}

/* Images idx[0..n) (or first..first+n) as floats in [0,1], NHWC (hw: numbers per image). */
static void to_float(float *dst, const unsigned char *px, const int *idx, int first, int n, int hw)
{
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *s = px + (size_t)(idx ? idx[i] : first + i) * hw;
        for (j = 0; j < hw; j++) dst[(size_t)i * hw + j] = s[j] * (1.0f / 255.0f);
    }
}

/* n images of a split starting at `first` (or the listed ones), as a tensor over L->xb */
static cae_tensor batch(lab *L, const dataset *d, const int *idx, int first, int n)
{
    to_float(L->xb, d->px, idx, first, n, L->hw);
    return cae_tensor_of(L->xb, n, d->h, d->w, d->c);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A text bar of length proportional to v/max. */
static void bar(lab *L, double v, double max, int width)
{
    int i, n = max > 0 ? (int)(v / max * width + 0.5) : 0;
    for (i = 0; i < n; i++) say(L, "#");
}

/* One line per epoch when the output is a file; on a terminal, a line redrawn per batch. */
static void progress(const lab *L, int ep, int done, int total, double loss, double t0)
{
    double el = now() - t0, ips = el > 0 ? done / el : 0, eta = ips > 0 ? (total - done) / ips : 0;
    if (!L->live) return;
    printf("\rEpoch %d/%d  batch %d/%d  loss %.4f  %5.0f img/s  ETA %3.0fs ", ep, L->o.epochs,
           (done + L->o.batch - 1) / L->o.batch, (total + L->o.batch - 1) / L->o.batch, loss, ips, eta);
    fflush(stdout);
}

/* ------------------------------------------------------------------ 0. setup */
static int setup(lab *L)
{
    const cae_kernels *ks;
    cae_err e;
    L->T = strcmp(L->o.lang, "es") ? &EN : &ES;
    L->ok = 1;
    L->t_start = now();
    L->live = is_terminal(stdout);
    L->names = strstr(L->o.data, "fashion") ? FASHION : NULL;
    L->threads = 1;
#ifdef _OPENMP
    if (L->o.threads) omp_set_num_threads(L->o.threads);
    L->threads = omp_get_max_threads();
#endif
    if (cae_kernels_pick(NULL, &ks, &e)) { /* what the net will run on: CONVAE_KERNELS or the CPU's best */
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    L->rng = cae_rng_seed(L->o.seed);
#ifdef CONVAE_GPU
    if (L->o.gpu && cae_gpu_available(L->gpu_name, sizeof L->gpu_name, &e)) { /* before anything is written */
        fprintf(stderr, "error: --gpu: %s\n", e.msg);
        return 0;
    }
#endif
    make_dirs(L->o.out);
    { /* fail now, not after training, when the results cannot be written */
        char probe[1024];
        if (cae_write_file(in_out(L, probe, sizeof probe, ".convae_write_test"), "", 0, &e)) {
            fprintf(stderr, "error: %s (--out %s)\n", e.msg, L->o.out);
            return 0;
        }
        remove(probe);
    }
    cae_text_printf(&L->page,
                "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>convae: MNIST autoencoder</title>\n"
                "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
                "pre{background:#f6f6f4;padding:.6em;overflow-x:auto;font-size:13px}figure{margin:1em 0}"
                "svg{max-width:100%%;height:auto}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}</style></head>\n"
                "<body><h1>convae: MNIST autoencoder</h1>\n<p>",
                L->o.lang);
    cae_text_xml(&L->page, L->T->intro);
    cae_text_printf(&L->page, "</p>\n");
    section(L, L->T->sec[0]);
    say(L, "convae %s, kernels: %s (%s), threads: %d%s, GPU: %s%s, seed: %llu\n", CONVAE_VERSION, cae_kernels_name(ks),
        cae_kernels_about(ks), L->threads,
#ifdef _OPENMP
        " (OpenMP)",
#else
        " (built without OpenMP)",
#endif
#ifdef CONVAE_GPU
        L->o.gpu ? L->gpu_name : "not used", L->o.gpu ? ", training there (tools/convae_cuda.cu)" : " (--gpu trains there)",
#else
        "none", " (this program runs on the CPU; make cuda builds bin/mnist_autoencoder_cuda)",
#endif
        L->o.seed);
    return 1;
}

/* ------------------------------------------------------------------ 1. load and explore */
static int load_and_explore(lab *L)
{
    const texts *T = L->T;
    const dataset *tr = &L->tr;
    char path[1024], cap[9][48];
    const char *caps[9];
    cae_plot plot;
    cae_err e;
    int i, k;
    section(L, T->sec[1]);
    say(L, "data: %s%s\n", L->o.data, L->names ? " (Fashion-MNIST)" : "");
    if (!load_split(L->o.data, "train", &L->tr) || !load_split(L->o.data, "t10k", &L->te)) return 0;
    if (L->tr.h != L->te.h || L->tr.w != L->te.w || L->tr.c != L->te.c || L->tr.h > 256 || L->tr.w > 256) {
        fprintf(stderr, "error: train images are %dx%d, test images %dx%d (equal, at most 256x256)\n", L->tr.h, L->tr.w,
                L->te.h, L->te.w);
        return 0;
    }
    L->hw = tr->h * tr->w * tr->c;
    if (tr->c == 1) {
        say(L, "x_train: (%d, %d, %d) uint8   y_train: (%d,) uint8\n", tr->n, tr->h, tr->w, tr->n);
        say(L, "x_test:  (%d, %d, %d) uint8   y_test:  (%d,) uint8\n", L->te.n, L->te.h, L->te.w, L->te.n);
    } else {
        say(L, "x_train: (%d, %d, %d, %d) uint8   y_train: (%d,) uint8\n", tr->n, tr->h, tr->w, tr->c, tr->n);
        say(L, "x_test:  (%d, %d, %d, %d) uint8   y_test:  (%d,) uint8\n", L->te.n, L->te.h, L->te.w, L->te.c, L->te.n);
    }
    L->xb = (float *)malloc(sizeof(float) * (size_t)(L->o.batch > 64 ? L->o.batch : 64) * L->hw);
    L->xn = (float *)malloc(sizeof(float) * (size_t)(L->o.batch > 64 ? L->o.batch : 64) * L->hw);
    L->mse = (float *)malloc(sizeof(float) * (size_t)L->te.n);
    L->perm = (int *)malloc(sizeof(int) * (size_t)(tr->n > L->te.n ? tr->n : L->te.n));
    L->hist_loss = (float *)malloc(sizeof(float) * (size_t)(L->o.epochs + 1));
    L->hist_val = (float *)malloc(sizeof(float) * (size_t)(L->o.epochs + 1));
    L->hist = (double *)malloc(4 * sizeof(double) * (size_t)(L->o.epochs + 1));
    L->vidx = (int *)malloc(sizeof(int) * (size_t)tr->n);
    if (!L->xb || !L->xn || !L->vidx || !L->mse || !L->perm || !L->hist_loss || !L->hist_val || !L->hist) {
        fprintf(stderr, "error: out of memory\n");
        return 0;
    }
    /* a 3x3 grid of samples with their labels */
    k = tr->n < 9 ? tr->n : 9;
    to_float(L->xb, tr->px, NULL, 0, k, L->hw);
    for (i = 0; i < k; i++) {
        snprintf(cap[i], sizeof cap[i], "%s %d%s%s", T->label, tr->y[i], L->names ? ": " : "",
                 L->names && tr->y[i] < 10 ? L->names[tr->y[i]] : "");
        caps[i] = cap[i];
    }
    check(L, cae_svg_image_grid(in_out(L, path, sizeof path, "samples.svg"), T->samples, L->xb, k, tr->h, tr->w, tr->c, 3,
                                caps, 0, &e),
          &e);
    write_grids(L, "samples", L->xb, k, tr->h, tr->w, 3);
    embed_svg(L, "samples.svg");
    { /* the class distribution */
        float count[10] = {0};
        for (i = 0; i < tr->n; i++) count[tr->y[i] < 10 ? tr->y[i] : 9]++;
        say(L, "class distribution (train):\n");
        for (i = 0; i < 10; i++) {
            say(L, "  %d %-12s %6.0f (%4.1f%%) ", i, L->names ? L->names[i] : "", count[i], 100.0 * count[i] / tr->n);
            bar(L, count[i], tr->n * 0.2, 40);
            say(L, "\n");
        }
        memset(&plot, 0, sizeof plot);
        plot.title = T->classes, plot.xlabel = T->digit, plot.ylabel = T->count;
        check(L, cae_svg_bars(in_out(L, path, sizeof path, "class_distribution.svg"), &plot, L->names, count, 10, &e), &e);
        embed_svg(L, "class_distribution.svg");
    }
    { /* 50 bins over 0..255 for all 47 million pixel values, counted without a float copy */
        size_t j, np = (size_t)tr->n * L->hw, c256[256] = {0};
        float bins[50] = {0};
        double mean = 0, all = (double)np;
        for (j = 0; j < np; j++) c256[tr->px[j]]++;
        for (i = 0; i < 256; i++) mean += (double)i * (double)c256[i] / all, bins[i * 50 / 256] += (float)c256[i];
        say(L, "pixel values (train): %.1f%% are 0 (background), %.1f%% are 255, mean %.1f\n",
            100.0 * (double)c256[0] / all, 100.0 * (double)c256[255] / all, mean);
        memset(&plot, 0, sizeof plot);
        plot.title = T->pixels, plot.xlabel = T->pixel_value, plot.ylabel = T->pixel_count, plot.log_y = 1;
        check(L, cae_svg_bins(in_out(L, path, sizeof path, "pixel_histogram.svg"), &plot, bins, 50, 0.0f, 256.0f, &e),
              &e);
        embed_svg(L, "pixel_histogram.svg");
    }
    return 1;
}

/* --noise, --mask: dst = src corrupted, n images. Training draws from L->nrng; an evaluation
   (first >= 0) corrupts image `first + i` the same way every time, from a seed of its own. */
static int corrupting(const lab *L)
{
    return L->o.noise > 0 || L->o.mask > 0;
}

static void corrupt(lab *L, float *dst, const float *src, int n, int first)
{
    int i, j;
    for (i = 0; i < n; i++) {
        cae_rng own = cae_rng_seed(L->o.seed * 1000003ULL + (unsigned long long)(first + i)), *r = first >= 0 ? &own : &L->nrng;
        for (j = 0; j < L->hw; j++) {
            size_t q = (size_t)i * L->hw + j;
            float v = src[q] + (L->o.noise > 0 ? L->o.noise * cae_rng_normal(r) : 0.0f);
            if (L->o.mask > 0 && cae_rng_uniform(r) < L->o.mask) v = 0.0f;
            dst[q] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
}

/* ------------------------------------------------------------------ 2. preprocess */
static int preprocess(lab *L)
{
    const dataset *tr = &L->tr, *te = &L->te;
    char path[1024], cap[9][48];
    const char *caps[9];
    cae_err e;
    int i, j, k, ntrain = L->o.limit && L->o.limit < tr->n ? L->o.limit : tr->n;
    section(L, L->T->sec[2]);
    L->ntrain = ntrain, L->val_end = (int)(ntrain * (double)L->o.val_frac);
    for (i = L->nval = L->nfit = 0; i < ntrain; i++) { /* --holdout-class: that class is neither fitted nor validated */
        if (tr->y[i] == L->o.holdout) continue;
        if (i < L->val_end) L->vidx[L->nval++] = i;
        else L->nfit++;
    }
    if (L->nfit < 1) {
        fprintf(stderr, "error: no training images left after the validation split%s\n",
                L->o.holdout >= 0 ? " and --holdout-class" : "");
        return 0;
    }
    L->nrng = cae_rng_seed(L->o.seed ^ 0x6e6f697365ULL); /* its own stream: the shuffles stay those of a plain run */
    L->data_crc = cae_crc32(0, tr->px, (size_t)ntrain * L->hw); /* a checkpoint is for these images only */
    say(L, "x / 255 as float32%s:\n", tr->c == 1 ? ", one channel added" : "");
    say(L, "  train      (%d, %d, %d, %d)\n  validation (%d, %d, %d, %d)  = the first %.0f%% of the training file\n"
           "  test       (%d, %d, %d, %d)\n",
        L->nfit, tr->h, tr->w, tr->c, L->nval, tr->h, tr->w, tr->c, L->o.val_frac * 100.0, te->n, te->h, te->w, te->c);
    if (L->o.holdout >= 0)
        say(L, "--holdout-class %d: the %d images of class %d are left out of training and validation; the test set "
               "keeps them\n", L->o.holdout, ntrain - L->nval - L->nfit, L->o.holdout);
    if (L->o.noise > 0) say(L, "denoising: the inputs get Gaussian noise of deviation %.2f, clipped to [0, 1]\n", L->o.noise);
    if (L->o.mask > 0) say(L, "denoising: each input pixel is set to 0 with probability %.2f\n", L->o.mask);
    if (corrupting(L)) say(L, "the targets stay clean: the model learns to rebuild the clean images\n");
    k = L->nfit < 9 ? L->nfit : 9;
    to_float(L->xb, tr->px, NULL, L->val_end, k, L->hw);
    for (i = 0; i < k; i++) {
        const float *x = L->xb + (size_t)i * L->hw;
        float lo = 1, hi = 0;
        for (j = 0; j < L->hw; j++) lo = x[j] < lo ? x[j] : lo, hi = x[j] > hi ? x[j] : hi;
        snprintf(cap[i], sizeof cap[i], "min %.2f max %.2f", lo, hi);
        caps[i] = cap[i];
    }
    say(L, "pixel range before: [0, 255] uint8; after: [0.000, 1.000] float32\n");
    check(L, cae_svg_image_grid(in_out(L, path, sizeof path, "samples_normalized.svg"), L->T->normalized, L->xb, k,
                                tr->h, tr->w, tr->c, 3, caps, 0, &e),
          &e);
    write_grids(L, "samples_normalized", L->xb, k, tr->h, tr->w, 3);
    embed_svg(L, "samples_normalized.svg");
    return 1;
}

/* ------------------------------------------------------------------ 3. the model */
/* --load-weights: the arrays np.savez(FILE, *model.get_weights()) wrote for the lab's Keras
   model (arr_0, arr_1, ...: each conv's HWIO kernel, then its bias) into the trainer */
static int load_weights_npz(lab *L, const char *file)
{
    const cae_net *net = cae_trainer_net(L->trainer);
    float *param = (float *)malloc(sizeof(float) * (net->nparams ? net->nparams : 1));
    unsigned char *buf = NULL;
    size_t len, j;
    cae_idx a;
    cae_err e;
    char name[16];
    int l, n = 0, ok = param && cae_read_file(file, &buf, &len, 0, &e) == CAE_OK;
    if (!param) snprintf(e.msg, sizeof e.msg, "out of memory");
    for (l = 0; ok && l < net->nlayers; l++) {
        const cae_layer *Ly = net->layer + l;
        int part;
        if (Ly->kind != CAE_CONV2D) continue;
        for (part = 0; ok && part < 2; part++, n++) { /* the kernel [k,k,c,oc], then the bias [oc] */
            size_t want = part ? (size_t)Ly->oc : Ly->nparams - (size_t)Ly->oc, off = Ly->poff + (part ? Ly->nparams - want : 0);
            snprintf(name, sizeof name, "arr_%d", n);
            if (cae_npz_get(buf, len, name, &a, file, &e)) {
                ok = 0;
                break;
            }
            if ((a.type != CAE_IDX_F32 && a.type != CAE_IDX_F64) || a.ndim != (part ? 1 : 4) || a.count != want ||
                (!part && (a.dims[0] != Ly->k || a.dims[1] != Ly->k || a.dims[2] != Ly->c || a.dims[3] != Ly->oc))) {
                snprintf(e.msg, sizeof e.msg, "%s: %s has %d dimensions, %zu numbers; %s's %s must be float32 (%d, %d, %d, %d)",
                         file, name, a.ndim, a.count, Ly->name, part ? "bias" : "kernel", part ? Ly->oc : Ly->k,
                         part ? 0 : Ly->k, part ? 0 : Ly->c, part ? 0 : Ly->oc);
                ok = 0;
            }
            for (j = 0; ok && j < want; j++) param[off + j] = (float)cae_idx_get(&a, j);
            cae_idx_free(&a);
        }
    }
    if (ok) { /* one array more means another model */
        snprintf(name, sizeof name, "arr_%d", n);
        if (cae_npz_get(buf, len, name, &a, file, &e) == CAE_OK) {
            cae_idx_free(&a);
            snprintf(e.msg, sizeof e.msg, "%s: more than the model's %d weight arrays (is it the lab's Keras model?)", file, n);
            ok = 0;
        }
    }
    if (ok && cae_trainer_set_params(L->trainer, param, net->nparams, &e)) ok = 0;
    if (!ok) fprintf(stderr, "error: --load-weights: %s\n", e.msg);
    else say(L, "weights: %s (%d arrays from Keras's get_weights())\n", file, n);
    free(param), free(buf);
    return ok;
}

static int build_model(lab *L)
{
    const cae_net *net;
    cae_err e;
    char *summary;
    size_t need;
    const cae_layer *last;
    int rc;
    section(L, L->T->sec[3]);
    cae_arch_parse(&L->arch, L->o.arch, &e); /* checked with the flags */
    if (!strcmp(L->o.arch, CAE_LAB_ARCH)) L->arch.spec[L->arch.n - 1].filters = L->tr.c; /* colour: c3 at the end */
    rc = L->o.load ? cae_net_load(&L->net, L->o.load, &e)
                   : cae_net_create(&L->net, L->tr.h, L->tr.w, L->tr.c, L->arch.spec, L->arch.n, L->o.seed, &e);
    if (rc == CAE_OK && (L->net.h != L->tr.h || L->net.w != L->tr.w || L->net.c != L->tr.c)) {
        fprintf(stderr, "error: %s takes %dx%dx%d images, the data's are %dx%dx%d\n", L->o.load, L->net.h, L->net.w,
                L->net.c, L->tr.h, L->tr.w, L->tr.c);
        return 0;
    }
    last = L->net.layer + L->net.nlayers - 1;
    if (rc == CAE_OK && (last->oh != L->tr.h || last->ow != L->tr.w || last->oc != L->tr.c)) {
        fprintf(stderr, "error: %s: the model's output is %dx%dx%d, the images are %dx%dx%d (as many u as p, and a last "
                "convolution of %d filter%s)\n", L->o.load ? L->o.load : L->o.arch, last->oh, last->ow, last->oc, L->tr.h,
                L->tr.w, L->tr.c, L->tr.c, L->tr.c > 1 ? "s" : "");
        return 0;
    }
    if (rc && !L->o.load) {
        fprintf(stderr, "error: --arch %s: %s\n", L->o.arch, e.msg);
        return 0;
    }
    if (rc || cae_trainer_create(&L->trainer, &L->net, L->o.batch, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    cae_net_free(&L->net); /* the trainer has its own copy */
    cae_trainer_adam(L->trainer)->lr = L->o.lr;
    if (L->o.load) say(L, "model: %s\n", L->o.load);
    if (L->o.load_weights && !load_weights_npz(L, L->o.load_weights)) return 0;
    net = cae_trainer_net(L->trainer);
    L->scratch_bytes = cae_net_scratch_bytes(net) * (size_t)L->threads;
    L->scratch = malloc(L->scratch_bytes);
    need = cae_net_summary(net, "conv_autoencoder", NULL, 0);
    summary = (char *)malloc(need);
    if (!L->scratch || !summary) {
        free(summary);
        fprintf(stderr, "error: out of memory\n");
        return 0;
    }
    cae_net_summary(net, "conv_autoencoder", summary, need);
    say(L, "%s", summary);
    free(summary);
#ifdef CONVAE_GPU
    if (L->o.gpu) { /* the images in use go to the device once; each batch is gathered there */
        L->gparam = (float *)malloc(sizeof(float) * net->nparams);
        if (!L->gparam || cae_gpu_trainer_create(&L->gpu, net, cae_trainer_adam(L->trainer), L->o.batch, &e) ||
            cae_gpu_trainer_data(L->gpu, L->tr.px, L->ntrain, &e)) {
            fprintf(stderr, "error: --gpu: %s\n", L->gparam ? e.msg : "out of memory");
            return 0;
        }
        say(L, "GPU: %d training images (%.1f MB) copied to %s\n", L->ntrain, (double)L->ntrain * L->hw / 1e6,
            L->gpu_name);
    }
#endif
    return 1;
}

/* ------------------------------------------------------------------ 4. train */
#ifdef CONVAE_GPU
/* --gpu: the device trainer from L->trainer's state (at the start, after --resume) */
static int gpu_push(lab *L)
{
    float *m, *v;
    cae_err e;
    cae_trainer_moments(L->trainer, &m, &v);
    if (cae_gpu_trainer_set_state(L->gpu, cae_trainer_net(L->trainer)->param, m, v, cae_trainer_adam(L->trainer), &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    return 1;
}

/* and back, for a checkpoint or the sections after training */
static int gpu_pull(lab *L)
{
    float *m, *v;
    cae_err e;
    cae_trainer_moments(L->trainer, &m, &v);
    if (cae_gpu_trainer_get_state(L->gpu, L->gparam, m, v, cae_trainer_adam(L->trainer), &e) ||
        cae_trainer_set_params(L->trainer, L->gparam, cae_trainer_net(L->trainer)->nparams, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    return 1;
}
#endif

/* the mean loss over n images of a split (the listed ones, or those from `first` on), in
   batches; with --noise or --mask, of the corrupted images against the clean ones */
static int mean_loss(lab *L, const dataset *d, const int *idx, int first, int n, float *mse, double *out)
{
    const cae_net *net = cae_trainer_net(L->trainer);
    double sum = 0;
    cae_err e;
    int b;
    for (b = 0; b < n; b += L->o.batch) {
        int k = n - b < L->o.batch ? n - b : L->o.batch;
        cae_tensor x, xn = cae_tensor_of(L->xn, k, d->h, d->w, d->c);
        double loss;
        int rc;
#ifdef CONVAE_GPU
        int on_gpu = L->gpu && d == &L->tr && idx && !mse; /* validation, during training */
#else
        int on_gpu = 0;
#endif
        if (!on_gpu || corrupting(L)) x = batch(L, d, idx ? idx + b : NULL, first + b, k);
        if (corrupting(L)) corrupt(L, L->xn, L->xb, k, (d == &L->te ? 1 << 30 : 0) + (idx ? idx[b] : first + b));
#ifdef CONVAE_GPU
        if (on_gpu) rc = cae_gpu_trainer_evaluate(L->gpu, idx + b, k, corrupting(L) ? L->xn : NULL, &loss, &e);
        else
#endif
            rc = cae_net_evaluate(net, corrupting(L) ? &xn : &x, &x, CAE_LOSS_BCE, &loss, mse ? mse + b : NULL, L->scratch,
                                  L->scratch_bytes, &e);
        if (rc) {
            fprintf(stderr, "error: %s\n", e.msg);
            return 0;
        }
        sum += loss * k;
    }
    *out = n ? sum / n : 0.0;
    return 1;
}

/* Checkpoints. The trainer saves itself (weights, Adam); the lab adds its own bytes: the
   settings a resumed run must share, and where training stands, little-endian. */
#define RUN_MAGIC "CAELAB01"
static volatile sig_atomic_t stop_signal; /* set by Ctrl-C or SIGTERM: stop after this batch */

static void on_stop_signal(int sig)
{
    stop_signal = sig;
    signal(sig, SIG_DFL); /* a second Ctrl-C stops at once */
}

static unsigned char *put_u32(unsigned char *p, unsigned long v)
{
    int i;
    for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i & 255);
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, unsigned long long v)
{
    return put_u32(put_u32(p, (unsigned long)(v & 0xFFFFFFFFu)), (unsigned long)(v >> 32));
}

static unsigned char *put_f64(unsigned char *p, double d)
{
    unsigned long long v;
    memcpy(&v, &d, 8);
    return put_u64(p, v);
}

static unsigned char *put_f32(unsigned char *p, float f)
{
    unsigned int v;
    memcpy(&v, &f, 4);
    return put_u32(p, v);
}

typedef struct reader {
    const unsigned char *p, *end;
    int short_read; /* a read ran past the end (and gave 0) */
} reader;

static unsigned long get_u32(reader *r)
{
    unsigned long v = 0;
    int i;
    if (r->end - r->p < 4) return r->short_read = 1, 0;
    for (i = 0; i < 4; i++) v |= (unsigned long)r->p[i] << 8 * i;
    r->p += 4;
    return v;
}

static unsigned long long get_u64(reader *r)
{
    unsigned long long lo = get_u32(r);
    return lo | (unsigned long long)get_u32(r) << 32;
}

static double get_f64(reader *r)
{
    unsigned long long v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static float get_f32(reader *r)
{
    unsigned int v = (unsigned int)get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static size_t run_bytes(const lab *L)
{
    return 8 + 8 + 6 * 4 + 2 * 4 + 4 + 4 + 2 * 4 + 3 * 4 + 8 + 8 + 3 * 8 + 4 + (size_t)(L->ep - 1) * 4 * 8 +
           (size_t)L->nfit * 4;
}

static int save_checkpoint(lab *L)
{
    char path[1024];
    size_t n = run_bytes(L);
    unsigned char *buf = (unsigned char *)malloc(n), *p = buf;
    double t0 = now();
    cae_err e;
    int i, rc;
    if (!buf) {
        fprintf(stderr, "error: out of memory for the checkpoint\n");
        return 0;
    }
#ifdef CONVAE_GPU
    if (L->gpu && !gpu_pull(L)) {
        free(buf);
        return 0;
    }
#endif
    memcpy(p, RUN_MAGIC, 8), p += 8;
    p = put_u64(p, L->o.seed);
    p = put_u32(p, (unsigned long)L->o.batch), p = put_u32(p, (unsigned long)L->o.limit);
    p = put_u32(p, (unsigned long)L->nval), p = put_u32(p, (unsigned long)L->nfit);
    p = put_u32(p, (unsigned long)L->tr.h), p = put_u32(p, (unsigned long)L->tr.w);
    p = put_f32(p, L->o.lr), p = put_f32(p, L->o.val_frac);
    p = put_u32(p, L->data_crc);
    p = put_u32(p, (unsigned long)(L->o.holdout + 1)), p = put_f32(p, L->o.noise), p = put_f32(p, L->o.mask);
    p = put_u32(p, (unsigned long)L->ep), p = put_u32(p, (unsigned long)L->pos), p = put_u32(p, (unsigned long)L->shuffled);
    p = put_u64(p, L->rng.s), p = put_u64(p, L->nrng.s);
    p = put_f64(p, L->sum), p = put_f64(p, L->ep_seconds), p = put_f64(p, L->t_train);
    p = put_u32(p, (unsigned long)(L->ep - 1));
    for (i = 0; i < 4 * (L->ep - 1); i++) p = put_f64(p, L->hist[i]);
    for (i = 0; i < L->nfit; i++) p = put_u32(p, (unsigned long)L->perm[i]);
    rc = cae_trainer_save(L->trainer, in_out(L, path, sizeof path, "checkpoint.cae"), buf, n, &e);
    free(buf);
    if (rc) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    L->nckpt++, L->t_ckpt += now() - t0;
    return 1;
}

/* --resume: the trainer and the lab's state from OUT/checkpoint.cae, once the settings match */
static int resume(lab *L)
{
    char path[1024];
    void *user = NULL;
    size_t n = 0;
    reader r;
    cae_err e;
    unsigned long long seed;
    unsigned long v[8], done;
    float lr, vf, noise, mask;
    int i, ok = 1;
    in_out(L, path, sizeof path, "checkpoint.cae");
    if (cae_trainer_load(L->trainer, path, &user, &n, &e)) {
        fprintf(stderr, "error: --resume: %s%s\n", e.msg,
                e.code == CAE_ERR_IO ? " (no run to resume in --out: start it without --resume)" : "");
        return 0;
    }
    r.p = (const unsigned char *)user, r.end = r.p + n, r.short_read = 0;
    if (n < 8 || memcmp(user, RUN_MAGIC, 8)) ok = 0;
    else r.p += 8;
    seed = get_u64(&r);
    for (i = 0; i < 6; i++) v[i] = get_u32(&r);
    lr = get_f32(&r), vf = get_f32(&r), v[6] = get_u32(&r);
    v[7] = get_u32(&r), noise = get_f32(&r), mask = get_f32(&r);
    if (ok && !r.short_read) {
        const char *what = seed != L->o.seed ? "--seed" : v[0] != (unsigned long)L->o.batch ? "--batch"
                         : v[1] != (unsigned long)L->o.limit ? "--limit" : lr != L->o.lr ? "--lr"
                         : vf != L->o.val_frac || v[2] != (unsigned long)L->nval || v[3] != (unsigned long)L->nfit ? "--val-frac"
                         : v[4] != (unsigned long)L->tr.h || v[5] != (unsigned long)L->tr.w || v[6] != L->data_crc ? "--data"
                         : v[7] != (unsigned long)(L->o.holdout + 1) ? "--holdout-class"
                         : noise != L->o.noise ? "--noise" : mask != L->o.mask ? "--mask"
                         : NULL;
        if (what) {
            fprintf(stderr, "error: --resume: %s was saved by a run with another %s (seed %llu, batch %lu, limit %lu, lr %g, "
                    "%lu training and %lu validation images of %lux%lu, data CRC %08lx); give the same flags\n",
                    path, what, seed, v[0], v[1], (double)lr, v[3], v[2], v[4], v[5], v[6]);
            free(user);
            return 0;
        }
    }
    L->ep = (int)get_u32(&r), L->pos = (int)get_u32(&r), L->shuffled = (int)get_u32(&r);
    L->rng.s = get_u64(&r), L->nrng.s = get_u64(&r);
    L->sum = get_f64(&r), L->ep_seconds = get_f64(&r), L->t_train = get_f64(&r);
    done = get_u32(&r);
    if (r.short_read || L->ep < 1 || L->ep > 100001 || done != (unsigned long)L->ep - 1 || L->pos < 0 ||
        L->pos > L->nfit || (size_t)(r.end - r.p) != done * 32 + (size_t)L->nfit * 4)
        ok = 0;
    if (ok && L->ep - 1 > L->o.epochs) {
        fprintf(stderr, "error: --resume: %s has %d epochs done, more than --epochs %d\n", path, L->ep - 1, L->o.epochs);
        free(user);
        return 0;
    }
    for (i = 0; ok && i < 4 * L->ep - 4; i++) L->hist[i] = get_f64(&r);
    for (i = 0; ok && i < L->nfit; i++) {
        unsigned long k = get_u32(&r);
        if (k < (unsigned long)L->val_end || k >= (unsigned long)L->ntrain) ok = 0;
        else L->perm[i] = (int)k;
    }
    free(user);
    if (!ok) {
        fprintf(stderr, "error: --resume: %s: the lab's part of the checkpoint is damaged or from another program\n", path);
        return 0;
    }
    for (i = 0; i < L->ep - 1; i++) L->hist_loss[i] = (float)L->hist[4 * i], L->hist_val[i] = (float)L->hist[4 * i + 1];
    say(L, "resumed from %s: epoch %d, image %d of %d\n", path, L->ep, L->pos, L->nfit);
    return 1;
}

/* weights.npz: one array per Keras weight, in get_weights() order: each conv's HWIO kernel, then its bias */
static void write_weights_npz(lab *L)
{
    const cae_net *net = cae_trainer_net(L->trainer);
    char names[2 * CAE_MAX_LAYERS][16], path[1024];
    const char *nm[2 * CAE_MAX_LAYERS];
    cae_idx a[2 * CAE_MAX_LAYERS];
    cae_err e;
    int l, n = 0;
    memset(a, 0, sizeof a);
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *Ly = net->layer + l;
        if (Ly->kind != CAE_CONV2D) continue;
        a[n].type = CAE_IDX_F32, a[n].elem_size = 4, a[n].ndim = 4;
        a[n].dims[0] = a[n].dims[1] = Ly->k, a[n].dims[2] = Ly->c, a[n].dims[3] = Ly->oc;
        a[n].count = Ly->nparams - (size_t)Ly->oc, a[n].data = (void *)(net->param + Ly->poff);
        a[n + 1] = a[n];
        a[n + 1].ndim = 1, a[n + 1].dims[0] = Ly->oc, a[n + 1].dims[1] = a[n + 1].dims[2] = a[n + 1].dims[3] = 0;
        a[n + 1].count = (size_t)Ly->oc, a[n + 1].data = (void *)(net->param + Ly->poff + a[n].count);
        n += 2;
    }
    for (l = 0; l < n; l++) snprintf(names[l], sizeof names[l], "arr_%d", l), nm[l] = names[l];
    check(L, cae_npz_save(in_out(L, path, sizeof path, "weights.npz"), nm, a, n, &e), &e);
}

static int train(lab *L)
{
    const texts *T = L->T;
    char path[1024];
    cae_plot plot;
    cae_err e;
    cae_text csv;
    int i, k, since = 0, ok = 1;
    section(L, T->sec[4]);
    say(L, "Adam(lr=%g, beta1=0.9, beta2=0.999, eps=1e-7), binary cross-entropy, batch %d, %d epochs, shuffled\n",
        L->o.lr, L->o.batch, L->o.epochs);
    for (i = L->val_end, k = 0; i < L->ntrain; i++)
        if (L->tr.y[i] != L->o.holdout) L->perm[k++] = i;
    L->ep = 1, L->pos = 0, L->shuffled = 0, L->sum = L->ep_seconds = 0;
    if (L->o.resume && !resume(L)) return 0;
#ifdef CONVAE_GPU
    if (L->gpu && !gpu_push(L)) return 0;
#endif
    signal(SIGINT, on_stop_signal), signal(SIGTERM, on_stop_signal);
    while (ok && !stop_signal && L->ep <= L->o.epochs) {
        double t0 = now(), val = 0, t1, t2, *h, shown;
        if (!L->shuffled) {
            cae_rng_shuffle(&L->rng, L->perm, L->nfit);
            L->shuffled = 1, L->sum = 0, L->ep_seconds = 0;
        }
        shown = t0 - L->ep_seconds; /* for the progress line only */
        while (L->pos < L->nfit) {
            int n = L->nfit - L->pos < L->o.batch ? L->nfit - L->pos : L->o.batch;
            cae_tensor x, xn = cae_tensor_of(L->xn, n, L->tr.h, L->tr.w, L->tr.c);
            double loss;
            int rc;
#ifdef CONVAE_GPU
            int on_gpu = L->gpu != NULL; /* the device gathers the batch from its copy of the images */
#else
            int on_gpu = 0;
#endif
            if (!on_gpu || corrupting(L)) x = batch(L, &L->tr, L->perm + L->pos, 0, n);
            if (corrupting(L)) corrupt(L, L->xn, L->xb, n, -1);
#ifdef CONVAE_GPU
            if (on_gpu) rc = cae_gpu_trainer_step(L->gpu, L->perm + L->pos, n, corrupting(L) ? L->xn : NULL, &loss, &e);
            else
#endif
                rc = cae_trainer_step(L->trainer, corrupting(L) ? &xn : &x, &x, CAE_LOSS_BCE, &loss, &e);
            if (rc) {
                fprintf(stderr, "error: %s\n", e.msg);
                ok = 0;
                break;
            }
            L->sum += loss * n; /* Keras reports the image-weighted mean over the epoch */
            L->pos += n;
            progress(L, L->ep, L->pos, L->nfit, L->sum / L->pos, shown);
            if (stop_signal || (L->o.ckpt_every && ++since % L->o.ckpt_every == 0 && L->pos < L->nfit)) {
                double t = now();
                L->ep_seconds += t - t0, L->t_train += t - t0, t0 = t;
                if (!save_checkpoint(L)) ok = 0;
                t0 += now() - t; /* the time to write it is not training time */
            }
            if (!ok || stop_signal) break;
        }
        if (!ok || stop_signal) break;
        t1 = now();
        if (!mean_loss(L, &L->tr, L->vidx, 0, L->nval, NULL, &val)) {
            ok = 0;
            break;
        }
        t2 = now();
        L->ep_seconds += t1 - t0, L->t_train += t1 - t0;
        h = L->hist + 4 * (L->ep - 1);
        h[0] = L->sum / L->nfit, h[1] = L->nval ? val : 0.0, h[2] = L->ep_seconds, h[3] = t2 - t1;
        L->hist_loss[L->ep - 1] = (float)h[0], L->hist_val[L->ep - 1] = L->nval ? (float)val : 0.0f / 0.0f;
        if (L->live) printf("\r%70s\r", "");
        say(L, "Epoch %d/%d - %.1fs - loss: %.4f - val_loss: %.4f (%.0f img/s)\n", L->ep, L->o.epochs, h[2], h[0], val,
            L->nfit / h[2]);
        fflush(stdout);
        L->ep++, L->pos = 0, L->shuffled = 0;
        ok = save_checkpoint(L);
    }
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
#ifdef CONVAE_GPU
    if (ok && L->gpu && !gpu_pull(L)) ok = 0; /* sections 5 to 7 run on the CPU */
#endif
    if (stop_signal && L->ep <= L->o.epochs) {
        if (L->live) printf("\n");
        fprintf(stderr, "stopped by %s: epoch %d, image %d of %d saved in %s/checkpoint.cae; to go on, run the same "
                "command with --resume\n", stop_signal == SIGINT ? "Ctrl-C (SIGINT)" : "SIGTERM", L->ep, L->pos, L->nfit,
                L->o.out);
        return 0;
    }
    if (!ok) return 0;
    memset(&csv, 0, sizeof csv);
    cae_text_printf(&csv, "epoch,loss,val_loss,train_seconds,val_seconds\n");
    for (i = 0; i < L->o.epochs; i++) {
        const double *h = L->hist + 4 * i;
        if (L->nval) cae_text_printf(&csv, "%d,%.6f,%.6f,%.3f,%.3f\n", i + 1, h[0], h[1], h[2], h[3]);
        else cae_text_printf(&csv, "%d,%.6f,,%.3f,%.3f\n", i + 1, h[0], h[2], h[3]);
    }
    write_text(L, "history.csv", &csv);
    if (cae_net_save(cae_trainer_net(L->trainer), in_out(L, path, sizeof path, "model.cae"), &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        L->ok = 0;
    }
    write_weights_npz(L);
    say(L, "training time %.1f s; wrote history.csv, model.cae, weights.npz; %d checkpoints in %.2f s (%.2f%% of it)\n",
        L->t_train, L->nckpt, L->t_ckpt, L->t_train > 0 ? 100.0 * L->t_ckpt / L->t_train : 0.0);
    if (L->o.epochs > 0) {
        cae_series s[2];
        s[0].label = T->train_loss, s[0].x = NULL, s[0].y = L->hist_loss, s[0].n = L->o.epochs;
        s[1].label = T->val_loss, s[1].x = NULL, s[1].y = L->hist_val, s[1].n = L->nval ? L->o.epochs : 0;
        memset(&plot, 0, sizeof plot);
        plot.title = T->loss_title, plot.xlabel = T->epoch, plot.ylabel = T->loss;
        check(L, cae_svg_lines(in_out(L, path, sizeof path, "loss_curves.svg"), &plot, s, 2, &e), &e);
        embed_svg(L, "loss_curves.svg");
    }
    return 1;
}

/* OUT/name: n float32 numbers of shape (d0[, d1, d2, d3]), for NumPy's np.load */
static int save_npy(lab *L, const char *name, const float *x, int ndim, int d0, int d1, int d2, int d3)
{
    char path[1024];
    cae_idx a;
    cae_err e;
    memset(&a, 0, sizeof a);
    a.type = CAE_IDX_F32, a.elem_size = 4, a.ndim = ndim, a.data = (void *)x;
    a.dims[0] = d0, a.dims[1] = d1, a.dims[2] = d2, a.dims[3] = d3;
    a.count = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * (size_t)(ndim > 2 ? d2 : 1) * (size_t)(ndim > 3 ? d3 : 1);
    if (cae_npy_save(in_out(L, path, sizeof path, name), &a, &e) == CAE_OK) return 1;
    check(L, 1, &e);
    return 0;
}

/* ------------------------------------------------------------------ 5. reconstructions */
static int reconstruct(lab *L)
{
    const dataset *te = &L->te;
    char path[1024], cap[30][8];
    const char *caps[30];
    cae_err e;
    int i, k = te->n < 10 ? te->n : 10, rows = corrupting(L) ? 3 : 2;
    size_t hwk = (size_t)k * L->hw;
    cae_tensor x, y;
    section(L, L->T->sec[5]);
    x = batch(L, te, NULL, 0, k);
    y = cae_tensor_of(L->xb + hwk, k, te->h, te->w, te->c);
    if (rows == 3) { /* noisy inputs on top, then what the model rebuilds from them, then the clean images */
        memcpy(L->xb + 2 * hwk, L->xb, sizeof(float) * hwk);
        corrupt(L, L->xn, L->xb, k, 1 << 30);
        memcpy(L->xb, L->xn, sizeof(float) * hwk);
    }
    if (cae_net_forward(cae_trainer_net(L->trainer), &x, &y, L->scratch, L->scratch_bytes, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    for (i = 0; i < rows * k; i++) {
        snprintf(cap[i], sizeof cap[i], "%d", te->y[i % k]);
        caps[i] = i < k ? cap[i] : NULL;
    }
    check(L, cae_svg_image_grid(in_out(L, path, sizeof path, "reconstructions.svg"), L->T->recon, L->xb, rows * k, te->h,
                                te->w, te->c, k, caps, 0, &e),
          &e);
    write_grids(L, "reconstructions", L->xb, rows * k, te->h, te->w, k);
    if (rows == 3) {
        double in = 0, out = 0;
        for (i = 0; i < (int)hwk; i++) {
            double a = L->xb[i] - L->xb[2 * hwk + i], b = L->xb[hwk + i] - L->xb[2 * hwk + i];
            in += a * a, out += b * b;
        }
        say(L, "%d test images: corrupted inputs on top, the model's rebuilding of them, the clean images below "
               "(reconstructions.svg, .png, .pgm); MSE against the clean images: inputs %.6f, rebuilt %.6f\n",
            k, in / (double)hwk, out / (double)hwk);
    } else {
        say(L, "%d test images: originals on top, reconstructions below (reconstructions.svg, .png, .pgm)\n", k);
    }
    embed_svg(L, "reconstructions.svg");
    return 1;
}

/* a test image's score, and whether it is of the held-out class */
typedef struct scored {
    float mse;
    int pos;
} scored;

static int cmp_scored_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->mse, y = ((const scored *)b)->mse;
    return (x < y) - (x > y);
}

/* --holdout-class D: the test images of class D as anomalies, scored by their MSE: the ROC
   curve, its area (ties count half) and the precision of "MSE above the 99th percentile". */
static void holdout_roc(lab *L, float p99)
{
    const dataset *te = &L->te;
    const int d = L->o.holdout;
    scored *order = (scored *)malloc(sizeof(scored) * (size_t)te->n);
    int i, npos = 0, tp = 0, fp = 0, above = 0, hit = 0, m = 0;
    float *fpr = (float *)malloc(sizeof(float) * 1002), *tpr = (float *)malloc(sizeof(float) * 1002);
    double ranks = 0, sum_pos = 0, sum_neg = 0;
    char path[1024], title[160];
    cae_series sr[2];
    cae_plot plot;
    cae_err e;
    static const float diag[2] = {0.0f, 1.0f};
    if (!order || !fpr || !tpr) {
        free(order), free(fpr), free(tpr);
        fprintf(stderr, "warning: out of memory for the ROC curve\n");
        L->ok = 0;
        return;
    }
    for (i = 0; i < te->n; i++) {
        order[i].mse = L->mse[i], order[i].pos = te->y[i] == d, npos += order[i].pos;
        if (te->y[i] == d) sum_pos += L->mse[i];
        else sum_neg += L->mse[i];
        if (L->mse[i] > p99) above++, hit += te->y[i] == d;
    }
    if (!npos || npos == te->n) {
        say(L, "--holdout-class %d: the test set has %d images of class %d: no ROC curve\n", d, npos, d);
        free(order), free(fpr), free(tpr);
        return;
    }
    qsort(order, (size_t)te->n, sizeof *order, cmp_scored_desc); /* highest MSE first */
    fpr[m] = tpr[m] = 0.0f, m++;
    for (i = 0; i < te->n;) { /* one step of the curve per distinct MSE; ties: their mean rank */
        int k = i, pos = 0;
        while (k < te->n && order[k].mse == order[i].mse) pos += order[k].pos, k++;
        ranks += pos * (te->n - (i + k - 1) / 2.0); /* ranks from the lowest MSE, 1-based */
        tp += pos, fp += k - i - pos, i = k;
        if (m < 1001 && (i == te->n || (double)i / te->n * 1000 >= m))
            fpr[m] = (float)fp / (float)(te->n - npos), tpr[m] = (float)tp / (float)npos, m++;
    }
    {
        double auc = (ranks - (double)npos * (npos + 1) / 2.0) / ((double)npos * (double)(te->n - npos));
        say(L, "held-out class %d: %d test images of it, mean MSE %.6f against %.6f for the other classes\n", d, npos,
            sum_pos / npos, sum_neg / (te->n - npos));
        say(L, "AUC %.3f (class %d against the rest, scored by reconstruction MSE; 0.5 is chance)\n", auc, d);
        say(L, "threshold = 99th percentile = %.6f: %d images above it, %d of them of class %d: precision %.3f, "
               "recall %.3f\n", p99, above, hit, d, above ? (double)hit / above : 0.0, (double)hit / npos);
        snprintf(title, sizeof title, "%s %d, AUC %.3f", L->T->roc_title, d, auc);
    }
    sr[0].label = L->T->detector, sr[0].x = fpr, sr[0].y = tpr, sr[0].n = m;
    sr[1].label = L->T->chance, sr[1].x = diag, sr[1].y = diag, sr[1].n = 2;
    memset(&plot, 0, sizeof plot);
    plot.title = title, plot.xlabel = L->T->fpr, plot.ylabel = L->T->tpr, plot.width = 620, plot.height = 560;
    check(L, cae_svg_lines(in_out(L, path, sizeof path, "anomaly_roc.svg"), &plot, sr, 2, &e), &e);
    embed_svg(L, "anomaly_roc.svg");
    free(order), free(fpr), free(tpr);
}

/* ------------------------------------------------------------------ 6. per-image MSE on the test set */
static int error_per_image(lab *L)
{
    const dataset *te = &L->te;
    const texts *T = L->T;
    char path[1024], cap[16][48];
    const char *caps[16];
    double test_bce, mean = 0;
    float *sorted = (float *)malloc(sizeof(float) * (size_t)te->n), p99, median;
    int i, over = 0, top = te->n < 16 ? te->n : 16;
    cae_plot plot;
    cae_err e;
    cae_text csv;
    section(L, T->sec[6]);
    if (!sorted || !mean_loss(L, te, NULL, 0, te->n, L->mse, &test_bce)) {
        if (!sorted) fprintf(stderr, "error: out of memory\n");
        free(sorted);
        return 0;
    }
    for (i = 0; i < te->n; i++) mean += L->mse[i];
    memcpy(sorted, L->mse, sizeof(float) * (size_t)te->n);
    qsort(sorted, (size_t)te->n, sizeof(float), cmp_float);
    median = te->n % 2 ? sorted[te->n / 2] : 0.5f * (sorted[te->n / 2 - 1] + sorted[te->n / 2]);
    p99 = sorted[(int)(0.99 * (te->n - 1))];
    for (i = 0; i < te->n; i++) over += L->mse[i] > p99;
    /* the worst-reconstructed images, highest MSE first */
    for (i = 0; i < te->n; i++) L->perm[i] = i;
    for (i = 0; i < top; i++) {
        int j, best = i;
        for (j = i + 1; j < te->n; j++)
            if (L->mse[L->perm[j]] > L->mse[L->perm[best]]) best = j;
        j = L->perm[i], L->perm[i] = L->perm[best], L->perm[best] = j;
        snprintf(cap[i], sizeof cap[i], "%d  (%.4f)", te->y[L->perm[i]], L->mse[L->perm[i]]);
        caps[i] = cap[i];
    }
    say(L, "test BCE: %.6f\n", test_bce);
    say(L, "MSE  min %.6f  max %.6f  mean %.6f  median %.6f\n", sorted[0], sorted[te->n - 1], mean / te->n, median);
    say(L, "threshold = 99th percentile = %.6f: %d test images above it (candidate anomalies)\n", p99, over);
    say(L, "worst reconstructed: test image #%d (label %d, MSE %.6f); anomalies.svg shows the 16 worst as "
           "\"label  (MSE)\"\n",
        L->perm[0], te->y[L->perm[0]], L->mse[L->perm[0]]);
    free(sorted);
    if (L->o.holdout >= 0) holdout_roc(L, p99);
    memset(&plot, 0, sizeof plot);
    plot.title = T->mse_title, plot.xlabel = T->mse, plot.ylabel = T->images;
    check(L, cae_svg_histogram(in_out(L, path, sizeof path, "mse_histogram.svg"), &plot, L->mse, (size_t)te->n, 50, 0.0f,
                               0.0f, &e),
          &e);
    embed_svg(L, "mse_histogram.svg");
    to_float(L->xb, te->px, L->perm, 0, top, L->hw);
    write_grids(L, "anomalies", L->xb, top, te->h, te->w, 4);
    check(L, cae_svg_image_grid(in_out(L, path, sizeof path, "anomalies.svg"), T->anomalies, L->xb, top, te->h, te->w, te->c,
                                4, caps, 0, &e),
          &e);
    note(L, T->anomaly_note);
    embed_svg(L, "anomalies.svg");
    memset(&csv, 0, sizeof csv);
    cae_text_printf(&csv, "index,label,mse\n");
    for (i = 0; i < te->n; i++) cae_text_printf(&csv, "%d,%d,%.8f\n", i, te->y[i], L->mse[i]);
    if (write_text(L, "mse.csv", &csv)) say(L, "wrote mse.csv (one row per test image)");
    if (save_npy(L, "mse.npy", L->mse, 1, te->n, 0, 0, 0)) say(L, " and mse.npy");
    say(L, "\n");
    return 1;
}

/* ------------------------------------------------------------------ 7. the encoder alone */
/* Two 2-D views of the n latent codes z (d numbers each): PCA and t-SNE, coloured by label. */
static void latent_views(lab *L, const float *z, const int *labels, int n, int d, float *xy)
{
    const texts *T = L->T;
    char path[1024];
    cae_plot plot;
    cae_err e;
    float evr[2];
    double t0;
    if (cae_pca(z, n, d, 2, xy, evr, &e) == CAE_OK) {
        char title[160];
        snprintf(title, sizeof title, "%s (%.1f%% + %.1f%%)", T->pca_title, 100 * evr[0], 100 * evr[1]);
        memset(&plot, 0, sizeof plot);
        plot.title = title, plot.xlabel = "PC 1", plot.ylabel = "PC 2", plot.width = 700, plot.height = 560;
        check(L, cae_svg_scatter(in_out(L, path, sizeof path, "latent_pca.svg"), &plot, xy, labels, n, 10, L->names, &e),
              &e);
        say(L, "PCA: the first two components explain %.1f%% and %.1f%% of the variance\n", 100 * evr[0],
            100 * evr[1]);
        note(L, T->latent_note);
        embed_svg(L, "latent_pca.svg");
    } else {
        check(L, 1, &e);
    }
    t0 = now();
    if (cae_tsne(z, n, d, NULL, xy, &e) == CAE_OK) {
        memset(&plot, 0, sizeof plot);
        plot.title = T->tsne_title, plot.width = 700, plot.height = 560;
        check(L, cae_svg_scatter(in_out(L, path, sizeof path, "latent_tsne.svg"), &plot, xy, labels, n, 10, L->names, &e),
              &e);
        say(L, "t-SNE (perplexity 30, PCA to 50 dimensions first) of %d codes in %.1f s\n", n, now() - t0);
        embed_svg(L, "latent_tsne.svg");
    } else {
        check(L, 1, &e);
    }
}

/* The latent: the encoder's last layer (enc_pool2 in the lab's model), or in a loaded model
   without one of --arch's names its narrowest layer. */
static int latent_layer(const lab *L, const cae_net *net)
{
    int l, best = L->arch.latent >= 0 && L->arch.latent < net->nlayers ? cae_net_find(net, L->arch.name[L->arch.latent]) : -1;
    if (best >= 0) return best;
    for (l = best = 0; l < net->nlayers - 1; l++) {
        const cae_layer *a = net->layer + l, *b = net->layer + best;
        if ((size_t)a->oh * a->ow * a->oc < (size_t)b->oh * b->ow * b->oc) best = l;
    }
    return best;
}

static int latent_space(lab *L)
{
    const cae_net *net = cae_trainer_net(L->trainer);
    const dataset *te = &L->te;
    int li = latent_layer(L, net), n = L->o.tsne < te->n ? L->o.tsne : te->n, m = n ? n : 1, b, i, ok = 1;
    const cae_layer *Ly = net->layer + li;
    size_t ln = (size_t)Ly->oh * Ly->ow * Ly->oc;
    int *labels = (int *)malloc(sizeof(int) * (size_t)m);
    float *z = (float *)malloc(sizeof(float) * (size_t)m * ln), *pix = (float *)malloc(sizeof(float) * (size_t)m * L->hw);
    float *xy = (float *)malloc(sizeof(float) * 2 * (size_t)m), *rec = (float *)malloc(sizeof(float) * (size_t)m * L->hw);
    cae_err e;
    section(L, L->T->sec[7]);
    if (!z || !pix || !xy || !labels || !rec) {
        fprintf(stderr, "error: out of memory\n");
        ok = 0;
    }
    if (ok)
        say(L, "latent = output of %s: (%d, %d, %d) per image = %zu numbers (the input has %d: %.1fx %s)\n", Ly->name,
            Ly->oh, Ly->ow, Ly->oc, ln, L->hw, ln >= (size_t)L->hw ? (double)ln / L->hw : (double)L->hw / (double)ln,
            ln >= (size_t)L->hw ? "more" : "fewer");
    for (b = 0; ok && b < n; b += L->o.batch) {
        int k = n - b < L->o.batch ? n - b : L->o.batch;
        cae_tensor x = cae_tensor_of(pix + (size_t)b * L->hw, k, te->h, te->w, te->c);
        cae_tensor y = cae_tensor_of(z + (size_t)b * ln, k, Ly->oh, Ly->ow, Ly->oc);
        cae_tensor r = cae_tensor_of(rec + (size_t)b * L->hw, k, te->h, te->w, te->c);
        to_float(x.data, te->px, NULL, b, k, L->hw);
        if (cae_net_encode(net, li, &x, &y, L->scratch, L->scratch_bytes, &e) ||
            cae_net_forward(net, &x, &r, L->scratch, L->scratch_bytes, &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            ok = 0;
        }
    }
    if (ok && n && save_npy(L, "latents.npy", z, 4, n, Ly->oh, Ly->ow, Ly->oc) &&
        save_npy(L, "reconstructions.npy", rec, 4, n, te->h, te->w, te->c))
        say(L, "wrote latents.npy (%d, %d, %d, %d) and reconstructions.npy (%d, %d, %d, %d): the first %d test images\n", n,
            Ly->oh, Ly->ow, Ly->oc, n, te->h, te->w, te->c, n);
    for (i = 0; ok && i < n; i++) labels[i] = te->y[i];
    if (ok && n >= 20) {
        double t0 = now();
        float acc_z = cae_knn_accuracy(z, labels, n, (int)ln, 5), acc_x = cae_knn_accuracy(pix, labels, n, L->hw, 5);
        say(L, "latent codes of the first %d test images: (%d, %d, %d, %d)\n", n, n, Ly->oh, Ly->ow, Ly->oc);
        if (acc_z < 0 || acc_x < 0) { /* -1: no memory for the neighbour lists */
            fprintf(stderr, "warning: no memory for the nearest-neighbour score\n");
            L->ok = 0;
        } else {
            say(L, "5-nearest-neighbour class accuracy (leave-one-out): latent %.1f%%, raw pixels %.1f%% (%.1fs)\n",
                100.0 * acc_z, 100.0 * acc_x, now() - t0);
        }
        latent_views(L, z, labels, n, (int)ln, xy);
    }
    free(z), free(pix), free(xy), free(labels), free(rec);
    return ok;
}

/* ------------------------------------------------------------------ the settings, and the page */
static int finish(lab *L)
{
    section(L, L->T->settings);
    say(L, "seed %llu, epochs %d, batch %d, lr %g, validation %.0f%%, training images %d, kernels %s, threads %d%s%s\n"
           "training %.1f s, whole run %.1f s, convae %s\n",
        L->o.seed, L->o.epochs, L->o.batch, L->o.lr, 100.0 * L->o.val_frac, L->nfit,
        cae_kernels_name(cae_trainer_net(L->trainer)->ks), L->threads, L->o.gpu ? ", trained on: " : "",
        L->o.gpu ? L->gpu_name : "", L->t_train, now() - L->t_start, CONVAE_VERSION);
    end_pre(L);
    cae_text_printf(&L->page, "</body></html>\n");
    if (!write_text(L, "report.html", &L->page)) return 0;
    printf("\ndone: %s/report.html and the figures beside it\n", L->o.out);
    return L->ok;
}

static void labelsfree(lab *L)
{
#ifdef CONVAE_GPU
    cae_gpu_trainer_free(L->gpu);
    free(L->gparam);
#endif
    cae_trainer_free(L->trainer);
    cae_net_free(&L->net);
    free(L->scratch), free(L->xb), free(L->mse), free(L->perm), free(L->hist_loss), free(L->hist_val), free(L->hist);
    free(L->xn), free(L->vidx);
    cae_text_free(&L->page);
    cae_idx_free(&L->tr.img), cae_idx_free(&L->tr.lab), cae_idx_free(&L->te.img), cae_idx_free(&L->te.lab);
}

/* ------------------------------------------------------------------ the lab */
int main(int argc, char **argv)
{
    lab L;
    int ok;
    memset(&L, 0, sizeof L);
    ok = parse_args(argc, argv, &L.o);
    if (ok <= 0) return ok ? 0 : 2;
    ok = setup(&L) && load_and_explore(&L) && preprocess(&L) && build_model(&L) && train(&L) && reconstruct(&L) &&
         error_per_image(&L) && latent_space(&L) && finish(&L);
    labelsfree(&L);
    return ok ? 0 : 1;
}
