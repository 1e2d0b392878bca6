/* mnist_autoencoder.c - the course lab "image reconstruction with a convolutional
   autoencoder on MNIST", sections 0 to 7, in C with convae.h.

   Build:  cc -O3 -march=native -fopenmp -I. examples/mnist_autoencoder.c -o mnist_autoencoder -lm
   Run:    ./mnist_autoencoder --data data/mnist --out runs/mnist
   It prints what the lab prints and writes every figure (PNG/SVG/PGM), the CSV files, the
   trained model and report.html, one page with all of it, into the output folder. */
#define CONVAE_IMPLEMENTATION
#include "convae.h"
#define CONVAE_REPORT_IMPLEMENTATION
#include "convae_report.h"

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
    const char *data, *out, *lang;
    int epochs, batch, limit, threads, tsne;
    float lr, val_frac;
    unsigned long long seed;
} options;

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
            "  --val-frac X    fraction of the training file, from its start, kept for validation (0.1)\n"
            "  --limit N       use only the first N training images, before the split (all)\n"
            "  --threads N     OpenMP threads (all cores)\n"
            "  --tsne N        test images in the PCA/t-SNE views of the latent space (2000; 0: none)\n"
            "  --lang en|es    language of report.html and the figures (en)\n"
            "  --help          this text\n");
}

/* Parses a whole string as a number in [lo, hi]; 0 on anything else. */
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
    o->data = "data/mnist", o->out = "runs/mnist", o->lang = "en";
    o->epochs = 15, o->batch = 256, o->limit = 0, o->threads = 0, o->tsne = 2000;
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
        else if (!strcmp(a, "--tsne") && parse_num(v, 0, 10000, &d)) o->tsne = (int)d;
        else if (!strcmp(a, "--lang") && (!strcmp(v, "en") || !strcmp(v, "es"))) o->lang = v;
        else {
            fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v);
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ words, in two languages */
typedef struct texts {
    const char *sec[8], *samples, *label, *classes, *count, *digit, *pixels, *pixel_value, *normalized,
        *loss_title, *epoch, *loss, *train_loss, *val_loss, *recon, *mse_title, *mse, *images, *anomalies,
        *pca_title, *tsne_title, *settings, *pixel_count, *intro, *anomaly_note, *latent_note;
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
    "its true class; the autoencoder never saw a label."};

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
    "coloreado según su clase real; el autocodificador nunca vio una etiqueta."};

static const char *const FASHION[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ------------------------------------------------------------------ the report page
   Everything printed with say() goes to the terminal and, HTML-escaped, into the page;
   figures are embedded in it, so report.html stands alone. */
static FILE *page;
static const char *out_dir;
static int in_pre; /* a <pre> block is open on the page */

/* Ends the printed-text block, if one is open, before a heading, paragraph or figure. */
static void end_pre(void)
{
    if (page && in_pre) fputs("</pre>\n", page);
    in_pre = 0;
}

static void html_text(const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", page);
        else if (*s == '>') fputs("&gt;", page);
        else if (*s == '&') fputs("&amp;", page);
        else fputc(*s, page);
    }
}

static void say(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    if (!page) return;
    if (!in_pre) fputs("<pre>", page);
    in_pre = 1;
    html_text(buf);
}

static void section(const char *title)
{
    printf("\n== %s\n", title);
    if (!page) return;
    end_pre();
    fputs("<h2>", page);
    html_text(title);
    fputs("</h2>\n", page);
}

/* Copies an SVG file of the output folder into the page, without its XML declaration. */
static void embed_svg(const char *name)
{
    char path[1024], line[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    f = fopen(path, "r");
    if (!page || !f) {
        if (f) fclose(f);
        return;
    }
    end_pre();
    fputs("<figure>", page);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "<?xml", 5) != 0) fputs(line, page);
    fputs("</figure>\n", page);
    fclose(f);
}

static void note(const char *text)
{
    if (!page) return;
    end_pre();
    fputs("<p>", page);
    html_text(text);
    fputs("</p>\n", page);
}

/* Reports a failed figure and carries on: a missing picture should not stop the lab. */
static void check(int rc, const cae_err *e)
{
    if (rc) fprintf(stderr, "warning: %s\n", e->msg);
}

static const char *in_out(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", out_dir, name);
    return buf;
}

/* Text files are written as NAME.tmp and renamed when complete, so a run that stops half-way
   leaves the previous run's file whole. */
static FILE *open_out(const char *name)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.tmp", out_dir, name);
    f = fopen(path, "w");
    if (!f) fprintf(stderr, "error: %s: cannot write (is the output folder writable?)\n", path);
    return f;
}

static int close_out(FILE *f, const char *name)
{
    char tmp[1024], path[1024];
    int ok = fclose(f) == 0;
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", out_dir, name);
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
#ifdef _WIN32
    if (ok) remove(path); /* rename does not replace on Windows */
#endif
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "error: %s: write failed\n", path);
        remove(tmp);
        return 0;
    }
    return 1;
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

static double now(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC; /* single-threaded: CPU time is wall time */
#endif
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

/* Images n x h x w bytes and n labels, from a pair of IDX files. The images stay bytes:
   batches are converted to floats as they are needed, which keeps memory small. */
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
        d->lab.dims[0] != d->img.dims[0] || d->img.dims[0] < 1) {
        fprintf(stderr, "error: %s/%s*: expected u8 images N x H x W and N u8 labels\n", dir, prefix);
        return 0;
    }
    d->n = d->img.dims[0], d->h = d->img.dims[1], d->w = d->img.dims[2];
    d->px = (const unsigned char *)d->img.data, d->y = (const unsigned char *)d->lab.data;
    return 1;
}

/* Images idx[0..n) (or first..first+n) as floats in [0,1], NHWC with one channel. */
static void to_float(float *dst, const unsigned char *px, const int *idx, int first, int n, int hw)
{
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *s = px + (size_t)(idx ? idx[i] : first + i) * hw;
        for (j = 0; j < hw; j++) dst[(size_t)i * hw + j] = s[j] * (1.0f / 255.0f);
    }
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
    for (i = 0; i < n; i++) say("#");
}

/* NAME.pgm and NAME.png: n images in `cols` columns, the plain files the lab asks for
   (the .svg figures add titles and captions). */
static void write_grids(const char *name, const float *imgs, int n, int h, int w, int cols)
{
    char file[256], path[1024];
    int gw, gh;
    unsigned char *px;
    cae_err e;
    cae_grid_size(n, h, w, cols, 2, &gw, &gh);
    px = (unsigned char *)malloc((size_t)gw * gh);
    if (!px) return;
    cae_grid(px, imgs, n, h, w, 1, cols, 2);
    snprintf(file, sizeof file, "%s.pgm", name);
    check(cae_write_pnm(in_out(path, sizeof path, file), px, gw, gh, 1, &e), &e);
    snprintf(file, sizeof file, "%s.png", name);
    check(cae_write_png(in_out(path, sizeof path, file), px, gw, gh, 1, &e), &e);
    free(px);
}

/* One line per epoch when the output is a file; on a terminal, a line redrawn per batch. */
static void progress(int ep, int epochs, int done, int total, int batch, double loss, double t0, int live)
{
    double el = now() - t0, ips = el > 0 ? done / el : 0, eta = ips > 0 ? (total - done) / ips : 0;
    if (!live) return;
    printf("\rEpoch %d/%d  batch %d/%d  loss %.4f  %5.0f img/s  ETA %3.0fs ", ep, epochs, (done + batch - 1) / batch,
           (total + batch - 1) / batch, loss, ips, eta);
    fflush(stdout);
}

/* ------------------------------------------------------------------ the lab */
int main(int argc, char **argv)
{
    options o;
    const texts *T;
    dataset tr, te;
    cae_model *m = NULL;
    cae_err e;
    cae_rng rng;
    int nspec, i, ep, hw, ntrain, nval, nfit, *perm, threads = 1, latent, live, fashion, ok = 1;
    const cae_layer_spec *spec = cae_lab_specs(&nspec);
    const char *const *names;
    char path[1024], cap[32][48];
    const char *caps[32];
    float *xb, *mse, *hist_loss, *hist_val;
    double t_start = now(), t_train = 0;
    cae_plot plot;

    memset(&tr, 0, sizeof tr), memset(&te, 0, sizeof te);
    if (!parse_args(argc, argv, &o)) return 2;
    T = strcmp(o.lang, "es") ? &EN : &ES;
    out_dir = o.out;
    make_dirs(o.out);
    page = open_out("report.html");
    if (!page) return 1;
    fprintf(page,
            "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>convae: MNIST autoencoder</title>\n"
            "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
            "pre{background:#f6f6f4;padding:.6em;overflow-x:auto;font-size:13px}figure{margin:1em 0}"
            "svg{max-width:100%%;height:auto}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}</style></head>\n"
            "<body><h1>convae: MNIST autoencoder</h1>\n<p>",
            o.lang);
    html_text(T->intro);
    fputs("</p>\n", page);
    live = is_terminal(stdout);
    fashion = strstr(o.data, "fashion") != NULL;
    names = fashion ? FASHION : NULL;

    /* ---- 0. setup ---------------------------------------------------------------------- */
#ifdef _OPENMP
    if (o.threads) omp_set_num_threads(o.threads);
    threads = omp_get_max_threads();
#endif
    rng = cae_rng_seed(o.seed);
    section(T->sec[0]);
    say("convae %s, kernels: %s, threads: %d%s, GPU: none (this program runs on the CPU), seed: %llu\n",
        CONVAE_VERSION, cae_simd_name(), threads,
#ifdef _OPENMP
        " (OpenMP)",
#else
        " (built without OpenMP)",
#endif
        o.seed);

    /* ---- 1. load and explore ------------------------------------------------------------ */
    section(T->sec[1]);
    say("data: %s%s\n", o.data, fashion ? " (Fashion-MNIST)" : "");
    if (!load_split(o.data, "train", &tr) || !load_split(o.data, "t10k", &te)) return 1;
    if (tr.h != te.h || tr.w != te.w || tr.h > 256 || tr.w > 256) {
        fprintf(stderr, "error: train images are %dx%d, test images %dx%d (equal, at most 256x256)\n", tr.h, tr.w,
                te.h, te.w);
        return 1;
    }
    hw = tr.h * tr.w;
    say("x_train: (%d, %d, %d) uint8   y_train: (%d,) uint8\n", tr.n, tr.h, tr.w, tr.n);
    say("x_test:  (%d, %d, %d) uint8   y_test:  (%d,) uint8\n", te.n, te.h, te.w, te.n);
    xb = (float *)malloc(sizeof(float) * (size_t)(o.batch > 64 ? o.batch : 64) * hw);
    mse = (float *)malloc(sizeof(float) * (size_t)te.n);
    perm = (int *)malloc(sizeof(int) * (size_t)(tr.n > te.n ? tr.n : te.n));
    hist_loss = (float *)malloc(sizeof(float) * (size_t)(o.epochs + 1));
    hist_val = (float *)malloc(sizeof(float) * (size_t)(o.epochs + 1));
    if (!xb || !mse || !perm || !hist_loss || !hist_val) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    {
        int k = tr.n < 9 ? tr.n : 9;
        to_float(xb, tr.px, NULL, 0, k, hw);
        for (i = 0; i < k; i++) {
            snprintf(cap[i], sizeof cap[i], "%s %d%s%s", T->label, tr.y[i], names ? ": " : "",
                     names && tr.y[i] < 10 ? names[tr.y[i]] : "");
            caps[i] = cap[i];
        }
        check(cae_svg_image_grid(in_out(path, sizeof path, "samples.svg"), T->samples, xb, k, tr.h, tr.w, 1, 3, caps,
                                 0, &e),
              &e);
        write_grids("samples", xb, k, tr.h, tr.w, 3);
        embed_svg("samples.svg");
    }
    {
        float count[10] = {0};
        for (i = 0; i < tr.n; i++) count[tr.y[i] < 10 ? tr.y[i] : 9]++;
        say("class distribution (train):\n");
        for (i = 0; i < 10; i++) {
            say("  %d %-12s %6.0f (%4.1f%%) ", i, names ? names[i] : "", count[i], 100.0 * count[i] / tr.n);
            bar(count[i], tr.n * 0.2, 40);
            say("\n");
        }
        memset(&plot, 0, sizeof plot);
        plot.title = T->classes, plot.xlabel = T->digit, plot.ylabel = T->count;
        check(cae_svg_bars(in_out(path, sizeof path, "class_distribution.svg"), &plot, names, count, 10, &e), &e);
        embed_svg("class_distribution.svg");
    }
    {
        /* 50 bins over 0..255 for all 47 million pixel values, counted without a float copy */
        size_t j, np = (size_t)tr.n * hw, c256[256] = {0};
        float bins[50] = {0};
        double mean = 0;
        for (j = 0; j < np; j++) c256[tr.px[j]]++;
        for (i = 0; i < 256; i++) mean += (double)i * c256[i] / np, bins[i * 50 / 256] += (float)c256[i];
        say("pixel values (train): %.1f%% are 0 (background), %.1f%% are 255, mean %.1f\n", 100.0 * c256[0] / np,
            100.0 * c256[255] / np, mean);
        memset(&plot, 0, sizeof plot);
        plot.title = T->pixels, plot.xlabel = T->pixel_value, plot.ylabel = T->pixel_count, plot.log_y = 1;
        check(cae_svg_bins(in_out(path, sizeof path, "pixel_histogram.svg"), &plot, bins, 50, 0.0f, 256.0f, &e), &e);
        embed_svg("pixel_histogram.svg");
    }

    /* ---- 2. preprocess ------------------------------------------------------------------ */
    section(T->sec[2]);
    ntrain = o.limit && o.limit < tr.n ? o.limit : tr.n;
    nval = (int)(ntrain * (double)o.val_frac);
    nfit = ntrain - nval;
    if (nfit < 1) {
        fprintf(stderr, "error: no training images left after the validation split\n");
        return 1;
    }
    say("x / 255 as float32, one channel added:\n");
    say("  train      (%d, %d, %d, 1)\n  validation (%d, %d, %d, 1)  = the first %.0f%% of the training file\n"
        "  test       (%d, %d, %d, 1)\n",
        nfit, tr.h, tr.w, nval, tr.h, tr.w, o.val_frac * 100.0, te.n, te.h, te.w);
    {
        int k = nfit < 9 ? nfit : 9;
        to_float(xb, tr.px, NULL, nval, k, hw);
        for (i = 0; i < k; i++) {
            float lo = 1, hi = 0;
            int j;
            for (j = 0; j < hw; j++) lo = xb[i * hw + j] < lo ? xb[i * hw + j] : lo, hi = xb[i * hw + j] > hi ? xb[i * hw + j] : hi;
            snprintf(cap[i], sizeof cap[i], "min %.2f max %.2f", lo, hi);
            caps[i] = cap[i];
        }
        say("pixel range before: [0, 255] uint8; after: [0.000, 1.000] float32\n");
        check(cae_svg_image_grid(in_out(path, sizeof path, "samples_normalized.svg"), T->normalized, xb, k, tr.h,
                                 tr.w, 1, 3, caps, 0, &e),
              &e);
        write_grids("samples_normalized", xb, k, tr.h, tr.w, 3);
        embed_svg("samples_normalized.svg");
    }

    /* ---- 3. the model ------------------------------------------------------------------- */
    section(T->sec[3]);
    if (cae_model_create(&m, tr.h, tr.w, 1, spec, nspec, o.batch, o.seed, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 1;
    }
    m->adam.lr = o.lr;
    {
        size_t need = cae_model_summary(m, "conv_autoencoder", NULL, 0);
        char *summary = (char *)malloc(need);
        if (summary) cae_model_summary(m, "conv_autoencoder", summary, need), say("%s", summary), free(summary);
    }

    /* ---- 4. train ----------------------------------------------------------------------- */
    section(T->sec[4]);
    say("Adam(lr=%g, beta1=0.9, beta2=0.999, eps=1e-7), binary cross-entropy, batch %d, %d epochs, shuffled\n",
        o.lr, o.batch, o.epochs);
    {
        FILE *csv = open_out("history.csv");
        if (!csv) return 1;
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
                progress(ep, o.epochs, b + n, nfit, o.batch, sum / (b + n), t0, live);
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
            t_train += t1 - t0;
            hist_loss[ep - 1] = (float)(sum / nfit), hist_val[ep - 1] = nval ? (float)(val / nval) : 0.0f / 0.0f;
            if (live) printf("\r%70s\r", "");
            say("Epoch %d/%d - %.1fs - loss: %.4f - val_loss: %.4f (%.0f img/s)\n", ep, o.epochs, t1 - t0,
                sum / nfit, nval ? val / nval : 0.0, nfit / (t1 - t0));
            fflush(stdout);
            if (nval) fprintf(csv, "%d,%.6f,%.6f,%.3f,%.3f\n", ep, sum / nfit, val / nval, t1 - t0, t2 - t1);
            else fprintf(csv, "%d,%.6f,,%.3f,%.3f\n", ep, sum / nfit, t1 - t0, t2 - t1);
        }
        ok = close_out(csv, "history.csv");
    }
    if (cae_model_save(m, in_out(path, sizeof path, "model.cae"), &e)) fprintf(stderr, "warning: %s\n", e.msg);
    say("training time %.1f s; wrote history.csv and model.cae\n", t_train);
    if (o.epochs > 0) {
        cae_series s[2];
        s[0].label = T->train_loss, s[0].x = NULL, s[0].y = hist_loss, s[0].n = o.epochs;
        s[1].label = T->val_loss, s[1].x = NULL, s[1].y = hist_val, s[1].n = nval ? o.epochs : 0;
        memset(&plot, 0, sizeof plot);
        plot.title = T->loss_title, plot.xlabel = T->epoch, plot.ylabel = T->loss;
        check(cae_svg_lines(in_out(path, sizeof path, "loss_curves.svg"), &plot, s, 2, &e), &e);
        embed_svg("loss_curves.svg");
    }

    /* ---- 5. reconstructions ------------------------------------------------------------- */
    section(T->sec[5]);
    {
        int k = te.n < 10 ? te.n : 10;
        to_float(xb, te.px, NULL, 0, k, hw);
        cae_model_predict(m, xb, k, xb + (size_t)k * hw, &e);
        for (i = 0; i < 2 * k; i++) {
            snprintf(cap[i], sizeof cap[i], "%d", te.y[i % k]);
            caps[i] = i < k ? cap[i] : NULL;
        }
        check(cae_svg_image_grid(in_out(path, sizeof path, "reconstructions.svg"), T->recon, xb, 2 * k, te.h, te.w, 1,
                                 k, caps, 0, &e),
              &e);
        write_grids("reconstructions", xb, 2 * k, te.h, te.w, k);
        say("%d test images: originals on top, reconstructions below (reconstructions.svg, .png, .pgm)\n", k);
        embed_svg("reconstructions.svg");
    }

    /* ---- 6. per-image MSE on the test set ----------------------------------------------- */
    section(T->sec[6]);
    {
        double test_bce = 0, mean = 0;
        float *sorted = (float *)malloc(sizeof(float) * (size_t)te.n), p99, median;
        int b, over = 0, top = te.n < 16 ? te.n : 16;
        FILE *csv;
        if (!sorted) return 1;
        for (b = 0; b < te.n; b += o.batch) {
            int n = te.n - b < o.batch ? te.n - b : o.batch;
            double loss;
            to_float(xb, te.px, NULL, b, n, hw);
            cae_model_evaluate(m, xb, xb, n, CAE_LOSS_BCE, &loss, mse + b, &e);
            test_bce += loss * n;
        }
        for (i = 0; i < te.n; i++) mean += mse[i];
        memcpy(sorted, mse, sizeof(float) * (size_t)te.n);
        qsort(sorted, (size_t)te.n, sizeof(float), cmp_float);
        median = te.n % 2 ? sorted[te.n / 2] : 0.5f * (sorted[te.n / 2 - 1] + sorted[te.n / 2]);
        p99 = sorted[(int)(0.99 * (te.n - 1))];
        for (i = 0; i < te.n; i++) over += mse[i] > p99;
        /* the worst-reconstructed images, highest MSE first */
        for (i = 0; i < te.n; i++) perm[i] = i;
        for (i = 0; i < top; i++) {
            int j, best = i;
            for (j = i + 1; j < te.n; j++)
                if (mse[perm[j]] > mse[perm[best]]) best = j;
            j = perm[i], perm[i] = perm[best], perm[best] = j;
            snprintf(cap[i], sizeof cap[i], "%d  (%.4f)", te.y[perm[i]], mse[perm[i]]);
            caps[i] = cap[i];
        }
        say("test BCE: %.6f\n", test_bce / te.n);
        say("MSE  min %.6f  max %.6f  mean %.6f  median %.6f\n", sorted[0], sorted[te.n - 1], mean / te.n, median);
        say("threshold = 99th percentile = %.6f: %d test images above it (candidate anomalies)\n", p99, over);
        say("worst reconstructed: test image #%d (label %d, MSE %.6f); anomalies.svg shows the 16 worst as "
            "\"label  (MSE)\"\n", perm[0], te.y[perm[0]], mse[perm[0]]);
        memset(&plot, 0, sizeof plot);
        plot.title = T->mse_title, plot.xlabel = T->mse, plot.ylabel = T->images;
        check(cae_svg_histogram(in_out(path, sizeof path, "mse_histogram.svg"), &plot, mse, (size_t)te.n, 50, 0.0f,
                                0.0f, &e),
              &e);
        embed_svg("mse_histogram.svg");
        to_float(xb, te.px, perm, 0, top, hw);
        write_grids("anomalies", xb, top, te.h, te.w, 4);
        check(cae_svg_image_grid(in_out(path, sizeof path, "anomalies.svg"), T->anomalies, xb, top, te.h, te.w, 1, 4,
                                 caps, 0, &e),
              &e);
        note(T->anomaly_note);
        embed_svg("anomalies.svg");
        free(sorted);
        csv = open_out("mse.csv");
        if (!csv) return 1;
        fprintf(csv, "index,label,mse\n");
        for (i = 0; i < te.n; i++) fprintf(csv, "%d,%d,%.8f\n", i, te.y[i], mse[i]);
        ok = close_out(csv, "mse.csv") && ok;
        say("wrote mse.csv (one row per test image)\n");
    }

    /* ---- 7. the encoder alone ----------------------------------------------------------- */
    section(T->sec[7]);
    latent = cae_model_find(m, "enc_pool2");
    {
        const cae_layer *L = m->layer + latent;
        int n = o.tsne < te.n ? o.tsne : te.n, b, *lab = (int *)malloc(sizeof(int) * (size_t)(n ? n : 1));
        size_t ln = (size_t)L->oh * L->ow * L->oc;
        float *z = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1) * ln);
        float *pix = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1) * hw), *xy = (float *)malloc(sizeof(float) * 2 * (size_t)(n ? n : 1));
        if (!z || !pix || !xy || !lab) return 1;
        say("latent = output of %s: (%d, %d, %d) per image = %zu numbers (the input has %d: %.1fx more)\n", L->name,
            L->oh, L->ow, L->oc, ln, hw, (double)ln / hw);
        for (b = 0; b < n; b += o.batch) {
            int k = n - b < o.batch ? n - b : o.batch;
            to_float(pix + (size_t)b * hw, te.px, NULL, b, k, hw);
            cae_model_encode(m, latent, pix + (size_t)b * hw, k, z + (size_t)b * ln, &e);
        }
        for (i = 0; i < n; i++) lab[i] = te.y[i];
        if (n >= 20) {
            float evr[2];
            double t0 = now();
            float acc_z = cae_knn_accuracy(z, lab, n, (int)ln, 5), acc_x = cae_knn_accuracy(pix, lab, n, hw, 5);
            say("latent codes of the first %d test images: (%d, %d, %d, %d)\n", n, n, L->oh, L->ow, L->oc);
            say("5-nearest-neighbour class accuracy (leave-one-out): latent %.1f%%, raw pixels %.1f%% (%.1fs)\n",
                100.0 * acc_z, 100.0 * acc_x, now() - t0);
            if (cae_pca(z, n, (int)ln, 2, xy, evr, &e) == CAE_OK) {
                char title[160];
                snprintf(title, sizeof title, "%s (%.1f%% + %.1f%%)", T->pca_title, 100 * evr[0], 100 * evr[1]);
                memset(&plot, 0, sizeof plot);
                plot.title = title, plot.xlabel = "PC 1", plot.ylabel = "PC 2", plot.width = 700, plot.height = 560;
                check(cae_svg_scatter(in_out(path, sizeof path, "latent_pca.svg"), &plot, xy, lab, n, 10, names, &e), &e);
                say("PCA: the first two components explain %.1f%% and %.1f%% of the variance\n", 100 * evr[0],
                    100 * evr[1]);
                note(T->latent_note);
                embed_svg("latent_pca.svg");
            } else {
                check(1, &e);
            }
            t0 = now();
            if (cae_tsne(z, n, (int)ln, NULL, xy, &e) == CAE_OK) {
                memset(&plot, 0, sizeof plot);
                plot.title = T->tsne_title, plot.width = 700, plot.height = 560;
                check(cae_svg_scatter(in_out(path, sizeof path, "latent_tsne.svg"), &plot, xy, lab, n, 10, names, &e),
                      &e);
                say("t-SNE (perplexity 30, PCA to 50 dimensions first) of %d codes in %.1f s\n", n, now() - t0);
                embed_svg("latent_tsne.svg");
            } else {
                check(1, &e);
            }
        }
        free(z), free(pix), free(xy), free(lab);
    }

    section(T->settings);
    say("seed %llu, epochs %d, batch %d, lr %g, validation %.0f%%, training images %d, kernels %s, threads %d\n"
        "training %.1f s, whole run %.1f s, convae %s\n",
        o.seed, o.epochs, o.batch, o.lr, 100.0 * o.val_frac, nfit, cae_simd_name(), threads, t_train, now() - t_start,
        CONVAE_VERSION);
    end_pre();
    fputs("</body></html>\n", page);
    ok = close_out(page, "report.html") && ok;
    page = NULL;
    printf("\ndone: %s/report.html and the figures beside it\n", o.out);
    cae_model_free(m);
    free(xb), free(mse), free(perm), free(hist_loss), free(hist_val);
    cae_idx_free(&tr.img), cae_idx_free(&tr.lab), cae_idx_free(&te.img), cae_idx_free(&te.lab);
    return ok ? 0 : 1;
}
