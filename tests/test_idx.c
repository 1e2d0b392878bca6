/* test_idx.c - tests of the gzip inflater, the IDX reader and the NumPy (.npy, .npz) reader
   and writer in convae.h.

   Build and run from the repository root:
       cc -std=c99 -Wall -Wextra -pedantic -O2 tests/test_idx.c -o test_idx -lm && ./test_idx
   The MNIST check reads $CONVAE_MNIST_DIR (default ../shared/data/mnist) and is skipped when
   the files are not there. CONVAE_TEST_VERBOSE=1 prints the error messages the library gives. */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_checks, t_failed, t_verbose;

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        t_checks++;                                                                             \
        if (!(cond)) {                                                                          \
            t_failed++;                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                         \
            printf(__VA_ARGS__);                                                                \
            printf("\n");                                                                       \
        }                                                                                       \
    } while (0)

/* ---------------------------------------------------------------- streams made offline */
/* Made by python3's zlib (see the comment of each): gzip members whose contents are IDX files
   that t_fixed_idx and t_dynamic_idx rebuild.
     fixed:   zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_FIXED) of a u8 IDX, 192
              elements ((i % 24) * 5 + i / 48) & 255; one fixed-Huffman block with matches.
     dynamic: zlib.compressobj(9, zlib.DEFLATED, -15) of an i16 20x30 IDX,
              (i % 37) * (i % 11) - 150; one dynamic-Huffman block.
   Both wrapped as 1f 8b 08 00 00000000 02 ff + deflate + CRC32 + ISIZE. */
static const unsigned char t_gz_fixed[132] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x63, 0x60, 0xe0, 0x60, 0x64, 0x60,
    0x60, 0x38, 0xc0, 0xc0, 0xca, 0xc5, 0x2f, 0x22, 0x29, 0xa7, 0xac, 0xa1, 0x6b, 0x64, 0x6e, 0xe3,
    0xe8, 0xe6, 0x1d, 0x10, 0x1a, 0x15, 0x9f, 0x92, 0x99, 0x57, 0x8c, 0x4b, 0x9c, 0x91, 0x8d, 0x5b,
    0x40, 0x54, 0x4a, 0x5e, 0x45, 0x53, 0xcf, 0xd8, 0xc2, 0xd6, 0xc9, 0xdd, 0x27, 0x30, 0x2c, 0x3a,
    0x21, 0x35, 0x2b, 0xbf, 0x04, 0x97, 0x38, 0x13, 0x3b, 0x8f, 0xa0, 0x98, 0xb4, 0x82, 0xaa, 0x96,
    0xbe, 0x89, 0xa5, 0x9d, 0xb3, 0x87, 0x6f, 0x50, 0x78, 0x4c, 0x62, 0x5a, 0x76, 0x41, 0x29, 0x2e,
    0x71, 0x66, 0x0e, 0x5e, 0x21, 0x71, 0x19, 0x45, 0x35, 0x6d, 0x03, 0x53, 0x2b, 0x7b, 0x17, 0x4f,
    0xbf, 0xe0, 0x88, 0xd8, 0xa4, 0xf4, 0x9c, 0xc2, 0x32, 0x5c, 0xe2, 0x00, 0x2b, 0x98, 0xc3, 0xb5,
    0xc8, 0x00, 0x00, 0x00,
};

static const unsigned char t_gz_dynamic[587] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xed, 0x93, 0x4b, 0x48, 0x54, 0x71,
    0x18, 0xc5, 0x0f, 0xf6, 0x58, 0x68, 0x10, 0x84, 0x41, 0xb6, 0x90, 0x88, 0xc0, 0x68, 0x11, 0x21,
    0x14, 0x14, 0xae, 0x0c, 0x5a, 0xd4, 0xa6, 0xa2, 0x45, 0x08, 0x11, 0x44, 0xb8, 0x98, 0x4a, 0x4d,
    0xad, 0x46, 0x33, 0x1f, 0xe3, 0xa3, 0x69, 0x7c, 0xd0, 0x43, 0x34, 0xca, 0x64, 0x7a, 0x92, 0x26,
    0x16, 0x91, 0x25, 0x05, 0x46, 0x62, 0x65, 0x91, 0x12, 0x33, 0x10, 0x22, 0x3d, 0xc8, 0x45, 0x49,
    0x48, 0x51, 0xc4, 0x2c, 0x8c, 0x38, 0xfd, 0x32, 0x8a, 0x8a, 0x5a, 0xb7, 0x69, 0x71, 0x67, 0xee,
    0xff, 0x77, 0xef, 0xf7, 0x38, 0xe7, 0xfb, 0xae, 0x94, 0x92, 0x24, 0x29, 0x95, 0x2b, 0xdd, 0x01,
    0xef, 0x70, 0x9e, 0x8b, 0x5c, 0xea, 0x6a, 0x37, 0xf9, 0xa4, 0x3b, 0x7d, 0xcb, 0xc3, 0xd0, 0xbd,
    0xae, 0x71, 0xb3, 0x2f, 0xf8, 0xa6, 0x1f, 0x7b, 0x5c, 0x49, 0x4a, 0x57, 0x16, 0xb4, 0xca, 0x27,
    0xdc, 0xe3, 0x98, 0xdf, 0x6b, 0x8e, 0x96, 0x2b, 0x47, 0x55, 0xea, 0x84, 0x36, 0xf8, 0x8a, 0x9f,
    0xf0, 0x9f, 0x4f, 0x54, 0x85, 0x23, 0x6e, 0x25, 0x2e, 0xe0, 0x42, 0x97, 0x39, 0xec, 0x16, 0xee,
    0x7b, 0xfd, 0xc8, 0x63, 0x9e, 0x54, 0x2a, 0xf4, 0x80, 0x8f, 0xba, 0xc3, 0xfd, 0x7e, 0xc6, 0x39,
    0x4d, 0xab, 0xb4, 0x45, 0x21, 0x68, 0xd8, 0x17, 0xfd, 0xd0, 0x6f, 0xe9, 0x29, 0x4b, 0xb9, 0x9c,
    0x8b, 0x5c, 0xce, 0x6f, 0x9e, 0x8b, 0xc9, 0x51, 0x47, 0x44, 0x94, 0x0a, 0xfd, 0xd4, 0x98, 0x80,
    0x96, 0x50, 0xe1, 0x94, 0xaf, 0xfa, 0x01, 0x39, 0x3f, 0x6b, 0xbe, 0x56, 0x2a, 0x07, 0x5a, 0xc3,
    0x3b, 0x7d, 0x7e, 0x8e, 0xa6, 0x45, 0x5a, 0xab, 0x42, 0xb5, 0x69, 0x10, 0x1a, 0xf0, 0x4e, 0x17,
    0xd0, 0x55, 0x39, 0x15, 0x9a, 0x7d, 0x86, 0xa8, 0x01, 0xd8, 0x1e, 0x87, 0x7c, 0x84, 0x53, 0x0f,
    0x35, 0x5f, 0xd2, 0xc7, 0x5c, 0x65, 0x42, 0x2b, 0x7d, 0x9c, 0xe7, 0xc3, 0x9e, 0xd0, 0x2c, 0x2d,
    0xd5, 0x46, 0x05, 0x15, 0x85, 0xd6, 0xbb, 0xdb, 0x71, 0x4f, 0x72, 0x57, 0xe0, 0x20, 0x71, 0x4d,
    0x6e, 0xe3, 0x7e, 0x37, 0x7e, 0xd5, 0xd2, 0xd7, 0x69, 0x22, 0xee, 0x7a, 0x14, 0x3f, 0x92, 0xa1,
    0x65, 0x3e, 0x8c, 0xda, 0x3e, 0x8f, 0xf8, 0x23, 0xfe, 0x64, 0x6a, 0x93, 0x82, 0xd0, 0x83, 0xb0,
    0xfb, 0x7e, 0xa3, 0xd9, 0x5a, 0xa1, 0xad, 0x8a, 0x40, 0x8a, 0xb9, 0x76, 0xe1, 0x4f, 0x09, 0xf9,
    0x1a, 0x71, 0xb4, 0x03, 0x97, 0x87, 0x50, 0x13, 0xa0, 0x42, 0x98, 0x73, 0x37, 0x5d, 0x3e, 0x75,
    0x82, 0x1c, 0xcb, 0xb4, 0x1e, 0x5a, 0xed, 0x76, 0xa6, 0x32, 0xea, 0x4f, 0x4c, 0x61, 0xb5, 0x02,
    0x3a, 0xa6, 0x3e, 0x68, 0xd3, 0x1f, 0xb2, 0x7c, 0xcd, 0x5d, 0xc9, 0x93, 0x76, 0xfc, 0x1a, 0x20,
    0xe2, 0x03, 0x5a, 0x16, 0x43, 0x2b, 0x98, 0xc3, 0x65, 0xd4, 0xbe, 0xd6, 0x4c, 0x65, 0xe0, 0x4f,
    0xbe, 0x5a, 0xa0, 0x11, 0x77, 0x31, 0xdd, 0xc4, 0xd4, 0x16, 0x7c, 0x57, 0xf4, 0xb3, 0xce, 0x2e,
    0xb4, 0xc4, 0x98, 0xbe, 0xa0, 0xfb, 0x21, 0x67, 0xa9, 0x10, 0x67, 0x4a, 0x29, 0x5a, 0xa2, 0x75,
    0xca, 0x83, 0xd6, 0xf9, 0x1c, 0x75, 0x5e, 0x29, 0x99, 0x4e, 0x37, 0x2b, 0xa4, 0xee, 0xbf, 0x78,
    0x3e, 0x02, 0xdd, 0xc7, 0xdb, 0xad, 0xec, 0xd7, 0x6d, 0xe6, 0xf8, 0x8e, 0x88, 0x0c, 0xad, 0x81,
    0x86, 0xa8, 0xd3, 0x0b, 0x49, 0x68, 0x1e, 0xb3, 0xdf, 0xa6, 0x88, 0xae, 0x41, 0x1b, 0x89, 0xfa,
    0x7d, 0xfe, 0xdf, 0xb6, 0xa2, 0x1e, 0xa5, 0x97, 0xe8, 0x2b, 0x8e, 0xa3, 0xd3, 0xa6, 0x3a, 0x2f,
    0xa7, 0x4a, 0x97, 0xef, 0x79, 0x8c, 0xd9, 0x2f, 0x50, 0xb6, 0x72, 0xd5, 0x00, 0x3d, 0x44, 0xa5,
    0x21, 0xf4, 0xa7, 0x29, 0xfb, 0xc7, 0x2e, 0xfe, 0xba, 0xa1, 0x37, 0xf0, 0xe3, 0x85, 0x13, 0xd0,
    0x52, 0x36, 0x38, 0xea, 0xeb, 0xcc, 0x7e, 0x5c, 0xd3, 0xb5, 0x90, 0x1c, 0xdb, 0xa1, 0xb5, 0xf4,
    0x7e, 0x87, 0xac, 0x33, 0x50, 0xbb, 0x41, 0xa5, 0x3a, 0xaf, 0xd8, 0xff, 0xaf, 0xe5, 0x5f, 0x7f,
    0x2d, 0x5f, 0x00, 0x52, 0x98, 0xaf, 0xf7, 0xbc, 0x04, 0x00, 0x00,
};

/* lg len 2583 */

static size_t t_fixed_idx(unsigned char *b)
{
    size_t i;
    static const unsigned char hdr[8] = {0, 0, 8, 1, 0, 0, 0, 192};
    memcpy(b, hdr, 8);
    for (i = 0; i < 192; i++) b[8 + i] = (unsigned char)(((i % 24) * 5 + i / 48) & 255);
    return 200;
}

static size_t t_dynamic_idx(unsigned char *b)
{
    size_t i;
    static const unsigned char hdr[12] = {0, 0, 0x0B, 2, 0, 0, 0, 20, 0, 0, 0, 30};
    memcpy(b, hdr, 12);
    for (i = 0; i < 600; i++) {
        unsigned v = (unsigned)((int)((i % 37) * (i % 11)) - 150) & 0xFFFFu;
        b[12 + 2 * i] = (unsigned char)(v >> 8);
        b[13 + 2 * i] = (unsigned char)v;
    }
    return 1212;
}

/* ---------------------------------------------------------------- helpers */

static void t_expect_err(int r, const cae_err *e, int code, const char *what, const char *needle)
{
    CHECK(r == code, "%s: returned %d, expected %d (message: %s)", what, r, code, e->msg);
    CHECK(e->code == code, "%s: e.code %d, expected %d", what, e->code, code);
    CHECK(e->msg[0] != 0, "%s: empty error message", what);
    if (needle)
        CHECK(strstr(e->msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, e->msg,
              needle);
    if (t_verbose) printf("  %-34s -> %s\n", what, e->msg);
}

static int t_is_zeroed(const cae_idx *x)
{
    int i;
    for (i = 0; i < CONVAE_IDX_MAX_DIMS; i++)
        if (x->dims[i]) return 0;
    return !x->type && !x->ndim && !x->count && !x->elem_size && !x->data;
}

/* Parses an IDX that must be rejected with `code`; also checks that *out is left zeroed. */
static void t_idx_bad(const unsigned char *b, size_t n, int code, const char *what,
                      const char *needle)
{
    cae_idx x;
    cae_err e;
    int r;
    memset(&x, 0xAB, sizeof x);
    memset(&e, 0, sizeof e);
    r = cae_idx_parse(b, n, &x, "bad.idx", &e);
    t_expect_err(r, &e, code, what, needle);
    CHECK(strstr(e.msg, "bad.idx") != NULL, "%s: message \"%s\" lacks the name", what, e.msg);
    CHECK(t_is_zeroed(&x), "%s: output not zeroed after an error", what);
    if (r == CAE_OK) cae_idx_free(&x);
}

static void t_put_be32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A growing LSB-first bit writer, to hand-make deflate streams. */
typedef struct t_bw {
    unsigned char *b;
    size_t nbits, cap;
} t_bw;

static void bw_init(t_bw *w)
{
    w->cap = 1 << 16;
    w->b = (unsigned char *)calloc(w->cap, 1);
    w->nbits = 0;
    if (!w->b) {
        printf("test_idx: out of memory\n");
        exit(2);
    }
}

static void bw_put(t_bw *w, unsigned long v, int n)
{
    int i;
    for (i = 0; i < n; i++, w->nbits++) {
        if (w->nbits / 8 >= w->cap) {
            w->b = (unsigned char *)realloc(w->b, w->cap * 2);
            if (!w->b) exit(2);
            memset(w->b + w->cap, 0, w->cap);
            w->cap *= 2;
        }
        if ((v >> i) & 1u) w->b[w->nbits >> 3] |= (unsigned char)(1u << (w->nbits & 7));
    }
}

/* Huffman codes go MSB first. */
static void bw_code(t_bw *w, unsigned code, int len)
{
    while (len-- > 0) bw_put(w, (code >> len) & 1u, 1);
}

static void bw_align(t_bw *w) { w->nbits = (w->nbits + 7) & ~(size_t)7; }
static size_t bw_bytes(const t_bw *w) { return (w->nbits + 7) / 8; }

static void bw_stored(t_bw *w, const unsigned char *d, size_t n, int final)
{
    size_t i;
    bw_put(w, (unsigned long)final, 1);
    bw_put(w, 0, 2);
    bw_align(w);
    bw_put(w, (unsigned long)n, 16);
    bw_put(w, ~(unsigned long)n & 0xFFFFu, 16);
    for (i = 0; i < n; i++) bw_put(w, d[i], 8);
}

/* Fixed Huffman code of literal/length symbol s (RFC 1951 3.2.6). */
static void bw_fixed_lit(t_bw *w, int s)
{
    if (s < 144) bw_code(w, 0x30u + (unsigned)s, 8);
    else if (s < 256) bw_code(w, 0x190u + (unsigned)(s - 144), 9);
    else if (s < 280) bw_code(w, (unsigned)(s - 256), 7);
    else bw_code(w, 0xC0u + (unsigned)(s - 280), 8);
}

/* Canonical codes from lengths (RFC 1951 3.2.2). */
static void t_canon(const unsigned char *lens, int n, unsigned *codes)
{
    int count[16], next[16], i, b;
    unsigned code = 0;
    memset(count, 0, sizeof count);
    for (i = 0; i < n; i++) count[lens[i]]++;
    count[0] = 0;
    for (b = 1; b < 16; b++) {
        code = (code + (unsigned)count[b - 1]) << 1;
        next[b] = (int)code;
    }
    for (i = 0; i < n; i++) codes[i] = lens[i] ? (unsigned)next[lens[i]]++ : 0;
}

/* Writes a dynamic block header that sends every length with its own code-length symbol
   (0..15) under one complete code-length code (13 symbols of 4 bits, 6 of 5 bits), and
   returns the codes of the two alphabets in litc/distc. */
static void bw_dynamic(t_bw *w, int final, const unsigned char *lit, int nlen,
                       const unsigned char *dist, int ndist, unsigned *litc, unsigned *distc)
{
    static const unsigned char order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                            11, 4,  12, 3, 13, 2, 14, 1, 15};
    unsigned char cl[19];
    unsigned clc[19];
    int i;
    for (i = 0; i < 19; i++) cl[i] = (unsigned char)(i < 13 ? 4 : 5);
    t_canon(cl, 19, clc);
    bw_put(w, (unsigned long)final, 1);
    bw_put(w, 2, 2);
    bw_put(w, (unsigned long)(nlen - 257), 5);
    bw_put(w, (unsigned long)(ndist - 1), 5);
    bw_put(w, 15, 4);
    for (i = 0; i < 19; i++) bw_put(w, cl[order[i]], 3);
    for (i = 0; i < nlen; i++) bw_code(w, clc[lit[i]], cl[lit[i]]);
    for (i = 0; i < ndist; i++) bw_code(w, clc[dist[i]], cl[dist[i]]);
    t_canon(lit, nlen, litc);
    t_canon(dist, ndist, distc);
}

/* A gzip member holding data as stored blocks of at most blk bytes (blk 0: one empty block
   first, then one block), with the optional header fields in flags. Caller frees. */
static unsigned char *t_gzip_stored(const unsigned char *d, size_t n, size_t blk, unsigned flags,
                                    size_t *len)
{
    t_bw w;
    size_t i, hstart;
    unsigned char *out;
    bw_init(&w);
    bw_put(&w, 0x1F, 8);
    bw_put(&w, 0x8B, 8);
    bw_put(&w, 8, 8);
    bw_put(&w, flags, 8);
    bw_put(&w, 0x12345678UL, 32); /* MTIME */
    bw_put(&w, 0, 8);
    bw_put(&w, 3, 8); /* OS: Unix */
    if (flags & 4u) {
        static const char extra[6] = {'A', 'B', 2, 0, 'x', 'y'};
        bw_put(&w, 6, 16);
        for (i = 0; i < 6; i++) bw_put(&w, (unsigned char)extra[i], 8);
    }
    if (flags & 8u) {
        const char *s = "test.idx";
        do bw_put(&w, (unsigned char)*s, 8);
        while (*s++);
    }
    if (flags & 16u) {
        const char *s = "made by test_idx";
        do bw_put(&w, (unsigned char)*s, 8);
        while (*s++);
    }
    if (flags & 2u) bw_put(&w, cae_crc32(0, w.b, bw_bytes(&w)) & 0xFFFFu, 16);
    hstart = bw_bytes(&w);
    if (blk == 0) {
        bw_stored(&w, d, 0, 0);
        bw_stored(&w, d, n, 1);
    } else {
        for (i = 0; i < n || i == 0; i += blk) {
            size_t k = n - i < blk ? n - i : blk;
            bw_stored(&w, d + i, k, i + k >= n);
        }
    }
    (void)hstart;
    bw_align(&w);
    bw_put(&w, cae_crc32(0, d, n), 32);
    bw_put(&w, (unsigned long)(n & 0xFFFFFFFFUL), 32);
    out = w.b;
    *len = bw_bytes(&w);
    return out;
}

/* ---------------------------------------------------------------- IDX generation */

static double t_value(int type, size_t i)
{
    switch (type) {
    case CAE_IDX_U8: return (double)((i * 37 + 11) & 255);
    case CAE_IDX_I8: return (double)((int)((i * 53) % 256) - 128);
    case CAE_IDX_I16: return (double)((long)((i * 1237 + 5) % 65536) - 32768);
    case CAE_IDX_I32:
        return (double)((long long)((i * 2654435761UL + 7) % 4294967296ULL) - 2147483648LL);
    case CAE_IDX_F32: return (double)(float)(((double)i - 7.0) * 0.375 - 1.0e-3 * (double)i);
    default: return ((double)i - 5.0) * 0.1 + (i % 2 ? -1.0e10 : 3.0e-12);
    }
}

static int t_elem_size(int type)
{
    return type == CAE_IDX_U8 || type == CAE_IDX_I8 ? 1 : type == CAE_IDX_I16 ? 2 : type == CAE_IDX_F64 ? 8 : 4;
}

/* An IDX file (caller frees) with big-endian values t_value(type, i). */
static unsigned char *t_make_idx(int type, int ndim, const int *dims, size_t *len)
{
    size_t count = 1, i, hdr = 4 + 4 * (size_t)ndim;
    int k, es = t_elem_size(type);
    unsigned char *b;
    for (k = 0; k < ndim; k++) count *= (size_t)dims[k];
    *len = hdr + count * (size_t)es;
    b = (unsigned char *)malloc(*len);
    if (!b) exit(2);
    b[0] = b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = (unsigned char)ndim;
    for (k = 0; k < ndim; k++) t_put_be32(b + 4 + 4 * k, (unsigned long)dims[k]);
    for (i = 0; i < count; i++) {
        unsigned char *p = b + hdr + i * (size_t)es;
        double v = t_value(type, i);
        unsigned long long u = 0;
        if (type == CAE_IDX_F32) {
            float f = (float)v;
            unsigned int w;
            memcpy(&w, &f, 4);
            u = w;
        } else if (type == CAE_IDX_F64) {
            memcpy(&u, &v, 8);
        } else {
            u = (unsigned long long)(long long)v; /* two's complement of negatives */
        }
        for (k = 0; k < es; k++) p[k] = (unsigned char)(u >> (8 * (es - 1 - k)));
    }
    return b;
}

/* The element as the native array holds it. */
static double t_native(const cae_idx *x, size_t i)
{
    switch (x->type) {
    case CAE_IDX_U8: return ((unsigned char *)x->data)[i];
    case CAE_IDX_I8: return ((signed char *)x->data)[i];
    case CAE_IDX_I16: return ((short *)x->data)[i];
    case CAE_IDX_I32: return ((int *)x->data)[i];
    case CAE_IDX_F32: return ((float *)x->data)[i];
    default: return ((double *)x->data)[i];
    }
}

static void t_check_idx(const cae_idx *x, int type, int ndim, const int *dims, const char *what)
{
    size_t count = 1, i, bad = 0;
    int k;
    for (k = 0; k < ndim; k++) count *= (size_t)dims[k];
    CHECK(x->type == type && x->ndim == ndim && x->count == count &&
              x->elem_size == t_elem_size(type),
          "%s: type %d ndim %d count %lu elem %d, expected %d %d %lu %d", what, x->type, x->ndim,
          (unsigned long)x->count, x->elem_size, type, ndim, (unsigned long)count,
          t_elem_size(type));
    for (k = 0; k < CONVAE_IDX_MAX_DIMS; k++)
        CHECK(x->dims[k] == (k < ndim ? dims[k] : 0), "%s: dims[%d] = %d", what, k, x->dims[k]);
    if (x->count != count) return;
    for (i = 0; i < count && bad < 3; i++) {
        double want = t_value(type, i), got = cae_idx_get(x, i), nat = t_native(x, i);
        if (got != want || nat != want) {
            bad++;
            printf("  %s: element %lu: get %.17g native %.17g expected %.17g\n", what,
                   (unsigned long)i, got, nat, want);
        }
    }
    CHECK(bad == 0, "%s: %lu wrong elements", what, (unsigned long)bad);
    CHECK(cae_idx_get(x, count) == 0.0, "%s: get past the end is not 0", what);
}

/* ---------------------------------------------------------------- tests */

static void test_idx_types(void)
{
    static const int types[6] = {CAE_IDX_U8, CAE_IDX_I8, CAE_IDX_I16,
                                 CAE_IDX_I32, CAE_IDX_F32, CAE_IDX_F64};
    static const int shapes[4][4] = {{7, 0, 0, 0}, {3, 5, 0, 0}, {2, 3, 4, 0}, {2, 1, 3, 2}};
    int t, nd;
    for (t = 0; t < 6; t++)
        for (nd = 1; nd <= 4; nd++) {
            size_t len, glen;
            unsigned char *b = t_make_idx(types[t], nd, shapes[nd - 1], &len), *g;
            cae_idx x;
            cae_err e;
            char what[64];
            int r;
            sprintf(what, "idx type 0x%x ndim %d", types[t], nd);
            r = cae_idx_parse(b, len, &x, "gen.idx", &e);
            CHECK(r == CAE_OK, "%s: %s", what, e.msg);
            if (r == CAE_OK) t_check_idx(&x, types[t], nd, shapes[nd - 1], what);
            cae_idx_free(&x);
            CHECK(t_is_zeroed(&x), "%s: cae_idx_free did not zero", what);
            cae_idx_free(&x); /* twice is fine */
            /* the same through gzip (stored blocks of 5 bytes: many blocks) */
            g = t_gzip_stored(b, len, 5, 0, &glen);
            r = cae_idx_parse(g, glen, &x, "gen.idx.gz", &e);
            CHECK(r == CAE_OK, "%s (gzip): %s", what, e.msg);
            if (r == CAE_OK) t_check_idx(&x, types[t], nd, shapes[nd - 1], what);
            cae_idx_free(&x);
            free(g);
            free(b);
        }
}

static void test_idx_empty(void)
{
    static const unsigned char b[12] = {0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 5};
    static const unsigned char big[12] = {0, 0, 0x0E, 2, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF};
    cae_idx x;
    cae_err e;
    int r = cae_idx_parse(b, sizeof b, &x, NULL, &e);
    CHECK(r == CAE_OK && x.count == 0 && x.ndim == 2 && x.dims[0] == 0 && x.dims[1] == 5,
          "0x5 IDX: r %d count %lu (%s)", r, (unsigned long)x.count, e.msg);
    cae_idx_free(&x);
    r = cae_idx_parse(big, sizeof big, &x, NULL, &e);
    CHECK(r == CAE_OK && x.count == 0, "0x2147483647 f64 IDX: r %d (%s)", r, e.msg);
    cae_idx_free(&x);
}

static void test_idx_malformed(void)
{
    unsigned char b[64];
    size_t n;
    memset(b, 0, sizeof b);
    b[2] = 8;
    b[3] = 1;
    t_put_be32(b + 4, 3);
    b[8] = 1; b[9] = 2; b[10] = 3;
    {
        cae_idx x; cae_err e;
        CHECK(cae_idx_parse(b, 11, &x, "ok.idx", &e) == CAE_OK && x.count == 3, "base case: %s",
              e.msg);
        cae_idx_free(&x);
    }
    b[0] = 1;
    t_idx_bad(b, 11, CAE_ERR_FORMAT, "bad magic byte 0", "magic");
    b[0] = 0; b[1] = 0x80;
    t_idx_bad(b, 11, CAE_ERR_FORMAT, "bad magic byte 1", "magic");
    b[1] = 0; b[2] = 0x0A;
    t_idx_bad(b, 11, CAE_ERR_FORMAT, "unknown type 0x0a", "type");
    b[2] = 0x0F;
    t_idx_bad(b, 11, CAE_ERR_FORMAT, "unknown type 0x0f", "type");
    b[2] = 8; b[3] = 0;
    t_idx_bad(b, 11, CAE_ERR_FORMAT, "ndim 0", "dimension count 0");
    b[3] = 9;
    t_idx_bad(b, sizeof b, CAE_ERR_FORMAT, "ndim 9", "dimension count 9");
    b[3] = 1;
    for (n = 0; n < 8; n++) t_idx_bad(b, n, CAE_ERR_FORMAT, "truncated header", "truncated");
    t_idx_bad(b, 10, CAE_ERR_FORMAT, "data too short", "3 data bytes but 2 follow");
    t_idx_bad(b, 12, CAE_ERR_FORMAT, "data too long", "3 data bytes but 4 follow");
    /* 60000x28x28 u8 with 16 bytes missing: the message of the brief */
    memset(b, 0, sizeof b);
    b[2] = 8; b[3] = 3;
    t_put_be32(b + 4, 60000); t_put_be32(b + 8, 28); t_put_be32(b + 12, 28);
    {
        unsigned char *big = (unsigned char *)calloc(16 + 47040000, 1);
        if (!big) exit(2);
        memcpy(big, b, 16);
        t_idx_bad(big, 16 + 47039984, CAE_ERR_FORMAT, "MNIST-shaped, 16 bytes short",
                  "60000x28x28 u8 = 47040000 data bytes but 47039984 follow the 16-byte header");
        free(big);
    }
    /* dims whose product overflows size_t: 4 x (2^31-1) */
    memset(b, 0, sizeof b);
    b[2] = 0x0E; b[3] = 4;
    for (n = 0; n < 4; n++) t_put_be32(b + 4 + 4 * n, 0x7FFFFFFFUL);
    t_idx_bad(b, 20, CAE_ERR_FORMAT, "dims overflow size_t", "overflow");
    /* a dim above INT_MAX */
    b[3] = 1;
    t_put_be32(b + 4, 0x80000000UL);
    t_idx_bad(b, 8, CAE_ERR_FORMAT, "dim > INT_MAX", "INT_MAX");
    /* gzip magic but not gzip: cae_idx_parse takes it as gzip */
    b[0] = 0x1F; b[1] = 0x8B; b[2] = 7;
    t_idx_bad(b, 20, CAE_ERR_FORMAT, "gzip magic, bad method", "method");
    /* arguments */
    {
        cae_err e;
        cae_idx x;
        t_expect_err(cae_idx_parse(NULL, 5, &x, NULL, &e), &e, CAE_ERR_ARG, "NULL buffer",
                     "<memory>");
        t_expect_err(cae_idx_parse(b, 5, NULL, NULL, &e), &e, CAE_ERR_ARG, "NULL out", NULL);
        CHECK(cae_idx_parse(b, 5, &x, NULL, NULL) != CAE_OK, "NULL cae_err is allowed");
    }
}

/* A gzip member that must be accepted and hold want[0..wn). */
static void t_gz_ok(const unsigned char *g, size_t n, const unsigned char *want, size_t wn,
                    const char *what)
{
    unsigned char *out = NULL;
    size_t len = 0;
    cae_err e;
    int r = cae_gunzip(g, n, &out, &len, &e);
    CHECK(r == CAE_OK, "%s: %s", what, e.msg);
    if (r == CAE_OK)
        CHECK(len == wn && (wn == 0 || memcmp(out, want, wn) == 0), "%s: %lu bytes, expected %lu%s",
              what, (unsigned long)len, (unsigned long)wn, len == wn ? " (contents differ)" : "");
    free(out);
}

static void t_gz_bad(const unsigned char *g, size_t n, int code, const char *what,
                     const char *needle)
{
    unsigned char *out = (unsigned char *)&out;
    size_t len = 77;
    cae_err e;
    int r;
    memset(&e, 0, sizeof e);
    r = cae_gunzip(g, n, &out, &len, &e);
    t_expect_err(r, &e, code, what, needle);
    CHECK(out == NULL && len == 0, "%s: output not cleared on error", what);
    if (r == CAE_OK) free(out);
}

static void test_gzip_made_offline(void)
{
    unsigned char want[1212];
    size_t wn;
    cae_idx x;
    cae_err e;
    int r;
    /* the first block's type bits: BFINAL is bit 0, BTYPE bits 1-2 of the first data byte */
    CHECK(((t_gz_fixed[10] >> 1) & 3) == 1, "fixed stream: first block type %d",
          (t_gz_fixed[10] >> 1) & 3);
    CHECK(((t_gz_dynamic[10] >> 1) & 3) == 2, "dynamic stream: first block type %d",
          (t_gz_dynamic[10] >> 1) & 3);
    wn = t_fixed_idx(want);
    t_gz_ok(t_gz_fixed, sizeof t_gz_fixed, want, wn, "fixed-Huffman gzip");
    r = cae_idx_parse(t_gz_fixed, sizeof t_gz_fixed, &x, "fixed.gz", &e);
    CHECK(r == CAE_OK && x.type == CAE_IDX_U8 && x.count == 192 && memcmp(x.data, want + 8, 192) == 0,
          "fixed.gz as IDX: %s", e.msg);
    cae_idx_free(&x);
    wn = t_dynamic_idx(want);
    t_gz_ok(t_gz_dynamic, sizeof t_gz_dynamic, want, wn, "dynamic-Huffman gzip");
    r = cae_idx_parse(t_gz_dynamic, sizeof t_gz_dynamic, &x, "dynamic.gz", &e);
    CHECK(r == CAE_OK && x.type == CAE_IDX_I16 && x.count == 600 && x.dims[0] == 20 &&
              x.dims[1] == 30,
          "dynamic.gz as IDX: %s", e.msg);
    if (r == CAE_OK) {
        size_t i, bad = 0;
        for (i = 0; i < 600; i++)
            if (cae_idx_get(&x, i) != (double)((int)((i % 37) * (i % 11)) - 150)) bad++;
        CHECK(bad == 0, "dynamic.gz: %lu wrong values", (unsigned long)bad);
    }
    cae_idx_free(&x);
}

static void test_gzip_header_fields(void)
{
    unsigned char d[300];
    unsigned flags;
    size_t i, n;
    for (i = 0; i < sizeof d; i++) d[i] = (unsigned char)(i * 7 + 3);
    for (flags = 0; flags < 32; flags++) {
        unsigned char *g = t_gzip_stored(d, sizeof d, 64, flags, &n);
        char what[64];
        sprintf(what, "stored gzip, flags 0x%x", flags);
        t_gz_ok(g, n, d, sizeof d, what);
        if (flags & 2u) { /* a wrong header CRC16 */
            size_t at = n - 8 - (sizeof d + 5 * 5) - 2; /* 5 blocks: 4 x 64 + 44, 5 bytes each */
            g[at] ^= 1;
            t_gz_bad(g, n, CAE_ERR_FORMAT, "bad FHCRC", "header CRC16");
        }
        free(g);
    }
    {
        unsigned char *g = t_gzip_stored(d, 0, 64, 0, &n);
        t_gz_ok(g, n, d, 0, "empty gzip");
        free(g);
        g = t_gzip_stored(d, sizeof d, 0, 8, &n);
        t_gz_ok(g, n, d, sizeof d, "empty stored block, then one");
        free(g);
    }
}

/* Every cut of a valid member, every flipped bit, broken trailers. */
static void test_gzip_damage(const unsigned char *src, size_t n, const char *what)
{
    unsigned char *g = (unsigned char *)malloc(n + 32);
    size_t cut, bit, ok = 0, orig_len = 0;
    unsigned char *orig = NULL;
    cae_err e0;
    char w[96];
    if (!g) exit(2);
    memcpy(g, src, n);
    for (cut = 0; cut < n; cut++) {
        sprintf(w, "%s cut to %lu bytes", what, (unsigned long)cut);
        t_gz_bad(g, cut, CAE_ERR_FORMAT, w, NULL);
    }
    /* A flip must be rejected or give the very same output: the harmless ones are in FTEXT,
       MTIME, XFL, OS, the padding after the last block, and extra bits of a match whose other
       distance happens to copy the same bytes (the dynamic stream's data is periodic). */
    CHECK(cae_gunzip(g, n, &orig, &orig_len, &e0) == CAE_OK, "%s: %s", what, e0.msg);
    for (bit = 0; bit < 8 * n; bit++) {
        unsigned char *out = NULL;
        size_t len = 0;
        cae_err e;
        int r;
        g[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        r = cae_gunzip(g, n, &out, &len, &e);
        g[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (r == CAE_OK) {
            ok++;
            CHECK(len == orig_len && memcmp(out, orig, len) == 0,
                  "%s, bit %lu flipped: accepted with different output", what,
                  (unsigned long)bit);
        } else {
            CHECK((r == CAE_ERR_FORMAT || r == CAE_ERR_NOMEM) && e.msg[0] && !out && !len,
                  "%s, bit %lu flipped: code %d message \"%s\"", what, (unsigned long)bit, r,
                  e.msg);
        }
        free(out);
    }
    free(orig);
    CHECK(ok >= 49 && ok < 8 * n / 8, "%s: %lu of the bit flips were accepted", what,
          (unsigned long)ok);
    g[n - 8] ^= 0x10;
    sprintf(w, "%s, bad CRC32", what);
    t_gz_bad(g, n, CAE_ERR_FORMAT, w, "CRC32 mismatch");
    g[n - 8] ^= 0x10;
    g[n - 3] ^= 0x01;
    sprintf(w, "%s, bad ISIZE", what);
    t_gz_bad(g, n, CAE_ERR_FORMAT, w, "ISIZE");
    g[n - 3] ^= 0x01;
    g[n] = 0;
    sprintf(w, "%s, one trailing zero", what);
    t_gz_bad(g, n + 1, CAE_ERR_FORMAT, w, "after the gzip member");
    memcpy(g + n, "garbage", 7);
    sprintf(w, "%s, trailing garbage", what);
    t_gz_bad(g, n + 7, CAE_ERR_FORMAT, w, "7 unexpected bytes");
    g[1] = 0x8C;
    sprintf(w, "%s, bad magic", what);
    t_gz_bad(g, n, CAE_ERR_FORMAT, w, "magic");
    g[1] = 0x8B;
    g[2] = 9;
    sprintf(w, "%s, method 9", what);
    t_gz_bad(g, n, CAE_ERR_FORMAT, w, "method 9");
    g[2] = 8;
    g[3] = 0x20;
    sprintf(w, "%s, reserved flag", what);
    t_gz_bad(g, n, CAE_ERR_FORMAT, w, "reserved flag");
    free(g);
}

static void test_gzip_two_members(void)
{
    unsigned char *g = (unsigned char *)malloc(2 * sizeof t_gz_fixed);
    if (!g) exit(2);
    memcpy(g, t_gz_fixed, sizeof t_gz_fixed);
    memcpy(g + sizeof t_gz_fixed, t_gz_fixed, sizeof t_gz_fixed);
    t_gz_bad(g, 2 * sizeof t_gz_fixed, CAE_ERR_FORMAT, "two members", "second member");
    free(g);
}

/* Raw deflate that must decode to want[0..wn). */
static void t_inf_ok(const t_bw *w, const unsigned char *want, size_t wn, const char *what)
{
    unsigned char *out = NULL;
    size_t len = 0, used = 0;
    cae_err e;
    int r = cae_inflate(w->b, bw_bytes(w), &used, &out, &len, 1 << 20, &e);
    CHECK(r == CAE_OK, "%s: %s", what, e.msg);
    if (r == CAE_OK) {
        CHECK(len == wn && memcmp(out, want, wn) == 0, "%s: got %lu bytes, expected %lu", what,
              (unsigned long)len, (unsigned long)wn);
        CHECK(used == bw_bytes(w), "%s: consumed %lu of %lu bytes", what, (unsigned long)used,
              (unsigned long)bw_bytes(w));
    }
    free(out);
}

static void t_inf_bad(const t_bw *w, int code, const char *what, const char *needle)
{
    unsigned char *out = (unsigned char *)&out;
    size_t len = 5, used = 5;
    cae_err e;
    int r;
    memset(&e, 0, sizeof e);
    r = cae_inflate(w->b, bw_bytes(w), &used, &out, &len, 1 << 20, &e);
    t_expect_err(r, &e, code, what, needle);
    CHECK(out == NULL && len == 0, "%s: output not cleared", what);
    if (r == CAE_OK) free(out);
}

/* 'a' and 'b' as array indices (a char subscript is a warning in C++) */
enum { T_A = 97, T_B = 98 };

static void test_inflate_handmade(void)
{
    t_bw w;
    unsigned char lit[288], dist[32];
    unsigned litc[288], distc[32];
    unsigned char want[64];
    int i;

    /* stored block LEN/NLEN mismatch */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 0, 2); bw_align(&w);
    bw_put(&w, 3, 16); bw_put(&w, 0xFFFD, 16); bw_put(&w, 0x616263, 24);
    t_inf_bad(&w, CAE_ERR_FORMAT, "stored LEN/NLEN mismatch", "NLEN");
    free(w.b);

    /* stored block longer than the input */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 0, 2); bw_align(&w);
    bw_put(&w, 10, 16); bw_put(&w, 0xFFF5, 16); bw_put(&w, 0x616263, 24);
    t_inf_bad(&w, CAE_ERR_FORMAT, "stored block truncated", "truncated");
    free(w.b);

    /* reserved block type 3 */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 3, 2); bw_put(&w, 0, 13);
    t_inf_bad(&w, CAE_ERR_FORMAT, "block type 3", "type 3");
    free(w.b);

    /* no final block: input ends after a complete non-final block */
    bw_init(&w);
    bw_put(&w, 0, 1); bw_put(&w, 1, 2); bw_fixed_lit(&w, 'a'); bw_fixed_lit(&w, 256);
    t_inf_bad(&w, CAE_ERR_FORMAT, "missing final block", "truncated");
    /* ...and with a final fixed block after it, plus a stored one in between */
    w.nbits = 0; memset(w.b, 0, w.cap);
    bw_put(&w, 0, 1); bw_put(&w, 1, 2); bw_fixed_lit(&w, 'a'); bw_fixed_lit(&w, 256);
    bw_stored(&w, (const unsigned char *)"bc", 2, 0);
    bw_put(&w, 1, 1); bw_put(&w, 1, 2);
    bw_fixed_lit(&w, 'd');
    bw_fixed_lit(&w, 258); bw_code(&w, 3, 5); /* length 4, distance 4: "abcd" again */
    bw_fixed_lit(&w, 285); bw_code(&w, 0, 5); /* length 258, distance 1: a run of 'd' */
    bw_fixed_lit(&w, 256);
    memcpy(want, "abcdabcd", 8);
    {
        unsigned char big[8 + 258];
        memcpy(big, want, 8);
        memset(big + 8, 'd', 258);
        t_inf_ok(&w, big, sizeof big, "fixed + stored + fixed blocks");
    }
    free(w.b);

    /* distance too far back: 'a' then a match at distance 2 */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 1, 2);
    bw_fixed_lit(&w, 'a'); bw_fixed_lit(&w, 257); bw_code(&w, 1, 5); bw_fixed_lit(&w, 256);
    t_inf_bad(&w, CAE_ERR_FORMAT, "distance too far back", "too far back");
    free(w.b);

    /* reserved literal/length symbol 286 and distance symbol 30 in a fixed block */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 1, 2); bw_fixed_lit(&w, 'a'); bw_fixed_lit(&w, 286);
    t_inf_bad(&w, CAE_ERR_FORMAT, "fixed symbol 286", "286");
    free(w.b);
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 1, 2); bw_fixed_lit(&w, 'a'); bw_fixed_lit(&w, 257);
    bw_code(&w, 30, 5);
    t_inf_bad(&w, CAE_ERR_FORMAT, "fixed distance 30", "distance symbol 30");
    free(w.b);

    /* long codes: literal k has length k+1 (1..15), end-of-block 15: complete, and the codes
       of 11..15 bits go through the slow path of the decoder; no distance codes at all */
    memset(lit, 0, sizeof lit);
    memset(dist, 0, sizeof dist);
    for (i = 0; i < 15; i++) lit[i] = (unsigned char)(i + 1);
    lit[256] = 15;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 257, dist, 1, litc, distc);
    for (i = 14; i >= 0; i--) bw_code(&w, litc[i], lit[i]);
    for (i = 0; i < 15; i++) bw_code(&w, litc[i], lit[i]);
    bw_code(&w, litc[256], 15);
    for (i = 0; i < 15; i++) want[i] = (unsigned char)(14 - i), want[15 + i] = (unsigned char)i;
    t_inf_ok(&w, want, 30, "dynamic block with 1..15-bit codes");
    /* every cut of it is truncated */
    {
        size_t full = bw_bytes(&w), cut;
        for (cut = 0; cut < full; cut++) {
            unsigned char *out = NULL;
            size_t len = 0;
            cae_err e;
            int r = cae_inflate(w.b, cut, NULL, &out, &len, 1 << 20, &e);
            CHECK(r == CAE_ERR_FORMAT && strstr(e.msg, "truncated") != NULL,
                  "long codes cut to %lu bytes: code %d \"%s\"", (unsigned long)cut, r, e.msg);
            free(out);
        }
    }
    free(w.b);

    /* a single distance code of one bit (RFC 1951 3.2.7): 'a', then length 3 at distance 1 */
    memset(lit, 0, sizeof lit);
    lit[T_A] = 2; lit[256] = 2; lit[257] = 1;
    dist[0] = 1;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 258, dist, 1, litc, distc);
    bw_code(&w, litc[T_A], 2);
    bw_code(&w, litc[257], 1); bw_code(&w, 0, 1);
    bw_code(&w, litc[256], 2);
    t_inf_ok(&w, (const unsigned char *)"aaaa", 4, "single 1-bit distance code");
    free(w.b);
    /* the unused code of that tree is invalid */
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 258, dist, 1, litc, distc);
    bw_code(&w, litc[T_A], 2);
    bw_code(&w, litc[257], 1); bw_code(&w, 1, 1);
    bw_code(&w, litc[256], 2);
    t_inf_bad(&w, CAE_ERR_FORMAT, "unused half of a 1-code tree", "invalid distance code");
    free(w.b);
    /* a match in a block without distance codes */
    dist[0] = 0;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 258, dist, 1, litc, distc);
    bw_code(&w, litc[T_A], 2);
    bw_code(&w, litc[257], 1); bw_code(&w, 0, 1);
    bw_code(&w, litc[256], 2);
    t_inf_bad(&w, CAE_ERR_FORMAT, "match without distance codes", "invalid distance code");
    free(w.b);

    /* over-subscribed literal/length code: three codes of one bit */
    memset(lit, 0, sizeof lit);
    lit[T_A] = 1; lit[T_B] = 1; lit[256] = 1;
    dist[0] = 1;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 257, dist, 1, litc, distc);
    t_inf_bad(&w, CAE_ERR_FORMAT, "over-subscribed literal code", "over-subscribed");
    free(w.b);
    /* incomplete literal/length code: two codes of two bits */
    memset(lit, 0, sizeof lit);
    lit[T_A] = 2; lit[256] = 2;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 257, dist, 1, litc, distc);
    t_inf_bad(&w, CAE_ERR_FORMAT, "incomplete literal code", "incomplete");
    free(w.b);
    /* incomplete distance code with two codes */
    lit[T_A] = 1; lit[256] = 1;
    dist[0] = 2; dist[1] = 2;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 257, dist, 2, litc, distc);
    t_inf_bad(&w, CAE_ERR_FORMAT, "incomplete distance code", "incomplete");
    free(w.b);
    /* no end-of-block code */
    lit[256] = 0; lit[T_B] = 1;
    dist[0] = 1; dist[1] = 0;
    bw_init(&w);
    bw_dynamic(&w, 1, lit, 257, dist, 1, litc, distc);
    t_inf_bad(&w, CAE_ERR_FORMAT, "no end-of-block code", "end-of-block");
    free(w.b);

    /* over-subscribed code-length code: four 1-bit codes */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 2, 2);
    bw_put(&w, 0, 5); bw_put(&w, 0, 5); bw_put(&w, 0, 4);
    for (i = 0; i < 4; i++) bw_put(&w, 1, 3);
    bw_put(&w, 0, 32);
    t_inf_bad(&w, CAE_ERR_FORMAT, "over-subscribed code-length code", "over-subscribed");
    free(w.b);
    /* code-length repeat past the end: code 18 (138 zeros) twice for 258 lengths. The
       code-length code: 18 and 0 with one bit each, so 0 -> '0' and 18 -> '1'. */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 2, 2);
    bw_put(&w, 0, 5); bw_put(&w, 0, 5); bw_put(&w, 0, 4);
    bw_put(&w, 0, 3); bw_put(&w, 0, 3); bw_put(&w, 1, 3); bw_put(&w, 1, 3); /* 16 17 18 0 */
    bw_code(&w, 1, 1); bw_put(&w, 127, 7);
    bw_code(&w, 1, 1); bw_put(&w, 127, 7);
    bw_put(&w, 0, 16);
    t_inf_bad(&w, CAE_ERR_FORMAT, "code-length repeat past the end", "runs past");
    free(w.b);
    /* code 16 (repeat previous) first. Code-length code: 16 and 0, one bit each. */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 2, 2);
    bw_put(&w, 0, 5); bw_put(&w, 0, 5); bw_put(&w, 0, 4);
    bw_put(&w, 1, 3); bw_put(&w, 0, 3); bw_put(&w, 0, 3); bw_put(&w, 1, 3);
    bw_code(&w, 1, 1); bw_put(&w, 0, 2);
    bw_put(&w, 0, 16);
    t_inf_bad(&w, CAE_ERR_FORMAT, "repeat with no previous length", "no previous");
    free(w.b);
    /* HLIT = 30: 287 literal/length codes */
    bw_init(&w);
    bw_put(&w, 1, 1); bw_put(&w, 2, 2);
    bw_put(&w, 30, 5); bw_put(&w, 0, 5); bw_put(&w, 0, 4);
    bw_put(&w, 0, 16);
    t_inf_bad(&w, CAE_ERR_FORMAT, "HLIT 287", "287");
    free(w.b);
}

static void test_inflate_api(void)
{
    /* the deflate data of the fixed stream, followed by other bytes */
    size_t n = sizeof t_gz_fixed - 18, used = 0, len = 0;
    unsigned char *buf = (unsigned char *)malloc(n + 3), *out = NULL;
    unsigned char want[256];
    cae_err e;
    int r;
    if (!buf) exit(2);
    memcpy(buf, t_gz_fixed + 10, n);
    memcpy(buf + n, "XYZ", 3);
    r = cae_inflate(buf, n + 3, &used, &out, &len, 1000, &e);
    CHECK(r == CAE_OK && used == n && len == t_fixed_idx(want) && memcmp(out, want, len) == 0,
          "cae_inflate with trailing bytes: r %d used %lu of %lu (%s)", r, (unsigned long)used,
          (unsigned long)n, e.msg);
    free(out);
    out = NULL;
    r = cae_inflate(buf, n, &used, &out, &len, 199, &e);
    t_expect_err(r, &e, CAE_ERR_NOMEM, "max_out 199 for 200 bytes", "limit of 199");
    CHECK(out == NULL, "max_out error: output not cleared");
    r = cae_inflate(buf, n, &used, &out, &len, 200, &e);
    CHECK(r == CAE_OK && len == 200, "max_out 200 for 200 bytes: %s", e.msg);
    free(out);
    out = NULL;
    r = cae_inflate(NULL, 0, &used, &out, &len, 100, &e);
    t_expect_err(r, &e, CAE_ERR_FORMAT, "empty deflate input", "truncated");
    t_expect_err(cae_inflate(buf, n, &used, NULL, &len, 100, &e), &e, CAE_ERR_ARG,
                 "cae_inflate NULL out", NULL);
    t_expect_err(cae_gunzip(t_gz_fixed, 10, NULL, &len, &e), &e, CAE_ERR_ARG,
                 "cae_gunzip NULL out", NULL);
    free(buf);
}

/* ---------------------------------------------------------------- NumPy files */
#include "npy_fixtures.h"

static void t_npy_ok(const unsigned char *b, size_t n, int type, int ndim, const int *dims, double (*val)(size_t),
                     const char *what)
{
    cae_idx x;
    cae_err e;
    size_t i, bad = 0, count = 1;
    int r = cae_npy_parse(b, n, &x, what, &e), k;
    CHECK(r == CAE_OK, "%s: %s", what, e.msg);
    if (r) return;
    for (k = 0; k < ndim; k++) count *= (size_t)dims[k];
    CHECK(x.type == type && x.ndim == ndim && x.count == count, "%s: type %x ndim %d count %zu, want %x %d %zu", what,
          x.type, x.ndim, x.count, type, ndim, count);
    for (k = 0; k < ndim && k < x.ndim; k++) CHECK(x.dims[k] == dims[k], "%s: dim %d is %d, want %d", what, k, x.dims[k], dims[k]);
    for (i = 0; i < x.count && i < count; i++) bad += cae_idx_get(&x, i) != val(i);
    CHECK(bad == 0, "%s: %zu values differ", what, bad);
    cae_idx_free(&x);
}

static double v_quarter(size_t i) { return (double)i / 4; }
static double v_f8(size_t i) { return (double)i - 2.5; }
static double v_u1(size_t i) { static const double v[5] = {0, 1, 127, 128, 255}; return v[i]; }
static double v_i2(size_t i) { static const double v[4] = {-2, -1, 1, 300}; return v[i]; }
static double v_i4(size_t i) { return (double)i - 4; }

/* every prefix of a file a reader must reject, and the output left zeroed */
static void t_npy_cuts(const unsigned char *b, size_t n, const char *member, const char *what)
{
    size_t i, bad = 0;
    for (i = 0; i < n; i++) {
        unsigned char *cut = (unsigned char *)malloc(i ? i : 1);
        cae_idx x;
        cae_err e;
        int r;
        memcpy(cut, b, i);
        memset(&x, 0xAB, sizeof x);
        r = member ? cae_npz_get(cut, i, member, &x, what, &e) : cae_npy_parse(cut, i, &x, what, &e);
        if (r != CAE_ERR_FORMAT || !t_is_zeroed(&x) || !e.msg[0]) bad++;
        if (r == CAE_OK) cae_idx_free(&x);
        free(cut);
    }
    CHECK(bad == 0, "%s: %zu of %zu truncations not rejected as CAE_ERR_FORMAT", what, bad, n);
}

static void t_npy_bad(const char *dict, int code, const char *needle)
{
    unsigned char b[256];
    size_t n = strlen(dict);
    cae_idx x;
    cae_err e;
    int r;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)n, b[9] = 0;
    memcpy(b + 10, dict, n);
    memset(b + 10 + n, 0, 24); /* data: room for the few elements these claim */
    memset(&x, 0xAB, sizeof x);
    r = cae_npy_parse(b, 10 + n + 24, &x, "bad.npy", &e);
    t_expect_err(r, &e, code, dict, needle);
    CHECK(t_is_zeroed(&x), "%s: output not zeroed", dict);
    if (r == CAE_OK) cae_idx_free(&x);
}

static void test_npy(void)
{
    static const int d23[2] = {2, 3}, d32[2] = {3, 2}, d5[1] = {5}, d4[1] = {4}, d222[3] = {2, 2, 2}, d03[2] = {0, 3};
    static const int types[6] = {CAE_IDX_U8, CAE_IDX_I8, CAE_IDX_I16, CAE_IDX_I32, CAE_IDX_F32, CAE_IDX_F64};
    unsigned char out[512];
    cae_idx x, y;
    cae_err e;
    int r, k;
    size_t i;
    /* NumPy's bytes */
    t_npy_ok(npy_f4_2x3, sizeof npy_f4_2x3, CAE_IDX_F32, 2, d23, v_quarter, "np.save f4 (2,3)");
    t_npy_ok(npy_f8be_3x2, sizeof npy_f8be_3x2, CAE_IDX_F64, 2, d32, v_f8, "np.save >f8 (3,2)");
    t_npy_ok(npy_u1_5, sizeof npy_u1_5, CAE_IDX_U8, 1, d5, v_u1, "np.save u1 (5,)");
    t_npy_ok(npy_i2be_4, sizeof npy_i2be_4, CAE_IDX_I16, 1, d4, v_i2, "np.save >i2 (4,)");
    t_npy_ok(npy_i4_v2_2x2x2, sizeof npy_i4_v2_2x2x2, CAE_IDX_I32, 3, d222, v_i4, "format 2.0 i4 (2,2,2)");
    t_npy_ok(npy_f4_empty_0x3, sizeof npy_f4_empty_0x3, CAE_IDX_F32, 2, d03, v_i4, "np.save f4 (0,3)");
    r = cae_npy_parse(npy_f4_fortran, sizeof npy_f4_fortran, &x, "fortran.npy", &e);
    t_expect_err(r, &e, CAE_ERR_FORMAT, "Fortran order", "Fortran");
    t_npy_cuts(npy_f4_2x3, sizeof npy_f4_2x3, NULL, "f4 (2,3) cut");
    t_npy_cuts(npy_i4_v2_2x2x2, sizeof npy_i4_v2_2x2x2, NULL, "format 2.0 cut");
    /* the writer gives NumPy's bytes exactly */
    for (k = 0; k < 2; k++) {
        const unsigned char *ref = k ? npy_u1_5 : npy_f4_2x3;
        size_t n = k ? sizeof npy_u1_5 : sizeof npy_f4_2x3;
        if (cae_npy_parse(ref, n, &x, "ref", &e) != CAE_OK) continue;
        CHECK(cae_npy_bytes(&x) == n && cae_npy_write_mem(&x, out, sizeof out, &e) == CAE_OK && memcmp(out, ref, n) == 0,
              "write: %s is not byte for byte what np.save wrote (%zu vs %zu bytes)", k ? "u1 (5,)" : "f4 (2,3)",
              cae_npy_bytes(&x), n);
        cae_idx_free(&x);
    }
    /* every type and a few shapes round-trip, headers padded to 64 bytes */
    for (k = 0; k < 6; k++) {
        unsigned char data[8 * 7 * 3];
        int dims[3] = {7, 1, 3};
        memset(&x, 0, sizeof x);
        for (i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 37 + 11);
        x.type = types[k], x.elem_size = t_elem_size(types[k]), x.ndim = 1 + k % 3, x.data = data;
        for (i = 0; i < 3; i++) x.dims[i] = i < (size_t)x.ndim ? dims[i] : 0;
        x.count = x.ndim == 1 ? 7 : x.ndim == 2 ? 7 : 21;
        r = cae_npy_write_mem(&x, out, sizeof out, &e);
        CHECK(r == CAE_OK && (cae_npy_bytes(&x) - x.count * (size_t)x.elem_size) % 64 == 0, "write type %x: %s", x.type, e.msg);
        r = cae_npy_parse(out, cae_npy_bytes(&x), &y, "round trip", &e);
        CHECK(r == CAE_OK && y.type == x.type && y.ndim == x.ndim && y.count == x.count &&
                  memcmp(y.data, data, x.count * (size_t)x.elem_size) == 0,
              "round trip of type %x, %d dims: %s", x.type, x.ndim, e.msg);
        if (r == CAE_OK) cae_idx_free(&y);
        CHECK(cae_npy_write_mem(&x, out, cae_npy_bytes(&x) - 1, &e) == CAE_ERR_ARG, "write into a buffer 1 byte short");
    }
    /* headers that lie */
    t_npy_bad("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", CAE_ERR_FORMAT, "dtype");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, }", CAE_ERR_FORMAT, "lacks");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", CAE_ERR_FORMAT, "dimension");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", CAE_ERR_FORMAT, "dimension");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", CAE_ERR_FORMAT, "8 dimensions");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536), }", CAE_ERR_NOMEM, NULL);
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", CAE_ERR_FORMAT, "data bytes");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", CAE_ERR_FORMAT, "0-d");
    t_npy_bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", CAE_ERR_FORMAT, "fortran_order");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", CAE_ERR_FORMAT, "unknown key");
    t_npy_bad("{'descr': '|f4', 'fortran_order': False, 'shape': (6,), }", CAE_ERR_FORMAT, "dtype");
    t_npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } junk", CAE_ERR_FORMAT, "after");
    t_npy_bad("{'descr': '<f4, 'fortran_order': False, 'shape': (6,), }", CAE_ERR_FORMAT, NULL);
    /* .npz as np.savez (stored, ZIP64 extra fields) and np.savez_compressed (deflated) write it */
    r = cae_npz_get(npy_savez, sizeof npy_savez, "arr_0", &x, "savez.npz", &e);
    CHECK(r == CAE_OK && x.type == CAE_IDX_F32 && x.count == 6 && cae_idx_get(&x, 5) == 1.25, "savez arr_0: %s", e.msg);
    if (r == CAE_OK) cae_idx_free(&x);
    r = cae_npz_get(npy_savez, sizeof npy_savez, "arr_1", &x, "savez.npz", &e);
    CHECK(r == CAE_OK && x.type == CAE_IDX_U8 && x.count == 5 && cae_idx_get(&x, 4) == 255, "savez arr_1: %s", e.msg);
    if (r == CAE_OK) cae_idx_free(&x);
    r = cae_npz_get(npy_savez, sizeof npy_savez, "arr_2", &x, "savez.npz", &e);
    t_expect_err(r, &e, CAE_ERR_FORMAT, "npz: a member it does not have", "no member arr_2.npy");
    r = cae_npz_get(npy_savez, sizeof npy_savez, "arr", &x, "savez.npz", &e);
    t_expect_err(r, &e, CAE_ERR_FORMAT, "npz: a prefix of a member's name", "no member");
    r = cae_npz_get(npy_savez_compressed, sizeof npy_savez_compressed, "w", &x, "savez_compressed.npz", &e);
    CHECK(r == CAE_OK && x.type == CAE_IDX_F32 && x.count == 6 && cae_idx_get(&x, 3) == 0.75, "savez_compressed w: %s", e.msg);
    if (r == CAE_OK) cae_idx_free(&x);
    t_npy_cuts(npy_savez, sizeof npy_savez, "arr_1", "savez cut");
    t_npy_cuts(npy_savez_compressed, sizeof npy_savez_compressed, "w", "savez_compressed cut");
    { /* one byte changed anywhere: rejected, or read as a well-formed array (bytes a zip reader may ignore) */
        const unsigned char *src[2] = {npy_savez, npy_savez_compressed};
        const size_t len[2] = {sizeof npy_savez, sizeof npy_savez_compressed};
        size_t wrong = 0, rejected = 0, total = 0;
        int s;
        for (s = 0; s < 2; s++) {
            unsigned char *c = (unsigned char *)malloc(len[s]);
            for (i = 0; i < len[s]; i++) {
                memcpy(c, src[s], len[s]);
                c[i] ^= 0x5A;
                r = cae_npz_get(c, len[s], s ? "w" : "arr_0", &x, "flip", &e);
                total++;
                if (r != CAE_OK) rejected++;
                else {
                    wrong += x.type != CAE_IDX_F32 || x.count != 6 || cae_idx_get(&x, 5) != 1.25;
                    cae_idx_free(&x);
                }
            }
            free(c);
        }
        CHECK(wrong == 0, "npz with a byte changed: %zu of %zu read as wrong numbers", wrong, total);
        printf("npz, one byte changed: %zu of %zu copies rejected, the rest read right\n", rejected, total);
    }
}

static int t_write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_load_files(void)
{
    static const char *gz = "test_idx_tmp.idx.gz", *raw = "test_idx_tmp.idx";
    unsigned char want[1212];
    size_t wn = t_dynamic_idx(want);
    cae_idx a, b;
    cae_err e;
    int r;
    CHECK(t_write_file(gz, t_gz_dynamic, sizeof t_gz_dynamic), "cannot write %s", gz);
    CHECK(t_write_file(raw, want, wn), "cannot write %s", raw);
    r = cae_idx_load(gz, &a, &e);
    CHECK(r == CAE_OK, "load %s: %s", gz, e.msg);
    r = cae_idx_load(raw, &b, &e);
    CHECK(r == CAE_OK, "load %s: %s", raw, e.msg);
    CHECK(a.count == 600 && b.count == 600 && a.type == b.type &&
              memcmp(a.data, b.data, 1200) == 0,
          "gz and raw loads differ");
    cae_idx_free(&a);
    cae_idx_free(&b);
    /* a damaged file names itself in the message */
    CHECK(t_write_file(gz, t_gz_dynamic, sizeof t_gz_dynamic - 1), "cannot write %s", gz);
    r = cae_idx_load(gz, &a, &e);
    t_expect_err(r, &e, CAE_ERR_FORMAT, "load truncated file", gz);
    CHECK(t_is_zeroed(&a), "load error: output not zeroed");
    remove(gz);
    remove(raw);
    r = cae_idx_load("test_idx_no_such_file.idx", &a, &e);
    t_expect_err(r, &e, CAE_ERR_IO, "load missing file", "test_idx_no_such_file.idx");
}

static void test_mnist(void)
{
    static const char *files[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    const char *dir = getenv("CONVAE_MNIST_DIR");
    char path[1024];
    cae_idx x[4];
    cae_err e;
    FILE *f;
    int i, r;
    if (!dir || !*dir) dir = "../shared/data/mnist";
    sprintf(path, "%.900s/%s", dir, files[1]);
    f = fopen(path, "rb");
    if (!f) {
        printf("skipped MNIST check: %s not found\n", dir);
        return;
    }
    fclose(f);
    for (i = 0; i < 4; i++) {
        sprintf(path, "%.900s/%s", dir, files[i]);
        r = cae_idx_load(path, &x[i], &e);
        CHECK(r == CAE_OK, "%s", e.msg);
    }
    for (i = 0; i < 4; i++) {
        int n = i < 2 ? 60000 : 10000;
        int img = i % 2 == 0;
        CHECK(x[i].type == CAE_IDX_U8 && x[i].ndim == (img ? 3 : 1) && x[i].dims[0] == n &&
                  (!img || (x[i].dims[1] == 28 && x[i].dims[2] == 28)) &&
                  x[i].count == (size_t)n * (img ? 784u : 1u),
              "%s: type %d ndim %d dims %d %d %d", files[i], x[i].type, x[i].ndim, x[i].dims[0],
              x[i].dims[1], x[i].dims[2]);
        if (!img && x[i].data) {
            size_t k, bad = 0;
            for (k = 0; k < x[i].count; k++)
                if (((unsigned char *)x[i].data)[k] > 9) bad++;
            CHECK(bad == 0, "%s: %lu labels outside 0..9", files[i], (unsigned long)bad);
        }
    }
    CHECK(x[1].data && ((unsigned char *)x[1].data)[0] == 5, "first training label is not 5");
    CHECK(x[3].data && ((unsigned char *)x[3].data)[0] == 7, "first test label is not 7");
    for (i = 0; i < 4; i++) cae_idx_free(&x[i]);
}

int main(void)
{
    t_verbose = getenv("CONVAE_TEST_VERBOSE") != NULL;
    test_idx_types();
    test_idx_empty();
    test_idx_malformed();
    test_gzip_made_offline();
    test_gzip_header_fields();
    test_gzip_damage(t_gz_fixed, sizeof t_gz_fixed, "fixed gzip");
    test_gzip_damage(t_gz_dynamic, sizeof t_gz_dynamic, "dynamic gzip");
    test_gzip_two_members();
    test_inflate_handmade();
    test_inflate_api();
    test_npy();
    test_load_files();
    test_mnist();
    if (t_failed) {
        printf("test_idx: %d of %d checks FAILED\n", t_failed, t_checks);
        return 1;
    }
    printf("test_idx: %d checks passed\n", t_checks);
    return 0;
}
