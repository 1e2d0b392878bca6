/* convae.h - convolutional autoencoders in one C header, no dependencies.

   Quick start
     In exactly one C or C++ file:
         #define CONVAE_IMPLEMENTATION
         #include "convae.h"
     and compile:  cc -O2 -fopenmp prog.c -lm   (OpenMP optional; no -march needed: the
     SIMD kernels are compiled with target attributes and chosen at run time).

         cae_net net;                    -- architecture + parameters, inference only
         cae_trainer *tr;                -- gradients, Adam, slices, threads, on top of a net
         const cae_layer_spec *lab = cae_lab_specs(&n);
         cae_net_create(&net, 28, 28, 1, lab, n, 42, &e);
         cae_trainer_create(&tr, &net, 256, &e);
         cae_trainer_step(tr, &batch, &batch, CAE_LOSS_BCE, &loss, &e);   -- x = target
         cae_net_forward(cae_trainer_net(tr), &x, &y, scratch, bytes, &e);  -- no allocation

   Build options (define before the include that has CONVAE_IMPLEMENTATION)
     CONVAE_STATIC        all functions static (private to that file)
     CONVAE_NO_SIMD       scalar kernels only
     CONVAE_NO_STDIO      no file functions (no fopen, no getenv): for embedded targets; nets
                          load from memory (cae_net_load_mem)
     CONVAE_NO_GZIP       no inflater: IDX files must be uncompressed (saves ~12 KB of code)
     CONVAE_NO_TRAIN      inference only: no trainer, no backward passes, no Adam
     CONVAE_MALLOC/CONVAE_REALLOC/CONVAE_FREE  your allocator (all three or none)
     CONVAE_ASSERT        internal invariant check (default: assert)
     CONVAE_MAX_BYTES     largest decoded IDX/gzip payload, file or model (default 1 GiB)

   API at a glance (see the declarations below; shapes are NHWC, kernels HWIO as in Keras)
     errors      every call returns CAE_OK (0) or a negative CAE_ERR_*, and fills a cae_err
                 whose message names the file, the offset, what was expected and what was found
     cae_rng     splitmix64 generator: the same numbers on every platform
     IDX, gzip   cae_idx_load / cae_idx_parse (raw or .gz, all six IDX types), cae_gunzip,
                 cae_inflate, cae_crc32, cae_read_file
     NumPy       cae_npy_parse / _write_mem / _bytes / _save, cae_npz_get / cae_npz_save: .npy and
                 .npz arrays in the same cae_idx
     tensors     cae_tensor: an NHWC shape over float data the caller owns
     kernels     one set per instruction set (scalar, avx2, avx512, neon), chosen at run time
                 from the CPU or by name (cae_kernels_pick, or the variable CONVAE_KERNELS)
     layers      cae_conv2d_*, cae_maxpool2d_*, cae_upsample2d_*, cae_relu_*: forward/backward
                 through a kernel set, each with a _ref scalar twin; cae_bias_backward;
                 cae_sigmoid_*
     losses      cae_bce_logits, cae_bce, cae_mse (value and gradient); cae_bce_logits_sum
     training    cae_adam_step (Keras's Adam), cae_glorot_uniform
     net         cae_lab_specs, cae_arch_parse ("c32,p,c64,p|c64,u,c32,u,c1"),
                 cae_net_create / _init / _load / _load_mem / _free, _forward,
                 _encode, _evaluate, _scratch_bytes, _find, _summary, _save, _write_mem
     trainer     cae_trainer_create, _step, _net, _adam, _grad, _set_params, _set_threads, _bytes,
                 _free; checkpoints that resume bit for bit: _save, _load, _write_state,
                 _read_state, _state_bytes
     int8        cae_qnet_init, _forward, _encode, _scratch_bytes: integer inference from the const
                 arrays tools/export_c writes, for microcontrollers
     images      cae_grid, cae_write_pnm (PGM/PPM), cae_write_file (temporary file, fsync, rename)
   The lab's PNG writer, SVG figures, PCA, t-SNE and kNN live in examples/convae_report.h.

   Speed: the convolutions use register-blocked AVX2/FMA, AVX-512 or NEON kernels, whichever the
   CPU has, and Winograd F(2x2,3x3) where the channel counts allow it (c_in % 8, c_out % 16),
   whatever the compiler flags; with -fopenmp a batch is split over the cores in fixed slices, so results do
   not depend on the number of threads. A trainer allocates once, when it is built; a net runs
   on scratch the caller gives it.

   License: MIT (see the end of the file). */

#ifndef CONVAE_H
#define CONVAE_H

#include <stddef.h>

#define CONVAE_VERSION "0.4.1"

#ifdef CONVAE_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define CONVAE_DEF static __attribute__((unused)) /* no warning for the functions a file skips */
#else
#define CONVAE_DEF static
#endif
#else
#ifdef __cplusplus
#define CONVAE_DEF extern "C"
#else
#define CONVAE_DEF extern
#endif
#endif

/* ---------------------------------------------------------------- errors */
enum {
    CAE_OK = 0,
    CAE_ERR_IO = -1,     /* file could not be opened, read or written */
    CAE_ERR_FORMAT = -2, /* the bytes are not what the format says */
    CAE_ERR_NOMEM = -3,  /* allocation failed or size too large */
    CAE_ERR_SHAPE = -4,  /* shapes do not fit together */
    CAE_ERR_ARG = -5     /* a bad argument */
};

typedef struct cae_err {
    int code;
    char msg[320];
} cae_err;

CONVAE_DEF const char *cae_strerror(int code);

/* ---------------------------------------------------------------- random numbers */
/* splitmix64 (Steele, Lea, Flood 2014): 64-bit state, every platform gives the same stream. */
typedef struct cae_rng {
    unsigned long long s;
} cae_rng;

CONVAE_DEF cae_rng cae_rng_seed(unsigned long long seed);
CONVAE_DEF unsigned long long cae_rng_next(cae_rng *r);
CONVAE_DEF float cae_rng_uniform(cae_rng *r);        /* [0,1), 24 random bits */
CONVAE_DEF int cae_rng_below(cae_rng *r, int n);     /* [0,n), unbiased */
CONVAE_DEF float cae_rng_normal(cae_rng *r);         /* N(0,1), Box-Muller */
CONVAE_DEF void cae_rng_shuffle(cae_rng *r, int *a, int n); /* Fisher-Yates */

/* ---------------------------------------------------------------- checksums */
/* CRC-32 as zip, gzip and PNG use it; start with crc = 0, feed the result back to continue. */
CONVAE_DEF unsigned long cae_crc32(unsigned long crc, const void *p, size_t n);

/* ---------------------------------------------------------------- gzip and IDX */
/* IDX is the format of the MNIST files: two zero bytes, a type byte, a dimension count, the
   dimensions as big-endian u32, then the elements, big-endian. The files are usually gzipped,
   so a small inflater (RFC 1951/1952) comes with the reader. */
enum {
    CAE_IDX_U8 = 0x08,
    CAE_IDX_I8 = 0x09,
    CAE_IDX_I16 = 0x0B,
    CAE_IDX_I32 = 0x0C,
    CAE_IDX_F32 = 0x0D,
    CAE_IDX_F64 = 0x0E
};

#define CONVAE_IDX_MAX_DIMS 8

typedef struct cae_idx {
    int type;                      /* CAE_IDX_* */
    int ndim;                      /* 1..CONVAE_IDX_MAX_DIMS */
    int dims[CONVAE_IDX_MAX_DIMS]; /* each 0..INT_MAX; unused entries are 0 */
    size_t count;                  /* product of dims (0 when a dim is 0) */
    int elem_size;                 /* bytes per element: 1, 2, 4 or 8 */
    void *data;                    /* count elements in native byte order: unsigned char,
                                      signed char, short, int, float or double */
} cae_idx;

#ifndef CONVAE_NO_GZIP
/* Inflates one gzip member (RFC 1952). The FEXTRA, FNAME, FCOMMENT and FHCRC fields are
   skipped (the header CRC is checked); the CRC32 and ISIZE trailer are checked; any byte after
   the member (garbage, padding or a second member) is an error. The output is capped at
   CONVAE_MAX_BYTES. On success *out (CONVAE_MALLOC, never NULL) holds *out_len bytes; on error
   *out is NULL and *out_len 0. */
CONVAE_DEF int cae_gunzip(const unsigned char *in, size_t n, unsigned char **out,
                          size_t *out_len, cae_err *e);

/* Raw DEFLATE decoder (RFC 1951): stored, fixed- and dynamic-Huffman blocks, up to the block
   marked final. *consumed is the number of input bytes used (the last one may be partly used).
   More than max_out bytes of output is an error (CAE_ERR_NOMEM). Ownership of *out as above. */
CONVAE_DEF int cae_inflate(const unsigned char *in, size_t n, size_t *consumed,
                           unsigned char **out, size_t *out_len, size_t max_out, cae_err *e);
#endif

/* Parses an IDX file held in memory; when buf starts with the gzip magic 1f 8b it is inflated
   first (an error under CONVAE_NO_GZIP). name_for_errors (NULL: "<memory>") starts every error message. On error *out is left
   zeroed, with nothing to free. */
CONVAE_DEF int cae_idx_parse(const void *buf, size_t len, cae_idx *out,
                             const char *name_for_errors, cae_err *e);

#ifndef CONVAE_NO_STDIO
/* Reads the whole file, then cae_idx_parse. */
CONVAE_DEF int cae_idx_load(const char *path, cae_idx *out, cae_err *e);
#endif

/* Frees x->data and zeroes x: safe on a zeroed or already freed struct. */
CONVAE_DEF void cae_idx_free(cae_idx *x);

/* Element i (row-major) as a double; 0 when i >= count. */
CONVAE_DEF double cae_idx_get(const cae_idx *x, size_t i);

#ifndef CONVAE_NO_STDIO
/* The whole file into *buf (CONVAE_MALLOC, the caller frees it; NULL on error), at most max
   bytes (0: CONVAE_MAX_BYTES); a larger file is an error, not a truncation. */
CONVAE_DEF int cae_read_file(const char *path, unsigned char **buf, size_t *len, size_t max, cae_err *e);
#endif

/* ---------------------------------------------------------------- NumPy files
   .npy arrays (format 1.0, 2.0 or 3.0; u1 i1 i2 i4 f4 f8 in either byte order; C order) are
   read into the cae_idx the IDX reader fills (native byte order, 1..CONVAE_IDX_MAX_DIMS
   dimensions); .npz archives (a zip of .npy members, stored or deflated, as np.savez and
   np.savez_compressed write them) one member at a time. Written: .npy 1.0, little-endian, and
   .npz with stored members. Every size is checked as for IDX; a bad file is CAE_ERR_FORMAT. */
CONVAE_DEF int cae_npy_parse(const void *buf, size_t len, cae_idx *out, const char *name_for_errors, cae_err *e);
CONVAE_DEF size_t cae_npy_bytes(const cae_idx *x); /* the .npy file's size; 0 for a bad array */
CONVAE_DEF int cae_npy_write_mem(const cae_idx *x, void *buf, size_t cap, cae_err *e);
/* The member called `member` (".npy" added; np.savez(f, *arrays) names them arr_0, arr_1...) */
CONVAE_DEF int cae_npz_get(const void *buf, size_t len, const char *member, cae_idx *out, const char *name_for_errors,
                           cae_err *e);
#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_npy_save(const char *path, const cae_idx *x, cae_err *e);
/* n arrays as the members names[i] + ".npy", written as cae_write_file does */
CONVAE_DEF int cae_npz_save(const char *path, const char *const *names, const cae_idx *arrays, int n, cae_err *e);
#endif

/* ---------------------------------------------------------------- tensors */
/* n images of h x w pixels with c channels, channel fastest (NHWC), over data the caller owns. */
typedef struct cae_tensor {
    int n, h, w, c;
    float *data;
} cae_tensor;

CONVAE_DEF cae_tensor cae_tensor_of(float *data, int n, int h, int w, int c);
/* n*h*w*c (0 for a negative size) */
CONVAE_DEF size_t cae_tensor_count(const cae_tensor *t);

/* ---------------------------------------------------------------- kernel sets
   The convolutions, pooling, upsampling and ReLU come in one set of kernels per instruction
   set: "scalar" (plain C, always there, the reference the others are tested against);
   "avx2" (AVX2 + FMA) and "avx512" (AVX512F) on x86, compiled with target attributes under
   GCC and clang so that no -m flag is needed (other compilers build them when their flags
   enable the instructions); "neon" on AArch64. The set is chosen once, when a net is made:
   the best this CPU runs, or the one named by the environment variable CONVAE_KERNELS
   (scalar|avx2|avx512|neon|auto). */
typedef struct cae_kernels cae_kernels;

/* The i-th set built into this program (0: "scalar"), NULL past the last. */
CONVAE_DEF const cae_kernels *cae_kernels_get(int i);
CONVAE_DEF const char *cae_kernels_name(const cae_kernels *ks);  /* "scalar", "avx2", ... */
CONVAE_DEF const char *cae_kernels_about(const cae_kernels *ks); /* a line for people */
CONVAE_DEF int cae_kernels_usable(const cae_kernels *ks);        /* this CPU runs it */
CONVAE_DEF const cae_kernels *cae_kernels_best(void);            /* the fastest usable set */
/* The set called name ("auto" or "": the best); name NULL: the environment variable
   CONVAE_KERNELS, else the best. An unknown name, or a set this CPU cannot run, is an error
   (CAE_ERR_ARG), never a silent fallback. */
CONVAE_DEF int cae_kernels_pick(const char *name, const cae_kernels **out, cae_err *e);

/* ---------------------------------------------------------------- layers
   Every layer is a set of plain functions over contiguous NHWC float arrays (n images of
   h x w pixels with c channels, channel fastest). Convolution kernels are HWIO
   (kh, kw, c_in, c_out), Keras's own order. Backward functions write the input gradient and
   ADD into parameter gradients (dwt, dbias; each may be NULL when not wanted; the
   convolution's din may be NULL too). The fast functions take the kernel set to run on
   (NULL: cae_kernels_best()). */
enum { CAE_ACT_NONE = 0, CAE_ACT_RELU = 1, CAE_ACT_SIGMOID = 2 };

/* Conv2D, stride 1, 'same' padding (top/left pad (k-1)/2 as Keras), bias, fused activation.
   in [n,h,w,ci]  wt [k,k,ci,co]  bias [co]  out [n,h,w,co] */
CONVAE_DEF void cae_conv2d_forward_ref(float *out, const float *in, const float *wt, const float *bias,
                                       int n, int h, int w, int ci, int co, int k, int act);
#ifndef CONVAE_NO_TRAIN
/* dpre: gradient w.r.t. the pre-activation output [n,h,w,co] (apply cae_relu_backward or
   cae_sigmoid_backward first). din [n,h,w,ci] is written; dwt [k,k,ci,co] and dbias [co] add. */
CONVAE_DEF void cae_conv2d_backward_ref(float *din, float *dwt, float *dbias, const float *dpre,
                                        const float *in, const float *wt,
                                        int n, int h, int w, int ci, int co, int k);
#endif
/* The same through a kernel set. work must hold cae_conv2d_work_floats() floats; the result
   matches the _ref functions to rounding. */
CONVAE_DEF size_t cae_conv2d_work_floats(int h, int w, int ci, int co, int k);
CONVAE_DEF void cae_conv2d_forward(const cae_kernels *ks, float *out, const float *in, const float *wt,
                                   const float *bias, int n, int h, int w, int ci, int co, int k, int act,
                                   float *work);
#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_conv2d_backward(const cae_kernels *ks, float *din, float *dwt, float *dbias, const float *dpre,
                                    const float *in, const float *wt, int n, int h, int w, int ci, int co, int k,
                                    float *work);
#endif
/* The per-image steps the functions above (and the trainer) are made of, for callers that keep
   the derived kernels between calls, as a training step does:
   - cae_conv2d_wino: m when ks runs this shape by Winograd F(m x m, 3x3) (forward, input
     gradient and weight gradient), 2 or 4 as the set chooses, else 0 (3x3, ci % 8 == 0,
     co % 16 == 0, and a set with Winograd kernels);
   - cae_conv2d_wino_kernel: U [(m+2)^2,ci,co] from wt [3,3,ci,co] for F(m x m, 3x3), m 2 or 4;
   - cae_conv2d_flip: wf [k,k,co,ci], wt turned 180 degrees with in/out swapped: the input
     gradient is the convolution of the output gradient with it;
   - cae_conv2d_forward1: one image; U is wt's Winograd kernel for the m cae_conv2d_wino gives,
     or NULL (direct convolution);
   - cae_conv2d_backward1: one image; wflip the flipped kernel, Uflip its Winograd kernel (or
     NULL); where dU is given and the shape takes Winograd, the weight gradient is added to
     dU [(m+2)^2,ci,co] in F(m x m, 3x3)'s domain and dwt is untouched: cae_conv2d_wino_grad
     adds it into dwt (once for a whole batch). din and dwt may be NULL. work: as above. */
CONVAE_DEF int cae_conv2d_wino(const cae_kernels *ks, int ci, int co, int k);
CONVAE_DEF void cae_conv2d_wino_kernel(int m, float *U, const float *wt, int ci, int co);
CONVAE_DEF void cae_conv2d_flip(float *wf, const float *wt, int ci, int co, int k);
CONVAE_DEF void cae_conv2d_forward1(const cae_kernels *ks, float *out, const float *in, const float *wt,
                                    const float *U, const float *bias, int h, int w, int ci, int co, int k, int act,
                                    float *work);
#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_conv2d_backward1(const cae_kernels *ks, float *din, float *dwt, float *dU, float *dbias,
                                     const float *dpre, const float *in, const float *wflip, const float *Uflip,
                                     int h, int w, int ci, int co, int k, float *work);
CONVAE_DEF void cae_conv2d_wino_grad(int m, float *dwt, const float *dU, int ci, int co);
#endif

/* MaxPooling2D 2x2 stride 2, Keras 'same': out [n,(h+1)/2,(w+1)/2,c]; an odd last row or
   column pools over what is there. argmax [n,oh,ow,c] (NULL: not kept, for inference) gets
   the winning input index (within the image) for backward; ties go to the first in row-major
   order. Backward writes every element of din [n,h,w,c]. */
CONVAE_DEF void cae_maxpool2d_forward(const cae_kernels *ks, float *out, int *argmax, const float *in, int n, int h,
                                      int w, int c);
CONVAE_DEF void cae_maxpool2d_forward_ref(float *out, int *argmax, const float *in, int n, int h, int w, int c);
#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_maxpool2d_backward(const cae_kernels *ks, float *din, const float *dout, const int *argmax,
                                       int n, int h, int w, int c);
CONVAE_DEF void cae_maxpool2d_backward_ref(float *din, const float *dout, const int *argmax, int n, int h, int w,
                                           int c);
#endif
/* UpSampling2D 2x nearest: in [n,h,w,c] -> out [n,2h,2w,c]. */
CONVAE_DEF void cae_upsample2d_forward(const cae_kernels *ks, float *out, const float *in, int n, int h, int w,
                                       int c);
CONVAE_DEF void cae_upsample2d_forward_ref(float *out, const float *in, int n, int h, int w, int c);
#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_upsample2d_backward(const cae_kernels *ks, float *din, const float *dout, int n, int h, int w,
                                        int c);
CONVAE_DEF void cae_upsample2d_backward_ref(float *din, const float *dout, int n, int h, int w, int c);
#endif
/* Element-wise; backward uses the forward output y. dx is written. */
CONVAE_DEF void cae_relu_forward(const cae_kernels *ks, float *y, const float *x, size_t n);
CONVAE_DEF void cae_relu_forward_ref(float *y, const float *x, size_t n);
CONVAE_DEF void cae_sigmoid_forward(float *y, const float *x, size_t n);
#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_relu_backward(const cae_kernels *ks, float *dx, const float *dy, const float *y, size_t n);
CONVAE_DEF void cae_relu_backward_ref(float *dx, const float *dy, const float *y, size_t n);
CONVAE_DEF void cae_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);
/* A bias's gradient: dbias [c] += the sum of the n rows of dy [n,c], added row after row. */
CONVAE_DEF void cae_bias_backward(const cae_kernels *ks, float *dbias, const float *dy, size_t n, int c);
CONVAE_DEF void cae_bias_backward_ref(float *dbias, const float *dy, size_t n, int c);
#endif

/* ---------------------------------------------------------------- losses
   Each returns the SUM over the n elements (divide by the count you average over) and,
   when grad is not NULL, writes d(sum)/d(input) * scale into grad. */
/* Binary cross-entropy from logits z against targets t in [0,1]: stable for any z. */
CONVAE_DEF double cae_bce_logits(const float *z, const float *t, size_t n, float *grad, float scale);
/* Its value (the sum) through a kernel set: the AVX2 and AVX-512 sets take log(1+exp(-|z|)) in
   float vector code, within 1e-6 of cae_bce_logits (the reference, in double); the trainer
   and cae_net_evaluate use it. */
CONVAE_DEF double cae_bce_logits_sum(const cae_kernels *ks, const float *z, const float *t, size_t n);
/* Binary cross-entropy from probabilities p, clipped to [1e-7, 1-1e-7] as Keras does. */
CONVAE_DEF double cae_bce(const float *p, const float *t, size_t n, float *grad, float scale);
/* Squared error. */
CONVAE_DEF double cae_mse(const float *y, const float *t, size_t n, float *grad, float scale);

/* ---------------------------------------------------------------- initialisation and optimizer */
/* Glorot-uniform fill: U(-l, l), l = sqrt(6/(fan_in+fan_out)). */
CONVAE_DEF void cae_glorot_uniform(float *w, size_t n, int fan_in, int fan_out, cae_rng *r);
#ifndef CONVAE_NO_TRAIN
/* Adam as Keras updates it: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); p -= lr_t*m/(sqrt(v)+eps). */
typedef struct cae_adam {
    float lr, beta1, beta2, eps; /* 1e-3, 0.9, 0.999, 1e-7 (Keras) */
    long long t;                 /* steps taken */
} cae_adam;
CONVAE_DEF cae_adam cae_adam_default(void);
/* One step over parallel flat arrays of n parameters (increments a->t). */
CONVAE_DEF void cae_adam_step(cae_adam *a, float *param, const float *grad, float *m, float *v, size_t n);
#endif

/* ---------------------------------------------------------------- the net
   Architecture and parameters, for inference. Every call runs on scratch memory the caller
   gives (cae_net_scratch_bytes() per thread), so inference allocates nothing; a net made by
   cae_net_init points at parameters the caller keeps (const arrays in flash, say) and
   allocates nothing at all. Training state lives in a cae_trainer. A cae_net is a value the
   caller holds; pass it by pointer (a copy shares the memory of the original). */
enum { CAE_CONV2D = 1, CAE_MAXPOOL2D = 2, CAE_UPSAMPLE2D = 3, CAE_RELU = 4, CAE_SIGMOID = 5 };
enum { CAE_LOSS_BCE = 1, CAE_LOSS_MSE = 2 };
enum { CAE_MAX_LAYERS = 32 };
#define CONVAE_MAX_DIM 4096 /* largest height, width or channel count accepted */

typedef struct cae_layer_spec {
    int kind;         /* CAE_CONV2D, CAE_MAXPOOL2D, ... */
    int filters;      /* conv: output channels */
    int ksize;        /* conv: kernel size */
    int act;          /* conv: fused CAE_ACT_* */
    const char *name; /* for the summary and cae_net_find; NULL gives "conv2d_1" etc. */
} cae_layer_spec;

typedef struct cae_layer {
    int kind, act, k;
    char name[32];
    int h, w, c;     /* input of one image */
    int oh, ow, oc;  /* output of one image */
    size_t nparams;  /* conv: the kernel [k,k,c,oc] then the bias [oc], at param + poff */
    size_t poff;
    size_t wino_off; /* conv whose shape takes Winograd: its kernel transform at wino + wino_off */
} cae_layer;

typedef struct cae_net {
    int nlayers;
    cae_layer layer[CAE_MAX_LAYERS];
    int h, w, c;           /* input of one image */
    size_t nparams;
    const float *param;    /* nparams floats: each conv's kernel and bias, in layer order */
    const float *wino;     /* Winograd kernels of the layers whose shape takes them, or NULL */
    size_t nwino;          /* floats at wino: room for F(4x4,3x3)'s, the larger */
    int wino_m;            /* the F(m x m, 3x3) those are for (ks's when the net was made; see
                              cae_net_set_kernels); a set with another m runs direct convolutions */
    const cae_kernels *ks; /* the kernel set the net runs on; the caller may set another
                              (cae_net_set_kernels; one this CPU cannot run makes every call fail
                              with CAE_ERR_ARG) */
    size_t maxact, work;   /* floats: the largest activation of one image, the largest conv scratch */
    void *own;             /* what cae_net_create or _load allocated; NULL after cae_net_init */
} cae_net;

/* The lab's model: 28x28x1 -> conv32 -> pool -> conv64 -> pool (7x7x64 latent) -> conv64 ->
   up -> conv32 -> up -> conv1 sigmoid. 74,497 parameters. */
CONVAE_DEF const cae_layer_spec *cae_lab_specs(int *count);
/* A model from a short text: layers separated by commas, "cN" a 3x3 convolution with N filters
   and ReLU ("cNkK": KxK, odd K), "p" a 2x2 max-pool, "u" a 2x2 upsampling, and "|" instead of a
   comma after the encoder's last layer (the latent). The last layer must be a convolution; it
   gets a sigmoid. Layers are named as the lab's: enc_conv1, enc_pool1, ... before "|", then
   dec_conv1, dec_upsample1, ..., and dec_conv_output last, so CAE_LAB_ARCH gives the lab's
   model. spec[i].name points into the struct itself: use it where it was filled. */
#define CAE_LAB_ARCH "c32,p,c64,p|c64,u,c32,u,c1"
typedef struct cae_arch {
    cae_layer_spec spec[CAE_MAX_LAYERS];
    char name[CAE_MAX_LAYERS][32];
    int n;      /* layers */
    int latent; /* index of the encoder's last layer; -1 without "|" */
} cae_arch;
CONVAE_DEF int cae_arch_parse(cae_arch *a, const char *text, cae_err *e);
/* A net for h x w x c inputs: Glorot-uniform kernels from seed, zero biases, as Keras
   initialises them. One allocation (cae_net_free). On error the net is zeroed. */
CONVAE_DEF int cae_net_create(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                              unsigned long long seed, cae_err *e);
/* A net over nparam parameters the caller keeps for as long as the net is used: no allocation,
   no Winograd kernels (the convolutions run directly). This and the loaders below zero the net
   on error, too. */
CONVAE_DEF int cae_net_init(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                            const float *param, size_t nparam, cae_err *e);
/* Frees what the net owns and zeroes it: safe on a zeroed or already freed net. */
CONVAE_DEF void cae_net_free(cae_net *net);
/* Runs the net on ks (NULL: the best this CPU runs) from now on, remaking its Winograd kernels
   for ks where the net owns them and ks's m differs (setting net->ks directly keeps results right,
   but a set whose m is not the net's convolves directly). CAE_ERR_ARG if the CPU cannot run ks. */
CONVAE_DEF int cae_net_set_kernels(cae_net *net, const cae_kernels *ks, cae_err *e);
/* Index of the layer with that name, or -1. */
CONVAE_DEF int cae_net_find(const cae_net *net, const char *name);
/* Keras-style summary table into buf (always NUL-terminated); returns the length it needs. */
CONVAE_DEF size_t cae_net_summary(const cae_net *net, const char *title, char *buf, size_t cap);
/* Scratch for one thread. Calls given k times this much run on up to k OpenMP threads. */
CONVAE_DEF size_t cae_net_scratch_bytes(const cae_net *net);
/* y = the output of layer `layer` (nlayers-1: the net's output) for the x->n images of x; the
   shapes must fit (x: n x h x w x c of the net; y: n x that layer's output). */
CONVAE_DEF int cae_net_encode(const cae_net *net, int layer, const cae_tensor *x, cae_tensor *y, void *scratch,
                              size_t bytes, cae_err *e);
CONVAE_DEF int cae_net_forward(const cae_net *net, const cae_tensor *x, cae_tensor *y, void *scratch, size_t bytes,
                               cae_err *e);
/* Mean loss over every output value of x's images against targets t (same shape as the output;
   t = x for an autoencoder). BCE after a sigmoid is computed from the logits. mse (may be
   NULL) gets each image's mean squared error. The same bits for any thread count. */
CONVAE_DEF int cae_net_evaluate(const cae_net *net, const cae_tensor *x, const cae_tensor *t, int loss,
                                double *loss_out, float *mse, void *scratch, size_t bytes, cae_err *e);

/* Model files: layers, input shape and parameters, little-endian on every host, CRC-32
   checked. cae_net_file_bytes says how large the file of a net is. Loading makes a net that
   owns its parameters (cae_net_free); a file that is damaged or truncated anywhere, or whose
   layers do not fit together, is CAE_ERR_FORMAT with the offset. name is for messages. */
CONVAE_DEF size_t cae_net_file_bytes(const cae_net *net);
CONVAE_DEF int cae_net_write_mem(const cae_net *net, void *buf, size_t cap, cae_err *e);
CONVAE_DEF int cae_net_load_mem(cae_net *net, const void *buf, size_t len, const char *name, cae_err *e);
#ifndef CONVAE_NO_STDIO
/* Written beside the target and renamed over it, so a failed save leaves the old file. */
CONVAE_DEF int cae_net_save(const cae_net *net, const char *path, cae_err *e);
CONVAE_DEF int cae_net_load(cae_net *net, const char *path, cae_err *e);
#endif

/* ---------------------------------------------------------------- int8 inference
   A net whose convolutions run in integers, for microcontrollers: int8 weights with one scale per
   output channel, int8 activations with one scale per layer, int32 sums. It runs from const
   arrays (tools/export_c writes them from a model file, calibrating the activation scales on
   sample images) on caller scratch, allocates nothing, and computes the same integers on every
   platform: requantisation is integer arithmetic (the sum times a 31-bit multiplier, shifted,
   rounded half away from zero). The last convolution's sums become floats (times the channel's
   dequantisation scale), then go through its sigmoid, if it has one. Sigmoid layers of their own
   are not supported. One image per call, no threads. */
typedef struct cae_qconv {
    const signed char *w;     /* kernel [k][k][c][oc] */
    const int *bias;          /* [oc], in units of the sum (input scale x weight scale) */
    const int *mult;          /* [oc]: the int8 output is round(sum * mult / 2^shift), clamped */
    const signed char *shift; /* [oc], 1..62 */
    const float *deq;         /* [oc]: the real value of one unit of the sum */
} cae_qconv;

typedef struct cae_qnet {
    cae_net net;                    /* the architecture (its param is NULL) */
    cae_qconv conv[CAE_MAX_LAYERS]; /* the conv layers' parameters */
    float in_scale;                 /* a pixel x enters as round(x / in_scale), clamped to int8 */
    float scale[CAE_MAX_LAYERS];    /* the real value of one unit of each layer's int8 output */
} cae_qnet;

/* The parameters, as tools/export_c writes them, each array's length checked:
     wq  every conv kernel, int8, layer after layer (k*k*c*oc each)
     iq  per conv layer: its oc biases, then its oc multipliers (2*oc ints each)
     sq  per conv layer: its oc shifts
     fq  the input scale; then each layer's output scale (nlayers floats); then per conv layer
         its oc dequantisation scales
   The arrays stay the caller's; nothing is allocated. */
CONVAE_DEF int cae_qnet_init(cae_qnet *q, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                             const signed char *wq, size_t nwq, const int *iq, size_t niq, const signed char *sq,
                             size_t nsq, const float *fq, size_t nfq, cae_err *e);
CONVAE_DEF size_t cae_qnet_scratch_bytes(const cae_qnet *q);
/* One image x (h*w*c floats, as the float net takes it) to y (the output's floats). sums (may be
   NULL) gets the last layer's int32 sums when it is a convolution: the integers to compare
   across platforms. */
CONVAE_DEF int cae_qnet_forward(const cae_qnet *q, const float *x, float *y, int *sums, void *scratch, size_t bytes,
                                cae_err *e);
/* One image x to the int8 output of layer `layer` (real value: codes times q->scale[layer]). */
CONVAE_DEF int cae_qnet_encode(const cae_qnet *q, int layer, const float *x, signed char *codes, void *scratch,
                               size_t bytes, cae_err *e);

#ifndef CONVAE_NO_TRAIN
/* ---------------------------------------------------------------- the trainer
   A copy of a net with everything training adds: gradients, Adam moments, the kernels derived
   from the weights, per-slice workspaces and max-pool argmax. One allocation, made here; a
   step allocates nothing. A batch is split into min(16, max_batch) fixed slices whose
   gradients are summed in a fixed order, so a step gives the same bits for any number of
   threads. Two trainers in two threads do not interfere. */
typedef struct cae_trainer cae_trainer;

/* A trainer starting from net's parameters (copied), for batches of up to max_batch images,
   with Adam at Keras's defaults, on net->ks. *out is NULL on error. */
CONVAE_DEF int cae_trainer_create(cae_trainer **out, const cae_net *net, int max_batch, cae_err *e);
CONVAE_DEF void cae_trainer_free(cae_trainer *t);
/* The bytes its one allocation took. */
CONVAE_DEF size_t cae_trainer_bytes(const cae_trainer *t);
/* The net as trained so far: valid until the trainer is freed, updated by every step. */
CONVAE_DEF const cae_net *cae_trainer_net(const cae_trainer *t);
CONVAE_DEF cae_adam *cae_trainer_adam(cae_trainer *t);
/* Adam's moments, nparams floats each in the layout of the parameters, to read or replace (the
   GPU trainer of tools/convae_cuda.h hands its state back through them and
   cae_trainer_set_params, so one checkpoint format serves both). */
CONVAE_DEF void cae_trainer_moments(cae_trainer *t, float **m, float **v);
/* OpenMP threads for steps; 0 (the default): OpenMP's own choice. A trainer has a workspace for
   each of the threads OpenMP offered when it was made (16 at most: one a slice) and runs no more. */
CONVAE_DEF void cae_trainer_set_threads(cae_trainer *t, int threads);
/* One optimisation step on the x->n images of x against targets t (the output's shape; t = x
   for an autoencoder). *loss_out (may be NULL) gets the mean loss over all outputs, before
   the update. */
CONVAE_DEF int cae_trainer_step(cae_trainer *t, const cae_tensor *x, const cae_tensor *target, int loss,
                                double *loss_out, cae_err *e);
/* The mean gradient of the last step (nparams floats, the layout of the parameters). */
CONVAE_DEF const float *cae_trainer_grad(const cae_trainer *t);
/* Replaces the parameters (n must be the net's nparams) and remakes the derived kernels;
   the Adam state is kept. */
CONVAE_DEF int cae_trainer_set_params(cae_trainer *t, const float *param, size_t n, cae_err *e);

/* Checkpoints: everything a step depends on (the net as a model file, Adam's settings, step
   count and moments) and the caller's own bytes (its RNG, epoch, position in the shuffle,
   history), little-endian on every host, with a CRC-32. Resuming from one gives the same bits
   as never stopping. Reading checks everything (format, CRC, the architecture against t's)
   before it changes t; *user then points at the caller's bytes inside buf. */
CONVAE_DEF size_t cae_trainer_state_bytes(const cae_trainer *t, size_t user_len);
CONVAE_DEF int cae_trainer_write_state(const cae_trainer *t, const void *user, size_t user_len, void *buf, size_t cap,
                                       cae_err *e);
CONVAE_DEF int cae_trainer_read_state(cae_trainer *t, const void *buf, size_t len, const char *name,
                                      const unsigned char **user, size_t *user_len, cae_err *e);
#ifndef CONVAE_NO_STDIO
/* The same as files, written as cae_write_file does (a crash leaves the previous file whole).
   cae_trainer_load gives a copy of the caller's bytes in *user: CONVAE_FREE it. */
CONVAE_DEF int cae_trainer_save(const cae_trainer *t, const char *path, const void *user, size_t user_len, cae_err *e);
CONVAE_DEF int cae_trainer_load(cae_trainer *t, const char *path, void **user, size_t *user_len, cae_err *e);
#endif
#endif

/* ---------------------------------------------------------------- images and files */
/* Tiles n images [n,h,w,c] (floats in [0,1]) into rows of `cols`, with `pad` pixels of grey
   between them, as 8-bit pixels. cae_grid_size gives the picture's size. */
CONVAE_DEF void cae_grid_size(int n, int h, int w, int cols, int pad, int *gw, int *gh);
CONVAE_DEF void cae_grid(unsigned char *px, const float *imgs, int n, int h, int w, int c, int cols, int pad);
#ifndef CONVAE_NO_STDIO
/* Writes len bytes to path through path.tmp, flushed to the disk (fsync on Unix and macOS,
   _commit on Windows), and a rename (then, on Unix, an fsync of the folder): a failed write or
   a crash leaves the previous file as it was, and a failed write removes the temporary one. */
CONVAE_DEF int cae_write_file(const char *path, const void *data, size_t len, cae_err *e);
/* Binary PGM (c = 1) or PPM (c = 3), written as cae_write_file does. */
CONVAE_DEF int cae_write_pnm(const char *path, const unsigned char *px, int w, int h, int c, cae_err *e);
#endif

#endif /* CONVAE_H */

#ifdef CONVAE_IMPLEMENTATION
#ifndef CONVAE_IMPLEMENTATION_DONE
#define CONVAE_IMPLEMENTATION_DONE

#include <stdarg.h>
#include <string.h>
#include <math.h>
#ifndef CONVAE_NO_STDIO
#include <stdio.h>
/* to flush a written file to the disk before it replaces the previous one */
#if defined(_WIN32)
#include <io.h>
#elif defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#endif
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#if !defined(CONVAE_NO_STDIO) || !defined(CONVAE_MALLOC)
#include <stdlib.h> /* getenv; malloc, realloc and free unless CONVAE_MALLOC... are given */
#endif

#if defined(CONVAE_MALLOC) && defined(CONVAE_FREE) && defined(CONVAE_REALLOC)
#elif !defined(CONVAE_MALLOC) && !defined(CONVAE_FREE) && !defined(CONVAE_REALLOC)
#define CONVAE_MALLOC(sz) malloc(sz)
#define CONVAE_REALLOC(p, sz) realloc(p, sz)
#define CONVAE_FREE(p) free(p)
#else
#error "convae.h: define all of CONVAE_MALLOC, CONVAE_REALLOC and CONVAE_FREE, or none"
#endif

#ifndef CONVAE_ASSERT
#include <assert.h>
#define CONVAE_ASSERT(x) assert(x)
#endif

#ifndef CONVAE_MAX_BYTES
#define CONVAE_MAX_BYTES ((size_t)1 << 30)
#endif

/* ================================================================ errors and allocation */

CONVAE_DEF const char *cae_strerror(int code)
{
    switch (code) {
    case CAE_OK: return "ok";
    case CAE_ERR_IO: return "i/o error";
    case CAE_ERR_FORMAT: return "bad format";
    case CAE_ERR_NOMEM: return "out of memory or size too large";
    case CAE_ERR_SHAPE: return "shape mismatch";
    case CAE_ERR_ARG: return "bad argument";
    default: return "unknown error";
    }
}

/* A small formatter so that error messages need no stdio: %s %c %%, and d, u, x with the
   length modifiers none, l, ll and z (%d %ld %lld %u %lu %llu %zu %x %lx %llx %zx). */
static void cae__putc(char *buf, size_t cap, size_t *n, char ch)
{
    if (*n + 1 < cap) buf[*n] = ch;
    (*n)++;
}

static void cae__putu(char *buf, size_t cap, size_t *n, unsigned long long v, unsigned base)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (k) cae__putc(buf, cap, n, tmp[--k]);
}

static void cae__vfmt(char *buf, size_t cap, const char *f, va_list ap)
{
    size_t n = 0;
    for (; *f; f++) {
        int len = 0; /* 0: int, 1: long, 2: long long, 3: size_t */
        if (*f != '%') {
            cae__putc(buf, cap, &n, *f);
            continue;
        }
        f++;
        if (*f == 's') {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            while (*s) cae__putc(buf, cap, &n, *s++);
            continue;
        }
        if (*f == 'c') {
            cae__putc(buf, cap, &n, (char)va_arg(ap, int));
            continue;
        }
        if (*f == '%' || !*f) {
            cae__putc(buf, cap, &n, '%');
            if (!*f) break;
            continue;
        }
        if (*f == 'z') len = 3, f++;
        else if (f[0] == 'l' && f[1] == 'l') len = 2, f += 2;
        else if (*f == 'l') len = 1, f++;
        if (*f == 'd') {
            long long v = len == 0 ? va_arg(ap, int) : len == 1 ? va_arg(ap, long) : len == 2 ? va_arg(ap, long long)
                                                                                          : (long long)va_arg(ap, size_t);
            if (v < 0) cae__putc(buf, cap, &n, '-');
            cae__putu(buf, cap, &n, v < 0 ? (unsigned long long)(-(v + 1)) + 1u : (unsigned long long)v, 10);
        } else if (*f == 'u' || *f == 'x') {
            unsigned long long v = len == 0   ? va_arg(ap, unsigned)
                                   : len == 1 ? va_arg(ap, unsigned long)
                                   : len == 2 ? va_arg(ap, unsigned long long)
                                              : va_arg(ap, size_t);
            cae__putu(buf, cap, &n, v, *f == 'x' ? 16u : 10u);
        } else {
            cae__putc(buf, cap, &n, '?'); /* not a conversion this formatter knows */
            if (!*f) break;
        }
    }
    if (cap) buf[n < cap ? n : cap - 1] = 0;
}

/* Records an error in e (when given) and returns its code, so callers can write
   `return cae__fail(e, CAE_ERR_FORMAT, "%s: ...", path);`. */
static int cae__fail(cae_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        cae__vfmt(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void *cae__alloc(size_t n)
{
    void *p = CONVAE_MALLOC(n ? n : 1);
    if (p) memset(p, 0, n);
    return p;
}

/* a*b, or 0 when that overflows size_t (callers treat 0 as "too large"). */
static size_t cae__mul(size_t a, size_t b)
{
    if (a && b > (size_t)-1 / a) return 0;
    return a * b;
}

/* ================================================================ random numbers */

CONVAE_DEF cae_rng cae_rng_seed(unsigned long long seed)
{
    cae_rng r;
    r.s = seed;
    return r;
}

CONVAE_DEF unsigned long long cae_rng_next(cae_rng *r)
{
    unsigned long long z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

CONVAE_DEF float cae_rng_uniform(cae_rng *r)
{
    return (float)(cae_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

CONVAE_DEF int cae_rng_below(cae_rng *r, int n)
{
    unsigned long long lim, x;
    if (n <= 1) return 0;
    lim = 0xFFFFFFFFFFFFFFFFULL - 0xFFFFFFFFFFFFFFFFULL % (unsigned long long)n;
    do x = cae_rng_next(r);
    while (x >= lim);
    return (int)(x % (unsigned long long)n);
}

CONVAE_DEF float cae_rng_normal(cae_rng *r)
{
    double u1 = ((double)(cae_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(cae_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

CONVAE_DEF void cae_rng_shuffle(cae_rng *r, int *a, int n)
{
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = cae_rng_below(r, i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* ================================================================ checksums */

CONVAE_DEF unsigned long cae_crc32(unsigned long crc, const void *p, size_t n)
{
    /* CRC-32 as zip, gzip and PNG use it (reflected polynomial 0xEDB88320), a byte at a time */
    static const unsigned long t[256] = {
        0x00000000UL, 0x77073096UL, 0xEE0E612CUL, 0x990951BAUL, 0x076DC419UL, 0x706AF48FUL,
        0xE963A535UL, 0x9E6495A3UL, 0x0EDB8832UL, 0x79DCB8A4UL, 0xE0D5E91EUL, 0x97D2D988UL,
        0x09B64C2BUL, 0x7EB17CBDUL, 0xE7B82D07UL, 0x90BF1D91UL, 0x1DB71064UL, 0x6AB020F2UL,
        0xF3B97148UL, 0x84BE41DEUL, 0x1ADAD47DUL, 0x6DDDE4EBUL, 0xF4D4B551UL, 0x83D385C7UL,
        0x136C9856UL, 0x646BA8C0UL, 0xFD62F97AUL, 0x8A65C9ECUL, 0x14015C4FUL, 0x63066CD9UL,
        0xFA0F3D63UL, 0x8D080DF5UL, 0x3B6E20C8UL, 0x4C69105EUL, 0xD56041E4UL, 0xA2677172UL,
        0x3C03E4D1UL, 0x4B04D447UL, 0xD20D85FDUL, 0xA50AB56BUL, 0x35B5A8FAUL, 0x42B2986CUL,
        0xDBBBC9D6UL, 0xACBCF940UL, 0x32D86CE3UL, 0x45DF5C75UL, 0xDCD60DCFUL, 0xABD13D59UL,
        0x26D930ACUL, 0x51DE003AUL, 0xC8D75180UL, 0xBFD06116UL, 0x21B4F4B5UL, 0x56B3C423UL,
        0xCFBA9599UL, 0xB8BDA50FUL, 0x2802B89EUL, 0x5F058808UL, 0xC60CD9B2UL, 0xB10BE924UL,
        0x2F6F7C87UL, 0x58684C11UL, 0xC1611DABUL, 0xB6662D3DUL, 0x76DC4190UL, 0x01DB7106UL,
        0x98D220BCUL, 0xEFD5102AUL, 0x71B18589UL, 0x06B6B51FUL, 0x9FBFE4A5UL, 0xE8B8D433UL,
        0x7807C9A2UL, 0x0F00F934UL, 0x9609A88EUL, 0xE10E9818UL, 0x7F6A0DBBUL, 0x086D3D2DUL,
        0x91646C97UL, 0xE6635C01UL, 0x6B6B51F4UL, 0x1C6C6162UL, 0x856530D8UL, 0xF262004EUL,
        0x6C0695EDUL, 0x1B01A57BUL, 0x8208F4C1UL, 0xF50FC457UL, 0x65B0D9C6UL, 0x12B7E950UL,
        0x8BBEB8EAUL, 0xFCB9887CUL, 0x62DD1DDFUL, 0x15DA2D49UL, 0x8CD37CF3UL, 0xFBD44C65UL,
        0x4DB26158UL, 0x3AB551CEUL, 0xA3BC0074UL, 0xD4BB30E2UL, 0x4ADFA541UL, 0x3DD895D7UL,
        0xA4D1C46DUL, 0xD3D6F4FBUL, 0x4369E96AUL, 0x346ED9FCUL, 0xAD678846UL, 0xDA60B8D0UL,
        0x44042D73UL, 0x33031DE5UL, 0xAA0A4C5FUL, 0xDD0D7CC9UL, 0x5005713CUL, 0x270241AAUL,
        0xBE0B1010UL, 0xC90C2086UL, 0x5768B525UL, 0x206F85B3UL, 0xB966D409UL, 0xCE61E49FUL,
        0x5EDEF90EUL, 0x29D9C998UL, 0xB0D09822UL, 0xC7D7A8B4UL, 0x59B33D17UL, 0x2EB40D81UL,
        0xB7BD5C3BUL, 0xC0BA6CADUL, 0xEDB88320UL, 0x9ABFB3B6UL, 0x03B6E20CUL, 0x74B1D29AUL,
        0xEAD54739UL, 0x9DD277AFUL, 0x04DB2615UL, 0x73DC1683UL, 0xE3630B12UL, 0x94643B84UL,
        0x0D6D6A3EUL, 0x7A6A5AA8UL, 0xE40ECF0BUL, 0x9309FF9DUL, 0x0A00AE27UL, 0x7D079EB1UL,
        0xF00F9344UL, 0x8708A3D2UL, 0x1E01F268UL, 0x6906C2FEUL, 0xF762575DUL, 0x806567CBUL,
        0x196C3671UL, 0x6E6B06E7UL, 0xFED41B76UL, 0x89D32BE0UL, 0x10DA7A5AUL, 0x67DD4ACCUL,
        0xF9B9DF6FUL, 0x8EBEEFF9UL, 0x17B7BE43UL, 0x60B08ED5UL, 0xD6D6A3E8UL, 0xA1D1937EUL,
        0x38D8C2C4UL, 0x4FDFF252UL, 0xD1BB67F1UL, 0xA6BC5767UL, 0x3FB506DDUL, 0x48B2364BUL,
        0xD80D2BDAUL, 0xAF0A1B4CUL, 0x36034AF6UL, 0x41047A60UL, 0xDF60EFC3UL, 0xA867DF55UL,
        0x316E8EEFUL, 0x4669BE79UL, 0xCB61B38CUL, 0xBC66831AUL, 0x256FD2A0UL, 0x5268E236UL,
        0xCC0C7795UL, 0xBB0B4703UL, 0x220216B9UL, 0x5505262FUL, 0xC5BA3BBEUL, 0xB2BD0B28UL,
        0x2BB45A92UL, 0x5CB36A04UL, 0xC2D7FFA7UL, 0xB5D0CF31UL, 0x2CD99E8BUL, 0x5BDEAE1DUL,
        0x9B64C2B0UL, 0xEC63F226UL, 0x756AA39CUL, 0x026D930AUL, 0x9C0906A9UL, 0xEB0E363FUL,
        0x72076785UL, 0x05005713UL, 0x95BF4A82UL, 0xE2B87A14UL, 0x7BB12BAEUL, 0x0CB61B38UL,
        0x92D28E9BUL, 0xE5D5BE0DUL, 0x7CDCEFB7UL, 0x0BDBDF21UL, 0x86D3D2D4UL, 0xF1D4E242UL,
        0x68DDB3F8UL, 0x1FDA836EUL, 0x81BE16CDUL, 0xF6B9265BUL, 0x6FB077E1UL, 0x18B74777UL,
        0x88085AE6UL, 0xFF0F6A70UL, 0x66063BCAUL, 0x11010B5CUL, 0x8F659EFFUL, 0xF862AE69UL,
        0x616BFFD3UL, 0x166CCF45UL, 0xA00AE278UL, 0xD70DD2EEUL, 0x4E048354UL, 0x3903B3C2UL,
        0xA7672661UL, 0xD06016F7UL, 0x4969474DUL, 0x3E6E77DBUL, 0xAED16A4AUL, 0xD9D65ADCUL,
        0x40DF0B66UL, 0x37D83BF0UL, 0xA9BCAE53UL, 0xDEBB9EC5UL, 0x47B2CF7FUL, 0x30B5FFE9UL,
        0xBDBDF21CUL, 0xCABAC28AUL, 0x53B39330UL, 0x24B4A3A6UL, 0xBAD03605UL, 0xCDD70693UL,
        0x54DE5729UL, 0x23D967BFUL, 0xB3667A2EUL, 0xC4614AB8UL, 0x5D681B02UL, 0x2A6F2B94UL,
        0xB40BBE37UL, 0xC30C8EA1UL, 0x5A05DF1BUL, 0x2D02EF8DUL};
    const unsigned char *b = (const unsigned char *)p;
    crc = ~crc & 0xFFFFFFFFUL;
    while (n--) crc = (crc >> 8) ^ t[(crc ^ *b++) & 255];
    return ~crc & 0xFFFFFFFFUL;
}

/* Little-endian u32 from and into bytes: gzip trailers and model files, on every host. */
static unsigned long cae__le32(const unsigned char *p)
{
    return (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static void cae__put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v & 255), p[1] = (unsigned char)(v >> 8 & 255);
    p[2] = (unsigned char)(v >> 16 & 255), p[3] = (unsigned char)(v >> 24 & 255);
}

/* n floats as little-endian 32-bit words, and back (model files, checkpoints) */
static unsigned char *cae__put_floats(unsigned char *p, const float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++, p += 4) {
        unsigned int u;
        memcpy(&u, x + i, 4);
        cae__put32(p, u);
    }
    return p;
}

static const unsigned char *cae__get_floats(float *x, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++, p += 4) {
        unsigned int u = (unsigned int)cae__le32(p);
        memcpy(x + i, &u, 4);
    }
    return p;
}


/* ================================================================ gzip inflate */
#ifndef CONVAE_NO_GZIP

/* The inflater reads bits LSB first from a 64-bit buffer that is refilled a byte at a time
   and never past the end of the input: when the input runs out, the buffer holds fewer bits
   and every read checks for that, so a truncated stream is an error, never an overread.
   Offsets in messages are offsets in the caller's file: base is where the deflate data
   starts inside it (after the gzip header). */
typedef struct cae__inf {
    const unsigned char *in;
    size_t n, pos;
    unsigned long long bits;
    int nbits;
    unsigned char *out;
    size_t len, cap, max;
    size_t base;
    const char *name;
    cae_err *e;
} cae__inf;

/* Huffman codes of up to CAE__INF_FAST bits are resolved by one table look-up; the rare
   longer ones (up to 15 bits) by comparing against the canonical code ranges. 10 bits covers
   nearly all symbols of real streams while the table (2 KiB) stays cheap to rebuild for
   every dynamic block. */
#define CAE__INF_FAST 10
#define CAE__INF_FAST_MASK ((1u << CAE__INF_FAST) - 1u)

typedef struct cae__huff {
    unsigned short fast[1 << CAE__INF_FAST]; /* (length << 9) | symbol; 0: longer or unused */
    unsigned short first[16];                /* first canonical code of each length */
    unsigned short count[16];                /* how many codes have each length */
    unsigned short offs[16];                 /* where each length starts in sym[] */
    unsigned short sym[288];                 /* symbols sorted by (length, value) */
} cae__huff;

/* What a code is for: it decides which incomplete codes are tolerated. */
enum { CAE__HUFF_CODES, CAE__HUFF_LENS, CAE__HUFF_DISTS };

/* RFC 1951 3.2.5: base values and extra bits of length codes 257..285, distance codes 0..29. */
static const unsigned short cae__inf_lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
                                                  15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
                                                  67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char cae__inf_lextra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const unsigned short cae__inf_dbase[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char cae__inf_dextra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                  6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Offset (in the caller's file) of the byte that holds the next unread bit. */
static size_t cae__inf_offset(const cae__inf *s)
{
    return s->base + s->pos - (size_t)((s->nbits + 7) >> 3);
}

static void cae__inf_refill(cae__inf *s)
{
    while (s->nbits <= 56 && s->pos < s->n) {
        s->bits |= (unsigned long long)s->in[s->pos++] << s->nbits;
        s->nbits += 8;
    }
}

static int cae__inf_truncated(cae__inf *s, const char *where)
{
    return cae__fail(s->e, CAE_ERR_FORMAT,
                     "%s: deflate: data truncated: input ends at offset %zu inside %s",
                     s->name, s->base + s->n, where);
}

/* The next k (0..16) bits as a number, first bit lowest. */
static int cae__inf_bits(cae__inf *s, int k, unsigned *v, const char *where)
{
    *v = 0;
    if (s->nbits < k) {
        cae__inf_refill(s);
        if (s->nbits < k) return cae__inf_truncated(s, where);
    }
    *v = (unsigned)(s->bits & ((1ull << k) - 1u));
    s->bits >>= k;
    s->nbits -= k;
    return CAE_OK;
}

/* Huffman codes are stored MSB first while the bit buffer is LSB first. */
static unsigned cae__inf_rev(unsigned v, int n)
{
    unsigned r = 0;
    while (n-- > 0) {
        r = (r << 1) | (v & 1u);
        v >>= 1;
    }
    return r;
}

/* Builds the decoding tables from code lengths (each 0..15). Returns 0, 1 when the lengths
   over-subscribe the code space, 2 when they leave part of it unused. Like zlib, incomplete
   codes are refused except a lone code of length 1 (RFC 1951 3.2.7 allows one distance code,
   sent as one bit) for literal/length and distance codes, and no code at all for distances
   (a block of literals only). */
static int cae__huff_build(cae__huff *h, const unsigned char *lens, int n, int kind)
{
    int next[16], i, len, left = 1, ncodes = 0, offs = 0;
    unsigned code = 0;
    memset(h, 0, sizeof *h);
    for (i = 0; i < n; i++) h->count[lens[i]]++;
    h->count[0] = 0;
    for (len = 1; len <= 15; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0) return 1;
        ncodes += h->count[len];
    }
    if (left > 0) {
        int lone = ncodes == 1 && h->count[1] == 1;
        int ok = kind == CAE__HUFF_DISTS ? (ncodes == 0 || lone) : kind == CAE__HUFF_LENS && lone;
        if (!ok) return 2;
    }
    for (len = 1; len <= 15; len++) {
        h->first[len] = (unsigned short)code;
        h->offs[len] = (unsigned short)offs;
        next[len] = offs;
        offs += h->count[len];
        code = (code + h->count[len]) << 1;
    }
    for (i = 0; i < n; i++) {
        int slot;
        unsigned j;
        len = lens[i];
        if (!len) continue;
        slot = next[len]++;
        h->sym[slot] = (unsigned short)i;
        if (len > CAE__INF_FAST) continue;
        /* every table index whose low len bits spell this code decodes to it */
        code = h->first[len] + (unsigned)(slot - h->offs[len]);
        for (j = cae__inf_rev(code, len); j <= CAE__INF_FAST_MASK; j += 1u << len)
            h->fast[j] = (unsigned short)((len << 9) | i);
    }
    return 0;
}

/* Decodes one symbol, or returns a negative error code. At the end of the input the missing
   bits read as zeros; the code found is still right if it fits in the bits that do exist,
   and otherwise the stream is truncated. */
static int cae__inf_decode(cae__inf *s, const cae__huff *h, const char *what)
{
    unsigned e, code = 0;
    int len, sym;
    if (s->nbits < 15) cae__inf_refill(s);
    e = h->fast[s->bits & CAE__INF_FAST_MASK];
    if (e) {
        len = (int)(e >> 9);
        sym = (int)(e & 511u);
    } else {
        unsigned rev = cae__inf_rev((unsigned)(s->bits & 0x7FFFu), 15);
        for (len = CAE__INF_FAST + 1; len <= 15; len++) {
            code = rev >> (15 - len);
            if (code - h->first[len] < h->count[len]) break;
        }
        if (len > 15) {
            /* A complete code matches any 15 bits, zero-padded or not, so only the codes
               allowed to be incomplete (one code of 1 bit, or none) get here: the bits are
               invalid whenever there is at least one. */
            if (s->nbits == 0) return cae__inf_truncated(s, "a Huffman code");
            return cae__fail(s->e, CAE_ERR_FORMAT,
                             "%s: deflate: invalid %s code at offset %zu: the next 15 bits "
                             "match no code of the block's Huffman table",
                             s->name, what, cae__inf_offset(s));
        }
        sym = h->sym[h->offs[len] + (code - h->first[len])];
    }
    if (len > s->nbits) return cae__inf_truncated(s, "a Huffman code");
    s->bits >>= len;
    s->nbits -= len;
    return sym;
}

/* Makes room for need more output bytes: doubling (so appends cost O(1) amortised), never
   beyond s->max. */
static int cae__inf_grow(cae__inf *s, size_t need)
{
    size_t cap = s->cap ? s->cap : 4096;
    unsigned char *p;
    if (need > s->max - s->len)
        return cae__fail(s->e, CAE_ERR_NOMEM,
                         "%s: deflate: output exceeds the limit of %zu bytes at input offset %zu "
                         "(%zu bytes written, %zu more needed)",
                         s->name, s->max, cae__inf_offset(s), s->len, need);
    if (cap > s->max) cap = s->max;
    while (cap - s->len < need) cap = cap > s->max / 2 ? s->max : cap * 2;
    p = (unsigned char *)(s->out ? CONVAE_REALLOC(s->out, cap) : CONVAE_MALLOC(cap));
    if (!p)
        return cae__fail(s->e, CAE_ERR_NOMEM, "%s: deflate: cannot allocate %zu bytes of output",
                         s->name, cap);
    s->out = p;
    s->cap = cap;
    return CAE_OK;
}

static int cae__inf_stored(cae__inf *s)
{
    size_t at;
    unsigned len, nlen;
    int r;
    /* Skip to the byte boundary, then hand the whole bytes still buffered back to the input,
       so that the block is copied straight from it. */
    s->bits >>= s->nbits & 7;
    s->nbits -= s->nbits & 7;
    s->pos -= (size_t)(s->nbits >> 3);
    s->bits = 0;
    s->nbits = 0;
    at = s->base + s->pos;
    if (s->n - s->pos < 4) return cae__inf_truncated(s, "a stored block header");
    len = s->in[s->pos] | (unsigned)s->in[s->pos + 1] << 8;
    nlen = s->in[s->pos + 2] | (unsigned)s->in[s->pos + 3] << 8;
    if (len != (~nlen & 0xFFFFu))
        return cae__fail(s->e, CAE_ERR_FORMAT,
                         "%s: deflate: stored block at offset %zu: LEN 0x%x is not the one's "
                         "complement of NLEN 0x%x",
                         s->name, at, len, nlen);
    s->pos += 4;
    if (s->n - s->pos < len)
        return cae__fail(s->e, CAE_ERR_FORMAT,
                         "%s: deflate: data truncated: stored block at offset %zu holds %u bytes "
                         "but only %zu follow its header",
                         s->name, at, len, s->n - s->pos);
    if (!len) return CAE_OK; /* (an empty block may come before any output buffer exists) */
    if (len > s->cap - s->len && (r = cae__inf_grow(s, len)) != CAE_OK) return r;
    memcpy(s->out + s->len, s->in + s->pos, len);
    s->len += len;
    s->pos += len;
    return CAE_OK;
}

/* Copies a match; source and destination overlap when dist < len (a run), which is why the
   short-distance case goes byte by byte. */
static void cae__inf_copy(cae__inf *s, size_t dist, size_t len)
{
    unsigned char *d = s->out + s->len;
    const unsigned char *src = d - dist;
    s->len += len;
    if (dist >= len) {
        memcpy(d, src, len);
        return;
    }
    if (dist == 1) { /* runs of one byte (MNIST's blank borders) */
        memset(d, *src, len);
        return;
    }
    while (len--) *d++ = *src++;
}

/* Decodes the literals and matches of one Huffman block up to its end-of-block code. */
static int cae__inf_codes(cae__inf *s, const cae__huff *lit, const cae__huff *dist)
{
    for (;;) {
        unsigned v, len, d;
        int r, sym = cae__inf_decode(s, lit, "literal/length");
        if (sym < 256) {
            if (sym < 0) return sym;
            if (s->len == s->cap && (r = cae__inf_grow(s, 1)) != CAE_OK) return r;
            s->out[s->len++] = (unsigned char)sym;
            continue;
        }
        if (sym == 256) return CAE_OK;
        sym -= 257;
        if (sym >= 29)
            return cae__fail(s->e, CAE_ERR_FORMAT,
                             "%s: deflate: invalid length symbol %d at offset %zu (286 and 287 "
                             "are reserved)",
                             s->name, sym + 257, cae__inf_offset(s));
        if ((r = cae__inf_bits(s, cae__inf_lextra[sym], &v, "a match length")) != CAE_OK)
            return r;
        len = cae__inf_lbase[sym] + v;
        if ((sym = cae__inf_decode(s, dist, "distance")) < 0) return sym;
        if (sym >= 30)
            return cae__fail(s->e, CAE_ERR_FORMAT,
                             "%s: deflate: invalid distance symbol %d at offset %zu (30 and 31 "
                             "are reserved)",
                             s->name, sym, cae__inf_offset(s));
        if ((r = cae__inf_bits(s, cae__inf_dextra[sym], &v, "a match distance")) != CAE_OK)
            return r;
        d = cae__inf_dbase[sym] + v;
        if (d > s->len)
            return cae__fail(s->e, CAE_ERR_FORMAT,
                             "%s: deflate: distance too far back at offset %zu: match at "
                             "distance %u but only %zu bytes decoded so far",
                             s->name, cae__inf_offset(s), d, s->len);
        if (len > s->cap - s->len && (r = cae__inf_grow(s, len)) != CAE_OK) return r;
        cae__inf_copy(s, d, len);
    }
}

static void cae__inf_fixed(cae__huff *lit, cae__huff *dist)
{
    unsigned char lens[288];
    int i;
    for (i = 0; i < 144; i++) lens[i] = 8;
    for (; i < 256; i++) lens[i] = 9;
    for (; i < 280; i++) lens[i] = 7;
    for (; i < 288; i++) lens[i] = 8;
    cae__huff_build(lit, lens, 288, CAE__HUFF_LENS);
    for (i = 0; i < 32; i++) lens[i] = 5;
    cae__huff_build(dist, lens, 32, CAE__HUFF_DISTS);
}

static int cae__inf_bad_code(cae__inf *s, const char *what, int why, size_t at)
{
    return cae__fail(s->e, CAE_ERR_FORMAT,
                     "%s: deflate: dynamic block at offset %zu: %s code lengths are %s", s->name,
                     at, what,
                     why == 1 ? "over-subscribed (more codes than the bit lengths allow)"
                              : "incomplete (part of the code space is unused)");
}

/* Reads the code lengths of the code lengths (in RFC 1951's permuted order) and builds their
   code. */
static int cae__inf_clcode(cae__inf *s, cae__huff *cl, int ncl, size_t at)
{
    static const unsigned char order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                            11, 4,  12, 3, 13, 2, 14, 1, 15};
    unsigned char lens[19];
    unsigned v;
    int i, r;
    memset(lens, 0, sizeof lens);
    for (i = 0; i < ncl; i++) {
        if ((r = cae__inf_bits(s, 3, &v, "a dynamic block header")) != CAE_OK) return r;
        lens[order[i]] = (unsigned char)v;
    }
    r = cae__huff_build(cl, lens, 19, CAE__HUFF_CODES);
    return r ? cae__inf_bad_code(s, "code-length", r, at) : CAE_OK;
}

/* Reads a dynamic block header (RFC 1951 3.2.7) and builds its two codes. */
static int cae__inf_dynamic(cae__inf *s, cae__huff *lit, cae__huff *dist)
{
    unsigned char lens[286 + 30];
    cae__huff cl;
    unsigned hlit, hdist, hclen, v;
    int i = 0, r, nlen, ndist;
    size_t at = cae__inf_offset(s);
    if ((r = cae__inf_bits(s, 5, &hlit, "a dynamic block header")) != CAE_OK ||
        (r = cae__inf_bits(s, 5, &hdist, "a dynamic block header")) != CAE_OK ||
        (r = cae__inf_bits(s, 4, &hclen, "a dynamic block header")) != CAE_OK)
        return r;
    nlen = (int)hlit + 257;
    ndist = (int)hdist + 1;
    if (nlen > 286 || ndist > 30)
        return cae__fail(s->e, CAE_ERR_FORMAT,
                         "%s: deflate: dynamic block at offset %zu declares %d literal/length "
                         "and %d distance codes (at most 286 and 30)",
                         s->name, at, nlen, ndist);
    if ((r = cae__inf_clcode(s, &cl, (int)hclen + 4, at)) != CAE_OK) return r;
    /* The literal/length and distance lengths form one sequence: runs may cross from one to
       the other, but not past the end. */
    while (i < nlen + ndist) {
        int sym = cae__inf_decode(s, &cl, "code-length"), rep;
        unsigned char val = 0;
        if (sym < 0) return sym;
        if (sym < 16) {
            lens[i++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0)
                return cae__fail(s->e, CAE_ERR_FORMAT,
                                 "%s: deflate: dynamic block at offset %zu: code 16 (repeat the "
                                 "previous length) comes first, with no previous length",
                                 s->name, at);
            val = lens[i - 1];
            r = cae__inf_bits(s, 2, &v, "a dynamic block header");
            rep = 3 + (int)v;
        } else if (sym == 17) {
            r = cae__inf_bits(s, 3, &v, "a dynamic block header");
            rep = 3 + (int)v;
        } else {
            r = cae__inf_bits(s, 7, &v, "a dynamic block header");
            rep = 11 + (int)v;
        }
        if (r != CAE_OK) return r;
        if (rep > nlen + ndist - i)
            return cae__fail(s->e, CAE_ERR_FORMAT,
                             "%s: deflate: dynamic block at offset %zu: code-length repeat of %d "
                             "at length %d runs past the %d lengths declared",
                             s->name, at, rep, i, nlen + ndist);
        while (rep--) lens[i++] = val;
    }
    if (lens[256] == 0)
        return cae__fail(s->e, CAE_ERR_FORMAT,
                         "%s: deflate: dynamic block at offset %zu has no end-of-block code",
                         s->name, at);
    if ((r = cae__huff_build(lit, lens, nlen, CAE__HUFF_LENS)) != 0)
        return cae__inf_bad_code(s, "literal/length", r, at);
    if ((r = cae__huff_build(dist, lens + nlen, ndist, CAE__HUFF_DISTS)) != 0)
        return cae__inf_bad_code(s, "distance", r, at);
    return CAE_OK;
}

/* Decodes blocks up to the final one. lit/dist hold the fixed code between fixed blocks, so
   that a run of tiny fixed blocks does not rebuild it each time. */
static int cae__inf_blocks(cae__inf *s)
{
    cae__huff lit, dist;
    int fixed_loaded = 0, r;
    unsigned hdr = 0;
    do {
        size_t at = cae__inf_offset(s);
        if ((r = cae__inf_bits(s, 3, &hdr, "a block header")) != CAE_OK) return r;
        switch (hdr >> 1) {
        case 0: r = cae__inf_stored(s); break;
        case 1:
            if (!fixed_loaded) cae__inf_fixed(&lit, &dist);
            fixed_loaded = 1;
            r = cae__inf_codes(s, &lit, &dist);
            break;
        case 2:
            fixed_loaded = 0;
            r = cae__inf_dynamic(s, &lit, &dist);
            if (r == CAE_OK) r = cae__inf_codes(s, &lit, &dist);
            break;
        default:
            r = cae__fail(s->e, CAE_ERR_FORMAT,
                          "%s: deflate: block header at offset %zu has the reserved block type 3 "
                          "(expected 0 stored, 1 fixed or 2 dynamic)",
                          s->name, at);
        }
    } while (r == CAE_OK && !(hdr & 1u));
    return r;
}

/* The inflater behind cae_inflate and cae_gunzip; hint is a first guess of the output size. */
static int cae__inflate(const unsigned char *in, size_t n, size_t base, const char *name,
                        size_t hint, size_t max_out, size_t *consumed, unsigned char **out,
                        size_t *out_len, cae_err *e)
{
    cae__inf s;
    int r;
    memset(&s, 0, sizeof s);
    s.in = in;
    s.n = in ? n : 0;
    s.max = max_out;
    s.base = base;
    s.name = name;
    s.e = e;
    *out = NULL;
    *out_len = 0;
    *consumed = 0;
    if (hint > max_out) hint = max_out;
    if (hint) { /* exactly the hint: when it is ISIZE, no reallocation at all */
        s.out = (unsigned char *)CONVAE_MALLOC(hint);
        if (!s.out)
            return cae__fail(e, CAE_ERR_NOMEM, "%s: deflate: cannot allocate %zu bytes of output",
                             name, hint);
        s.cap = hint;
    }
    r = cae__inf_blocks(&s);
    if (r != CAE_OK) {
        CONVAE_FREE(s.out);
        return r;
    }
    if (!s.out) {
        s.out = (unsigned char *)cae__alloc(0); /* empty output is still a buffer to free */
        if (!s.out) return cae__fail(e, CAE_ERR_NOMEM, "%s: deflate: out of memory", name);
    } else if (s.len && s.len < s.cap) {
        unsigned char *p = (unsigned char *)CONVAE_REALLOC(s.out, s.len);
        if (p) s.out = p; /* a failed shrink leaves the larger buffer, which is fine */
    }
    *out = s.out;
    *out_len = s.len;
    *consumed = s.pos - (size_t)(s.nbits >> 3); /* whole bytes still buffered are unused */
    return CAE_OK;
}

CONVAE_DEF int cae_inflate(const unsigned char *in, size_t n, size_t *consumed,
                           unsigned char **out, size_t *out_len, size_t max_out, cae_err *e)
{
    size_t used, hint;
    if (!out || !out_len || (!in && n))
        return cae__fail(e, CAE_ERR_ARG, "cae_inflate: NULL argument");
    /* deflate rarely shrinks data below a quarter, so this saves a few reallocations */
    hint = n < max_out / 4 ? n * 4 : max_out;
    if (hint > ((size_t)1 << 24)) hint = (size_t)1 << 24;
    return cae__inflate(in, n, 0, "<memory>", hint, max_out, consumed ? consumed : &used, out,
                        out_len, e);
}

static int cae__gz_truncated(cae_err *e, const char *name, size_t n, const char *where)
{
    return cae__fail(e, CAE_ERR_FORMAT, "%s: gzip: data truncated: input ends at offset %zu inside %s",
                     name, n, where);
}

/* Skips a zero-terminated header field (FNAME, FCOMMENT) starting at *p. */
static int cae__gz_skipz(const unsigned char *in, size_t n, size_t *p, const char *name,
                         const char *field, cae_err *e)
{
    const unsigned char *z = *p < n ? (const unsigned char *)memchr(in + *p, 0, n - *p) : NULL;
    if (!z) return cae__gz_truncated(e, name, n, field);
    *p = (size_t)(z - in) + 1;
    return CAE_OK;
}

/* Parses the member header (RFC 1952 2.3) and sets *p to where the deflate data starts. */
static int cae__gz_header(const unsigned char *in, size_t n, size_t *p, const char *name,
                          cae_err *e)
{
    unsigned flg;
    int r;
    if (n < 2 || in[0] != 0x1F || in[1] != 0x8B)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: bad magic at offset 0: expected 1f 8b, found %s%x %x", name,
                         n < 2 ? "(too short) " : "", n > 0 ? in[0] : 0u, n > 1 ? in[1] : 0u);
    if (n < 10) return cae__gz_truncated(e, name, n, "the 10-byte header");
    if (in[2] != 8)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: compression method %u at offset 2, expected 8 (deflate)",
                         name, in[2]);
    flg = in[3];
    if (flg & 0xE0u)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: reserved flag bits set at offset 3: flags 0x%x", name, flg);
    *p = 10;
    if (flg & 4u) { /* FEXTRA: XLEN, then XLEN bytes */
        size_t xlen;
        if (n - *p < 2) return cae__gz_truncated(e, name, n, "the FEXTRA length");
        xlen = in[*p] | (size_t)in[*p + 1] << 8;
        *p += 2;
        if (n - *p < xlen) return cae__gz_truncated(e, name, n, "the FEXTRA field");
        *p += xlen;
    }
    if ((flg & 8u) && (r = cae__gz_skipz(in, n, p, name, "the file name", e)) != CAE_OK) return r;
    if ((flg & 16u) && (r = cae__gz_skipz(in, n, p, name, "the comment", e)) != CAE_OK) return r;
    if (flg & 2u) { /* FHCRC: low 16 bits of the CRC32 of the header up to here */
        unsigned stored, computed;
        if (n - *p < 2) return cae__gz_truncated(e, name, n, "the header CRC");
        stored = in[*p] | (unsigned)in[*p + 1] << 8;
        computed = (unsigned)(cae_crc32(0, in, *p) & 0xFFFFu);
        if (stored != computed)
            return cae__fail(e, CAE_ERR_FORMAT,
                             "%s: gzip: header CRC16 mismatch at offset %zu: stored 0x%x "
                             "computed 0x%x",
                             name, *p, stored, computed);
        *p += 2;
    }
    return CAE_OK;
}

/* Checks the CRC32 and ISIZE trailer at offset p and that nothing follows it. */
static int cae__gz_trailer(const unsigned char *in, size_t n, size_t p, const unsigned char *out,
                           size_t len, const char *name, cae_err *e)
{
    unsigned long stored, computed;
    if (n - p < 8)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: data truncated: the deflate data ends at offset %zu, where an "
                         "8-byte trailer should follow, but only %zu bytes remain",
                         name, p, n - p);
    stored = cae__le32(in + p);
    computed = cae_crc32(0, out, len);
    if (stored != computed)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: CRC32 mismatch at offset %zu: stored 0x%x computed 0x%x", name,
                         p, (unsigned)stored, (unsigned)computed);
    stored = cae__le32(in + p + 4);
    if (stored != (unsigned long)(len & 0xFFFFFFFFUL))
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: ISIZE mismatch at offset %zu: stored %lu but %zu bytes were "
                         "decoded",
                         name, p + 4, stored, len);
    p += 8;
    if (p != n)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: gzip: %zu unexpected bytes after the gzip member, at offset %zu%s",
                         name, n - p, p,
                         n - p >= 2 && in[p] == 0x1F && in[p + 1] == 0x8B
                             ? " (a second member: multi-member files are not supported)"
                             : "");
    return CAE_OK;
}

static int cae__gunzip(const unsigned char *in, size_t n, const char *name, size_t max_out,
                       unsigned char **out, size_t *out_len, cae_err *e)
{
    size_t p = 0, used, hint = 0;
    int r;
    *out = NULL;
    *out_len = 0;
    if ((r = cae__gz_header(in, n, &p, name, e)) != CAE_OK) return r;
    /* ISIZE is only a hint (it is mod 2^32 and may lie); no deflate stream expands more than
       1032:1 (258 bytes per 2-bit match), so a lying one cannot make us allocate much more
       than the input justifies. */
    if (n - p >= 8) {
        hint = (size_t)cae__le32(in + n - 4);
        if (hint > max_out) hint = max_out;
        if (n - p < hint / 1032) hint = (n - p) * 1032;
    }
    r = cae__inflate(in + p, n - p, p, name, hint, max_out, &used, out, out_len, e);
    if (r != CAE_OK) return r;
    r = cae__gz_trailer(in, n, p + used, *out, *out_len, name, e);
    if (r != CAE_OK) {
        CONVAE_FREE(*out);
        *out = NULL;
        *out_len = 0;
    }
    return r;
}

CONVAE_DEF int cae_gunzip(const unsigned char *in, size_t n, unsigned char **out,
                          size_t *out_len, cae_err *e)
{
    if (!out || !out_len || (!in && n))
        return cae__fail(e, CAE_ERR_ARG, "cae_gunzip: NULL argument");
    return cae__gunzip(in, n, "<memory>", CONVAE_MAX_BYTES, out, out_len, e);
}

#endif /* CONVAE_NO_GZIP */

/* ================================================================ IDX */

/* cae_idx_get reads the data as short, int, float and double: they must have IDX's sizes. */
typedef char cae__idx_sizes_ok[(sizeof(short) == 2 && sizeof(int) == 4 && sizeof(float) == 4 &&
                                sizeof(double) == 8)
                                   ? 1
                                   : -1];

static int cae__idx_elem_size(int type)
{
    switch (type) {
    case CAE_IDX_U8:
    case CAE_IDX_I8: return 1;
    case CAE_IDX_I16: return 2;
    case CAE_IDX_I32:
    case CAE_IDX_F32: return 4;
    case CAE_IDX_F64: return 8;
    default: return 0;
    }
}

static const char *cae__idx_type_name(int type)
{
    switch (type) {
    case CAE_IDX_U8: return "u8";
    case CAE_IDX_I8: return "i8";
    case CAE_IDX_I16: return "i16";
    case CAE_IDX_I32: return "i32";
    case CAE_IDX_F32: return "f32";
    default: return "f64";
    }
}

/* "60000x28x28", for messages. */
static void cae__idx_shape_str(char *buf, size_t cap, const unsigned long *dims, int ndim)
{
    size_t n = 0;
    int i;
    for (i = 0; i < ndim; i++) {
        if (i) cae__putc(buf, cap, &n, 'x');
        cae__putu(buf, cap, &n, dims[i], 10);
    }
    buf[n < cap ? n : cap - 1] = 0;
}

/* Validates the header of the IDX bytes b[0..len) and fills x's shape; *hdr is the header
   size. via says where the bytes came from, for messages. */
static int cae__idx_header(const unsigned char *b, size_t len, cae_idx *x, size_t *hdr,
                           const char *name, const char *via, cae_err *e)
{
    unsigned long dims[CONVAE_IDX_MAX_DIMS];
    char shape[CONVAE_IDX_MAX_DIMS * 11 + 1];
    size_t count = 1, bytes;
    int i, zero = 0, overflow = 0;
    if (len < 4)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: IDX header truncated: %zu bytes, the magic alone needs 4", name,
                         via, len);
    if (b[0] || b[1])
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: bad IDX magic at offset 0: expected 00 00, found %x %x", name, via,
                         b[0], b[1]);
    x->type = b[2];
    x->elem_size = cae__idx_elem_size(b[2]);
    if (!x->elem_size)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: unknown IDX element type 0x%x at offset 2 (expected 0x8, 0x9, "
                         "0xb, 0xc, 0xd or 0xe)",
                         name, via, b[2]);
    x->ndim = b[3];
    if (x->ndim < 1 || x->ndim > CONVAE_IDX_MAX_DIMS)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: IDX dimension count %d at offset 3, expected 1..%d", name, via,
                         x->ndim, CONVAE_IDX_MAX_DIMS);
    *hdr = 4 + 4 * (size_t)x->ndim;
    if (len < *hdr)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: IDX header truncated: %d dimensions need a %zu-byte header but "
                         "there are %zu bytes",
                         name, via, x->ndim, *hdr, len);
    for (i = 0; i < x->ndim; i++) {
        const unsigned char *p = b + 4 + 4 * i;
        dims[i] = (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
                  (unsigned long)p[2] << 8 | p[3];
        if (dims[i] > 0x7FFFFFFFUL)
            return cae__fail(e, CAE_ERR_FORMAT,
                             "%s%s: IDX dimension %d at offset %d is %lu, more than INT_MAX",
                             name, via, i, 4 + 4 * i, dims[i]);
        x->dims[i] = (int)dims[i];
        if (!dims[i]) zero = 1;
        count = cae__mul(count, (size_t)dims[i]);
        if (dims[i] && !count) overflow = 1; /* cae__mul's 0 means overflow only here */
        if (!count) count = 1;               /* keep multiplying to catch later overflows */
    }
    bytes = cae__mul(count, (size_t)x->elem_size);
    cae__idx_shape_str(shape, sizeof shape, dims, x->ndim);
    if (zero) /* an empty set is fine, however large the other dimensions */
        count = bytes = 0;
    else if (overflow || !bytes)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: IDX dimensions %s %s: the data size overflows size_t", name, via,
                         shape, cae__idx_type_name(x->type));
    if (len - *hdr != bytes)
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s%s: IDX header says %s %s = %zu data bytes but %zu follow the "
                         "%zu-byte header",
                         name, via, shape, cae__idx_type_name(x->type), bytes, len - *hdr, *hdr);
    if (bytes > CONVAE_MAX_BYTES)
        return cae__fail(e, CAE_ERR_NOMEM,
                         "%s%s: IDX data of %zu bytes exceeds CONVAE_MAX_BYTES (%zu)", name, via,
                         bytes, (size_t)CONVAE_MAX_BYTES);
    x->count = count;
    return CAE_OK;
}

static int cae__host_is_le(void)
{
    unsigned one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Reverses the bytes of each of count elements of size bytes. */
static void cae__swap_elems(unsigned char *p, size_t count, int size)
{
    size_t i;
    int j;
    if (size == 1) return;
    for (i = 0; i < count; i++, p += size)
        for (j = 0; j < size / 2; j++) {
            unsigned char t = p[j];
            p[j] = p[size - 1 - j];
            p[size - 1 - j] = t;
        }
}

/* IDX data is big-endian; convert in place when the host is not. */
static void cae__idx_to_native(unsigned char *p, size_t count, int size)
{
    if (cae__host_is_le()) cae__swap_elems(p, count, size);
}

/* Builds *out from the IDX bytes b[0..len). When own is given, b == own is a CONVAE_MALLOC'd
   buffer that is reused for the data (saving a copy of the whole set) or freed on error. */
static int cae__idx_from(const unsigned char *b, size_t len, unsigned char *own, cae_idx *out,
                         const char *name, const char *via, cae_err *e)
{
    cae_idx x;
    size_t hdr = 0, bytes;
    int r;
    memset(&x, 0, sizeof x);
    r = cae__idx_header(b, len, &x, &hdr, name, via, e);
    if (r != CAE_OK) {
        CONVAE_FREE(own);
        return r;
    }
    bytes = x.count * (size_t)x.elem_size;
    if (own) {
        memmove(own, own + hdr, bytes);
        x.data = own;
        if (bytes) {
            void *p = CONVAE_REALLOC(own, bytes);
            if (p) x.data = p;
        }
    } else {
        x.data = CONVAE_MALLOC(bytes ? bytes : 1);
        if (!x.data)
            return cae__fail(e, CAE_ERR_NOMEM, "%s: cannot allocate %zu bytes for the IDX data",
                             name, bytes);
        if (bytes) memcpy(x.data, b + hdr, bytes);
    }
    cae__idx_to_native((unsigned char *)x.data, x.count, x.elem_size);
    *out = x;
    return CAE_OK;
}

CONVAE_DEF int cae_idx_parse(const void *buf, size_t len, cae_idx *out,
                             const char *name_for_errors, cae_err *e)
{
    const unsigned char *b = (const unsigned char *)buf;
    const char *name = name_for_errors ? name_for_errors : "<memory>";
    if (!out) return cae__fail(e, CAE_ERR_ARG, "%s: cae_idx_parse: out is NULL", name);
    memset(out, 0, sizeof *out);
    if (!b && len) return cae__fail(e, CAE_ERR_ARG, "%s: cae_idx_parse: buf is NULL", name);
    if (len >= 2 && b[0] == 0x1F && b[1] == 0x8B) {
#ifndef CONVAE_NO_GZIP
        unsigned char *raw;
        size_t rawlen;
        int r = cae__gunzip(b, len, name, CONVAE_MAX_BYTES, &raw, &rawlen, e);
        if (r != CAE_OK) return r;
        return cae__idx_from(raw, rawlen, raw, out, name, " (inflated)", e);
#else
        return cae__fail(e, CAE_ERR_FORMAT, "%s: gzip data, and this build has no inflater (CONVAE_NO_GZIP): "
                         "gunzip the file first", name);
#endif
    }
    return cae__idx_from(b, len, NULL, out, name, "", e);
}

#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_read_file(const char *path, unsigned char **buf, size_t *len, size_t max, cae_err *e)
{
    size_t cap = 1 << 16;
    unsigned char *p;
    FILE *f;
    if (!buf || !len) return cae__fail(e, CAE_ERR_ARG, "cae_read_file: NULL argument");
    *buf = NULL;
    *len = 0;
    if (!path) return cae__fail(e, CAE_ERR_ARG, "cae_read_file: path is NULL");
    if (!max) max = CONVAE_MAX_BYTES;
    if (cap > max) cap = max;
    f = fopen(path, "rb");
    if (!f) return cae__fail(e, CAE_ERR_IO, "%s: cannot open for reading", path);
    p = (unsigned char *)CONVAE_MALLOC(cap + 1); /* one byte more tells a file of max bytes from a longer one */
    if (!p) {
        fclose(f);
        return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(p + *len, 1, cap + 1 - *len, f), ncap;
        unsigned char *q;
        *len += got;
        if (*len <= cap) break; /* end of file or error, told apart below */
        if (cap == max) {
            fclose(f);
            CONVAE_FREE(p);
            *len = 0;
            return cae__fail(e, CAE_ERR_NOMEM, "%s: file larger than %zu bytes", path, max);
        }
        ncap = cap > max / 2 ? max : cap * 2;
        q = (unsigned char *)CONVAE_REALLOC(p, ncap + 1);
        if (!q) {
            fclose(f);
            CONVAE_FREE(p);
            *len = 0;
            return cae__fail(e, CAE_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, ncap);
        }
        p = q;
        cap = ncap;
    }
    if (ferror(f)) {
        fclose(f);
        CONVAE_FREE(p);
        *len = 0;
        return cae__fail(e, CAE_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    *buf = p;
    return CAE_OK;
}

CONVAE_DEF int cae_idx_load(const char *path, cae_idx *out, cae_err *e)
{
    unsigned char *buf;
    size_t len;
    int r;
    if (!out) return cae__fail(e, CAE_ERR_ARG, "cae_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return cae__fail(e, CAE_ERR_ARG, "cae_idx_load: path is NULL");
    /* room for the largest header on top of CONVAE_MAX_BYTES of data */
    r = cae_read_file(path, &buf, &len, CONVAE_MAX_BYTES + 4 + 4 * CONVAE_IDX_MAX_DIMS, e);
    if (r != CAE_OK) return r;
    r = cae_idx_parse(buf, len, out, path, e);
    CONVAE_FREE(buf);
    return r;
}
#endif

CONVAE_DEF void cae_idx_free(cae_idx *x)
{
    if (!x) return;
    CONVAE_FREE(x->data);
    memset(x, 0, sizeof *x);
}

CONVAE_DEF double cae_idx_get(const cae_idx *x, size_t i)
{
    if (!x || !x->data || i >= x->count) return 0.0;
    switch (x->type) {
    case CAE_IDX_U8: return ((const unsigned char *)x->data)[i];
    case CAE_IDX_I8: return ((const signed char *)x->data)[i];
    case CAE_IDX_I16: return ((const short *)x->data)[i];
    case CAE_IDX_I32: return ((const int *)x->data)[i];
    case CAE_IDX_F32: return ((const float *)x->data)[i];
    case CAE_IDX_F64: return ((const double *)x->data)[i];
    default: return 0.0;
    }
}

/* ================================================================ NumPy files
   .npy: "\x93NUMPY", major, minor, the header's length (u16 in 1.0, u32 in 2.0 and 3.0), then
   a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
   with spaces to a multiple of 64 bytes, then the data. .npz: a zip archive; its central
   directory gives each member's method, sizes and local header. */
static const char *cae__npy_descr(int type)
{
    switch (type) {
    case CAE_IDX_U8: return "|u1";
    case CAE_IDX_I8: return "|i1";
    case CAE_IDX_I16: return "<i2";
    case CAE_IDX_I32: return "<i4";
    case CAE_IDX_F32: return "<f4";
    case CAE_IDX_F64: return "<f8";
    default: return NULL;
    }
}

/* the dict's text, with the padding that makes the header a multiple of 64 bytes; its length */
static size_t cae__npy_dict(const cae_idx *x, char *buf, size_t cap)
{
    size_t n = 0;
    const char *s;
    int i;
    for (s = "{'descr': '"; *s; s++) cae__putc(buf, cap, &n, *s);
    for (s = cae__npy_descr(x->type); *s; s++) cae__putc(buf, cap, &n, *s);
    for (s = "', 'fortran_order': False, 'shape': ("; *s; s++) cae__putc(buf, cap, &n, *s);
    for (i = 0; i < x->ndim; i++) {
        cae__putu(buf, cap, &n, (unsigned long long)x->dims[i], 10);
        if (i + 1 < x->ndim || x->ndim == 1) cae__putc(buf, cap, &n, ',');
        if (i + 1 < x->ndim) cae__putc(buf, cap, &n, ' ');
    }
    for (s = "), }"; *s; s++) cae__putc(buf, cap, &n, *s);
    while ((10 + n + 1) % 64) cae__putc(buf, cap, &n, ' ');
    cae__putc(buf, cap, &n, '\n');
    return n;
}

/* x's element count, or 0 with *bad set when its type or shape is not one a file can hold */
static size_t cae__npy_count(const cae_idx *x, int *bad)
{
    size_t count = 1;
    int i;
    *bad = !x || !cae__npy_descr(x->type) || x->ndim < 1 || x->ndim > CONVAE_IDX_MAX_DIMS ||
           x->elem_size != cae__idx_elem_size(x->type);
    for (i = 0; !*bad && i < x->ndim; i++) {
        if (x->dims[i] < 0) *bad = 1;
        else if (count && x->dims[i] && !(count = cae__mul(count, (size_t)x->dims[i]))) *bad = 1; /* as the reader */
        else if (!x->dims[i]) count = 0;
    }
    if (!*bad && count && (cae__mul(count, (size_t)x->elem_size) > CONVAE_MAX_BYTES || !x->data)) *bad = 1;
    return *bad ? 0 : count;
}

CONVAE_DEF size_t cae_npy_bytes(const cae_idx *x)
{
    char dict[256];
    int bad;
    size_t count = cae__npy_count(x, &bad);
    return bad ? 0 : 10 + cae__npy_dict(x, dict, sizeof dict) + count * (size_t)x->elem_size;
}

CONVAE_DEF int cae_npy_write_mem(const cae_idx *x, void *buf, size_t cap, cae_err *e)
{
    unsigned char *b = (unsigned char *)buf;
    size_t len = cae_npy_bytes(x), hl, bytes;
    char dict[256];
    int bad;
    if (!len || !buf) return cae__fail(e, CAE_ERR_ARG, "write .npy: no buffer, or an array no .npy holds");
    if (cap < len) return cae__fail(e, CAE_ERR_ARG, "write .npy: %zu bytes of room, the file has %zu", cap, len);
    bytes = cae__npy_count(x, &bad) * (size_t)x->elem_size;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    hl = cae__npy_dict(x, dict, sizeof dict); /* not in place: cae__putc leaves its last byte free, an empty array's '\n' */
    memcpy(b + 10, dict, hl);
    b[8] = (unsigned char)(hl & 255), b[9] = (unsigned char)(hl >> 8);
    if (bytes) memcpy(b + 10 + hl, x->data, bytes);
    if (!cae__host_is_le()) cae__swap_elems(b + 10 + hl, bytes / (size_t)x->elem_size, x->elem_size);
    return CAE_OK;
}

/* a cursor over the header's dict */
typedef struct cae__text {
    const char *p, *start, *end;
} cae__text;

static void cae__text_skip(cae__text *t)
{
    while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')) t->p++;
}

static int cae__text_eat(cae__text *t, char c)
{
    cae__text_skip(t);
    if (t->p < t->end && *t->p == c) return t->p++, 1;
    return 0;
}

/* a quoted string ('...' or "...", no escapes) into out, at most cap-1 characters */
static int cae__text_str(cae__text *t, char *out, size_t cap)
{
    char q;
    size_t n = 0;
    cae__text_skip(t);
    if (t->p >= t->end || (*t->p != '\'' && *t->p != '"')) return 0;
    q = *t->p++;
    while (t->p < t->end && *t->p != q && *t->p != '\\') {
        if (n + 1 >= cap) return 0;
        out[n++] = *t->p++;
    }
    if (t->p >= t->end || *t->p != q) return 0;
    t->p++;
    out[n] = 0;
    return 1;
}

static int cae__npy_dict_parse(cae__text *t, cae_idx *x, int *little, const char *name, cae_err *e)
{
    char key[32], descr[16];
    int have = 0, fortran = 0;
#define CAE__NPY_BAD(what) \
    cae__fail(e, CAE_ERR_FORMAT, "%s: .npy header: %s at offset %zu", name, what, (size_t)(t->p - t->start))
    if (!cae__text_eat(t, '{')) return CAE__NPY_BAD("expected '{'");
    while (!cae__text_eat(t, '}')) {
        if (!cae__text_str(t, key, sizeof key) || !cae__text_eat(t, ':')) return CAE__NPY_BAD("expected 'key':");
        cae__text_skip(t);
        if (!strcmp(key, "descr")) {
            if (!cae__text_str(t, descr, sizeof descr)) return CAE__NPY_BAD("descr is not a short string");
            have |= 1;
        } else if (!strcmp(key, "fortran_order")) {
            size_t left = (size_t)(t->end - t->p);
            if (left >= 4 && !memcmp(t->p, "True", 4)) fortran = 1, t->p += 4;
            else if (left >= 5 && !memcmp(t->p, "False", 5)) t->p += 5;
            else return CAE__NPY_BAD("fortran_order is not True or False");
            have |= 2;
        } else if (!strcmp(key, "shape")) {
            if (!cae__text_eat(t, '(')) return CAE__NPY_BAD("shape is not a tuple");
            x->ndim = 0;
            while (!cae__text_eat(t, ')')) {
                unsigned long long v = 0;
                int digits = 0;
                cae__text_skip(t);
                while (t->p < t->end && *t->p >= '0' && *t->p <= '9' && v <= 0x7FFFFFFF)
                    v = v * 10 + (unsigned long long)(*t->p++ - '0'), digits++;
                if (!digits || v > 0x7FFFFFFF) return CAE__NPY_BAD("a dimension is not a number 0..2147483647");
                if (x->ndim == CONVAE_IDX_MAX_DIMS) return CAE__NPY_BAD("more than 8 dimensions");
                x->dims[x->ndim++] = (int)v;
                if (!cae__text_eat(t, ',')) {
                    if (!cae__text_eat(t, ')')) return CAE__NPY_BAD("expected ',' or ')' in shape");
                    break;
                }
            }
            have |= 4;
        } else {
            return CAE__NPY_BAD("unknown key");
        }
        if (!cae__text_eat(t, ',')) {
            if (!cae__text_eat(t, '}')) return CAE__NPY_BAD("expected ',' or '}'");
            break;
        }
    }
    cae__text_skip(t);
    if (t->p != t->end) return CAE__NPY_BAD("text after the dict");
#undef CAE__NPY_BAD
    if (have != 7) return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy header lacks descr, fortran_order or shape", name);
    if (fortran)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: a Fortran-order array (save it with np.ascontiguousarray first)", name);
    if (!x->ndim)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: a 0-d array (a scalar); arrays of 1..8 dimensions are read", name);
    *little = descr[0] != '>';
    x->type = !strcmp(descr + 1, "u1") ? CAE_IDX_U8 : !strcmp(descr + 1, "i1") ? CAE_IDX_I8
            : !strcmp(descr + 1, "i2") ? CAE_IDX_I16 : !strcmp(descr + 1, "i4") ? CAE_IDX_I32
            : !strcmp(descr + 1, "f4") ? CAE_IDX_F32 : !strcmp(descr + 1, "f8") ? CAE_IDX_F64 : 0;
    x->elem_size = cae__idx_elem_size(x->type);
    if (!x->type || (descr[0] != '<' && descr[0] != '>' && descr[0] != '|') ||
        (descr[0] == '|') != (x->elem_size == 1))
        return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy dtype '%s': this reader takes u1 i1 i2 i4 f4 f8, '<' or '>'", name,
                         descr);
    return CAE_OK;
}

CONVAE_DEF int cae_npy_parse(const void *buf, size_t len, cae_idx *out, const char *name_for_errors, cae_err *e)
{
    const unsigned char *b = (const unsigned char *)buf;
    const char *name = name_for_errors ? name_for_errors : "<memory>";
    size_t hdr, bytes, count = 1;
    cae__text t;
    cae_idx x;
    int little = 1, rc, i;
    if (!out) return cae__fail(e, CAE_ERR_ARG, "%s: cae_npy_parse: out is NULL", name);
    memset(out, 0, sizeof *out);
    memset(&x, 0, sizeof x);
    if (!b && len) return cae__fail(e, CAE_ERR_ARG, "%s: cae_npy_parse: buf is NULL", name);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: not a .npy file (magic \\x93NUMPY missing at offset 0)", name);
    if (b[6] < 1 || b[6] > 3)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy format %d.%d, this reader takes 1.0, 2.0 and 3.0", name, b[6], b[7]);
    if (b[6] == 1) hdr = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
    else if (len < 12) return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy header truncated at offset %zu", name, len);
    else hdr = 12 + (size_t)cae__le32(b + 8);
    if (hdr > len || hdr > 65536 + 12)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy header of %zu bytes, the file has %zu", name, hdr, len);
    t.start = (const char *)b, t.p = (const char *)b + (b[6] == 1 ? 10 : 12), t.end = (const char *)b + hdr;
    if ((rc = cae__npy_dict_parse(&t, &x, &little, name, e)) != CAE_OK) return rc;
    for (i = 0; i < x.ndim && count; i++)
        if (!(count = cae__mul(count, (size_t)x.dims[i])) && x.dims[i])
            /* NOMEM, as a shape over CONVAE_MAX_BYTES: the same code where size_t has 32 bits */
            return cae__fail(e, CAE_ERR_NOMEM, "%s: .npy shape overflows size_t", name);
    for (i = 0; i < x.ndim; i++)
        if (!x.dims[i]) count = 0;
    bytes = cae__mul(count, (size_t)x.elem_size);
    if (count && (!bytes || bytes > CONVAE_MAX_BYTES))
        return cae__fail(e, CAE_ERR_NOMEM, "%s: .npy data of %zu elements exceeds CONVAE_MAX_BYTES", name, count);
    if (len - hdr != bytes)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: .npy header says %zu data bytes, %zu follow the %zu-byte header", name,
                         bytes, len - hdr, hdr);
    x.count = count;
    x.data = CONVAE_MALLOC(bytes ? bytes : 1);
    if (!x.data) return cae__fail(e, CAE_ERR_NOMEM, "%s: cannot allocate %zu bytes for the .npy data", name, bytes);
    if (bytes) memcpy(x.data, b + hdr, bytes);
    if (little != cae__host_is_le()) cae__swap_elems((unsigned char *)x.data, count, x.elem_size);
    *out = x;
    return CAE_OK;
}

static unsigned cae__le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

CONVAE_DEF int cae_npz_get(const void *buf, size_t len, const char *member, cae_idx *out, const char *name_for_errors,
                           cae_err *e)
{
    const unsigned char *b = (const unsigned char *)buf, *p, *eocd = NULL;
    const char *name = name_for_errors ? name_for_errors : "<memory>";
    size_t mlen = member ? strlen(member) : 0, cd, cd_end, i, entries;
    if (!out) return cae__fail(e, CAE_ERR_ARG, "%s: cae_npz_get: out is NULL", name);
    memset(out, 0, sizeof *out);
    if ((!b && len) || !member) return cae__fail(e, CAE_ERR_ARG, "%s: cae_npz_get: NULL buffer or member", name);
    /* the end of central directory record: the last "PK\5\6" with room for its comment */
    for (i = len >= 22 ? len - 22 + 1 : 0; i-- > 0 && len - i <= 22 + 65535;)
        if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 5 && b[i + 3] == 6 && i + 22 + cae__le16(b + i + 20) == len) {
            eocd = b + i;
            break;
        }
    if (!eocd) return cae__fail(e, CAE_ERR_FORMAT, "%s: not a .npz (zip) file: no end of central directory record", name);
    entries = cae__le16(eocd + 10), cd = cae__le32(eocd + 16), cd_end = cd + cae__le32(eocd + 12);
    if (cae__le16(eocd + 4) || cae__le16(eocd + 6) || cd_end > (size_t)(eocd - b) || cd_end < cd)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: zip central directory at %zu..%zu lies outside the file (or spans disks)",
                         name, cd, cd_end);
    for (p = b + cd, i = 0; i < entries; i++) {
        size_t nl, xl, cl, csize, usize, off, lh, data;
        unsigned method, flags;
        if ((size_t)(b + cd_end - p) < 46 || memcmp(p, "PK\1\2", 4) != 0)
            return cae__fail(e, CAE_ERR_FORMAT, "%s: zip central directory entry %zu at offset %zu is damaged", name, i,
                             (size_t)(p - b));
        flags = cae__le16(p + 8), method = cae__le16(p + 10);
        csize = cae__le32(p + 20), usize = cae__le32(p + 24), off = cae__le32(p + 42);
        nl = cae__le16(p + 28), xl = cae__le16(p + 30), cl = cae__le16(p + 32);
        if ((size_t)(b + cd_end - p) < 46 + nl + xl + cl)
            return cae__fail(e, CAE_ERR_FORMAT, "%s: zip entry %zu at offset %zu runs past the directory", name, i,
                             (size_t)(p - b));
        if (nl != mlen + 4 || memcmp(p + 46, member, mlen) != 0 || memcmp(p + 46 + mlen, ".npy", 4) != 0) {
            p += 46 + nl + xl + cl;
            continue;
        }
        if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || off == 0xFFFFFFFFu)
            return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy needs ZIP64 (over 4 GiB), which this reader does not take",
                             name, member);
        if (flags & 1) return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy is encrypted", name, member);
        if (off > len - 30 || len < 30 || memcmp(b + off, "PK\3\4", 4) != 0)
            return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy: no local header at offset %zu", name, member, off);
        lh = 30 + cae__le16(b + off + 26) + cae__le16(b + off + 28);
        data = off + lh;
        if (lh > len - off || csize > len - data || data + csize > cd)
            return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy: %zu bytes at offset %zu run past the data", name, member,
                             csize, data);
        if (usize > CONVAE_MAX_BYTES)
            return cae__fail(e, CAE_ERR_NOMEM, "%s: %s.npy of %zu bytes exceeds CONVAE_MAX_BYTES", name, member, usize);
        if (method == 0) {
            if (csize != usize || cae_crc32(0, b + data, csize) != cae__le32(p + 16))
                return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy: sizes or CRC-32 do not match its directory entry", name,
                                 member);
            return cae_npy_parse(b + data, csize, out, name, e);
        }
        if (method == 8) {
#ifndef CONVAE_NO_GZIP
            unsigned char *raw;
            size_t rawlen, used;
            int rc = cae_inflate(b + data, csize, &used, &raw, &rawlen, usize, e);
            if (rc) return rc;
            if (rawlen != usize || cae_crc32(0, raw, rawlen) != cae__le32(p + 16))
                rc = cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy inflates to %zu bytes, or a CRC-32, its entry does not say",
                               name, member, rawlen);
            else rc = cae_npy_parse(raw, rawlen, out, name, e);
            CONVAE_FREE(raw);
            return rc;
#else
            return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy is deflated and this build has no inflater (CONVAE_NO_GZIP)",
                             name, member);
#endif
        }
        return cae__fail(e, CAE_ERR_FORMAT, "%s: %s.npy uses zip method %u; stored (0) and deflated (8) are read", name,
                         member, method);
    }
    return cae__fail(e, CAE_ERR_FORMAT, "%s: no member %s.npy", name, member);
}

#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_npy_save(const char *path, const cae_idx *x, cae_err *e)
{
    size_t len = cae_npy_bytes(x);
    unsigned char *b;
    int rc;
    if (!path || !len) return cae__fail(e, CAE_ERR_ARG, "%s: no array, or one no .npy holds", path ? path : "save");
    if (!(b = (unsigned char *)CONVAE_MALLOC(len))) return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    rc = cae_npy_write_mem(x, b, len, e);
    if (rc == CAE_OK) rc = cae_write_file(path, b, len, e);
    CONVAE_FREE(b);
    return rc;
}

static void cae__put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 255), p[1] = (unsigned char)(v >> 8 & 255);
}

/* a zip header: local (PK\3\4, 30 bytes) or central (PK\1\2, 46 bytes), stored, dated 1980-01-01 */
static unsigned char *cae__zip_header(unsigned char *p, int central, const char *nm, size_t nl, unsigned long crc,
                                      size_t size, size_t off)
{
    unsigned char *q = p + (central ? 6 : 4);
    memset(p, 0, central ? 46 : 30);
    memcpy(p, central ? "PK\1\2" : "PK\3\4", 4);
    if (central) cae__put16(p + 4, 20);
    cae__put16(q, 20);                         /* version needed */
    cae__put16(q + 8, 0x21);                   /* date: 1980-01-01 */
    cae__put32(q + 10, crc);
    cae__put32(q + 14, (unsigned long)size), cae__put32(q + 18, (unsigned long)size);
    cae__put16(q + 22, (unsigned)nl + 4);
    if (central) cae__put32(p + 42, (unsigned long)off);
    p += central ? 46 : 30;
    memcpy(p, nm, nl);
    memcpy(p + nl, ".npy", 4);
    return p + nl + 4;
}

CONVAE_DEF int cae_npz_save(const char *path, const char *const *names, const cae_idx *arrays, int n, cae_err *e)
{
    size_t total = 22, cdsize = 0, off = 0;
    unsigned char *b, *p, *cd;
    unsigned long *crcs;
    int i, rc = CAE_OK;
    if (!path || (n && (!names || !arrays)) || n < 0 || n > 65535)
        return cae__fail(e, CAE_ERR_ARG, "save .npz: bad arguments");
    for (i = 0; i < n; i++) {
        size_t nl = names[i] ? strlen(names[i]) : 0, sz = cae_npy_bytes(arrays + i);
        if (!nl || nl > 255 || !sz)
            return cae__fail(e, CAE_ERR_ARG, "%s: member %d has no name, or an array no .npy holds", path, i);
        total += 30 + 46 + 2 * (nl + 4) + sz;
        if (total > CONVAE_MAX_BYTES) return cae__fail(e, CAE_ERR_NOMEM, "%s: more than CONVAE_MAX_BYTES", path);
    }
    b = (unsigned char *)CONVAE_MALLOC(total);
    crcs = (unsigned long *)CONVAE_MALLOC(sizeof(unsigned long) * (size_t)(n ? n : 1));
    if (!b || !crcs) {
        CONVAE_FREE(b), CONVAE_FREE(crcs);
        return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    }
    for (i = 0; i < n && rc == CAE_OK; i++) { /* each member: local header, then the .npy bytes */
        size_t nl = strlen(names[i]), sz = cae_npy_bytes(arrays + i);
        unsigned char *data = b + off + 30 + nl + 4;
        rc = cae_npy_write_mem(arrays + i, data, sz, e);
        crcs[i] = cae_crc32(0, data, sz);
        cae__zip_header(b + off, 0, names[i], nl, crcs[i], sz, 0);
        off += 30 + nl + 4 + sz;
    }
    for (cd = p = b + off, off = 0, i = 0; i < n && rc == CAE_OK; i++) { /* the central directory */
        size_t nl = strlen(names[i]), sz = cae_npy_bytes(arrays + i);
        p = cae__zip_header(p, 1, names[i], nl, crcs[i], sz, off);
        off += 30 + nl + 4 + sz;
    }
    cdsize = (size_t)(p - cd);
    memset(p, 0, 22);
    memcpy(p, "PK\5\6", 4);
    cae__put16(p + 8, (unsigned)n), cae__put16(p + 10, (unsigned)n);
    cae__put32(p + 12, (unsigned long)cdsize), cae__put32(p + 16, (unsigned long)(cd - b));
    if (rc == CAE_OK) rc = cae_write_file(path, b, total, e);
    CONVAE_FREE(b), CONVAE_FREE(crcs);
    return rc;
}
#endif

/* ================================================================ tensors */

CONVAE_DEF cae_tensor cae_tensor_of(float *data, int n, int h, int w, int c)
{
    cae_tensor t;
    t.n = n, t.h = h, t.w = w, t.c = c, t.data = data;
    return t;
}

CONVAE_DEF size_t cae_tensor_count(const cae_tensor *t)
{
    if (!t || t->n < 0 || t->h < 0 || t->w < 0 || t->c < 0) return 0;
    return (size_t)t->n * (size_t)t->h * (size_t)t->w * (size_t)t->c;
}

/* ================================================================ reference kernels
   Plain loops that follow the definitions. They always compile, and the tests hold every
   kernel set to them. */

static float cae__sigmoid1(float z)
{
    /* clamped so exp never overflows; |z| > 88 is 0 or 1 in float anyway */
    if (z > 88.0f) z = 88.0f;
    if (z < -88.0f) z = -88.0f;
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    {
        float ez = expf(z);
        return ez / (1.0f + ez);
    }
}

static float cae__act1(float z, int act)
{
    if (act == CAE_ACT_RELU) return z > 0.0f ? z : 0.0f;
    if (act == CAE_ACT_SIGMOID) return cae__sigmoid1(z);
    return z;
}

CONVAE_DEF void cae_conv2d_forward_ref(float *out, const float *in, const float *wt, const float *bias,
                                       int n, int h, int w, int ci, int co, int k, int act)
{
    int b, y, x, o, kh, kw, i, p = (k - 1) / 2;
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * ci;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                for (o = 0; o < co; o++) {
                    float s = bias ? bias[o] : 0.0f;
                    for (kh = 0; kh < k; kh++)
                        for (kw = 0; kw < k; kw++) {
                            int iy = y + kh - p, ix = x + kw - p;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            for (i = 0; i < ci; i++)
                                s += im[((size_t)iy * w + ix) * ci + i] * wt[((size_t)(kh * k + kw) * ci + i) * co + o];
                        }
                    out[(((size_t)b * h + y) * w + x) * co + o] = cae__act1(s, act);
                }
    }
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_conv2d_backward_ref(float *din, float *dwt, float *dbias, const float *dpre,
                                        const float *in, const float *wt,
                                        int n, int h, int w, int ci, int co, int k)
{
    int b, y, x, o, kh, kw, i, p = (k - 1) / 2;
    if (din) memset(din, 0, sizeof(float) * (size_t)n * h * w * ci);
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * ci;
        float *dim = din ? din + (size_t)b * h * w * ci : NULL;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                for (o = 0; o < co; o++) {
                    float g = dpre[(((size_t)b * h + y) * w + x) * co + o];
                    if (dbias) dbias[o] += g;
                    for (kh = 0; kh < k; kh++)
                        for (kw = 0; kw < k; kw++) {
                            int iy = y + kh - p, ix = x + kw - p;
                            size_t wi = (size_t)(kh * k + kw) * ci * co + o, ii = ((size_t)iy * w + ix) * ci;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            for (i = 0; i < ci; i++) {
                                if (dwt) dwt[wi + (size_t)i * co] += im[ii + i] * g;
                                if (dim) dim[ii + i] += wt[wi + (size_t)i * co] * g;
                            }
                        }
                }
    }
}
#endif

/* The 2x2 window of output (oy, ox): the offset in the image of its first input; the others are
   dx, dy and dx + dy further (CAE__POOL_AT(a0, dx, dy, k), k = 0..3). At an odd edge dx or dy is
   0: the missing inputs repeat the ones before them, which cannot win a strict comparison.
   Scalars, not an int[4]: compilers fill such an array with one vector store, and its four
   int loads then wait for the store (7 of a 44 ms training step at -O2 on an Intel Xeon). */
static int cae__pool_window(int oy, int ox, int h, int w, int c, int *dx, int *dy)
{
    *dx = 2 * ox + 1 < w ? c : 0;
    *dy = 2 * oy + 1 < h ? w * c : 0;
    return (2 * oy * w + 2 * ox) * c;
}
#define CAE__POOL_AT(a0, dx, dy, k) ((a0) + ((k) & 1 ? (dx) : 0) + ((k) & 2 ? (dy) : 0))

CONVAE_DEF void cae_maxpool2d_forward_ref(float *out, int *argmax, const float *in, int n, int h, int w, int c)
{
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, a1, a2, a3, dx, dy;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                a1 = a0 + dx, a2 = a0 + dy, a3 = a1 + dy;
                for (ch = 0; ch < c; ch++) {
                    float v = im[a0 + ch], t;
                    int best = a0 + ch;
                    t = im[a1 + ch], best = t > v ? a1 + ch : best, v = t > v ? t : v;
                    t = im[a2 + ch], best = t > v ? a2 + ch : best, v = t > v ? t : v;
                    t = im[a3 + ch], best = t > v ? a3 + ch : best, v = t > v ? t : v;
                    out[o + ch] = v;
                    if (argmax) argmax[o + ch] = best;
                }
            }
    }
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_maxpool2d_backward_ref(float *din, const float *dout, const int *argmax,
                                           int n, int h, int w, int c)
{
    size_t b, j, per_out = (size_t)((h + 1) / 2) * ((w + 1) / 2) * c, per_in = (size_t)h * w * c;
    memset(din, 0, sizeof(float) * per_in * n);
    for (b = 0; b < (size_t)n; b++)
        for (j = 0; j < per_out; j++) din[b * per_in + argmax[b * per_out + j]] += dout[b * per_out + j];
}
#endif

CONVAE_DEF void cae_upsample2d_forward_ref(float *out, const float *in, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *s = in + (((size_t)b * h + y) * w + x) * c;
                float *d0 = out + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                for (ch = 0; ch < c; ch++) d0[ch] = d0[c + ch] = d1[ch] = d1[c + ch] = s[ch];
            }
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_upsample2d_backward_ref(float *din, const float *dout, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *d0 = dout + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c;
                const float *d1 = d0 + (size_t)ow * c;
                float *di = din + (((size_t)b * h + y) * w + x) * c;
                for (ch = 0; ch < c; ch++) di[ch] = (d0[ch] + d0[c + ch]) + (d1[ch] + d1[c + ch]);
            }
}
#endif

CONVAE_DEF void cae_relu_forward_ref(float *y, const float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_relu_backward_ref(float *dx, const float *dy, const float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* columns o0..c-1 of cae_bias_backward_ref: the reference, and the other sets' channel tails */
static void cae__bias_cols(float *dbias, const float *dy, size_t n, int c, int o0)
{
    size_t j;
    int o;
    for (j = 0; j < n; j++)
        for (o = o0; o < c; o++) dbias[o] += dy[j * (size_t)c + o];
}

CONVAE_DEF void cae_bias_backward_ref(float *dbias, const float *dy, size_t n, int c)
{
    cae__bias_cols(dbias, dy, n, c, 0);
}
#endif

CONVAE_DEF void cae_sigmoid_forward(float *y, const float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] = cae__sigmoid1(x[i]);
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
#endif

/* The SIMD kernels' loops of up to 18 steps over small arrays (of vectors, and the tile
   pointers they are loaded through), fully unrolled at -O2 too: GCC's -O2 keeps them as loops,
   the vectors in memory; its -O3 unrolls them */
#if defined(__GNUC__) || defined(__clang__)
#define CAE__UNROLL _Pragma("GCC unroll 18")
#else
#define CAE__UNROLL
#endif

/* ================================================================ what every kernel set shares
   The convolution runs on a zero-padded copy of its input, so the inner loops have no
   bounds checks: out[y][x][:] += P[y+kh][x+kw][i] * W[kh][kw][i][:]. The input gradient is
   the same loop over the padded output gradient with the kernel flipped and transposed.

   Winograd F(2x2,3x3), for 3x3 convolutions with ci % 8 == 0 and co % 16 == 0 in the sets that
   have its kernels: each 2x2 output tile comes from a 4x4 input tile: V = Bt d B, M = V U
   summed over input channels (16 small matrix products, one per tile position), Y = At M A.
   16 multiplies per tile and channel pair instead of 36. U = G g Gt is computed once per
   weight update. F(4x4,3x3) (the AVX-512 set's) takes 6x6 input tiles to 4x4 output tiles: 36
   multiplies for 16 outputs, 2.25 per output against F(2x2)'s 4 and a direct convolution's 9,
   for larger rounding (the tests hold both to the direct _ref); its kernels are 2.25 times as
   large, which pays where several images go through a layer together (the trainer's slices). */
static const float cae__wino_G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const double cae__wino_G4[6][3] = {{1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                          {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                          {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

/* the shapes Winograd takes, whichever set runs them */
static int cae__wino_shape(int ci, int co, int k)
{
    return k == 3 && ci % 8 == 0 && co % 16 == 0;
}

/* The 16 planes of V [16][T][ci] and M [16][T][co] lie CAE__WINO_GAP floats further apart
   than they need: planes a multiple of 4 KiB apart (7x7 images, 64 channels) would all fall in
   the same cache set. */
#define CAE__WINO_GAP 16
#define CAE__WINO_PLANE(T, c) ((size_t)(T) * (size_t)(c) + CAE__WINO_GAP)
/* F(4x4) keeps V and M tile after tile ([T][36][c]), with the same gap after each tile's 36
   rows: tiles a multiple of 4 KiB apart would share cache sets too. */
#define CAE__WINO4_TILE(c) ((size_t)36 * (size_t)(c) + CAE__WINO_GAP)

/* one image's Winograd scratch, for F(2x2) (the padded copy, V and M) or for F(4x4) (V and M,
   or dM, of up to 15 tiles more: its weight gradient takes small images a few at a time),
   whichever is larger */
static size_t cae__wino_floats(int h, int w, int ci, int co)
{
    size_t th = (size_t)(h + 1) / 2, tw = (size_t)(w + 1) / 2, f2, f4;
    f2 = (2 * th + 2) * ((2 * tw + 2) * (size_t)ci + CAE__WINO_GAP) + 16 * (CAE__WINO_PLANE(th * tw, ci) + CAE__WINO_PLANE(th * tw, co));
    th = (size_t)(h + 3) / 4, tw = (size_t)(w + 3) / 4;
    f4 = (th * tw + 15) * (CAE__WINO4_TILE(ci) + CAE__WINO4_TILE(co));
    return f2 > f4 ? f2 : f4;
}

CONVAE_DEF void cae_conv2d_wino_kernel(int m, float *U, const float *wt, int ci, int co)
{
    const float(*G)[3] = cae__wino_G;
    size_t i, o, n = (size_t)ci * co;
    int a, b, r, c;
    if (m == 4) { /* in double, each value rounded once; 64 (input, output) pairs at a time, the
                     pair innermost, so that the loops vectorise */
        const double(*G4)[3] = cae__wino_G4;
        double t[6][3][64];
        size_t j, nj;
        for (i = 0; i < n; i += nj) {
            nj = n - i < 64 ? n - i : 64;
            for (a = 0; a < 6; a++)
                for (c = 0; c < 3; c++) {
                    const float *g0 = wt + (size_t)c * n + i, *g1 = g0 + 3 * n, *g2 = g1 + 3 * n;
                    for (j = 0; j < nj; j++) t[a][c][j] = G4[a][0] * g0[j] + G4[a][1] * g1[j] + G4[a][2] * g2[j];
                }
            for (a = 0; a < 6; a++)
                for (b = 0; b < 6; b++) {
                    float *u = U + (size_t)(a * 6 + b) * n + i;
                    for (j = 0; j < nj; j++) u[j] = (float)(t[a][0][j] * G4[b][0] + t[a][1][j] * G4[b][1] + t[a][2][j] * G4[b][2]);
                }
        }
        return;
    }
    for (i = 0; i < (size_t)ci; i++)
        for (o = 0; o < (size_t)co; o++) {
            float g[3][3], t[4][3];
            for (r = 0; r < 3; r++)
                for (c = 0; c < 3; c++) g[r][c] = wt[(size_t)(r * 3 + c) * n + i * co + o];
            for (a = 0; a < 4; a++)
                for (c = 0; c < 3; c++) t[a][c] = G[a][0] * g[0][c] + G[a][1] * g[1][c] + G[a][2] * g[2][c];
            for (a = 0; a < 4; a++)
                for (b = 0; b < 4; b++)
                    U[(size_t)(a * 4 + b) * n + i * co + o] = t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2];
        }
}

#ifndef CONVAE_NO_TRAIN
/* G4's rows carried back, sums and differences first: with u = six values along one direction,
   s = u1+u2, d = u1-u2, S = u3+u4, D = u3-u4, they give u0/4 - s/6 + S/24, -d/6 + D/12 and
   (S - s)/6 + u5 (the zeros and pairs of cae__wino_G4); 12 operations instead of 36. */
#define CAE__G4T(t0, t1, t2, u0, u1, u2, u3, u4, u5)                                         \
    do {                                                                                   \
        double s_ = (double)(u1) + (u2), d_ = (double)(u1) - (u2);                         \
        double S_ = (double)(u3) + (u4), D_ = (double)(u3) - (u4);                         \
        t0 = 0.25 * (u0) - s_ * (1.0 / 6) + S_ * (1.0 / 24);                               \
        t1 = D_ * (1.0 / 12) - d_ * (1.0 / 6);                                             \
        t2 = (S_ - s_) * (1.0 / 6) + (u5);                                                 \
    } while (0)

/* F(4x4)'s weight gradient for 16 (input, output) pairs: dwt[rc*ds + i] += (Gt dU G)[r][c] for
   the pair at i, with dU's 36 rows us apart. A constant width, so that it vectorises at -O2. */
static void cae__wino4_grad16(float *dwt, size_t ds, const float *dU, size_t us)
{
    double t[3][6][16];
    int i, r, b;
    for (b = 0; b < 6; b++)
        for (i = 0; i < 16; i++) {
            const float *u = dU + (size_t)b * us + i;
            CAE__G4T(t[0][b][i], t[1][b][i], t[2][b][i], u[0], u[6 * us], u[12 * us], u[18 * us], u[24 * us],
                     u[30 * us]);
        }
    for (r = 0; r < 3; r++)
        for (i = 0; i < 16; i++) {
            float *d = dwt + (size_t)r * 3 * ds + i;
            double a0, a1, a2;
            CAE__G4T(a0, a1, a2, t[r][0][i], t[r][1][i], t[r][2][i], t[r][3][i], t[r][4][i], t[r][5][i]);
            d[0] = (float)(d[0] + a0), d[ds] = (float)(d[ds] + a1), d[2 * ds] = (float)(d[2 * ds] + a2);
        }
}

/* F(2x2)'s, in float: G's rows carried back are u0 + (u1+u2)/2, (u1-u2)/2 and (u1+u2)/2 + u3 */
static void cae__wino2_grad16(float *dwt, size_t ds, const float *dU, size_t us)
{
    float t[3][4][16];
    int i, r, b;
    for (b = 0; b < 4; b++)
        for (i = 0; i < 16; i++) {
            const float *u = dU + (size_t)b * us + i;
            float s = 0.5f * (u[4 * us] + u[8 * us]);
            t[0][b][i] = u[0] + s, t[1][b][i] = 0.5f * (u[4 * us] - u[8 * us]), t[2][b][i] = s + u[12 * us];
        }
    for (r = 0; r < 3; r++)
        for (i = 0; i < 16; i++) {
            float *d = dwt + (size_t)r * 3 * ds + i, s = 0.5f * (t[r][1][i] + t[r][2][i]);
            d[0] += t[r][0][i] + s, d[ds] += 0.5f * (t[r][1][i] - t[r][2][i]), d[2 * ds] += s + t[r][3][i];
        }
}

/* dwt [3][3][ci][co] += Gt dU G: the gradient of U = G g Gt carried back to the kernel; 16
   (input, output) pairs at a time, a last few through a copy 16 wide */
CONVAE_DEF void cae_conv2d_wino_grad(int m, float *dwt, const float *dU, int ci, int co)
{
    void (*f)(float *, size_t, const float *, size_t) = m == 4 ? cae__wino4_grad16 : cae__wino2_grad16;
    size_t j, n = (size_t)ci * co;
    int a, r, planes = (m + 2) * (m + 2);
    for (j = 0; j + 16 <= n; j += 16) f(dwt + j, n, dU + j, n);
    if (j < n) {
        float u[36][16], d[9][16];
        size_t nj = n - j;
        memset(u, 0, sizeof u), memset(d, 0, sizeof d);
        for (a = 0; a < planes; a++) memcpy(u[a], dU + (size_t)a * n + j, sizeof(float) * nj);
        for (r = 0; r < 9; r++) memcpy(d[r], dwt + (size_t)r * n + j, sizeof(float) * nj);
        f(d[0], 16, u[0], 16);
        for (r = 0; r < 9; r++) memcpy(dwt + (size_t)r * n + j, d[r], sizeof(float) * nj);
    }
}
#endif

/* scratch of one convolution of one image: the padded input (or the Winograd tiles) */
static size_t cae__conv_scratch(int h, int w, int ci, int co, int k)
{
    size_t c = (size_t)(ci > co ? ci : co), pad = (size_t)(h + k - 1) * (size_t)(w + k - 1) * c, wi = 0;
    if (cae__wino_shape(ci, co, k)) wi = cae__wino_floats(h, w, ci, co);
    if (cae__wino_shape(co, ci, k) && cae__wino_floats(h, w, co, ci) > wi) wi = cae__wino_floats(h, w, co, ci);
    return pad > wi ? pad : wi;
}

/* the scratch, then room for the flipped kernel, a Winograd kernel and a weight gradient in its
   domain (36 planes each at most) */
CONVAE_DEF size_t cae_conv2d_work_floats(int h, int w, int ci, int co, int k)
{
    return cae__conv_scratch(h, w, ci, co, k) + (size_t)k * k * ci * co + 72 * (size_t)ci * co;
}

#if defined(__GNUC__) || defined(__clang__)
#define CAE__MAYBE_UNUSED __attribute__((unused))
#else
#define CAE__MAYBE_UNUSED
#endif

/* Zero-padded copy of one image for Winograd F(2x2,3x3) (the AVX2 and NEON sets), one
   row/column before it and the rest after: (2 th + 2) rows of (2 tw + 2) pixels, each row
   CAE__WINO_ROW floats long (a gap after it, so that rows a multiple of 4 KiB long do not share
   cache sets); only the border is zeroed. Returns the copy's end. (A build with no SIMD set has
   no use for it.) */
#define CAE__WINO_ROW(w, ci) ((size_t)(2 * (((w) + 1) / 2) + 2) * (size_t)(ci) + CAE__WINO_GAP)

CAE__MAYBE_UNUSED static float *cae__wino_pad(float *P, const float *in, int h, int w, int ci)
{
    int ph = 2 * ((h + 1) / 2) + 2, y;
    size_t row = CAE__WINO_ROW(w, ci), right = row - (size_t)(w + 1) * ci;
    memset(P, 0, sizeof(float) * row);
    for (y = 0; y < h; y++) {
        float *d = P + (size_t)(y + 1) * row;
        memset(d, 0, sizeof(float) * ci);
        memcpy(d + ci, in + (size_t)y * w * ci, sizeof(float) * (size_t)w * ci);
        memset(d + (size_t)(w + 1) * ci, 0, sizeof(float) * right);
    }
    memset(P + (size_t)(h + 1) * row, 0, sizeof(float) * row * (size_t)(ph - 1 - h));
    return P + (size_t)ph * row;
}

/* dst [(h+k-1),(w+k-1),c] = src [h,w,c] with `top` zero rows/columns before and k-1-top after */
static void cae__pad(float *dst, const float *src, int h, int w, int c, int k, int top)
{
    int y, pw = w + k - 1, ph = h + k - 1;
    size_t row = (size_t)pw * c, left = (size_t)top * c, right = (size_t)(k - 1 - top) * c;
    memset(dst, 0, sizeof(float) * row * top); /* only the border is zeroed */
    for (y = 0; y < h; y++) {
        float *d = dst + (size_t)(y + top) * row;
        memset(d, 0, sizeof(float) * left);
        memcpy(d + left, src + (size_t)y * w * c, sizeof(float) * (size_t)w * c);
        memset(d + left + (size_t)w * c, 0, sizeof(float) * right);
    }
    memset(dst + (size_t)(h + top) * row, 0, sizeof(float) * row * (size_t)(ph - h - top));
}

/* one image, output channels [o0,o1): out [h,w,co] = act(bias + P (*) wt), P padded
   [h+k-1,w+k-1,ci]. Plain C: the scalar set, and the other sets'
   channel tails. */
static void cae__conv_padded_c(float *out, const float *P, const float *wt, const float *bias,
                               int h, int w, int ci, int co, int k, int act, int o0, int o1)
{
    int y, x, kh, kw, i, o, pw = w + k - 1;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            float *op = out + ((size_t)y * w + x) * co;
            for (o = o0; o < o1; o++) op[o] = bias ? bias[o] : 0.0f;
            for (kh = 0; kh < k; kh++)
                for (kw = 0; kw < k; kw++) {
                    const float *pp = P + ((size_t)(y + kh) * pw + x + kw) * ci;
                    const float *wk = wt + (size_t)(kh * k + kw) * ci * co;
                    for (i = 0; i < ci; i++) {
                        float a = pp[i];
                        const float *wr = wk + (size_t)i * co;
                        for (o = o0; o < o1; o++) op[o] += a * wr[o];
                    }
                }
            if (act == CAE_ACT_RELU)
                for (o = o0; o < o1; o++) op[o] = op[o] > 0.0f ? op[o] : 0.0f;
            else if (act == CAE_ACT_SIGMOID)
                for (o = o0; o < o1; o++) op[o] = cae__sigmoid1(op[o]);
        }
}

#ifndef CONVAE_NO_TRAIN
/* one image, output channels [o0,o1): dwt [k,k,ci,co] += sum over pixels of
   P[y+kh][x+kw][i] * dpre[y][x][o] */
static void cae__conv_dw_padded_c(float *dwt, const float *P, const float *dpre, int h, int w, int ci, int co,
                                  int k, int o0, int o1)
{
    int y, x, kh, kw, i, o, pw = w + k - 1;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            const float *g = dpre + ((size_t)y * w + x) * co;
            for (kh = 0; kh < k; kh++)
                for (kw = 0; kw < k; kw++) {
                    const float *pp = P + ((size_t)(y + kh) * pw + x + kw) * ci;
                    float *dk = dwt + (size_t)(kh * k + kw) * ci * co;
                    for (i = 0; i < ci; i++) {
                        float a = pp[i];
                        float *dr = dk + (size_t)i * co;
                        for (o = o0; o < o1; o++) dr[o] += a * g[o];
                    }
                }
        }
}
#endif

/* wf [k,k,co,ci] = wt [k,k,ci,co] turned 180 degrees with in/out swapped */
CONVAE_DEF void cae_conv2d_flip(float *wf, const float *wt, int ci, int co, int k)
{
    int kh, kw, i, o;
    for (kh = 0; kh < k; kh++)
        for (kw = 0; kw < k; kw++)
            for (o = 0; o < co; o++)
                for (i = 0; i < ci; i++)
                    wf[((size_t)(kh * k + kw) * co + o) * ci + i] =
                        wt[((size_t)((k - 1 - kh) * k + (k - 1 - kw)) * ci + i) * co + o];
}

/* ---- the table each instruction set fills. conv and conv_dw run on one zero-padded image
   (cae__pad), all output channels; wino_conv on one image and wino_dw on n of a shape that
   cae__wino_shape takes (NULL in a set without Winograd kernels). The element-wise entries
   must give the _ref loops' values exactly, bit for bit. */
struct cae_kernels {
    const char *name, *about;
    int (*usable)(void); /* the CPU runs this set */
    int wino;            /* m of the set's Winograd F(m x m, 3x3), 2 or 4 (wino_conv's, and the domain
                            of wino_dw's gradient); 0: none */
    void (*conv)(float *out, const float *P, const float *wt, const float *bias, int h, int w, int ci, int co,
                 int k, int act);
    void (*wino_conv)(float *out, const float *in, const float *U, const float *bias, int h, int w, int ci, int co,
                      int act, float *work);
    void (*maxpool_fwd)(float *out, int *argmax, const float *in, int n, int h, int w, int c);
    void (*upsample_fwd)(float *out, const float *in, int n, int h, int w, int c);
    void (*relu_fwd)(float *y, const float *x, size_t n);
    double (*bce_sum)(const float *z, const float *t, size_t n); /* cae_bce_logits' value */
#ifndef CONVAE_NO_TRAIN
    void (*conv_dw)(float *dwt, const float *P, const float *dpre, int h, int w, int ci, int co, int k);
    void (*wino_dw)(float *dU, const float *in, size_t is, const float *dpre, size_t gs, int n, int h, int w, int ci,
                    int co, float *work); /* n images, is and gs floats apart */
    void (*maxpool_bwd)(float *din, const float *dout, const int *argmax, int n, int h, int w, int c);
    void (*upsample_bwd)(float *din, const float *dout, int n, int h, int w, int c);
    void (*relu_bwd)(float *dx, const float *dy, const float *y, size_t n);
    void (*bias_bwd)(float *dbias, const float *dy, size_t n, int c);
#endif
};

/* the entries of the backward passes, left out of inference-only builds */
#ifndef CONVAE_NO_TRAIN
#define CAE__TRAIN_ENTRIES(conv_dw, wino_dw, maxpool_bwd, upsample_bwd, relu_bwd, bias_bwd) \
    , conv_dw, wino_dw, maxpool_bwd, upsample_bwd, relu_bwd, bias_bwd
#else
#define CAE__TRAIN_ENTRIES(conv_dw, wino_dw, maxpool_bwd, upsample_bwd, relu_bwd, bias_bwd)
#endif

/* ================================================================ the scalar set */

static int cae__scalar_usable(void)
{
    return 1;
}

static void cae__scalar_conv(float *out, const float *P, const float *wt, const float *bias, int h, int w, int ci,
                             int co, int k, int act)
{
    cae__conv_padded_c(out, P, wt, bias, h, w, ci, co, k, act, 0, co);
}

#ifndef CONVAE_NO_TRAIN
static void cae__scalar_conv_dw(float *dwt, const float *P, const float *dpre, int h, int w, int ci, int co, int k)
{
    cae__conv_dw_padded_c(dwt, P, dpre, h, w, ci, co, k, 0, co);
}
#endif

static double cae__scalar_bce_sum(const float *z, const float *t, size_t n)
{
    return cae_bce_logits(z, t, n, NULL, 0.0f);
}

static const cae_kernels cae__set_scalar = {
    "scalar", "plain C loops: the reference every other set is tested against", cae__scalar_usable, 0,
    cae__scalar_conv, NULL, cae_maxpool2d_forward_ref, cae_upsample2d_forward_ref, cae_relu_forward_ref,
    cae__scalar_bce_sum
    CAE__TRAIN_ENTRIES(cae__scalar_conv_dw, NULL, cae_maxpool2d_backward_ref, cae_upsample2d_backward_ref,
                       cae_relu_backward_ref, cae_bias_backward_ref)};

/* ================================================================ the AVX2 + FMA set
   With GCC or clang on x86 every function here carries a target attribute, so the set is
   compiled whatever the flags and runs where the CPU reports AVX2 and FMA. Other compilers
   build it only when their flags already promise AVX2 and FMA (e.g. MSVC /arch:AVX2). */
#if !defined(CONVAE_NO_SIMD) && (defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86))
#if (defined(__GNUC__) && __GNUC__ >= 5) || defined(__clang__)
#define CAE__AVX2 1
#define CAE__AVX2_FN __attribute__((target("avx2,fma")))
#elif defined(__AVX2__) && defined(__FMA__)
#define CAE__AVX2 1
#define CAE__AVX2_FN
#endif
#endif

#ifdef CAE__AVX2
#include <immintrin.h>

static int cae__avx2_usable(void)
{
#if (defined(__GNUC__) && __GNUC__ >= 5) || defined(__clang__)
    __builtin_cpu_init(); /* needed only before constructors run; cheap after */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 1; /* the build flags promised it */
#endif
}

/* 6 output pixels x 16 output channels: 12 accumulators, two weight vectors and one broadcast
   live in registers. px[r] points at pixel r's top-left tap in the padded input, op[r] at its
   output; pixels past the end of the image repeat the last one and are not stored (nr). */
static inline CAE__AVX2_FN void cae__avx2_fwd_6x16(float *const *op, const float *const *px, int nr, const float *wt, const float *bias,
                              int ci, int co, int k, int pwc, int relu)
{
    __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
    int kh, kw, i;
    a00 = a10 = a20 = a30 = a40 = a50 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    a01 = a11 = a21 = a31 = a41 = a51 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (kh = 0; kh < k; kh++)
        for (kw = 0; kw < k; kw++) {
            size_t off = (size_t)kh * pwc + (size_t)kw * ci;
            const float *q0 = px[0] + off, *q1 = px[1] + off, *q2 = px[2] + off, *q3 = px[3] + off,
                        *q4 = px[4] + off, *q5 = px[5] + off, *wk = wt + (size_t)(kh * k + kw) * ci * co;
            for (i = 0; i < ci; i++, wk += co) {
                __m256 w0 = _mm256_loadu_ps(wk), w1 = _mm256_loadu_ps(wk + 8), b;
                b = _mm256_broadcast_ss(q0 + i), a00 = _mm256_fmadd_ps(b, w0, a00), a01 = _mm256_fmadd_ps(b, w1, a01);
                b = _mm256_broadcast_ss(q1 + i), a10 = _mm256_fmadd_ps(b, w0, a10), a11 = _mm256_fmadd_ps(b, w1, a11);
                b = _mm256_broadcast_ss(q2 + i), a20 = _mm256_fmadd_ps(b, w0, a20), a21 = _mm256_fmadd_ps(b, w1, a21);
                b = _mm256_broadcast_ss(q3 + i), a30 = _mm256_fmadd_ps(b, w0, a30), a31 = _mm256_fmadd_ps(b, w1, a31);
                b = _mm256_broadcast_ss(q4 + i), a40 = _mm256_fmadd_ps(b, w0, a40), a41 = _mm256_fmadd_ps(b, w1, a41);
                b = _mm256_broadcast_ss(q5 + i), a50 = _mm256_fmadd_ps(b, w0, a50), a51 = _mm256_fmadd_ps(b, w1, a51);
            }
        }
    if (relu) {
        __m256 z = _mm256_setzero_ps();
        a00 = _mm256_max_ps(a00, z), a01 = _mm256_max_ps(a01, z), a10 = _mm256_max_ps(a10, z);
        a11 = _mm256_max_ps(a11, z), a20 = _mm256_max_ps(a20, z), a21 = _mm256_max_ps(a21, z);
        a30 = _mm256_max_ps(a30, z), a31 = _mm256_max_ps(a31, z), a40 = _mm256_max_ps(a40, z);
        a41 = _mm256_max_ps(a41, z), a50 = _mm256_max_ps(a50, z), a51 = _mm256_max_ps(a51, z);
    }
    _mm256_storeu_ps(op[0], a00), _mm256_storeu_ps(op[0] + 8, a01);
    if (nr > 1) _mm256_storeu_ps(op[1], a10), _mm256_storeu_ps(op[1] + 8, a11);
    if (nr > 2) _mm256_storeu_ps(op[2], a20), _mm256_storeu_ps(op[2] + 8, a21);
    if (nr > 3) _mm256_storeu_ps(op[3], a30), _mm256_storeu_ps(op[3] + 8, a31);
    if (nr > 4) _mm256_storeu_ps(op[4], a40), _mm256_storeu_ps(op[4] + 8, a41);
    if (nr > 5) _mm256_storeu_ps(op[5], a50), _mm256_storeu_ps(op[5] + 8, a51);
}

/* One input channel, 3x3: the nine weights of 8 output channels stay in registers and each
   pixel is a chain of nine FMAs, six pixels at a time (the first layer's forward and the last
   layer's input gradient). */
static CAE__AVX2_FN void cae__avx2_fwd_c1k3(float *out, const float *P, const float *wt, const float *bias, int h, int w, int co,
                              int relu)
{
    int pw = w + 2, o, y, x, r;
    for (o = 0; o < co; o += 8) {
        __m256 w0 = _mm256_loadu_ps(wt + o), w1 = _mm256_loadu_ps(wt + co + o), w2 = _mm256_loadu_ps(wt + 2 * co + o);
        __m256 w3 = _mm256_loadu_ps(wt + 3 * co + o), w4 = _mm256_loadu_ps(wt + 4 * co + o);
        __m256 w5 = _mm256_loadu_ps(wt + 5 * co + o), w6 = _mm256_loadu_ps(wt + 6 * co + o);
        __m256 w7 = _mm256_loadu_ps(wt + 7 * co + o), w8 = _mm256_loadu_ps(wt + 8 * co + o);
        __m256 b = bias ? _mm256_loadu_ps(bias + o) : _mm256_setzero_ps(), z = _mm256_setzero_ps();
        for (y = 0; y < h; y++) {
            const float *r0 = P + (size_t)y * pw, *r1 = r0 + pw, *r2 = r1 + pw;
            float *op = out + (size_t)y * w * co + o;
            for (x = 0; x < w; x += 6) {
                __m256 a[6];
                int nr = w - x < 6 ? w - x : 6;
                CAE__UNROLL
                for (r = 0; r < 6; r++) { /* past the row's end, redo its last pixel */
                    int xx = x + (r < nr ? r : nr - 1);
                    __m256 acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + xx), w0, b);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + xx + 1), w1, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + xx + 2), w2, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + xx), w3, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + xx + 1), w4, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + xx + 2), w5, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + xx), w6, acc);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + xx + 1), w7, acc);
                    a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + xx + 2), w8, acc);
                }
                for (r = 0; r < nr; r++) _mm256_storeu_ps(op + (size_t)(x + r) * co, relu ? _mm256_max_ps(a[r], z) : a[r]);
            }
        }
    }
}

static CAE__AVX2_FN float cae__avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One output channel, ci a multiple of 8. With co = 1 a kernel row kh is k*ci contiguous
   weights that meet k*ci contiguous inputs, so each pixel is a dot product of k such rows;
   eight pixels at a time keep eight independent FMA chains going. */
static CAE__AVX2_FN void cae__avx2_fwd_co1(float *out, const float *P, const float *wt, const float *bias, int h, int w, int ci,
                             int k, int act)
{
    int pw = w + k - 1, npix = h * w, len = k * ci, j, r, kh, l, y = 0, x = 0;
    for (j = 0; j < npix; j += 8) {
        const float *q[8];
        __m256 a0, a1, a2, a3, a4, a5, a6, a7;
        int nr = npix - j < 8 ? npix - j : 8;
        for (r = 0; r < 8; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
            q[r] = P + ((size_t)y * pw + x) * ci;
            if (r < nr - 1 && ++x == w) x = 0, y++;
        }
        if (++x == w) x = 0, y++;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm256_setzero_ps();
        for (kh = 0; kh < k; kh++) {
            size_t off = (size_t)kh * pw * ci;
            const float *wk = wt + (size_t)kh * len;
            for (l = 0; l < len; l += 8) {
                __m256 wv = _mm256_loadu_ps(wk + l);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[0] + off + l), wv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[1] + off + l), wv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q[2] + off + l), wv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q[3] + off + l), wv, a3);
                a4 = _mm256_fmadd_ps(_mm256_loadu_ps(q[4] + off + l), wv, a4);
                a5 = _mm256_fmadd_ps(_mm256_loadu_ps(q[5] + off + l), wv, a5);
                a6 = _mm256_fmadd_ps(_mm256_loadu_ps(q[6] + off + l), wv, a6);
                a7 = _mm256_fmadd_ps(_mm256_loadu_ps(q[7] + off + l), wv, a7);
            }
        }
        {
            float z[8];
            z[0] = cae__avx2_hsum(a0), z[1] = cae__avx2_hsum(a1), z[2] = cae__avx2_hsum(a2), z[3] = cae__avx2_hsum(a3);
            z[4] = cae__avx2_hsum(a4), z[5] = cae__avx2_hsum(a5), z[6] = cae__avx2_hsum(a6), z[7] = cae__avx2_hsum(a7);
            for (r = 0; r < nr; r++) out[j + r] = cae__act1(z[r] + (bias ? bias[0] : 0.0f), act);
        }
    }
}

#ifndef CONVAE_NO_TRAIN
/* dW rows (tap, input channel) x 16 output channels, summed over all pixels of one image:
   roff[r] is row r's offset from a pixel's top-left tap in the padded input. */
static CAE__AVX2_FN void cae__avx2_dw_6x16(float *dw, int nr, const int *roff, const float *P, const float *g, int h, int w,
                             int ci, int co, int k)
{
    __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
    int y, x, pw = w + k - 1, r0 = roff[0], r1 = roff[1], r2 = roff[2], r3 = roff[3], r4 = roff[4], r5 = roff[5];
    a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
    for (y = 0; y < h; y++) {
        const float *p = P + (size_t)y * pw * ci, *gr = g + (size_t)y * w * co;
        for (x = 0; x < w; x++, p += ci, gr += co) {
            __m256 g0 = _mm256_loadu_ps(gr), g1 = _mm256_loadu_ps(gr + 8), b;
            b = _mm256_broadcast_ss(p + r0), a00 = _mm256_fmadd_ps(b, g0, a00), a01 = _mm256_fmadd_ps(b, g1, a01);
            b = _mm256_broadcast_ss(p + r1), a10 = _mm256_fmadd_ps(b, g0, a10), a11 = _mm256_fmadd_ps(b, g1, a11);
            b = _mm256_broadcast_ss(p + r2), a20 = _mm256_fmadd_ps(b, g0, a20), a21 = _mm256_fmadd_ps(b, g1, a21);
            b = _mm256_broadcast_ss(p + r3), a30 = _mm256_fmadd_ps(b, g0, a30), a31 = _mm256_fmadd_ps(b, g1, a31);
            b = _mm256_broadcast_ss(p + r4), a40 = _mm256_fmadd_ps(b, g0, a40), a41 = _mm256_fmadd_ps(b, g1, a41);
            b = _mm256_broadcast_ss(p + r5), a50 = _mm256_fmadd_ps(b, g0, a50), a51 = _mm256_fmadd_ps(b, g1, a51);
        }
    }
#define CAE__ADDTO(row, lo, hi)                                                                                   \
    if (nr > row) {                                                                                               \
        float *d = dw + (size_t)(row) * co;                                                                       \
        _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), lo));                                               \
        _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), hi));                                       \
    }
    CAE__ADDTO(0, a00, a01)
    CAE__ADDTO(1, a10, a11)
    CAE__ADDTO(2, a20, a21)
    CAE__ADDTO(3, a30, a31)
    CAE__ADDTO(4, a40, a41)
    CAE__ADDTO(5, a50, a51)
#undef CAE__ADDTO
}

/* dW for one output channel, ci a multiple of 8: kernel row kh is k*ci contiguous weights,
   fed by k*ci contiguous inputs per pixel; 96 of them (12 accumulators) at a time. */
static CAE__AVX2_FN void cae__avx2_dw_co1(float *dw, const float *P, const float *g, int h, int w, int ci, int k)
{
    int pw = w + k - 1, len = k * ci, kh, l, y, x, v;
    for (kh = 0; kh < k; kh++)
        for (l = 0; l < len; l += 96) {
            float *d = dw + (size_t)kh * len + l;
            const float *p0 = P + (size_t)kh * pw * ci + l;
            if (len - l >= 96) {
                __m256 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm256_setzero_ps();
                for (y = 0; y < h; y++) {
                    const float *p = p0 + (size_t)y * pw * ci, *gr = g + (size_t)y * w;
                    for (x = 0; x < w; x++, p += ci) {
                        __m256 b = _mm256_broadcast_ss(gr + x);
                        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), b, a0);
                        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8), b, a1);
                        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 16), b, a2);
                        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 24), b, a3);
                        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 32), b, a4);
                        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 40), b, a5);
                        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 48), b, a6);
                        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 56), b, a7);
                        a8 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 64), b, a8);
                        a9 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 72), b, a9);
                        a10 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 80), b, a10);
                        a11 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 88), b, a11);
                    }
                }
#define CAE__ADD8(off, a) _mm256_storeu_ps(d + (off), _mm256_add_ps(_mm256_loadu_ps(d + (off)), a))
                CAE__ADD8(0, a0), CAE__ADD8(8, a1), CAE__ADD8(16, a2), CAE__ADD8(24, a3);
                CAE__ADD8(32, a4), CAE__ADD8(40, a5), CAE__ADD8(48, a6), CAE__ADD8(56, a7);
                CAE__ADD8(64, a8), CAE__ADD8(72, a9), CAE__ADD8(80, a10), CAE__ADD8(88, a11);
            } else {
                for (v = l; v < len; v += 8) { /* fewer than 96 left: one vector at a time */
                    __m256 a = _mm256_setzero_ps();
                    for (y = 0; y < h; y++) {
                        const float *p = P + (size_t)kh * pw * ci + v + (size_t)y * pw * ci, *gr = g + (size_t)y * w;
                        for (x = 0; x < w; x++, p += ci) a = _mm256_fmadd_ps(_mm256_loadu_ps(p), _mm256_broadcast_ss(gr + x), a);
                    }
                    CAE__ADD8(v - l, a);
                }
#undef CAE__ADD8
            }
        }
}

#endif


/* V [16][T][ci] = Bt d B for every 4x4 input tile d of one zero-padded image; returns V,
   which sits in work after the padded copy. */
static CAE__AVX2_FN float *cae__avx2_wino_input(const float *in, int h, int w, int ci, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, i, xi, r;
    size_t prow = CAE__WINO_ROW(w, ci);
    float *P = work, *V = cae__wino_pad(P, in, h, w, ci);
    size_t vs = CAE__WINO_PLANE(T, ci); /* stride between tile positions */
    for (t = 0; t < T; t++) {
        const float *d = P + (size_t)(t / tw) * 2 * prow + (size_t)(t % tw) * 2 * ci;
        for (i = 0; i < ci; i += 8) {
            __m256 q[4][4], s[4][4];
            CAE__UNROLL
            for (r = 0; r < 4; r++)
                for (xi = 0; xi < 4; xi++) q[r][xi] = _mm256_loadu_ps(d + (size_t)r * prow + (size_t)xi * ci + i);
            for (xi = 0; xi < 4; xi++) { /* Bt d: rows */
                s[0][xi] = _mm256_sub_ps(q[0][xi], q[2][xi]);
                s[1][xi] = _mm256_add_ps(q[1][xi], q[2][xi]);
                s[2][xi] = _mm256_sub_ps(q[2][xi], q[1][xi]);
                s[3][xi] = _mm256_sub_ps(q[1][xi], q[3][xi]);
            }
            CAE__UNROLL
            for (r = 0; r < 4; r++) { /* (Bt d) B: columns */
                float *v = V + (size_t)(r * 4) * vs + (size_t)t * ci + i;
                _mm256_storeu_ps(v, _mm256_sub_ps(s[r][0], s[r][2]));
                _mm256_storeu_ps(v + vs, _mm256_add_ps(s[r][1], s[r][2]));
                _mm256_storeu_ps(v + 2 * vs, _mm256_sub_ps(s[r][2], s[r][1]));
                _mm256_storeu_ps(v + 3 * vs, _mm256_sub_ps(s[r][1], s[r][3]));
            }
        }
    }
    return V;
}

/* one image: out [h,w,co] = act(bias + in (*) wt) with U = cae_conv2d_wino_kernel(wt) */
static CAE__AVX2_FN void cae__avx2_wino_conv(float *out, const float *in, const float *U, const float *bias, int h, int w, int ci,
                           int co, int act, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, o, xi, r;
    size_t vs = CAE__WINO_PLANE(T, ci), ms = CAE__WINO_PLANE(T, co);
    float *V = cae__avx2_wino_input(in, h, w, ci, work), *M = V + 16 * vs;
    /* 16 products M[xi] = V[xi] U[xi]: a 1x1 convolution over the tiles */
    for (xi = 0; xi < 16; xi++)
        for (o = 0; o < co; o += 16)
            for (t = 0; t < T; t += 6) {
                const float *px[6];
                float *op[6];
                int nr = T - t < 6 ? T - t : 6;
                for (r = 0; r < 6; r++) {
                    int tt = t + (r < nr ? r : nr - 1);
                    px[r] = V + (size_t)xi * vs + (size_t)tt * ci;
                    op[r] = M + (size_t)xi * ms + (size_t)tt * co + o;
                }
                cae__avx2_fwd_6x16(op, px, nr, U + (size_t)xi * ci * co + o, NULL, ci, co, 1, 0, 0);
            }
    /* output transform, bias and activation */
    for (t = 0; t < T; t++) {
        int ty = t / tw * 2, tx = t % tw * 2;
        for (o = 0; o < co; o += 8) {
            __m256 m[16], s[2][4], b = bias ? _mm256_loadu_ps(bias + o) : _mm256_setzero_ps(), z = _mm256_setzero_ps();
            for (xi = 0; xi < 16; xi++) m[xi] = _mm256_loadu_ps(M + (size_t)xi * ms + (size_t)t * co + o);
            for (xi = 0; xi < 4; xi++) { /* At m: rows */
                s[0][xi] = _mm256_add_ps(_mm256_add_ps(m[xi], m[4 + xi]), m[8 + xi]);
                s[1][xi] = _mm256_sub_ps(_mm256_sub_ps(m[4 + xi], m[8 + xi]), m[12 + xi]);
            }
            for (r = 0; r < 2; r++) {
                __m256 y0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), s[r][2]), b);
                __m256 y1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[r][1], s[r][2]), s[r][3]), b);
                if (act == CAE_ACT_RELU) y0 = _mm256_max_ps(y0, z), y1 = _mm256_max_ps(y1, z);
                if (ty + r >= h) break;
                _mm256_storeu_ps(out + ((size_t)(ty + r) * w + tx) * co + o, y0);
                if (tx + 1 < w) _mm256_storeu_ps(out + ((size_t)(ty + r) * w + tx + 1) * co + o, y1);
            }
        }
    }
    if (act == CAE_ACT_SIGMOID) cae_sigmoid_forward(out, out, (size_t)h * w * co);
}

#ifndef CONVAE_NO_TRAIN
/* one image: dU [16][ci][co] += sum over tiles of V (x) dM, dM = A dY At the transformed
   2x2 tiles of the output gradient (zero past the image). cae_conv2d_wino_grad turns the sum
   into the kernel gradient, once per slice of a step. */
static CAE__AVX2_FN void cae__avx2_wino_dw1(float *dU, const float *in, const float *dpre, int h, int w, int ci, int co, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, o, xi, r, r0, rows;
    size_t vs = CAE__WINO_PLANE(T, ci), ms = CAE__WINO_PLANE(T, co);
    float *V = cae__avx2_wino_input(in, h, w, ci, work), *dM = V + 16 * vs;
    __m256 z = _mm256_setzero_ps();
    for (t = 0; t < T; t++) {
        int ty = t / tw * 2, tx = t % tw * 2;
        const float *g = dpre + ((size_t)ty * w + tx) * co;
        int right = tx + 1 < w, down = ty + 1 < h;
        for (o = 0; o < co; o += 8) {
            __m256 a = _mm256_loadu_ps(g + o), b = right ? _mm256_loadu_ps(g + co + o) : z;
            __m256 c = down ? _mm256_loadu_ps(g + (size_t)w * co + o) : z;
            __m256 d = right && down ? _mm256_loadu_ps(g + (size_t)(w + 1) * co + o) : z;
            /* A dY: rows [a b], [a+c b+d], [a-c b-d], [-c -d]; then each row [p q] -> [p, p+q, p-q, -q] */
            __m256 p[4], q[4];
            p[0] = a, q[0] = b;
            p[1] = _mm256_add_ps(a, c), q[1] = _mm256_add_ps(b, d);
            p[2] = _mm256_sub_ps(a, c), q[2] = _mm256_sub_ps(b, d);
            p[3] = _mm256_sub_ps(z, c), q[3] = _mm256_sub_ps(z, d);
            CAE__UNROLL
            for (r = 0; r < 4; r++) {
                float *m = dM + (size_t)(r * 4) * ms + (size_t)t * co + o;
                _mm256_storeu_ps(m, p[r]);
                _mm256_storeu_ps(m + ms, _mm256_add_ps(p[r], q[r]));
                _mm256_storeu_ps(m + 2 * ms, _mm256_sub_ps(p[r], q[r]));
                _mm256_storeu_ps(m + 3 * ms, _mm256_sub_ps(z, q[r]));
            }
        }
    }
    /* 16 products dU[xi] += V[xi]^T dM[xi], summed over the tiles */
    rows = ci;
    for (xi = 0; xi < 16; xi++)
        for (o = 0; o < co; o += 16)
            for (r0 = 0; r0 < rows; r0 += 6) {
                int roff[6], nr = rows - r0 < 6 ? rows - r0 : 6;
                for (r = 0; r < 6; r++) roff[r] = r0 + (r < nr ? r : nr - 1);
                cae__avx2_dw_6x16(dU + ((size_t)xi * ci + r0) * co + o, nr, roff, V + (size_t)xi * vs,
                                 dM + (size_t)xi * ms + o, 1, T, ci, co, 1);
            }
}

/* the weight gradient of n images, is and gs floats apart, one after the other */
static CAE__AVX2_FN void cae__avx2_wino_dw(float *dU, const float *in, size_t is, const float *dpre, size_t gs, int n,
                                           int h, int w, int ci, int co, float *work)
{
    int b;
    for (b = 0; b < n; b++) cae__avx2_wino_dw1(dU, in + (size_t)b * is, dpre + (size_t)b * gs, h, w, ci, co, work);
}
#endif

/* one image: out [h,w,co] = act(bias + P (*) wt), the kernel that fits the shape; output
   channels past the last multiple of 16 go to the plain loop */
static CAE__AVX2_FN void cae__avx2_conv(float *out, const float *P, const float *wt, const float *bias, int h, int w,
                                        int ci, int co, int k, int act)
{
    int o0 = 0, pw = w + k - 1, npix = h * w, j, r, y, x, relu = act == CAE_ACT_RELU;
    if (co == 1 && ci % 8 == 0) {
        cae__avx2_fwd_co1(out, P, wt, bias, h, w, ci, k, act);
        return;
    }
    if (ci == 1 && k == 3 && co % 8 == 0) {
        cae__avx2_fwd_c1k3(out, P, wt, bias, h, w, co, relu);
        if (act == CAE_ACT_SIGMOID) cae_sigmoid_forward(out, out, (size_t)h * w * co);
        return;
    }
    for (; o0 + 16 <= co; o0 += 16)
        for (j = 0, y = 0, x = 0; j < npix; j += 6) {
            const float *px[6];
            float *op[6];
            int nr = npix - j < 6 ? npix - j : 6;
            for (r = 0; r < 6; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
                px[r] = P + ((size_t)y * pw + x) * ci;
                op[r] = out + ((size_t)y * w + x) * co + o0;
                if (r < nr - 1 && ++x == w) x = 0, y++;
            }
            if (++x == w) x = 0, y++;
            if (ci == 1 && k == 3) /* first layer: constants let the compiler unroll the 9 taps */
                cae__avx2_fwd_6x16(op, px, nr, wt + o0, bias ? bias + o0 : NULL, 1, co, 3, pw, relu);
            else
                cae__avx2_fwd_6x16(op, px, nr, wt + o0, bias ? bias + o0 : NULL, ci, co, k, pw * ci, relu);
            if (act == CAE_ACT_SIGMOID)
                for (r = 0; r < nr; r++) cae_sigmoid_forward(op[r], op[r], 16);
        }
    if (o0 < co) cae__conv_padded_c(out, P, wt, bias, h, w, ci, co, k, act, o0, co);
}

/* pooling, upsampling and ReLU: eight channels at a time, the same values as the _ref loops
   (which take the shapes whose channel count is not a multiple of 8) */
static CAE__AVX2_FN void cae__avx2_maxpool_fwd(float *out, int *argmax, const float *in, int n, int h, int w, int c)
{
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    if (c % 8) {
        cae_maxpool2d_forward_ref(out, argmax, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 8) {
                    __m256 v = _mm256_loadu_ps(im + a0 + ch);
                    __m256i best = _mm256_add_epi32(_mm256_set1_epi32(a0 + ch), iota);
                    for (k = 1; k < 4; k++) { /* strictly greater: ties keep the earlier input */
                        __m256 t = _mm256_loadu_ps(im + CAE__POOL_AT(a0, dx, dy, k) + ch),
                               gt = _mm256_cmp_ps(t, v, _CMP_GT_OQ);
                        __m256i at = _mm256_add_epi32(_mm256_set1_epi32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota);
                        v = _mm256_blendv_ps(v, t, gt);
                        best = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(best), _mm256_castsi256_ps(at), gt));
                    }
                    _mm256_storeu_ps(out + o + ch, v);
                    if (argmax) _mm256_storeu_si256((__m256i *)(void *)(argmax + o + ch), best);
                }
            }
    }
}

static CAE__AVX2_FN void cae__avx2_upsample_fwd(float *out, const float *in, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 8) {
        cae_upsample2d_forward_ref(out, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *s = in + (((size_t)b * h + y) * w + x) * c;
                float *d0 = out + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                for (ch = 0; ch < c; ch += 8) {
                    __m256 v = _mm256_loadu_ps(s + ch);
                    _mm256_storeu_ps(d0 + ch, v), _mm256_storeu_ps(d0 + c + ch, v);
                    _mm256_storeu_ps(d1 + ch, v), _mm256_storeu_ps(d1 + c + ch, v);
                }
            }
}

static CAE__AVX2_FN void cae__avx2_relu_fwd(float *y, const float *x, size_t n)
{
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(_mm256_loadu_ps(x + i), z)); /* NaN -> 0 */
    cae_relu_forward_ref(y + i, x + i, n - i);
}

/* log(1 + exp(-a)) for a >= 0 (a past 87 as 87: the value is then below 1e-37 either way).
   exp: -a = n ln2 + r, |r| <= ln2/2, e^r by its Taylor series to r^7, times 2^n. log(u), u = 1 + e
   in (1, 2]: u = 2^k m with m in [1/sqrt2, sqrt2], log m = 2 atanh(s), s = (m-1)/(m+1), to s^9.
   Then log1p(e) = log(u) e / (u - 1), which undoes the rounding of 1 + e (e itself where u is 1). */
static CAE__AVX2_FN __m256 cae__avx2_log1p_exp_neg(__m256 a)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    __m256 x = _mm256_max_ps(_mm256_sub_ps(zero, a), _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x), p, e, u, big, m, sm, s2, q, lg, d;
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 5040), r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, one);
    p = _mm256_fmadd_ps(p, r, one);
    e = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
    e = _mm256_mul_ps(p, e); /* times 2^n, n >= -126 */
    u = _mm256_add_ps(one, e);
    big = _mm256_cmp_ps(u, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(u, _mm256_mul_ps(u, _mm256_set1_ps(0.5f)), big);
    sm = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
    s2 = _mm256_mul_ps(sm, sm);
    q = _mm256_fmadd_ps(_mm256_set1_ps(2.0f / 9), s2, _mm256_set1_ps(2.0f / 7));
    q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(2.0f / 5));
    q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(2.0f / 3));
    q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(2.0f));
    lg = _mm256_fmadd_ps(sm, q, _mm256_and_ps(big, _mm256_set1_ps(0.693147181f)));
    d = _mm256_sub_ps(u, one);
    return _mm256_blendv_ps(_mm256_mul_ps(lg, _mm256_div_ps(e, d)), e, _mm256_cmp_ps(d, zero, _CMP_EQ_OQ));
}

/* cae_bce_logits' value: max(z,0) - z t as the reference takes it, in float, plus the above,
   each added in double, 8 lanes; the last n % 8 by the reference */
static CAE__AVX2_FN double cae__avx2_bce_sum(const float *z, const float *t, size_t n)
{
    __m256d acc = _mm256_setzero_pd();
    __m256 zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    double lane[4];
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 zi = _mm256_loadu_ps(z + i), ti = _mm256_loadu_ps(t + i);
        __m256 lin = _mm256_sub_ps(_mm256_max_ps(zi, zero), _mm256_mul_ps(zi, ti));
        __m256 l = cae__avx2_log1p_exp_neg(_mm256_andnot_ps(sign, zi));
        acc = _mm256_add_pd(acc, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(lin)),
                                               _mm256_cvtps_pd(_mm256_castps256_ps128(l))));
        acc = _mm256_add_pd(acc, _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(lin, 1)),
                                               _mm256_cvtps_pd(_mm256_extractf128_ps(l, 1))));
    }
    _mm256_storeu_pd(lane, acc);
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + cae_bce_logits(z + i, t + i, n - i, NULL, 0.0f);
}

#ifndef CONVAE_NO_TRAIN
/* one image: dwt [k,k,ci,co] += P (x) dpre */
static CAE__AVX2_FN void cae__avx2_conv_dw(float *dwt, const float *P, const float *dpre, int h, int w, int ci, int co,
                                           int k)
{
    int o0 = 0, pw = w + k - 1, rows = k * k * ci, r0, r;
    if (co == 1 && ci % 8 == 0) {
        cae__avx2_dw_co1(dwt, P, dpre, h, w, ci, k);
        return;
    }
    for (; o0 + 16 <= co; o0 += 16)
        for (r0 = 0; r0 < rows; r0 += 6) {
            int roff[6], nr = rows - r0 < 6 ? rows - r0 : 6;
            for (r = 0; r < 6; r++) {
                int row = r0 + (r < nr ? r : nr - 1), t = row / ci, i = row % ci;
                roff[r] = ((t / k) * pw + t % k) * ci + i;
            }
            cae__avx2_dw_6x16(dwt + (size_t)r0 * co + o0, nr, roff, P, dpre + o0, h, w, ci, co, k);
        }
    if (o0 < co) cae__conv_dw_padded_c(dwt, P, dpre, h, w, ci, co, k, o0, co);
}

static CAE__AVX2_FN void cae__avx2_maxpool_bwd(float *din, const float *dout, const int *argmax, int n, int h, int w,
                                               int c)
{
    /* the windows tile the input, so each input gets its gradient or 0 written exactly once
       (an odd edge's repeated positions get the same value twice) */
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    if (c % 8) {
        cae_maxpool2d_backward_ref(din, dout, argmax, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        float *di = din + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 8) {
                    __m256 g = _mm256_loadu_ps(dout + o + ch);
                    __m256i am = _mm256_loadu_si256((const __m256i *)(const void *)(argmax + o + ch));
                    for (k = 0; k < 4; k++) {
                        __m256i at = _mm256_add_epi32(_mm256_set1_epi32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota);
                        __m256 hit = _mm256_castsi256_ps(_mm256_cmpeq_epi32(am, at));
                        _mm256_storeu_ps(di + CAE__POOL_AT(a0, dx, dy, k) + ch, _mm256_and_ps(hit, g));
                    }
                }
            }
    }
}

static CAE__AVX2_FN void cae__avx2_upsample_bwd(float *din, const float *dout, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 8) {
        cae_upsample2d_backward_ref(din, dout, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *d0 = dout + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                float *di = din + (((size_t)b * h + y) * w + x) * c;
                for (ch = 0; ch < c; ch += 8) { /* (d00 + d01) + (d10 + d11), as the reference adds */
                    __m256 top = _mm256_add_ps(_mm256_loadu_ps(d0 + ch), _mm256_loadu_ps(d0 + c + ch));
                    __m256 bot = _mm256_add_ps(_mm256_loadu_ps(d1 + ch), _mm256_loadu_ps(d1 + c + ch));
                    _mm256_storeu_ps(di + ch, _mm256_add_ps(top, bot));
                }
            }
}

static CAE__AVX2_FN void cae__avx2_relu_bwd(float *dx, const float *dy, const float *y, size_t n)
{
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_GT_OQ);
        _mm256_storeu_ps(dx + i, _mm256_and_ps(on, _mm256_loadu_ps(dy + i)));
    }
    cae_relu_backward_ref(dx + i, dy + i, y + i, n - i);
}

/* 32 channels at a time in four registers, then 8 at a time, row after row as the reference */
static CAE__AVX2_FN void cae__avx2_bias_bwd(float *db, const float *dy, size_t n, int c)
{
    size_t j;
    int o = 0;
    for (; o + 32 <= c; o += 32) {
        __m256 a0 = _mm256_loadu_ps(db + o), a1 = _mm256_loadu_ps(db + o + 8), a2 = _mm256_loadu_ps(db + o + 16);
        __m256 a3 = _mm256_loadu_ps(db + o + 24);
        for (j = 0; j < n; j++) {
            const float *g = dy + j * (size_t)c + o;
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(g)), a1 = _mm256_add_ps(a1, _mm256_loadu_ps(g + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(g + 16)), a3 = _mm256_add_ps(a3, _mm256_loadu_ps(g + 24));
        }
        _mm256_storeu_ps(db + o, a0), _mm256_storeu_ps(db + o + 8, a1);
        _mm256_storeu_ps(db + o + 16, a2), _mm256_storeu_ps(db + o + 24, a3);
    }
    for (; o + 8 <= c; o += 8) {
        __m256 a = _mm256_loadu_ps(db + o);
        for (j = 0; j < n; j++) a = _mm256_add_ps(a, _mm256_loadu_ps(dy + j * (size_t)c + o));
        _mm256_storeu_ps(db + o, a);
    }
    cae__bias_cols(db, dy, n, c, o);
}
#endif /* CONVAE_NO_TRAIN */

static const cae_kernels cae__set_avx2 = {
    "avx2", "AVX2+FMA: 6x16 register tiles, Winograd F(2x2,3x3), 8-wide pooling and ReLU", cae__avx2_usable, 2,
    cae__avx2_conv, cae__avx2_wino_conv, cae__avx2_maxpool_fwd, cae__avx2_upsample_fwd, cae__avx2_relu_fwd,
    cae__avx2_bce_sum
    CAE__TRAIN_ENTRIES(cae__avx2_conv_dw, cae__avx2_wino_dw, cae__avx2_maxpool_bwd, cae__avx2_upsample_bwd,
                       cae__avx2_relu_bwd, cae__avx2_bias_bwd)};
#define CAE__SET_AVX2 , &cae__set_avx2
#else
#define CAE__SET_AVX2
#endif /* CAE__AVX2 */

/* ================================================================ the AVX-512 set
   AVX512F on 16-float zmm registers, for the shapes whose channel counts are multiples of 16;
   the other shapes (and the one-output-channel kernels, which gain nothing here) go to the AVX2
   kernels, which every AVX-512 CPU runs. Tiles are re-chosen for 32 registers: up to 8 rows
   (pixels, Winograd tiles or kernel rows) x 32 channels, 16 accumulators. As the AVX2 set, it
   is compiled with target attributes under GCC and clang (and only when the flags enable
   AVX512F elsewhere) and chosen when the CPU reports AVX512F, AVX2 and FMA. */
#if defined(CAE__AVX2) && ((defined(__GNUC__) && __GNUC__ >= 5) || defined(__clang__))
#define CAE__AVX512 1
#define CAE__AVX512_FN __attribute__((target("avx512f,avx2,fma")))
#define CAE__AVX512_INLINE __attribute__((always_inline)) inline
#elif defined(CAE__AVX2) && defined(__AVX512F__)
#define CAE__AVX512 1
#define CAE__AVX512_FN
#if defined(_MSC_VER)
#define CAE__AVX512_INLINE __forceinline
#else
#define CAE__AVX512_INLINE inline
#endif
#endif

#ifdef CAE__AVX512
/* max(a, b), and the sum of the 16 lanes, through the mask forms: the plain _mm512_max_ps and
   _mm512_reduce_add_ps start from an undefined register, which g++ -O2 -Wall warns about */
#define CAE__MAX512(a, b) _mm512_maskz_max_ps((__mmask16)0xFFFF, a, b)

static CAE__AVX512_INLINE CAE__AVX512_FN float cae__avx512_hsum(__m512 v)
{
    __m512 t = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4((__mmask16)0xFFFF, v, v, 0x4E)); /* halves swapped */
    __m128 s;
    t = _mm512_add_ps(t, _mm512_maskz_shuffle_f32x4((__mmask16)0xFFFF, t, t, 0xB1)); /* 128-bit pairs swapped */
    s = _mm512_maskz_extractf32x4_ps((__mmask8)0xF, t, 0);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static int cae__avx512_usable(void)
{
#if (defined(__GNUC__) && __GNUC__ >= 5) || defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 1; /* the build flags promised it */
#endif
}

/* R rows (R <= 8, a constant where it is inlined) x NV*16 channels: out[r][:] = bias +
   sum over taps and input channels of px[r][tap][i] * wt[tap][i][:]. px[r] points at row r's
   first tap, op[r] at its output; rows past nr repeat the last one and are not stored. pwc is
   the stride between kernel rows in the input (taps kw step by ci). */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_fwd_tile(const int R, const int NV, float *const *op,
                                                                   const float *const *px, int nr, const float *wt,
                                                                   const float *bias, int ci, int co, int k, int pwc,
                                                                   int relu)
{
    __m512 z = _mm512_setzero_ps(), b0 = bias ? _mm512_loadu_ps(bias) : z;
    __m512 b1 = bias && NV > 1 ? _mm512_loadu_ps(bias + 16) : z;
    __m512 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
    __m512 a40 = b0, a41 = b1, a50 = b0, a51 = b1, a60 = b0, a61 = b1, a70 = b0, a71 = b1;
    int kh, kw, i;
    for (kh = 0; kh < k; kh++)
        for (kw = 0; kw < k; kw++) {
            size_t off = (size_t)kh * pwc + (size_t)kw * ci;
            const float *q0 = px[0] + off, *q1 = px[R > 1 ? 1 : 0] + off, *q2 = px[R > 2 ? 2 : 0] + off;
            const float *q3 = px[R > 3 ? 3 : 0] + off, *q4 = px[R > 4 ? 4 : 0] + off, *q5 = px[R > 5 ? 5 : 0] + off;
            const float *q6 = px[R > 6 ? 6 : 0] + off, *q7 = px[R > 7 ? 7 : 0] + off;
            const float *wk = wt + (size_t)(kh * k + kw) * ci * co;
            for (i = 0; i < ci; i++, wk += co) {
                __m512 w0 = _mm512_loadu_ps(wk), w1 = NV > 1 ? _mm512_loadu_ps(wk + 16) : z, v;
                v = _mm512_set1_ps(q0[i]), a00 = _mm512_fmadd_ps(v, w0, a00);
                if (NV > 1) a01 = _mm512_fmadd_ps(v, w1, a01);
                if (R > 1) {
                    v = _mm512_set1_ps(q1[i]), a10 = _mm512_fmadd_ps(v, w0, a10);
                    if (NV > 1) a11 = _mm512_fmadd_ps(v, w1, a11);
                }
                if (R > 2) {
                    v = _mm512_set1_ps(q2[i]), a20 = _mm512_fmadd_ps(v, w0, a20);
                    if (NV > 1) a21 = _mm512_fmadd_ps(v, w1, a21);
                }
                if (R > 3) {
                    v = _mm512_set1_ps(q3[i]), a30 = _mm512_fmadd_ps(v, w0, a30);
                    if (NV > 1) a31 = _mm512_fmadd_ps(v, w1, a31);
                }
                if (R > 4) {
                    v = _mm512_set1_ps(q4[i]), a40 = _mm512_fmadd_ps(v, w0, a40);
                    if (NV > 1) a41 = _mm512_fmadd_ps(v, w1, a41);
                }
                if (R > 5) {
                    v = _mm512_set1_ps(q5[i]), a50 = _mm512_fmadd_ps(v, w0, a50);
                    if (NV > 1) a51 = _mm512_fmadd_ps(v, w1, a51);
                }
                if (R > 6) {
                    v = _mm512_set1_ps(q6[i]), a60 = _mm512_fmadd_ps(v, w0, a60);
                    if (NV > 1) a61 = _mm512_fmadd_ps(v, w1, a61);
                }
                if (R > 7) {
                    v = _mm512_set1_ps(q7[i]), a70 = _mm512_fmadd_ps(v, w0, a70);
                    if (NV > 1) a71 = _mm512_fmadd_ps(v, w1, a71);
                }
            }
        }
    if (relu) {
        a00 = CAE__MAX512(a00, z), a01 = CAE__MAX512(a01, z), a10 = CAE__MAX512(a10, z);
        a11 = CAE__MAX512(a11, z), a20 = CAE__MAX512(a20, z), a21 = CAE__MAX512(a21, z);
        a30 = CAE__MAX512(a30, z), a31 = CAE__MAX512(a31, z), a40 = CAE__MAX512(a40, z);
        a41 = CAE__MAX512(a41, z), a50 = CAE__MAX512(a50, z), a51 = CAE__MAX512(a51, z);
        a60 = CAE__MAX512(a60, z), a61 = CAE__MAX512(a61, z), a70 = CAE__MAX512(a70, z);
        a71 = CAE__MAX512(a71, z);
    }
#define CAE__ST(r, lo, hi)                                                                                             \
    if (R > r && nr > r) {                                                                                             \
        _mm512_storeu_ps(op[r], lo);                                                                                   \
        if (NV > 1) _mm512_storeu_ps(op[r] + 16, hi);                                                                  \
    }
    CAE__ST(0, a00, a01)
    CAE__ST(1, a10, a11)
    CAE__ST(2, a20, a21)
    CAE__ST(3, a30, a31)
    CAE__ST(4, a40, a41)
    CAE__ST(5, a50, a51)
    CAE__ST(6, a60, a61)
    CAE__ST(7, a70, a71)
#undef CAE__ST
}

/* the tile shapes the kernels below use, as functions of their own */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_fwd_8x32(float *const *op, const float *const *px, int nr,
                                                                   const float *wt, const float *bias, int ci, int co,
                                                                   int k, int pwc, int relu)
{
    cae__avx512_fwd_tile(8, 2, op, px, nr, wt, bias, ci, co, k, pwc, relu);
}

static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_fwd_4x32(float *const *op, const float *const *px, int nr,
                                                                   const float *wt, const float *bias, int ci, int co,
                                                                   int k, int pwc, int relu)
{
    cae__avx512_fwd_tile(4, 2, op, px, nr, wt, bias, ci, co, k, pwc, relu);
}

static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_fwd_8x16(float *const *op, const float *const *px, int nr,
                                                                   const float *wt, const float *bias, int ci, int co,
                                                                   int k, int pwc, int relu)
{
    cae__avx512_fwd_tile(8, 1, op, px, nr, wt, bias, ci, co, k, pwc, relu);
}

/* one input channel, 3x3, NV*16 output channels from o: the nine weight vectors of each 16 in
   registers; four pixels at a time, each pixel NV chains of nine FMAs (eight chains in flight
   for 32 channels); past the row's end the last pixel is redone and not stored */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_c1k3_cols(const int NV, float *out, const float *P,
                                                                    const float *wt, const float *bias, int h, int w,
                                                                    int co, int o, int relu)
{
    __m512 wv[2][9], b[2], z = _mm512_setzero_ps();
    int pw = w + 2, y, x, r, t, v;
    CAE__UNROLL
    for (v = 0; v < NV; v++) {
        CAE__UNROLL
        for (t = 0; t < 9; t++) wv[v][t] = _mm512_loadu_ps(wt + (size_t)t * co + o + 16 * v);
        b[v] = bias ? _mm512_loadu_ps(bias + o + 16 * v) : z;
    }
    for (y = 0; y < h; y++) {
        const float *p0 = P + (size_t)y * pw, *p1 = p0 + pw, *p2 = p1 + pw;
        float *op = out + (size_t)y * w * co + o;
        for (x = 0; x < w; x += 4) {
            __m512 a[4][2];
            int nr = w - x < 4 ? w - x : 4;
            CAE__UNROLL
            for (r = 0; r < 4; r++) {
                int q = x + (r < nr ? r : nr - 1);
                CAE__UNROLL
                for (v = 0; v < NV; v++) {
                    __m512 s = _mm512_fmadd_ps(_mm512_set1_ps(p0[q]), wv[v][0], b[v]);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p0[q + 1]), wv[v][1], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p0[q + 2]), wv[v][2], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p1[q]), wv[v][3], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p1[q + 1]), wv[v][4], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p1[q + 2]), wv[v][5], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p2[q]), wv[v][6], s);
                    s = _mm512_fmadd_ps(_mm512_set1_ps(p2[q + 1]), wv[v][7], s);
                    a[r][v] = _mm512_fmadd_ps(_mm512_set1_ps(p2[q + 2]), wv[v][8], s);
                }
            }
            for (r = 0; r < nr; r++)
                CAE__UNROLL
                for (v = 0; v < NV; v++)
                    _mm512_storeu_ps(op + (size_t)(x + r) * co + 16 * v, relu ? CAE__MAX512(a[r][v], z) : a[r][v]);
        }
    }
}

/* the first layer's shape (one input channel, 3x3; co % 16 == 0): 32 channels at a time */
static CAE__AVX512_FN void cae__avx512_fwd_c1k3(float *out, const float *P, const float *wt, const float *bias, int h,
                                                int w, int co, int relu)
{
    int o = 0;
    for (; o + 32 <= co; o += 32) cae__avx512_c1k3_cols(2, out, P, wt, bias, h, w, co, o, relu);
    if (o < co) cae__avx512_c1k3_cols(1, out, P, wt, bias, h, w, co, o, relu);
}

/* the sums of the 16 lanes of a0..a7, into s[0..7]: a transposing reduction, 16 shuffles for
   the eight where a sum of each alone takes 4 (and an extract) */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_hsum8(float *s, __m512 a0, __m512 a1, __m512 a2, __m512 a3,
                                                                __m512 a4, __m512 a5, __m512 a6, __m512 a7)
{
    const __mmask16 all = (__mmask16)0xFFFF;
    /* 128-bit quarters: [x.q0+x.q2, x.q1+x.q3, y.q0+y.q2, y.q1+y.q3] */
#define CAE__PAIR(x, y)                                                                                               \
    _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, x, y, 0x44), _mm512_maskz_shuffle_f32x4(all, x, y, 0xEE))
    __m512 b01 = CAE__PAIR(a0, a1), b23 = CAE__PAIR(a2, a3), b45 = CAE__PAIR(a4, a5), b67 = CAE__PAIR(a6, a7);
#undef CAE__PAIR
    /* quarter j of c0123: the four partial sums of a_j */
    __m512 c0123 = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, b01, b23, 0x88),
                                 _mm512_maskz_shuffle_f32x4(all, b01, b23, 0xDD));
    __m512 c4567 = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, b45, b67, 0x88),
                                 _mm512_maskz_shuffle_f32x4(all, b45, b67, 0xDD));
    /* within each quarter j: [a_j 0+1, a_j 2+3, a_4+j 0+1, a_4+j 2+3], then the totals of a_j and a_4+j */
    __m512 d = _mm512_add_ps(_mm512_maskz_shuffle_ps(all, c0123, c4567, 0x88),
                             _mm512_maskz_shuffle_ps(all, c0123, c4567, 0xDD));
    __m512 e = _mm512_add_ps(_mm512_maskz_shuffle_ps(all, d, d, 0x88), _mm512_maskz_shuffle_ps(all, d, d, 0xDD));
    /* e's quarter j: [a_j, a_4+j, a_j, a_4+j] */
    float t[16];
    _mm512_storeu_ps(t, e);
    s[0] = t[0], s[1] = t[4], s[2] = t[8], s[3] = t[12], s[4] = t[1], s[5] = t[5], s[6] = t[9], s[7] = t[13];
}

/* one output channel, 3x3, 32 input channels: the 18 weight vectors (tap t = kh*3+kw, half v at
   wt + 32t + 16v) in registers; eight pixels of a row at a time (w >= 8; the last group is moved
   back to end at the row's end), two chains per pixel */
static CAE__AVX512_FN void cae__avx512_co1k3_rows(float *out, const float *P, const float *wt, const float *bias, int h,
                                                  int w, int act)
{
    __m512 wv[18];
    int ci = 32, pw = w + 2, y, x, t, kh, c;
    float b = bias ? bias[0] : 0.0f, s[8];
    CAE__UNROLL
    for (t = 0; t < 18; t++) wv[t] = _mm512_loadu_ps(wt + 16 * t);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x += 8) {
            int x0 = x + 8 <= w ? x : w - 8, j;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
            CAE__UNROLL
            for (kh = 0; kh < 3; kh++) {
                const float *p = P + ((size_t)(y + kh) * pw + x0) * ci;
                const __m512 *wk = wv + 6 * kh;
                CAE__UNROLL
                for (c = 0; c < 6; c += 2) { /* tap kw = c / 2: pixel j reads column j + kw */
                    __m512 wc = wk[c], wd = wk[c + 1]; /* two chains per pixel (a, b): 16 in flight */
                    const float *q = p + 16 * c, *r = q + 16;
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q), wc, a0), b0 = _mm512_fmadd_ps(_mm512_loadu_ps(r), wd, b0);
                    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + ci), wc, a1);
                    b1 = _mm512_fmadd_ps(_mm512_loadu_ps(r + ci), wd, b1);
                    a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 2 * ci), wc, a2);
                    b2 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 2 * ci), wd, b2);
                    a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 3 * ci), wc, a3);
                    b3 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 3 * ci), wd, b3);
                    a4 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 4 * ci), wc, a4);
                    b4 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 4 * ci), wd, b4);
                    a5 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 5 * ci), wc, a5);
                    b5 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 5 * ci), wd, b5);
                    a6 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 6 * ci), wc, a6);
                    b6 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 6 * ci), wd, b6);
                    a7 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 7 * ci), wc, a7);
                    b7 = _mm512_fmadd_ps(_mm512_loadu_ps(r + 7 * ci), wd, b7);
                }
            }
            a0 = _mm512_add_ps(a0, b0), a1 = _mm512_add_ps(a1, b1), a2 = _mm512_add_ps(a2, b2);
            a3 = _mm512_add_ps(a3, b3), a4 = _mm512_add_ps(a4, b4), a5 = _mm512_add_ps(a5, b5);
            a6 = _mm512_add_ps(a6, b6), a7 = _mm512_add_ps(a7, b7);
            cae__avx512_hsum8(s, a0, a1, a2, a3, a4, a5, a6, a7);
            for (j = 0; j < 8; j++) out[(size_t)y * w + x0 + j] = cae__act1(s[j] + b, act);
        }
}

/* one output channel, ci % 16 == 0: a kernel row kh is k*ci contiguous weights meeting k*ci
   contiguous inputs, so each pixel is a dot product of k such rows; eight pixels at a time */
static CAE__AVX512_FN void cae__avx512_fwd_co1(float *out, const float *P, const float *wt, const float *bias, int h,
                                               int w, int ci, int k, int act)
{
    int pw = w + k - 1, npix = h * w, len = k * ci, j, r, kh, l, y = 0, x = 0;
    for (j = 0; j < npix; j += 8) {
        const float *q[8];
        __m512 a0, a1, a2, a3, a4, a5, a6, a7;
        int nr = npix - j < 8 ? npix - j : 8;
        float z[8];
        for (r = 0; r < 8; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
            q[r] = P + ((size_t)y * pw + x) * ci;
            if (r < nr - 1 && ++x == w) x = 0, y++;
        }
        if (++x == w) x = 0, y++;
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm512_setzero_ps();
        for (kh = 0; kh < k; kh++) {
            size_t off = (size_t)kh * pw * ci;
            const float *wk = wt + (size_t)kh * len;
            for (l = 0; l < len; l += 16) {
                __m512 wv = _mm512_loadu_ps(wk + l);
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q[0] + off + l), wv, a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q[1] + off + l), wv, a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q[2] + off + l), wv, a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q[3] + off + l), wv, a3);
                a4 = _mm512_fmadd_ps(_mm512_loadu_ps(q[4] + off + l), wv, a4);
                a5 = _mm512_fmadd_ps(_mm512_loadu_ps(q[5] + off + l), wv, a5);
                a6 = _mm512_fmadd_ps(_mm512_loadu_ps(q[6] + off + l), wv, a6);
                a7 = _mm512_fmadd_ps(_mm512_loadu_ps(q[7] + off + l), wv, a7);
            }
        }
        z[0] = cae__avx512_hsum(a0), z[1] = cae__avx512_hsum(a1), z[2] = cae__avx512_hsum(a2);
        z[3] = cae__avx512_hsum(a3), z[4] = cae__avx512_hsum(a4), z[5] = cae__avx512_hsum(a5);
        z[6] = cae__avx512_hsum(a6), z[7] = cae__avx512_hsum(a7);
        for (r = 0; r < nr; r++) out[j + r] = cae__act1(z[r] + (bias ? bias[0] : 0.0f), act);
    }
}

/* rows j..j+7 of two matrices, row p of the input at A + p*as, of the output at C + p*cs + o0;
   rows past n repeat the last one (the tile kernels do not store them) */
static void cae__rows8(const float **px, float **op, int j, int n, const float *A, size_t as, float *C, size_t cs,
                       int o0)
{
    int r;
    for (r = 0; r < 8; r++) {
        int p = j + r < n ? j + r : n - 1;
        px[r] = A + (size_t)p * as;
        op[r] = C + (size_t)p * cs + o0;
    }
}

/* one image: out [h,w,co] = act(bias + P (*) wt) */
static CAE__AVX512_FN void cae__avx512_conv(float *out, const float *P, const float *wt, const float *bias, int h,
                                            int w, int ci, int co, int k, int act)
{
    int o0 = 0, pw = w + k - 1, npix = h * w, j, r, y, x, relu = act == CAE_ACT_RELU;
    if (co == 1 && k == 3 && w >= 8 && ci == 32) {
        cae__avx512_co1k3_rows(out, P, wt, bias, h, w, act);
        return;
    }
    if (co == 1 && ci % 16 == 0) {
        cae__avx512_fwd_co1(out, P, wt, bias, h, w, ci, k, act);
        return;
    }
    if (co % 16) { /* a 16-channel tail, or one output channel from ci % 16 != 0 */
        cae__avx2_conv(out, P, wt, bias, h, w, ci, co, k, act);
        return;
    }
    if (ci == 1 && k == 3) {
        cae__avx512_fwd_c1k3(out, P, wt, bias, h, w, co, relu);
        if (act == CAE_ACT_SIGMOID) cae_sigmoid_forward(out, out, (size_t)h * w * co);
        return;
    }
    for (; o0 < co; o0 += o0 + 32 <= co ? 32 : 16)
        for (j = 0, y = 0, x = 0; j < npix; j += 8) {
            const float *px[8];
            float *op[8];
            int nr = npix - j < 8 ? npix - j : 8;
            for (r = 0; r < 8; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
                px[r] = P + ((size_t)y * pw + x) * ci;
                op[r] = out + ((size_t)y * w + x) * co + o0;
                if (r < nr - 1 && ++x == w) x = 0, y++;
            }
            if (++x == w) x = 0, y++;
            if (o0 + 32 <= co)
                cae__avx512_fwd_8x32(op, px, nr, wt + o0, bias ? bias + o0 : NULL, ci, co, k, pw * ci, relu);
            else
                cae__avx512_fwd_8x16(op, px, nr, wt + o0, bias ? bias + o0 : NULL, ci, co, k, pw * ci, relu);
            if (act == CAE_ACT_SIGMOID)
                for (r = 0; r < nr; r++) cae_sigmoid_forward(op[r], op[r], o0 + 32 <= co ? 32 : 16);
        }
}

/* F(4x4,3x3)'s Bt on six vectors, a column or a row of a 6x6 tile: Bt = [4 0 -5 0 1 0;
   0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_bt6(__m512 *o, const __m512 *d)
{
    const __m512 f2 = _mm512_set1_ps(2.0f), f4 = _mm512_set1_ps(4.0f), f5 = _mm512_set1_ps(5.0f);
    __m512 d34 = _mm512_add_ps(d[3], d[4]), d4m2 = _mm512_sub_ps(d[4], d[2]);
    o[0] = _mm512_fmadd_ps(f4, d[0], _mm512_fnmadd_ps(f5, d[2], d[4]));
    o[1] = _mm512_fnmadd_ps(f4, _mm512_add_ps(d[1], d[2]), d34);
    o[2] = _mm512_fmadd_ps(f4, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    o[3] = _mm512_fmadd_ps(f2, _mm512_sub_ps(d[3], d[1]), d4m2);
    o[4] = _mm512_fmadd_ps(f2, _mm512_sub_ps(d[1], d[3]), d4m2);
    o[5] = _mm512_fmadd_ps(f4, d[1], _mm512_fnmadd_ps(f5, d[3], d[5]));
}

/* F(4x4,3x3)'s At on six vectors: At = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_at6(__m512 *o, const __m512 *m)
{
    __m512 a12 = _mm512_add_ps(m[1], m[2]), s12 = _mm512_sub_ps(m[1], m[2]);
    __m512 a34 = _mm512_add_ps(m[3], m[4]), s34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], a12), a34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), s34, s12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), a34, a12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), s34, s12), m[5]);
}

/* F(4x4,3x3)'s input transform of one image, 16 channels at a time (a last 8 under a mask): tile
   t's 36 rows at V + t * CAE__WINO4_TILE(ci), read from the image itself */
static CAE__AVX512_FN void cae__avx512_wino4_input(float *V, const float *in, int h, int w, int ci)
{
    int tw = (w + 3) / 4, T = ((h + 3) / 4) * tw, t, i, r, c;
    size_t vt = CAE__WINO4_TILE(ci);
    for (t = 0; t < T; t++) {
        const float *q[6][6];
        int inside[6][6], y0 = t / tw * 4 - 1, x0 = t % tw * 4 - 1;
        float *v = V + (size_t)t * vt;
        CAE__UNROLL
        for (r = 0; r < 6; r++)
            CAE__UNROLL
            for (c = 0; c < 6; c++) { /* pixels outside the image load as zeros, through a zero mask */
                int y = y0 + r, x = x0 + c;
                inside[r][c] = y >= 0 && y < h && x >= 0 && x < w;
                q[r][c] = inside[r][c] ? in + ((size_t)y * w + x) * ci : in;
            }
        for (i = 0; i < ci; i += 16) {
            __mmask16 k = ci - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
            __m512 s[6][6], col[6], e[6];
            CAE__UNROLL
            for (c = 0; c < 6; c++) { /* Bt d, a column at a time */
                CAE__UNROLL
                for (r = 0; r < 6; r++) col[r] = _mm512_maskz_loadu_ps(inside[r][c] ? k : (__mmask16)0, q[r][c] + i);
                cae__avx512_bt6(e, col);
                CAE__UNROLL
                for (r = 0; r < 6; r++) s[r][c] = e[r];
            }
            CAE__UNROLL
            for (r = 0; r < 6; r++) { /* (Bt d) B, a row at a time */
                cae__avx512_bt6(e, s[r]);
                CAE__UNROLL
                for (c = 0; c < 6; c++) _mm512_mask_storeu_ps(v + (size_t)(r * 6 + c) * ci + i, k, e[c]);
            }
        }
    }
}

/* one image, F(4x4,3x3): out [h,w,co] = act(bias + in (*) wt) with U = cae_conv2d_wino_kernel(4, wt);
   ci % 8 == 0 (a last 8 channels under a mask), co % 16 == 0. V [T][36][ci] = Bt d B for every
   6x6 input tile d, M [T][36][co] its 36 products with U, Y = At M A each 4x4 output tile */
static CAE__AVX512_FN void cae__avx512_wino_conv(float *out, const float *in, const float *U, const float *bias,
                                                 int h, int w, int ci, int co, int act, float *work)
{
    int tw = (w + 3) / 4, T = ((h + 3) / 4) * tw, t, o, xi, r, c;
    size_t vt = CAE__WINO4_TILE(ci), mt = CAE__WINO4_TILE(co);
    float *V = work, *M = V + (size_t)T * vt;
    const __m512 z = _mm512_setzero_ps();
    cae__avx512_wino4_input(V, in, h, w, ci);
    /* 36 products M[xi] = V[xi] U[xi]: 1x1 convolutions over the tiles, 8 rows at a time (4
       where no more than 4 are left: the 4 tiles of a 7x7 image) */
    for (xi = 0; xi < 36; xi++)
        for (o = 0; o < co; o += o + 32 <= co ? 32 : 16)
            for (t = 0; t < T; t += 8) {
                const float *px[8];
                float *op[8];
                const float *Ux = U + (size_t)xi * ci * co + o;
                int nr = T - t < 8 ? T - t : 8;
                cae__rows8(px, op, t, T, V + (size_t)xi * ci, vt, M + (size_t)xi * co, mt, o);
                if (o + 32 > co && nr > 4)
                    cae__avx512_fwd_8x16(op, px, nr, Ux, NULL, ci, co, 1, 0, 0);
                else if (o + 32 > co)
                    cae__avx512_fwd_tile(4, 1, op, px, nr, Ux, NULL, ci, co, 1, 0, 0);
                else if (nr > 4)
                    cae__avx512_fwd_8x32(op, px, nr, Ux, NULL, ci, co, 1, 0, 0);
                else
                    cae__avx512_fwd_4x32(op, px, nr, Ux, NULL, ci, co, 1, 0, 0);
            }
    for (t = 0; t < T; t++) { /* output transform, bias and activation */
        int ty = t / tw * 4, tx = t % tw * 4;
        const float *m0 = M + (size_t)t * mt;
        for (o = 0; o < co; o += 16) {
            __m512 s[4][6], col[6], e[4], b = bias ? _mm512_loadu_ps(bias + o) : z;
            CAE__UNROLL
            for (c = 0; c < 6; c++) { /* At m, a column at a time */
                CAE__UNROLL
                for (r = 0; r < 6; r++) col[r] = _mm512_loadu_ps(m0 + (size_t)(r * 6 + c) * co + o);
                cae__avx512_at6(e, col);
                CAE__UNROLL
                for (r = 0; r < 4; r++) s[r][c] = e[r];
            }
            for (r = 0; r < 4 && ty + r < h; r++) { /* (At m) A, a row at a time, clipped at the image's edge */
                float *y = out + ((size_t)(ty + r) * w + tx) * co + o;
                cae__avx512_at6(e, s[r]);
                for (c = 0; c < 4 && tx + c < w; c++) {
                    __m512 v = _mm512_add_ps(e[c], b);
                    _mm512_storeu_ps(y + (size_t)c * co, act == CAE_ACT_RELU ? CAE__MAX512(v, z) : v);
                }
            }
        }
    }
    if (act == CAE_ACT_SIGMOID) cae_sigmoid_forward(out, out, (size_t)h * w * co);
}

/* pooling, upsampling and ReLU: sixteen channels at a time (the AVX2 kernels take the other
   channel counts), the same values as the _ref loops */
static CAE__AVX512_FN void cae__avx512_maxpool_fwd(float *out, int *argmax, const float *in, int n, int h, int w,
                                                   int c)
{
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (c % 16) {
        cae__avx2_maxpool_fwd(out, argmax, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 16) {
                    __m512 v = _mm512_loadu_ps(im + a0 + ch);
                    __m512i best = _mm512_add_epi32(_mm512_set1_epi32(a0 + ch), iota);
                    for (k = 1; k < 4; k++) { /* strictly greater: ties keep the earlier input */
                        __m512 t = _mm512_loadu_ps(im + CAE__POOL_AT(a0, dx, dy, k) + ch);
                        __mmask16 gt = _mm512_cmp_ps_mask(t, v, _CMP_GT_OQ);
                        v = _mm512_mask_blend_ps(gt, v, t);
                        best = _mm512_mask_blend_epi32(
                            gt, best, _mm512_add_epi32(_mm512_set1_epi32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota));
                    }
                    _mm512_storeu_ps(out + o + ch, v);
                    if (argmax) _mm512_storeu_si512((void *)(argmax + o + ch), best);
                }
            }
    }
}

static CAE__AVX512_FN void cae__avx512_upsample_fwd(float *out, const float *in, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 16) {
        cae__avx2_upsample_fwd(out, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *s = in + (((size_t)b * h + y) * w + x) * c;
                float *d0 = out + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                for (ch = 0; ch < c; ch += 16) {
                    __m512 v = _mm512_loadu_ps(s + ch);
                    _mm512_storeu_ps(d0 + ch, v), _mm512_storeu_ps(d0 + c + ch, v);
                    _mm512_storeu_ps(d1 + ch, v), _mm512_storeu_ps(d1 + c + ch, v);
                }
            }
}

static CAE__AVX512_FN void cae__avx512_relu_fwd(float *y, const float *x, size_t n)
{
    size_t i = 0;
    __m512 z = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, CAE__MAX512(_mm512_loadu_ps(x + i), z)); /* NaN -> 0 */
    cae_relu_forward_ref(y + i, x + i, n - i);
}

/* floats 8i..8i+7 of v (AVX512F alone has no _mm512_extractf32x8_ps). Here too the mask forms,
   as CAE__MAX512: the plain ones (and _mm512_castps512_ps256) start from an undefined register. */
#define CAE__HALF512(v, i) _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd((__mmask8)0xF, _mm512_castps_pd(v), i))

/* cae__avx2_log1p_exp_neg on 16 lanes, 2^n by scalef */
static CAE__AVX512_FN __m512 cae__avx512_log1p_exp_neg(__m512 a)
{
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    __m512 x = CAE__MAX512(_mm512_sub_ps(zero, a), _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_maskz_roundscale_ps((__mmask16)0xFFFF, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x), p, e, u, m, sm, s2, q, lg, d;
    __mmask16 big;
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 5040), r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, one);
    p = _mm512_fmadd_ps(p, r, one);
    e = _mm512_maskz_scalef_ps((__mmask16)0xFFFF, p, n);
    u = _mm512_add_ps(one, e);
    big = _mm512_cmp_ps_mask(u, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(u, big, u, _mm512_set1_ps(0.5f));
    sm = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
    s2 = _mm512_mul_ps(sm, sm);
    q = _mm512_fmadd_ps(_mm512_set1_ps(2.0f / 9), s2, _mm512_set1_ps(2.0f / 7));
    q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f / 5));
    q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f / 3));
    q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f));
    lg = _mm512_fmadd_ps(sm, q, _mm512_maskz_mov_ps(big, _mm512_set1_ps(0.693147181f)));
    d = _mm512_sub_ps(u, one);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(d, zero, _CMP_EQ_OQ), _mm512_mul_ps(lg, _mm512_div_ps(e, d)), e);
}

/* cae__avx2_bce_sum on 16 lanes, the last n % 16 under a mask */
static CAE__AVX512_FN double cae__avx512_bce_sum(const float *z, const float *t, size_t n)
{
    __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
    const __m512 zero = _mm512_setzero_ps();
    double lane[8];
    size_t i;
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 zi = _mm512_maskz_loadu_ps(k, z + i), ti = _mm512_maskz_loadu_ps(k, t + i);
        __m512 lin = _mm512_sub_ps(CAE__MAX512(zi, zero), _mm512_mul_ps(zi, ti));
        __m512 l = _mm512_maskz_mov_ps(k, cae__avx512_log1p_exp_neg(_mm512_abs_ps(zi)));
        acc0 = _mm512_add_pd(acc0, _mm512_add_pd(_mm512_maskz_cvtps_pd((__mmask8)0xFF, CAE__HALF512(lin, 0)),
                                                 _mm512_maskz_cvtps_pd((__mmask8)0xFF, CAE__HALF512(l, 0))));
        acc1 = _mm512_add_pd(acc1, _mm512_add_pd(_mm512_maskz_cvtps_pd((__mmask8)0xFF, CAE__HALF512(lin, 1)),
                                                 _mm512_maskz_cvtps_pd((__mmask8)0xFF, CAE__HALF512(l, 1))));
    }
    _mm512_storeu_pd(lane, _mm512_add_pd(acc0, acc1));
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

#ifndef CONVAE_NO_TRAIN
/* 8 rows of dW (tap, input channel) x NV*16 output channels, summed over all pixels of one
   image and added into dw (rows co floats apart): roff[r] is row r's offset from a pixel's
   top-left tap in the padded input; rows past nr repeat the last one and are not stored.
   Along an image row, pixels are ps floats apart in P and gs in g (ci and co for an image;
   other strides for the Winograd tiles). */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_dw_tile(const int NV, float *dw, int nr, const int *roff,
                                                                  const float *P, const float *g, int h, int w, int ci,
                                                                  int co, int k, int ps, int gs)
{
    __m512 z = _mm512_setzero_ps();
    __m512 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
    __m512 a40 = z, a41 = z, a50 = z, a51 = z, a60 = z, a61 = z, a70 = z, a71 = z;
    int y, x, pw = w + k - 1, r0 = roff[0], r1 = roff[1], r2 = roff[2], r3 = roff[3], r4 = roff[4], r5 = roff[5];
    int r6 = roff[6], r7 = roff[7];
    for (y = 0; y < h; y++) {
        const float *p = P + (size_t)y * pw * ci, *gr = g + (size_t)y * w * co;
        for (x = 0; x < w; x++, p += ps, gr += gs) {
            __m512 g0 = _mm512_loadu_ps(gr), g1 = NV > 1 ? _mm512_loadu_ps(gr + 16) : z, v;
            v = _mm512_set1_ps(p[r0]), a00 = _mm512_fmadd_ps(v, g0, a00);
            if (NV > 1) a01 = _mm512_fmadd_ps(v, g1, a01);
            v = _mm512_set1_ps(p[r1]), a10 = _mm512_fmadd_ps(v, g0, a10);
            if (NV > 1) a11 = _mm512_fmadd_ps(v, g1, a11);
            v = _mm512_set1_ps(p[r2]), a20 = _mm512_fmadd_ps(v, g0, a20);
            if (NV > 1) a21 = _mm512_fmadd_ps(v, g1, a21);
            v = _mm512_set1_ps(p[r3]), a30 = _mm512_fmadd_ps(v, g0, a30);
            if (NV > 1) a31 = _mm512_fmadd_ps(v, g1, a31);
            v = _mm512_set1_ps(p[r4]), a40 = _mm512_fmadd_ps(v, g0, a40);
            if (NV > 1) a41 = _mm512_fmadd_ps(v, g1, a41);
            v = _mm512_set1_ps(p[r5]), a50 = _mm512_fmadd_ps(v, g0, a50);
            if (NV > 1) a51 = _mm512_fmadd_ps(v, g1, a51);
            v = _mm512_set1_ps(p[r6]), a60 = _mm512_fmadd_ps(v, g0, a60);
            if (NV > 1) a61 = _mm512_fmadd_ps(v, g1, a61);
            v = _mm512_set1_ps(p[r7]), a70 = _mm512_fmadd_ps(v, g0, a70);
            if (NV > 1) a71 = _mm512_fmadd_ps(v, g1, a71);
        }
    }
#define CAE__ADDTO(row, lo, hi)                                                                                        \
    if (nr > row) {                                                                                                    \
        float *d = dw + (size_t)(row) * co;                                                                            \
        _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), lo));                                                    \
        if (NV > 1) _mm512_storeu_ps(d + 16, _mm512_add_ps(_mm512_loadu_ps(d + 16), hi));                             \
    }
    CAE__ADDTO(0, a00, a01)
    CAE__ADDTO(1, a10, a11)
    CAE__ADDTO(2, a20, a21)
    CAE__ADDTO(3, a30, a31)
    CAE__ADDTO(4, a40, a41)
    CAE__ADDTO(5, a50, a51)
    CAE__ADDTO(6, a60, a61)
    CAE__ADDTO(7, a70, a71)
#undef CAE__ADDTO
}

static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_dw_8x32(float *dw, int nr, const int *roff, const float *P,
                                                                  const float *g, int h, int w, int ci, int co, int k,
                                                                  int ps, int gs)
{
    cae__avx512_dw_tile(2, dw, nr, roff, P, g, h, w, ci, co, k, ps, gs);
}

static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_dw_8x16(float *dw, int nr, const int *roff, const float *P,
                                                                  const float *g, int h, int w, int ci, int co, int k,
                                                                  int ps, int gs)
{
    cae__avx512_dw_tile(1, dw, nr, roff, P, g, h, w, ci, co, k, ps, gs);
}

/* dW for one output channel, ci % 16 == 0: kernel row kh is k*ci contiguous weights fed by
   k*ci contiguous inputs per pixel; 96 of them at a time, even and odd pixels in separate
   accumulators (12 chains), added at the end */
static CAE__AVX512_FN void cae__avx512_dw_co1(float *dw, const float *P, const float *g, int h, int w, int ci, int k)
{
    int pw = w + k - 1, len = k * ci, kh, l, y, x, v;
    for (kh = 0; kh < k; kh++)
        for (l = 0; l < len; l += 96) {
            float *d = dw + (size_t)kh * len + l;
            const float *p0 = P + (size_t)kh * pw * ci + l;
            if (len - l >= 96) {
                __m512 a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5;
                a0 = a1 = a2 = a3 = a4 = a5 = b0 = b1 = b2 = b3 = b4 = b5 = _mm512_setzero_ps();
                for (y = 0; y < h; y++) {
                    const float *p = p0 + (size_t)y * pw * ci, *gr = g + (size_t)y * w;
                    for (x = 0; x + 1 < w; x += 2, p += 2 * ci) {
                        const float *q = p + ci;
                        __m512 ga = _mm512_set1_ps(gr[x]), gb = _mm512_set1_ps(gr[x + 1]);
                        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p), ga, a0), b0 = _mm512_fmadd_ps(_mm512_loadu_ps(q), gb, b0);
                        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 16), ga, a1), b1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16), gb, b1);
                        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 32), ga, a2), b2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 32), gb, b2);
                        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 48), ga, a3), b3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 48), gb, b3);
                        a4 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 64), ga, a4), b4 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 64), gb, b4);
                        a5 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 80), ga, a5), b5 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 80), gb, b5);
                    }
                    if (x < w) { /* an odd row: its last pixel */
                        __m512 ga = _mm512_set1_ps(gr[x]);
                        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p), ga, a0), a1 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 16), ga, a1);
                        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 32), ga, a2), a3 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 48), ga, a3);
                        a4 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 64), ga, a4), a5 = _mm512_fmadd_ps(_mm512_loadu_ps(p + 80), ga, a5);
                    }
                }
#define CAE__ADD16(off, a, b) _mm512_storeu_ps(d + (off), _mm512_add_ps(_mm512_loadu_ps(d + (off)), _mm512_add_ps(a, b)))
                CAE__ADD16(0, a0, b0), CAE__ADD16(16, a1, b1), CAE__ADD16(32, a2, b2);
                CAE__ADD16(48, a3, b3), CAE__ADD16(64, a4, b4), CAE__ADD16(80, a5, b5);
#undef CAE__ADD16
            } else {
                for (v = l; v < len; v += 16) { /* fewer than 96 left: one vector at a time */
                    __m512 a = _mm512_setzero_ps();
                    for (y = 0; y < h; y++) {
                        const float *p = P + (size_t)kh * pw * ci + v + (size_t)y * pw * ci, *gr = g + (size_t)y * w;
                        for (x = 0; x < w; x++, p += ci) a = _mm512_fmadd_ps(_mm512_loadu_ps(p), _mm512_set1_ps(gr[x]), a);
                    }
                    _mm512_storeu_ps(d + (v - l), _mm512_add_ps(_mm512_loadu_ps(d + (v - l)), a));
                }
            }
        }
}

/* dW of a one-input-channel 3x3 kernel, NV*16 output channels from o: the 9 x NV sums in
   registers over all pixels, each pixel's nine inputs broadcast against its gradient */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_dw_c1k3_cols(const int NV, float *dw, const float *P,
                                                                       const float *g, int h, int w, int co, int o)
{
    __m512 a[2][9];
    int pw = w + 2, y, x, t, v;
    CAE__UNROLL
    for (v = 0; v < NV; v++)
        CAE__UNROLL
        for (t = 0; t < 9; t++) a[v][t] = _mm512_setzero_ps();
    for (y = 0; y < h; y++) {
        const float *p = P + (size_t)y * pw, *gr = g + (size_t)y * w * co + o;
        for (x = 0; x < w; x++, p++, gr += co) {
            __m512 g0 = _mm512_loadu_ps(gr), g1 = NV > 1 ? _mm512_loadu_ps(gr + 16) : g0;
            CAE__UNROLL
            for (t = 0; t < 9; t++) {
                __m512 q = _mm512_set1_ps(p[(t / 3) * pw + t % 3]);
                a[0][t] = _mm512_fmadd_ps(q, g0, a[0][t]);
                if (NV > 1) a[1][t] = _mm512_fmadd_ps(q, g1, a[1][t]);
            }
        }
    }
    CAE__UNROLL
    for (t = 0; t < 9; t++)
        CAE__UNROLL
        for (v = 0; v < NV; v++) {
            float *d = dw + (size_t)t * co + o + 16 * v;
            _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), a[v][t]));
        }
}

/* dW of a one-output-channel 3x3 kernel over 32 input channels: the 18 sums (tap, half) in
   registers, one pass over the pixels, each pixel's gradient broadcast against its 3x3x32 inputs */
static CAE__AVX512_FN void cae__avx512_dw_co1k3(float *dw, const float *P, const float *g, int h, int w)
{
    __m512 a[18];
    int pw = w + 2, y, x, kh, c;
    CAE__UNROLL
    for (c = 0; c < 18; c++) a[c] = _mm512_setzero_ps();
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            __m512 gv = _mm512_set1_ps(g[(size_t)y * w + x]);
            CAE__UNROLL
            for (kh = 0; kh < 3; kh++) {
                const float *p = P + ((size_t)(y + kh) * pw + x) * 32; /* 96 contiguous inputs: taps kw, halves */
                CAE__UNROLL
                for (c = 0; c < 6; c++) a[6 * kh + c] = _mm512_fmadd_ps(_mm512_loadu_ps(p + 16 * c), gv, a[6 * kh + c]);
            }
        }
    CAE__UNROLL
    for (c = 0; c < 18; c++) _mm512_storeu_ps(dw + 16 * c, _mm512_add_ps(_mm512_loadu_ps(dw + 16 * c), a[c]));
}

/* one image: dwt [k,k,ci,co] += P (x) dpre */
static CAE__AVX512_FN void cae__avx512_conv_dw(float *dwt, const float *P, const float *dpre, int h, int w, int ci,
                                               int co, int k)
{
    int o0, pw = w + k - 1, rows = k * k * ci, j, r;
    if (co == 1 && ci == 32 && k == 3) {
        cae__avx512_dw_co1k3(dwt, P, dpre, h, w);
        return;
    }
    if (co == 1 && ci % 16 == 0) {
        cae__avx512_dw_co1(dwt, P, dpre, h, w, ci, k);
        return;
    }
    if (ci == 1 && k == 3 && co % 16 == 0) {
        for (o0 = 0; o0 + 32 <= co; o0 += 32) cae__avx512_dw_c1k3_cols(2, dwt, P, dpre, h, w, co, o0);
        if (o0 < co) cae__avx512_dw_c1k3_cols(1, dwt, P, dpre, h, w, co, o0);
        return;
    }
    if (co % 16) { /* a 16-channel tail, or one output channel from ci % 16 != 0 */
        cae__avx2_conv_dw(dwt, P, dpre, h, w, ci, co, k);
        return;
    }
    for (o0 = 0; o0 < co; o0 += o0 + 32 <= co ? 32 : 16)
        for (j = 0; j < rows; j += 8) {
            int roff[8], nr = rows - j < 8 ? rows - j : 8;
            for (r = 0; r < 8; r++) {
                int row = j + (r < nr ? r : nr - 1), t = row / ci, i = row % ci;
                roff[r] = ((t / k) * pw + t % k) * ci + i;
            }
            if (o0 + 32 <= co)
                cae__avx512_dw_8x32(dwt + (size_t)j * co + o0, nr, roff, P, dpre + o0, h, w, ci, co, k, ci, co);
            else
                cae__avx512_dw_8x16(dwt + (size_t)j * co + o0, nr, roff, P, dpre + o0, h, w, ci, co, k, ci, co);
        }
}

/* F(4x4,3x3)'s A on four vectors (a column or a row of a 4x4 output gradient tile), the six of
   dM = A dY At: A = [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1] */
static CAE__AVX512_INLINE CAE__AVX512_FN void cae__avx512_a6(__m512 *o, const __m512 *d)
{
    __m512 a02 = _mm512_add_ps(d[0], d[2]), a13 = _mm512_add_ps(d[1], d[3]);
    __m512 b02 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), d[2], d[0]);
    __m512 b13 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), d[3], d[1]);
    o[0] = d[0];
    o[1] = _mm512_add_ps(a02, a13);
    o[2] = _mm512_sub_ps(a02, a13);
    o[3] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), b13, b02);
    o[4] = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), b13, b02);
    o[5] = d[3];
}

/* F(4x4,3x3)'s weight gradient of n images (image b's input at in + b*is, its output gradient at
   dpre + b*gs): dU [36][ci][co] += the sum over their tiles of V (x) dM, dM = A dY At each 4x4
   tile of the output gradient (zero past the image). The images go a few at a time, so that
   each pass of the products sums over 16 tiles or more (a 7x7 image has 4). */
static CAE__AVX512_FN void cae__avx512_wino_dw(float *dU, const float *in, size_t is, const float *dpre, size_t gs,
                                               int n, int h, int w, int ci, int co, float *work)
{
    int tw = (w + 3) / 4, T = ((h + 3) / 4) * tw, per = T >= 16 ? 1 : (16 + T - 1) / T, b, j, t, o, xi, r, r0, c;
    size_t vt = CAE__WINO4_TILE(ci), mt = CAE__WINO4_TILE(co);
    float *V = work, *dM = V + (size_t)per * T * vt;
    const __m512 z = _mm512_setzero_ps();
    for (b = 0; b < n; b += per) {
        int nb = n - b < per ? n - b : per, TT = nb * T;
        for (j = 0; j < nb; j++) {
            const float *g = dpre + (size_t)(b + j) * gs;
            cae__avx512_wino4_input(V + (size_t)j * T * vt, in + (size_t)(b + j) * is, h, w, ci);
            for (t = 0; t < T; t++) {
                int ty = t / tw * 4, tx = t % tw * 4;
                float *m0 = dM + (size_t)(j * T + t) * mt;
                for (o = 0; o < co; o += 16) {
                    __m512 s[6][4], col[4], e[6];
                    CAE__UNROLL
                    for (c = 0; c < 4; c++) { /* A dY, a column at a time */
                        CAE__UNROLL
                        for (r = 0; r < 4; r++)
                            col[r] = ty + r < h && tx + c < w ? _mm512_loadu_ps(g + ((size_t)(ty + r) * w + tx + c) * co + o) : z;
                        cae__avx512_a6(e, col);
                        CAE__UNROLL
                        for (r = 0; r < 6; r++) s[r][c] = e[r];
                    }
                    CAE__UNROLL
                    for (r = 0; r < 6; r++) { /* (A dY) At, a row at a time */
                        cae__avx512_a6(e, s[r]);
                        CAE__UNROLL
                        for (c = 0; c < 6; c++) _mm512_storeu_ps(m0 + (size_t)(r * 6 + c) * co + o, e[c]);
                    }
                }
            }
        }
        /* 36 products dU[xi] += V[xi]^T dM[xi] over the TT tiles: 8 input channels x 32 or 16
           output channels at a time */
        for (xi = 0; xi < 36; xi++)
            for (o = 0; o < co; o += o + 32 <= co ? 32 : 16)
                for (r0 = 0; r0 < ci; r0 += 8) {
                    int roff[8];
                    float *d = dU + ((size_t)xi * ci + r0) * co + o;
                    for (r = 0; r < 8; r++) roff[r] = r0 + r;
                    if (o + 32 <= co)
                        cae__avx512_dw_8x32(d, 8, roff, V + (size_t)xi * ci, dM + (size_t)xi * co + o, 1, TT, ci, co, 1,
                                            (int)vt, (int)mt);
                    else
                        cae__avx512_dw_8x16(d, 8, roff, V + (size_t)xi * ci, dM + (size_t)xi * co + o, 1, TT, ci, co, 1,
                                            (int)vt, (int)mt);
                }
    }
}

static CAE__AVX512_FN void cae__avx512_maxpool_bwd(float *din, const float *dout, const int *argmax, int n, int h,
                                                   int w, int c)
{
    /* the windows tile the input, so each input gets its gradient or 0 written exactly once
       (an odd edge's repeated positions get the same value twice) */
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (c % 16) {
        cae__avx2_maxpool_bwd(din, dout, argmax, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        float *di = din + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 16) {
                    __m512 g = _mm512_loadu_ps(dout + o + ch);
                    __m512i am = _mm512_loadu_si512((const void *)(argmax + o + ch));
                    for (k = 0; k < 4; k++) {
                        __m512i at = _mm512_add_epi32(_mm512_set1_epi32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota);
                        _mm512_storeu_ps(di + CAE__POOL_AT(a0, dx, dy, k) + ch,
                                         _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(am, at), g));
                    }
                }
            }
    }
}

static CAE__AVX512_FN void cae__avx512_upsample_bwd(float *din, const float *dout, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 16) {
        cae__avx2_upsample_bwd(din, dout, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *d0 = dout + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                float *di = din + (((size_t)b * h + y) * w + x) * c;
                for (ch = 0; ch < c; ch += 16) { /* (d00 + d01) + (d10 + d11), as the reference adds */
                    __m512 top = _mm512_add_ps(_mm512_loadu_ps(d0 + ch), _mm512_loadu_ps(d0 + c + ch));
                    __m512 bot = _mm512_add_ps(_mm512_loadu_ps(d1 + ch), _mm512_loadu_ps(d1 + c + ch));
                    _mm512_storeu_ps(di + ch, _mm512_add_ps(top, bot));
                }
            }
}

static CAE__AVX512_FN void cae__avx512_relu_bwd(float *dx, const float *dy, const float *y, size_t n)
{
    size_t i = 0;
    __m512 z = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __mmask16 on = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + i), z, _CMP_GT_OQ);
        _mm512_storeu_ps(dx + i, _mm512_maskz_mov_ps(on, _mm512_loadu_ps(dy + i)));
    }
    cae_relu_backward_ref(dx + i, dy + i, y + i, n - i);
}

/* 64 channels at a time in four registers, then 16 at a time, row after row as the reference */
static CAE__AVX512_FN void cae__avx512_bias_bwd(float *db, const float *dy, size_t n, int c)
{
    size_t j;
    int o = 0;
    for (; o + 64 <= c; o += 64) {
        __m512 a0 = _mm512_loadu_ps(db + o), a1 = _mm512_loadu_ps(db + o + 16), a2 = _mm512_loadu_ps(db + o + 32);
        __m512 a3 = _mm512_loadu_ps(db + o + 48);
        for (j = 0; j < n; j++) {
            const float *g = dy + j * (size_t)c + o;
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(g)), a1 = _mm512_add_ps(a1, _mm512_loadu_ps(g + 16));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(g + 32)), a3 = _mm512_add_ps(a3, _mm512_loadu_ps(g + 48));
        }
        _mm512_storeu_ps(db + o, a0), _mm512_storeu_ps(db + o + 16, a1);
        _mm512_storeu_ps(db + o + 32, a2), _mm512_storeu_ps(db + o + 48, a3);
    }
    for (; o + 16 <= c; o += 16) {
        __m512 a = _mm512_loadu_ps(db + o);
        for (j = 0; j < n; j++) a = _mm512_add_ps(a, _mm512_loadu_ps(dy + j * (size_t)c + o));
        _mm512_storeu_ps(db + o, a);
    }
    if (o < c) { /* the last c % 16 channels under a mask */
        __mmask16 m = (__mmask16)((1u << (c - o)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(m, db + o);
        for (j = 0; j < n; j++) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, dy + j * (size_t)c + o));
        _mm512_mask_storeu_ps(db + o, m, a);
    }
}
#endif /* CONVAE_NO_TRAIN */

static const cae_kernels cae__set_avx512 = {
    "avx512", "AVX-512F: 8x32 register tiles, Winograd F(4x4,3x3), 16-wide pooling and ReLU", cae__avx512_usable, 4,
    cae__avx512_conv, cae__avx512_wino_conv, cae__avx512_maxpool_fwd, cae__avx512_upsample_fwd, cae__avx512_relu_fwd,
    cae__avx512_bce_sum
    CAE__TRAIN_ENTRIES(cae__avx512_conv_dw, cae__avx512_wino_dw, cae__avx512_maxpool_bwd, cae__avx512_upsample_bwd,
                       cae__avx512_relu_bwd, cae__avx512_bias_bwd)};
#define CAE__SET_AVX512 , &cae__set_avx512
#else
#define CAE__SET_AVX512
#endif /* CAE__AVX512 */

/* ================================================================ the NEON set
   AArch64 Advanced SIMD, four floats to a register; every AArch64 CPU has it, so the set is
   compiled whenever the target is AArch64 and is always usable there. Tiles: 6 pixels x 16
   channels (24 accumulators of the 32 registers), each input value loaded once, duplicated into
   all four lanes (LD1R), and multiplied into four weight vectors. */
#if !defined(CONVAE_NO_SIMD) && (defined(__aarch64__) || defined(_M_ARM64))
#define CAE__NEON 1
#include <arm_neon.h>

static int cae__neon_usable(void)
{
    return 1;
}

/* 6 output rows x 16 channels: out[r][:] = bias + sum over taps and input channels of
   px[r][tap][i] * wt[tap][i][:] (pwc: the stride between kernel rows in the input); rows past
   nr repeat the last and are not stored */
static void cae__neon_fwd_6x16(float *const *op, const float *const *px, int nr, const float *wt, const float *bias,
                               int ci, int co, int k, int pwc, int relu)
{
    float32x4_t z = vdupq_n_f32(0.0f), b0 = bias ? vld1q_f32(bias) : z, b1 = bias ? vld1q_f32(bias + 4) : z;
    float32x4_t b2 = bias ? vld1q_f32(bias + 8) : z, b3 = bias ? vld1q_f32(bias + 12) : z;
    float32x4_t a[6][4];
    int kh, kw, i, r, c;
    for (r = 0; r < 6; r++) a[r][0] = b0, a[r][1] = b1, a[r][2] = b2, a[r][3] = b3;
    for (kh = 0; kh < k; kh++)
        for (kw = 0; kw < k; kw++) {
            size_t off = (size_t)kh * pwc + (size_t)kw * ci;
            const float *q0 = px[0] + off, *q1 = px[1] + off, *q2 = px[2] + off, *q3 = px[3] + off;
            const float *q4 = px[4] + off, *q5 = px[5] + off, *wk = wt + (size_t)(kh * k + kw) * ci * co;
            for (i = 0; i < ci; i++, wk += co) {
                float32x4_t w0 = vld1q_f32(wk), w1 = vld1q_f32(wk + 4), w2 = vld1q_f32(wk + 8), w3 = vld1q_f32(wk + 12), v;
#define CAE__ROW(r, q)                                                                                                 \
    v = vld1q_dup_f32(q + i);                                                                                          \
    a[r][0] = vfmaq_f32(a[r][0], v, w0), a[r][1] = vfmaq_f32(a[r][1], v, w1);                                          \
    a[r][2] = vfmaq_f32(a[r][2], v, w2), a[r][3] = vfmaq_f32(a[r][3], v, w3);
                CAE__ROW(0, q0) CAE__ROW(1, q1) CAE__ROW(2, q2) CAE__ROW(3, q3) CAE__ROW(4, q4) CAE__ROW(5, q5)
#undef CAE__ROW
            }
        }
    for (r = 0; r < nr; r++)
        for (c = 0; c < 4; c++) {
            float32x4_t y = a[r][c];
            if (relu) y = vbslq_f32(vcgtq_f32(y, z), y, z);
            vst1q_f32(op[r] + 4 * c, y);
        }
}

/* one output channel, ci % 4 == 0: each pixel a dot product of k rows of k*ci contiguous
   values with the kernel's rows; four pixels at a time */
static void cae__neon_fwd_co1(float *out, const float *P, const float *wt, const float *bias, int h, int w, int ci,
                              int k, int act)
{
    int pw = w + k - 1, npix = h * w, len = k * ci, j, r, kh, l, y = 0, x = 0;
    for (j = 0; j < npix; j += 4) {
        const float *q[4];
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        int nr = npix - j < 4 ? npix - j : 4;
        float s[4];
        for (r = 0; r < 4; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
            q[r] = P + ((size_t)y * pw + x) * ci;
            if (r < nr - 1 && ++x == w) x = 0, y++;
        }
        if (++x == w) x = 0, y++;
        for (kh = 0; kh < k; kh++) {
            size_t off = (size_t)kh * pw * ci;
            const float *wk = wt + (size_t)kh * len;
            for (l = 0; l < len; l += 4) {
                float32x4_t wv = vld1q_f32(wk + l);
                a0 = vfmaq_f32(a0, vld1q_f32(q[0] + off + l), wv), a1 = vfmaq_f32(a1, vld1q_f32(q[1] + off + l), wv);
                a2 = vfmaq_f32(a2, vld1q_f32(q[2] + off + l), wv), a3 = vfmaq_f32(a3, vld1q_f32(q[3] + off + l), wv);
            }
        }
        s[0] = vaddvq_f32(a0), s[1] = vaddvq_f32(a1), s[2] = vaddvq_f32(a2), s[3] = vaddvq_f32(a3);
        for (r = 0; r < nr; r++) out[j + r] = cae__act1(s[r] + (bias ? bias[0] : 0.0f), act);
    }
}

/* one image: out [h,w,co] = act(bias + P (*) wt); channels past the last multiple of 16 go to
   the plain loop */
static void cae__neon_conv(float *out, const float *P, const float *wt, const float *bias, int h, int w, int ci,
                           int co, int k, int act)
{
    int o0 = 0, pw = w + k - 1, npix = h * w, j, r, y, x, relu = act == CAE_ACT_RELU;
    if (co == 1 && ci % 4 == 0) {
        cae__neon_fwd_co1(out, P, wt, bias, h, w, ci, k, act);
        return;
    }
    for (; o0 + 16 <= co; o0 += 16)
        for (j = 0, y = 0, x = 0; j < npix; j += 6) {
            const float *px[6];
            float *op[6];
            int nr = npix - j < 6 ? npix - j : 6;
            for (r = 0; r < 6; r++) { /* pixel j+r is (y, x); past the end, repeat the last */
                px[r] = P + ((size_t)y * pw + x) * ci;
                op[r] = out + ((size_t)y * w + x) * co + o0;
                if (r < nr - 1 && ++x == w) x = 0, y++;
            }
            if (++x == w) x = 0, y++;
            cae__neon_fwd_6x16(op, px, nr, wt + o0, bias ? bias + o0 : NULL, ci, co, k, pw * ci, relu);
            if (act == CAE_ACT_SIGMOID)
                for (r = 0; r < nr; r++) cae_sigmoid_forward(op[r], op[r], 16);
        }
    if (o0 < co) cae__conv_padded_c(out, P, wt, bias, h, w, ci, co, k, act, o0, co);
}

/* V [16][T][ci] = Bt d B for every 4x4 input tile d of one image (ci % 4 == 0); returns V,
   which sits in work after the padded copy */
static float *cae__neon_wino_input(const float *in, int h, int w, int ci, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, i, xi, r;
    size_t prow = CAE__WINO_ROW(w, ci), vs = CAE__WINO_PLANE(T, ci);
    float *P = work, *V = cae__wino_pad(P, in, h, w, ci);
    for (t = 0; t < T; t++) {
        const float *d = P + (size_t)(t / tw) * 2 * prow + (size_t)(t % tw) * 2 * ci;
        for (i = 0; i < ci; i += 4) {
            float32x4_t s[4][4];
            for (xi = 0; xi < 4; xi++) { /* Bt d, a column at a time */
                const float *c = d + (size_t)xi * ci + i;
                float32x4_t q0 = vld1q_f32(c), q1 = vld1q_f32(c + prow), q2 = vld1q_f32(c + 2 * prow);
                float32x4_t q3 = vld1q_f32(c + 3 * prow);
                s[0][xi] = vsubq_f32(q0, q2);
                s[1][xi] = vaddq_f32(q1, q2);
                s[2][xi] = vsubq_f32(q2, q1);
                s[3][xi] = vsubq_f32(q1, q3);
            }
            for (r = 0; r < 4; r++) { /* (Bt d) B: columns */
                float *v = V + (size_t)(r * 4) * vs + (size_t)t * ci + i;
                vst1q_f32(v, vsubq_f32(s[r][0], s[r][2]));
                vst1q_f32(v + vs, vaddq_f32(s[r][1], s[r][2]));
                vst1q_f32(v + 2 * vs, vsubq_f32(s[r][2], s[r][1]));
                vst1q_f32(v + 3 * vs, vsubq_f32(s[r][1], s[r][3]));
            }
        }
    }
    return V;
}

/* one image: out [h,w,co] = act(bias + in (*) wt) with U = cae_conv2d_wino_kernel(wt) */
static void cae__neon_wino_conv(float *out, const float *in, const float *U, const float *bias, int h, int w, int ci,
                                int co, int act, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, o, xi, r;
    size_t vs = CAE__WINO_PLANE(T, ci), ms = CAE__WINO_PLANE(T, co);
    float *V = cae__neon_wino_input(in, h, w, ci, work), *M = V + 16 * vs;
    float32x4_t z = vdupq_n_f32(0.0f);
    /* 16 products M[xi] = V[xi] U[xi]: a 1x1 convolution over the tiles */
    for (xi = 0; xi < 16; xi++)
        for (o = 0; o < co; o += 16)
            for (t = 0; t < T; t += 6) {
                const float *px[6];
                float *op[6];
                int nr = T - t < 6 ? T - t : 6;
                for (r = 0; r < 6; r++) {
                    int tt = t + (r < nr ? r : nr - 1);
                    px[r] = V + (size_t)xi * vs + (size_t)tt * ci;
                    op[r] = M + (size_t)xi * ms + (size_t)tt * co + o;
                }
                cae__neon_fwd_6x16(op, px, nr, U + (size_t)xi * ci * co + o, NULL, ci, co, 1, 0, 0);
            }
    /* output transform, bias and activation */
    for (t = 0; t < T; t++) {
        int ty = t / tw * 2, tx = t % tw * 2;
        for (o = 0; o < co; o += 4) {
            float32x4_t m[16], s[2][4], b = bias ? vld1q_f32(bias + o) : z;
            for (xi = 0; xi < 16; xi++) m[xi] = vld1q_f32(M + (size_t)xi * ms + (size_t)t * co + o);
            for (xi = 0; xi < 4; xi++) { /* At m: rows */
                s[0][xi] = vaddq_f32(vaddq_f32(m[xi], m[4 + xi]), m[8 + xi]);
                s[1][xi] = vsubq_f32(vsubq_f32(m[4 + xi], m[8 + xi]), m[12 + xi]);
            }
            for (r = 0; r < 2; r++) {
                float32x4_t y0 = vaddq_f32(vaddq_f32(vaddq_f32(s[r][0], s[r][1]), s[r][2]), b);
                float32x4_t y1 = vaddq_f32(vsubq_f32(vsubq_f32(s[r][1], s[r][2]), s[r][3]), b);
                if (act == CAE_ACT_RELU) y0 = vbslq_f32(vcgtq_f32(y0, z), y0, z), y1 = vbslq_f32(vcgtq_f32(y1, z), y1, z);
                if (ty + r >= h) break;
                vst1q_f32(out + ((size_t)(ty + r) * w + tx) * co + o, y0);
                if (tx + 1 < w) vst1q_f32(out + ((size_t)(ty + r) * w + tx + 1) * co + o, y1);
            }
        }
    }
    if (act == CAE_ACT_SIGMOID) cae_sigmoid_forward(out, out, (size_t)h * w * co);
}

/* pooling, upsampling and ReLU: four channels at a time, the same values as the _ref loops
   (which take the channel counts that are not multiples of 4); ReLU compares rather than
   takes the maximum, because FMAX turns a NaN into NaN where the reference gives 0 */
static void cae__neon_maxpool_fwd(float *out, int *argmax, const float *in, int n, int h, int w, int c)
{
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    static const int lanes[4] = {0, 1, 2, 3};
    const int32x4_t iota = vld1q_s32(lanes);
    if (c % 4) {
        cae_maxpool2d_forward_ref(out, argmax, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        const float *im = in + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 4) {
                    float32x4_t v = vld1q_f32(im + a0 + ch);
                    int32x4_t best = vaddq_s32(vdupq_n_s32(a0 + ch), iota);
                    for (k = 1; k < 4; k++) { /* strictly greater: ties keep the earlier input */
                        float32x4_t t = vld1q_f32(im + CAE__POOL_AT(a0, dx, dy, k) + ch);
                        uint32x4_t gt = vcgtq_f32(t, v);
                        v = vbslq_f32(gt, t, v);
                        best = vbslq_s32(gt, vaddq_s32(vdupq_n_s32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota), best);
                    }
                    vst1q_f32(out + o + ch, v);
                    if (argmax) vst1q_s32(argmax + o + ch, best);
                }
            }
    }
}

static void cae__neon_upsample_fwd(float *out, const float *in, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 4) {
        cae_upsample2d_forward_ref(out, in, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *s = in + (((size_t)b * h + y) * w + x) * c;
                float *d0 = out + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                for (ch = 0; ch < c; ch += 4) {
                    float32x4_t v = vld1q_f32(s + ch);
                    vst1q_f32(d0 + ch, v), vst1q_f32(d0 + c + ch, v), vst1q_f32(d1 + ch, v), vst1q_f32(d1 + c + ch, v);
                }
            }
}

static void cae__neon_relu_fwd(float *y, const float *x, size_t n)
{
    size_t i = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        vst1q_f32(y + i, vbslq_f32(vcgtq_f32(v, z), v, z));
    }
    cae_relu_forward_ref(y + i, x + i, n - i);
}

#ifndef CONVAE_NO_TRAIN
/* dW rows (tap, input channel) x 16 output channels, summed over all pixels of one image:
   roff[r] is row r's offset from a pixel's top-left tap in the padded input; rows past nr
   repeat the last and are not stored */
static void cae__neon_dw_6x16(float *dw, int nr, const int *roff, const float *P, const float *g, int h, int w, int ci,
                              int co, int k)
{
    float32x4_t a[6][4], z = vdupq_n_f32(0.0f);
    int y, x, r, c, pw = w + k - 1, r0 = roff[0], r1 = roff[1], r2 = roff[2], r3 = roff[3], r4 = roff[4], r5 = roff[5];
    for (r = 0; r < 6; r++) a[r][0] = a[r][1] = a[r][2] = a[r][3] = z;
    for (y = 0; y < h; y++) {
        const float *p = P + (size_t)y * pw * ci, *gr = g + (size_t)y * w * co;
        for (x = 0; x < w; x++, p += ci, gr += co) {
            float32x4_t g0 = vld1q_f32(gr), g1 = vld1q_f32(gr + 4), g2 = vld1q_f32(gr + 8), g3 = vld1q_f32(gr + 12), v;
#define CAE__ROW(r, off)                                                                                               \
    v = vld1q_dup_f32(p + off);                                                                                        \
    a[r][0] = vfmaq_f32(a[r][0], v, g0), a[r][1] = vfmaq_f32(a[r][1], v, g1);                                          \
    a[r][2] = vfmaq_f32(a[r][2], v, g2), a[r][3] = vfmaq_f32(a[r][3], v, g3);
            CAE__ROW(0, r0) CAE__ROW(1, r1) CAE__ROW(2, r2) CAE__ROW(3, r3) CAE__ROW(4, r4) CAE__ROW(5, r5)
#undef CAE__ROW
        }
    }
    for (r = 0; r < nr; r++)
        for (c = 0; c < 4; c++) {
            float *d = dw + (size_t)r * co + 4 * c;
            vst1q_f32(d, vaddq_f32(vld1q_f32(d), a[r][c]));
        }
}

/* one image: dwt [k,k,ci,co] += P (x) dpre */
static void cae__neon_conv_dw(float *dwt, const float *P, const float *dpre, int h, int w, int ci, int co, int k)
{
    int o0 = 0, pw = w + k - 1, rows = k * k * ci, r0, r, j, v;
    if (co == 1 && ci % 4 == 0) { /* one output channel: dW row (kh, kw, :) += P window * g, 4 values at a time */
        int len = k * ci, kh;
        for (kh = 0; kh < k; kh++)
            for (v = 0; v < len; v += 4) {
                float32x4_t a = vdupq_n_f32(0.0f);
                int y, x;
                for (y = 0, j = 0; y < h; y++)
                    for (x = 0; x < w; x++, j++)
                        a = vfmaq_f32(a, vld1q_f32(P + ((size_t)(y + kh) * pw + x) * ci + v), vld1q_dup_f32(dpre + j));
                vst1q_f32(dwt + (size_t)kh * len + v, vaddq_f32(vld1q_f32(dwt + (size_t)kh * len + v), a));
            }
        return;
    }
    for (; o0 + 16 <= co; o0 += 16)
        for (r0 = 0; r0 < rows; r0 += 6) {
            int roff[6], nr = rows - r0 < 6 ? rows - r0 : 6;
            for (r = 0; r < 6; r++) {
                int row = r0 + (r < nr ? r : nr - 1), t = row / ci, i = row % ci;
                roff[r] = ((t / k) * pw + t % k) * ci + i;
            }
            cae__neon_dw_6x16(dwt + (size_t)r0 * co + o0, nr, roff, P, dpre + o0, h, w, ci, co, k);
        }
    if (o0 < co) cae__conv_dw_padded_c(dwt, P, dpre, h, w, ci, co, k, o0, co);
}

/* one image: dU [16][ci][co] += sum over tiles of V (x) dM, dM = A dY At the transformed 2x2
   tiles of the output gradient (zero past the image) */
static void cae__neon_wino_dw1(float *dU, const float *in, const float *dpre, int h, int w, int ci, int co, float *work)
{
    int tw = (w + 1) / 2, T = ((h + 1) / 2) * tw, t, o, xi, r, r0;
    size_t vs = CAE__WINO_PLANE(T, ci), ms = CAE__WINO_PLANE(T, co);
    float *V = cae__neon_wino_input(in, h, w, ci, work), *dM = V + 16 * vs;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (t = 0; t < T; t++) {
        int ty = t / tw * 2, tx = t % tw * 2, right = tx + 1 < w, down = ty + 1 < h;
        const float *g = dpre + ((size_t)ty * w + tx) * co;
        for (o = 0; o < co; o += 4) {
            float32x4_t a = vld1q_f32(g + o), b = right ? vld1q_f32(g + co + o) : z;
            float32x4_t c = down ? vld1q_f32(g + (size_t)w * co + o) : z;
            float32x4_t d = right && down ? vld1q_f32(g + (size_t)(w + 1) * co + o) : z;
            /* A dY: rows [a b], [a+c b+d], [a-c b-d], [-c -d]; then each row [p q] -> [p, p+q, p-q, -q] */
            float32x4_t p[4], q[4];
            p[0] = a, q[0] = b;
            p[1] = vaddq_f32(a, c), q[1] = vaddq_f32(b, d);
            p[2] = vsubq_f32(a, c), q[2] = vsubq_f32(b, d);
            p[3] = vsubq_f32(z, c), q[3] = vsubq_f32(z, d);
            for (r = 0; r < 4; r++) {
                float *m = dM + (size_t)(r * 4) * ms + (size_t)t * co + o;
                vst1q_f32(m, p[r]);
                vst1q_f32(m + ms, vaddq_f32(p[r], q[r]));
                vst1q_f32(m + 2 * ms, vsubq_f32(p[r], q[r]));
                vst1q_f32(m + 3 * ms, vsubq_f32(z, q[r]));
            }
        }
    }
    /* 16 products dU[xi] += V[xi]^T dM[xi], summed over the tiles */
    for (xi = 0; xi < 16; xi++)
        for (o = 0; o < co; o += 16)
            for (r0 = 0; r0 < ci; r0 += 6) {
                int roff[6], nr = ci - r0 < 6 ? ci - r0 : 6;
                for (r = 0; r < 6; r++) roff[r] = r0 + (r < nr ? r : nr - 1);
                cae__neon_dw_6x16(dU + ((size_t)xi * ci + r0) * co + o, nr, roff, V + (size_t)xi * vs,
                                  dM + (size_t)xi * ms + o, 1, T, ci, co, 1);
            }
}

/* the weight gradient of n images, is and gs floats apart, one after the other */
static void cae__neon_wino_dw(float *dU, const float *in, size_t is, const float *dpre, size_t gs, int n, int h, int w,
                              int ci, int co, float *work)
{
    int b;
    for (b = 0; b < n; b++) cae__neon_wino_dw1(dU, in + (size_t)b * is, dpre + (size_t)b * gs, h, w, ci, co, work);
}

static void cae__neon_maxpool_bwd(float *din, const float *dout, const int *argmax, int n, int h, int w, int c)
{
    /* the windows tile the input, so each input gets its gradient or 0 written exactly once
       (an odd edge's repeated positions get the same value twice) */
    int b, oy, ox, ch, oh = (h + 1) / 2, ow = (w + 1) / 2;
    static const int lanes[4] = {0, 1, 2, 3};
    const int32x4_t iota = vld1q_s32(lanes);
    const float32x4_t z = vdupq_n_f32(0.0f);
    if (c % 4) {
        cae_maxpool2d_backward_ref(din, dout, argmax, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++) {
        float *di = din + (size_t)b * h * w * c;
        for (oy = 0; oy < oh; oy++)
            for (ox = 0; ox < ow; ox++) {
                int a0, dx, dy, k;
                size_t o = (((size_t)b * oh + oy) * ow + ox) * c;
                a0 = cae__pool_window(oy, ox, h, w, c, &dx, &dy);
                for (ch = 0; ch < c; ch += 4) {
                    float32x4_t g = vld1q_f32(dout + o + ch);
                    int32x4_t am = vld1q_s32(argmax + o + ch);
                    for (k = 0; k < 4; k++) {
                        uint32x4_t hit = vceqq_s32(am, vaddq_s32(vdupq_n_s32(CAE__POOL_AT(a0, dx, dy, k) + ch), iota));
                        vst1q_f32(di + CAE__POOL_AT(a0, dx, dy, k) + ch, vbslq_f32(hit, g, z));
                    }
                }
            }
    }
}

static void cae__neon_upsample_bwd(float *din, const float *dout, int n, int h, int w, int c)
{
    int b, y, x, ch, ow = 2 * w;
    if (c % 4) {
        cae_upsample2d_backward_ref(din, dout, n, h, w, c);
        return;
    }
    for (b = 0; b < n; b++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                const float *d0 = dout + (((size_t)b * 2 * h + 2 * y) * ow + 2 * x) * c, *d1 = d0 + (size_t)ow * c;
                float *di = din + (((size_t)b * h + y) * w + x) * c;
                for (ch = 0; ch < c; ch += 4) /* (d00 + d01) + (d10 + d11), as the reference adds */
                    vst1q_f32(di + ch, vaddq_f32(vaddq_f32(vld1q_f32(d0 + ch), vld1q_f32(d0 + c + ch)),
                                                 vaddq_f32(vld1q_f32(d1 + ch), vld1q_f32(d1 + c + ch))));
            }
}

static void cae__neon_relu_bwd(float *dx, const float *dy, const float *y, size_t n)
{
    size_t i = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; i + 4 <= n; i += 4) vst1q_f32(dx + i, vbslq_f32(vcgtq_f32(vld1q_f32(y + i), z), vld1q_f32(dy + i), z));
    cae_relu_backward_ref(dx + i, dy + i, y + i, n - i);
}

/* 16 channels at a time in four registers, then 4 at a time, row after row as the reference */
static void cae__neon_bias_bwd(float *db, const float *dy, size_t n, int c)
{
    size_t j;
    int o = 0;
    for (; o + 16 <= c; o += 16) {
        float32x4_t a0 = vld1q_f32(db + o), a1 = vld1q_f32(db + o + 4), a2 = vld1q_f32(db + o + 8);
        float32x4_t a3 = vld1q_f32(db + o + 12);
        for (j = 0; j < n; j++) {
            const float *g = dy + j * (size_t)c + o;
            a0 = vaddq_f32(a0, vld1q_f32(g)), a1 = vaddq_f32(a1, vld1q_f32(g + 4));
            a2 = vaddq_f32(a2, vld1q_f32(g + 8)), a3 = vaddq_f32(a3, vld1q_f32(g + 12));
        }
        vst1q_f32(db + o, a0), vst1q_f32(db + o + 4, a1), vst1q_f32(db + o + 8, a2), vst1q_f32(db + o + 12, a3);
    }
    for (; o + 4 <= c; o += 4) {
        float32x4_t a = vld1q_f32(db + o);
        for (j = 0; j < n; j++) a = vaddq_f32(a, vld1q_f32(dy + j * (size_t)c + o));
        vst1q_f32(db + o, a);
    }
    cae__bias_cols(db, dy, n, c, o);
}
#endif /* CONVAE_NO_TRAIN */

static const cae_kernels cae__set_neon = {
    "neon", "AArch64 NEON: 6x16 register tiles, Winograd F(2x2,3x3), 4-wide pooling and ReLU", cae__neon_usable, 2,
    cae__neon_conv, cae__neon_wino_conv, cae__neon_maxpool_fwd, cae__neon_upsample_fwd, cae__neon_relu_fwd,
    cae__scalar_bce_sum
    CAE__TRAIN_ENTRIES(cae__neon_conv_dw, cae__neon_wino_dw, cae__neon_maxpool_bwd, cae__neon_upsample_bwd,
                       cae__neon_relu_bwd, cae__neon_bias_bwd)};
#define CAE__SET_NEON , &cae__set_neon
#else
#define CAE__SET_NEON
#endif /* CAE__NEON */

/* ================================================================ dispatch */

/* every set this build has, slowest first */
static const cae_kernels *const cae__sets[] = {&cae__set_scalar CAE__SET_AVX2 CAE__SET_AVX512 CAE__SET_NEON};

CONVAE_DEF const cae_kernels *cae_kernels_get(int i)
{
    return i >= 0 && i < (int)(sizeof cae__sets / sizeof cae__sets[0]) ? cae__sets[i] : NULL;
}

CONVAE_DEF const char *cae_kernels_name(const cae_kernels *ks)
{
    return ks ? ks->name : "none";
}

CONVAE_DEF const char *cae_kernels_about(const cae_kernels *ks)
{
    return ks ? ks->about : "";
}

CONVAE_DEF int cae_kernels_usable(const cae_kernels *ks)
{
    return ks && ks->usable();
}

CONVAE_DEF const cae_kernels *cae_kernels_best(void)
{
    int i = (int)(sizeof cae__sets / sizeof cae__sets[0]);
    while (--i > 0)
        if (cae__sets[i]->usable()) return cae__sets[i];
    return cae__sets[0];
}

CONVAE_DEF int cae_kernels_pick(const char *name, const cae_kernels **out, cae_err *e)
{
    char known[96];
    size_t n = 0;
    int i, nsets = (int)(sizeof cae__sets / sizeof cae__sets[0]);
    const char *from = "";
    if (!out) return cae__fail(e, CAE_ERR_ARG, "cae_kernels_pick: out is NULL");
    *out = NULL;
#ifndef CONVAE_NO_STDIO
    if (!name) {
        name = getenv("CONVAE_KERNELS");
        from = " (from the environment variable CONVAE_KERNELS)";
    }
#endif
    if (!name || !*name || strcmp(name, "auto") == 0) {
        *out = cae_kernels_best();
        return CAE_OK;
    }
    for (i = 0; i < nsets; i++)
        if (strcmp(name, cae__sets[i]->name) == 0) {
            if (!cae__sets[i]->usable())
                return cae__fail(e, CAE_ERR_ARG, "kernel set \"%s\"%s: this CPU cannot run it", name, from);
            *out = cae__sets[i];
            return CAE_OK;
        }
    for (i = 0; i < nsets; i++) {
        const char *s = cae__sets[i]->name;
        if (n + strlen(s) + 3 >= sizeof known) break;
        if (i) known[n++] = ',', known[n++] = ' ';
        while (*s) known[n++] = *s++;
    }
    known[n] = 0;
    return cae__fail(e, CAE_ERR_ARG, "unknown kernel set \"%s\"%s: this build has %s, or auto", name, from, known);
}

/* ================================================================ layers through a kernel set */

static const cae_kernels *cae__ks(const cae_kernels *ks)
{
    return ks ? ks : cae_kernels_best();
}

CONVAE_DEF int cae_conv2d_wino(const cae_kernels *ks, int ci, int co, int k)
{
    return cae__wino_shape(ci, co, k) ? cae__ks(ks)->wino : 0;
}

CONVAE_DEF void cae_conv2d_forward1(const cae_kernels *ks, float *out, const float *in, const float *wt,
                                    const float *U, const float *bias, int h, int w, int ci, int co, int k, int act,
                                    float *work)
{
    ks = cae__ks(ks);
    if (U && cae_conv2d_wino(ks, ci, co, k)) {
        ks->wino_conv(out, in, U, bias, h, w, ci, co, act, work);
        return;
    }
    cae__pad(work, in, h, w, ci, k, (k - 1) / 2);
    ks->conv(out, work, wt, bias, h, w, ci, co, k, act);
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_conv2d_backward1(const cae_kernels *ks, float *din, float *dwt, float *dU, float *dbias,
                                     const float *dpre, const float *in, const float *wflip, const float *Uflip,
                                     int h, int w, int ci, int co, int k, float *work)
{
    ks = cae__ks(ks);
    if (dbias) ks->bias_bwd(dbias, dpre, (size_t)h * w, co);
    if (dU && cae_conv2d_wino(ks, ci, co, k)) {
        ks->wino_dw(dU, in, 0, dpre, 0, 1, h, w, ci, co, work);
        dwt = NULL;
    }
    if (dwt) {
        cae__pad(work, in, h, w, ci, k, (k - 1) / 2);
        ks->conv_dw(dwt, work, dpre, h, w, ci, co, k);
    }
    if (din && k % 2 == 1) { /* odd k pads the same on both sides: din is a 'same' convolution */
        cae_conv2d_forward1(ks, din, dpre, wflip, Uflip, NULL, h, w, co, ci, k, CAE_ACT_NONE, work);
    } else if (din) {
        cae__pad(work, dpre, h, w, co, k, k - 1 - (k - 1) / 2);
        ks->conv(din, work, wflip, NULL, h, w, co, ci, k, CAE_ACT_NONE);
    }
}
#endif

CONVAE_DEF void cae_conv2d_forward(const cae_kernels *ks, float *out, const float *in, const float *wt,
                                   const float *bias, int n, int h, int w, int ci, int co, int k, int act,
                                   float *work)
{
    float *U = work + cae__conv_scratch(h, w, ci, co, k) + (size_t)k * k * ci * co;
    int b, wino = cae_conv2d_wino(ks, ci, co, k);
    if (wino) cae_conv2d_wino_kernel(wino, U, wt, ci, co);
    for (b = 0; b < n; b++)
        cae_conv2d_forward1(ks, out + (size_t)b * h * w * co, in + (size_t)b * h * w * ci, wt, wino ? U : NULL, bias,
                            h, w, ci, co, k, act, work);
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_conv2d_backward(const cae_kernels *ks, float *din, float *dwt, float *dbias, const float *dpre,
                                    const float *in, const float *wt, int n, int h, int w, int ci, int co, int k,
                                    float *work)
{
    float *wf = work + cae__conv_scratch(h, w, ci, co, k), *U = wf + (size_t)k * k * ci * co;
    int b, m = cae_conv2d_wino(ks, ci, co, k), wino_din = cae_conv2d_wino(ks, co, ci, k);
    float *dU = dwt && m ? U + (size_t)36 * ci * co : NULL;
    cae_conv2d_flip(wf, wt, ci, co, k);
    if (wino_din) cae_conv2d_wino_kernel(wino_din, U, wf, co, ci);
    if (dU) memset(dU, 0, sizeof(float) * (size_t)(m + 2) * (m + 2) * ci * co);
    for (b = 0; b < n; b++)
        cae_conv2d_backward1(ks, din ? din + (size_t)b * h * w * ci : NULL, dwt, dU, dbias,
                             dpre + (size_t)b * h * w * co, in + (size_t)b * h * w * ci, wf, wino_din ? U : NULL, h,
                             w, ci, co, k, work);
    if (dU) cae_conv2d_wino_grad(m, dwt, dU, ci, co);
}
#endif

CONVAE_DEF void cae_maxpool2d_forward(const cae_kernels *ks, float *out, int *argmax, const float *in, int n, int h,
                                      int w, int c)
{
    cae__ks(ks)->maxpool_fwd(out, argmax, in, n, h, w, c);
}

CONVAE_DEF void cae_upsample2d_forward(const cae_kernels *ks, float *out, const float *in, int n, int h, int w,
                                       int c)
{
    cae__ks(ks)->upsample_fwd(out, in, n, h, w, c);
}

CONVAE_DEF void cae_relu_forward(const cae_kernels *ks, float *y, const float *x, size_t n)
{
    cae__ks(ks)->relu_fwd(y, x, n);
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF void cae_maxpool2d_backward(const cae_kernels *ks, float *din, const float *dout, const int *argmax,
                                       int n, int h, int w, int c)
{
    cae__ks(ks)->maxpool_bwd(din, dout, argmax, n, h, w, c);
}

CONVAE_DEF void cae_upsample2d_backward(const cae_kernels *ks, float *din, const float *dout, int n, int h, int w,
                                        int c)
{
    cae__ks(ks)->upsample_bwd(din, dout, n, h, w, c);
}

CONVAE_DEF void cae_relu_backward(const cae_kernels *ks, float *dx, const float *dy, const float *y, size_t n)
{
    cae__ks(ks)->relu_bwd(dx, dy, y, n);
}

CONVAE_DEF void cae_bias_backward(const cae_kernels *ks, float *dbias, const float *dy, size_t n, int c)
{
    cae__ks(ks)->bias_bwd(dbias, dy, n, c);
}
#endif

/* ================================================================ losses */

CONVAE_DEF double cae_bce_logits(const float *z, const float *t, size_t n, float *grad, float scale)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        float zi = z[i], a = zi < 0.0f ? -zi : zi;
        /* max(z,0) - z*t + log(1+exp(-|z|)): no overflow for any z */
        sum += (double)((zi > 0.0f ? zi : 0.0f) - zi * t[i]) + log1p(exp(-(double)a));
        if (grad) grad[i] = (cae__sigmoid1(zi) - t[i]) * scale;
    }
    return sum;
}

CONVAE_DEF double cae_bce_logits_sum(const cae_kernels *ks, const float *z, const float *t, size_t n)
{
    return cae__ks(ks)->bce_sum(z, t, n);
}

CONVAE_DEF double cae_bce(const float *p, const float *t, size_t n, float *grad, float scale)
{
    const float lo = 1e-7f, hi = 1.0f - 1e-7f;
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        float q = p[i] < lo ? lo : (p[i] > hi ? hi : p[i]);
        sum -= (double)t[i] * log((double)q) + (1.0 - (double)t[i]) * log(1.0 - (double)q);
        /* the clip has zero slope outside [lo, hi], as in Keras */
        if (grad) grad[i] = (p[i] < lo || p[i] > hi) ? 0.0f : (q - t[i]) / (q * (1.0f - q)) * scale;
    }
    return sum;
}

CONVAE_DEF double cae_mse(const float *y, const float *t, size_t n, float *grad, float scale)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        float d = y[i] - t[i];
        sum += (double)d * d;
        if (grad) grad[i] = 2.0f * d * scale;
    }
    return sum;
}

/* ================================================================ initialisation and Adam */

CONVAE_DEF void cae_glorot_uniform(float *w, size_t n, int fan_in, int fan_out, cae_rng *r)
{
    float lim = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    size_t i;
    for (i = 0; i < n; i++) w[i] = (2.0f * cae_rng_uniform(r) - 1.0f) * lim;
}

#ifndef CONVAE_NO_TRAIN
CONVAE_DEF cae_adam cae_adam_default(void)
{
    cae_adam a;
    a.lr = 1e-3f;
    a.beta1 = 0.9f;
    a.beta2 = 0.999f;
    a.eps = 1e-7f;
    a.t = 0;
    return a;
}

/* the step count advanced, and the step's learning rate with both bias corrections */
static float cae__adam_lr(cae_adam *a)
{
    a->t++;
    return (float)((double)a->lr * sqrt(1.0 - pow((double)a->beta2, (double)a->t)) /
                   (1.0 - pow((double)a->beta1, (double)a->t)));
}

/* Adam on values i0..i1-1 (the trainer runs it a block at a time, as each block's gradient is
   summed) */
static void cae__adam_range(const cae_adam *a, float lr_t, float *param, const float *grad, float *m, float *v,
                            size_t i0, size_t i1)
{
    float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    size_t i;
    for (i = i0; i < i1; i++) {
        float g = grad[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        param[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

CONVAE_DEF void cae_adam_step(cae_adam *a, float *param, const float *grad, float *m, float *v, size_t n)
{
    float lr_t = cae__adam_lr(a);
    cae__adam_range(a, lr_t, param, grad, m, v, 0, n);
}
#endif /* CONVAE_NO_TRAIN */

/* ================================================================ the net */

static const cae_layer_spec cae__lab[] = {
    {CAE_CONV2D, 32, 3, CAE_ACT_RELU, "enc_conv1"},        {CAE_MAXPOOL2D, 0, 0, 0, "enc_pool1"},
    {CAE_CONV2D, 64, 3, CAE_ACT_RELU, "enc_conv2"},        {CAE_MAXPOOL2D, 0, 0, 0, "enc_pool2"},
    {CAE_CONV2D, 64, 3, CAE_ACT_RELU, "dec_conv1"},        {CAE_UPSAMPLE2D, 0, 0, 0, "dec_upsample1"},
    {CAE_CONV2D, 32, 3, CAE_ACT_RELU, "dec_conv2"},        {CAE_UPSAMPLE2D, 0, 0, 0, "dec_upsample2"},
    {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "dec_conv_output"}};

CONVAE_DEF const cae_layer_spec *cae_lab_specs(int *count)
{
    if (count) *count = (int)(sizeof cae__lab / sizeof cae__lab[0]);
    return cae__lab;
}

CONVAE_DEF int cae_arch_parse(cae_arch *a, const char *text, cae_err *e)
{
    const char *p = text;
    int counts[2][3] = {{0, 0, 0}, {0, 0, 0}}; /* encoder, decoder: convs, pools, upsamplings */
    int l, part = 0;
    if (!a || !text) return cae__fail(e, CAE_ERR_ARG, "arch: NULL text");
    memset(a, 0, sizeof *a);
    a->latent = -1;
    for (;;) {
        cae_layer_spec *s = a->spec + a->n;
        const char *start = p;
        char tok[16]; /* the layer's text, for messages */
        long v = 0, k = 3;
        size_t t = 0;
        while (start[t] && start[t] != ',' && start[t] != '|' && t + 1 < sizeof tok) tok[t] = start[t], t++;
        tok[t] = 0;
        if (a->n == CAE_MAX_LAYERS)
            return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": more than %d layers", text, (int)CAE_MAX_LAYERS);
        if (*p == 'c') {
            int digits = 0;
            for (p++; *p >= '0' && *p <= '9' && v <= 100000; p++) v = v * 10 + (*p - '0'), digits++;
            if (*p == 'k') {
                for (k = 0, p++; *p >= '0' && *p <= '9' && k <= 100; p++) k = k * 10 + (*p - '0');
                if (k < 1 || k > 15 || k % 2 == 0) digits = 0;
            }
            if (!digits || v < 1 || v > 4096)
                return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": \"%s\" at offset %d: a convolution is cN (N filters, "
                                 "1..4096) or cNkK (a KxK kernel, K odd, 1..15)", text, tok, (int)(start - text));
            s->kind = CAE_CONV2D, s->filters = (int)v, s->ksize = (int)k, s->act = CAE_ACT_RELU;
            counts[part][0]++;
        } else if (*p == 'p' || *p == 'u') {
            s->kind = *p == 'p' ? CAE_MAXPOOL2D : CAE_UPSAMPLE2D;
            counts[part][*p == 'p' ? 1 : 2]++;
            p++;
        } else {
            return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": %s%s%s at offset %d (layers: cN, cNkK, p, u; \",\" between "
                             "them, \"|\" after the encoder)", text, *tok ? "unknown layer \"" : "a layer missing",
                             tok, *tok ? "\"" : "", (int)(p - text));
        }
        a->n++;
        if (*p == '|' && a->latent < 0) {
            a->latent = a->n - 1, part = 1, p++;
        } else if (*p == ',') {
            p++;
        } else if (*p) {
            return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": \"%c\" at offset %d: expected \",\" or one \"|\"", text, *p,
                             (int)(p - text));
        } else {
            break;
        }
    }
    if (a->spec[a->n - 1].kind != CAE_CONV2D)
        return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": the last layer must be a convolution (the output image)", text);
    if (a->latent == a->n - 1)
        return cae__fail(e, CAE_ERR_ARG, "arch \"%s\": \"|\" needs a decoder after it", text);
    a->spec[a->n - 1].act = CAE_ACT_SIGMOID;
    memset(counts, 0, sizeof counts);
    for (l = 0; l < a->n; l++) { /* enc_conv1, enc_pool1, ..., dec_conv1, dec_upsample1, ..., dec_conv_output */
        cae_layer_spec *s = a->spec + l;
        int dec = a->latent >= 0 && l > a->latent, kind = s->kind == CAE_CONV2D ? 0 : s->kind == CAE_MAXPOOL2D ? 1 : 2;
        static const char *const what[3] = {"conv", "pool", "upsample"};
        size_t n = 0;
        const char *q;
        counts[dec][kind]++;
        for (q = dec ? "dec_" : "enc_"; *q; q++) cae__putc(a->name[l], 32, &n, *q);
        if (l == a->n - 1) {
            for (q = "conv_output"; *q; q++) cae__putc(a->name[l], 32, &n, *q);
        } else {
            for (q = what[kind]; *q; q++) cae__putc(a->name[l], 32, &n, *q);
            cae__putu(a->name[l], 32, &n, (unsigned long long)counts[dec][kind], 10);
        }
        a->name[l][n] = 0;
        s->name = a->name[l];
    }
    return CAE_OK;
}

static const char *cae__kind_name(int kind)
{
    switch (kind) {
    case CAE_CONV2D: return "Conv2D";
    case CAE_MAXPOOL2D: return "MaxPooling2D";
    case CAE_UPSAMPLE2D: return "UpSampling2D";
    case CAE_RELU: return "ReLU";
    case CAE_SIGMOID: return "Sigmoid";
    default: return "?";
    }
}

static size_t cae__up64(size_t n)
{
    return (n + 15) & ~(size_t)15; /* floats: 64-byte steps */
}

/* p rounded up to the next 64-byte boundary (the buffers are allocated with 64 bytes to spare) */
static float *cae__align64(void *p)
{
    size_t mis = (size_t)((unsigned long long)(size_t)p & 63u);
    return (float *)(void *)((unsigned char *)p + (mis ? 64 - mis : 0));
}

/* Zeroes the net and fills its layer table and sizes from the specs; allocates nothing. */
static int cae__plan(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int ns, cae_err *e)
{
    int l, counts[6] = {0, 0, 0, 0, 0, 0};
    size_t maxact = (size_t)h * w * c, work = 0;
    double sum = 0.0;
    memset(net, 0, sizeof *net);
    if (!specs) return cae__fail(e, CAE_ERR_ARG, "net: no layers given");
    if (ns < 1 || ns > CAE_MAX_LAYERS)
        return cae__fail(e, CAE_ERR_ARG, "net: %d layers given, 1 to %d allowed", ns, (int)CAE_MAX_LAYERS);
    if (h < 1 || w < 1 || c < 1 || h > CONVAE_MAX_DIM || w > CONVAE_MAX_DIM || c > CONVAE_MAX_DIM)
        return cae__fail(e, CAE_ERR_SHAPE, "net: input %dx%dx%d, each size must be 1..%d", h, w, c, CONVAE_MAX_DIM);
    if (maxact > (size_t)1 << 28)
        return cae__fail(e, CAE_ERR_SHAPE, "net: input %dx%dx%d is too large for one image", h, w, c);
    net->nlayers = ns;
    net->h = h, net->w = w, net->c = c;
    for (l = 0; l < ns; l++) {
        const cae_layer_spec *s = specs + l;
        cae_layer *L = net->layer + l;
        size_t outn;
        L->kind = s->kind;
        L->h = h, L->w = w, L->c = c;
        L->oh = h, L->ow = w, L->oc = c;
        if (s->kind < CAE_CONV2D || s->kind > CAE_SIGMOID)
            return cae__fail(e, CAE_ERR_ARG, "net: layer %d has unknown kind %d", l, s->kind);
        counts[s->kind]++;
        if (s->name && s->name[0]) {
            size_t len = strlen(s->name);
            if (len >= sizeof L->name) len = sizeof L->name - 1;
            memcpy(L->name, s->name, len);
        } else {
            static const char *base[6] = {"", "conv2d", "max_pooling2d", "up_sampling2d", "re_lu", "sigmoid"};
            char *d = L->name;
            const char *b = base[s->kind];
            int num = counts[s->kind], dig = 1, t;
            while (*b) *d++ = *b++;
            *d++ = '_';
            for (t = num; t >= 10; t /= 10) dig *= 10;
            for (; dig; dig /= 10) *d++ = (char)('0' + num / dig % 10);
        }
        if (s->kind == CAE_CONV2D) {
            size_t wk;
            if (s->filters < 1 || s->filters > CONVAE_MAX_DIM || s->ksize < 1 || s->ksize > 15 || s->act < 0 ||
                s->act > CAE_ACT_SIGMOID)
                return cae__fail(e, CAE_ERR_ARG, "net: %s: filters %d (1..%d), kernel %d (1..15), act %d (0..2)",
                                 L->name, s->filters, CONVAE_MAX_DIM, s->ksize, s->act);
            double pad = (double)(h + s->ksize - 1) * (double)(w + s->ksize - 1) * (c > s->filters ? c : s->filters);
            double tiles = 16.0 * (double)(h / 2 + 2) * (double)(w / 2 + 2) * (double)(c + s->filters);
            if ((double)s->ksize * s->ksize * c * s->filters > (double)(1 << 28) || pad > (double)(1 << 28) ||
                tiles > (double)(1 << 28)) /* in floats; also keeps every size below in range on 32-bit hosts */
                return cae__fail(e, CAE_ERR_SHAPE, "net: %s: a %dx%d kernel from %d to %d channels on %dx%d is too large",
                                 L->name, s->ksize, s->ksize, c, s->filters, h, w);
            L->k = s->ksize;
            L->act = s->act;
            L->oc = s->filters;
            L->poff = net->nparams;
            L->nparams = (size_t)L->k * L->k * c * L->oc + (size_t)L->oc;
            L->wino_off = net->nwino;
            if (cae__wino_shape(c, L->oc, L->k)) net->nwino += cae__up64((size_t)36 * c * L->oc);
            net->nparams += L->nparams;
            wk = cae__conv_scratch(h, w, c, L->oc, L->k);
            if (wk > work) work = wk;
        } else if (s->kind == CAE_MAXPOOL2D) {
            L->oh = (h + 1) / 2, L->ow = (w + 1) / 2;
        } else if (s->kind == CAE_UPSAMPLE2D) {
            if (h > CONVAE_MAX_DIM / 2 || w > CONVAE_MAX_DIM / 2)
                return cae__fail(e, CAE_ERR_SHAPE, "net: %s: %dx%d upsampled exceeds %d", L->name, h, w,
                                 CONVAE_MAX_DIM);
            L->oh = 2 * h, L->ow = 2 * w;
        }
        outn = (size_t)L->oh * L->ow * L->oc;
        if (outn > (size_t)1 << 28)
            return cae__fail(e, CAE_ERR_SHAPE, "net: %s: output %dx%dx%d is too large for one image", L->name, L->oh,
                             L->ow, L->oc);
        if (outn > maxact) maxact = outn;
        sum += 3.0 * (double)outn + (double)L->nparams + 16.0 * (double)L->c * L->oc;
        if (sum > (double)(1 << 28)) /* floats: every size a net or trainer adds up stays in range */
            return cae__fail(e, CAE_ERR_SHAPE, "net: the layers up to %s hold more than 2^28 values per image", L->name);
        h = L->oh, w = L->ow, c = L->oc;
    }
    net->maxact = maxact;
    net->work = work;
    return CAE_OK;
}

/* Layer L's Winograd kernel, where its shape takes one, from the parameters. */
static void cae__layer_wino(const cae_net *net, const cae_layer *L, float *wino)
{
    if (L->kind == CAE_CONV2D && net->wino_m && cae__wino_shape(L->c, L->oc, L->k))
        cae_conv2d_wino_kernel(net->wino_m, wino + L->wino_off, net->param + L->poff, L->c, L->oc);
}

/* The Winograd kernels of the layers whose shape takes them, from the parameters. */
static void cae__net_wino(const cae_net *net, float *wino)
{
    int l;
    for (l = 0; l < net->nlayers; l++) cae__layer_wino(net, net->layer + l, wino);
}

/* Plans the net, picks its kernel set and allocates its parameters and Winograd kernels (not
   yet filled); *param is where the parameters go. Zeroes the net on error. */
static int cae__net_alloc(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int ns, float **param,
                          cae_err *e)
{
    const cae_kernels *ks;
    size_t total, bytes;
    int rc = cae_kernels_pick(NULL, &ks, e);
    if (rc) {
        memset(net, 0, sizeof *net);
        return rc;
    }
    rc = cae__plan(net, h, w, c, specs, ns, e);
    if (rc) {
        memset(net, 0, sizeof *net);
        return rc;
    }
    total = cae__up64(net->nparams) + net->nwino + 16;
    bytes = cae__mul(total, sizeof(float));
    if (!bytes || bytes > CONVAE_MAX_BYTES) {
        size_t np = net->nparams;
        memset(net, 0, sizeof *net);
        return cae__fail(e, CAE_ERR_NOMEM, "net: %zu parameters need more than CONVAE_MAX_BYTES (%zu MiB)", np,
                         (size_t)CONVAE_MAX_BYTES >> 20);
    }
    net->own = cae__alloc(bytes);
    if (!net->own) {
        memset(net, 0, sizeof *net);
        return cae__fail(e, CAE_ERR_NOMEM, "net: cannot allocate %zu bytes", bytes);
    }
    *param = cae__align64(net->own);
    net->param = *param;
    net->wino = net->nwino ? *param + cae__up64(net->nparams) : NULL;
    net->ks = ks;
    net->wino_m = ks->wino;
    return CAE_OK;
}

CONVAE_DEF int cae_net_create(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                              unsigned long long seed, cae_err *e)
{
    cae_rng rng = cae_rng_seed(seed);
    float *param;
    int l, rc;
    if (!net) return cae__fail(e, CAE_ERR_ARG, "net: no place to put the net");
    rc = cae__net_alloc(net, h, w, c, specs, nspecs, &param, e);
    if (rc) return rc;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        if (L->kind == CAE_CONV2D)
            cae_glorot_uniform(param + L->poff, L->nparams - (size_t)L->oc, L->k * L->k * L->c, L->k * L->k * L->oc,
                               &rng);
    }
    if (net->wino) cae__net_wino(net, param + cae__up64(net->nparams));
    return CAE_OK;
}

CONVAE_DEF int cae_net_init(cae_net *net, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                            const float *param, size_t nparam, cae_err *e)
{
    const cae_kernels *ks;
    int rc;
    if (!net) return cae__fail(e, CAE_ERR_ARG, "net: no place to put the net");
    memset(net, 0, sizeof *net);
    if ((rc = cae_kernels_pick(NULL, &ks, e)) != CAE_OK) return rc;
    if ((rc = cae__plan(net, h, w, c, specs, nspecs, e)) != CAE_OK) {
        memset(net, 0, sizeof *net);
        return rc;
    }
    if (!param || nparam != net->nparams) {
        size_t want = net->nparams;
        memset(net, 0, sizeof *net);
        return cae__fail(e, CAE_ERR_ARG, "net: %zu parameters given, the layers have %zu", param ? nparam : 0, want);
    }
    net->param = param;
    net->nwino = 0;
    net->ks = ks;
    return CAE_OK;
}

CONVAE_DEF void cae_net_free(cae_net *net)
{
    if (!net) return;
    CONVAE_FREE(net->own);
    memset(net, 0, sizeof *net);
}

CONVAE_DEF int cae_net_set_kernels(cae_net *net, const cae_kernels *ks, cae_err *e)
{
    if (!net) return cae__fail(e, CAE_ERR_ARG, "net: NULL net");
    ks = cae__ks(ks);
    if (!ks->usable()) return cae__fail(e, CAE_ERR_ARG, "net: kernel set \"%s\" does not run on this CPU", ks->name);
    net->ks = ks;
    if (net->own && net->wino && net->wino_m != ks->wino) { /* the net's own memory: remade for ks */
        net->wino_m = ks->wino;
        cae__net_wino(net, cae__align64(net->own) + cae__up64(net->nparams));
    }
    return CAE_OK;
}

CONVAE_DEF int cae_net_find(const cae_net *net, const char *name)
{
    int l;
    if (!net || !name) return -1;
    for (l = 0; l < net->nlayers; l++)
        if (strcmp(net->layer[l].name, name) == 0) return l;
    return -1;
}

/* ---------------------------------------------------------------- running it */

/* One layer on one image. logit (a conv with a sigmoid; may be NULL) receives the
   pre-activation and the sigmoid is applied from it; argmax (max-pooling; may be NULL) the
   winners, for a backward pass. */
static void cae__layer_forward(const cae_net *net, const cae_layer *L, const float *in, float *out, float *logit,
                               int *argmax, float *work)
{
    const cae_kernels *ks = cae__ks(net->ks);
    size_t on = (size_t)L->oh * L->ow * L->oc;
    switch (L->kind) {
    case CAE_CONV2D: {
        const float *wt = net->param + L->poff, *b = wt + (L->nparams - (size_t)L->oc);
        int m = cae_conv2d_wino(ks, L->c, L->oc, L->k); /* the net's Winograd kernels, if made for ks's m */
        const float *U = net->wino && m && m == net->wino_m ? net->wino + L->wino_off : NULL;
        if (L->act == CAE_ACT_SIGMOID && logit) {
            cae_conv2d_forward1(ks, logit, in, wt, U, b, L->h, L->w, L->c, L->oc, L->k, CAE_ACT_NONE, work);
            cae_sigmoid_forward(out, logit, on);
        } else {
            cae_conv2d_forward1(ks, out, in, wt, U, b, L->h, L->w, L->c, L->oc, L->k, L->act, work);
        }
        break;
    }
    case CAE_MAXPOOL2D: ks->maxpool_fwd(out, argmax, in, 1, L->h, L->w, L->c); break;
    case CAE_UPSAMPLE2D: ks->upsample_fwd(out, in, 1, L->h, L->w, L->c); break;
    case CAE_RELU: ks->relu_fwd(out, in, on); break;
    default:
        CONVAE_ASSERT(L->kind == CAE_SIGMOID);
        cae_sigmoid_forward(out, in, on);
        break;
    }
}

/* Loss of one image whose output is y: BCE from the logits z when there are some (a final
   sigmoid), else from y; or MSE. g (may be NULL) gets scale times its gradient: w.r.t. the
   logits when BCE has them, else w.r.t. y. */
static double cae__loss1(const cae_kernels *ks, const float *y, const float *z, const float *t, size_t on, int loss,
                         float *g, float scale)
{
    size_t i;
    if (loss == CAE_LOSS_MSE) return cae_mse(y, t, on, g, scale);
    if (!z) return cae_bce(y, t, on, g, scale);
    /* BCE from the logits; its gradient sigmoid(z) - t uses the y the forward pass made */
    if (g)
        for (i = 0; i < on; i++) g[i] = (y[i] - t[i]) * scale;
    return cae_bce_logits_sum(ks, z, t, on);
}

/* The logits of the net's output: the pre-activation of a final sigmoid conv (in logit), the
   input of a final Sigmoid layer, or NULL. */
static const float *cae__logits(const cae_net *net, const float *last_in, const float *logit)
{
    const cae_layer *L = net->layer + net->nlayers - 1;
    if (L->kind == CAE_CONV2D && L->act == CAE_ACT_SIGMOID) return logit;
    if (L->kind == CAE_SIGMOID) return last_in;
    return NULL;
}

/* A batch is cut into nslots fixed slices, slot s holding images [lo, hi): fixed by n,
   whatever the thread count. */
#ifndef CONVAE_SLOTS
#define CONVAE_SLOTS 16
#endif
typedef char cae__slots_ok[CONVAE_SLOTS >= 1 && CONVAE_SLOTS <= 256 ? 1 : -1];

static void cae__slot_range(int n, int nslots, int s, int *lo, int *hi)
{
    *lo = (int)((long long)n * s / nslots);
    *hi = (int)((long long)n * (s + 1) / nslots);
}

/* Runs fn(ctx, slot, thread) for each of nslots slots on up to `threads` OpenMP threads, the
   slots dealt round-robin (thread t takes t, t + threads, ...). */
static void cae__slices(int nslots, int threads, void (*fn)(void *ctx, int slot, int thread), void *ctx)
{
    int s;
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(threads)
#endif
    for (s = 0; s < nslots; s++) {
#ifdef _OPENMP
        fn(ctx, s, omp_get_thread_num());
#else
        fn(ctx, s, 0);
#endif
    }
    (void)threads;
}

static int cae__max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* An inference call's scratch, in floats: two buffers for the activations, one for a sigmoid
   conv's logits (zmax), and a convolution's scratch: the padded input, or the Winograd tiles
   where the net has Winograd kernels (whichever set it runs on, so that setting net->ks does not
   change the size). */
static size_t cae__net_scratch(const cae_net *net, size_t *zmax)
{
    size_t work = 0, z = 0;
    int l;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        size_t wk;
        if (L->kind != CAE_CONV2D) continue;
        wk = (size_t)(L->h + L->k - 1) * (size_t)(L->w + L->k - 1) * (size_t)L->c;
        if (net->wino && cae__wino_shape(L->c, L->oc, L->k) && cae__wino_floats(L->h, L->w, L->c, L->oc) > wk)
            wk = cae__wino_floats(L->h, L->w, L->c, L->oc);
        if (wk > work) work = wk;
        if (L->act == CAE_ACT_SIGMOID && (size_t)L->oh * L->ow * L->oc > z) z = (size_t)L->oh * L->ow * L->oc;
    }
    *zmax = cae__up64(z);
    return 2 * cae__up64(net->maxact) + *zmax + cae__up64(work);
}

CONVAE_DEF size_t cae_net_scratch_bytes(const cae_net *net)
{
    size_t z;
    if (!net || !net->nlayers) return 0;
    return cae__net_scratch(net, &z) * sizeof(float) + 64;
}

/* One image through layers 0..last on the scratch ws (zmax: cae__net_scratch's): the output
   goes to y, or (y NULL) stays in ws, where *yp points at it; *last_in and *logit are what
   cae__logits needs. */
static void cae__net_run1(const cae_net *net, size_t zmax, int last, const float *x, float *y, float *ws,
                          const float **yp, const float **last_in, const float **logit)
{
    float *buf[2], *z = ws + 2 * cae__up64(net->maxact), *work = z + zmax;
    const float *in = x;
    int l;
    buf[0] = ws, buf[1] = ws + cae__up64(net->maxact);
    *last_in = x;
    for (l = 0; l <= last; l++) {
        float *out = l == last && y ? y : buf[l % 2];
        if (l == last) *last_in = in;
        cae__layer_forward(net, net->layer + l, in, out, z, NULL, work);
        in = out;
    }
    *yp = in;
    *logit = z;
}

/* what a net call shares with its slices */
typedef struct cae__netjob {
    const cae_net *net;
    const float *x, *t;
    float *y, *mse;
    unsigned char *scratch;
    size_t per, zmax, in_n, out_n;
    int n, layer, loss;
    double slot_loss[CONVAE_SLOTS];
} cae__netjob;

/* Checks that x fits the net's input and y layer `layer`'s output, for as many images. */
static int cae__check_io(const char *what, const cae_net *net, int layer, const cae_tensor *x, const cae_tensor *y,
                         cae_err *e)
{
    const cae_layer *L;
    if (!net || !net->nlayers || !net->param) return cae__fail(e, CAE_ERR_ARG, "%s: no net", what);
    if (net->ks && !net->ks->usable())
        return cae__fail(e, CAE_ERR_ARG, "%s: the net's kernel set \"%s\" does not run on this CPU", what, net->ks->name);
    if (layer < 0 || layer >= net->nlayers)
        return cae__fail(e, CAE_ERR_ARG, "%s: layer %d, the net has 0..%d", what, layer, net->nlayers - 1);
    L = net->layer + layer;
    if (!x || !x->data) return cae__fail(e, CAE_ERR_ARG, "%s: no input tensor", what);
    if (x->n < 1 || x->h != net->h || x->w != net->w || x->c != net->c)
        return cae__fail(e, CAE_ERR_SHAPE, "%s: input tensor %dx%dx%dx%d, the net takes Nx%dx%dx%d (N >= 1)", what,
                         x->n, x->h, x->w, x->c, net->h, net->w, net->c);
    if (!y || !y->data) return cae__fail(e, CAE_ERR_ARG, "%s: no output (or target) tensor", what);
    if (y->n != x->n || y->h != L->oh || y->w != L->ow || y->c != L->oc)
        return cae__fail(e, CAE_ERR_SHAPE, "%s: output (or target) tensor %dx%dx%dx%d, %s gives %dx%dx%dx%d", what,
                         y->n, y->h, y->w, y->c, L->name, x->n, L->oh, L->ow, L->oc);
    return CAE_OK;
}

/* Checks a net call's arguments and fills the job; `layer` is the layer whose output is made.
   *threads: as many as the scratch has room for, at most OpenMP's and the slots' number. */
static int cae__netjob_init(cae__netjob *j, const char *what, const cae_net *net, int layer, const cae_tensor *x,
                            const cae_tensor *y, void *scratch, size_t bytes, int *threads, cae_err *e)
{
    const cae_layer *L;
    int rc = cae__check_io(what, net, layer, x, y, e);
    memset(j, 0, sizeof *j);
    *threads = 1;
    if (rc) return rc;
    L = net->layer + layer;
    j->per = cae__net_scratch(net, &j->zmax) * sizeof(float) + 64; /* cae_net_scratch_bytes */
    if (!scratch || bytes < j->per)
        return cae__fail(e, CAE_ERR_ARG, "%s: %zu bytes of scratch given, the net needs %zu (cae_net_scratch_bytes)",
                         what, scratch ? bytes : 0, j->per);
    *threads = (int)(bytes / j->per < (size_t)CONVAE_SLOTS ? bytes / j->per : (size_t)CONVAE_SLOTS);
    if (*threads > cae__max_threads()) *threads = cae__max_threads();
    j->net = net, j->layer = layer, j->n = x->n, j->x = x->data, j->y = y->data;
    j->scratch = (unsigned char *)scratch;
    j->in_n = (size_t)net->h * net->w * net->c;
    j->out_n = (size_t)L->oh * L->ow * L->oc;
    return CAE_OK;
}

static void cae__encode_slot(void *ctx, int s, int thread)
{
    cae__netjob *j = (cae__netjob *)ctx;
    float *ws = cae__align64(j->scratch + (size_t)thread * j->per);
    const float *y, *in, *z;
    int i, lo, hi;
    cae__slot_range(j->n, CONVAE_SLOTS, s, &lo, &hi);
    for (i = lo; i < hi; i++)
        cae__net_run1(j->net, j->zmax, j->layer, j->x + (size_t)i * j->in_n, j->y + (size_t)i * j->out_n, ws, &y, &in, &z);
}

CONVAE_DEF int cae_net_encode(const cae_net *net, int layer, const cae_tensor *x, cae_tensor *y, void *scratch,
                              size_t bytes, cae_err *e)
{
    cae__netjob j;
    int threads, rc = cae__netjob_init(&j, "encode", net, layer, x, y, scratch, bytes, &threads, e);
    if (rc) return rc;
    cae__slices(CONVAE_SLOTS, threads, cae__encode_slot, &j);
    return CAE_OK;
}

CONVAE_DEF int cae_net_forward(const cae_net *net, const cae_tensor *x, cae_tensor *y, void *scratch, size_t bytes,
                               cae_err *e)
{
    if (!net || !net->nlayers) return cae__fail(e, CAE_ERR_ARG, "forward: no net");
    return cae_net_encode(net, net->nlayers - 1, x, y, scratch, bytes, e);
}

static void cae__evaluate_slot(void *ctx, int s, int thread)
{
    cae__netjob *j = (cae__netjob *)ctx;
    float *ws = cae__align64(j->scratch + (size_t)thread * j->per);
    const float *y, *in, *z;
    double ls = 0.0;
    int i, lo, hi;
    cae__slot_range(j->n, CONVAE_SLOTS, s, &lo, &hi);
    for (i = lo; i < hi; i++) {
        const float *ti = j->t + (size_t)i * j->out_n;
        cae__net_run1(j->net, j->zmax, j->layer, j->x + (size_t)i * j->in_n, NULL, ws, &y, &in, &z);
        ls += cae__loss1(j->net->ks, y, cae__logits(j->net, in, z), ti, j->out_n, j->loss, NULL, 0.0f);
        if (j->mse) j->mse[i] = (float)(cae_mse(y, ti, j->out_n, NULL, 0.0f) / (double)j->out_n);
    }
    j->slot_loss[s] = ls;
}

CONVAE_DEF int cae_net_evaluate(const cae_net *net, const cae_tensor *x, const cae_tensor *t, int loss,
                                double *loss_out, float *mse, void *scratch, size_t bytes, cae_err *e)
{
    cae__netjob j;
    double sum = 0.0;
    int s, threads, rc;
    if (loss != CAE_LOSS_BCE && loss != CAE_LOSS_MSE) return cae__fail(e, CAE_ERR_ARG, "evaluate: unknown loss %d", loss);
    rc = cae__netjob_init(&j, "evaluate", net, net ? net->nlayers - 1 : 0, x, t, scratch, bytes, &threads, e);
    if (rc) return rc;
    j.t = t->data, j.y = NULL, j.mse = mse, j.loss = loss;
    cae__slices(CONVAE_SLOTS, threads, cae__evaluate_slot, &j);
    for (s = 0; s < CONVAE_SLOTS; s++) sum += j.slot_loss[s]; /* in slot order: the same bits for any thread count */
    if (loss_out) *loss_out = sum / ((double)j.n * (double)j.out_n);
    return CAE_OK;
}

/* ================================================================ int8 inference */

/* round(sum * m / 2^sh), half away from zero, clamped to [lo, 127]; sh is 1..62 */
static signed char cae__requant(int sum, int m, int sh, int lo)
{
    long long p = (long long)sum * m, a = p < 0 ? -p : p, r = (a + (1LL << (sh - 1))) >> sh;
    if (p < 0) r = -r;
    return (signed char)(r < lo ? lo : r > 127 ? 127 : r);
}

CONVAE_DEF int cae_qnet_init(cae_qnet *q, int h, int w, int c, const cae_layer_spec *specs, int nspecs,
                             const signed char *wq, size_t nwq, const int *iq, size_t niq, const signed char *sq,
                             size_t nsq, const float *fq, size_t nfq, cae_err *e)
{
    size_t wo = 0, io = 0, so = 0, fo, i;
    int l, rc;
    if (!q) return cae__fail(e, CAE_ERR_ARG, "int8 net: no place to put it");
    memset(q, 0, sizeof *q);
    if ((rc = cae__plan(&q->net, h, w, c, specs, nspecs, e)) != CAE_OK) {
        memset(q, 0, sizeof *q);
        return rc;
    }
    q->net.ks = cae_kernels_get(0); /* what the float calls of the same layers would use; unused here */
    fo = 1 + (size_t)q->net.nlayers;
    if (!wq || !iq || !sq || !fq || nfq < fo) goto counts;
    q->in_scale = fq[0];
    for (l = 0; l < q->net.nlayers; l++) {
        const cae_layer *L = q->net.layer + l;
        cae_qconv *Q = q->conv + l;
        size_t nk = (size_t)L->k * L->k * L->c * L->oc;
        q->scale[l] = fq[1 + l];
        if (L->kind == CAE_SIGMOID || (L->kind == CAE_CONV2D && L->act == CAE_ACT_SIGMOID && l != q->net.nlayers - 1)) {
            rc = cae__fail(e, CAE_ERR_ARG, "int8 net: layer %d (%s): a sigmoid only as the last conv's activation", l,
                           L->name);
            memset(q, 0, sizeof *q);
            return rc;
        }
        if (L->kind != CAE_CONV2D) continue;
        if ((size_t)L->k * L->k * L->c > 131071) { /* 128 * 128 per term: the int32 sum must not overflow */
            rc = cae__fail(e, CAE_ERR_ARG, "int8 net: %s sums %d terms per output, more than int32 holds", L->name,
                           L->k * L->k * L->c);
            memset(q, 0, sizeof *q);
            return rc;
        }
        if (wo + nk > nwq || io + 2 * (size_t)L->oc > niq || so + (size_t)L->oc > nsq || fo + (size_t)L->oc > nfq) goto counts;
        Q->w = wq + wo, Q->bias = iq + io, Q->mult = iq + io + L->oc, Q->shift = sq + so, Q->deq = fq + fo;
        for (i = 0; i < (size_t)L->oc; i++)
            if (Q->shift[i] < 1 || Q->shift[i] > 62 || Q->mult[i] < 0) {
                int m = Q->mult[i], sh = Q->shift[i];
                rc = cae__fail(e, CAE_ERR_ARG, "int8 net: %s channel %zu: multiplier %d, shift %d (want >= 0 and 1..62)",
                               L->name, i, m, sh);
                memset(q, 0, sizeof *q);
                return rc;
            }
        wo += nk, io += 2 * (size_t)L->oc, so += (size_t)L->oc, fo += (size_t)L->oc;
    }
    if (wo == nwq && io == niq && so == nsq && fo == nfq && q->in_scale > 0.0f) return CAE_OK;
counts:
    memset(q, 0, sizeof *q);
    return cae__fail(e, CAE_ERR_ARG,
                     "int8 net: %zu weights, %zu ints, %zu shifts, %zu floats given; they must fit the layers exactly "
                     "(those counted up to the first misfit: %zu, %zu, %zu, %zu), with a positive input scale",
                     nwq, niq, nsq, nfq, wo, io, so, fo);
}

/* scratch: the sums of one pixel (as many ints as a conv has output channels, at most), then
   two int8 buffers for the activations, each rounded up to 64 bytes */
static size_t cae__qnet_sizes(const cae_qnet *q, size_t *accb, size_t *half)
{
    int l, maxoc = 1;
    for (l = 0; l < q->net.nlayers; l++)
        if (q->net.layer[l].kind == CAE_CONV2D && q->net.layer[l].oc > maxoc) maxoc = q->net.layer[l].oc;
    *accb = (sizeof(int) * (size_t)maxoc + 63) & ~(size_t)63;
    *half = (q->net.maxact + 63) & ~(size_t)63;
    return *accb + 2 * *half + 64;
}

CONVAE_DEF size_t cae_qnet_scratch_bytes(const cae_qnet *q)
{
    size_t a, h;
    if (!q || !q->net.nlayers) return 0;
    return cae__qnet_sizes(q, &a, &h);
}

/* One conv on one int8 image, direct and bounds-checked (no padded copy to hold). The int8
   output goes to out; or, with out NULL, the real values to y (through the layer's activation)
   and the sums to sums (when given). acc: oc ints. Zero inputs (most, after a ReLU) are skipped. */
static void cae__qconv(const cae_layer *L, const cae_qconv *Q, const signed char *in, signed char *out, float *y,
                       int *sums, int *acc)
{
    int yy, xx, kh, kw, i, o, p = (L->k - 1) / 2, lo = L->act == CAE_ACT_RELU ? 0 : -128;
    for (yy = 0; yy < L->h; yy++)
        for (xx = 0; xx < L->w; xx++) {
            size_t base = ((size_t)yy * L->w + xx) * L->oc;
            for (o = 0; o < L->oc; o++) acc[o] = Q->bias[o];
            for (kh = 0; kh < L->k; kh++)
                for (kw = 0; kw < L->k; kw++) {
                    int iy = yy + kh - p, ix = xx + kw - p;
                    const signed char *pi, *wk;
                    if (iy < 0 || iy >= L->h || ix < 0 || ix >= L->w) continue;
                    pi = in + ((size_t)iy * L->w + ix) * L->c;
                    wk = Q->w + (size_t)(kh * L->k + kw) * L->c * L->oc;
                    for (i = 0; i < L->c; i++) {
                        const signed char *wr = wk + (size_t)i * L->oc;
                        int a = pi[i];
                        if (!a) continue;
                        for (o = 0; o < L->oc; o++) acc[o] += a * wr[o];
                    }
                }
            if (out) {
                for (o = 0; o < L->oc; o++) out[base + o] = cae__requant(acc[o], Q->mult[o], Q->shift[o], lo);
            } else {
                for (o = 0; o < L->oc; o++) {
                    float z = (float)acc[o] * Q->deq[o];
                    y[base + o] = L->act == CAE_ACT_SIGMOID ? cae__sigmoid1(z) : L->act == CAE_ACT_RELU && z < 0.0f ? 0.0f : z;
                    if (sums) sums[base + o] = acc[o];
                }
            }
        }
}

/* Layers 0..last of one image on int8 buffers. The last one's output goes to codes (int8), or
   (codes NULL) as floats to y and its sums to sums. */
static int cae__qrun(const cae_qnet *q, int last, const float *x, signed char *codes, float *y, int *sums,
                     void *scratch, size_t bytes, const char *what, cae_err *e)
{
    const cae_net *net = &q->net;
    size_t accb, half, need, i, nin;
    unsigned char *s;
    signed char *buf[2];
    const signed char *in;
    int *acc, l;
    if (!net->nlayers) return cae__fail(e, CAE_ERR_ARG, "%s: no int8 net", what);
    need = cae__qnet_sizes(q, &accb, &half);
    if (!x || (!codes && !y)) return cae__fail(e, CAE_ERR_ARG, "%s: NULL input or output", what);
    if (!scratch || bytes < need)
        return cae__fail(e, CAE_ERR_ARG, "%s: %zu bytes of scratch given, the int8 net needs %zu (cae_qnet_scratch_bytes)",
                         what, scratch ? bytes : 0, need);
    s = (unsigned char *)cae__align64(scratch);
    acc = (int *)(void *)s;
    buf[0] = (signed char *)(void *)(s + accb);
    buf[1] = buf[0] + half;
    nin = (size_t)net->h * net->w * net->c;
    for (i = 0; i < nin; i++) { /* the input, quantised: round half away from zero, clamped */
        float v = x[i] / q->in_scale;
        int r = v >= 0.0f ? (int)(v + 0.5f) : -(int)(0.5f - v);
        buf[1][i] = (signed char)(v >= 127.0f ? 127 : v <= -128.0f ? -128 : r);
    }
    in = buf[1];
    for (l = 0; l <= last; l++) {
        const cae_layer *L = net->layer + l;
        signed char *out = l == last && codes ? codes : buf[l % 2];
        size_t on = (size_t)L->oh * L->ow * L->oc;
        if (L->kind == CAE_CONV2D) {
            cae__qconv(L, q->conv + l, in, l == last && !codes ? NULL : out, y, sums, acc);
            if (l == last && !codes) return CAE_OK;
        } else if (L->kind == CAE_MAXPOOL2D) {
            int oy, ox, ch;
            for (oy = 0; oy < L->oh; oy++)
                for (ox = 0; ox < L->ow; ox++) {
                    int a0, dx, dy, k;
                    signed char *d = out + ((size_t)oy * L->ow + ox) * L->c;
                    a0 = cae__pool_window(oy, ox, L->h, L->w, L->c, &dx, &dy);
                    for (ch = 0; ch < L->c; ch++) {
                        signed char v = in[a0 + ch];
                        for (k = 1; k < 4; k++) {
                            signed char t = in[CAE__POOL_AT(a0, dx, dy, k) + ch];
                            v = t > v ? t : v;
                        }
                        d[ch] = v;
                    }
                }
        } else if (L->kind == CAE_UPSAMPLE2D) {
            int yy, xx, ch;
            for (yy = 0; yy < L->h; yy++)
                for (xx = 0; xx < L->w; xx++) {
                    const signed char *sp = in + ((size_t)yy * L->w + xx) * L->c;
                    signed char *d0 = out + ((size_t)2 * yy * L->ow + 2 * xx) * L->c, *d1 = d0 + (size_t)L->ow * L->c;
                    for (ch = 0; ch < L->c; ch++) d0[ch] = d0[L->c + ch] = d1[ch] = d1[L->c + ch] = sp[ch];
                }
        } else { /* ReLU: the scale stays */
            for (i = 0; i < on; i++) out[i] = in[i] > 0 ? in[i] : 0;
        }
        if (l == last && !codes) /* a last layer that is not a conv: its int8 values as floats */
            for (i = 0; i < on; i++) y[i] = (float)out[i] * q->scale[l];
        in = out;
    }
    return CAE_OK;
}

CONVAE_DEF int cae_qnet_forward(const cae_qnet *q, const float *x, float *y, int *sums, void *scratch, size_t bytes,
                                cae_err *e)
{
    if (!q) return cae__fail(e, CAE_ERR_ARG, "int8 forward: no int8 net");
    return cae__qrun(q, q->net.nlayers - 1, x, NULL, y, sums, scratch, bytes, "int8 forward", e);
}

CONVAE_DEF int cae_qnet_encode(const cae_qnet *q, int layer, const float *x, signed char *codes, void *scratch,
                               size_t bytes, cae_err *e)
{
    if (!q || layer < 0 || layer >= q->net.nlayers || !codes)
        return cae__fail(e, CAE_ERR_ARG, "int8 encode: no net, no output, or layer %d out of range", layer);
    if (q->net.layer[layer].kind == CAE_CONV2D && q->net.layer[layer].act == CAE_ACT_SIGMOID)
        return cae__fail(e, CAE_ERR_ARG, "int8 encode: %s gives floats (cae_qnet_forward)", q->net.layer[layer].name);
    return cae__qrun(q, layer, x, codes, NULL, NULL, scratch, bytes, "int8 encode", e);
}

/* ================================================================ the trainer */
#ifndef CONVAE_NO_TRAIN

/* where the trainer keeps a layer's things: for each image of a slice, in a thread's workspace,
   the layer's output, its argmax (max-pooling) and its logits (a conv with a sigmoid); among the
   derived kernels the flipped kernel and its Winograd transform (for the input gradient) */
typedef struct cae__tlayer {
    size_t out_off, arg_off, logit_off, flip_off, wino_flip_off;
} cae__tlayer;

struct cae_trainer {
    cae_net net;                 /* param and wino point into this trainer's memory */
    cae__tlayer lay[CAE_MAX_LAYERS];
    float *param, *grad, *m, *v; /* nparams each: Adam and the files are one loop */
    float *wino, *wflip;         /* the net's Winograd kernels; flipped kernels and their transforms */
    int max_batch, threads, nslots;
    int nws, group;              /* workspaces (one a thread, at most nslots); images a slice at most */
    size_t bytes;                /* of the allocation */
    float *slot_grad;            /* nslots x nparams partial gradients */
    float *ws;                   /* nws x ws_floats: a slice's images, a layer's Winograd-domain kernel
                                    gradient (summed over the slice, then turned into its kernel's),
                                    then a convolution's scratch */
    size_t img_floats;           /* one image's activations and its two gradient buffers */
    size_t ws_floats, ws_grad, ws_du, ws_work; /* of a workspace; ws_grad: in an image's part */
    double *slot_loss;           /* nslots */
    cae_adam adam;
};

/* a slot's gradients: the parameters' */
static size_t cae__slot_stride(const cae_trainer *t)
{
    return cae__up64(t->net.nparams);
}

/* Lays out a thread's workspace and the derived kernels; returns the floats of derived kernels. */
static size_t cae__trainer_plan(cae_trainer *t)
{
    const cae_net *net = &t->net;
    size_t ws = 0, flips = 0, du = 0;
    int l, m;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        cae__tlayer *T = t->lay + l;
        size_t outn = cae__up64((size_t)L->oh * L->ow * L->oc);
        T->out_off = ws;
        ws += outn;
        if (L->kind == CAE_MAXPOOL2D) T->arg_off = ws, ws += outn; /* ints, stored among the floats */
        if (L->kind == CAE_CONV2D && L->act == CAE_ACT_SIGMOID) T->logit_off = ws, ws += outn;
        if (L->kind != CAE_CONV2D) continue;
        T->flip_off = flips;
        flips += cae__up64((size_t)L->k * L->k * L->c * L->oc);
        T->wino_flip_off = flips;
        m = cae_conv2d_wino(net->ks, L->oc, L->c, L->k); /* the input gradient's Winograd kernel */
        if (m) flips += cae__up64((size_t)(m + 2) * (m + 2) * L->c * L->oc);
        m = cae_conv2d_wino(net->ks, L->c, L->oc, L->k); /* the weight gradient in its domain */
        if (m && (size_t)(m + 2) * (m + 2) * L->c * L->oc > du) du = (size_t)(m + 2) * (m + 2) * L->c * L->oc;
    }
    t->ws_grad = ws;
    t->img_floats = ws + 2 * cae__up64(net->maxact);
    t->ws_du = (size_t)t->group * t->img_floats;
    t->ws_work = t->ws_du + cae__up64(du);
    t->ws_floats = t->ws_work + cae__up64(net->work);
    return flips;
}

/* Remakes the kernels derived from the weights: Winograd for the forward pass, flipped and its
   Winograd transform for the input gradient. */
/* the threads a step (and the kernels it derives) runs on: one workspace a thread */
static int cae__trainer_threads(const cae_trainer *t)
{
    int nt = t->threads > 0 ? t->threads : cae__max_threads();
    return nt > t->nws ? t->nws : nt;
}

static void cae__trainer_derive(cae_trainer *t)
{
    const cae_net *net = &t->net;
    int task, nt = cae__trainer_threads(t);
    (void)nt;
    /* task 2l: layer l's Winograd kernel; 2l+1: its flipped kernel and that one's transform */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(nt)
#endif
    for (task = 0; task < 2 * net->nlayers; task++) {
        const cae_layer *L = net->layer + task / 2;
        const cae__tlayer *T = t->lay + task / 2;
        if (task % 2 == 0) {
            cae__layer_wino(net, L, t->wino);
        } else if (L->kind == CAE_CONV2D) {
            cae_conv2d_flip(t->wflip + T->flip_off, t->param + L->poff, L->c, L->oc, L->k);
            if (cae_conv2d_wino(net->ks, L->oc, L->c, L->k))
                cae_conv2d_wino_kernel(net->ks->wino, t->wflip + T->wino_flip_off, t->wflip + T->flip_off, L->oc,
                                       L->c);
        }
    }
}

CONVAE_DEF int cae_trainer_create(cae_trainer **out, const cae_net *net, int max_batch, cae_err *e)
{
    cae_trainer plan, *t;
    size_t head = cae__up64((sizeof(cae_trainer) + sizeof(float) - 1) / sizeof(float)), total, bytes, nflip, np;
    float *f;
    int nslots = max_batch < CONVAE_SLOTS ? max_batch : CONVAE_SLOTS, nws = cae__max_threads();
    if (!out) return cae__fail(e, CAE_ERR_ARG, "trainer: no place to put it");
    *out = NULL;
    if (!net || !net->nlayers || !net->param) return cae__fail(e, CAE_ERR_ARG, "trainer: no net");
    if (!cae__ks(net->ks)->usable())
        return cae__fail(e, CAE_ERR_ARG, "trainer: the net's kernel set \"%s\" does not run on this CPU", net->ks->name);
    if (max_batch < 1 || max_batch > (1 << 20))
        return cae__fail(e, CAE_ERR_ARG, "trainer: batch size %d, must be 1..%d", max_batch, 1 << 20);
    memset(&plan, 0, sizeof plan);
    plan.group = (max_batch + nslots - 1) / nslots;
    plan.nws = nws < 1 ? 1 : nws > nslots ? nslots : nws;
    plan.net = *net;
    plan.net.ks = cae__ks(net->ks);
    plan.net.wino_m = plan.net.ks->wino; /* its own Winograd kernels are made for its set */
    plan.net.own = NULL;
    nflip = cae__trainer_plan(&plan);
    np = cae__up64(net->nparams);
    /* params, grads (+ Winograd-domain), m, v; derived kernels; per-slot gradients, workspaces
       and losses; 16 floats to align the arrays after the struct to 64 bytes */
    total = head + 4 * np + net->nwino + nflip + (size_t)nslots * np + (size_t)plan.nws * plan.ws_floats +
            2 * (size_t)nslots + 16;
    bytes = cae__mul(total, sizeof(float));
    /* the same sum in double: on a 32-bit host the size_t one can wrap */
    if (((double)head + 4.0 * (double)np + (double)net->nwino + (double)nflip + (double)nslots * (double)np +
         (double)plan.nws * (double)plan.ws_floats + 2.0 * nslots + 16) * sizeof(float) >
        (double)CONVAE_MAX_BYTES)
        bytes = 0;
    if (!bytes || total < plan.ws_floats || bytes > CONVAE_MAX_BYTES)
        return cae__fail(e, CAE_ERR_NOMEM,
                         "trainer: needs %zu MiB for %d parallel slices, more than the %zu MiB allowed "
                         "(CONVAE_MAX_BYTES)",
                         (bytes ? bytes : (size_t)-1) >> 20, nslots, (size_t)CONVAE_MAX_BYTES >> 20);
    f = (float *)cae__alloc(bytes);
    if (!f) return cae__fail(e, CAE_ERR_NOMEM, "trainer: cannot allocate %zu bytes", bytes);
    t = (cae_trainer *)(void *)f;
    *t = plan;
    f = cae__align64(f + head);
    t->param = f, f += np;
    t->grad = f, f += np;
    t->m = f, f += np;
    t->v = f, f += np;
    t->wino = f, f += net->nwino;
    t->wflip = f, f += nflip;
    t->nslots = nslots;
    t->slot_grad = f, f += (size_t)nslots * np;
    t->ws = f, f += (size_t)t->nws * t->ws_floats;
    t->slot_loss = (double *)(void *)f; /* 8-byte aligned: every size before it is a multiple of 16 floats */
    t->max_batch = max_batch;
    t->bytes = bytes;
    t->adam = cae_adam_default();
    memcpy(t->param, net->param, sizeof(float) * net->nparams);
    t->net.param = t->param;
    t->net.wino = net->nwino ? t->wino : NULL;
    cae__trainer_derive(t);
    *out = t;
    return CAE_OK;
}

CONVAE_DEF void cae_trainer_free(cae_trainer *t)
{
    if (t) CONVAE_FREE(t);
}

CONVAE_DEF size_t cae_trainer_bytes(const cae_trainer *t)
{
    return t ? t->bytes : 0;
}

CONVAE_DEF const cae_net *cae_trainer_net(const cae_trainer *t)
{
    return t ? &t->net : NULL;
}

CONVAE_DEF cae_adam *cae_trainer_adam(cae_trainer *t)
{
    return t ? &t->adam : NULL;
}

CONVAE_DEF void cae_trainer_moments(cae_trainer *t, float **m, float **v)
{
    if (m) *m = t ? t->m : NULL;
    if (v) *v = t ? t->v : NULL;
}

CONVAE_DEF void cae_trainer_set_threads(cae_trainer *t, int threads)
{
    if (t) t->threads = threads > 0 ? threads : 0;
}

CONVAE_DEF const float *cae_trainer_grad(const cae_trainer *t)
{
    return t ? t->grad : NULL;
}

CONVAE_DEF int cae_trainer_set_params(cae_trainer *t, const float *param, size_t n, cae_err *e)
{
    if (!t || !param) return cae__fail(e, CAE_ERR_ARG, "trainer: NULL trainer or parameters");
    if (n != t->net.nparams)
        return cae__fail(e, CAE_ERR_ARG, "trainer: %zu parameters given, the net has %zu", n, t->net.nparams);
    memmove(t->param, param, sizeof(float) * n);
    cae__trainer_derive(t);
    return CAE_OK;
}

/* Images x[0..n) (in_n floats apart) forward, layer after layer (each layer's kernels stay in
   the caches over the images), keeping what backward needs: image i's part of the workspace ws
   starts at ws + i * img_floats. */
static void cae__trainer_forward(const cae_trainer *t, float *ws, const float *x, size_t in_n, int n)
{
    const cae_net *net = &t->net;
    int l, i;
    for (l = 0; l < net->nlayers; l++) {
        const cae_layer *L = net->layer + l;
        const cae__tlayer *T = t->lay + l;
        for (i = 0; i < n; i++) {
            float *img = ws + (size_t)i * t->img_floats;
            const float *in = l ? img + t->lay[l - 1].out_off : x + (size_t)i * in_n;
            cae__layer_forward(net, L, in, img + T->out_off,
                               L->kind == CAE_CONV2D && L->act == CAE_ACT_SIGMOID ? img + T->logit_off : NULL,
                               L->kind == CAE_MAXPOOL2D ? (int *)(void *)(img + T->arg_off) : NULL, ws + t->ws_work);
        }
    }
}

/* Backward pass of the n images, layer after layer, each image's output gradient in its first
   gradient buffer (w.r.t. the logits when fused); adds the parameter gradients into dp, image
   after image within each layer: per parameter, the order of a pass image after image. */
static void cae__trainer_backward(const cae_trainer *t, float *ws, const float *x, size_t in_n, int n, int fused,
                                  float *dp)
{
    const cae_net *net = &t->net;
    const cae_kernels *ks = net->ks;
    size_t half = (t->img_floats - t->ws_grad) / 2, g_off = t->ws_grad, h_off = g_off + half, tmp;
    int l, i, masked = 0; /* the gradient already carries layer l's ReLU, and its bias's gradient is
                             taken (see CAE_MAXPOOL2D below) */
    for (l = net->nlayers - 1; l >= 0; l--) {
        const cae_layer *L = net->layer + l;
        const cae__tlayer *T = t->lay + l;
        size_t on = (size_t)L->oh * L->ow * L->oc;
        int conv = L->kind == CAE_CONV2D, skip_act = fused && l == net->nlayers - 1;
        int relu_below = l > 0 && L->kind == CAE_MAXPOOL2D && net->layer[l - 1].kind == CAE_CONV2D &&
                         net->layer[l - 1].act == CAE_ACT_RELU;
        int m = conv ? cae_conv2d_wino(ks, L->c, L->oc, L->k) : 0;
        float *dU = m ? ws + t->ws_du : NULL;
        const float *Uf = conv && cae_conv2d_wino(ks, L->oc, L->c, L->k) ? t->wflip + T->wino_flip_off : NULL;
        if (conv) /* the activation's gradient first: a Winograd weight gradient takes the images together */
            for (i = 0; i < n; i++) {
                float *img = ws + (size_t)i * t->img_floats, *g = img + g_off;
                if (L->act == CAE_ACT_RELU && !masked) ks->relu_bwd(g, g, img + T->out_off, on);
                if (L->act == CAE_ACT_SIGMOID && !skip_act) cae_sigmoid_backward(g, g, img + T->out_off, on);
            }
        if (dU) { /* summed over the slice in the transformed domain, then into the kernel's gradient */
            memset(dU, 0, sizeof(float) * (size_t)(m + 2) * (m + 2) * L->c * L->oc);
            ks->wino_dw(dU, l ? ws + t->lay[l - 1].out_off : x, l ? t->img_floats : in_n, ws + g_off, t->img_floats, n,
                        L->h, L->w, L->c, L->oc, ws + t->ws_work);
            cae_conv2d_wino_grad(m, dp + L->poff, dU, L->c, L->oc);
        }
        for (i = 0; i < n; i++) {
            float *img = ws + (size_t)i * t->img_floats, *g = img + g_off, *din = l ? img + h_off : NULL;
            const float *in = l ? img + t->lay[l - 1].out_off : x + (size_t)i * in_n, *y = img + T->out_off;
            switch (L->kind) {
            case CAE_CONV2D: /* bias (unless the pool above took it), input gradient and (without
                                Winograd) the weight gradient */
                cae_conv2d_backward1(ks, din, dU ? NULL : dp + L->poff, NULL,
                                     masked ? NULL : dp + L->poff + L->nparams - (size_t)L->oc, g, in,
                                     t->wflip + T->flip_off, Uf, L->h, L->w, L->c, L->oc, L->k, ws + t->ws_work);
                break;
            case CAE_MAXPOOL2D:
                /* the ReLU below and its bias, on a quarter of the values: a pooled value is its
                   window's winner, the only input its gradient goes to, and > 0 exactly where
                   that is */
                if (relu_below) {
                    const cae_layer *B = L - 1;
                    ks->relu_bwd(g, g, y, on);
                    ks->bias_bwd(dp + B->poff + B->nparams - (size_t)B->oc, g, (size_t)L->oh * L->ow, L->c);
                }
                if (din) ks->maxpool_bwd(din, g, (const int *)(const void *)(img + T->arg_off), 1, L->h, L->w, L->c);
                break;
            case CAE_UPSAMPLE2D:
                if (din) ks->upsample_bwd(din, g, 1, L->h, L->w, L->c);
                break;
            case CAE_RELU:
                if (din) ks->relu_bwd(din, g, y, on);
                break;
            default:
                if (skip_act) break; /* g already holds the gradient w.r.t. the logits */
                if (din) cae_sigmoid_backward(din, g, y, on);
                break;
            }
        }
        if (!(skip_act && L->kind == CAE_SIGMOID)) tmp = g_off, g_off = h_off, h_off = tmp;
        masked = relu_below;
    }
}

/* what a step shares with its slices */
typedef struct cae__stepjob {
    cae_trainer *t;
    const float *x, *target;
    size_t in_n, out_n, stride;
    float scale;
    int n, loss;
} cae__stepjob;

static void cae__step_slot(void *ctx, int s, int thread)
{
    cae__stepjob *j = (cae__stepjob *)ctx;
    cae_trainer *t = j->t;
    const cae_net *net = &t->net;
    float *ws = t->ws + (size_t)thread * t->ws_floats, *dp = t->slot_grad + (size_t)s * j->stride;
    const cae__tlayer *T = t->lay + net->nlayers - 1;
    const float *x;
    int i, lo, hi, fused = 0;
    double ls = 0.0;
    cae__slot_range(j->n, t->nslots, s, &lo, &hi);
    if (lo >= hi) {
        t->slot_loss[s] = 0.0;
        return;
    }
    memset(dp, 0, sizeof(float) * j->stride);
    x = j->x + (size_t)lo * j->in_n;
    cae__trainer_forward(t, ws, x, j->in_n, hi - lo);
    for (i = 0; i < hi - lo; i++) {
        float *img = ws + (size_t)i * t->img_floats;
        const float *last_in = net->nlayers > 1 ? img + t->lay[net->nlayers - 2].out_off : x + (size_t)i * j->in_n;
        const float *z = cae__logits(net, last_in, img + T->logit_off);
        fused = j->loss == CAE_LOSS_BCE && z;
        ls += cae__loss1(net->ks, img + T->out_off, j->loss == CAE_LOSS_BCE ? z : NULL,
                         j->target + (size_t)(lo + i) * j->out_n, j->out_n, j->loss, img + t->ws_grad, j->scale);
    }
    cae__trainer_backward(t, ws, x, j->in_n, hi - lo, fused, dp);
    t->slot_loss[s] = ls;
}

CONVAE_DEF int cae_trainer_step(cae_trainer *t, const cae_tensor *x, const cae_tensor *target, int loss,
                                double *loss_out, cae_err *e)
{
    cae__stepjob j;
    const cae_net *net;
    const cae_layer *last;
    double sum = 0.0;
    int s, nt, rc, used[CONVAE_SLOTS], nused;
    int p, nblocks; /* an int index for MSVC's OpenMP 2.0; the stride is under CONVAE_MAX_BYTES / 4 */
    float lr_t;
    if (!t) return cae__fail(e, CAE_ERR_ARG, "train step: no trainer");
    net = &t->net;
    if (loss != CAE_LOSS_BCE && loss != CAE_LOSS_MSE) return cae__fail(e, CAE_ERR_ARG, "train step: unknown loss %d", loss);
    rc = cae__check_io("train step", net, net->nlayers - 1, x, target, e);
    if (rc) return rc;
    if (x->n > t->max_batch)
        return cae__fail(e, CAE_ERR_ARG, "train step: %d images given, the trainer was built for 1..%d", x->n,
                         t->max_batch);
    j.t = t, j.x = x->data, j.target = target->data, j.n = x->n, j.loss = loss;
    last = net->layer + net->nlayers - 1;
    j.in_n = (size_t)net->h * net->w * net->c, j.out_n = (size_t)last->oh * last->ow * last->oc;
    j.stride = cae__slot_stride(t);
    j.scale = (float)(1.0 / ((double)j.n * (double)j.out_n));
    nt = cae__trainer_threads(t);
    cae__slices(t->nslots, nt, cae__step_slot, &j);
    /* sum the slot gradients in slot order, 0 + s0 + s1 + ... for each value: the same bits
       for any thread count; blocks of 1024 values, each added slot by slot, vectorise */
    for (s = 0, nused = 0; s < t->nslots; s++) {
        int lo, hi;
        cae__slot_range(j.n, t->nslots, s, &lo, &hi);
        if (lo < hi) used[nused++] = s;
    }
    nblocks = (int)((j.stride + 1023) / 1024);
    lr_t = cae__adam_lr(&t->adam);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (p = 0; p < nblocks; p++) { /* then Adam on the block, as cae_adam_step would */
        size_t q, q0 = (size_t)p * 1024, q1 = q0 + 1024 < j.stride ? q0 + 1024 : j.stride;
        float *g = t->grad;
        int u;
        for (q = q0; q < q1; q++) g[q] = 0.0f;
        for (u = 0; u < nused; u++) {
            const float *d = t->slot_grad + (size_t)used[u] * j.stride;
            for (q = q0; q < q1; q++) g[q] += d[q];
        }
        if (q0 < net->nparams)
            cae__adam_range(&t->adam, lr_t, t->param, g, t->m, t->v, q0, q1 < net->nparams ? q1 : net->nparams);
    }
    for (s = 0; s < t->nslots; s++) sum += t->slot_loss[s];
    cae__trainer_derive(t);
    if (loss_out) *loss_out = sum / ((double)j.n * (double)j.out_n);
    return CAE_OK;
}
#endif /* CONVAE_NO_TRAIN */

/* ================================================================ files: whole, or not at all */
#ifndef CONVAE_NO_STDIO

#if !defined(_WIN32) && (defined(__unix__) || defined(__APPLE__))
/* fsync of a file or folder; 0 only when the system says the data may not be on the disk */
static int cae__sync(const char *path)
{
    int fd = open(path, O_RDONLY), rc;
    if (fd < 0) return 1;
    rc = fsync(fd);
    if (rc) rc = errno == EIO || errno == ENOSPC;
    close(fd);
    return !rc;
}
#endif

CONVAE_DEF int cae_write_file(const char *path, const void *data, size_t len, cae_err *e)
{
    char tmp[1024];
    size_t pl = path ? strlen(path) : 0;
    FILE *f;
    int ok;
    if (!pl || pl + 5 > sizeof tmp) return cae__fail(e, CAE_ERR_ARG, "write: bad path");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) return cae__fail(e, CAE_ERR_IO, "%s: cannot create (is the folder there and writable?)", tmp);
    ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
#ifdef _WIN32
    ok = ok && _commit(_fileno(f)) == 0;
#endif
    ok = (fclose(f) == 0) && ok;
#ifdef _WIN32
    if (ok) remove(path); /* rename does not replace on Windows */
#elif defined(__unix__) || defined(__APPLE__)
    ok = ok && cae__sync(tmp);
#endif
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return cae__fail(e, CAE_ERR_IO, "%s: %s; the previous file is unchanged", path,
                         ok ? "cannot rename the new file onto it (is it a folder?)" : "write failed (disk full?)");
    }
#if !defined(_WIN32) && (defined(__unix__) || defined(__APPLE__))
    { /* and the folder, so that the rename itself survives a power cut */
        const char *slash = strrchr(path, '/');
        if (slash && (size_t)(slash - path) < sizeof tmp) {
            memcpy(tmp, path, (size_t)(slash - path) + 1);
            tmp[slash - path + 1] = 0;
        } else {
            memcpy(tmp, ".", 2);
        }
        cae__sync(tmp);
    }
#endif
    return CAE_OK;
}
#endif /* CONVAE_NO_STDIO */

/* ================================================================ model files
   "CONVAEM1", then little-endian u32: version, h, w, c, nlayers; per layer u32 kind, filters,
   ksize, act and a 32-byte name; u64 nparams; nparams float32; u32 CRC-32 of all before. */
#define CAE__MAGIC "CONVAEM1"
#define CAE__LAYER_BYTES 48

CONVAE_DEF size_t cae_net_file_bytes(const cae_net *net)
{
    if (!net || !net->nlayers) return 0;
    return 8 + 5 * 4 + (size_t)net->nlayers * CAE__LAYER_BYTES + 8 + 4 * net->nparams + 4;
}

CONVAE_DEF int cae_net_write_mem(const cae_net *net, void *buf, size_t cap, cae_err *e)
{
    size_t len = cae_net_file_bytes(net);
    unsigned char *b = (unsigned char *)buf, *p;
    int l;
    if (!len || !net->param || !buf) return cae__fail(e, CAE_ERR_ARG, "write model: no net or no buffer");
    if (cap < len) return cae__fail(e, CAE_ERR_ARG, "write model: %zu bytes of room, the file has %zu", cap, len);
    memcpy(b, CAE__MAGIC, 8);
    cae__put32(b + 8, 1);
    cae__put32(b + 12, (unsigned long)net->h);
    cae__put32(b + 16, (unsigned long)net->w);
    cae__put32(b + 20, (unsigned long)net->c);
    cae__put32(b + 24, (unsigned long)net->nlayers);
    p = b + 28;
    for (l = 0; l < net->nlayers; l++, p += CAE__LAYER_BYTES) {
        const cae_layer *L = net->layer + l;
        cae__put32(p, (unsigned long)L->kind);
        cae__put32(p + 4, L->kind == CAE_CONV2D ? (unsigned long)L->oc : 0);
        cae__put32(p + 8, (unsigned long)L->k);
        cae__put32(p + 12, (unsigned long)L->act);
        memcpy(p + 16, L->name, 32);
    }
    cae__put32(p, (unsigned long)(net->nparams & 0xFFFFFFFFu));
    cae__put32(p + 4, (unsigned long)((unsigned long long)net->nparams >> 32));
    p = cae__put_floats(p + 8, net->param, net->nparams);
    cae__put32(p, cae_crc32(0, b, len - 4));
    return CAE_OK;
}

CONVAE_DEF int cae_net_load_mem(cae_net *net, const void *buf, size_t len, const char *name, cae_err *e)
{
    cae_layer_spec specs[CAE_MAX_LAYERS];
    char names[CAE_MAX_LAYERS][32];
    const unsigned char *b = (const unsigned char *)buf, *p;
    const cae_kernels *ks;
    unsigned long nl, crc, h, w, c, np_lo, np_hi;
    float *param;
    cae_err ce;
    size_t need;
    int l, rc;
    if (!name) name = "<memory>";
    if (!net) return cae__fail(e, CAE_ERR_ARG, "%s: no place to put the net", name);
    memset(net, 0, sizeof *net);
    if (!b && len) return cae__fail(e, CAE_ERR_ARG, "%s: NULL buffer", name);
    if ((rc = cae_kernels_pick(NULL, &ks, e)) != CAE_OK) return rc;
    if (len < 28 + 8 + 4 || memcmp(b, CAE__MAGIC, 8) != 0)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: not a convae model file (magic \"%s\" missing at offset 0)", name,
                         CAE__MAGIC);
    if (cae__le32(b + 8) != 1)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: model format version %lu, this build reads 1", name, cae__le32(b + 8));
    crc = cae_crc32(0, b, len - 4);
    if (crc != cae__le32(b + len - 4))
        return cae__fail(e, CAE_ERR_FORMAT, "%s: CRC-32 mismatch at offset %zu: stored %lx, computed %lx (damaged file)",
                         name, len - 4, cae__le32(b + len - 4), crc);
    h = cae__le32(b + 12), w = cae__le32(b + 16), c = cae__le32(b + 20), nl = cae__le32(b + 24);
    if (nl < 1 || nl > CAE_MAX_LAYERS)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: %lu layers at offset 24, 1..%d allowed", name, nl, (int)CAE_MAX_LAYERS);
    if (h > CONVAE_MAX_DIM || w > CONVAE_MAX_DIM || c > CONVAE_MAX_DIM)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: input %lux%lux%lu at offset 12 is too large", name, h, w, c);
    need = 28 + nl * CAE__LAYER_BYTES + 8;
    if (len < need + 4)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: %zu bytes, the layer table alone needs %zu", name, len, need + 4);
    for (l = 0, p = b + 28; l < (int)nl; l++, p += CAE__LAYER_BYTES) {
        unsigned long v[4];
        int j;
        for (j = 0; j < 4; j++) {
            v[j] = cae__le32(p + 4 * j);
            if (v[j] > CONVAE_MAX_DIM)
                return cae__fail(e, CAE_ERR_FORMAT, "%s: layer %d field %d is %lu at offset %zu", name, l, j, v[j],
                                 (size_t)(p - b) + 4 * (size_t)j);
        }
        specs[l].kind = (int)v[0], specs[l].filters = (int)v[1], specs[l].ksize = (int)v[2], specs[l].act = (int)v[3];
        memcpy(names[l], p + 16, 32);
        names[l][31] = 0;
        specs[l].name = names[l];
    }
    np_lo = cae__le32(p), np_hi = cae__le32(p + 4);
    p += 8;
    rc = cae__plan(net, (int)h, (int)w, (int)c, specs, (int)nl, &ce);
    if (rc == CAE_OK && (np_hi || np_lo != net->nparams || len != need + 4 * (size_t)np_lo + 4)) {
        size_t want = net->nparams;
        memset(net, 0, sizeof *net);
        return cae__fail(e, CAE_ERR_FORMAT,
                         "%s: file says %lu parameters and has %zu bytes; its layers need %zu parameters (%zu bytes)",
                         name, np_lo, len, want, need + 4 * want + 4);
    }
    if (rc) {
        memset(net, 0, sizeof *net);
        if (rc == CAE_ERR_ARG || rc == CAE_ERR_SHAPE) /* the file's layer table is what is wrong */
            return cae__fail(e, CAE_ERR_FORMAT, "%s: the layer table at offset 28 is not a valid model (%s)", name,
                             ce.msg);
        return cae__fail(e, rc, "%s: %s", name, ce.msg);
    }
    rc = cae__net_alloc(net, (int)h, (int)w, (int)c, specs, (int)nl, &param, &ce);
    if (rc) return cae__fail(e, rc, "%s: %s", name, ce.msg);
    cae__get_floats(param, p, net->nparams);
    net->ks = ks, net->wino_m = ks->wino;
    if (net->wino) cae__net_wino(net, param + cae__up64(net->nparams));
    return CAE_OK;
}

#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_net_save(const cae_net *net, const char *path, cae_err *e)
{
    size_t len = cae_net_file_bytes(net);
    unsigned char *b;
    int rc;
    if (!path) return cae__fail(e, CAE_ERR_ARG, "save: NULL path");
    if (!len) return cae__fail(e, CAE_ERR_ARG, "%s: no net to save", path);
    b = (unsigned char *)CONVAE_MALLOC(len);
    if (!b) return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    rc = cae_net_write_mem(net, b, len, e);
    if (rc == CAE_OK) rc = cae_write_file(path, b, len, e);
    CONVAE_FREE(b);
    return rc;
}

CONVAE_DEF int cae_net_load(cae_net *net, const char *path, cae_err *e)
{
    unsigned char *b;
    size_t len;
    int rc;
    if (!net) return cae__fail(e, CAE_ERR_ARG, "load: no place to put the net");
    memset(net, 0, sizeof *net);
    rc = cae_read_file(path, &b, &len, 0, e);
    if (rc) return rc;
    rc = cae_net_load_mem(net, b, len, path, e);
    CONVAE_FREE(b);
    return rc;
}
#endif

#ifndef CONVAE_NO_TRAIN
/* ================================================================ checkpoints
   "CONVAEK1", then little-endian: u32 version; u64 model bytes and the net's model file;
   f32 lr, beta1, beta2, eps, u64 Adam steps; nparams f32 first moments, nparams f32 second
   moments; u64 user bytes and the caller's bytes; u32 CRC-32 of all before. */
#define CAE__CKPT_MAGIC "CONVAEK1"

static void cae__put64(unsigned char *p, unsigned long long v)
{
    cae__put32(p, (unsigned long)(v & 0xFFFFFFFFu)), cae__put32(p + 4, (unsigned long)(v >> 32));
}

static unsigned long long cae__le64(const unsigned char *p)
{
    return (unsigned long long)cae__le32(p) | (unsigned long long)cae__le32(p + 4) << 32;
}

CONVAE_DEF size_t cae_trainer_state_bytes(const cae_trainer *t, size_t user_len)
{
    size_t fixed;
    if (!t) return 0;
    fixed = 8 + 4 + 8 + cae_net_file_bytes(&t->net) + 4 * 4 + 8 + 8 * t->net.nparams + 8 + 4;
    return user_len > CONVAE_MAX_BYTES ? 0 : fixed + user_len;
}

CONVAE_DEF int cae_trainer_write_state(const cae_trainer *t, const void *user, size_t user_len, void *buf, size_t cap,
                                       cae_err *e)
{
    size_t len = cae_trainer_state_bytes(t, user_len), mlen;
    unsigned char *b = (unsigned char *)buf, *p;
    const float hyper[4] = {t ? t->adam.lr : 0, t ? t->adam.beta1 : 0, t ? t->adam.beta2 : 0, t ? t->adam.eps : 0};
    int rc;
    if (!len || !buf || (user_len && !user)) return cae__fail(e, CAE_ERR_ARG, "write checkpoint: bad arguments");
    if (cap < len) return cae__fail(e, CAE_ERR_ARG, "write checkpoint: %zu bytes of room, it needs %zu", cap, len);
    mlen = cae_net_file_bytes(&t->net);
    memcpy(b, CAE__CKPT_MAGIC, 8);
    cae__put32(b + 8, 1);
    cae__put64(b + 12, mlen);
    if ((rc = cae_net_write_mem(&t->net, b + 20, mlen, e)) != CAE_OK) return rc;
    p = cae__put_floats(b + 20 + mlen, hyper, 4);
    cae__put64(p, (unsigned long long)t->adam.t);
    p = cae__put_floats(p + 8, t->m, t->net.nparams);
    p = cae__put_floats(p, t->v, t->net.nparams);
    cae__put64(p, user_len);
    if (user_len) memcpy(p + 8, user, user_len);
    cae__put32(b + len - 4, cae_crc32(0, b, len - 4));
    return CAE_OK;
}

/* CAE_OK when net a (the checkpoint's) has b's (the trainer's) architecture; else the first
   difference, said in e. */
static int cae__same_arch(const cae_net *a, const cae_net *b, const char *name, cae_err *e)
{
    int l;
    if (a->h != b->h || a->w != b->w || a->c != b->c)
        return cae__fail(e, CAE_ERR_SHAPE, "%s: the checkpoint's model is not this one: its input is %dx%dx%d, this "
                         "model's %dx%dx%d", name, a->h, a->w, a->c, b->h, b->w, b->c);
    for (l = 0; l < a->nlayers && l < b->nlayers; l++) {
        const cae_layer *x = a->layer + l, *y = b->layer + l;
        if (x->kind != y->kind || x->oc != y->oc || x->k != y->k || x->act != y->act || strcmp(x->name, y->name))
            return cae__fail(e, CAE_ERR_SHAPE, "%s: the checkpoint's model is not this one: its layer %d is %s (%d "
                             "channels), this model's %s (%d channels)", name, l + 1, x->name, x->oc, y->name, y->oc);
    }
    if (a->nlayers != b->nlayers)
        return cae__fail(e, CAE_ERR_SHAPE, "%s: the checkpoint's model is not this one: it has %d layers, this model %d",
                         name, a->nlayers, b->nlayers);
    return CAE_OK;
}

CONVAE_DEF int cae_trainer_read_state(cae_trainer *t, const void *buf, size_t len, const char *name,
                                      const unsigned char **user, size_t *user_len, cae_err *e)
{
    const unsigned char *b = (const unsigned char *)buf, *p;
    unsigned long long mlen, ulen, steps;
    unsigned long crc;
    float hyper[4];
    cae_net net;
    size_t np, rest;
    int rc;
    if (!name) name = "<memory>";
    if (!t || (!b && len)) return cae__fail(e, CAE_ERR_ARG, "%s: no trainer or no buffer", name);
    if (len < 20 + 4 || memcmp(b, CAE__CKPT_MAGIC, 8) != 0)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: not a convae checkpoint (magic \"%s\" missing at offset 0)", name,
                         CAE__CKPT_MAGIC);
    if (cae__le32(b + 8) != 1)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: checkpoint format version %lu, this build reads 1", name,
                         cae__le32(b + 8));
    crc = cae_crc32(0, b, len - 4);
    if (crc != cae__le32(b + len - 4))
        return cae__fail(e, CAE_ERR_FORMAT, "%s: CRC-32 mismatch at offset %zu: stored %lx, computed %lx (damaged file)",
                         name, len - 4, cae__le32(b + len - 4), crc);
    mlen = cae__le64(b + 12);
    if (mlen > len - 24)
        return cae__fail(e, CAE_ERR_FORMAT, "%s: model of %llu bytes at offset 12 in a file of %zu", name, mlen, len);
    if ((rc = cae_net_load_mem(&net, b + 20, (size_t)mlen, name, e)) != CAE_OK) return rc;
    np = net.nparams;
    if ((rc = cae__same_arch(&net, &t->net, name, e)) != CAE_OK) {
        cae_net_free(&net);
        return rc;
    }
    p = b + 20 + mlen;
    rest = len - 24 - (size_t)mlen; /* Adam's settings and moments, the caller's bytes and their size */
    if (rest < 32 + 8 * np || (ulen = cae__le64(p + 24 + 8 * np)) != rest - 32 - 8 * np) {
        cae_net_free(&net);
        return cae__fail(e, CAE_ERR_FORMAT, "%s: %zu bytes do not hold a model of %zu parameters, its moments and the "
                         "sizes they give", name, len, np);
    }
    p = cae__get_floats(hyper, p, 4);
    steps = cae__le64(p);
    if (!(hyper[0] > 0) || !(hyper[1] >= 0 && hyper[1] < 1) || !(hyper[2] >= 0 && hyper[2] < 1) || !(hyper[3] > 0) ||
        steps > ((unsigned long long)1 << 62)) {
        cae_net_free(&net);
        return cae__fail(e, CAE_ERR_FORMAT, "%s: Adam's settings at offset %llu are out of range", name, 20 + mlen);
    }
    /* all checked: now t changes */
    memcpy(t->param, net.param, sizeof(float) * np);
    cae_net_free(&net);
    cae__trainer_derive(t);
    t->adam.lr = hyper[0], t->adam.beta1 = hyper[1], t->adam.beta2 = hyper[2], t->adam.eps = hyper[3];
    t->adam.t = (long long)steps;
    p = cae__get_floats(t->m, p + 8, np);
    p = cae__get_floats(t->v, p, np);
    if (user) *user = ulen ? p + 8 : NULL;
    if (user_len) *user_len = (size_t)ulen;
    return CAE_OK;
}

#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_trainer_save(const cae_trainer *t, const char *path, const void *user, size_t user_len, cae_err *e)
{
    size_t len = cae_trainer_state_bytes(t, user_len);
    unsigned char *b;
    int rc;
    if (!path || !len) return cae__fail(e, CAE_ERR_ARG, "save checkpoint: no path, no trainer or too many bytes");
    b = (unsigned char *)CONVAE_MALLOC(len);
    if (!b) return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    rc = cae_trainer_write_state(t, user, user_len, b, len, e);
    if (rc == CAE_OK) rc = cae_write_file(path, b, len, e);
    CONVAE_FREE(b);
    return rc;
}

CONVAE_DEF int cae_trainer_load(cae_trainer *t, const char *path, void **user, size_t *user_len, cae_err *e)
{
    const unsigned char *u;
    unsigned char *b;
    size_t len, ulen;
    int rc;
    if (user) *user = NULL;
    if (user_len) *user_len = 0;
    if ((rc = cae_read_file(path, &b, &len, 0, e)) != CAE_OK) return rc;
    rc = cae_trainer_read_state(t, b, len, path, &u, &ulen, e);
    if (rc == CAE_OK && user && ulen) { /* the caller's bytes move to the front of the buffer */
        memmove(b, u, ulen);
        *user = b, b = NULL;
    }
    if (rc == CAE_OK && user_len) *user_len = ulen;
    CONVAE_FREE(b);
    return rc;
}
#endif
#endif /* CONVAE_NO_TRAIN */

/* ================================================================ images: PGM/PPM and the grid */

CONVAE_DEF void cae_grid_size(int n, int h, int w, int cols, int pad, int *gw, int *gh)
{
    int rows;
    if (cols < 1) cols = 1;
    if (cols > n) cols = n > 0 ? n : 1;
    rows = (n + cols - 1) / cols;
    *gw = cols * w + (cols + 1) * pad;
    *gh = rows * h + (rows + 1) * pad;
}

CONVAE_DEF void cae_grid(unsigned char *px, const float *imgs, int n, int h, int w, int c, int cols, int pad)
{
    int gw, gh, i, y, x, ch;
    if (cols < 1) cols = 1;
    if (cols > n) cols = n > 0 ? n : 1;
    cae_grid_size(n, h, w, cols, pad, &gw, &gh);
    memset(px, 128, (size_t)gw * gh * c);
    for (i = 0; i < n; i++) {
        int ox = pad + (i % cols) * (w + pad), oy = pad + (i / cols) * (h + pad);
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                for (ch = 0; ch < c; ch++) {
                    float v = imgs[(((size_t)i * h + y) * w + x) * c + ch];
                    v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); /* NaN stays NaN: next line maps it to 0 */
                    px[((size_t)(oy + y) * gw + ox + x) * c + ch] = (unsigned char)(v >= 0.0f ? v * 255.0f + 0.5f : 0.0f);
                }
    }
}

#ifndef CONVAE_NO_STDIO
CONVAE_DEF int cae_write_pnm(const char *path, const unsigned char *px, int w, int h, int c, cae_err *e)
{
    char head[64];
    size_t hl, n;
    unsigned char *buf;
    int rc;
    if (w < 1 || h < 1 || (c != 1 && c != 3) || w > 65535 || h > 65535)
        return cae__fail(e, CAE_ERR_ARG, "%s: cannot write a %dx%d image with %d channels as PGM/PPM", path, w, h, c);
    hl = (size_t)snprintf(head, sizeof head, "P%d\n%d %d\n255\n", c == 1 ? 5 : 6, w, h);
    n = (size_t)w * h * c;
    buf = (unsigned char *)CONVAE_MALLOC(hl + n);
    if (!buf) return cae__fail(e, CAE_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, head, hl);
    memcpy(buf + hl, px, n);
    rc = cae_write_file(path, buf, hl + n, e);
    CONVAE_FREE(buf);
    return rc;
}
#endif /* CONVAE_NO_STDIO */

/* ================================================================ the summary */

typedef struct cae__sb {
    char *buf;
    size_t cap, len;
} cae__sb;

static void cae__sbf(cae__sb *b, const char *fmt, ...)
{
    char tmp[256];
    size_t i;
    va_list ap;
    va_start(ap, fmt);
    cae__vfmt(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    for (i = 0; tmp[i]; i++, b->len++)
        if (b->len + 1 < b->cap) b->buf[b->len] = tmp[i];
    if (b->cap) b->buf[b->len < b->cap ? b->len : b->cap - 1] = 0;
}

/* pads the current line with spaces up to column col */
static void cae__sbpad(cae__sb *b, size_t line_start, size_t col)
{
    do cae__sbf(b, " ");
    while (b->len - line_start < col);
}

/* 74497 -> "74,497" */
static void cae__commas(char *out, unsigned long long v)
{
    char tmp[32];
    int n = 0, i, o = 0;
    do {
        if (n % 4 == 3) tmp[n++] = ',';
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = n - 1; i >= 0; i--) out[o++] = tmp[i];
    out[o] = 0;
}

CONVAE_DEF size_t cae_net_summary(const cae_net *m, const char *title, char *buf, size_t cap)
{
    static const char *rule = "_________________________________________________________________";
    static const char *dbl = "=================================================================";
    cae__sb b;
    size_t ls;
    char num[32];
    int l;
    b.buf = buf, b.cap = cap, b.len = 0;
    if (cap) buf[0] = 0;
    if (!m) return 1;
    cae__sbf(&b, "Model: \"%s\"\n%s\n", title ? title : "model", rule);
    ls = b.len;
    cae__sbf(&b, " Layer (type)");
    cae__sbpad(&b, ls, 29);
    cae__sbf(&b, "Output Shape");
    cae__sbpad(&b, ls, 55);
    cae__sbf(&b, "Param #\n%s\n", dbl);
    ls = b.len;
    cae__sbf(&b, " input (InputLayer)");
    cae__sbpad(&b, ls, 29);
    cae__sbf(&b, "[(None, %d, %d, %d)]", m->h, m->w, m->c);
    cae__sbpad(&b, ls, 55);
    cae__sbf(&b, "0\n");
    for (l = 0; l < m->nlayers; l++) {
        const cae_layer *L = m->layer + l;
        cae__sbf(&b, "\n");
        ls = b.len;
        cae__sbf(&b, " %s (%s)", L->name, cae__kind_name(L->kind));
        cae__sbpad(&b, ls, 29);
        cae__sbf(&b, "(None, %d, %d, %d)", L->oh, L->ow, L->oc);
        cae__sbpad(&b, ls, 55);
        cae__commas(num, L->nparams);
        cae__sbf(&b, "%s\n", num);
    }
    cae__commas(num, m->nparams);
    cae__sbf(&b, "\n%s\nTotal params: %s\nTrainable params: %s\nNon-trainable params: 0\n%s\n", dbl, num, num, rule);
    return b.len + 1;
}

#endif /* CONVAE_IMPLEMENTATION_DONE */
#endif /* CONVAE_IMPLEMENTATION */

/* Change log
   0.4.1  2026-12-05  cae_bce_logits_sum: the BCE's value through a kernel set (AVX2, AVX-512:
                      log(1+exp(-|z|)) in float vector code, within 1e-6 of cae_bce_logits; it
                      took 3% of a training step in libm's log1p and exp). Speed: a GCC -O2
                      build trained 40-45% slower than -O3 (now 9%): the pooling kernels filled an
                      int[4] of window offsets with one vector store whose four loads then
                      stalled (now scalars), and loops over arrays of vectors stayed loops
                      (CAE__UNROLL). cae_conv2d_wino_grad 16 pairs at a time with G's zeros and
                      pairs (F(4x4) still in double). A ReLU under a max-pool is carried back at
                      the pool's output (a quarter of the values, the same bits), and its bias's
                      gradient too; Adam in the threads that sum the gradient. Training
                      1.68-1.75x the AVX2 set's on an AVX-512 Xeon (0.4.0 beside it:
                      1.65-1.72x), inference 1.71-1.78x.
   0.4.0  2026-12-04  The AVX-512 set's Winograd layers by F(4x4,3x3) in all three directions:
                      cae_conv2d_wino gives the m of F(m x m, 3x3) a set uses (2 or 4, 0: none),
                      cae_conv2d_wino_kernel and cae_conv2d_wino_grad take it; a net keeps the
                      Winograd kernels of its set's m (cae_net.wino_m), cae_net_set_kernels
                      remakes them for another set. The trainer takes a slice's images through a
                      layer before the next, on one workspace a thread, and sums a Winograd
                      layer's gradient over the slice there. cae_bias_backward/_ref (the bias
                      gradient through the kernel sets, the same bits); cae_trainer_moments (for
                      tools/convae_cuda.cu's trainer). The AVX-512 set also: one-channel first and
                      last layers in registers, Winograd tiles a gap apart, input transforms
                      without a padded copy. Training 1.62x the AVX2 set's, inference 1.72x (were
                      1.32x and 1.38x).
   0.3.0  2026-12-02  checkpoints (cae_trainer_save/_load/_write_state/_read_state: resuming gives
                      the same bits); .npy/.npz reader and writer (cae_npy_*, cae_npz_*);
                      cae_arch_parse and CAE_LAB_ARCH; cae_write_file fsyncs before the rename.
                      Checked with sanitizers, valgrind, libFuzzer, on i386, s390x, arm64 and
                      Windows (mingw under wine).
   0.2.0  2026-12-02  kernel sets chosen at run time: scalar; avx2 and avx512 through target
                      attributes (no -march needed); neon on AArch64; CONVAE_KERNELS and
                      cae_kernels_*. cae_tensor. cae_net (inference on caller scratch,
                      cae_net_init over the caller's parameters, model files from memory) apart
                      from cae_trainer (gradients, Adam, slices); the fast layer functions take
                      a kernel set. int8 inference (cae_qnet_*). CONVAE_NO_GZIP,
                      CONVAE_NO_TRAIN; cae_read_file. The PNG writer, SVG figures, PCA, t-SNE and
                      kNN moved to examples/convae_report.h. cae_model_* and cae_simd_name are
                      gone; CONVAE_MAX_LAYERS is the constant CAE_MAX_LAYERS (32).
   0.1.0  2026-11-28  first release: IDX/gzip reader, Conv2D/MaxPool/UpSample/ReLU/Sigmoid with
                      scalar, AVX2/FMA and Winograd kernels, BCE/MSE, Adam, the model with save and
                      load, PGM/PPM/PNG writers, SVG figures, PCA, t-SNE, kNN.

   License (MIT)
   Copyright (c) 2026 the convae authors
   Permission is hereby granted, free of charge, to any person obtaining a copy of this software
   and associated documentation files (the "Software"), to deal in the Software without
   restriction, including without limitation the rights to use, copy, modify, merge, publish,
   distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
   Software is furnished to do so, subject to the following conditions: the above copyright notice
   and this permission notice shall be included in all copies or substantial portions of the
   Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
   INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE
   AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
   DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
   OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE. */
