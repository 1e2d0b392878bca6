/* convae_report.h - the pictures and the analysis of the convae lab, in one C header:
   a zlib compressor and PNG writer, SVG figures (lines, histograms, bars, scatter plots, image
   grids), PCA, exact t-SNE and a kNN score. It sits beside convae.h the way stb_image_write.h
   sits beside stb_image.h: convae.h is the library, this is what the lab draws with.

   Use: include convae.h first, then this header; in exactly one file define
   CONVAE_REPORT_IMPLEMENTATION before including it (as CONVAE_IMPLEMENTATION for convae.h):
       #define CONVAE_IMPLEMENTATION
       #include "convae.h"
       #define CONVAE_REPORT_IMPLEMENTATION
       #include "convae_report.h"
   It uses only convae.h's public API (cae_err, cae_rng, cae_crc32, cae_write_file) and libc,
   so it needs a build with stdio (not CONVAE_NO_STDIO). OpenMP, when enabled, spreads PCA,
   t-SNE and kNN over the cores without changing their results. Same license as convae.h. */
#ifndef CONVAE_REPORT_H
#define CONVAE_REPORT_H

#ifndef CONVAE_H
#error "convae_report.h: include convae.h first"
#endif
#ifdef CONVAE_NO_STDIO
#error "convae_report.h writes files: it needs convae.h built without CONVAE_NO_STDIO"
#endif

/* Everything the lab needs to draw its figures without Python: a PNG encoder,
   SVG line / histogram / bar / scatter / image-grid figures, PCA, t-SNE and a kNN score.
   Images are 8-bit, rows top to bottom, channels interleaved: c = 1 grey, 2 grey+alpha, 3 RGB,
   4 RGBA. Returned buffers come from CONVAE_MALLOC; release them with CONVAE_FREE (plain
   malloc/free unless you define all three CONVAE_MALLOC/REALLOC/FREE). */

/* zlib stream (RFC 1950/1951) of in[0..n): level 0 = stored blocks, 1..9 = more LZ77 effort
   (lazy matching from 4 on). Each block is written stored, fixed- or dynamic-Huffman, whichever
   is smallest. */
CONVAE_DEF int cae_zlib_compress(const unsigned char *in, size_t n, int level, unsigned char **out, size_t *out_len,
                                 cae_err *e);

/* PNG of a w x h image with c = 1..4 channels: IHDR, IDAT (1 MiB each at most), IEND. Each row's
   filter (None/Sub/Up/Paeth) is the one with the smallest sum of |filtered byte| (as signed). */
CONVAE_DEF int cae_png_encode(const unsigned char *px, int w, int h, int c, unsigned char **out, size_t *out_len,
                              cae_err *e);
CONVAE_DEF int cae_write_png(const char *path, const unsigned char *px, int w, int h, int c, cae_err *e);

/* ---- text that grows in memory: the SVG writer builds its files in one, and a program can
   build a page or a CSV file the same way and write it whole. Start from a zeroed cae_text;
   after an allocation fails, nomem is set and further text is dropped. */
typedef struct cae_text {
    char *p; /* NUL-terminated, n bytes (NULL while empty) */
    size_t n, cap;
    int nomem;
} cae_text;

CONVAE_DEF void cae_text_put(cae_text *t, const char *s, size_t n);
CONVAE_DEF void cae_text_puts(cae_text *t, const char *s);
/* printf's formatting (in the C locale unless the program changed it) */
CONVAE_DEF void cae_text_printf(cae_text *t, const char *fmt, ...);
/* XML/HTML text: escapes & < > " ', keeps tabs and newlines, drops the other control characters
   XML 1.0 forbids, and replaces bytes that are not UTF-8 with '?' (a parser rejects the whole
   file for one of those). */
CONVAE_DEF void cae_text_xml(cae_text *t, const char *s);
/* Writes the text to path as cae_write_file does (temporary file, then rename), then frees it;
   a text that ran out of memory is CAE_ERR_NOMEM and writes nothing. */
CONVAE_DEF int cae_text_write(const char *path, cae_text *t, cae_err *e);
CONVAE_DEF void cae_text_free(cae_text *t);

/* ---- SVG figures. Numbers are written without printf, so the C locale does not
   matter; non-finite inputs are skipped. A NULL cae_plot means no title or labels, 640 x 400. */
typedef struct cae_series {
    const char *label; /* legend text, NULL or "" = not in the legend */
    const float *x;    /* NULL: x = 1, 2, ..., n */
    const float *y;
    int n;
} cae_series;

typedef struct cae_plot {
    const char *title, *xlabel, *ylabel; /* each may be NULL */
    int width, height;                   /* pixels; 0 = 640 x 400 */
    int log_y;                           /* log10 y axis (loss curves); values <= 0 are skipped */
} cae_plot;

/* One <path class="series"> per series (markers too when a series has <= 40 points), legend in
   the plot corner that hides the fewest data. */
CONVAE_DEF int cae_svg_lines(const char *path, const cae_plot *p, const cae_series *s, int ns, cae_err *e);
/* nbins equal bins over [lo, hi] (lo == hi: the data's min..max), one <rect class="bar"> per bin;
   values outside [lo, hi] are counted in the caption, not drawn. */
CONVAE_DEF int cae_svg_histogram(const char *path, const cae_plot *p, const float *v, size_t n, int nbins, float lo,
                                 float hi, cae_err *e);
/* the same from counts already made: counts[k] is bin k of nbins equal bins over [lo, hi]
   (for data too large to pass as floats); log_y draws the bars from 1 upwards */
CONVAE_DEF int cae_svg_bins(const char *path, const cae_plot *p, const float *counts, int nbins, float lo, float hi,
                            cae_err *e);
/* one <rect class="bar"> per category, its value printed above it; names may be NULL ("0", "1", ...) */
CONVAE_DEF int cae_svg_bars(const char *path, const cae_plot *p, const char *const *names, const float *values, int n,
                            cae_err *e);
/* n points (x, y interleaved), one <circle class="pt"> each, coloured by cls[i] in 0..nclass-1
   (Tableau 10 palette up to 10 classes; cls may be NULL: one colour, no legend). names may be NULL:
   "0", "1", ... */
CONVAE_DEF int cae_svg_scatter(const char *path, const cae_plot *p, const float *xy, const int *cls, int n, int nclass,
                               const char *const *names, cae_err *e);
/* n images (h x w x c floats in [0,1], c = 1 or 3, NHWC contiguous) in `cols` columns, drawn as one
   embedded PNG scaled `scale` times with crisp pixels (scale <= 0: about 90 px per image), an
   optional caption under each (captions or any caption may be NULL) and a title on top (may be NULL). */
CONVAE_DEF int cae_svg_image_grid(const char *path, const char *title, const float *imgs, int n, int h, int w, int c,
                                  int cols, const char *const *captions, int scale, cae_err *e);

/* ---- dimensionality reduction and latent-space quality */
/* PCA of x (n x d, row-major): the first k (1 <= k <= min(d, 64)) principal-component scores into
   out (n x k) and the explained-variance ratios into evr (k floats, may be NULL), sorted
   decreasing. Subspace iteration with a Rayleigh-Ritz step on X^T X (never formed; k + 10 to
   k + 17 vectors, at most 30 passes, until no Ritz value moves by 1e-5 of the largest), started
   from a fixed seed, so the result is reproducible; each component's largest-|.| loading is made
   positive. Needs 2 n d floats of scratch. Non-finite input: CAE_ERR_ARG. Identical points: all
   scores and ratios 0. */
CONVAE_DEF int cae_pca(const float *x, int n, int d, int k, float *out, float *evr, cae_err *e);

/* Exact t-SNE (van der Maaten & Hinton 2008), O(n^2) time, n^2 floats of memory (n up to a few
   thousand). d > 50 is first reduced to its first 50 principal components. Perplexity by Newton
   steps in a bisection bracket per point; init: the 2-D PCA scaled to std 1e-4; early
   exaggeration 12 with momentum 0.5 for 250 iterations (iters / 4 when iters < 1000), then
   momentum 0.8; gains as in the reference implementation. The same result for any number of
   OpenMP threads. o may be NULL; zero fields take the defaults. out_xy: n x 2. */
typedef struct cae_tsne_opts {
    float perplexity;        /* 30; at most (n - 1) / 3 */
    int iters;               /* 1000 */
    unsigned long long seed; /* 42: a 1e-6 jitter on the init (parts duplicate points), or the
                                whole init when the data has no spread */
    float learning_rate;     /* max(n / 48, 50), scikit-learn's "auto" */
} cae_tsne_opts;
CONVAE_DEF int cae_tsne(const float *x, int n, int d, const cae_tsne_opts *o, float *out_xy, cae_err *e);

/* Leave-one-out k-nearest-neighbour accuracy (Euclidean, majority vote, a tie goes to the class
   with the nearer neighbour) of x (n x d) against labels; -1 on bad arguments or no memory. */
CONVAE_DEF float cae_knn_accuracy(const float *x, const int *labels, int n, int d, int k);

#endif /* CONVAE_REPORT_H */

#ifdef CONVAE_REPORT_IMPLEMENTATION
#ifndef CONVAE_REPORT_IMPLEMENTATION_DONE
#define CONVAE_REPORT_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(CONVAE_MALLOC) && defined(CONVAE_FREE) && defined(CONVAE_REALLOC)
#elif !defined(CONVAE_MALLOC) && !defined(CONVAE_FREE) && !defined(CONVAE_REALLOC)
#include <stdlib.h>
#define CONVAE_MALLOC(sz) malloc(sz)
#define CONVAE_REALLOC(p, sz) realloc(p, sz)
#define CONVAE_FREE(p) free(p)
#else
#error "convae_report.h: define all of CONVAE_MALLOC, CONVAE_REALLOC and CONVAE_FREE, or none"
#endif

/* ================================================================ errors and allocation */

/* Records an error in e (when given) and returns its code. */
static int cae__rep_fail(cae_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void *cae__rep_alloc(size_t n)
{
    void *p = CONVAE_MALLOC(n ? n : 1);
    if (p) memset(p, 0, n);
    return p;
}

/* a*b, or 0 when that overflows size_t */
static size_t cae__rep_mul(size_t a, size_t b)
{
    if (a && b > (size_t)-1 / a) return 0;
    return a * b;
}

/* ================================================================ deflate, PNG */

/* ---- bit writer into a growing buffer. Deflate packs bits LSB first. */
typedef struct cae__bw {
    unsigned char *buf;
    size_t len, cap;
    unsigned long long acc; /* pending bits, LSB first */
    int nacc;
    int nomem;
} cae__bw;

static void cae__bw_reserve(cae__bw *b, size_t more)
{
    size_t want, ncap;
    unsigned char *nb;
    if (b->nomem) return;
    want = b->len + more;
    if (want < b->len) {
        b->nomem = 1;
        return;
    }
    if (want <= b->cap) return;
    ncap = b->cap ? b->cap : 256;
    while (ncap < want) {
        if (ncap > (size_t)-1 / 2) {
            ncap = want;
            break;
        }
        ncap *= 2;
    }
    nb = (unsigned char *)CONVAE_REALLOC(b->buf, ncap);
    if (!nb) {
        b->nomem = 1;
        return;
    }
    b->buf = nb;
    b->cap = ncap;
}

static void cae__bw_byte(cae__bw *b, unsigned v)
{
    cae__bw_reserve(b, 1);
    if (b->nomem) return;
    b->buf[b->len++] = (unsigned char)v;
}

static void cae__bw_bytes(cae__bw *b, const unsigned char *p, size_t n)
{
    cae__bw_reserve(b, n);
    if (b->nomem || !n) return;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

/* big-endian 32-bit, as PNG and zlib want */
static void cae__bw_be32(cae__bw *b, unsigned long v)
{
    cae__bw_byte(b, (unsigned)(v >> 24) & 255u);
    cae__bw_byte(b, (unsigned)(v >> 16) & 255u);
    cae__bw_byte(b, (unsigned)(v >> 8) & 255u);
    cae__bw_byte(b, (unsigned)v & 255u);
}

static void cae__bw_bits(cae__bw *b, unsigned v, int n)
{
    b->acc |= (unsigned long long)v << b->nacc;
    b->nacc += n;
    while (b->nacc >= 8) {
        cae__bw_byte(b, (unsigned)(b->acc & 255u));
        b->acc >>= 8;
        b->nacc -= 8;
    }
}

static void cae__bw_align(cae__bw *b)
{
    if (b->nacc > 0) cae__bw_bits(b, 0, 8 - b->nacc);
}

static unsigned long cae__dfl_adler32(unsigned long adler, const unsigned char *p, size_t n)
{
    unsigned long a = adler & 0xFFFFu, s = (adler >> 16) & 0xFFFFu;
    while (n) {
        size_t k = n < 5552 ? n : 5552; /* the largest run with no 32-bit overflow */
        n -= k;
        while (k--) {
            a += *p++;
            s += a;
        }
        a %= 65521u;
        s %= 65521u;
    }
    return (s << 16) | a;
}

/* ---- deflate (RFC 1951) */
static const unsigned char cae__dfl_clorder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

#define CAE__DFL_WSIZE 32768
#define CAE__DFL_HBITS 15
#define CAE__DFL_BLOCK 32768 /* symbols per block */

typedef struct cae__dfl {
    cae__bw *bw;
    const unsigned char *in;
    size_t n;
    size_t *head, *prev;             /* hash chains: position + 1, 0 = none */
    unsigned short *sym_ll, *sym_d;  /* per symbol: literal byte or length, distance (0 = literal) */
    size_t nsym, blk_start, blk_end; /* blk_*: the input bytes the pending symbols cover */
    unsigned short lbase[29], dbase[30]; /* RFC 1951 3.2.5: first length of each length code */
    unsigned char lext[29], dext[30];    /* and its extra bits; the same for distances */
    unsigned char len_code[259];         /* match length -> index into lbase */
} cae__dfl;

/* The length and distance code tables of RFC 1951 3.2.5, from the rule they follow: after
   the first 8 length (4 distance) codes, every 4 (2) codes take one more extra bit, and each
   base is the previous one plus the previous code's range; length code 285 is 258 alone. */
static void cae__dfl_tables(cae__dfl *z)
{
    int i, l;
    for (i = 0; i < 29; i++) {
        z->lext[i] = (unsigned char)(i < 8 || i == 28 ? 0 : i / 4 - 1);
        z->lbase[i] = (unsigned short)(i == 0 ? 3 : i == 28 ? 258 : z->lbase[i - 1] + (1 << z->lext[i - 1]));
    }
    for (i = 0; i < 30; i++) {
        z->dext[i] = (unsigned char)(i < 4 ? 0 : i / 2 - 1);
        z->dbase[i] = (unsigned short)(i == 0 ? 1 : z->dbase[i - 1] + (1 << z->dext[i - 1]));
    }
    for (i = 0; i < 29; i++)
        for (l = z->lbase[i]; l <= (i == 28 ? 258 : z->lbase[i + 1] - 1); l++) z->len_code[l] = (unsigned char)i;
}

static int cae__dfl_dcode(const cae__dfl *z, unsigned d)
{
    int i = 29;
    while (z->dbase[i] > d) i--;
    return i;
}

/* Code lengths (<= maxbits) of a Huffman code for freq[0..n), written to len[]; unused symbols
   get 0. At least two symbols get a code, so every code written is complete (some inflaters
   reject one-code trees). */
static void cae__dfl_lengths(const unsigned long *freq, int n, int maxbits, unsigned char *len)
{
    int sym[320], parent[640], depth[640], cnt[64];
    unsigned long w[640];
    int m = 0, i, j, leaf, inode, nnode, k;
    long long total;
    memset(len, 0, (size_t)n);
    for (i = 0; i < n; i++)
        if (freq[i]) sym[m++] = i;
    if (m == 0) return;
    if (m == 1) { /* a second, unused code keeps the tree complete */
        len[sym[0]] = 1;
        len[sym[0] == 0 ? 1 : 0] = 1;
        return;
    }
    for (i = 1; i < m; i++) { /* insertion sort by (freq, symbol): deterministic */
        int s = sym[i];
        for (j = i; j > 0 && freq[sym[j - 1]] > freq[s]; j--) sym[j] = sym[j - 1];
        sym[j] = s;
    }
    /* two-queue Huffman: leaves 0..m-1 in order, internal nodes m.. in creation order */
    for (i = 0; i < m; i++) w[i] = freq[sym[i]];
    leaf = 0;
    inode = m;
    nnode = m;
    while (nnode < 2 * m - 1) {
        int pick[2];
        for (k = 0; k < 2; k++) {
            if (leaf < m && (inode >= nnode || w[leaf] <= w[inode]))
                pick[k] = leaf++;
            else
                pick[k] = inode++;
        }
        w[nnode] = w[pick[0]] + w[pick[1]];
        parent[pick[0]] = parent[pick[1]] = nnode;
        nnode++;
    }
    depth[nnode - 1] = 0;
    for (i = nnode - 2; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
    /* limit the lengths: clamp, then repair the Kraft sum (as miniz does) */
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < m; i++) cnt[depth[i] < maxbits ? depth[i] : maxbits]++;
    total = 0;
    for (i = 1; i <= maxbits; i++) total += (long long)cnt[i] << (maxbits - i);
    while (total > (1LL << maxbits)) {
        cnt[maxbits]--;
        for (i = maxbits - 1; i > 0; i--)
            if (cnt[i]) {
                cnt[i]--;
                cnt[i + 1] += 2;
                break;
            }
        total--;
    }
    /* the rarest symbols (front of sym[]) get the longest codes */
    k = 0;
    for (i = maxbits; i >= 1; i--)
        for (j = 0; j < cnt[i]; j++) len[sym[k++]] = (unsigned char)i;
}

/* canonical codes (RFC 1951 3.2.2), bit-reversed for the LSB-first writer */
static void cae__dfl_codes(const unsigned char *len, int n, unsigned short *code)
{
    int cnt[16], next[16], i, b, c = 0;
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < n; i++) cnt[len[i]]++;
    cnt[0] = 0;
    for (b = 1; b < 16; b++) {
        c = (c + cnt[b - 1]) << 1;
        next[b] = c;
    }
    for (i = 0; i < n; i++) {
        int l = len[i];
        unsigned v, r = 0;
        if (!l) {
            code[i] = 0;
            continue;
        }
        v = (unsigned)next[l]++;
        for (b = 0; b < l; b++) r |= ((v >> b) & 1u) << (l - 1 - b);
        code[i] = (unsigned short)r;
    }
}

/* run-length codes (16/17/18) of the code lengths; returns the count of items in rle[] (symbol
   in the low 5 bits, repeat extra above) */
static int cae__dfl_rle(const unsigned char *lens, int n, unsigned short *rle)
{
    int i = 0, m = 0;
    while (i < n) {
        int l = lens[i], run = 1;
        while (i + run < n && lens[i + run] == l) run++;
        if (l == 0 && run >= 3) {
            int r = run > 138 ? 138 : run;
            rle[m++] = r >= 11 ? (unsigned short)(18 | ((r - 11) << 5)) : (unsigned short)(17 | ((r - 3) << 5));
            i += r;
        } else if (l != 0 && run >= 4) {
            int r = run - 1 > 6 ? 6 : run - 1;
            rle[m++] = (unsigned short)l;
            rle[m++] = (unsigned short)(16 | ((r - 3) << 5));
            i += r + 1;
        } else {
            rle[m++] = (unsigned short)l;
            i++;
        }
    }
    return m;
}

static void cae__dfl_stored(cae__dfl *z, int last_blk)
{
    size_t p = z->blk_start, end = z->blk_end;
    do {
        size_t k = end - p > 65535 ? 65535 : end - p;
        int last = last_blk && p + k == end;
        cae__bw_bits(z->bw, (unsigned)last, 3);
        cae__bw_align(z->bw);
        cae__bw_byte(z->bw, (unsigned)(k & 255u));
        cae__bw_byte(z->bw, (unsigned)(k >> 8));
        cae__bw_byte(z->bw, (unsigned)(~k & 255u));
        cae__bw_byte(z->bw, (unsigned)((~k >> 8) & 255u));
        cae__bw_bytes(z->bw, z->in + p, k);
        p += k;
    } while (p < end);
}

/* Writes the pending symbols as one block: stored, fixed or dynamic, whichever is smallest. */
static void cae__dfl_flush(cae__dfl *z, int last_blk)
{
    unsigned long lf[286], df[30], cf[19];
    unsigned char ll[286 + 30], dl[30], fl[288], fd[30], cl[19];
    unsigned short lc[288], dc[30], cc[19], rle[320];
    unsigned long long extra = 0, cost_fix, cost_dyn, cost_st, nraw;
    const unsigned char *ul, *udl;
    const unsigned short *uc, *udc;
    int hlit, hdist, hclen, nrle, i, use_dyn;
    size_t s;
    memset(lf, 0, sizeof lf);
    memset(df, 0, sizeof df);
    memset(cf, 0, sizeof cf);
    for (s = 0; s < z->nsym; s++) {
        unsigned d = z->sym_d[s], v = z->sym_ll[s];
        if (!d) {
            lf[v]++;
        } else {
            int li = z->len_code[v], di = cae__dfl_dcode(z, d);
            lf[257 + li]++;
            df[di]++;
            extra += z->lext[li] + z->dext[di];
        }
    }
    lf[256] = 1;
    /* dynamic code */
    cae__dfl_lengths(lf, 286, 15, ll);
    cae__dfl_lengths(df, 30, 15, dl);
    for (hlit = 286; hlit > 257 && !ll[hlit - 1]; hlit--) {
    }
    for (hdist = 30; hdist > 1 && !dl[hdist - 1]; hdist--) {
    }
    memcpy(ll + hlit, dl, (size_t)hdist);
    nrle = cae__dfl_rle(ll, hlit + hdist, rle);
    for (i = 0; i < nrle; i++) cf[rle[i] & 31]++;
    cae__dfl_lengths(cf, 19, 7, cl);
    for (hclen = 19; hclen > 4 && !cl[cae__dfl_clorder[hclen - 1]]; hclen--) {
    }
    cost_dyn = 3 + 14 + 3 * (unsigned long long)hclen + extra;
    for (i = 0; i < nrle; i++) {
        int sy = rle[i] & 31;
        cost_dyn += cl[sy] + (sy == 16 ? 2 : sy == 17 ? 3 : sy == 18 ? 7 : 0);
    }
    for (i = 0; i < 286; i++) cost_dyn += (unsigned long long)lf[i] * ll[i];
    for (i = 0; i < 30; i++) cost_dyn += (unsigned long long)df[i] * dl[i];
    /* fixed code */
    for (i = 0; i < 288; i++) fl[i] = (unsigned char)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
    for (i = 0; i < 30; i++) fd[i] = 5;
    cost_fix = 3 + extra;
    for (i = 0; i < 286; i++) cost_fix += (unsigned long long)lf[i] * fl[i];
    for (i = 0; i < 30; i++) cost_fix += (unsigned long long)df[i] * 5u;
    /* stored: header, alignment and LEN/NLEN per 65535 bytes */
    nraw = z->blk_end - z->blk_start;
    cost_st = (nraw / 65535 + 1) * (3 + 7 + 32) + 8 * nraw;
    if (cost_st <= cost_fix && cost_st <= cost_dyn) {
        cae__dfl_stored(z, last_blk);
        z->nsym = 0;
        z->blk_start = z->blk_end;
        return;
    }
    use_dyn = cost_dyn < cost_fix;
    if (use_dyn) {
        cae__dfl_codes(ll, hlit, lc);
        cae__dfl_codes(dl, hdist, dc);
        cae__dfl_codes(cl, 19, cc);
        cae__bw_bits(z->bw, (unsigned)last_blk | 4u, 3);
        cae__bw_bits(z->bw, (unsigned)(hlit - 257), 5);
        cae__bw_bits(z->bw, (unsigned)(hdist - 1), 5);
        cae__bw_bits(z->bw, (unsigned)(hclen - 4), 4);
        for (i = 0; i < hclen; i++) cae__bw_bits(z->bw, cl[cae__dfl_clorder[i]], 3);
        for (i = 0; i < nrle; i++) {
            int sy = rle[i] & 31;
            cae__bw_bits(z->bw, cc[sy], cl[sy]);
            if (sy >= 16) cae__bw_bits(z->bw, (unsigned)(rle[i] >> 5), sy == 16 ? 2 : sy == 17 ? 3 : 7);
        }
        ul = ll;
        udl = dl;
    } else {
        cae__dfl_codes(fl, 288, lc);
        cae__dfl_codes(fd, 30, dc);
        cae__bw_bits(z->bw, (unsigned)last_blk | 2u, 3);
        ul = fl;
        udl = fd;
    }
    uc = lc;
    udc = dc;
    for (s = 0; s < z->nsym; s++) {
        unsigned d = z->sym_d[s], v = z->sym_ll[s];
        if (!d) {
            cae__bw_bits(z->bw, uc[v], ul[v]);
        } else {
            int li = z->len_code[v], di = cae__dfl_dcode(z, d);
            cae__bw_bits(z->bw, uc[257 + li], ul[257 + li]);
            if (z->lext[li]) cae__bw_bits(z->bw, v - z->lbase[li], z->lext[li]);
            cae__bw_bits(z->bw, udc[di], udl[di]);
            if (z->dext[di]) cae__bw_bits(z->bw, d - z->dbase[di], z->dext[di]);
        }
    }
    cae__bw_bits(z->bw, uc[256], ul[256]);
    z->nsym = 0;
    z->blk_start = z->blk_end;
}

static void cae__dfl_emit(cae__dfl *z, unsigned lenorlit, unsigned dist)
{
    z->sym_ll[z->nsym] = (unsigned short)lenorlit;
    z->sym_d[z->nsym] = (unsigned short)dist;
    z->nsym++;
    z->blk_end += dist ? lenorlit : 1;
    if (z->nsym == CAE__DFL_BLOCK) cae__dfl_flush(z, 0);
}

static unsigned cae__dfl_hash(const unsigned char *p)
{
    unsigned v = ((unsigned)p[0] << 16) | ((unsigned)p[1] << 8) | p[2];
    return (v * 2654435761u) >> (32 - CAE__DFL_HBITS);
}

static void cae__dfl_insert(cae__dfl *z, size_t p)
{
    unsigned h;
    if (p + 2 >= z->n) return;
    h = cae__dfl_hash(z->in + p);
    z->prev[p & (CAE__DFL_WSIZE - 1)] = z->head[h];
    z->head[h] = p + 1;
}

/* longest match for position p among at most `chain` earlier positions; inserts p */
static unsigned cae__dfl_match(cae__dfl *z, size_t p, int chain, unsigned nice, unsigned *dist)
{
    const unsigned char *in = z->in, *cur = in + p;
    size_t cand, lim = p > CAE__DFL_WSIZE ? p - CAE__DFL_WSIZE : 0;
    unsigned best = 2, maxlen;
    if (p + 2 >= z->n) return 0;
    maxlen = z->n - p > 258 ? 258u : (unsigned)(z->n - p);
    cand = z->head[cae__dfl_hash(cur)];
    cae__dfl_insert(z, p);
    while (cand && chain-- > 0) {
        size_t c = cand - 1, next;
        if (c < lim) break;
        if (in[c + best] == cur[best] && in[c] == cur[0] && in[c + 1] == cur[1]) {
            unsigned l = 2;
            while (l < maxlen && in[c + l] == cur[l]) l++;
            if (l > best) {
                best = l;
                *dist = (unsigned)(p - c);
                if (l >= maxlen || l >= nice) break;
            }
        }
        next = z->prev[c & (CAE__DFL_WSIZE - 1)];
        if (!next || next - 1 >= c) break; /* stale slot: overwritten by a newer position */
        cand = next;
    }
    return best >= 3 ? best : 0;
}

CONVAE_DEF int cae_zlib_compress(const unsigned char *in, size_t n, int level, unsigned char **out, size_t *out_len,
                                 cae_err *e)
{
    static const int chains[10] = {0, 4, 8, 16, 16, 32, 128, 256, 1024, 4096};
    static const unsigned nices[10] = {0, 8, 16, 32, 16, 32, 128, 128, 258, 258};
    static const unsigned char flg[4] = {0x01, 0x5E, 0x9C, 0xDA};
    cae__bw bw;
    cae__dfl z;
    int chain, lazy;
    unsigned nice;
    if (!out || !out_len || (n && !in)) return cae__rep_fail(e, CAE_ERR_ARG, "cae_zlib_compress: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (level < 0) level = 6;
    if (level > 9) level = 9;
    memset(&bw, 0, sizeof bw);
    memset(&z, 0, sizeof z);
    z.bw = &bw;
    z.in = in;
    z.n = n;
    cae__bw_reserve(&bw, n / 2 + 64);
    cae__bw_byte(&bw, 0x78);
    cae__bw_byte(&bw, flg[level <= 1 ? 0 : level <= 5 ? 1 : level == 6 ? 2 : 3]);
    if (level == 0) {
        z.blk_end = n;
        cae__dfl_stored(&z, 1);
    } else {
        z.head = (size_t *)cae__rep_alloc(sizeof(size_t) << CAE__DFL_HBITS);
        z.prev = (size_t *)cae__rep_alloc(sizeof(size_t) * CAE__DFL_WSIZE);
        z.sym_ll = (unsigned short *)cae__rep_alloc(sizeof(unsigned short) * CAE__DFL_BLOCK);
        z.sym_d = (unsigned short *)cae__rep_alloc(sizeof(unsigned short) * CAE__DFL_BLOCK);
        if (!z.head || !z.prev || !z.sym_ll || !z.sym_d) {
            bw.nomem = 1;
        } else {
            size_t p = 0;
            int pend = 0; /* a decision deferred at p - 1 (lazy matching) */
            unsigned plen = 0, pdist = 0;
            cae__dfl_tables(&z);
            chain = chains[level];
            nice = nices[level];
            lazy = level >= 4;
            while (p < n && !bw.nomem) {
                /* as zlib: when the deferred match is already good, look less hard for a better one */
                unsigned dist = 0, len = cae__dfl_match(&z, p, pend && plen >= 32 ? chain / 4 + 1 : chain, nice, &dist);
                size_t q;
                if (!lazy) {
                    if (len) {
                        cae__dfl_emit(&z, len, dist);
                        for (q = p + 1; q < p + len; q++) cae__dfl_insert(&z, q);
                        p += len;
                    } else {
                        cae__dfl_emit(&z, in[p], 0);
                        p++;
                    }
                    continue;
                }
                if (pend) {
                    if (plen && len <= plen) { /* the match at p - 1 wins */
                        cae__dfl_emit(&z, plen, pdist);
                        for (q = p + 1; q < p - 1 + plen; q++) cae__dfl_insert(&z, q);
                        p = p - 1 + plen;
                        pend = 0;
                        continue;
                    }
                    cae__dfl_emit(&z, in[p - 1], 0);
                }
                if (len >= nice) { /* good enough: take it now */
                    cae__dfl_emit(&z, len, dist);
                    for (q = p + 1; q < p + len; q++) cae__dfl_insert(&z, q);
                    p += len;
                    pend = 0;
                    continue;
                }
                pend = 1;
                plen = len;
                pdist = dist;
                p++;
            }
            if (pend && !bw.nomem) cae__dfl_emit(&z, in[p - 1], 0); /* a match cannot start at n - 1 */
            if (!bw.nomem) cae__dfl_flush(&z, 1);
        }
        CONVAE_FREE(z.head);
        CONVAE_FREE(z.prev);
        CONVAE_FREE(z.sym_ll);
        CONVAE_FREE(z.sym_d);
    }
    cae__bw_align(&bw);
    cae__bw_be32(&bw, cae__dfl_adler32(1, in, n));
    if (bw.nomem) {
        CONVAE_FREE(bw.buf);
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_zlib_compress: out of memory compressing %zu bytes", n);
    }
    *out = bw.buf;
    *out_len = bw.len;
    return CAE_OK;
}

/* ---- PNG */
static const unsigned char cae__png_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};

static int cae__png_paeth(int a, int b, int c)
{
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

static void cae__png_chunk(cae__bw *b, const char *type, const unsigned char *data, size_t n)
{
    unsigned long crc;
    cae__bw_be32(b, (unsigned long)n);
    cae__bw_bytes(b, (const unsigned char *)type, 4);
    cae__bw_bytes(b, data, n);
    crc = cae_crc32(0, type, 4);
    crc = cae_crc32(crc, data, n);
    cae__bw_be32(b, crc);
}

/* one filtered row: dst[0] = filter type, dst[1..stride] = filtered bytes; up = NULL on row 0 */
static void cae__png_filter_row(const unsigned char *row, const unsigned char *up, size_t stride, int c, int f,
                                unsigned char *dst)
{
    size_t x, bpp = (size_t)c;
    dst[0] = (unsigned char)f;
    for (x = 0; x < stride; x++) {
        int a = x >= bpp ? row[x - bpp] : 0, b = up ? up[x] : 0, cc = up && x >= bpp ? up[x - bpp] : 0;
        int p = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) >> 1 : cae__png_paeth(a, b, cc);
        dst[1 + x] = (unsigned char)((row[x] - p) & 255);
    }
}

CONVAE_DEF int cae_png_encode(const unsigned char *px, int w, int h, int c, unsigned char **out, size_t *out_len,
                              cae_err *e)
{
    static const unsigned char ctype[5] = {0, 0, 4, 2, 6};
    size_t stride, rows, i, x, off;
    unsigned char *filt = NULL, *tmp = NULL, *z = NULL, ihdr[13];
    size_t zn = 0;
    cae__bw bw;
    int y, f, rc;
    if (!out || !out_len || !px) return cae__rep_fail(e, CAE_ERR_ARG, "cae_png_encode: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (w <= 0 || h <= 0 || c < 1 || c > 4)
        return cae__rep_fail(e, CAE_ERR_ARG, "cae_png_encode: bad image shape %d x %d x %d (want w, h > 0, c in 1..4)", w,
                         h, c);
    stride = cae__rep_mul((size_t)w, (size_t)c);
    rows = cae__rep_mul(stride + 1, (size_t)h);
    if (!stride || !rows || stride + 1 > 0x7FFFFFFFu)
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_png_encode: %d x %d x %d image is too large", w, h, c);
    filt = (unsigned char *)CONVAE_MALLOC(rows);
    tmp = (unsigned char *)CONVAE_MALLOC(stride + 1);
    if (!filt || !tmp) {
        CONVAE_FREE(filt);
        CONVAE_FREE(tmp);
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_png_encode: no memory for %zu bytes", rows);
    }
    for (y = 0; y < h; y++) {
        static const int fcand[4] = {0, 1, 2, 4}; /* None, Sub, Up, Paeth */
        const unsigned char *row = px + (size_t)y * stride, *up = y ? row - stride : NULL;
        unsigned char *dst = filt + (size_t)y * (stride + 1);
        unsigned long best = (unsigned long)-1;
        for (f = 0; f < (up ? 4 : 2); f++) { /* on row 0, Up and Paeth equal None and Sub */
            unsigned char *t = f == 0 ? dst : tmp;
            unsigned long sum = 0;
            cae__png_filter_row(row, up, stride, c, fcand[f], t);
            for (x = 1; x <= stride; x++) sum += (unsigned long)(t[x] < 128 ? t[x] : 256 - t[x]);
            if (sum < best) {
                best = sum;
                if (t != dst) memcpy(dst, t, stride + 1);
            }
        }
    }
    CONVAE_FREE(tmp);
    rc = cae_zlib_compress(filt, rows, 6, &z, &zn, e);
    CONVAE_FREE(filt);
    if (rc) return rc;
    memset(&bw, 0, sizeof bw);
    cae__bw_reserve(&bw, zn + 64 + zn / 1000);
    cae__bw_bytes(&bw, cae__png_sig, 8);
    ihdr[0] = (unsigned char)(w >> 24);
    ihdr[1] = (unsigned char)(w >> 16);
    ihdr[2] = (unsigned char)(w >> 8);
    ihdr[3] = (unsigned char)w;
    ihdr[4] = (unsigned char)(h >> 24);
    ihdr[5] = (unsigned char)(h >> 16);
    ihdr[6] = (unsigned char)(h >> 8);
    ihdr[7] = (unsigned char)h;
    ihdr[8] = 8;
    ihdr[9] = ctype[c];
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    cae__png_chunk(&bw, "IHDR", ihdr, 13);
    off = 0;
    do {
        size_t k = zn - off > ((size_t)1 << 20) ? ((size_t)1 << 20) : zn - off;
        cae__png_chunk(&bw, "IDAT", z + off, k);
        off += k;
    } while (off < zn);
    cae__png_chunk(&bw, "IEND", NULL, 0);
    CONVAE_FREE(z);
    if (bw.nomem) {
        CONVAE_FREE(bw.buf);
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_png_encode: out of memory writing a %d x %d PNG", w, h);
    }
    i = bw.len;
    *out = bw.buf;
    *out_len = i;
    return CAE_OK;
}


CONVAE_DEF int cae_write_png(const char *path, const unsigned char *px, int w, int h, int c, cae_err *e)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc;
    if (!path) return cae__rep_fail(e, CAE_ERR_ARG, "cae_write_png: NULL path");
    rc = cae_png_encode(px, w, h, c, &buf, &n, e);
    if (rc) return rc;
    rc = cae_write_file(path, buf, n, e);
    CONVAE_FREE(buf);
    return rc;
}

/* ================================================================ SVG figures */

/* ---- text that grows, and number formatting that does not depend on the C locale */
CONVAE_DEF void cae_text_put(cae_text *b, const char *s, size_t n)
{
    if (b->nomem || !n) return;
    if (b->n + n + 1 > b->cap || b->n + n + 1 < n) {
        size_t nc = b->cap ? b->cap : 4096;
        char *np;
        while (nc < b->n + n + 1 && nc <= (size_t)-1 / 2) nc *= 2;
        np = nc >= b->n + n + 1 ? (char *)CONVAE_REALLOC(b->p, nc) : NULL;
        if (!np) {
            b->nomem = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

CONVAE_DEF void cae_text_puts(cae_text *b, const char *s)
{
    if (s) cae_text_put(b, s, strlen(s));
}

CONVAE_DEF void cae_text_printf(cae_text *b, const char *fmt, ...)
{
    char buf[1024], *big = NULL;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->nomem = 1;
        return;
    }
    if ((size_t)n >= sizeof buf) { /* longer than the stack buffer: format again into one that fits */
        big = (char *)CONVAE_MALLOC((size_t)n + 1);
        if (!big) {
            b->nomem = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    cae_text_put(b, big ? big : buf, (size_t)n);
    CONVAE_FREE(big);
}

CONVAE_DEF int cae_text_write(const char *path, cae_text *b, cae_err *e)
{
    int rc = b->nomem ? cae__rep_fail(e, CAE_ERR_NOMEM, "%s: out of memory building the text", path)
                      : cae_write_file(path, b->p ? b->p : "", b->n, e);
    cae_text_free(b);
    return rc;
}

CONVAE_DEF void cae_text_free(cae_text *b)
{
    CONVAE_FREE(b->p);
    memset(b, 0, sizeof *b);
}

CONVAE_DEF void cae_text_xml(cae_text *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (u && *u) {
        unsigned ch = *u;
        int k = 0, i, ok = 1;
        if (ch < 0x80) {
            if (ch == '&')
                cae_text_puts(b, "&amp;");
            else if (ch == '<')
                cae_text_puts(b, "&lt;");
            else if (ch == '>')
                cae_text_puts(b, "&gt;");
            else if (ch == '"')
                cae_text_puts(b, "&quot;");
            else if (ch == '\'')
                cae_text_puts(b, "&#39;");
            else if (ch >= 0x20 || ch == '\t' || ch == '\n')
                cae_text_put(b, (const char *)u, 1);
            else
                cae_text_puts(b, " ");
            u++;
            continue;
        }
        k = ch >= 0xF0 && ch < 0xF5 ? 3 : ch >= 0xE0 ? 2 : ch >= 0xC2 && ch < 0xE0 ? 1 : 0;
        if (ch >= 0xF5) k = 0;
        for (i = 1; i <= k && ok; i++) ok = (u[i] & 0xC0) == 0x80;
        if (!k || !ok) {
            cae_text_puts(b, "?");
            u++;
            continue;
        }
        cae_text_put(b, (const char *)u, (size_t)k + 1);
        u += k + 1;
    }
}

/* v with `dec` decimals, trailing zeros dropped: 0.5, 12, -3.25 */
static void cae__rep_fmt_fixed(char *buf, double v, int dec)
{
    unsigned long long p10 = 1, u, ip, fp;
    double a = fabs(v);
    char tmp[32];
    int k = 0, n = 0, i;
    if (!(a < 1e15)) a = 1e15; /* callers keep |v| far below this; never print inf */
    if (dec < 0) dec = 0;
    while (dec > 0 && a * (double)p10 * 10.0 >= 9e15) dec--;
    for (i = 0; i < dec; i++) p10 *= 10;
    u = (unsigned long long)floor(a * (double)p10 + 0.5);
    ip = u / p10;
    fp = u % p10;
    if (v < 0 && u) buf[n++] = '-';
    do {
        tmp[k++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    while (k) buf[n++] = tmp[--k];
    if (fp) {
        while (fp % 10 == 0) {
            fp /= 10;
            dec--;
        }
        buf[n++] = '.';
        for (i = dec - 1; i >= 0; i--) {
            tmp[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        for (i = 0; i < dec; i++) buf[n++] = tmp[i];
    }
    buf[n] = 0;
}

static double cae__rep_pow10(int e)
{
    double r = 1.0, b = e < 0 ? 0.1 : 10.0;
    int i, m = e < 0 ? -e : e;
    for (i = 0; i < m; i++) r *= b;
    return e < -300 || e > 300 ? (e < 0 ? 0.0 : 1e300) : r;
}

/* compact, `sig` significant digits: 0.0653, 12.5k, 3M, 2.5e-4, 1e-3 (suffix 0: 1e5, not 100k) */
static void cae__rep_fmt_gs(char *buf, double v, int sig, int suffix)
{
    static const char sfx[4] = {'k', 'M', 'G', 'T'};
    double a = fabs(v), r;
    int e10, dec, n;
    if (!(a > 0) || !(a < 1e300)) { /* 0 (callers never pass non-finite values) */
        strcpy(buf, "0");
        return;
    }
    if (sig < 1) sig = 1;
    e10 = (int)floor(log10(a));
    r = floor(a / cae__rep_pow10(e10 - sig + 1) + 0.5) * cae__rep_pow10(e10 - sig + 1);
    e10 = (int)floor(log10(r) + 1e-12);
    if (suffix && r >= 1e4 && r < 1e15) {
        int g = e10 / 3 - 1; /* 0: k, 1: M, ... */
        if (g > 3) g = 3;
        dec = sig - 1 - (e10 - 3 * (g + 1));
        cae__rep_fmt_fixed(buf, (v < 0 ? -r : r) / cae__rep_pow10(3 * (g + 1)), dec);
        n = (int)strlen(buf);
        buf[n] = sfx[g];
        buf[n + 1] = 0;
    } else if (r >= 1e-2 && r < 1e4) {
        cae__rep_fmt_fixed(buf, v < 0 ? -r : r, sig - 1 - e10);
    } else {
        char ex[8];
        int k = 0, m = e10 < 0 ? -e10 : e10;
        cae__rep_fmt_fixed(buf, (v < 0 ? -r : r) / cae__rep_pow10(e10), sig - 1);
        n = (int)strlen(buf);
        buf[n++] = 'e';
        if (e10 < 0) buf[n++] = '-';
        do {
            ex[k++] = (char)('0' + m % 10);
            m /= 10;
        } while (m);
        while (k) buf[n++] = ex[--k];
        buf[n] = 0;
    }
}

static void cae__rep_fmt_g(char *buf, double v, int sig)
{
    cae__rep_fmt_gs(buf, v, sig, 1);
}

/* Appends a formatted string: %s raw string, %t XML-escaped text, %d int, %f double with two
   decimals (coordinates), %g double, 3 significant digits, %% a percent sign. */
static void cae__text_f(cae_text *b, const char *fmt, ...)
{
    va_list ap;
    char num[48];
    const char *run = fmt;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') continue;
        cae_text_put(b, run, (size_t)(fmt - run));
        fmt++;
        switch (*fmt) {
        case 's': cae_text_puts(b, va_arg(ap, const char *)); break;
        case 't': cae_text_xml(b, va_arg(ap, const char *)); break;
        case 'd': {
            int v = va_arg(ap, int);
            cae__rep_fmt_fixed(num, (double)v, 0);
            cae_text_puts(b, num);
            break;
        }
        case 'f': {
            double v = va_arg(ap, double);
            if (!(v > -1e7)) v = -1e7; /* also maps NaN to something harmless */
            if (v > 1e7) v = 1e7;
            cae__rep_fmt_fixed(num, v, 2);
            cae_text_puts(b, num);
            break;
        }
        case 'g':
            cae__rep_fmt_g(num, va_arg(ap, double), 3);
            cae_text_puts(b, num);
            break;
        default: cae_text_put(b, fmt, 1); break;
        }
        run = fmt + 1;
    }
    cae_text_put(b, run, (size_t)(fmt - run));
    va_end(ap);
}

static int cae__rep_finite(double v)
{
    return v == v && v - v == 0.0;
}

/* ---- axes: "nice" ticks at 1-2-5 steps, or decades on a log axis */
#define CAE__AXIS_MAXT 64
typedef struct cae__axis {
    double lo, hi;              /* data range shown */
    int log;                    /* log10 scale */
    int nt;                     /* ticks */
    double t[CAE__AXIS_MAXT];   /* tick values */
    char major[CAE__AXIS_MAXT]; /* labelled (else a minor grid line) */
    char lab[CAE__AXIS_MAXT][16];
    double step; /* linear step, for label decimals */
} cae__axis;

static double cae__axis_step(double range, int target)
{
    double raw = range / (target > 0 ? target : 1), mag, f;
    if (!(raw > 0)) return 1.0;
    mag = cae__rep_pow10((int)floor(log10(raw)));
    f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

static void cae__axis_label(char *buf, double v, double step, double amax)
{
    if (fabs(v) < step * 1e-6) {
        strcpy(buf, "0");
    } else if (amax >= 1e4 && amax < 1e15) {
        int g = (int)floor(log10(amax) + 1e-9) / 3 - 1, dec, n;
        double div;
        if (g > 3) g = 3;
        div = cae__rep_pow10(3 * (g + 1));
        dec = -(int)floor(log10(step / div) + 1e-9);
        cae__rep_fmt_fixed(buf, v / div, dec);
        n = (int)strlen(buf);
        buf[n] = "kMGT"[g];
        buf[n + 1] = 0;
    } else if (step >= 1e-4 && amax < 1e4) {
        cae__rep_fmt_fixed(buf, v, -(int)floor(log10(step) + 1e-9));
    } else { /* tiny steps or huge values: 2.5e-5, 1e20 */
        int sig = (int)floor(log10(amax)) - (int)floor(log10(step) + 1e-9) + 1;
        cae__rep_fmt_g(buf, v, sig < 1 ? 1 : sig > 6 ? 6 : sig);
    }
}

/* Linear axis over [dmin, dmax] (dmin > dmax: no data). extend: grow the range to whole ticks. */
static void cae__axis_lin(cae__axis *a, double dmin, double dmax, int extend, int target)
{
    double step, amax, k0, k1, k;
    memset(a, 0, sizeof *a);
    if (!(dmin <= dmax)) {
        dmin = 0;
        dmax = 1;
    }
    if (dmax - dmin <= 1e-12 * (fabs(dmin) + fabs(dmax)) || dmax == dmin) {
        double d = dmin == 0 ? 1.0 : fabs(dmin) * 0.1;
        dmin -= d;
        dmax += d;
    }
    step = cae__axis_step(dmax - dmin, target);
    if (extend) {
        dmin = floor(dmin / step + 1e-9) * step;
        dmax = ceil(dmax / step - 1e-9) * step;
    }
    a->lo = dmin;
    a->hi = dmax;
    a->step = step;
    k0 = ceil(dmin / step - 1e-9);
    k1 = floor(dmax / step + 1e-9);
    amax = fabs(k0 * step) > fabs(k1 * step) ? fabs(k0 * step) : fabs(k1 * step);
    for (k = k0; k <= k1 && a->nt < CAE__AXIS_MAXT; k += 1.0) {
        a->t[a->nt] = k * step;
        a->major[a->nt] = 1;
        cae__axis_label(a->lab[a->nt], k * step, step, amax);
        a->nt++;
    }
}

/* Log axis over [dmin, dmax], both > 0: decades labelled; when fewer than two decades are in
   view, 2x and 5x (then all multiples) are labelled too; the other multiples are minor lines. */
static void cae__axis_log(cae__axis *a, double dmin, double dmax)
{
    double l0, l1, pad;
    int d0, d1, d, m, every, pass;
    memset(a, 0, sizeof *a);
    a->log = 1;
    if (!(dmin > 0 && dmin <= dmax)) {
        dmin = 0.1;
        dmax = 1;
    }
    l0 = log10(dmin);
    l1 = log10(dmax);
    if (l1 - l0 < 0.1) {
        double c = 0.5 * (l0 + l1);
        l0 = c - 0.05;
        l1 = c + 0.05;
    }
    pad = 0.04 * (l1 - l0);
    l0 -= pad;
    l1 += pad;
    if (l0 < -300) l0 = -300;
    if (l1 > 300) l1 = 300;
    a->lo = pow(10.0, l0);
    a->hi = pow(10.0, l1);
    d0 = (int)floor(l0);
    d1 = (int)ceil(l1);
    every = (d1 - d0 + 7) / 8;         /* at most ~8 labelled decades */
    for (pass = 0; pass < 4; pass++) { /* label 1; 1 2 5; 1 2 3 5; all: until three labels show */
        int nmaj = 0;
        a->nt = 0;
        for (d = d0; d <= d1; d++)
            for (m = 1; m <= 9; m++) {
                double v = (double)m * cae__rep_pow10(d);
                int lab = m == 1      ? (d % every == 0)
                          : pass == 1 ? (m == 2 || m == 5)
                          : pass == 2 ? (m == 2 || m == 3 || m == 5)
                                      : pass == 3;
                if (v < a->lo * (1 - 1e-9) || v > a->hi * (1 + 1e-9) || a->nt >= CAE__AXIS_MAXT) continue;
                if (!lab && every > 1) continue; /* many decades: no minor lines */
                a->t[a->nt] = v;
                a->major[a->nt] = (char)lab;
                if (lab) {
                    cae__rep_fmt_gs(a->lab[a->nt], v, 1, 0);
                    nmaj++;
                }
                a->nt++;
            }
        if (nmaj >= 3) break;
    }
}

static double cae__axis_frac(const cae__axis *a, double v)
{
    double lo = a->log ? log10(a->lo) : a->lo, hi = a->log ? log10(a->hi) : a->hi;
    double t = a->log ? (v > 0 ? log10(v) : lo - 1e3) : v;
    return hi > lo ? (t - lo) / (hi - lo) : 0.5;
}

/* ---- the figure frame: title, plot area, axes */
typedef struct cae__fig {
    cae_text sb;
    int W, H;
    double x0, x1, y0, y1; /* plot area: x0 left, y0 top */
    cae__axis ax, ay;
} cae__fig;

static double cae__fig_x(const cae__fig *f, double v)
{
    return f->x0 + cae__axis_frac(&f->ax, v) * (f->x1 - f->x0);
}

static double cae__fig_y(const cae__fig *f, double v)
{
    return f->y1 - cae__axis_frac(&f->ay, v) * (f->y1 - f->y0);
}

/* rough width of sans-serif text at a font size (digits and lowercase are ~0.55 em) */
static double cae__fig_text_w(const char *s, double size)
{
    size_t n = 0;
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    for (; *u; u++)
        if ((*u & 0xC0) != 0x80) n++; /* count UTF-8 characters, not bytes */
    return (double)n * size * 0.58;
}

static const char *const cae__fig_palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

/* colour i: Tableau 10 (designed to stay distinct for common colour-vision deficiencies), then
   golden-angle hues */
static void cae__fig_colour(int i, char *out)
{
    double h, s = 0.55, l = 0.5, c, x, r = 0, g = 0, b = 0, m;
    int k;
    if (i >= 0 && i < 10) {
        strcpy(out, cae__fig_palette[i]);
        return;
    }
    h = fmod((double)i * 0.618033988749895, 1.0) * 6.0;
    c = (1 - fabs(2 * l - 1)) * s;
    x = c * (1 - fabs(fmod(h, 2.0) - 1));
    k = (int)h;
    if (k == 0)
        r = c, g = x;
    else if (k == 1)
        r = x, g = c;
    else if (k == 2)
        g = c, b = x;
    else if (k == 3)
        g = x, b = c;
    else if (k == 4)
        r = x, b = c;
    else
        r = c, b = x;
    m = l - c / 2;
    out[0] = '#';
    out[7] = 0;
    {
        double v[3];
        int j;
        v[0] = r + m;
        v[1] = g + m;
        v[2] = b + m;
        for (j = 0; j < 3; j++) {
            int q = (int)floor(v[j] * 255 + 0.5);
            q = q < 0 ? 0 : q > 255 ? 255 : q;
            out[1 + 2 * j] = "0123456789abcdef"[q >> 4];
            out[2 + 2 * j] = "0123456789abcdef"[q & 15];
        }
    }
}

static void cae__fig_begin(cae__fig *f, int W, int H)
{
    f->W = W;
    f->H = H;
    cae__text_f(&f->sb,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
              "version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
              "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
              "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
              W, H, W, H, W, H);
}

static void cae__fig_title(cae__fig *f, const char *title)
{
    if (title && *title)
        cae__text_f(&f->sb,
                  "<text class=\"title\" x=\"%f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" "
                  "font-weight=\"bold\" fill=\"#222222\">%t</text>\n",
                  f->W / 2.0, title);
}

/* Margins from the labels, then the plot area. right: space reserved right of the plot. */
static void cae__fig_layout(cae__fig *f, const cae_plot *p, double right, double bottom_extra)
{
    double wl = 0;
    int i;
    for (i = 0; i < f->ay.nt; i++)
        if (f->ay.major[i]) {
            double w = cae__fig_text_w(f->ay.lab[i], 12);
            if (w > wl) wl = w;
        }
    f->x0 = 12 + (p && p->ylabel && *p->ylabel ? 22 : 0) + wl + 8;
    f->x1 = f->W - right;
    f->y0 = p && p->title && *p->title ? 44 : 16;
    f->y1 = f->H - 34 - (p && p->xlabel && *p->xlabel ? 20 : 0) - bottom_extra;
    if (f->x1 < f->x0 + 20) f->x1 = f->x0 + 20;
    if (f->y1 < f->y0 + 20) f->y1 = f->y0 + 20;
}

/* grid lines, tick labels, axis lines and axis titles; xticks = 0 for a categorical x axis */
static void cae__fig_axes(cae__fig *f, const cae_plot *p, int xticks)
{
    int i;
    cae_text *b = &f->sb;
    cae_text_puts(b, "<g class=\"grid\" stroke-width=\"1\" fill=\"none\">\n");
    for (i = 0; i < f->ay.nt; i++) {
        double y = cae__fig_y(f, f->ay.t[i]);
        cae__text_f(b, "<line x1=\"%f\" y1=\"%f\" x2=\"%f\" y2=\"%f\" stroke=\"%s\"/>\n", f->x0, y, f->x1, y,
                  f->ay.major[i] ? "#dddddd" : "#f0f0f0");
    }
    for (i = 0; xticks && i < f->ax.nt; i++) {
        double x = cae__fig_x(f, f->ax.t[i]);
        cae__text_f(b, "<line x1=\"%f\" y1=\"%f\" x2=\"%f\" y2=\"%f\" stroke=\"%s\"/>\n", x, f->y0, x, f->y1,
                  f->ax.major[i] ? "#dddddd" : "#f0f0f0");
    }
    cae_text_puts(b, "</g>\n<g class=\"ticks\" fill=\"#444444\" font-size=\"12\">\n");
    for (i = 0; i < f->ay.nt; i++)
        if (f->ay.major[i])
            cae__text_f(b, "<text x=\"%f\" y=\"%f\" text-anchor=\"end\">%t</text>\n", f->x0 - 7,
                      cae__fig_y(f, f->ay.t[i]) + 4, f->ay.lab[i]);
    for (i = 0; xticks && i < f->ax.nt; i++)
        if (f->ax.major[i])
            cae__text_f(b, "<text x=\"%f\" y=\"%f\" text-anchor=\"middle\">%t</text>\n", cae__fig_x(f, f->ax.t[i]),
                      f->y1 + 18, f->ax.lab[i]);
    cae_text_puts(b, "</g>\n");
    cae__text_f(b, "<path class=\"axis\" d=\"M%f %fV%fH%f\" fill=\"none\" stroke=\"#666666\" stroke-width=\"1\"/>\n",
              f->x0, f->y0, f->y1, f->x1);
    if (p && p->xlabel && *p->xlabel)
        cae__text_f(b,
                  "<text class=\"xlabel\" x=\"%f\" y=\"%f\" text-anchor=\"middle\" font-size=\"13\" "
                  "fill=\"#222222\">%t</text>\n",
                  (f->x0 + f->x1) / 2, (double)f->H - 12, p->xlabel);
    if (p && p->ylabel && *p->ylabel)
        cae__text_f(b,
                  "<text class=\"ylabel\" x=\"0\" y=\"0\" transform=\"translate(18 %f) rotate(-90)\" "
                  "text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">%t</text>\n",
                  (f->y0 + f->y1) / 2, p->ylabel);
}

static int cae__fig_finish(cae__fig *f, const char *path, const char *what, cae_err *e)
{
    int rc;
    cae_text_puts(&f->sb, "</svg>\n");
    if (f->sb.nomem) {
        CONVAE_FREE(f->sb.p);
        return cae__rep_fail(e, CAE_ERR_NOMEM, "%s: out of memory building the %s figure", path, what);
    }
    rc = cae_write_file(path, f->sb.p, f->sb.n, e);
    CONVAE_FREE(f->sb.p);
    return rc;
}

static void cae__fig_size(const cae_plot *p, int *W, int *H)
{
    *W = p && p->width > 0 ? p->width : 640;
    *H = p && p->height > 0 ? p->height : 400;
    if (*W < 120) *W = 120;
    if (*H < 100) *H = 100;
    if (*W > 20000) *W = 20000;
    if (*H > 20000) *H = 20000;
}

static int cae__axis_target(double px, double per)
{
    int t = (int)(px / per);
    return t < 3 ? 3 : t > 10 ? 10 : t;
}

/* ---- line plot */
CONVAE_DEF int cae_svg_lines(const char *path, const cae_plot *p, const cae_series *s, int ns, cae_err *e)
{
    static const char *const dash[4] = {"", " stroke-dasharray=\"7 4\"", " stroke-dasharray=\"2 3\"",
                                        " stroke-dasharray=\"9 3 2 3\""};
    cae__fig f;
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300, lw = 0, lh, lx[4], ly[4], dx;
    long hits[4] = {0, 0, 0, 0};
    int W, H, i, j, nleg = 0, all_int_x = 1, corner, pass;
    char col[8];
    if (!path || (ns > 0 && !s) || ns < 0) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_lines: NULL path or series");
    for (i = 0; i < ns; i++)
        if (s[i].n < 0 || (s[i].n > 0 && !s[i].y))
            return cae__rep_fail(e, CAE_ERR_ARG, "%s: series %d has n = %d and y %s", path, i, s[i].n,
                             s[i].y ? "set" : "NULL");
    memset(&f, 0, sizeof f);
    cae__fig_size(p, &W, &H);
    for (i = 0; i < ns; i++) {
        for (j = 0; j < s[i].n; j++) {
            double x = s[i].x ? (double)s[i].x[j] : (double)j + 1, y = s[i].y[j];
            if (!cae__rep_finite(x) || !cae__rep_finite(y) || (p && p->log_y && !(y > 0))) continue;
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
            if (x != floor(x)) all_int_x = 0;
        }
        if (s[i].label && *s[i].label) {
            double w = cae__fig_text_w(s[i].label, 12);
            nleg++;
            if (w > lw) lw = w;
        }
    }
    if (xmin > xmax) xmin = xmax = 1, all_int_x = 1; /* no data at all */
    if (p && p->log_y)
        cae__axis_log(&f.ay, ymin, ymax);
    else
        cae__axis_lin(&f.ay, ymin, ymax, 1, cae__axis_target(H - 100, 60));
    if (xmin == xmax) { /* one x value: centre it */
        xmin -= all_int_x ? 1 : 0.5;
        xmax += all_int_x ? 1 : 0.5;
    }
    dx = (xmax - xmin) * 0.02; /* keep the end markers off the axes */
    xmin -= dx;
    xmax += dx;
    cae__axis_lin(&f.ax, xmin, xmax, 0, cae__axis_target(W - 120, 90));
    if (all_int_x && f.ax.step < 1) cae__axis_lin(&f.ax, xmin, xmax, 0, (int)(xmax - xmin)); /* whole epochs */
    cae__fig_begin(&f, W, H);
    cae__fig_layout(&f, p, 20, 0);
    cae__fig_title(&f, p ? p->title : NULL);
    cae__fig_axes(&f, p, 1);
    /* legend candidates: the four corners of the plot area; the one over the fewest data wins */
    lw += 44;
    lh = 10 + 18.0 * nleg;
    lx[0] = lx[3] = f.x1 - 8 - lw;
    lx[1] = lx[2] = f.x0 + 8;
    ly[0] = ly[1] = f.y0 + 8;
    ly[2] = ly[3] = f.y1 - 8 - lh;
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < ns; i++) {
            int npt = 0, pen = 0;
            double px = 0, py = 0;
            cae__fig_colour(i, col);
            for (j = 0; j < s[i].n; j++) { /* finite points: markers for short series */
                double x = s[i].x ? (double)s[i].x[j] : (double)j + 1, y = s[i].y[j];
                if (cae__rep_finite(x) && cae__rep_finite(y) && !(p && p->log_y && !(y > 0))) npt++;
            }
            if (pass == 1)
                cae__text_f(&f.sb,
                          "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                          "stroke-linejoin=\"round\" stroke-linecap=\"round\"%s d=\"",
                          col, dash[i % 4]);
            for (j = 0; j < s[i].n; j++) {
                double x = s[i].x ? (double)s[i].x[j] : (double)j + 1, y = s[i].y[j], qx, qy;
                int k, nsub;
                if (!cae__rep_finite(x) || !cae__rep_finite(y) || (p && p->log_y && !(y > 0))) {
                    pen = 0; /* a gap in the line */
                    continue;
                }
                qx = cae__fig_x(&f, x);
                qy = cae__fig_y(&f, y);
                if (pass == 1) {
                    cae__text_f(&f.sb, pen ? "L%f %f" : "M%f %f", qx, qy);
                    pen = 1;
                    continue;
                }
                nsub = pen ? 1 + (int)((fabs(qx - px) + fabs(qy - py)) / 6) : 1;
                if (nsub > 200) nsub = 200;
                for (k = 1; k <= nsub; k++) { /* sample the segment, count what each corner covers */
                    double t = (double)k / nsub, sx = pen ? px + t * (qx - px) : qx, sy = pen ? py + t * (qy - py) : qy;
                    int c;
                    for (c = 0; c < 4; c++)
                        if (sx >= lx[c] - 12 && sx <= lx[c] + lw + 12 && sy >= ly[c] - 12 && sy <= ly[c] + lh + 12)
                            hits[c]++;
                }
                px = qx;
                py = qy;
                pen = 1;
            }
            if (pass == 0) continue;
            cae_text_puts(&f.sb, "\"/>\n");
            if (npt > 0 && npt <= 40) {
                cae__text_f(&f.sb, "<g class=\"markers\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"1\">\n", col);
                for (j = 0; j < s[i].n; j++) {
                    double x = s[i].x ? (double)s[i].x[j] : (double)j + 1, y = s[i].y[j];
                    if (!cae__rep_finite(x) || !cae__rep_finite(y) || (p && p->log_y && !(y > 0))) continue;
                    cae__text_f(&f.sb, "<circle cx=\"%f\" cy=\"%f\" r=\"3.5\"/>\n", cae__fig_x(&f, x), cae__fig_y(&f, y));
                }
                cae_text_puts(&f.sb, "</g>\n");
            }
        }
    }
    if (nleg) {
        corner = 0;
        for (i = 1; i < 4; i++)
            if (hits[i] < hits[corner]) corner = i;
        cae__text_f(&f.sb,
                  "<g class=\"legend\"><rect x=\"%f\" y=\"%f\" width=\"%f\" height=\"%f\" fill=\"#ffffff\" "
                  "fill-opacity=\"0.9\" stroke=\"#cccccc\" rx=\"3\"/>\n",
                  lx[corner], ly[corner], lw, lh);
        for (i = 0, j = 0; i < ns; i++) {
            double yy = ly[corner] + 5 + 18.0 * j + 9;
            if (!s[i].label || !*s[i].label) continue;
            cae__fig_colour(i, col);
            cae__text_f(&f.sb,
                      "<line x1=\"%f\" y1=\"%f\" x2=\"%f\" y2=\"%f\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                      "<text x=\"%f\" y=\"%f\" fill=\"#222222\">%t</text>\n",
                      lx[corner] + 8, yy, lx[corner] + 34, yy, col, dash[i % 4], lx[corner] + 40, yy + 4, s[i].label);
            j++;
        }
        cae_text_puts(&f.sb, "</g>\n");
    }
    return cae__fig_finish(&f, path, "line plot", e);
}

/* ---- histogram */
/* Draws nbins bars of heights cnt over [a, b] with a summary line above them. */
static int cae__svg_hist_draw(const char *path, const cae_plot *p, const double *cnt, int nbins, double a, double b,
                              const char *summary, cae_err *e)
{
    cae__fig f;
    double cmax = 0, cmin = 0, bw = (b - a) / nbins, base;
    int W, H, k, logy = p && p->log_y;
    for (k = 0; k < nbins; k++) {
        if (cnt[k] > cmax) cmax = cnt[k];
        if (cnt[k] > 0 && (cmin == 0 || cnt[k] < cmin)) cmin = cnt[k];
    }
    memset(&f, 0, sizeof f);
    cae__fig_size(p, &W, &H);
    cae__axis_lin(&f.ax, a, b, 0, cae__axis_target(W - 120, 90));
    if (logy && cmax > 0) {
        cae__axis_log(&f.ay, cmin < 1 ? cmin : 1, cmax);
    } else {
        logy = 0;
        cae__axis_lin(&f.ay, 0, cmax > 0 ? cmax : 1.0, 1, cae__axis_target(H - 100, 60));
        if (f.ay.step < 1) cae__axis_lin(&f.ay, 0, cmax > 0 ? cmax : 1.0, 1, cmax > 0 ? (int)cmax : 1); /* whole counts */
    }
    cae__fig_begin(&f, W, H);
    cae__fig_layout(&f, p, 20, 0);
    f.y0 += 14; /* room for the summary line */
    cae__fig_title(&f, p ? p->title : NULL);
    cae__fig_axes(&f, p, 1);
    base = f.y1; /* bars stand on the x axis, also on a log scale */
    cae__text_f(&f.sb, "<g class=\"bars\" fill=\"#4e79a7\"%s>\n",
              (f.x1 - f.x0) / nbins >= 4 ? " stroke=\"#ffffff\" stroke-width=\"0.5\"" : "");
    for (k = 0; k < nbins; k++) {
        double xa = cae__fig_x(&f, a + bw * k), xb = cae__fig_x(&f, k == nbins - 1 ? b : a + bw * (k + 1));
        double yt = logy && cnt[k] <= 0 ? base : cae__fig_y(&f, cnt[k]);
        cae__text_f(&f.sb, "<rect class=\"bar\" x=\"%f\" y=\"%f\" width=\"%f\" height=\"%f\"/>\n", xa, yt, xb - xa,
                  base - yt);
    }
    cae_text_puts(&f.sb, "</g>\n");
    cae__text_f(&f.sb, "<text class=\"summary\" x=\"%f\" y=\"%f\" text-anchor=\"end\" fill=\"#555555\">", f.x1,
              f.y0 - 8);
    cae_text_xml(&f.sb, summary);
    cae_text_puts(&f.sb, "</text>\n");
    return cae__fig_finish(&f, path, "histogram", e);
}

CONVAE_DEF int cae_svg_histogram(const char *path, const cae_plot *p, const float *v, size_t n, int nbins,
                                 float lo, float hi, cae_err *e)
{
    size_t i, nfin = 0, nout = 0;
    double a = lo, b = hi, mean = 0, m2 = 0, bw, *cnt;
    char s1[32], s2[32], s3[32], s4[32], summary[160];
    int rc;
    if (!path || (n && !v)) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_histogram: NULL path or values");
    if (nbins < 1 || nbins > 100000) return cae__rep_fail(e, CAE_ERR_ARG, "%s: nbins = %d (want 1..100000)", path, nbins);
    if (!cae__rep_finite(a) || !cae__rep_finite(b) || a > b)
        return cae__rep_fail(e, CAE_ERR_ARG, "%s: histogram range must be finite with lo <= hi", path);
    for (i = 0; i < n; i++) /* Welford: mean and spread without cancellation */
        if (cae__rep_finite(v[i])) {
            double d = v[i] - mean;
            nfin++;
            mean += d / (double)nfin;
            m2 += d * (v[i] - mean);
        }
    if (a == b) {
        double mn = 1e300, mx = -1e300;
        for (i = 0; i < n; i++)
            if (cae__rep_finite(v[i])) {
                if (v[i] < mn) mn = v[i];
                if (v[i] > mx) mx = v[i];
            }
        if (mn > mx) mn = mx = 0;
        if (mn == mx) {
            double d = mn == 0 ? 0.5 : fabs(mn) * 0.05;
            mn -= d;
            mx += d;
        }
        a = mn;
        b = mx;
    }
    cnt = (double *)cae__rep_alloc(sizeof(double) * (size_t)nbins);
    if (!cnt) return cae__rep_fail(e, CAE_ERR_NOMEM, "%s: no memory for %d bins", path, nbins);
    bw = (b - a) / nbins;
    for (i = 0; i < n; i++) {
        double x = v[i];
        long bi;
        if (!cae__rep_finite(x)) continue;
        if (x < a || x > b) {
            nout++;
            continue;
        }
        bi = (long)((x - a) / bw);
        if (bi >= nbins) bi = nbins - 1; /* x == hi goes in the last bin */
        if (bi < 0) bi = 0;
        cnt[bi] += 1;
    }
    cae__rep_fmt_fixed(s1, (double)nfin, 0);
    cae__rep_fmt_g(s2, mean, 3);
    cae__rep_fmt_g(s3, nfin > 1 ? sqrt(m2 / (double)(nfin - 1)) : 0.0, 3);
    snprintf(summary, sizeof summary, "n = %s, mean %s, sd %s", s1, s2, s3); /* %s only: no locale */
    if (nout) {
        cae__rep_fmt_fixed(s4, (double)nout, 0);
        snprintf(summary + strlen(summary), sizeof summary - strlen(summary), ", %s outside the range", s4);
    }
    if (nfin < n) {
        cae__rep_fmt_fixed(s4, (double)(n - nfin), 0);
        snprintf(summary + strlen(summary), sizeof summary - strlen(summary), ", %s not finite", s4);
    }
    rc = cae__svg_hist_draw(path, p, cnt, nbins, a, b, summary, e);
    CONVAE_FREE(cnt);
    return rc;
}

CONVAE_DEF int cae_svg_bins(const char *path, const cae_plot *p, const float *counts, int nbins, float lo, float hi,
                            cae_err *e)
{
    double *cnt, total = 0;
    char s1[32], summary[64];
    int k, rc;
    if (!path || !counts) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_bins: NULL path or counts");
    if (nbins < 1 || nbins > 100000) return cae__rep_fail(e, CAE_ERR_ARG, "%s: nbins = %d (want 1..100000)", path, nbins);
    if (!cae__rep_finite(lo) || !cae__rep_finite(hi) || !(lo < hi))
        return cae__rep_fail(e, CAE_ERR_ARG, "%s: bin range must be finite with lo < hi", path);
    cnt = (double *)cae__rep_alloc(sizeof(double) * (size_t)nbins);
    if (!cnt) return cae__rep_fail(e, CAE_ERR_NOMEM, "%s: no memory for %d bins", path, nbins);
    for (k = 0; k < nbins; k++) {
        cnt[k] = cae__rep_finite(counts[k]) && counts[k] > 0 ? counts[k] : 0;
        total += cnt[k];
    }
    cae__rep_fmt_fixed(s1, total, 0);
    snprintf(summary, sizeof summary, "n = %s", s1);
    rc = cae__svg_hist_draw(path, p, cnt, nbins, lo, hi, summary, e);
    CONVAE_FREE(cnt);
    return rc;
}

/* names[i], or "i" written into buf when there are no names */
static const char *cae__fig_name(const char *const *names, int i, char *buf)
{
    if (names && names[i]) return names[i];
    cae__rep_fmt_fixed(buf, (double)i, 0);
    return buf;
}

/* ---- bar chart */
CONVAE_DEF int cae_svg_bars(const char *path, const cae_plot *p, const char *const *names, const float *values, int n,
                            cae_err *e)
{
    cae__fig f;
    double vmin = 0, vmax = 0, slot, wmax = 0, extra = 0;
    int W, H, i, rot = 0;
    char nm[32], num[32];
    if (!path || (n > 0 && !values) || n < 0) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_bars: NULL path or values");
    memset(&f, 0, sizeof f);
    cae__fig_size(p, &W, &H);
    for (i = 0; i < n; i++) {
        const char *s = cae__fig_name(names, i, nm);
        double w;
        w = cae__fig_text_w(s, 12);
        if (w > wmax) wmax = w;
        if (!cae__rep_finite(values[i])) continue;
        if (values[i] < vmin) vmin = values[i];
        if (values[i] > vmax) vmax = values[i];
    }
    /* room above the tallest bar for its value, and below the lowest negative one */
    if (vmax > 0) vmax += 0.08 * (vmax - (vmin < 0 ? vmin : 0));
    if (vmin < 0) vmin -= 0.1 * (vmax - vmin);
    cae__axis_lin(&f.ay, vmin, vmax, 1, cae__axis_target(H - 100, 60));
    slot = (W - 100.0) / (n > 0 ? n : 1);
    if (wmax > slot * 0.95) { /* long names: slant them */
        rot = 1;
        if (wmax > 180) wmax = 180;
        extra = wmax * 0.64 - 6;
    }
    cae__fig_begin(&f, W, H);
    cae__fig_layout(&f, p, 20, extra);
    cae__fig_title(&f, p ? p->title : NULL);
    cae__fig_axes(&f, p, 0);
    slot = (f.x1 - f.x0) / (n > 0 ? n : 1);
    cae_text_puts(&f.sb, "<g class=\"bars\">\n");
    for (i = 0; i < n; i++) {
        double v = values[i], cx = f.x0 + slot * (i + 0.5), bwid = slot * 0.7, y0 = cae__fig_y(&f, 0.0), yv;
        const char *s = cae__fig_name(names, i, nm);
        char col[8];
        cae__fig_colour(n <= 10 ? i : 0, col);
        yv = cae__rep_finite(v) ? cae__fig_y(&f, v) : y0;
        cae__text_f(&f.sb, "<rect class=\"bar\" x=\"%f\" y=\"%f\" width=\"%f\" height=\"%f\" fill=\"%s\"/>\n",
                  cx - bwid / 2, yv < y0 ? yv : y0, bwid, fabs(y0 - yv), col);
        if (cae__rep_finite(v) && v == floor(v) && fabs(v) < 1e7)
            cae__rep_fmt_fixed(num, v, 0); /* counts are shown exactly */
        else if (cae__rep_finite(v))
            cae__rep_fmt_g(num, v, 3);
        else
            strcpy(num, "n/a");
        cae__text_f(&f.sb, "<text class=\"value\" x=\"%f\" y=\"%f\" text-anchor=\"middle\" fill=\"#222222\">%t</text>\n",
                  cx, v < 0 ? yv + 14 : yv - 5, num);
        if (rot)
            cae__text_f(&f.sb,
                      "<text class=\"name\" x=\"0\" y=\"0\" transform=\"translate(%f %f) rotate(-40)\" "
                      "text-anchor=\"end\" fill=\"#444444\">%t</text>\n",
                      cx + 4, f.y1 + 14, s);
        else
            cae__text_f(&f.sb,
                      "<text class=\"name\" x=\"%f\" y=\"%f\" text-anchor=\"middle\" fill=\"#444444\">%t</text>\n", cx,
                      f.y1 + 18, s);
    }
    cae_text_puts(&f.sb, "</g>\n");
    if (vmin < 0) /* the zero line */
        cae__text_f(&f.sb, "<line x1=\"%f\" y1=\"%f\" x2=\"%f\" y2=\"%f\" stroke=\"#666666\"/>\n", f.x0,
                  cae__fig_y(&f, 0.0), f.x1, cae__fig_y(&f, 0.0));
    return cae__fig_finish(&f, path, "bar chart", e);
}

/* ---- scatter plot */
CONVAE_DEF int cae_svg_scatter(const char *path, const cae_plot *p, const float *xy, const int *cls, int n, int nclass,
                               const char *const *names, cae_err *e)
{
    cae__fig f;
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300, lw = 0, r, dx, dy;
    int W, H, i, legend = cls && nclass > 0;
    char col[8], nm[32];
    if (!path || (n > 0 && !xy) || n < 0) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_scatter: NULL path or points");
    if (nclass > 1000) return cae__rep_fail(e, CAE_ERR_ARG, "%s: nclass = %d (at most 1000)", path, nclass);
    memset(&f, 0, sizeof f);
    cae__fig_size(p, &W, &H);
    for (i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!cae__rep_finite(x) || !cae__rep_finite(y)) continue;
        if (x < xmin) xmin = x;
        if (x > xmax) xmax = x;
        if (y < ymin) ymin = y;
        if (y > ymax) ymax = y;
    }
    for (i = 0; legend && i < nclass; i++) {
        const char *s = cae__fig_name(names, i, nm);
        double w;
        w = cae__fig_text_w(s, 12);
        if (w > lw) lw = w;
    }
    if (xmin <= xmax) { /* 4% padding so no point sits on the frame */
        dx = (xmax - xmin) * 0.04;
        dy = (ymax - ymin) * 0.04;
        xmin -= dx;
        xmax += dx;
        ymin -= dy;
        ymax += dy;
    }
    cae__axis_lin(&f.ax, xmin, xmax, 0, cae__axis_target(W - 120 - lw, 90));
    cae__axis_lin(&f.ay, ymin, ymax, 0, cae__axis_target(H - 100, 60));
    cae__fig_begin(&f, W, H);
    cae__fig_layout(&f, p, legend ? lw + 44 : 20, 0);
    cae__fig_title(&f, p ? p->title : NULL);
    cae__fig_axes(&f, p, 1);
    r = n > 3000 ? 1.6 : n > 1000 ? 2.2 : n > 200 ? 2.8 : 3.5;
    cae_text_puts(&f.sb, "<g class=\"points\" fill-opacity=\"0.75\">\n");
    for (i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        int c = cls ? cls[i] : 0;
        if (!cae__rep_finite(x) || !cae__rep_finite(y)) continue;
        if (cls && (c < 0 || c >= nclass))
            strcpy(col, "#888888");
        else
            cae__fig_colour(c, col);
        cae__text_f(&f.sb, "<circle class=\"pt\" cx=\"%f\" cy=\"%f\" r=\"%f\" fill=\"%s\"/>\n", cae__fig_x(&f, x),
                  cae__fig_y(&f, y), r, col);
    }
    cae_text_puts(&f.sb, "</g>\n");
    if (legend) {
        double lx = f.x1 + 14, ly = f.y0 + 4;
        cae_text_puts(&f.sb, "<g class=\"legend\" fill=\"#222222\">\n");
        for (i = 0; i < nclass; i++) {
            const char *s = cae__fig_name(names, i, nm);
            cae__fig_colour(i, col);
            cae__text_f(&f.sb, "<circle cx=\"%f\" cy=\"%f\" r=\"5\" fill=\"%s\"/><text x=\"%f\" y=\"%f\">%t</text>\n",
                      lx + 5, ly + 18.0 * i + 6, col, lx + 16, ly + 18.0 * i + 10, s);
        }
        cae_text_puts(&f.sb, "</g>\n");
    }
    return cae__fig_finish(&f, path, "scatter plot", e);
}

/* ---- image grid: one PNG of all cells (white gaps, room under each for its caption) */
static void cae__text_base64(cae_text *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        q[0] = tab[v >> 18];
        q[1] = tab[(v >> 12) & 63];
        q[2] = tab[(v >> 6) & 63];
        q[3] = tab[v & 63];
        cae_text_put(b, q, 4);
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0u);
        q[0] = tab[v >> 18];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = '=';
        cae_text_put(b, q, 4);
    }
}

CONVAE_DEF int cae_svg_image_grid(const char *path, const char *title, const float *imgs, int n, int h, int w, int c,
                                  int cols, const char *const *captions, int scale, cae_err *e)
{
    cae__fig f;
    int rows, gx, gy, PW, PH, W, H, i, y, x, k, rc, capn = 0, top, left;
    unsigned char *px, *png = NULL;
    size_t png_n = 0, npx;
    double cell_w;
    if (!path || (n > 0 && !imgs)) return cae__rep_fail(e, CAE_ERR_ARG, "cae_svg_image_grid: NULL path or images");
    if (n < 1 || h < 1 || w < 1 || (c != 1 && c != 3) || h > 4096 || w > 4096 || n > 100000)
        return cae__rep_fail(e, CAE_ERR_ARG, "%s: bad image grid shape n=%d h=%d w=%d c=%d (c must be 1 or 3)", path, n, h,
                         w, c);
    if (cols < 1) cols = n < 10 ? n : 10;
    if (cols > n) cols = n;
    rows = (n + cols - 1) / cols;
    if (scale <= 0) scale = 90 / (h > w ? h : w);
    if (scale < 1) scale = 1;
    if (scale > 32) scale = 32;
    for (i = 0; captions && i < n; i++)
        if (captions[i] && *captions[i]) {
            capn = 1;
            break;
        }
    gx = (6 + scale - 1) / scale; /* gaps in image pixels: ~6 px on screen */
    gy = capn ? (22 + scale - 1) / scale : gx;
    PW = cols * w + (cols - 1) * gx;
    PH = rows * h + (rows - 1) * gy + (capn ? gy - gx : 0); /* the last caption row too */
    npx = cae__rep_mul(cae__rep_mul((size_t)PW, (size_t)PH), (size_t)c);
    if (!npx || (double)PW * scale > 30000 || (double)PH * scale > 30000)
        return cae__rep_fail(e, CAE_ERR_ARG, "%s: image grid of %d x %d cells of %d x %d at scale %d is too large", path,
                         rows, cols, h, w, scale);
    px = (unsigned char *)CONVAE_MALLOC(npx);
    if (!px) return cae__rep_fail(e, CAE_ERR_NOMEM, "%s: no memory for the %d x %d grid image", path, PW, PH);
    memset(px, 255, npx);
    for (k = 0; k < n; k++) {
        int r0 = (k / cols) * (h + gy), c0 = (k % cols) * (w + gx);
        const float *src = imgs + (size_t)k * (size_t)h * (size_t)w * (size_t)c;
        for (y = 0; y < h; y++)
            for (x = 0; x < w * c; x++) {
                float v = src[(size_t)y * (size_t)w * (size_t)c + (size_t)x];
                int q = v > 0 ? (v < 1 ? (int)(v * 255.0f + 0.5f) : 255) : 0; /* NaN -> 0 */
                px[((size_t)(r0 + y) * (size_t)PW + (size_t)c0) * (size_t)c + (size_t)x] = (unsigned char)q;
            }
    }
    rc = cae_png_encode(px, PW, PH, c, &png, &png_n, e);
    CONVAE_FREE(px);
    if (rc) return rc;
    memset(&f, 0, sizeof f);
    cell_w = (double)w * scale;
    left = 16;
    top = title && *title ? 42 : 12;
    W = PW * scale + 2 * left;
    if (title && *title && cae__fig_text_w(title, 16) + 32 > W) W = (int)(cae__fig_text_w(title, 16) + 32);
    H = top + PH * scale + 12;
    left = (W - PW * scale) / 2;
    cae__fig_begin(&f, W, H);
    cae__fig_title(&f, title);
    cae__text_f(&f.sb,
              "<image class=\"grid\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" preserveAspectRatio=\"none\" "
              "image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" ",
              left, top, PW * scale, PH * scale);
    cae_text_puts(&f.sb, "xlink:href=\"data:image/png;base64,");
    cae__text_base64(&f.sb, png, png_n);
    cae_text_puts(&f.sb, "\"/>\n");
    CONVAE_FREE(png);
    if (capn) {
        cae_text_puts(&f.sb, "<g class=\"captions\" fill=\"#222222\" text-anchor=\"middle\">\n");
        for (k = 0; k < n; k++) {
            double cx = left + ((k % cols) * (w + gx)) * (double)scale + cell_w / 2;
            double cy = top + ((k / cols) * (h + gy) + h) * (double)scale + 15;
            if (!captions[k] || !*captions[k]) continue;
            if (cae__fig_text_w(captions[k], 12) > cell_w + gx * scale - 4) /* squeeze what would not fit */
                cae__text_f(&f.sb,
                          "<text class=\"caption\" x=\"%f\" y=\"%f\" textLength=\"%f\" "
                          "lengthAdjust=\"spacingAndGlyphs\">%t</text>\n",
                          cx, cy, cell_w + gx * scale - 4, captions[k]);
            else
                cae__text_f(&f.sb, "<text class=\"caption\" x=\"%f\" y=\"%f\">%t</text>\n", cx, cy, captions[k]);
        }
        cae_text_puts(&f.sb, "</g>\n");
    }
    return cae__fig_finish(&f, path, "image grid", e);
}


/* ================================================================ PCA, t-SNE, kNN */

/* Eigen-decomposition of the symmetric m x m matrix a (row-major, destroyed) by cyclic Jacobi
   rotations: eigenvalues into w, eigenvectors into the columns of v, sorted by decreasing value. */
static void cae__pca_jacobi(double *a, int m, double *w, double *v)
{
    int p, q, k, sweep;
    for (p = 0; p < m; p++)
        for (q = 0; q < m; q++) v[p * m + q] = p == q;
    for (sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (p = 0; p < m; p++) {
            diag += a[p * m + p] * a[p * m + p];
            for (q = p + 1; q < m; q++) off += a[p * m + q] * a[p * m + q];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (p = 0; p < m; p++)
            for (q = p + 1; q < m; q++) {
                double apq = a[p * m + q], th, t, c, s;
                if (apq == 0) continue;
                th = (a[q * m + q] - a[p * m + p]) / (2 * apq);
                t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
                c = 1 / sqrt(t * t + 1);
                s = t * c;
                for (k = 0; k < m; k++) { /* columns p, q */
                    double akp = a[k * m + p], akq = a[k * m + q];
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for (k = 0; k < m; k++) { /* rows p, q */
                    double apk = a[p * m + k], aqk = a[q * m + k];
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for (k = 0; k < m; k++) {
                    double vkp = v[k * m + p], vkq = v[k * m + q];
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
    }
    for (p = 0; p < m; p++) w[p] = a[p * m + p];
    for (p = 0; p < m; p++) { /* selection sort, columns along */
        int best = p;
        for (q = p + 1; q < m; q++)
            if (w[q] > w[best]) best = q;
        if (best != p) {
            double t = w[p];
            w[p] = w[best];
            w[best] = t;
            for (k = 0; k < m; k++) {
                t = v[k * m + p];
                v[k * m + p] = v[k * m + best];
                v[k * m + best] = t;
            }
        }
    }
}

/* y (n x m) = xc (n x d) v (d x m). Blocks of 4 rows x 8 columns held in fixed-size local arrays
   (the shape compilers turn into vector code at -O2), over slices of 256 rows of v that stay in
   cache while every row block passes by. */
static void cae__pca_xv(const float *xc, int n, int d, const float *v, int m, float *y)
{
    int t0, nb = (n + 3) / 4;
    memset(y, 0, sizeof(float) * (size_t)n * (size_t)m);
    for (t0 = 0; t0 < d; t0 += 256) {
        int t1 = t0 + 256 < d ? t0 + 256 : d, b;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)n * (t1 - t0) * m > 1e6)
#endif
        for (b = 0; b < nb; b++) {
            int i0 = 4 * b, nr = n - i0 < 4 ? n - i0 : 4, r, t, j, l;
            const float *xr[4];
            for (r = 0; r < 4; r++) xr[r] = xc + (size_t)(r < nr ? i0 + r : i0) * d;
            for (j = 0; j + 8 <= m; j += 8) {
                float acc[4][8];
                for (r = 0; r < 4; r++)
                    for (l = 0; l < 8; l++) acc[r][l] = y[(size_t)(i0 + (r < nr ? r : 0)) * m + j + l];
                for (t = t0; t < t1; t++) {
                    const float *vt = v + (size_t)t * m + j;
                    float a0 = xr[0][t], a1 = xr[1][t], a2 = xr[2][t], a3 = xr[3][t];
                    for (l = 0; l < 8; l++) {
                        acc[0][l] += a0 * vt[l];
                        acc[1][l] += a1 * vt[l];
                        acc[2][l] += a2 * vt[l];
                        acc[3][l] += a3 * vt[l];
                    }
                }
                for (r = 0; r < nr; r++)
                    for (l = 0; l < 8; l++) y[(size_t)(i0 + r) * m + j + l] = acc[r][l];
            }
            for (; j < m; j++) /* columns past the last multiple of 8 (only when m = d is small) */
                for (r = 0; r < nr; r++) {
                    float s = y[(size_t)(i0 + r) * m + j];
                    for (t = t0; t < t1; t++) s += xr[r][t] * v[(size_t)t * m + j];
                    y[(size_t)(i0 + r) * m + j] = s;
                }
        }
    }
}

/* Orthonormalises the m columns of v (d x m, row-major) by modified Gram-Schmidt, twice; a
   column that vanishes (rank deficiency) is replaced by a fresh random direction. col is a
   d-double scratch vector. */
static void cae__pca_orth(float *v, int d, int m, double *col, double *basis, cae_rng *r)
{
    int j, q, t, tries;
    for (j = 0; j < m; j++) {
        double *bj = basis + (size_t)j * d, nrm0 = 0, nrm = 0;
        for (t = 0; t < d; t++) {
            col[t] = v[(size_t)t * m + j];
            nrm0 += col[t] * col[t];
        }
        for (tries = 0; tries < 5; tries++) {
            int pass;
            for (pass = 0; pass < 2; pass++)
                for (q = 0; q < j; q++) {
                    const double *bq = basis + (size_t)q * d;
                    double dot = 0;
                    for (t = 0; t < d; t++) dot += bq[t] * col[t];
                    for (t = 0; t < d; t++) col[t] -= dot * bq[t];
                }
            nrm = 0;
            for (t = 0; t < d; t++) nrm += col[t] * col[t];
            if (nrm > 1e-20 * nrm0 && nrm > 1e-300) break;
            for (t = 0; t < d; t++) col[t] = cae_rng_normal(r); /* degenerate: a new direction */
            nrm0 = (double)d;
        }
        nrm = 1 / sqrt(nrm > 1e-300 ? nrm : 1e-300);
        for (t = 0; t < d; t++) {
            bj[t] = col[t] * nrm;
            v[(size_t)t * m + j] = (float)bj[t];
        }
    }
}

/* cae_pca with a cap on the iterations. t-SNE's pre-reduction needs the leading subspace, not
   every digit of the tail components, and takes 6 (scikit-learn's randomized PCA takes 7 power
   steps without the Rayleigh-Ritz step this one has). */
static int cae__pca_run(const float *x, int n, int d, int k, float *out, float *evr, int maxit, cae_err *e)
{
    float *xc = NULL, *xt = NULL, *v = NULL, *y = NULL, *z = NULL;
    double *mean = NULL, *col = NULL, *basis = NULL, *bm = NULL, *w = NULL, *u = NULL, *lam = NULL, total = 0;
    int m, i, j, t, it, q, rc = CAE_OK;
    size_t nd;
    cae_rng r = cae_rng_seed(0x5CA1AB1EULL);
    if (!x || !out) return cae__rep_fail(e, CAE_ERR_ARG, "cae_pca: NULL input or output");
    if (n < 1 || d < 1 || k < 1 || k > d || k > 64)
        return cae__rep_fail(e, CAE_ERR_ARG, "cae_pca: n = %d, d = %d, k = %d (want n, d >= 1 and 1 <= k <= min(d, 64))", n,
                         d, k);
    nd = cae__rep_mul((size_t)n, (size_t)d);
    if (!nd || nd > ((size_t)-1) / sizeof(float))
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_pca: %d x %d is too large", n, d);
    m = (k + 10 + 7) / 8 * 8; /* oversampling speeds convergence; whole blocks of 8 for the kernels */
    if (m > d) m = d;
    xc = (float *)CONVAE_MALLOC(nd * sizeof(float));
    xt = (float *)CONVAE_MALLOC(nd * sizeof(float)); /* X^T too: both products then stream rows */
    v = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)d * (size_t)m);
    z = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)d * (size_t)m);
    y = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)n * (size_t)m);
    mean = (double *)cae__rep_alloc(sizeof(double) * (size_t)d);
    col = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)d);
    basis = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)d * (size_t)m);
    bm = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)m * (size_t)m);
    u = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)m * (size_t)m);
    w = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)m);
    lam = (double *)cae__rep_alloc(sizeof(double) * (size_t)m);
    if (!xc || !xt || !v || !z || !y || !mean || !col || !basis || !bm || !u || !w || !lam) {
        rc = cae__rep_fail(e, CAE_ERR_NOMEM, "cae_pca: out of memory for %d x %d data", n, d);
        goto done;
    }
    for (i = 0; i < n; i++)
        for (t = 0; t < d; t++) mean[t] += x[(size_t)i * d + t];
    for (t = 0; t < d; t++) mean[t] /= n;
    for (i = 0; i < n; i++)
        for (t = 0; t < d; t++) {
            double c = x[(size_t)i * d + t] - mean[t];
            if (!(c == c) || c - c != 0) {
                rc = cae__rep_fail(e, CAE_ERR_ARG, "cae_pca: x[%d][%d] is not finite", i, t);
                goto done;
            }
            xc[(size_t)i * d + t] = (float)c;
            xt[(size_t)t * n + i] = (float)c;
            total += c * c;
        }
    if (total <= 0) { /* all points equal: no direction has variance */
        memset(out, 0, sizeof(float) * (size_t)n * (size_t)k);
        if (evr) memset(evr, 0, sizeof(float) * (size_t)k);
        goto done;
    }
    for (nd = 0; nd < (size_t)d * (size_t)m; nd++) v[nd] = cae_rng_normal(&r);
    cae__pca_orth(v, d, m, col, basis, &r);
    /* Subspace iteration on A = X^T X with a Rayleigh-Ritz step each pass: the subspace
       converges at lambda_m / lambda_j per pass, and the Ritz step separates the directions
       inside it at once (plain power steps would need lambda_1 / lambda_0 per pass). Stop when
       no Ritz value moves by more than 1e-5 of the largest. */
    for (it = 0; it < maxit && m < d; it++) {
        double change = 0;
        cae__pca_xv(xc, n, d, v, m, y);
        cae__pca_xv(xt, d, n, y, m, z); /* z = X^T (X v) */
        memset(bm, 0, sizeof(double) * (size_t)m * (size_t)m);
        for (t = 0; t < d; t++) /* H = V^T Z */
            for (i = 0; i < m; i++) {
                double vi = v[(size_t)t * m + i];
                const float *zt = z + (size_t)t * m;
                for (j = 0; j < m; j++) bm[i * m + j] += vi * zt[j];
            }
        for (i = 0; i < m; i++)
            for (j = i + 1; j < m; j++) bm[i * m + j] = bm[j * m + i] = 0.5 * (bm[i * m + j] + bm[j * m + i]);
        cae__pca_jacobi(bm, m, w, u);
        for (j = 0; j < k; j++) {
            if (fabs(w[j] - lam[j]) > change) change = fabs(w[j] - lam[j]);
            lam[j] = w[j];
        }
        for (t = 0; t < d; t++) { /* v = Z U: A times the Ritz vectors, in Ritz order */
            const float *zt = z + (size_t)t * m;
            for (j = 0; j < m; j++) {
                double s = 0;
                for (q = 0; q < m; q++) s += (double)zt[q] * u[q * m + j];
                col[j] = s;
            }
            for (j = 0; j < m; j++) v[(size_t)t * m + j] = (float)col[j];
        }
        cae__pca_orth(v, d, m, col, basis, &r);
        if (it >= 1 && change <= 1e-5 * lam[0]) break;
    }
    /* Rayleigh-Ritz: diagonalise V^T A V = (XV)^T (XV) in the subspace */
    cae__pca_xv(xc, n, d, v, m, y);
    for (i = 0; i < m; i++)
        for (j = 0; j < m; j++) {
            double s = 0;
            for (q = 0; q < n; q++) s += (double)y[(size_t)q * m + i] * y[(size_t)q * m + j];
            bm[i * m + j] = s;
        }
    cae__pca_jacobi(bm, m, w, u);
    for (j = 0; j < k; j++) {
        double big = 0, sgn = 1;
        for (t = 0; t < d; t++) { /* loading of component j on input t; the sign follows the largest */
            double l = 0;
            for (q = 0; q < m; q++) l += (double)v[(size_t)t * m + q] * u[q * m + j];
            if (fabs(l) > big + 1e-12 * big) {
                big = fabs(l);
                sgn = l < 0 ? -1 : 1;
            }
        }
        for (i = 0; i < n; i++) {
            double s = 0;
            for (q = 0; q < m; q++) s += (double)y[(size_t)i * m + q] * u[q * m + j];
            out[(size_t)i * k + j] = (float)(sgn * s);
        }
        if (evr) evr[j] = (float)(w[j] > 0 ? (w[j] < total ? w[j] / total : 1.0) : 0.0);
    }
done:
    CONVAE_FREE(xc);
    CONVAE_FREE(xt);
    CONVAE_FREE(v);
    CONVAE_FREE(z);
    CONVAE_FREE(y);
    CONVAE_FREE(mean);
    CONVAE_FREE(col);
    CONVAE_FREE(basis);
    CONVAE_FREE(bm);
    CONVAE_FREE(u);
    CONVAE_FREE(w);
    CONVAE_FREE(lam);
    return rc;
}

CONVAE_DEF int cae_pca(const float *x, int n, int d, int k, float *out, float *evr, cae_err *e)
{
    return cae__pca_run(x, n, d, k, out, evr, 30, e);
}

/* Row i of the t-SNE input affinities: on entry p[j] holds the squared distances (p[i] is
   ignored), on return the conditional probabilities p(j|i) whose entropy is log(perplexity).
   The precision beta is found by Newton steps on H(beta) (dH/dbeta = -beta Var(d)), kept
   inside a bisection bracket, so a few passes over the row suffice instead of ~30. */
static void cae__tsne_row(float *p, int n, int i, double perp)
{
    double beta, lo = -1, hi = -1, target = log(perp), dmin = 1e300, dmean = 0, sum = 0;
    int j, it;
    for (j = 0; j < n; j++)
        if (j != i && p[j] < dmin) dmin = p[j];
    for (j = 0; j < n; j++)
        if (j != i) dmean += p[j] - dmin;
    dmean /= n - 1;
    beta = dmean > 0 ? 1.0 / dmean : 1.0; /* the scale of the distances: a fair first guess */
    for (it = 0; it < 100; it++) {
        double h, m1 = 0, m2 = 0, var, nb;
        sum = 0;
        for (j = 0; j < n; j++) { /* shifted by the nearest distance: exp never underflows to all 0 */
            double dj, pj;
            if (j == i) continue;
            dj = p[j] - dmin;
            pj = exp(-dj * beta);
            sum += pj;
            m1 += dj * pj;
            m2 += dj * dj * pj;
        }
        m1 /= sum;
        m2 /= sum;
        h = log(sum) + beta * m1;
        if (fabs(h - target) < 1e-5) break;
        if (h > target)
            lo = beta; /* too flat: beta must grow */
        else
            hi = beta;
        var = m2 - m1 * m1;
        nb = var > 0 ? beta + (h - target) / (beta * var) : -1;
        if (!(nb > (lo > 0 ? lo : 0)) || (hi > 0 && !(nb < hi))) /* Newton left the bracket: bisect */
            nb = lo < 0 ? beta / 2 : hi < 0 ? beta * 2 : 0.5 * (lo + hi);
        beta = nb;
    }
    sum = 0;
    for (j = 0; j < n; j++) {
        double pj = j == i ? 0.0 : exp(-(p[j] - dmin) * beta);
        p[j] = (float)pj;
        sum += pj;
    }
    for (j = 0; j < n; j++) p[j] = (float)(p[j] / sum);
}

/* Row i of the gradient: acc = {sum_j q_ij, sum_j p_ij q_ij (y_i - y_j), sum_j q_ij^2 (y_i - y_j)}
   with q_ij = 1 / (1 + |y_i - y_j|^2) (x and y parts). Pairs in float, eight lanes in fixed-size
   arrays (vector code at -O2), the lanes added into doubles every 256 columns. The j = i term
   adds exactly 1 to the q sum (p_ii = 0, y_i - y_i = 0) and is taken out at the end. */
static void cae__tsne_grad_row(const float *pi, const float *yx, const float *yy, int n, int i, double *acc)
{
    float xi = yx[i], yi = yy[i];
    double z = 0, ax = 0, ay = 0, rx = 0, ry = 0;
    int j0, j, l;
    for (j0 = 0; j0 < n; j0 += 256) {
        int j1 = j0 + 256 < n ? j0 + 256 : n;
        float sz[8], sax[8], say[8], srx[8], sry[8];
        for (l = 0; l < 8; l++) sz[l] = sax[l] = say[l] = srx[l] = sry[l] = 0;
        for (j = j0; j + 8 <= j1; j += 8)
            for (l = 0; l < 8; l++) {
                float dx = xi - yx[j + l], dy = yi - yy[j + l];
                float q = 1.0f / (1.0f + dx * dx + dy * dy), pq = pi[j + l] * q;
                sz[l] += q;
                sax[l] += pq * dx;
                say[l] += pq * dy;
                q *= q;
                srx[l] += q * dx;
                sry[l] += q * dy;
            }
        for (; j < j1; j++) {
            float dx = xi - yx[j], dy = yi - yy[j];
            float q = 1.0f / (1.0f + dx * dx + dy * dy), pq = pi[j] * q;
            sz[0] += q;
            sax[0] += pq * dx;
            say[0] += pq * dy;
            q *= q;
            srx[0] += q * dx;
            sry[0] += q * dy;
        }
        for (l = 0; l < 8; l++) {
            z += sz[l];
            ax += sax[l];
            ay += say[l];
            rx += srx[l];
            ry += sry[l];
        }
    }
    acc[0] = z - 1.0;
    acc[1] = ax;
    acc[2] = ay;
    acc[3] = rx;
    acc[4] = ry;
}

CONVAE_DEF int cae_tsne(const float *x, int n, int d, const cae_tsne_opts *o, float *out_xy, cae_err *e)
{
    double perp = o && o->perplexity > 0 ? o->perplexity : 30.0, lr, zsum, mx, my, sx;
    int iters = o && o->iters > 0 ? o->iters : 1000, dz = d > 50 ? 50 : d, i, it, early, rc = CAE_OK;
    unsigned long long seed = o && o->seed ? o->seed : 42ULL;
    float *zf = NULL, *P = NULL, *init = NULL, *yf = NULL;
    double *Y = NULL, *U = NULL, *G = NULL, *gain = NULL, *acc = NULL;
    size_t nn;
    cae_rng r = cae_rng_seed(seed);
    if (!x || !out_xy) return cae__rep_fail(e, CAE_ERR_ARG, "cae_tsne: NULL input or output");
    if (n < 1 || d < 1) return cae__rep_fail(e, CAE_ERR_ARG, "cae_tsne: n = %d, d = %d (want >= 1)", n, d);
    nn = cae__rep_mul((size_t)n, (size_t)n);
    if (!nn || n > 46340 || nn > ((size_t)-1) / sizeof(float))
        return cae__rep_fail(e, CAE_ERR_NOMEM, "cae_tsne: %d points need an n x n matrix: too large", n);
    if (n < 3) { /* nothing to arrange */
        for (i = 0; i < 2 * n; i++) out_xy[i] = i == 2 ? 1.0f : 0.0f;
        return CAE_OK;
    }
    if (perp > (n - 1) / 3.0) perp = (n - 1) / 3.0;
    if (perp < 1) perp = 1;
    lr = o && o->learning_rate > 0 ? o->learning_rate : (n / 48.0 > 50 ? n / 48.0 : 50.0);
    early = iters >= 1000 ? 250 : iters / 4;
    P = (float *)CONVAE_MALLOC(nn * sizeof(float));
    init = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)n * 2);
    Y = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)n * 2);
    U = (double *)cae__rep_alloc(sizeof(double) * (size_t)n * 2);
    G = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)n * 2);
    gain = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)n * 2);
    acc = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)n * 5);
    yf = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)n * 2);
    if (d > 50) zf = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)n * 50);
    if (!P || !init || !Y || !U || !G || !gain || !acc || !yf || (d > 50 && !zf)) {
        rc = cae__rep_fail(e, CAE_ERR_NOMEM, "cae_tsne: out of memory for %d points", n);
        goto done;
    }
    /* the data t-SNE sees: the first 50 principal components when d > 50; the first two of
       them (the 2-D PCA) are the initial layout */
    if (d > 50) {
        rc = cae__pca_run(x, n, d, 50, zf, NULL, 6, e);
        if (rc) goto done;
        for (i = 0; i < n; i++) {
            init[2 * i] = zf[(size_t)i * 50];
            init[2 * i + 1] = zf[(size_t)i * 50 + 1];
        }
    } else {
        float *tmp = (float *)CONVAE_MALLOC(sizeof(float) * (size_t)n * 2);
        if (!tmp) {
            rc = cae__rep_fail(e, CAE_ERR_NOMEM, "cae_tsne: out of memory for %d points", n);
            goto done;
        }
        rc = cae__pca_run(x, n, d, d >= 2 ? 2 : 1, tmp, NULL, 30, e);
        for (i = 0; i < n; i++) {
            init[2 * i] = tmp[d >= 2 ? 2 * i : i];
            init[2 * i + 1] = d >= 2 ? tmp[2 * i + 1] : 0.0f;
        }
        CONVAE_FREE(tmp);
        if (rc) goto done;
    }
    {
        const float *z = d > 50 ? zf : x;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) if (n >= 256)
#endif
        for (i = 0; i < n; i++) {
            float *pi = P + (size_t)i * n;
            const float *zi = z + (size_t)i * dz;
            int j, t;
            for (j = 0; j < n; j++) {
                const float *zj = z + (size_t)j * dz;
                double s = 0;
                for (t = 0; t < dz; t++) {
                    double df = (double)zi[t] - zj[t];
                    s += df * df;
                }
                pi[j] = (float)s;
            }
            cae__tsne_row(pi, n, i, perp);
        }
    }
    for (i = 0; i < n; i++) { /* symmetric joint probabilities, summing to 1 */
        int j;
        P[(size_t)i * n + i] = 0;
        for (j = i + 1; j < n; j++) {
            double pij = ((double)P[(size_t)i * n + j] + P[(size_t)j * n + i]) / (2.0 * n);
            float f = (float)(pij > 1e-12 ? pij : 1e-12);
            P[(size_t)i * n + j] = f;
            P[(size_t)j * n + i] = f;
        }
    }
    /* init: the 2-D PCA scaled to standard deviation 1e-4 (as scikit-learn), a 1e-6 jitter
       from the seed to part duplicates; random if the PCA is flat */
    mx = 0;
    sx = 0;
    for (i = 0; i < n; i++) mx += init[2 * i];
    mx /= n;
    for (i = 0; i < n; i++) sx += (init[2 * i] - mx) * (init[2 * i] - mx);
    sx = sqrt(sx / n);
    for (i = 0; i < 2 * n; i++) {
        double jit = cae_rng_normal(&r);
        Y[i] = sx > 0 ? init[i] / sx * 1e-4 + 1e-6 * jit : 1e-4 * jit;
        gain[i] = 1;
    }
    for (it = 0; it < iters; it++) {
        double exag = it < early ? 12.0 : 1.0, mom = it < early ? 0.5 : 0.8;
        for (i = 0; i < n; i++) {
            yf[i] = (float)Y[2 * i];
            yf[n + i] = (float)Y[2 * i + 1];
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= 512)
#endif
        for (i = 0; i < n; i++) cae__tsne_grad_row(P + (size_t)i * n, yf, yf + n, n, i, acc + 5 * i);
        zsum = 0;
        for (i = 0; i < n; i++) zsum += acc[5 * i];
        for (i = 0; i < n; i++) {
            G[2 * i] = 4.0 * (exag * acc[5 * i + 1] - acc[5 * i + 3] / zsum);
            G[2 * i + 1] = 4.0 * (exag * acc[5 * i + 2] - acc[5 * i + 4] / zsum);
        }
        mx = my = 0;
        for (i = 0; i < 2 * n; i++) { /* delta-bar-delta gains, momentum (scikit-learn's rule) */
            gain[i] = U[i] * G[i] < 0 ? gain[i] + 0.2 : gain[i] * 0.8;
            if (gain[i] < 0.01) gain[i] = 0.01;
            U[i] = mom * U[i] - lr * gain[i] * G[i];
            Y[i] += U[i];
            if (i & 1)
                my += Y[i];
            else
                mx += Y[i];
        }
        mx /= n;
        my /= n;
        for (i = 0; i < n; i++) {
            Y[2 * i] -= mx;
            Y[2 * i + 1] -= my;
        }
    }
    for (i = 0; i < 2 * n; i++) out_xy[i] = (float)Y[i];
done:
    CONVAE_FREE(zf);
    CONVAE_FREE(P);
    CONVAE_FREE(init);
    CONVAE_FREE(Y);
    CONVAE_FREE(U);
    CONVAE_FREE(G);
    CONVAE_FREE(gain);
    CONVAE_FREE(acc);
    CONVAE_FREE(yf);
    return rc;
}

/* squared Euclidean distance with eight partial sums (a fixed order, so the compiler may use
   vector registers and every build gets the same numbers) */
static double cae__knn_dist2(const float *a, const float *b, int d)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int t, l;
    double r = 0;
    for (t = 0; t + 8 <= d; t += 8)
        for (l = 0; l < 8; l++) {
            float df = a[t + l] - b[t + l];
            s[l] += df * df;
        }
    for (; t < d; t++) {
        double df = (double)a[t] - b[t];
        r += df * df;
    }
    for (l = 0; l < 8; l++) r += s[l];
    return r;
}

CONVAE_DEF float cae_knn_accuracy(const float *x, const int *labels, int n, int d, int k)
{
    double *bd;
    int *bi, *hit, *cnt, b, nb, i, correct = 0;
    if (!x || !labels || n < 2 || d < 1 || k < 1) return -1.0f;
    if (k > n - 1) k = n - 1;
    bd = (double *)CONVAE_MALLOC(sizeof(double) * (size_t)n * (size_t)k);
    bi = (int *)CONVAE_MALLOC(sizeof(int) * (size_t)n * (size_t)k);
    hit = (int *)CONVAE_MALLOC(sizeof(int) * (size_t)n);
    cnt = (int *)cae__rep_alloc(sizeof(int) * (size_t)n);
    if (!bd || !bi || !hit || !cnt || !cae__rep_mul(cae__rep_mul((size_t)n, (size_t)k), sizeof(double))) {
        CONVAE_FREE(bd);
        CONVAE_FREE(bi);
        CONVAE_FREE(hit);
        CONVAE_FREE(cnt);
        return -1.0f;
    }
    nb = (n + 15) / 16;
    /* blocks of 16 query rows: each candidate row is read once per block, from cache */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if ((double)n * n * d > 1e7)
#endif
    for (b = 0; b < nb; b++) {
        int i0 = b * 16, i1 = i0 + 16 < n ? i0 + 16 : n, j, q;
        for (j = 0; j < n; j++) {
            const float *xj = x + (size_t)j * d;
            for (q = i0; q < i1; q++) { /* the k nearest, sorted; equal distances keep the lower index */
                double *nd = bd + (size_t)q * k, dj;
                int *ni = bi + (size_t)q * k, p;
                if (j == q) continue;
                dj = cae__knn_dist2(x + (size_t)q * d, xj, d);
                if (cnt[q] == k && !(dj < nd[k - 1])) continue;
                p = cnt[q] < k ? cnt[q]++ : k - 1;
                while (p > 0 && dj < nd[p - 1]) {
                    nd[p] = nd[p - 1];
                    ni[p] = ni[p - 1];
                    p--;
                }
                nd[p] = dj;
                ni[p] = j;
            }
        }
        for (q = i0; q < i1; q++) { /* votes; a tie goes to the label met first, i.e. nearer */
            const int *ni = bi + (size_t)q * k;
            int a, c, best = 0, bestc = 0;
            for (a = 0; a < cnt[q]; a++) {
                c = 0;
                for (j = 0; j < cnt[q]; j++) c += labels[ni[j]] == labels[ni[a]];
                if (c > bestc) {
                    bestc = c;
                    best = a;
                }
            }
            hit[q] = labels[ni[best]] == labels[q];
        }
    }
    for (i = 0; i < n; i++) correct += hit[i];
    CONVAE_FREE(bd);
    CONVAE_FREE(bi);
    CONVAE_FREE(hit);
    CONVAE_FREE(cnt);
    return (float)correct / (float)n;
}

#endif /* CONVAE_REPORT_IMPLEMENTATION_DONE */
#endif /* CONVAE_REPORT_IMPLEMENTATION */
