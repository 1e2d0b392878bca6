/* bench.c - how fast convae runs the lab's model on this machine, with PyTorch running the
   same model side by side, in the same run.

   Build:  make bin/bench   (or: cc -O3 -fopenmp -I. tools/bench.c -o bench -lm; no -march is
           needed: the library's kernels and the FMA loops below choose AVX2 at run time)
   Run:    bin/bench --data ../shared/data/mnist          (this is `make bench`)
   Flags:  --help lists them. Everything printed is a Markdown table, ready for a README;
           --json FILE writes the same numbers for scripts. --kernels NAME picks the kernel set
           (default: the library's choice, which honours the environment variable CONVAE_KERNELS).

   What it measures, in this order:
     1. the FMA peak of this machine: a loop of independent FMAs on registers only, in the
        instruction set of the kernel set that runs (AVX2 for "avx2", a plain C loop for
        "scalar"), the ceiling every other figure is a percentage of; the other SIMD loops this
        CPU runs (AVX2, AVX-512) are timed too and printed beside it, for information only;
     2. each of the model's five convolutions, forward, weight gradient and input gradient,
        256 images split across the threads and run one at a time through the per-image
        kernels the model uses (cae_conv2d_forward1/_backward1 on the chosen kernel set, with
        the derived kernels made first);
     3. training steps (cae_trainer_step) and 4. inference (cae_net_forward), on MNIST;
     5. peak memory; 6. PyTorch (pytorch_seed_ae.py, the same model) run between convae's
        rounds of 3 and 4, so that both see the same machine.
   The development box is shared and its speed drifts by 1.5x over a day, so: medians of
   repetitions, comparisons only within one run, and an "other procs" column (CPU used by
   other processes meanwhile: /proc/stat busy time minus our own) that says when to distrust
   a figure. FLOPs are those of a direct convolution (2*h*w*ci*co*9 per image); the Winograd
   layers do fewer real ones, so they may show more than 100% of peak. */

#define CONVAE_IMPLEMENTATION
#include "convae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BATCH 256
#define MAX_TORCH 3 /* default environment, AVX-512 forced, AVX2 only */
#define CONTENDED 0.2 /* cores used by other processes above which a figure is suspect */

typedef struct options {
    const char *data, *python, *script, *json;
    const char *kernels; /* --kernels, or NULL: the library's choice (CONVAE_KERNELS, else the best) */
    int threads, steps, epoch, torch, quick;
} options;

/* ================================================================ small helpers */

static double now(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC; /* single-threaded: CPU time is wall time */
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double *s, r;
    if (n < 1) return NAN;
    s = (double *)malloc(sizeof(double) * (size_t)n);
    if (!s) return NAN;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    r = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return r;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "error: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The whole file as a NUL-terminated string, or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t n = 0, cap = 0, got;
    if (!f) return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            char *t = (char *)realloc(s, cap = 2 * cap + 4096 + 1);
            if (!t) break;
            s = t;
        }
        got = fread(s + n, 1, 4096, f);
        n += got;
    } while (got == 4096);
    fclose(f);
    if (s) s[n] = 0;
    return s;
}

/* ================================================================ what /proc says */

/* "model name" from /proc/cpuinfo, the logical CPU count, and whether avx512f is in the flags */
static void cpu_info(char *model, size_t cap, int *ncpu, int *avx512)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    snprintf(model, cap, "unknown (no /proc/cpuinfo)");
    *ncpu = 0, *avx512 = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "processor", 9)) (*ncpu)++;
        if (!colon) continue;
        if (!strncmp(line, "model name", 10) && *ncpu <= 1) {
            size_t len;
            snprintf(model, cap, "%s", colon + 2);
            len = strlen(model);
            if (len && model[len - 1] == '\n') model[len - 1] = 0;
        }
        if (!strncmp(line, "flags", 5) && strstr(line, " avx512f")) *avx512 = 1;
    }
    fclose(f);
}

/* VmHWM (peak resident memory) of this process in MiB, NAN where /proc is not there */
static double vmhwm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = NAN;
    if (!f) return NAN;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kib = atof(line + 6);
    fclose(f);
    return kib / 1024.0;
}

/* Linux (4.0+) resets VmHWM to the current resident size on "5" into clear_refs. */
static int reset_vmhwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok;
    if (!f) return 0;
    ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* CPU time in clock ticks: all CPUs busy, all CPUs in total, this process. Only ratios of
   differences are used, so the tick length never matters. */
typedef struct cpu_snap {
    double busy, total, own;
    int ncpu;
} cpu_snap;

static cpu_snap cpu_snapshot(void)
{
    cpu_snap s;
    char line[1024];
    FILE *f = fopen("/proc/stat", "r");
    s.busy = s.total = s.own = NAN, s.ncpu = 0;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            unsigned long long v[8];
            if (!strncmp(line, "cpu ", 4) && sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", v, v + 1,
                                                      v + 2, v + 3, v + 4, v + 5, v + 6, v + 7) == 8) {
                s.total = (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
                s.busy = s.total - (double)(v[3] + v[4]); /* all but idle and iowait */
            } else if (!strncmp(line, "cpu", 3) && line[3] >= '0' && line[3] <= '9') {
                s.ncpu++;
            }
        }
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        if (fgets(line, sizeof line, f)) {
            const char *p = strrchr(line, ')'); /* the command name may hold spaces */
            unsigned long long ut, st;
            if (p && sscanf(p + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) == 2)
                s.own = (double)(ut + st);
        }
        fclose(f);
    }
    return s;
}

/* Cores that other processes kept busy on average between two snapshots (NAN: unknown). */
static double foreign_cores(cpu_snap a, cpu_snap b)
{
    double total = b.total - a.total;
    if (!(total > 0) || a.ncpu < 1) return NAN;
    return a.ncpu * ((b.busy - a.busy) - (b.own - a.own)) / total;
}

/* ================================================================ 1. FMA peak */

/* One loop per instruction set, each `iters` rounds of independent multiply-adds on registers
   only; the values converge to 1 and never reach denormals. The SIMD loops carry target
   attributes (GCC and clang on x86), so that, like the library's kernels, they are built
   whatever the flags and run where the CPU reports their instruction set; other compilers
   build them only when their flags already enable it. */
typedef struct fma_loop {
    const char *name;   /* the kernel set's name ("scalar", "avx2"), or "avx512" */
    const char *about;
    int flops_per_iter;
    float (*run)(long iters);
    int (*usable)(void);
} fma_loop;

static float fma_scalar(long iters)
{
    float a[64], r = 0.0f;
    long i;
    int j;
    for (j = 0; j < 64; j++) a[j] = (float)j;
    for (i = 0; i < iters; i++)
        for (j = 0; j < 64; j++) a[j] = a[j] * 0.9999999f + 1e-7f;
    for (j = 0; j < 64; j++) r += a[j];
    return r;
}

static int fma_always(void)
{
    return 1;
}

#if (defined(__x86_64__) || defined(__i386__)) && ((defined(__GNUC__) && __GNUC__ >= 5) || defined(__clang__))
#include <immintrin.h>
#define FMA_AVX2_FN __attribute__((target("avx2,fma")))
#define FMA_AVX512_FN __attribute__((target("avx512f")))
#define FMA_AVX2 1
#define FMA_AVX512 1
static int fma_avx2_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int fma_avx512_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FMA_AVX2_FN
#define FMA_AVX2 1
#define fma_avx2_usable fma_always /* the flags promised it */
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#define FMA_AVX512_FN
#define FMA_AVX512 1
#define fma_avx512_usable fma_always
#endif
#endif

#ifdef FMA_AVX2
/* 12 chains: more than FMA latency x FMA pipes (4 x 2 on Zen 3), so throughput-bound. */
static FMA_AVX2_FN float fma_avx2(long iters)
{
    __m256 a[12], mul = _mm256_set1_ps(0.9999999f), add = _mm256_set1_ps(1e-7f), s;
    float out[8], r = 0.0f;
    long i;
    int j;
    for (j = 0; j < 12; j++) a[j] = _mm256_set1_ps((float)j);
    for (i = 0; i < iters; i++)
        for (j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], mul, add);
    s = a[0];
    for (j = 1; j < 12; j++) s = _mm256_add_ps(s, a[j]);
    _mm256_storeu_ps(out, s);
    for (j = 0; j < 8; j++) r += out[j];
    return r;
}
#endif

#ifdef FMA_AVX512
/* 24 chains of 16 lanes, three times latency x pipes (4 x 2), in 24 of the 32 zmm registers:
   two arrays of 12, because compilers keep an array in registers only where they unroll the
   loops over it completely, and GCC does that up to 16 iterations. */
static FMA_AVX512_FN float fma_avx512(long iters)
{
    __m512 a[12], b[12], mul = _mm512_set1_ps(0.9999999f), add = _mm512_set1_ps(1e-7f), s;
    float out[16], r = 0.0f;
    long i;
    int j;
    for (j = 0; j < 12; j++) a[j] = _mm512_set1_ps((float)j), b[j] = _mm512_set1_ps((float)(j + 12));
    for (i = 0; i < iters; i++)
        for (j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], mul, add), b[j] = _mm512_fmadd_ps(b[j], mul, add);
    s = b[0];
    for (j = 0; j < 12; j++) s = _mm512_add_ps(s, a[j]);
    for (j = 1; j < 12; j++) s = _mm512_add_ps(s, b[j]);
    _mm512_storeu_ps(out, s);
    for (j = 0; j < 16; j++) r += out[j];
    return r;
}
#endif

static const fma_loop fma_loops[] = {
    {"scalar", "plain C multiply-add loop over 64 independent floats (as the compiler vectorises it)", 64 * 2,
     fma_scalar, fma_always},
#ifdef FMA_AVX2
    {"avx2", "AVX2 _mm256_fmadd_ps, 12 independent accumulators", 12 * 8 * 2, fma_avx2, fma_avx2_usable},
#endif
#ifdef FMA_AVX512
    {"avx512", "AVX-512 _mm512_fmadd_ps, 24 independent accumulators", 24 * 16 * 2, fma_avx512, fma_avx512_usable},
#endif
};
enum { NFMA = sizeof fma_loops / sizeof fma_loops[0] };

static volatile float fma_sink; /* keeps the loops from being optimised away */

/* GFLOP/s of `threads` threads each running the loop `iters` times, all at once */
static double fma_gflops(const fma_loop *L, int threads, long iters)
{
    double t0 = now(), t;
    int nt = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        float r = L->run(iters);
        if (thread_id() == 0) nt = thread_count();
#ifdef _OPENMP
#pragma omp critical
#endif
        fma_sink += r;
    }
    (void)threads;
    t = now() - t0;
    return (double)nt * (double)iters * L->flops_per_iter / t / 1e9;
}

/* median over reps runs of about `seconds` each: peak[0] all threads, peak[1] one thread */
static void fma_peak(const fma_loop *L, int threads, int reps, double seconds, double peak[2])
{
    double g[16], t;
    long iters = 1L << 18;
    int r;
    fma_gflops(L, threads, iters); /* wakes the thread pool */
    t = now();
    fma_sink += L->run(iters);
    t = now() - t;
    iters = (long)((double)iters * seconds / (t > 1e-6 ? t : 1e-6));
    if (iters < 1000) iters = 1000;
    for (r = 0; r < reps; r++) g[r] = fma_gflops(L, threads, iters);
    peak[0] = median(g, reps);
    for (r = 0; r < reps; r++) g[r] = fma_gflops(L, 1, iters);
    peak[1] = median(g, reps);
}

/* ================================================================ 2. the convolutions */

typedef struct conv_shape {
    const char *name;
    int h, w, ci, co;
} conv_shape;

/* the lab model's five convolutions, all 3x3 'same' */
static const conv_shape convs[5] = {
    {"enc_conv1", 28, 28, 1, 32},  {"enc_conv2", 14, 14, 32, 64}, {"dec_conv1", 7, 7, 64, 64},
    {"dec_conv2", 14, 14, 64, 32}, {"dec_conv_output", 28, 28, 32, 1},
};
enum { DIR_FWD, DIR_DW, DIR_DIN, NDIR };
static const char *dir_name[NDIR] = {"fwd", "dW", "din"};

static double conv_flops(const conv_shape *s) /* per image, one direction */
{
    return 2.0 * s->h * s->w * s->ci * s->co * 9;
}

typedef struct conv_bufs {
    const cae_kernels *ks; /* the kernel set timed */
    float *in, *out, *dpre, *din, *wt, *bias;
    float *wflip, *U, *Uf;                 /* the kernels the model derives once per step */
    float *dw[64], *du[64], *work[64]; /* per thread: weight and bias gradients, scratch */
} conv_bufs;

/* One direction of one convolution over n images, each thread taking its own share and
   running them one at a time through the per-image kernels, with the derived kernels made
   beforehand: what the model does in a training step, where an image's activations stay in
   the core's cache from one layer to the next (here each thread reuses one image's buffers).
   Returns seconds. */
static double time_conv(const conv_shape *s, int dir, int n, int threads, conv_bufs *b)
{
    double t0 = now();
    const int k = 3;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        int t = thread_id(), nt = thread_count(), lo = n * t / nt, hi = n * (t + 1) / nt;
        size_t ip = (size_t)s->h * s->w * s->ci, op = (size_t)s->h * s->w * s->co;
        float *dw = b->dw[t], *db = dw + (size_t)9 * s->ci * s->co, *in = b->in + lo * ip, *out = b->out + lo * op;
        float *dpre = b->dpre + lo * op, *din = b->din + lo * ip;
        const cae_kernels *ks = b->ks;
        const float *U = cae_conv2d_wino(ks, s->ci, s->co, k) ? b->U : NULL;
        const float *Uf = cae_conv2d_wino(ks, s->co, s->ci, k) ? b->Uf : NULL;
        int i;
        for (i = lo; i < hi; i++) {
            if (dir == DIR_FWD)
                cae_conv2d_forward1(ks, out, in, b->wt, U, b->bias, s->h, s->w, s->ci, s->co, k,
                                    s->co == 1 ? CAE_ACT_NONE : CAE_ACT_RELU, b->work[t]);
            else if (dir == DIR_DW) /* din NULL: weight (or Winograd-domain) and bias gradients */
                cae_conv2d_backward1(ks, NULL, dw, b->du[t], db, dpre, in, b->wflip, Uf, s->h, s->w, s->ci, s->co, k,
                                     b->work[t]);
            else /* the input gradient only */
                cae_conv2d_backward1(ks, din, NULL, NULL, NULL, dpre, in, b->wflip, Uf, s->h, s->w, s->ci, s->co, k,
                                     b->work[t]);
        }
    }
    (void)threads;
    return now() - t0;
}

/* seconds per batch, median of reps after one warm-up, for each layer and direction
   (NAN: not measured; the model never computes the first layer's input gradient) */
static void bench_convs(const cae_kernels *ks, int threads, int reps, double sec[5][NDIR], size_t *bytes_used)
{
    conv_bufs b;
    size_t max_in = 0, max_out = 0, max_w = 0, max_work = 0, i;
    double t[16];
    int l, d, r;
    cae_rng rng = cae_rng_seed(7);
    for (l = 0; l < 5; l++) {
        const conv_shape *s = convs + l;
        size_t in = (size_t)s->h * s->w * s->ci, out = (size_t)s->h * s->w * s->co, w = (size_t)9 * s->ci * s->co;
        size_t wk = cae_conv2d_work_floats(s->h, s->w, s->ci, s->co, 3);
        max_in = in > max_in ? in : max_in, max_out = out > max_out ? out : max_out;
        max_w = w > max_w ? w : max_w, max_work = wk > max_work ? wk : max_work;
    }
    max_in *= BATCH, max_out *= BATCH;
    b.ks = ks;
    b.in = (float *)xmalloc(sizeof(float) * max_in);
    b.din = (float *)xmalloc(sizeof(float) * max_in);
    b.out = (float *)xmalloc(sizeof(float) * max_out);
    b.dpre = (float *)xmalloc(sizeof(float) * max_out);
    b.wt = (float *)xmalloc(sizeof(float) * max_w);
    b.bias = (float *)xmalloc(sizeof(float) * 64);
    for (i = 0; i < max_in; i++) b.in[i] = cae_rng_uniform(&rng);
    for (i = 0; i < max_out; i++) b.dpre[i] = cae_rng_uniform(&rng) - 0.5f;
    for (i = 0; i < max_w; i++) b.wt[i] = 0.2f * cae_rng_uniform(&rng) - 0.1f;
    for (i = 0; i < 64; i++) b.bias[i] = 0.01f;
    b.wflip = (float *)xmalloc(sizeof(float) * max_w);
    b.U = (float *)xmalloc(sizeof(float) * 36 * 64 * 64); /* F(4x4,3x3)'s 36 planes at most */
    b.Uf = (float *)xmalloc(sizeof(float) * 36 * 64 * 64);
    for (r = 0; r < threads; r++) {
        b.dw[r] = (float *)xmalloc(sizeof(float) * (max_w + 64));
        b.du[r] = (float *)xmalloc(sizeof(float) * 36 * 64 * 64); /* F(4x4,3x3)'s 36 planes at most */
        b.work[r] = (float *)xmalloc(sizeof(float) * max_work);
        memset(b.dw[r], 0, sizeof(float) * (max_w + 64));
        memset(b.du[r], 0, sizeof(float) * 36 * 64 * 64);
    }
    *bytes_used = sizeof(float) * (2 * max_in + 2 * max_out + threads * (max_w + 64 + max_work));
    for (l = 0; l < 5; l++) {
        double all[NDIR][16];
        const conv_shape *s = convs + l;
        cae_conv2d_flip(b.wflip, b.wt, s->ci, s->co, 3);
        int m = cae_conv2d_wino(ks, s->ci, s->co, 3), mf = cae_conv2d_wino(ks, s->co, s->ci, 3);
        if (m) cae_conv2d_wino_kernel(m, b.U, b.wt, s->ci, s->co);
        if (mf) cae_conv2d_wino_kernel(mf, b.Uf, b.wflip, s->co, s->ci);
        for (r = 0; r <= reps; r++) /* the directions interleaved, so drift hits all alike */
            for (d = 0; d < NDIR; d++)
                if (d != DIR_DIN || l > 0) all[d][r] = time_conv(convs + l, d, BATCH, threads, &b);
        for (d = 0; d < NDIR; d++) {
            for (r = 0; r < reps; r++) t[r] = all[d][r + 1]; /* rep 0 is the warm-up */
            sec[l][d] = d == DIR_DIN && l == 0 ? NAN : median(t, reps);
        }
    }
    for (r = 0; r < threads; r++) free(b.dw[r]), free(b.du[r]), free(b.work[r]);
    free(b.wflip), free(b.U), free(b.Uf);
    free(b.in), free(b.din), free(b.out), free(b.dpre), free(b.wt), free(b.bias);
}

/* ================================================================ data */

/* n images of h x w bytes: an IDX file's, or random ones when the file is not there */
typedef struct images {
    cae_idx idx;
    unsigned char *own; /* synthetic pixels */
    const unsigned char *px;
    int n, h, w, real;
} images;

static void load_images(const char *dir, const char *stem, int synth_n, int min_n, images *im)
{
    char path[1024];
    cae_err e;
    memset(im, 0, sizeof *im);
    snprintf(path, sizeof path, "%s/%s.gz", dir, stem);
    if (!file_exists(path)) snprintf(path, sizeof path, "%s/%s", dir, stem);
    if (!file_exists(path)) {
        printf("note: %s/%s[.gz] not found: using %d random images instead (the speed is the same; "
               "`make data` fetches MNIST)\n", dir, stem, synth_n);
    } else if (cae_idx_load(path, &im->idx, &e)) {
        printf("note: %s; using %d random images instead\n", e.msg, synth_n);
    } else if (im->idx.type != CAE_IDX_U8 || im->idx.ndim != 3 || im->idx.dims[0] < min_n || im->idx.dims[1] != 28 ||
               im->idx.dims[2] != 28) {
        printf("note: %s is not N x 28 x 28 bytes with N >= %d; using %d random images instead\n", path, min_n,
               synth_n);
        cae_idx_free(&im->idx);
    } else {
        im->px = (const unsigned char *)im->idx.data;
        im->n = im->idx.dims[0], im->h = im->w = 28, im->real = 1;
        return;
    }
    {
        cae_rng rng = cae_rng_seed(1);
        size_t i, np = (size_t)synth_n * 28 * 28;
        im->own = (unsigned char *)xmalloc(np);
        for (i = 0; i < np; i++) im->own[i] = (unsigned char)(cae_rng_next(&rng) >> 56);
        im->px = im->own, im->n = synth_n, im->h = im->w = 28;
    }
}

static void free_images(images *im)
{
    cae_idx_free(&im->idx);
    free(im->own);
}

/* images idx[0..n) (or first..first+n when idx is NULL) as floats in [0,1] */
static void to_float(float *dst, const unsigned char *px, const int *idx, int first, int n, int hw)
{
    int i, j;
    for (i = 0; i < n; i++) {
        const unsigned char *s = px + (size_t)(idx ? idx[i] : first + i) * hw;
        for (j = 0; j < hw; j++) dst[(size_t)i * hw + j] = s[j] * (1.0f / 255.0f);
    }
}

/* ================================================================ 3-4. training and inference */

/* The lab's training data: the training file minus its first 10% (validation), shuffled;
   the trainer, and the scratch its net runs inference on. */
typedef struct trainer {
    cae_trainer *t;
    const images *tr;
    int *perm, nfit, nval, pos;
    cae_rng rng;
    float *xb;
    void *scratch; /* threads x cae_net_scratch_bytes: inference and validation on that many threads */
    size_t scratch_bytes;
} trainer;

/* One training step on the next full batch of the shuffled order; seconds, or -1 on error. */
static double train_step(trainer *T)
{
    double t0, loss;
    cae_err e;
    cae_tensor x = cae_tensor_of(T->xb, BATCH, 28, 28, 1);
    if (T->pos + BATCH > T->nfit) cae_rng_shuffle(&T->rng, T->perm, T->nfit), T->pos = 0;
    t0 = now();
    to_float(T->xb, T->tr->px, T->perm + T->pos, 0, BATCH, 28 * 28);
    if (cae_trainer_step(T->t, &x, &x, CAE_LOSS_BCE, &loss, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return -1;
    }
    T->pos += BATCH;
    return now() - t0;
}

/* One pass of cae_net_forward over `n` test images in batches; seconds. */
static double infer_pass(const trainer *T, const images *te, int n, float *yb)
{
    double t0 = now();
    cae_err e;
    int b;
    for (b = 0; b < n; b += BATCH) {
        int k = n - b < BATCH ? n - b : BATCH;
        cae_tensor x = cae_tensor_of(T->xb, k, 28, 28, 1), y = cae_tensor_of(yb, k, 28, 28, 1);
        to_float(T->xb, te->px, NULL, b, k, 28 * 28);
        if (cae_net_forward(cae_trainer_net(T->t), &x, &y, T->scratch, T->scratch_bytes, &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            exit(1);
        }
    }
    return now() - t0;
}

/* One full epoch as the lab runs it: shuffle, every batch (the last one partial), then the
   validation images through cae_net_evaluate. */
static void full_epoch(trainer *T, double *train_s, double *val_s)
{
    double t0 = now(), loss;
    cae_err e;
    int b;
    cae_rng_shuffle(&T->rng, T->perm, T->nfit);
    for (b = 0; b < T->nfit; b += BATCH) {
        int n = T->nfit - b < BATCH ? T->nfit - b : BATCH;
        cae_tensor x = cae_tensor_of(T->xb, n, 28, 28, 1);
        to_float(T->xb, T->tr->px, T->perm + b, 0, n, 28 * 28);
        if (cae_trainer_step(T->t, &x, &x, CAE_LOSS_BCE, &loss, &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            exit(1);
        }
    }
    *train_s = now() - t0;
    t0 = now();
    for (b = 0; b < T->nval; b += BATCH) {
        int n = T->nval - b < BATCH ? T->nval - b : BATCH;
        cae_tensor x = cae_tensor_of(T->xb, n, 28, 28, 1);
        to_float(T->xb, T->tr->px, NULL, b, n, 28 * 28);
        if (cae_net_evaluate(cae_trainer_net(T->t), &x, &x, CAE_LOSS_BCE, &loss, NULL, T->scratch, T->scratch_bytes,
                             &e)) {
            fprintf(stderr, "error: %s\n", e.msg);
            exit(1);
        }
    }
    *val_s = now() - t0;
    T->pos = T->nfit; /* the next train_step reshuffles */
}

/* ================================================================ 6. PyTorch */

typedef struct torch_run {
    const char *label, *env; /* env: assignments put before the command */
    const char *skipped;     /* why it was not run, or NULL */
    int ok;
    double train_ips, epoch1_ips, infer_ips, vmhwm, wall;
    double foreign, infer_foreign; /* cores other processes used while it trained, inferred */
} torch_run;

/* The number after "key": at or after s; returns the text after it, or NULL. A tiny parser
   for the few numbers needed from the script's json.dump output (NaN parses too). */
static const char *json_num(const char *s, const char *key, double *v)
{
    char pat[64];
    const char *p;
    char *end;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    for (p = strstr(s, pat); p; p = strstr(p + 1, pat)) {
        const char *q = p + strlen(pat);
        while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') q++;
        if (*q != ':') continue; /* the key text appearing as a value */
        q++;
        *v = strtod(q, &end);
        if (end == q) *v = NAN; /* null */
        return end;
    }
    return NULL;
}

/* Up to max numbers of the array after "key": (e.g. "infer_pass_s": [1.2, 3.4]); returns the count. */
static int json_array(const char *s, const char *key, double *v, int max)
{
    char pat[64];
    const char *p;
    char *end;
    int n = 0;
    snprintf(pat, sizeof pat, "\"%s\"", key);
    p = strstr(s, pat);
    if (!p || !(p = strchr(p + strlen(pat), '['))) return 0;
    for (p++; n < max; p = end) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
        if (*p == ']') break;
        v[n] = strtod(p, &end);
        if (end == p) break;
        n++;
    }
    return n;
}

static int has_shell_quote(const char *s)
{
    return strpbrk(s, "\"`$\\") != NULL;
}

static void print_tail(const char *path, int lines)
{
    char *s = read_text(path), *p;
    int k = 0;
    if (!s) return;
    for (p = s + strlen(s); p > s; p--)
        if (p[-1] == '\n' && ++k > lines) break;
    fprintf(stderr, "%s", p);
    free(s);
}

/* Runs pytorch_seed_ae.py for 2 epochs of `steps` steps and reads its JSON. Its epoch 1
   includes the warm-up, so epoch 2 is the figure compared. */
static void run_torch(const options *o, int threads, int steps, int infer_reps, torch_run *r)
{
    char cmd[4096], json[256], log[256];
    char *s;
    const char *p;
    double v;
    time_t t0;
    int rc;
    unsigned long tag = (unsigned long)time(NULL) ^ ((unsigned long)clock() << 16);
    snprintf(json, sizeof json, "/tmp/convae_bench_torch_%lx.json", tag);
    snprintf(log, sizeof log, "/tmp/convae_bench_torch_%lx.log", tag);
    snprintf(cmd, sizeof cmd,
             "%s \"%s\" \"%s\" \"%s\" --channels-last --threads %d --epochs 2 --max-steps %d --no-val --no-calib "
             "--infer-reps %d --json \"%s\" > \"%s\" 2>&1",
             r->env, o->python, o->script, o->data, threads, steps, infer_reps, json, log);
    printf("  PyTorch %s%s%s ...", r->label, *r->env ? ": " : "", r->env);
    fflush(stdout);
    t0 = time(NULL); /* wall time even without OpenMP, where now() is CPU time */
    rc = system(cmd);
    r->wall = difftime(time(NULL), t0);
    printf(" %.0f s\n", r->wall);
    s = read_text(json);
    r->ok = 0;
    if (rc != 0 || !s) {
        fprintf(stderr, "warning: PyTorch run (%s) failed (status %d); the end of its output:\n", r->label, rc);
        print_tail(log, 15);
        r->skipped = "failed (see above)";
    } else {
        /* history[*].img_per_s in epoch order: the last is epoch 2 */
        r->train_ips = r->epoch1_ips = NAN;
        for (p = json_num(s, "img_per_s", &v); p; p = json_num(p, "img_per_s", &v)) {
            if (r->train_ips != r->train_ips) r->epoch1_ips = v;
            r->train_ips = v;
        }
        if (!json_num(s, "infer_img_s", &r->infer_ips)) r->infer_ips = NAN;
        if (!json_num(s, "vmhwm_mib", &r->vmhwm)) r->vmhwm = NAN;
        if (!json_num(s, "foreign_cores_train", &r->foreign)) r->foreign = NAN;
        { /* its passes and the foreign CPU seconds in each; the first pass is its warm-up */
            double pass[64], fcpu[64], ps = 0, fs = 0;
            int i, n = json_array(s, "infer_pass_s", pass, 64);
            if (json_array(s, "infer_foreign_cpu_s", fcpu, 64) != n) n = 0;
            for (i = 1; i < n; i++) ps += pass[i], fs += fcpu[i];
            r->infer_foreign = ps > 0 ? fs / ps : NAN;
        }
        r->ok = r->train_ips == r->train_ips;
        if (!r->ok) r->skipped = "its JSON had no history[*].img_per_s";
    }
    free(s);
    remove(json);
    remove(log);
}

/* ================================================================ printing */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench [flags]\n"
               "  --data DIR           MNIST folder (default ../shared/data/mnist); random images if missing\n"
               "  --threads N          OpenMP threads, for convae and PyTorch (2)\n"
               "  --kernels NAME       convae's kernel set: scalar, avx2 or auto (default: the environment\n"
               "                       variable CONVAE_KERNELS, else the best this CPU runs)\n"
               "  --steps N            training steps per round, the first 5 untimed (60; --quick: 15)\n"
               "  --epoch              also time one full epoch (54,000 images) as the lab runs it\n"
               "  --no-torch           skip the PyTorch side-by-side runs\n"
               "  --python PATH        python with torch (default /usr/bin/python3); --torch PATH is the same\n"
               "  --torch-script PATH  pytorch_seed_ae.py (default DATA/../../bench/pytorch_seed_ae.py)\n"
               "  --json FILE          also write the numbers as JSON\n"
               "  --quick              fewer and shorter repetitions (a smoke test, not a measurement)\n"
               "  --help               this text\n");
}

static int parse_num(const char *s, int lo, int hi, int *v)
{
    char *end;
    long x;
    if (!s || !*s) return 0;
    x = strtol(s, &end, 10);
    if (*end || x < lo || x > hi) return 0;
    *v = (int)x;
    return 1;
}

static int parse_args(int argc, char **argv, options *o)
{
    int i, n, steps = 0;
    o->data = "../shared/data/mnist", o->python = "/usr/bin/python3", o->script = NULL, o->json = NULL;
    o->kernels = NULL;
    o->threads = 2, o->steps = 60, o->epoch = 0, o->torch = 1, o->quick = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--epoch")) o->epoch = 1;
        else if (!strcmp(a, "--no-torch")) o->torch = 0;
        else if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!v) {
            fprintf(stderr, "error: %s needs a value, or is unknown; see --help\n", a);
            return 0;
        } else { /* the flags with a value */
            i++;
            if (!strcmp(a, "--data")) o->data = v;
            else if (!strcmp(a, "--python") || !strcmp(a, "--torch")) o->python = v;
            else if (!strcmp(a, "--torch-script")) o->script = v;
            else if (!strcmp(a, "--json")) o->json = v;
            else if (!strcmp(a, "--kernels")) o->kernels = v; /* checked by cae_kernels_pick */
            else if (!strcmp(a, "--threads") && parse_num(v, 1, 64, &n)) o->threads = n;
            else if (!strcmp(a, "--steps") && parse_num(v, 6, 100000, &n)) steps = n;
            else {
                fprintf(stderr, "error: bad flag or value: %s %s; see --help\n", a, v);
                return 0;
            }
        }
    }
    if (o->quick) o->steps = 15;
    if (steps) o->steps = steps;
    return 1;
}

/* "n/a" for NAN, else the number */
static const char *fmt(char *buf, size_t cap, const char *f, double v)
{
    if (v != v) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, f, v);
    return buf;
}

static void warn_contention(const char *what, double cores)
{
    if (cores > CONTENDED)
        printf("WARNING: contention: other processes used %.2f cores during %s; its figures are low\n", cores, what);
}

static void json_num_out(FILE *f, const char *key, double v, int comma)
{
    if (v == v && v - v == 0) fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
    else fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
}

static void json_str_out(FILE *f, const char *key, const char *s, int comma)
{
    fprintf(f, "\"%s\": \"", key);
    for (; *s; s++)
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s >= 0x20) fputc(*s, f);
    fprintf(f, "\"%s", comma ? ", " : "");
}

/* ================================================================ the sections */

/* everything measured, for the tables and for --json */
typedef struct results {
    char date[64], cpu[256], ks_from[96];
    const cae_kernels *ks;                      /* the kernel set timed, trained and run on */
    int ncpu, avx512, threads, reps;
    double peak[2], fc_peak;                    /* GFLOP/s all threads, one thread: the ceiling */
    const fma_loop *fma[NFMA];                  /* [0]: the ceiling's loop; then information only */
    double fma_gf[NFMA][2];                     /* their GFLOP/s, as peak */
    int nfma;
    double conv_sec[5][NDIR], fc_conv, conv_mib; /* seconds per batch */
    double fwd_flops;                           /* per image, the five convolutions */
    int real_data, nrounds, passes, ntest, nsteps, npasses;
    double run_step[MAX_TORCH + 1], run_fc[MAX_TORCH + 1], run_infer[MAX_TORCH + 1], run_infer_fc[MAX_TORCH + 1];
    double step_s, train_ips, infer_ips, epoch_train_s, epoch_val_s;
    double hwm_all, hwm_model, data_mib, model_mib, scratch_mib;
    int with_torch, ntorch, torch_steps;
    torch_run tor[MAX_TORCH];
} results;

static void print_header(results *R)
{
    time_t t = time(NULL);
    strftime(R->date, sizeof R->date, "%Y-%m-%d %H:%M:%S", localtime(&t));
    cpu_info(R->cpu, sizeof R->cpu, &R->ncpu, &R->avx512);
    printf("# convae bench\n\n| | |\n|---|---|\n");
    printf("| date | %s |\n", R->date);
    printf("| convae | %s, kernels %s |\n", CONVAE_VERSION, cae_kernels_name(R->ks));
    printf("| kernel set | %s: %s (%s) |\n", cae_kernels_name(R->ks), cae_kernels_about(R->ks), R->ks_from);
#ifdef _OPENMP
    printf("| threads | %d (OpenMP) |\n", R->threads);
#else
    printf("| threads | 1 (built without OpenMP) |\n");
#endif
#if defined(__clang__)
    printf("| compiler | clang %s |\n", __VERSION__);
#elif defined(__GNUC__)
    printf("| compiler | gcc %s |\n", __VERSION__);
#elif defined(__VERSION__)
    printf("| compiler | %s |\n", __VERSION__);
#endif
    printf("| CPU | %s, %d logical CPUs, %s |\n", R->cpu, R->ncpu, R->avx512 ? "AVX-512" : "no AVX-512");
}

static void section_peak(const options *o, results *R)
{
    double sec = o->quick ? 0.05 : 0.2;
    char b[32];
    const char *ks = cae_kernels_name(R->ks);
    int i, ref = 0;
    cpu_snap c0;
    for (i = 1; i < NFMA; i++) /* the ceiling: the loop of the kernel set's instruction set */
        if (!strcmp(fma_loops[i].name, ks) && fma_loops[i].usable()) ref = i;
    R->nfma = 0;
    R->fma[R->nfma++] = fma_loops + ref;
    for (i = 1; i < NFMA; i++) /* the other SIMD loops this CPU runs, for information */
        if (i != ref && fma_loops[i].usable()) R->fma[R->nfma++] = fma_loops + i;
    c0 = cpu_snapshot();
    for (i = 0; i < R->nfma; i++) fma_peak(R->fma[i], R->threads, R->reps, sec, R->fma_gf[i]);
    R->fc_peak = foreign_cores(c0, cpu_snapshot());
    R->peak[0] = R->fma_gf[0][0], R->peak[1] = R->fma_gf[0][1];
    printf("\n## FMA peak\n%s: %s, the ceiling of every %% below", R->fma[0]->name, R->fma[0]->about);
    if (ref == 0 && strcmp(ks, "scalar"))
        printf(" (this bench has no FMA loop for kernel set %s: the plain C loop stands in)", ks);
    for (i = 1; i < R->nfma; i++)
        printf("; %s: %s, for information only (kernel set %s does not use it)", R->fma[i]->name, R->fma[i]->about, ks);
    printf("; median of %d runs of %.2f s; 2 flops per lane per FMA.\n\n", R->reps, sec);
    printf("| threads | %s GFLOP/s |", R->fma[0]->name);
    for (i = 1; i < R->nfma; i++) printf(" %s GFLOP/s (information) |", R->fma[i]->name);
    printf("\n|---:|---:|");
    for (i = 1; i < R->nfma; i++) printf("---:|");
    printf("\n| %d |", R->threads);
    for (i = 0; i < R->nfma; i++) printf(" %.1f |", R->fma_gf[i][0]);
    printf("\n| 1 |");
    for (i = 0; i < R->nfma; i++) printf(" %.1f |", R->fma_gf[i][1]);
    printf("\n");
    printf("other processes meanwhile: %s cores\n", fmt(b, sizeof b, "%.2f", R->fc_peak));
    warn_contention("the FMA peak", R->fc_peak);
    if (R->peak[0] < 0.75 * R->threads * R->peak[1])
        printf("note: the %d-thread peak is well below %d x the one-thread peak: the cores were shared while "
               "it ran, and every %% of peak below is inflated\n", R->threads, R->threads);
}

static void section_convs(results *R)
{
    double dir_flops[NDIR] = {0}, dir_sec[NDIR] = {0}, g[NDIR], all_f = 0, all_s = 0, p = R->peak[0];
    size_t bytes;
    char b[32];
    int l, d;
    cpu_snap c0 = cpu_snapshot();
    bench_convs(R->ks, R->threads, R->reps, R->conv_sec, &bytes);
    R->fc_conv = foreign_cores(c0, cpu_snapshot());
    R->conv_mib = (double)bytes / 1048576.0;
    printf("\n## Convolutions, one direction at a time\n");
    printf("Batch %d split across %d thread(s); each thread runs its images one at a time through the per-image "
           "kernels the model uses (cache-hot, derived kernels made beforehand, as in a training step). Median of %d. "
           "Kernel set %s. GFLOP/s counts direct-convolution FLOPs; %% is of the %d-thread %s FMA peak.\n\n",
           BATCH, R->threads, R->reps, cae_kernels_name(R->ks), R->threads, R->fma[0]->name);
    printf("| layer | in -> out | MFLOP/img | fwd GFLOP/s | dW GFLOP/s | din GFLOP/s | ms fwd / dW / din |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    R->fwd_flops = 0;
    for (l = 0; l < 5; l++) {
        const conv_shape *s = convs + l;
        double f = conv_flops(s) * BATCH;
        char cell[NDIR][40], io[40];
        R->fwd_flops += conv_flops(s);
        for (d = 0; d < NDIR; d++) {
            double gf = f / R->conv_sec[l][d] / 1e9;
            if (R->conv_sec[l][d] != R->conv_sec[l][d]) {
                snprintf(cell[d], sizeof cell[d], "-");
                continue;
            }
            snprintf(cell[d], sizeof cell[d], "%.1f (%.0f%%)", gf, 100.0 * gf / p);
            dir_flops[d] += f, dir_sec[d] += R->conv_sec[l][d];
        }
        snprintf(io, sizeof io, "%dx%dx%d -> %d", s->h, s->w, s->ci, s->co);
        printf("| %s | %s | %.2f | %s | %s | %s | %.1f / %.1f / %s |\n", s->name, io, conv_flops(s) / 1e6, cell[0],
               cell[1], cell[2], 1e3 * R->conv_sec[l][0], 1e3 * R->conv_sec[l][1],
               fmt(b, sizeof b, "%.1f", 1e3 * R->conv_sec[l][2]));
    }
    for (d = 0; d < NDIR; d++) g[d] = dir_flops[d] / dir_sec[d] / 1e9, all_f += dir_flops[d], all_s += dir_sec[d];
    printf("| **total** | | %.2f | %.1f (%.0f%%) | %.1f (%.0f%%) | %.1f (%.0f%%) | %.1f / %.1f / %.1f |\n",
           R->fwd_flops / 1e6, g[0], 100 * g[0] / p, g[1], 100 * g[1] / p, g[2], 100 * g[2] / p, 1e3 * dir_sec[0],
           1e3 * dir_sec[1], 1e3 * dir_sec[2]);
    printf("all three directions (a training step's convolutions): %.1f GFLOP/s (%.0f%% of peak), %.1f ms per batch\n",
           all_f / all_s / 1e9, 100 * all_f / all_s / 1e9 / p, 1e3 * all_s);
    printf("other processes meanwhile: %s cores\n", fmt(b, sizeof b, "%.2f", R->fc_conv));
    warn_contention("the convolution table", R->fc_conv);
}

/* Which PyTorch runs to make: the default environment, AVX-512 forced where the CPU has it,
   and AVX2 only when convae runs its AVX2 kernels and this program was not built with AVX-512
   enabled, which the compiler could use anywhere (the like-for-like one). */
static void plan_torch(options *o, results *R, char *script, size_t cap)
{
    torch_run *t = R->tor;
    int r;
    memset(t, 0, sizeof R->tor);
    t[0].label = "default", t[0].env = "";
    t[1].label = "avx512", t[1].env = "ATEN_CPU_CAPABILITY=avx512";
    t[2].label = "avx2-only", t[2].env = "ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2";
    if (!R->avx512) t[1].skipped = "skipped: this CPU has no AVX-512";
    if (strcmp(cae_kernels_name(R->ks), "avx2")) t[2].skipped = "skipped: convae does not run its avx2 kernels";
#ifdef __AVX512F__
    t[2].skipped = "skipped: this bench was built with AVX-512 enabled";
#endif
    if (o->script) snprintf(script, cap, "%s", o->script);
    else snprintf(script, cap, "%s/../../bench/pytorch_seed_ae.py", o->data);
    o->script = script;
    R->with_torch = 0, R->ntorch = 0;
    R->torch_steps = o->quick ? 10 : 60; /* 60: about 40 s a run on the idle 2-core box */
    if (!o->torch) {
        printf("PyTorch: not run (--no-torch)\n");
    } else if (!R->real_data) {
        printf("PyTorch: not run (it needs the MNIST files)\n");
    } else if (!file_exists(o->script)) {
        printf("PyTorch: not run (%s not found; --torch-script PATH)\n", o->script);
    } else if (has_shell_quote(o->python) || has_shell_quote(o->script) || has_shell_quote(o->data)) {
        printf("PyTorch: not run (a path holds a quote, $, ` or \\)\n");
    } else {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "\"%s\" -c \"import torch\" > /dev/null 2>&1", o->python);
        R->with_torch = system(cmd) == 0;
        if (!R->with_torch) printf("PyTorch: not run (`%s -c \"import torch\"` failed; --python PATH)\n", o->python);
    }
    if (R->with_torch)
        for (r = 0; r < MAX_TORCH; r++) R->ntorch += !t[r].skipped;
    if (R->with_torch)
        printf("PyTorch: %s %s, %d run%s\n", o->python, o->script, R->ntorch, R->ntorch > 1 ? "s" : "");
}

/* Training steps and inference passes in rounds, with a PyTorch run between rounds, so both
   see the same machine; convae's figures are the medians over all rounds. */
static int section_rounds(const options *o, results *R, trainer *T, const images *te, float *yb)
{
    double *steps = (double *)xmalloc(sizeof(double) * (size_t)o->steps * (R->ntorch + 1)), passes[64];
    char b1[32], b2[32];
    int r, i, k = 0;
    R->nrounds = R->ntorch + 1;
    R->passes = o->quick ? 1 : (5 + R->nrounds - 1) / R->nrounds; /* 5 passes in all, or a little more */
    R->ntest = o->quick && te->n > 10 * BATCH ? 10 * BATCH : te->n;
    R->nsteps = R->npasses = 0;
    printf("\n## Training and inference%s\n", R->ntorch ? ", interleaved with PyTorch" : "");
    printf("Each round: %d training steps of batch %d (the first 5 untimed; a step = converting the batch from bytes "
           "+ cae_trainer_step), then %d pass%s of cae_net_forward over %d test images%s.\n",
           o->steps, BATCH, R->passes, R->passes > 1 ? "es" : "", R->ntest,
           R->ntorch ? "; a PyTorch run after each round but the last" : "");
    infer_pass(T, te, R->ntest, yb); /* warm-up */
    for (r = 0; r < R->nrounds; r++) {
        double *st = steps + R->nsteps;
        cpu_snap c0 = cpu_snapshot();
        for (i = 0; i < o->steps; i++) {
            double t = train_step(T);
            if (t < 0) return 0;
            if (i >= 5) steps[R->nsteps++] = t;
        }
        R->run_step[r] = median(st, o->steps - 5);
        R->run_fc[r] = foreign_cores(c0, cpu_snapshot());
        c0 = cpu_snapshot();
        for (i = 0; i < R->passes; i++) passes[R->npasses++] = infer_pass(T, te, R->ntest, yb);
        R->run_infer[r] = R->ntest / median(passes + R->npasses - R->passes, R->passes);
        R->run_infer_fc[r] = foreign_cores(c0, cpu_snapshot());
        if (r < R->ntorch) {
            while (R->tor[k].skipped) k++;
            run_torch(o, R->threads, R->torch_steps, o->quick ? 1 : 3, &R->tor[k++]);
        }
    }
    R->step_s = median(steps, R->nsteps);
    R->train_ips = BATCH / R->step_s;
    R->infer_ips = R->ntest / median(passes, R->npasses);
    free(steps);

    printf("\n| convae round | median step ms | train img/s | other procs | infer img/s | other procs |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (r = 0; r < R->nrounds; r++)
        printf("| %d | %.1f | %.0f | %s | %.0f | %s |\n", r + 1, 1e3 * R->run_step[r], BATCH / R->run_step[r],
               fmt(b1, sizeof b1, "%.2f", R->run_fc[r]), R->run_infer[r], fmt(b2, sizeof b2, "%.2f", R->run_infer_fc[r]));
    printf("| **all** | %.1f | %.0f | | %.0f | |\n", 1e3 * R->step_s, R->train_ips, R->infer_ips);
    for (r = 0; r < R->nrounds; r++) {
        snprintf(b1, sizeof b1, "training round %d", r + 1);
        warn_contention(b1, R->run_fc[r]);
        snprintf(b1, sizeof b1, "inference round %d", r + 1);
        warn_contention(b1, R->run_infer_fc[r]);
    }
    return 1;
}

static void print_training(const options *o, results *R, trainer *T)
{
    double tf = 3 * R->fwd_flops, p = R->peak[0];
    R->epoch_train_s = R->epoch_val_s = NAN;
    printf("\n| convae | figure |\n|---|---:|\n");
    printf("| training, median step (%d steps timed) | %.1f ms = %.0f img/s |\n", R->nsteps, 1e3 * R->step_s,
           R->train_ips);
    printf("| training, projected epoch of 54,000 images (211 steps) | %.1f s |\n", 54000.0 / R->train_ips);
    printf("| training GFLOP/s (%.2f MFLOP/img = 3 x forward) | %.1f (%.0f%% of peak) |\n", tf / 1e6,
           tf * R->train_ips / 1e9, 100 * tf * R->train_ips / 1e9 / p);
    printf("| inference, median of %d passes over %d images | %.0f img/s |\n", R->npasses, R->ntest, R->infer_ips);
    printf("| inference GFLOP/s (%.2f MFLOP/img) | %.1f (%.0f%% of peak) |\n", R->fwd_flops / 1e6,
           R->fwd_flops * R->infer_ips / 1e9, 100 * R->fwd_flops * R->infer_ips / 1e9 / p);
    if (o->epoch) {
        full_epoch(T, &R->epoch_train_s, &R->epoch_val_s);
        printf("| full epoch, %d images shuffled, as the lab runs it | %.1f s (%.0f img/s); validation of %d: %.1f s |\n",
               T->nfit, R->epoch_train_s, T->nfit / R->epoch_train_s, T->nval, R->epoch_val_s);
    }
}

static void print_memory(results *R)
{
    char b[32];
    if (R->hwm_model == 0) { /* the peak was reset after the table: the whole bench's is the larger */
        R->hwm_model = vmhwm_mib();
        R->hwm_all = R->hwm_model > R->hwm_all ? R->hwm_model : R->hwm_all;
    } else {
        R->hwm_all = vmhwm_mib();
    }
    printf("\n## Peak memory (VmHWM)\n\n| what | MiB |\n|---|---:|\n");
    printf("| whole bench, with the convolution table's buffers (%.0f MiB) | %s |\n", R->conv_mib,
           fmt(b, sizeof b, "%.0f", R->hwm_all));
    printf("| training and inference only (peak reset after the table) | %s |\n", fmt(b, sizeof b, "%.0f", R->hwm_model));
    printf("held: data sets as bytes %.1f MiB, the trainer %.1f MiB (cae_trainer_bytes), inference "
           "scratch %.1f MiB, a batch in and out %.1f MiB, the program and its libraries the rest\n",
           R->data_mib, R->model_mib, R->scratch_mib, 2.0 * BATCH * 28 * 28 * 4 / 1048576.0);
}

static void print_torch(const options *o, const results *R)
{
    const torch_run *t = R->tor;
    double mem = R->hwm_model == R->hwm_model ? R->hwm_model : R->hwm_all;
    char b1[32], b2[32];
    int r;
    if (!R->with_torch) return;
    printf("\n## PyTorch side by side\n");
    printf("`%s %s DATA --channels-last --threads %d --epochs 2 --max-steps %d --no-val --no-calib`: "
           "its epoch 1 includes the warm-up, so epoch 2 is compared.\n\n",
           o->python, o->script, R->threads, R->torch_steps);
    printf("| PyTorch run | environment | train img/s (epoch 1) | other procs | infer img/s | other procs | VmHWM MiB |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (r = 0; r < MAX_TORCH; r++) {
        if (!t[r].ok) {
            printf("| %s | %s | %s | | | | |\n", t[r].label, *t[r].env ? t[r].env : "as is", t[r].skipped);
            continue;
        }
        printf("| %s | %s | %.0f (%.0f) | %s | %.0f | %s | %.0f |\n", t[r].label, *t[r].env ? t[r].env : "as is",
               t[r].train_ips, t[r].epoch1_ips, fmt(b1, sizeof b1, "%.2f", t[r].foreign), t[r].infer_ips,
               fmt(b2, sizeof b2, "%.2f", t[r].infer_foreign), t[r].vmhwm);
    }
    for (r = 0; r < MAX_TORCH; r++) {
        char what[64];
        if (!t[r].ok) continue;
        snprintf(what, sizeof what, "PyTorch %s training", t[r].label);
        warn_contention(what, t[r].foreign);
        snprintf(what, sizeof what, "PyTorch %s inference", t[r].label);
        warn_contention(what, t[r].infer_foreign);
    }
    printf("\n| convae / PyTorch | convae |");
    for (r = 0; r < MAX_TORCH; r++)
        if (t[r].ok) printf(" PyTorch %s | ratio |", t[r].label);
    printf("\n|---|---:|");
    for (r = 0; r < MAX_TORCH; r++)
        if (t[r].ok) printf("---:|---:|");
    printf("\n| training img/s (higher is better) | %.0f |", R->train_ips);
    for (r = 0; r < MAX_TORCH; r++)
        if (t[r].ok) printf(" %.0f | %.2fx |", t[r].train_ips, R->train_ips / t[r].train_ips);
    printf("\n| inference img/s (higher is better) | %.0f |", R->infer_ips);
    for (r = 0; r < MAX_TORCH; r++)
        if (t[r].ok) printf(" %.0f | %.2fx |", t[r].infer_ips, R->infer_ips / t[r].infer_ips);
    printf("\n| peak memory MiB (lower is better) | %s |", fmt(b1, sizeof b1, "%.0f", mem));
    for (r = 0; r < MAX_TORCH; r++)
        if (t[r].ok)
            printf(" %s | %s |", fmt(b1, sizeof b1, "%.0f", t[r].vmhwm), fmt(b2, sizeof b2, "%.2fx", mem / t[r].vmhwm));
    printf("\n");

    /* the same from the uncontended measurements alone, where there are any on both sides */
    {
        double st[MAX_TORCH + 1], inf[MAX_TORCH + 1], ctrain, cinfer;
        int nst = 0, ninf = 0;
        for (r = 0; r < R->nrounds; r++) {
            if (R->run_fc[r] <= CONTENDED) st[nst++] = R->run_step[r];
            if (R->run_infer_fc[r] <= CONTENDED) inf[ninf++] = R->run_infer[r];
        }
        ctrain = BATCH / median(st, nst), cinfer = median(inf, ninf);
        for (r = 0; r < MAX_TORCH; r++) {
            if (!t[r].ok) continue;
            if (nst && t[r].foreign <= CONTENDED)
                printf("uncontended only, training: convae %.0f img/s (%d of %d rounds), PyTorch %s %.0f: %.2fx\n",
                       ctrain, nst, R->nrounds, t[r].label, t[r].train_ips, ctrain / t[r].train_ips);
            if (ninf && t[r].infer_foreign <= CONTENDED)
                printf("uncontended only, inference: convae %.0f img/s (%d of %d rounds), PyTorch %s %.0f: %.2fx\n",
                       cinfer, ninf, R->nrounds, t[r].label, t[r].infer_ips, cinfer / t[r].infer_ips);
        }
    }
}

static int write_json(const char *path, const options *o, const results *R)
{
    FILE *f = fopen(path, "w");
    int l, d, r, n = 0;
    if (!f) {
        fprintf(stderr, "error: %s: cannot write\n", path);
        return 0;
    }
    fprintf(f, "{");
    json_str_out(f, "date", R->date, 1);
    json_str_out(f, "convae_version", CONVAE_VERSION, 1);
    json_str_out(f, "simd", cae_kernels_name(R->ks), 1);
    json_str_out(f, "kernels_about", cae_kernels_about(R->ks), 1);
    json_str_out(f, "kernels_from", R->ks_from, 1);
    json_num_out(f, "threads", R->threads, 1);
#ifdef __VERSION__
    json_str_out(f, "compiler", __VERSION__, 1);
#endif
    json_str_out(f, "cpu", R->cpu, 1);
    json_num_out(f, "quick", o->quick, 1);
    fprintf(f, "\n \"fma_peak_gflops\": {");
    json_str_out(f, "isa", R->fma[0]->name, 1);
    json_num_out(f, "all_threads", R->peak[0], 1);
    json_num_out(f, "one_thread", R->peak[1], 1);
    json_num_out(f, "foreign_cores", R->fc_peak, 1);
    fprintf(f, "\"information\": [");
    for (l = 1; l < R->nfma; l++) {
        fprintf(f, "%s{", l > 1 ? ", " : "");
        json_str_out(f, "isa", R->fma[l]->name, 1);
        json_num_out(f, "all_threads", R->fma_gf[l][0], 1);
        json_num_out(f, "one_thread", R->fma_gf[l][1], 0);
        fprintf(f, "}");
    }
    fprintf(f, "]},\n \"convs\": [");
    for (l = 0; l < 5; l++) {
        fprintf(f, "%s\n  {", l ? "," : "");
        json_str_out(f, "name", convs[l].name, 1);
        json_num_out(f, "h", convs[l].h, 1);
        json_num_out(f, "w", convs[l].w, 1);
        json_num_out(f, "ci", convs[l].ci, 1);
        json_num_out(f, "co", convs[l].co, 1);
        for (d = 0; d < NDIR; d++) {
            char key[32];
            snprintf(key, sizeof key, "%s_s", dir_name[d]);
            json_num_out(f, key, R->conv_sec[l][d], 1);
            snprintf(key, sizeof key, "%s_gflops", dir_name[d]);
            json_num_out(f, key, conv_flops(convs + l) * BATCH / R->conv_sec[l][d] / 1e9, d < NDIR - 1);
        }
        fprintf(f, "}");
    }
    fprintf(f, "],\n ");
    json_num_out(f, "convs_foreign_cores", R->fc_conv, 0);
    fprintf(f, ",\n \"train\": {");
    json_str_out(f, "data", R->real_data ? "mnist" : "random", 1);
    json_num_out(f, "batch", BATCH, 1);
    json_num_out(f, "steps_timed", R->nsteps, 1);
    json_num_out(f, "median_step_s", R->step_s, 1);
    json_num_out(f, "img_s", R->train_ips, 1);
    json_num_out(f, "epoch_s_projected", 54000.0 / R->train_ips, 1);
    json_num_out(f, "gflops", 3 * R->fwd_flops * R->train_ips / 1e9, 1);
    json_num_out(f, "epoch_train_s", R->epoch_train_s, 1);
    json_num_out(f, "epoch_val_s", R->epoch_val_s, 1);
    fprintf(f, "\"rounds\": [");
    for (r = 0; r < R->nrounds; r++) {
        fprintf(f, "%s{", r ? ", " : "");
        json_num_out(f, "median_step_s", R->run_step[r], 1);
        json_num_out(f, "foreign_cores", R->run_fc[r], 1);
        json_num_out(f, "infer_img_s", R->run_infer[r], 1);
        json_num_out(f, "infer_foreign_cores", R->run_infer_fc[r], 0);
        fprintf(f, "}");
    }
    fprintf(f, "]},\n \"infer\": {");
    json_num_out(f, "images", R->ntest, 1);
    json_num_out(f, "passes", R->npasses, 1);
    json_num_out(f, "img_s", R->infer_ips, 1);
    json_num_out(f, "gflops", R->fwd_flops * R->infer_ips / 1e9, 0);
    fprintf(f, "},\n \"memory\": {");
    json_num_out(f, "vmhwm_mib", R->hwm_all, 1);
    json_num_out(f, "vmhwm_model_mib", R->hwm_model, 1);
    json_num_out(f, "data_mib", R->data_mib, 1);
    json_num_out(f, "model_mib", R->model_mib, 1);
    json_num_out(f, "scratch_mib", R->scratch_mib, 0);
    fprintf(f, "},\n \"torch\": [");
    for (r = 0; R->with_torch && r < MAX_TORCH; r++) {
        const torch_run *t = R->tor + r;
        double nan = NAN;
        fprintf(f, "%s\n  {", n++ ? "," : "");
        json_str_out(f, "label", t->label, 1);
        json_str_out(f, "env", t->env, 1);
        json_str_out(f, "skipped", t->skipped ? t->skipped : "", 1);
        json_num_out(f, "train_img_s", t->ok ? t->train_ips : nan, 1);
        json_num_out(f, "epoch1_img_s", t->ok ? t->epoch1_ips : nan, 1);
        json_num_out(f, "infer_img_s", t->ok ? t->infer_ips : nan, 1);
        json_num_out(f, "vmhwm_mib", t->ok ? t->vmhwm : nan, 1);
        json_num_out(f, "foreign_cores", t->ok ? t->foreign : nan, 1);
        json_num_out(f, "infer_foreign_cores", t->ok ? t->infer_foreign : nan, 1);
        json_num_out(f, "ratio_train", t->ok ? R->train_ips / t->train_ips : nan, 1);
        json_num_out(f, "ratio_infer", t->ok ? R->infer_ips / t->infer_ips : nan, 0);
        fprintf(f, "}");
    }
    fprintf(f, "]\n}\n");
    if (fclose(f)) {
        fprintf(stderr, "error: %s: write failed\n", path);
        return 0;
    }
    printf("\nwrote %s\n", path);
    return 1;
}

/* ================================================================ 5. the kernel sets side by side */

/* Every SIMD set this CPU runs, trained and run on the same model from the same start, round
   after round in turn (so drift hits all alike): median img/s of each, and its ratio to the
   first (the slowest SIMD set, avx2 where there is one). Returns 0 on error. */
static int section_sets(const options *o, const results *R, const images *tr, const images *te, float *yb)
{
    enum { MAXS = 8 };
    trainer S[MAXS];
    const cae_kernels *ks[MAXS];
    double st[MAXS][256], inf[MAXS][16], tr_med[MAXS], in_med[MAXS];
    int nst[MAXS], ninf[MAXS], n = 0, i, r, s, steps = o->quick ? 15 : 40, rounds = o->quick ? 2 : 4;
    int ntest = o->quick && te->n > 10 * BATCH ? 10 * BATCH : te->n, nspec;
    const cae_layer_spec *spec = cae_lab_specs(&nspec);
    cae_err e;
    for (i = 1; cae_kernels_get(i) && n < MAXS; i++)
        if (cae_kernels_usable(cae_kernels_get(i))) ks[n++] = cae_kernels_get(i);
    printf("\n## Kernel sets side by side\n");
    if (n < 2) {
        printf("only %s runs here besides the scalar reference: nothing to compare\n", n ? cae_kernels_name(ks[0]) : "scalar");
        return 1;
    }
    printf("%d rounds, each set in turn: %d training steps (the first 5 untimed), then one pass of cae_net_forward over "
           "%d test images; the same initial weights and data order for every set.\n",
           rounds, steps, ntest);
    memset(S, 0, sizeof S);
    for (s = 0; s < n; s++) {
        cae_net net;
        if (cae_net_create(&net, 28, 28, 1, spec, nspec, 42, &e)) break;
        net.ks = ks[s];
        i = cae_trainer_create(&S[s].t, &net, BATCH, &e);
        cae_net_free(&net);
        if (i) break;
        cae_trainer_set_threads(S[s].t, R->threads);
        S[s].scratch_bytes = (size_t)R->threads * cae_net_scratch_bytes(cae_trainer_net(S[s].t));
        S[s].scratch = xmalloc(S[s].scratch_bytes);
        S[s].tr = tr, S[s].nval = tr->n / 10, S[s].nfit = tr->n - S[s].nval, S[s].rng = cae_rng_seed(42);
        S[s].perm = (int *)xmalloc(sizeof(int) * (size_t)S[s].nfit);
        S[s].xb = (float *)xmalloc(sizeof(float) * BATCH * 28 * 28);
        for (i = 0; i < S[s].nfit; i++) S[s].perm[i] = S[s].nval + i;
        S[s].pos = S[s].nfit; /* the first step shuffles */
        nst[s] = ninf[s] = 0;
    }
    if (s < n) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 0;
    }
    for (r = 0; r < rounds; r++)
        for (s = 0; s < n; s++) {
            for (i = 0; i < steps; i++) {
                double t = train_step(&S[s]);
                if (t < 0) return 0;
                if (i >= 5 && nst[s] < 256) st[s][nst[s]++] = t;
            }
            inf[s][ninf[s]++] = ntest / infer_pass(&S[s], te, ntest, yb);
        }
    printf("\n| kernel set | train img/s | ratio | infer img/s | ratio | what it is |\n|---|---:|---:|---:|---:|---|\n");
    for (s = 0; s < n; s++) {
        tr_med[s] = BATCH / median(st[s], nst[s]);
        in_med[s] = median(inf[s], ninf[s]);
        printf("| %s | %.0f | %.2fx | %.0f | %.2fx | %s |\n", cae_kernels_name(ks[s]), tr_med[s], tr_med[s] / tr_med[0],
               in_med[s], in_med[s] / in_med[0], cae_kernels_about(ks[s]));
    }
    for (s = 0; s < n; s++) {
        free(S[s].perm), free(S[s].xb), free(S[s].scratch);
        cae_trainer_free(S[s].t);
    }
    return 1;
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    options o;
    results R;
    images tr, te;
    trainer T;
    cae_net net;
    cae_err e;
    char script[1024];
    const char *env;
    int nspec, i, ok;
    const cae_layer_spec *spec = cae_lab_specs(&nspec);
    const cae_kernels *env_ks;
    float *yb;

    memset(&R, 0, sizeof R);
    if (!parse_args(argc, argv, &o)) return 2;
    if (cae_kernels_pick(o.kernels, &R.ks, &e)) { /* NULL: CONVAE_KERNELS, else the best */
        fprintf(stderr, "error: %s; see --help\n", e.msg);
        return 2;
    }
    if (o.kernels && cae_kernels_pick(NULL, &env_ks, &e)) { /* cae_net_create reads it whatever --kernels says */
        fprintf(stderr, "error: %s (the library reads it even with --kernels)\n", e.msg);
        return 2;
    }
    env = getenv("CONVAE_KERNELS");
    if (o.kernels) snprintf(R.ks_from, sizeof R.ks_from, "--kernels %s", o.kernels);
    else if (env && *env) snprintf(R.ks_from, sizeof R.ks_from, "CONVAE_KERNELS=%s", env);
    else snprintf(R.ks_from, sizeof R.ks_from, "the best this CPU runs");
    R.threads = 1;
#ifdef _OPENMP
    omp_set_num_threads(o.threads);
    R.threads = omp_get_max_threads();
#endif
    R.reps = o.quick ? 2 : 5;
    print_header(&R);

    /* ---- 1-2. the machine's ceiling, then each convolution against it ---- */
    section_peak(&o, &R);
    section_convs(&R);
    /* the table's buffers are freed: from here VmHWM counts what the model and data need */
    R.hwm_all = vmhwm_mib();
    R.hwm_model = reset_vmhwm() ? 0 : NAN;

    /* ---- data and the lab's model, fed as the lab feeds it ---- */
    printf("\n## Data and model\n");
    load_images(o.data, "train-images-idx3-ubyte", 60000, 2 * BATCH, &tr); /* 90% of it must fill a batch */
    load_images(o.data, "t10k-images-idx3-ubyte", 10000, 1, &te);
    R.real_data = tr.real && te.real;
    printf("train %d images (%s), test %d images (%s), kept as bytes and converted a batch at a time\n", tr.n,
           tr.real ? "MNIST" : "random", te.n, te.real ? "MNIST" : "random");
    memset(&T, 0, sizeof T);
    if (cae_net_create(&net, 28, 28, 1, spec, nspec, 42, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 1;
    }
    net.ks = R.ks; /* training and inference run on the set timed above */
    i = cae_trainer_create(&T.t, &net, BATCH, &e);
    cae_net_free(&net); /* the trainer has its own copy */
    if (i) {
        fprintf(stderr, "error: %s\n", e.msg);
        return 1;
    }
    cae_trainer_set_threads(T.t, R.threads);
    R.data_mib = ((double)tr.n + te.n) * 28 * 28 / 1048576.0;
    R.model_mib = (double)cae_trainer_bytes(T.t) / 1048576.0;
    T.scratch_bytes = (size_t)R.threads * cae_net_scratch_bytes(cae_trainer_net(T.t));
    T.scratch = xmalloc(T.scratch_bytes); /* once: inference allocates nothing */
    R.scratch_mib = (double)T.scratch_bytes / 1048576.0;
    printf("lab model: %zu parameters, batch %d, seed 42, %d thread(s), kernels %s; trainer %.1f MiB, "
           "inference scratch %.1f MiB\n",
           cae_trainer_net(T.t)->nparams, BATCH, R.threads, cae_kernels_name(R.ks), R.model_mib, R.scratch_mib);
    T.tr = &tr, T.nval = tr.n / 10, T.nfit = tr.n - T.nval, T.rng = cae_rng_seed(42);
    T.perm = (int *)xmalloc(sizeof(int) * (size_t)T.nfit);
    T.xb = (float *)xmalloc(sizeof(float) * BATCH * 28 * 28);
    yb = (float *)xmalloc(sizeof(float) * BATCH * 28 * 28);
    for (i = 0; i < T.nfit; i++) T.perm[i] = T.nval + i;
    T.pos = T.nfit; /* the first step shuffles */
    plan_torch(&o, &R, script, sizeof script);

    /* ---- 3, 4 and 6: training and inference, PyTorch between the rounds ---- */
    if (!section_rounds(&o, &R, &T, &te, yb)) return 1;
    print_training(&o, &R, &T);
    print_memory(&R);
    print_torch(&o, &R);
    if (!section_sets(&o, &R, &tr, &te, yb)) return 1;
    ok = !o.json || write_json(o.json, &o, &R);

    free(T.perm), free(T.xb), free(yb), free(T.scratch);
    cae_trainer_free(T.t);
    free_images(&tr), free_images(&te);
    return ok ? 0 : 1;
}
