/* convae_cuda.cu - convae.h's layers as CUDA kernels; see convae_cuda.h.

   Each kernel body is a function of its block and thread indices (CAE_HD: __host__ __device__
   under nvcc). The __global__ wrappers call them on the GPU; under CAE_GPU_EMULATE the
   launchers walk the whole grid on the CPU instead, every block and every thread, and run a
   kernel that shares a tile through __shared__ memory phase by phase (every thread's loads, then
   every thread's products), as the barriers order them on the GPU.

   The convolutions are one implicit GEMM, 64x64 outputs per block of 256 threads (4x4 each),
   in steps of 16 along the sum, in three modes:
     forward   C[pixel][co]   = sum over (kh,kw,ci) of in(patch) * wt,           + bias, act
     dgrad     C[pixel][ci]   = sum over (kh,kw,co) of dpre(shifted) * wt
     wgrad     C[kk][co]      = sum over pixels of in(patch)^T * dpre, and a row of ones for
                                the bias; the pixels are split in chunks of CAE_G_CHUNK whose
                                partial sums a second kernel adds in chunk order
   No atomics: the results are the same bits on every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "convae_cuda.h"

#ifdef __cplusplus
#define CAE_G_API extern "C"
#else
#define CAE_G_API
#endif
#ifdef CAE_GPU_EMULATE
#define CAE_HD static inline /* C99 or C++: tests/test_gpu.c includes this file whole */
#else
#include <cuda_runtime.h>
#define CAE_HD static __host__ __device__ inline
#endif

enum { CAE_G_BM = 64, CAE_G_BN = 64, CAE_G_BK = 16, CAE_G_THREADS = 256, CAE_G_CHUNK = 2048 };
enum { CAE_G_FWD = 0, CAE_G_DGRAD = 1, CAE_G_WGRAD = 2 };

typedef struct cae_g_gemm {
    int mode, n, h, w, ci, co, k, act;
    int M, N, K;        /* C is M x N, summed over K */
    const float *a, *b; /* forward: in, wt; dgrad: dpre, wt; wgrad: in, dpre */
    const float *bias;  /* forward only */
    float *c;           /* forward, dgrad: the output; wgrad: the chunks' partial sums */
} cae_g_gemm;

/* as convae.h's: clamped so exp never overflows */
CAE_HD float cae_g_sigmoid(float z)
{
    z = z < -88.0f ? -88.0f : z > 88.0f ? 88.0f : z;
    return z >= 0.0f ? 1.0f / (1.0f + expf(-z)) : expf(z) / (1.0f + expf(z));
}

/* in(patch): the input pixel under kernel tap (kh,kw) of output pixel m, channel c; 0 outside */
CAE_HD float cae_g_patch(const cae_g_gemm *g, const float *in, int m, int kk)
{
    int c = kk % g->ci, t = kk / g->ci, kw = t % g->k, kh = t / g->k, p = (g->k - 1) / 2;
    int x = m % g->w, y = (m / g->w) % g->h, b = m / (g->w * g->h), yy = y + kh - p, xx = x + kw - p;
    if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) return 0.0f;
    return in[(((size_t)b * g->h + yy) * g->w + xx) * g->ci + c];
}

/* A[m][kk] (wgrad: A[kk][pixel]) */
CAE_HD float cae_g_load_a(const cae_g_gemm *g, int m, int kk)
{
    if (m >= g->M || kk >= g->K) return 0.0f;
    if (g->mode == CAE_G_FWD) return cae_g_patch(g, g->a, m, kk);
    if (g->mode == CAE_G_WGRAD) return m == g->M - 1 ? 1.0f : cae_g_patch(g, g->a, kk, m);
    { /* dgrad: the output gradient at the pixel that tap (kh,kw) of pixel m feeds */
        int o = kk % g->co, t = kk / g->co, kw = t % g->k, kh = t / g->k, p = (g->k - 1) / 2;
        int x = m % g->w, y = (m / g->w) % g->h, b = m / (g->w * g->h), yy = y - kh + p, xx = x - kw + p;
        if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) return 0.0f;
        return g->a[(((size_t)b * g->h + yy) * g->w + xx) * g->co + o];
    }
}

/* B[kk][n] */
CAE_HD float cae_g_load_b(const cae_g_gemm *g, int kk, int n)
{
    if (kk >= g->K || n >= g->N) return 0.0f;
    if (g->mode != CAE_G_DGRAD) return g->b[(size_t)kk * g->co + n]; /* forward: wt; wgrad: dpre */
    { /* dgrad: kk = (kh,kw,o), n = ci: wt[kh][kw][n][o] */
        int o = kk % g->co, t = kk / g->co;
        return g->b[((size_t)t * g->ci + n) * g->co + o];
    }
}

/* the sum range of block z: all of K, or wgrad's chunk z */
CAE_HD void cae_g_range(const cae_g_gemm *g, int z, int *k0, int *k1)
{
    *k0 = g->mode == CAE_G_WGRAD ? z * CAE_G_CHUNK : 0;
    *k1 = g->mode == CAE_G_WGRAD && *k0 + CAE_G_CHUNK < g->K ? *k0 + CAE_G_CHUNK : g->K;
}

/* phase 1: thread t loads its 4 values of each tile (as[k][m], bs[k][n]) */
CAE_HD void cae_g_gemm_load(const cae_g_gemm *g, int bx, int by, int kt, int k1, int t, float *as, float *bs)
{
    int i;
    for (i = 0; i < CAE_G_BM * CAE_G_BK / CAE_G_THREADS; i++) {
        int e = t + i * CAE_G_THREADS, ml, kl, kk;
        if (g->mode == CAE_G_WGRAD) ml = e % CAE_G_BM, kl = e / CAE_G_BM; /* rows run along channels */
        else ml = e / CAE_G_BK, kl = e % CAE_G_BK;                       /* the sum runs along channels */
        kk = kt + kl;
        as[kl * CAE_G_BM + ml] = kk < k1 ? cae_g_load_a(g, bx * CAE_G_BM + ml, kk) : 0.0f;
    }
    for (i = 0; i < CAE_G_BN * CAE_G_BK / CAE_G_THREADS; i++) {
        int e = t + i * CAE_G_THREADS, nl = e % CAE_G_BN, kl = e / CAE_G_BN, kk = kt + kl;
        bs[kl * CAE_G_BN + nl] = kk < k1 ? cae_g_load_b(g, kk, by * CAE_G_BN + nl) : 0.0f;
    }
}

/* phase 2: thread t adds the tiles' products into its 4x4 outputs (rows ty+16i, columns tx+16j) */
CAE_HD void cae_g_gemm_mac(int t, const float *as, const float *bs, float *acc)
{
    int ty = t / 16, tx = t % 16, kl, i, j;
    for (kl = 0; kl < CAE_G_BK; kl++) {
        float a[4], b[4];
        for (i = 0; i < 4; i++) a[i] = as[kl * CAE_G_BM + ty + 16 * i];
        for (j = 0; j < 4; j++) b[j] = bs[kl * CAE_G_BN + tx + 16 * j];
        for (i = 0; i < 4; i++)
            for (j = 0; j < 4; j++) acc[4 * i + j] += a[i] * b[j];
    }
}

/* phase 3: thread t writes its outputs */
CAE_HD void cae_g_gemm_store(const cae_g_gemm *g, int bx, int by, int bz, int t, const float *acc)
{
    int ty = t / 16, tx = t % 16, i, j;
    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++) {
            int m = bx * CAE_G_BM + ty + 16 * i, n = by * CAE_G_BN + tx + 16 * j;
            float v = acc[4 * i + j];
            if (m >= g->M || n >= g->N) continue;
            if (g->mode == CAE_G_FWD) {
                v += g->bias ? g->bias[n] : 0.0f;
                if (g->act == CAE_ACT_RELU) v = v > 0.0f ? v : 0.0f;
                if (g->act == CAE_ACT_SIGMOID) v = cae_g_sigmoid(v);
            }
            g->c[((size_t)bz * g->M + m) * g->N + n] = v;
        }
}

/* the wgrad chunks summed in order: out[q] = part[0][q] + part[1][q] + ... */
typedef struct cae_g_sum {
    const float *part;
    float *out;
    int chunks;
    long long q;
} cae_g_sum;

CAE_HD void cae_g_sum_body(const cae_g_sum *s, long long q)
{
    float v = 0.0f;
    int z;
    for (z = 0; z < s->chunks; z++) v += s->part[(size_t)z * s->q + q];
    s->out[q] = v;
}

/* pooling and upsampling: one thread per output (pool forward, upsample forward) or per input
   (their backward passes gather, so no two threads write one value) */
typedef struct cae_g_px {
    int n, h, w, c;
    const float *in;
    float *out;
    int *argmax;
    const int *argmax_in;
} cae_g_px;

CAE_HD void cae_g_pool_fwd(const cae_g_px *a, long long i)
{
    int oh = (a->h + 1) / 2, ow = (a->w + 1) / 2, ch = (int)(i % a->c), ox = (int)(i / a->c % ow);
    int oy = (int)(i / a->c / ow % oh);
    long long b = i / a->c / ow / oh;
    int y1 = 2 * oy + 1 < a->h ? 2 * oy + 1 : 2 * oy, x1 = 2 * ox + 1 < a->w ? 2 * ox + 1 : 2 * ox, q[4], best, j;
    const float *im = a->in + b * a->h * a->w * a->c;
    float v;
    q[0] = ((2 * oy) * a->w + 2 * ox) * a->c + ch, q[1] = ((2 * oy) * a->w + x1) * a->c + ch;
    q[2] = (y1 * a->w + 2 * ox) * a->c + ch, q[3] = (y1 * a->w + x1) * a->c + ch;
    best = q[0], v = im[q[0]];
    for (j = 1; j < 4; j++)
        if (im[q[j]] > v) v = im[q[j]], best = q[j]; /* the first of equal values, as the CPU */
    a->out[i] = v;
    a->argmax[i] = best;
}

CAE_HD void cae_g_pool_bwd(const cae_g_px *a, long long i)
{
    int per = a->h * a->w * a->c, j = (int)(i % per), ch = j % a->c, x = j / a->c % a->w, y = j / a->c / a->w;
    int oh = (a->h + 1) / 2, ow = (a->w + 1) / 2;
    long long o = ((i / per * oh + y / 2) * ow + x / 2) * a->c + ch;
    a->out[i] = a->argmax_in[o] == j ? a->in[o] : 0.0f;
}

CAE_HD void cae_g_up_fwd(const cae_g_px *a, long long i)
{
    int ow = 2 * a->w, ch = (int)(i % a->c), x = (int)(i / a->c % ow), y = (int)(i / a->c / ow % (2 * a->h));
    long long b = i / a->c / ow / (2 * a->h);
    a->out[i] = a->in[((b * a->h + y / 2) * a->w + x / 2) * a->c + ch];
}

CAE_HD void cae_g_up_bwd(const cae_g_px *a, long long i)
{
    int ow = 2 * a->w, ch = (int)(i % a->c), x = (int)(i / a->c % a->w), y = (int)(i / a->c / a->w % a->h);
    long long b = i / a->c / a->w / a->h, r0 = ((b * 2 * a->h + 2 * y) * ow + 2 * x) * a->c + ch, r1 = r0 + ow * a->c;
    a->out[i] = (a->in[r0] + a->in[r0 + a->c]) + (a->in[r1] + a->in[r1 + a->c]);
}

/* elementwise: ReLU's backward pass, BCE from logits, Adam */
typedef struct cae_g_vec {
    const float *x, *y;  /* relu: dy, y; bce: z, t */
    float *out;          /* relu: dx; bce: the gradient */
    float *p, *m, *v;    /* adam, with x the gradient */
    double *part;        /* bce: the loss, summed in three fixed stages */
    const double *part_in;
    float scale, b1, b2, eps, lr_t;
    long long n, stride;
} cae_g_vec;

CAE_HD void cae_g_relu_bwd(const cae_g_vec *a, long long i) { a->out[i] = a->y[i] > 0.0f ? a->x[i] : 0.0f; }

/* thread j of CAE_G_LANES: the gradient of values j, j + CAE_G_LANES, ... and their loss */
enum { CAE_G_LANES = 65536 };
CAE_HD void cae_g_bce(const cae_g_vec *a, long long j)
{
    double s = 0.0;
    long long i;
    for (i = j; i < a->n; i += CAE_G_LANES) {
        float z = a->x[i], t = a->y[i], az = z < 0.0f ? -z : z;
        s += (double)((z > 0.0f ? z : 0.0f) - z * t) + log1p(exp(-(double)az));
        a->out[i] = (cae_g_sigmoid(z) - t) * a->scale;
    }
    a->part[j] = s;
}

/* part[j] = part_in[j*stride] + ... + part_in[j*stride + stride-1] */
CAE_HD void cae_g_add(const cae_g_vec *a, long long j)
{
    double s = 0.0;
    long long i;
    for (i = 0; i < a->stride; i++) s += a->part_in[j * a->stride + i];
    a->part[j] = s;
}

CAE_HD void cae_g_adam(const cae_g_vec *a, long long i)
{
    float g = a->x[i];
    a->m[i] = a->b1 * a->m[i] + (1.0f - a->b1) * g;
    a->v[i] = a->b2 * a->v[i] + (1.0f - a->b2) * g * g;
    a->p[i] -= a->lr_t * a->m[i] / (sqrtf(a->v[i]) + a->eps);
}

/* a batch from the data set: out[i] = pixel i % hw of image idx[i / hw], as the lab's to_float */
typedef struct cae_g_img {
    const unsigned char *px;
    const int *idx;
    float *out;
    long long hw;
} cae_g_img;

CAE_HD void cae_g_gather(const cae_g_img *a, long long i)
{
    a->out[i] = (float)a->px[(long long)a->idx[i / a->hw] * a->hw + i % a->hw] * (1.0f / 255.0f);
}

/* ---------------------------------------------------------------- device memory and launches */
static int cae_g_fail(cae_err *e, int code, const char *what, const char *why)
{
    if (e) {
        e->code = code;
        snprintf(e->msg, sizeof e->msg, "GPU (%s): %s: %s", cae_gpu_backend(), what, why);
    }
    return code;
}

#ifdef CAE_GPU_EMULATE
CAE_G_API const char *cae_gpu_backend(void) { return "host emulation"; }

CAE_G_API int cae_gpu_available(char *name, size_t cap, cae_err *e)
{
    (void)e;
    if (cap) snprintf(name, cap, "the CPU, walking the CUDA grid (no GPU)");
    return CAE_OK;
}

static void *cae_g_alloc(size_t bytes) { return malloc(bytes ? bytes : 1); }
static void cae_g_free(void *p) { free(p); }
static int cae_g_put(void *dev, const void *host, size_t bytes) { memcpy(dev, host, bytes); return 0; }
static int cae_g_get(void *host, const void *dev, size_t bytes) { memcpy(host, dev, bytes); return 0; }
static void cae_g_zero(void *dev, size_t bytes) { memset(dev, 0, bytes); }
static const char *cae_g_status(void) { return NULL; }

#define CAE_G_ELEMENTWISE(body, argt)                                                                                \
    static void body##_launch(const argt *a, long long n)                                                            \
    {                                                                                                                \
        long long blocks = (n + CAE_G_THREADS - 1) / CAE_G_THREADS, b;                                               \
        int t;                                                                                                       \
        for (b = 0; b < blocks; b++)                                                                                 \
            for (t = 0; t < CAE_G_THREADS; t++) {                                                                    \
                long long i = b * CAE_G_THREADS + t;                                                                 \
                if (i < n) body(a, i);                                                                               \
            }                                                                                                        \
    }

static void cae_g_gemm_launch(const cae_g_gemm *g, int gx, int gy, int gz)
{
    float acc[CAE_G_THREADS][16]; /* the threads' registers */
    float as[CAE_G_BK * CAE_G_BM], bs[CAE_G_BK * CAE_G_BN];
    int bx, by, bz, t, kt, k0, k1;
    for (bz = 0; bz < gz; bz++)
        for (by = 0; by < gy; by++)
            for (bx = 0; bx < gx; bx++) {
                memset(acc, 0, sizeof acc);
                cae_g_range(g, bz, &k0, &k1);
                for (kt = k0; kt < k1; kt += CAE_G_BK) {
                    for (t = 0; t < CAE_G_THREADS; t++) cae_g_gemm_load(g, bx, by, kt, k1, t, as, bs);
                    for (t = 0; t < CAE_G_THREADS; t++) cae_g_gemm_mac(t, as, bs, acc[t]);
                }
                for (t = 0; t < CAE_G_THREADS; t++) cae_g_gemm_store(g, bx, by, bz, t, acc[t]);
            }
}
#else
CAE_G_API const char *cae_gpu_backend(void) { return "cuda"; }

static cudaError_t cae_g_last = cudaSuccess;
static void *cae_g_alloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t r = cudaMalloc(&p, bytes ? bytes : 1);
    if (r != cudaSuccess) cae_g_last = r;
    return r == cudaSuccess ? p : NULL;
}
static void cae_g_free(void *p) { if (p) cudaFree(p); }
static int cae_g_put(void *dev, const void *host, size_t bytes)
{
    cudaError_t r = cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice);
    if (r != cudaSuccess) cae_g_last = r;
    return r != cudaSuccess;
}
static int cae_g_get(void *host, const void *dev, size_t bytes)
{
    cudaError_t r = cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost);
    if (r != cudaSuccess) cae_g_last = r;
    return r != cudaSuccess;
}
static void cae_g_zero(void *dev, size_t bytes)
{
    cudaError_t r = cudaMemset(dev, 0, bytes);
    if (r != cudaSuccess) cae_g_last = r;
}
/* the first error since the last call, or NULL */
static const char *cae_g_status(void)
{
    cudaError_t r = cae_g_last != cudaSuccess ? cae_g_last : cudaGetLastError();
    cae_g_last = cudaSuccess;
    return r == cudaSuccess ? NULL : cudaGetErrorString(r);
}

CAE_G_API int cae_gpu_available(char *name, size_t cap, cae_err *e)
{
    int count = 0;
    cudaDeviceProp prop;
    cudaError_t r = cudaGetDeviceCount(&count);
    if (r != cudaSuccess) return cae_g_fail(e, CAE_ERR_IO, "no CUDA GPU (cudaGetDeviceCount)", cudaGetErrorString(r));
    if (count < 1) return cae_g_fail(e, CAE_ERR_IO, "no CUDA GPU", "the driver sees no device");
    r = cudaGetDeviceProperties(&prop, 0);
    if (r != cudaSuccess) return cae_g_fail(e, CAE_ERR_IO, "cudaGetDeviceProperties", cudaGetErrorString(r));
    if (cap) snprintf(name, cap, "%s (compute %d.%d, %.0f GiB)", prop.name, prop.major, prop.minor,
                      (double)prop.totalGlobalMem / 1073741824.0);
    return CAE_OK;
}

#define CAE_G_ELEMENTWISE(body, argt)                                                                                \
    __global__ void body##_kernel(argt a, long long n)                                                               \
    {                                                                                                                \
        long long i = (long long)blockIdx.x * CAE_G_THREADS + threadIdx.x;                                           \
        if (i < n) body(&a, i);                                                                                      \
    }                                                                                                                \
    static void body##_launch(const argt *a, long long n)                                                            \
    {                                                                                                                \
        if (n > 0) body##_kernel<<<(unsigned)((n + CAE_G_THREADS - 1) / CAE_G_THREADS), CAE_G_THREADS>>>(*a, n);     \
    }

__global__ void __launch_bounds__(CAE_G_THREADS) cae_g_gemm_kernel(cae_g_gemm g)
{
    __shared__ float as[CAE_G_BK * CAE_G_BM], bs[CAE_G_BK * CAE_G_BN];
    float acc[16];
    int t = threadIdx.x, kt, k0, k1, i;
    for (i = 0; i < 16; i++) acc[i] = 0.0f;
    cae_g_range(&g, blockIdx.z, &k0, &k1);
    for (kt = k0; kt < k1; kt += CAE_G_BK) {
        cae_g_gemm_load(&g, blockIdx.x, blockIdx.y, kt, k1, t, as, bs);
        __syncthreads();
        cae_g_gemm_mac(t, as, bs, acc);
        __syncthreads();
    }
    cae_g_gemm_store(&g, blockIdx.x, blockIdx.y, blockIdx.z, t, acc);
}

static void cae_g_gemm_launch(const cae_g_gemm *g, int gx, int gy, int gz)
{
    cae_g_gemm_kernel<<<dim3((unsigned)gx, (unsigned)gy, (unsigned)gz), CAE_G_THREADS>>>(*g);
}
#endif

CAE_G_ELEMENTWISE(cae_g_sum_body, cae_g_sum)
CAE_G_ELEMENTWISE(cae_g_pool_fwd, cae_g_px)
CAE_G_ELEMENTWISE(cae_g_pool_bwd, cae_g_px)
CAE_G_ELEMENTWISE(cae_g_up_fwd, cae_g_px)
CAE_G_ELEMENTWISE(cae_g_up_bwd, cae_g_px)
CAE_G_ELEMENTWISE(cae_g_relu_bwd, cae_g_vec)
CAE_G_ELEMENTWISE(cae_g_bce, cae_g_vec)
CAE_G_ELEMENTWISE(cae_g_add, cae_g_vec)
CAE_G_ELEMENTWISE(cae_g_adam, cae_g_vec)
CAE_G_ELEMENTWISE(cae_g_gather, cae_g_img)

static void cae_g_gemm_run(const cae_g_gemm *g, int chunks)
{
    cae_g_gemm_launch(g, (g->M + CAE_G_BM - 1) / CAE_G_BM, (g->N + CAE_G_BN - 1) / CAE_G_BN, chunks);
}

/* BCE from logits: a->out gets the gradient, p (CAE_G_LOSS doubles) the loss summed in three
   fixed stages, the whole sum last */
enum { CAE_G_LOSS = CAE_G_LANES + 256 + 1 };
static void cae_g_bce_run(cae_g_vec *a, double *p)
{
    a->part = p;
    cae_g_bce_launch(a, CAE_G_LANES);
    a->part_in = p, a->part = p + CAE_G_LANES, a->stride = CAE_G_LANES / 256;
    cae_g_add_launch(a, 256);
    a->part_in = p + CAE_G_LANES, a->part = p + CAE_G_LOSS - 1, a->stride = 256;
    cae_g_add_launch(a, 1);
}

/* Adam's step number ad->t + 1 over device arrays; the step size on the host, in double, as
   cae_adam_step computes it */
static void cae_g_adam_run(const cae_adam *ad, float *p, const float *grad, float *m, float *v, size_t n)
{
    cae_g_vec a;
    double t = (double)(ad->t + 1);
    memset(&a, 0, sizeof a);
    a.n = (long long)n, a.b1 = ad->beta1, a.b2 = ad->beta2, a.eps = ad->eps;
    a.lr_t = (float)((double)ad->lr * sqrt(1.0 - pow((double)ad->beta2, t)) / (1.0 - pow((double)ad->beta1, t)));
    a.x = grad, a.p = p, a.m = m, a.v = v;
    cae_g_adam_launch(&a, a.n);
}

/* ---------------------------------------------------------------- the host-array calls */
/* device copies of up to 6 host arrays; in[i] NULL: an output of bytes[i] */
typedef struct cae_g_bufs {
    void *d[6];
    int n;
} cae_g_bufs;

static void cae_g_release(cae_g_bufs *b)
{
    int i;
    for (i = 0; i < b->n; i++) cae_g_free(b->d[i]);
    b->n = 0;
}

static void *cae_g_buf(cae_g_bufs *b, const void *host, size_t bytes)
{
    void *d = cae_g_alloc(bytes);
    if (!d) return NULL;
    b->d[b->n++] = d;
    if (host && cae_g_put(d, host, bytes)) return NULL;
    return d;
}

static int cae_g_done(cae_g_bufs *b, void *host, const void *dev, size_t bytes, cae_err *e, const char *what)
{
    const char *why;
    if (host) cae_g_get(host, dev, bytes);
    why = cae_g_status();
    if (why) {
        cae_g_release(b);
        return cae_g_fail(e, CAE_ERR_IO, what, why);
    }
    return CAE_OK;
}

static int cae_g_shape(int n, int h, int w, int c, cae_err *e, const char *what)
{
    if (n < 1 || h < 1 || w < 1 || c < 1 || h > CONVAE_MAX_DIM || w > CONVAE_MAX_DIM || c > CONVAE_MAX_DIM ||
        (double)n * h * w * c * 4 > 2147483647.0)
        return cae_g_fail(e, CAE_ERR_ARG, what, "bad shape (each size 1..4096, under 2^31 values)");
    return CAE_OK;
}

#define CAE_G_NEED(p)                                                                                                \
    do {                                                                                                             \
        if (!(p)) {                                                                                                  \
            const char *why = cae_g_status();                                                                        \
            cae_g_release(&bufs);                                                                                    \
            return cae_g_fail(e, CAE_ERR_NOMEM, what, why ? why : "out of device memory");                          \
        }                                                                                                            \
    } while (0)

CAE_G_API int cae_gpu_conv2d_forward(float *out, const float *in, const float *wt, const float *bias, int n, int h,
                                      int w, int ci, int co, int k, int act, cae_err *e)
{
    const char *what = "conv2d forward";
    size_t px = (size_t)n * h * w, kk = (size_t)k * k * ci;
    cae_g_bufs bufs = {{0}, 0};
    cae_g_gemm g;
    int rc = cae_g_shape(n, h, w, ci > co ? ci : co, e, what);
    if (rc) return rc;
    if (k < 1 || k % 2 == 0 || k > 15) return cae_g_fail(e, CAE_ERR_ARG, what, "kernel size must be odd, 1..15");
    memset(&g, 0, sizeof g);
    g.mode = CAE_G_FWD, g.n = n, g.h = h, g.w = w, g.ci = ci, g.co = co, g.k = k, g.act = act;
    g.M = (int)px, g.N = co, g.K = (int)kk;
    CAE_G_NEED(g.a = (const float *)cae_g_buf(&bufs, in, px * ci * 4));
    CAE_G_NEED(g.b = (const float *)cae_g_buf(&bufs, wt, kk * co * 4));
    if (bias) CAE_G_NEED(g.bias = (const float *)cae_g_buf(&bufs, bias, (size_t)co * 4));
    CAE_G_NEED(g.c = (float *)cae_g_buf(&bufs, NULL, px * co * 4));
    cae_g_gemm_run(&g, 1);
    rc = cae_g_done(&bufs, out, g.c, px * co * 4, e, what);
    cae_g_release(&bufs);
    return rc;
}

CAE_G_API int cae_gpu_conv2d_backward(float *din, float *dwt, float *dbias, const float *dpre, const float *in,
                                       const float *wt, int n, int h, int w, int ci, int co, int k, cae_err *e)
{
    const char *what = "conv2d backward";
    size_t px = (size_t)n * h * w, kk = (size_t)k * k * ci, rows = kk + 1, q = rows * co;
    int chunks = (int)((px + CAE_G_CHUNK - 1) / CAE_G_CHUNK), rc = cae_g_shape(n, h, w, ci > co ? ci : co, e, what);
    cae_g_bufs bufs = {{0}, 0};
    const float *dp, *x, *wd;
    float *part, *sum;
    cae_g_gemm g;
    cae_g_sum s;
    if (rc) return rc;
    if (k < 1 || k % 2 == 0 || k > 15) return cae_g_fail(e, CAE_ERR_ARG, what, "kernel size must be odd, 1..15");
    CAE_G_NEED(dp = (const float *)cae_g_buf(&bufs, dpre, px * co * 4));
    CAE_G_NEED(x = (const float *)cae_g_buf(&bufs, in, px * ci * 4));
    CAE_G_NEED(wd = (const float *)cae_g_buf(&bufs, wt, kk * co * 4));
    CAE_G_NEED(part = (float *)cae_g_buf(&bufs, NULL, (size_t)chunks * q * 4));
    CAE_G_NEED(sum = (float *)cae_g_buf(&bufs, NULL, q * 4));
    memset(&g, 0, sizeof g);
    g.mode = CAE_G_WGRAD, g.n = n, g.h = h, g.w = w, g.ci = ci, g.co = co, g.k = k;
    g.M = (int)rows, g.N = co, g.K = (int)px, g.a = x, g.b = dp, g.c = part;
    cae_g_gemm_run(&g, chunks);
    s.part = part, s.out = sum, s.chunks = chunks, s.q = (long long)q;
    cae_g_sum_body_launch(&s, (long long)q);
    /* the sums are the kernel's rows, then the bias: the layout of dwt and dbias */
    rc = cae_g_done(&bufs, dwt, sum, kk * co * 4, e, what);
    if (!rc) rc = cae_g_done(&bufs, dbias, sum + kk * co, (size_t)co * 4, e, what);
    if (!rc && din) {
        float *dx;
        CAE_G_NEED(dx = (float *)cae_g_buf(&bufs, NULL, px * ci * 4));
        g.mode = CAE_G_DGRAD, g.M = (int)px, g.N = ci, g.K = k * k * co, g.a = dp, g.b = wd, g.c = dx;
        cae_g_gemm_run(&g, 1);
        rc = cae_g_done(&bufs, din, dx, px * ci * 4, e, what);
    }
    cae_g_release(&bufs);
    return rc;
}

/* pooling and upsampling: one input array, one output, and the argmax; up: the images are
   upsampled, so the larger ones are 2h x 2w */
static int cae_g_px_run(const char *what, int up, void (*launch)(const cae_g_px *, long long), float *out, int *argmax,
                        const int *argmax_in, const float *in, int n, int h, int w, int c, size_t nin, size_t nout,
                        size_t nmax, cae_err *e)
{
    cae_g_bufs bufs = {{0}, 0};
    cae_g_px a;
    int rc = cae_g_shape(n, up ? 2 * h : h, up ? 2 * w : w, c, e, what);
    if (rc) return rc;
    memset(&a, 0, sizeof a);
    a.n = n, a.h = h, a.w = w, a.c = c;
    CAE_G_NEED(a.in = (const float *)cae_g_buf(&bufs, in, nin * 4));
    CAE_G_NEED(a.out = (float *)cae_g_buf(&bufs, NULL, nout * 4));
    if (argmax) CAE_G_NEED(a.argmax = (int *)cae_g_buf(&bufs, NULL, nmax * 4));
    if (argmax_in) CAE_G_NEED(a.argmax_in = (const int *)cae_g_buf(&bufs, argmax_in, nmax * 4));
    launch(&a, (long long)nout);
    rc = cae_g_done(&bufs, out, a.out, nout * 4, e, what);
    if (!rc && argmax) rc = cae_g_done(&bufs, argmax, a.argmax, nmax * 4, e, what);
    cae_g_release(&bufs);
    return rc;
}

CAE_G_API int cae_gpu_maxpool2d_forward(float *out, int *argmax, const float *in, int n, int h, int w, int c,
                                         cae_err *e)
{
    size_t no = (size_t)n * ((h + 1) / 2) * ((w + 1) / 2) * c;
    if (!argmax) return cae_g_fail(e, CAE_ERR_ARG, "maxpool2d forward", "argmax is needed");
    return cae_g_px_run("maxpool2d forward", 0, cae_g_pool_fwd_launch, out, argmax, NULL, in, n, h, w, c,
                        (size_t)n * h * w * c, no, no, e);
}

CAE_G_API int cae_gpu_maxpool2d_backward(float *din, const float *dout, const int *argmax, int n, int h, int w, int c,
                                          cae_err *e)
{
    size_t no = (size_t)n * ((h + 1) / 2) * ((w + 1) / 2) * c;
    return cae_g_px_run("maxpool2d backward", 0, cae_g_pool_bwd_launch, din, NULL, argmax, dout, n, h, w, c, no,
                        (size_t)n * h * w * c, no, e);
}

CAE_G_API int cae_gpu_upsample2d_forward(float *out, const float *in, int n, int h, int w, int c, cae_err *e)
{
    return cae_g_px_run("upsample2d forward", 1, cae_g_up_fwd_launch, out, NULL, NULL, in, n, h, w, c,
                        (size_t)n * h * w * c, (size_t)n * 4 * h * w * c, 0, e);
}

CAE_G_API int cae_gpu_upsample2d_backward(float *din, const float *dout, int n, int h, int w, int c, cae_err *e)
{
    return cae_g_px_run("upsample2d backward", 1, cae_g_up_bwd_launch, din, NULL, NULL, dout, n, h, w, c,
                        (size_t)n * 4 * h * w * c, (size_t)n * h * w * c, 0, e);
}

static int cae_g_count(size_t n, cae_err *e, const char *what)
{
    if (n < 1 || n > (size_t)1 << 30) return cae_g_fail(e, CAE_ERR_ARG, what, "count must be 1..2^30");
    return CAE_OK;
}

CAE_G_API int cae_gpu_relu_backward(float *dx, const float *dy, const float *y, size_t n, cae_err *e)
{
    const char *what = "relu backward";
    cae_g_bufs bufs = {{0}, 0};
    cae_g_vec a;
    int rc = cae_g_count(n, e, what);
    if (rc) return rc;
    memset(&a, 0, sizeof a);
    a.n = (long long)n;
    CAE_G_NEED(a.x = (const float *)cae_g_buf(&bufs, dy, n * 4));
    CAE_G_NEED(a.y = (const float *)cae_g_buf(&bufs, y, n * 4));
    CAE_G_NEED(a.out = (float *)cae_g_buf(&bufs, NULL, n * 4));
    cae_g_relu_bwd_launch(&a, a.n);
    rc = cae_g_done(&bufs, dx, a.out, n * 4, e, what);
    cae_g_release(&bufs);
    return rc;
}

CAE_G_API int cae_gpu_bce_logits(const float *z, const float *t, size_t n, float *grad, float scale, double *sum,
                                 cae_err *e)
{
    const char *what = "bce from logits";
    cae_g_bufs bufs = {{0}, 0};
    cae_g_vec a;
    double *p;
    int rc = cae_g_count(n, e, what);
    if (rc) return rc;
    memset(&a, 0, sizeof a);
    a.n = (long long)n, a.scale = scale;
    CAE_G_NEED(a.x = (const float *)cae_g_buf(&bufs, z, n * 4));
    CAE_G_NEED(a.y = (const float *)cae_g_buf(&bufs, t, n * 4));
    CAE_G_NEED(a.out = (float *)cae_g_buf(&bufs, NULL, n * 4));
    CAE_G_NEED(p = (double *)cae_g_buf(&bufs, NULL, CAE_G_LOSS * 8));
    cae_g_bce_run(&a, p);
    rc = cae_g_done(&bufs, grad, a.out, n * 4, e, what);
    if (!rc) rc = cae_g_done(&bufs, sum, p + CAE_G_LOSS - 1, 8, e, what);
    cae_g_release(&bufs);
    return rc;
}

CAE_G_API int cae_gpu_adam_step(cae_adam *ad, float *param, const float *grad, float *m, float *v, size_t n, cae_err *e)
{
    const char *what = "adam step";
    cae_g_bufs bufs = {{0}, 0};
    float *dp, *dm, *dv;
    const float *dg;
    int rc = cae_g_count(n, e, what);
    if (rc) return rc;
    CAE_G_NEED(dg = (const float *)cae_g_buf(&bufs, grad, n * 4));
    CAE_G_NEED(dp = (float *)cae_g_buf(&bufs, param, n * 4));
    CAE_G_NEED(dm = (float *)cae_g_buf(&bufs, m, n * 4));
    CAE_G_NEED(dv = (float *)cae_g_buf(&bufs, v, n * 4));
    cae_g_adam_run(ad, dp, dg, dm, dv, n);
    rc = cae_g_done(&bufs, param, dp, n * 4, e, what);
    if (!rc) rc = cae_g_done(&bufs, m, dm, n * 4, e, what);
    if (!rc) rc = cae_g_done(&bufs, v, dv, n * 4, e, what);
    if (!rc) ad->t++;
    cae_g_release(&bufs);
    return rc;
}

/* ---------------------------------------------------------------- the trainer on the device */
enum { CAE_G_MEM = 4 * CAE_MAX_LAYERS + 16 };
struct cae_gpu_trainer {
    cae_net net; /* the layers; param is NULL: the parameters are on the device */
    cae_adam adam;
    int max_batch, ndata;
    size_t in_n, out_n;          /* floats of one image in and out */
    float *param, *grad, *m, *v; /* nparams each */
    unsigned char *px;           /* the data set */
    int *idx;                    /* the batch's image indices */
    float *x, *t;                /* the batch's inputs (when the caller gives them) and targets */
    const float *in;             /* the batch's inputs: x or t */
    float *out[CAE_MAX_LAYERS];  /* each layer's output; the last convolution's is its logits */
    int *arg[CAE_MAX_LAYERS];    /* the max-pools' argmax */
    float *g0, *g1, *part;       /* the gradients going back through the layers; wgrad's chunks */
    double *loss;                /* CAE_G_LOSS */
    void *mem[CAE_G_MEM];        /* every device allocation above but px */
    int nmem;
};

static void *cae_g_talloc(cae_gpu_trainer *g, size_t bytes)
{
    void *p = g->nmem < CAE_G_MEM ? cae_g_alloc(bytes) : NULL;
    if (p) g->mem[g->nmem++] = p;
    return p;
}

CAE_G_API void cae_gpu_trainer_free(cae_gpu_trainer *g)
{
    int i;
    if (!g) return;
    for (i = 0; i < g->nmem; i++) cae_g_free(g->mem[i]);
    cae_g_free(g->px);
    free(g);
}

static int cae_g_tfail(cae_gpu_trainer *g, cae_err *e, const char *what)
{
    const char *why = cae_g_status();
    cae_gpu_trainer_free(g);
    return cae_g_fail(e, CAE_ERR_NOMEM, what, why ? why : "out of device memory");
}

CAE_G_API int cae_gpu_trainer_create(cae_gpu_trainer **out, const cae_net *net, const cae_adam *adam, int max_batch,
                                     cae_err *e)
{
    const char *what = "trainer";
    cae_gpu_trainer *g;
    const cae_layer *last;
    size_t np, maxact, part = 1, per;
    int l, rc;
    if (out) *out = NULL;
    if (!out || !net || !net->param || !adam || net->nlayers < 1)
        return cae_g_fail(e, CAE_ERR_ARG, what, "NULL trainer, net, parameters or Adam");
    if (max_batch < 1 || max_batch > 65536) return cae_g_fail(e, CAE_ERR_ARG, what, "max_batch must be 1..65536");
    last = net->layer + net->nlayers - 1;
    if (last->kind != CAE_CONV2D || last->act != CAE_ACT_SIGMOID || last->oh != net->h || last->ow != net->w ||
        last->oc != net->c)
        return cae_g_fail(e, CAE_ERR_ARG, what, "the last layer must be a convolution with a sigmoid whose output has the "
                                                "input's shape (an autoencoder trained on BCE)");
    per = (size_t)net->h * net->w * net->c, maxact = per;
    rc = cae_g_shape(max_batch, net->h, net->w, net->c, e, what);
    for (l = 0; !rc && l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        size_t on = (size_t)L->oh * L->ow * L->oc;
        if (!(L->kind == CAE_CONV2D && (L->act != CAE_ACT_SIGMOID || l == net->nlayers - 1)) &&
            L->kind != CAE_MAXPOOL2D && L->kind != CAE_UPSAMPLE2D)
            return cae_g_fail(e, CAE_ERR_ARG, L->name, "the GPU trainer takes convolutions (a sigmoid on the last only), "
                                                       "2x2 max-pools and 2x2 upsamplings");
        rc = cae_g_shape(max_batch, L->oh, L->ow, L->oc, e, L->name);
        maxact = on > maxact ? on : maxact;
        if (L->kind == CAE_CONV2D) {
            size_t chunks = ((size_t)max_batch * L->h * L->w + CAE_G_CHUNK - 1) / CAE_G_CHUNK;
            size_t q = chunks * ((size_t)L->k * L->k * L->c + 1) * L->oc;
            part = q > part ? q : part;
        }
    }
    if (rc) return rc;
    g = (cae_gpu_trainer *)calloc(1, sizeof *g);
    if (!g) return cae_g_fail(e, CAE_ERR_NOMEM, what, "out of host memory");
    g->net = *net, g->net.param = NULL, g->net.wino = NULL, g->net.nwino = 0, g->net.own = NULL;
    g->adam = *adam, g->max_batch = max_batch, g->in_n = per, g->out_n = per;
    np = net->nparams;
    if (!(g->param = (float *)cae_g_talloc(g, np * 4)) || !(g->grad = (float *)cae_g_talloc(g, np * 4)) ||
        !(g->m = (float *)cae_g_talloc(g, np * 4)) || !(g->v = (float *)cae_g_talloc(g, np * 4)) ||
        !(g->idx = (int *)cae_g_talloc(g, (size_t)max_batch * 4)) ||
        !(g->x = (float *)cae_g_talloc(g, (size_t)max_batch * per * 4)) ||
        !(g->t = (float *)cae_g_talloc(g, (size_t)max_batch * per * 4)) ||
        !(g->g0 = (float *)cae_g_talloc(g, (size_t)max_batch * maxact * 4)) ||
        !(g->g1 = (float *)cae_g_talloc(g, (size_t)max_batch * maxact * 4)) ||
        !(g->part = (float *)cae_g_talloc(g, part * 4)) || !(g->loss = (double *)cae_g_talloc(g, CAE_G_LOSS * 8)))
        return cae_g_tfail(g, e, what);
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        size_t on = (size_t)max_batch * L->oh * L->ow * L->oc;
        if (!(g->out[l] = (float *)cae_g_talloc(g, on * 4))) return cae_g_tfail(g, e, what);
        if (L->kind == CAE_MAXPOOL2D && !(g->arg[l] = (int *)cae_g_talloc(g, on * 4))) return cae_g_tfail(g, e, what);
    }
    cae_g_put(g->param, net->param, np * 4);
    cae_g_zero(g->grad, np * 4), cae_g_zero(g->m, np * 4), cae_g_zero(g->v, np * 4);
    if (cae_g_status()) return cae_g_tfail(g, e, what);
    *out = g;
    return CAE_OK;
}

CAE_G_API int cae_gpu_trainer_data(cae_gpu_trainer *g, const unsigned char *px, int n, cae_err *e)
{
    const char *what = "trainer data";
    size_t bytes;
    const char *why;
    if (!g || !px || n < 1) return cae_g_fail(e, CAE_ERR_ARG, what, "NULL trainer or images, or no images");
    bytes = (size_t)n * g->in_n;
    cae_g_free(g->px);
    g->ndata = 0;
    if (!(g->px = (unsigned char *)cae_g_alloc(bytes))) {
        why = cae_g_status();
        return cae_g_fail(e, CAE_ERR_NOMEM, what, why ? why : "out of device memory");
    }
    cae_g_put(g->px, px, bytes);
    if ((why = cae_g_status()) != NULL) return cae_g_fail(e, CAE_ERR_IO, what, why);
    g->ndata = n;
    return CAE_OK;
}

/* the batch's targets gathered on the device, and its inputs */
static int cae_g_batch(cae_gpu_trainer *g, const int *idx, int n, const float *x, cae_err *e, const char *what)
{
    cae_g_img a;
    int i;
    if (!g || !idx) return cae_g_fail(e, CAE_ERR_ARG, what, "NULL trainer or indices");
    if (n < 1 || n > g->max_batch) return cae_g_fail(e, CAE_ERR_ARG, what, "batch size outside 1..max_batch");
    for (i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= g->ndata) return cae_g_fail(e, CAE_ERR_ARG, what, "an image index outside the data set");
    cae_g_put(g->idx, idx, (size_t)n * 4);
    a.px = g->px, a.idx = g->idx, a.out = g->t, a.hw = (long long)g->in_n;
    cae_g_gather_launch(&a, (long long)n * a.hw);
    g->in = g->t;
    if (x) cae_g_put(g->x, x, (size_t)n * g->in_n * 4), g->in = g->x;
    return CAE_OK;
}

static void cae_g_forward(cae_gpu_trainer *g, int n)
{
    const float *in = g->in;
    int l;
    for (l = 0; l < g->net.nlayers; l++) {
        const cae_layer *L = g->net.layer + l;
        if (L->kind == CAE_CONV2D) {
            cae_g_gemm c;
            memset(&c, 0, sizeof c);
            c.mode = CAE_G_FWD, c.n = n, c.h = L->h, c.w = L->w, c.ci = L->c, c.co = L->oc, c.k = L->k;
            c.act = L->act == CAE_ACT_SIGMOID ? CAE_ACT_NONE : L->act; /* the loss takes the logits */
            c.M = n * L->h * L->w, c.N = L->oc, c.K = L->k * L->k * L->c;
            c.a = in, c.b = g->param + L->poff, c.bias = c.b + (L->nparams - (size_t)L->oc), c.c = g->out[l];
            cae_g_gemm_run(&c, 1);
        } else {
            cae_g_px a;
            memset(&a, 0, sizeof a);
            a.n = n, a.h = L->h, a.w = L->w, a.c = L->c, a.in = in, a.out = g->out[l], a.argmax = g->arg[l];
            if (L->kind == CAE_MAXPOOL2D) cae_g_pool_fwd_launch(&a, (long long)n * L->oh * L->ow * L->oc);
            else cae_g_up_fwd_launch(&a, (long long)n * L->oh * L->ow * L->oc);
        }
        in = g->out[l];
    }
}

/* the loss into g->loss, its gradient w.r.t. the logits (times 1/(n*out_n)) into g0 */
static void cae_g_loss(cae_gpu_trainer *g, int n)
{
    cae_g_vec a;
    memset(&a, 0, sizeof a);
    a.x = g->out[g->net.nlayers - 1], a.y = g->t, a.out = g->g0, a.n = (long long)n * (long long)g->out_n;
    a.scale = (float)(1.0 / ((double)n * (double)g->out_n));
    cae_g_bce_run(&a, g->loss);
}

static void cae_g_backward(cae_gpu_trainer *g, int n)
{
    float *dy = g->g0, *dx = g->g1, *tmp;
    int l;
    for (l = g->net.nlayers - 1; l >= 0; l--) {
        const cae_layer *L = g->net.layer + l;
        const float *in = l ? g->out[l - 1] : g->in;
        if (L->kind == CAE_CONV2D) {
            size_t kk = (size_t)L->k * L->k * L->c;
            int px = n * L->h * L->w, chunks = (px + CAE_G_CHUNK - 1) / CAE_G_CHUNK;
            cae_g_gemm c;
            cae_g_sum s;
            if (L->act == CAE_ACT_RELU) {
                cae_g_vec r;
                memset(&r, 0, sizeof r);
                r.x = dy, r.y = g->out[l], r.out = dy;
                cae_g_relu_bwd_launch(&r, (long long)px * L->oc);
            }
            memset(&c, 0, sizeof c);
            c.mode = CAE_G_WGRAD, c.n = n, c.h = L->h, c.w = L->w, c.ci = L->c, c.co = L->oc, c.k = L->k;
            c.M = (int)kk + 1, c.N = L->oc, c.K = px, c.a = in, c.b = dy, c.c = g->part;
            cae_g_gemm_run(&c, chunks);
            /* the kernel's rows, then the bias: the layout of the layer's parameters */
            s.part = g->part, s.out = g->grad + L->poff, s.chunks = chunks, s.q = (long long)(kk + 1) * L->oc;
            cae_g_sum_body_launch(&s, s.q);
            if (l) {
                c.mode = CAE_G_DGRAD, c.M = px, c.N = L->c, c.K = L->k * L->k * L->oc;
                c.a = dy, c.b = g->param + L->poff, c.c = dx;
                cae_g_gemm_run(&c, 1);
            }
        } else if (l) {
            cae_g_px a;
            memset(&a, 0, sizeof a);
            a.n = n, a.h = L->h, a.w = L->w, a.c = L->c, a.in = dy, a.out = dx, a.argmax_in = g->arg[l];
            if (L->kind == CAE_MAXPOOL2D) cae_g_pool_bwd_launch(&a, (long long)n * L->h * L->w * L->c);
            else cae_g_up_bwd_launch(&a, (long long)n * L->h * L->w * L->c);
        }
        tmp = dy, dy = dx, dx = tmp;
    }
}

/* the loss down from the device; every error of the calls before it */
static int cae_g_finish(cae_gpu_trainer *g, int n, double *loss, cae_err *e, const char *what)
{
    double sum = 0.0;
    const char *why;
    cae_g_get(&sum, g->loss + CAE_G_LOSS - 1, 8);
    if ((why = cae_g_status()) != NULL) return cae_g_fail(e, CAE_ERR_IO, what, why);
    if (loss) *loss = sum / ((double)n * (double)g->out_n);
    return CAE_OK;
}

CAE_G_API int cae_gpu_trainer_step(cae_gpu_trainer *g, const int *idx, int n, const float *x, double *loss, cae_err *e)
{
    const char *what = "train step";
    int rc = cae_g_batch(g, idx, n, x, e, what);
    if (rc) return rc;
    cae_g_forward(g, n);
    cae_g_loss(g, n);
    cae_g_backward(g, n);
    cae_g_adam_run(&g->adam, g->param, g->grad, g->m, g->v, g->net.nparams);
    rc = cae_g_finish(g, n, loss, e, what);
    if (!rc) g->adam.t++;
    return rc;
}

CAE_G_API int cae_gpu_trainer_evaluate(cae_gpu_trainer *g, const int *idx, int n, const float *x, double *loss,
                                       cae_err *e)
{
    const char *what = "evaluate";
    int rc = cae_g_batch(g, idx, n, x, e, what);
    if (rc) return rc;
    cae_g_forward(g, n);
    cae_g_loss(g, n);
    return cae_g_finish(g, n, loss, e, what);
}

CAE_G_API int cae_gpu_trainer_grad(cae_gpu_trainer *g, float *grad, cae_err *e)
{
    const char *why;
    if (!g || !grad) return cae_g_fail(e, CAE_ERR_ARG, "trainer grad", "NULL trainer or array");
    cae_g_get(grad, g->grad, g->net.nparams * 4);
    if ((why = cae_g_status()) != NULL) return cae_g_fail(e, CAE_ERR_IO, "trainer grad", why);
    return CAE_OK;
}

CAE_G_API int cae_gpu_trainer_get_state(cae_gpu_trainer *g, float *param, float *m, float *v, cae_adam *adam,
                                        cae_err *e)
{
    size_t b;
    const char *why;
    if (!g || !param) return cae_g_fail(e, CAE_ERR_ARG, "trainer state", "NULL trainer or parameters");
    b = g->net.nparams * 4;
    cae_g_get(param, g->param, b);
    if (m) cae_g_get(m, g->m, b);
    if (v) cae_g_get(v, g->v, b);
    if ((why = cae_g_status()) != NULL) return cae_g_fail(e, CAE_ERR_IO, "trainer state", why);
    if (adam) *adam = g->adam;
    return CAE_OK;
}

CAE_G_API int cae_gpu_trainer_set_state(cae_gpu_trainer *g, const float *param, const float *m, const float *v,
                                        const cae_adam *adam, cae_err *e)
{
    size_t b;
    const char *why;
    if (!g || !param || !adam) return cae_g_fail(e, CAE_ERR_ARG, "trainer state", "NULL trainer, parameters or Adam");
    b = g->net.nparams * 4;
    cae_g_put(g->param, param, b);
    if (m) cae_g_put(g->m, m, b);
    if (v) cae_g_put(g->v, v, b);
    if ((why = cae_g_status()) != NULL) return cae_g_fail(e, CAE_ERR_IO, "trainer state", why);
    g->adam = *adam;
    return CAE_OK;
}
