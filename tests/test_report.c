/* Tests of examples/convae_report.h, the lab's pictures and analysis: the zlib/PNG encoder
   (read back by tests/png_decode.h), SVG figures, PCA, t-SNE and the kNN score. Exits non-zero
   on any failure and says what differed by how much.

     cc -std=c99 -Wall -Wextra -pedantic -O2 -fopenmp -I. tests/test_report.c -o test_report -lm

   The SVG files go to the current directory (test_report_*.svg) and are removed afterwards;
   when xmllint is on the PATH each one must pass `xmllint --noout`. */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"
#define CONVAE_REPORT_IMPLEMENTATION
#include "../examples/convae_report.h"
#include "png_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int g_checks, g_fails;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        g_checks++;                                                                                                    \
        if (!(cond)) {                                                                                                 \
            g_fails++;                                                                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

/* ------------------------------------------------------------------ independent references */

/* bitwise CRC-32 (not the table in convae.h) */
static unsigned long ref_crc32(const unsigned char *p, size_t n)
{
    unsigned long c = 0xFFFFFFFFUL;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320UL & (0UL - (c & 1UL)));
    }
    return c ^ 0xFFFFFFFFUL;
}

static unsigned long ref_adler32(const unsigned char *p, size_t n)
{
    unsigned long a = 1, b = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        a = (a + p[i]) % 65521UL;
        b = (b + a) % 65521UL;
    }
    return (b << 16) | a;
}

static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | (unsigned long)p[3];
}

/* Walks the chunks of a PNG: every CRC (by ref_crc32), IHDR first with the expected fields,
   at least one IDAT, IEND last with nothing after it. */
static void check_png_chunks(const unsigned char *png, size_t n, int w, int h, int c, const char *what)
{
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    static const int ctype[5] = {0, 0, 4, 2, 6};
    size_t pos = 8;
    int nchunk = 0, nidat = 0, iend = 0;
    CHECK(n >= 8 && memcmp(png, sig, 8) == 0, "%s: PNG signature", what);
    while (pos + 12 <= n && !iend) {
        unsigned long len = be32(png + pos), crc;
        if (len > n - pos - 12) break;
        crc = ref_crc32(png + pos + 4, (size_t)len + 4);
        CHECK(crc == be32(png + pos + 8 + len), "%s: chunk %d (%.4s) CRC stored %lx, computed %lx", what, nchunk,
              (const char *)png + pos + 4, be32(png + pos + 8 + len), crc);
        if (nchunk == 0) {
            const unsigned char *d = png + pos + 8;
            CHECK(memcmp(png + pos + 4, "IHDR", 4) == 0 && len == 13, "%s: first chunk is not a 13-byte IHDR", what);
            CHECK((int)be32(d) == w && (int)be32(d + 4) == h, "%s: IHDR size %lu x %lu, expected %d x %d", what,
                  be32(d), be32(d + 4), w, h);
            CHECK(d[8] == 8 && d[9] == ctype[c] && d[10] == 0 && d[11] == 0 && d[12] == 0,
                  "%s: IHDR depth %d type %d (expected 8, %d), methods %d %d %d", what, d[8], d[9], ctype[c], d[10],
                  d[11], d[12]);
        }
        if (memcmp(png + pos + 4, "IDAT", 4) == 0) nidat++;
        if (memcmp(png + pos + 4, "IEND", 4) == 0) iend = 1;
        pos += 12 + len;
        nchunk++;
    }
    CHECK(nidat >= 1, "%s: no IDAT chunk", what);
    CHECK(iend && pos == n, "%s: IEND missing or %zu bytes after it", what, n - (pos < n ? pos : n));
}

/* -------------------------------------------------------------------------------- PNG */

static void fill_image(unsigned char *px, int w, int h, int c, int pattern, cae_rng *r)
{
    int x, y, k;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (k = 0; k < c; k++) {
                size_t i = ((size_t)y * w + x) * c + k;
                if (pattern == 0)
                    px[i] = (unsigned char)(cae_rng_next(r) >> 56);
                else if (pattern == 1)
                    px[i] = (unsigned char)(37 * (k + 1));
                else
                    px[i] = (unsigned char)((x * 255 / (w > 1 ? w - 1 : 1) + y * 3 + k * 50) & 255);
            }
}

static void test_png_roundtrip(void)
{
    static const int sizes[6][2] = {{1, 1}, {1000, 3}, {3, 1000}, {37, 23}, {64, 64}, {2, 2}};
    static const char *const pname[3] = {"random", "flat", "gradient"};
    cae_rng r = cae_rng_seed(11);
    int c, si, pat;
    for (c = 1; c <= 4; c++)
        for (si = 0; si < 6; si++)
            for (pat = 0; pat < 3; pat++) {
                int w = sizes[si][0], h = sizes[si][1], w2 = 0, h2 = 0, c2 = 0, rc;
                size_t n = (size_t)w * h * c, plen = 0, i;
                unsigned char *px = (unsigned char *)malloc(n), *png = NULL, *back = NULL;
                cae_err e;
                char what[96];
                sprintf(what, "png %dx%dx%d %s", w, h, c, pname[pat]);
                fill_image(px, w, h, c, pat, &r);
                rc = cae_png_encode(px, w, h, c, &png, &plen, &e);
                CHECK(rc == CAE_OK, "%s: encode returned %d: %s", what, rc, rc ? e.msg : "");
                if (rc == CAE_OK) {
                    check_png_chunks(png, plen, w, h, c, what);
                    rc = png_decode(png, plen, &back, &w2, &h2, &c2, &e);
                    CHECK(rc == CAE_OK, "%s: decode returned %d: %s", what, rc, rc ? e.msg : "");
                    if (rc == CAE_OK) {
                        CHECK(w2 == w && h2 == h && c2 == c, "%s: decoded as %d x %d x %d", what, w2, h2, c2);
                        for (i = 0; i < n && back[i] == px[i]; i++) {
                        }
                        CHECK(i == n, "%s: pixel byte %zu differs: %d vs %d", what, i, i < n ? back[i] : 0,
                              i < n ? px[i] : 0);
                    }
                    if (pat == 1 && n >= 3000)
                        CHECK(plen < n / 20, "%s: a flat image takes %zu bytes of %zu", what, plen, n);
                }
                free(px);
                CONVAE_FREE(png);
                CONVAE_FREE(back);
            }
}

/* A 280 x 280 grid of 100 digit-like 28 x 28 cells: a few thick anti-aliased strokes each. */
static void mnist_like_grid(unsigned char *g, cae_rng *r)
{
    int cell, y, x, s;
    memset(g, 0, 280 * 280);
    for (cell = 0; cell < 100; cell++) {
        int ox = (cell % 10) * 28, oy = (cell / 10) * 28, ns = 3 + cae_rng_below(r, 3);
        float px0 = 8 + 12 * cae_rng_uniform(r), py0 = 5 + 18 * cae_rng_uniform(r);
        for (s = 0; s < ns; s++) {
            float px1 = 6 + 16 * cae_rng_uniform(r), py1 = 4 + 20 * cae_rng_uniform(r),
                  rad = 1.3f + 0.6f * cae_rng_uniform(r);
            for (y = 0; y < 28; y++)
                for (x = 0; x < 28; x++) {
                    float dx = px1 - px0, dy = py1 - py0, L2 = dx * dx + dy * dy, t, qx, qy, dist, v;
                    unsigned char *p = g + (size_t)(oy + y) * 280 + ox + x;
                    t = L2 > 0 ? (((float)x - px0) * dx + ((float)y - py0) * dy) / L2 : 0;
                    t = t < 0 ? 0 : t > 1 ? 1 : t;
                    qx = px0 + t * dx - (float)x;
                    qy = py0 + t * dy - (float)y;
                    dist = sqrtf(qx * qx + qy * qy);
                    v = (rad + 0.5f - dist) * 255.0f;
                    if (v > 255) v = 255;
                    if (v > *p) *p = (unsigned char)v;
                }
            px0 = px1;
            py0 = py1;
        }
    }
}

/* a 5 x 5 RGB PNG written by Python's zlib: rows use filters 0..4 (Average included, which
   cae_png_encode never writes), a tEXt chunk, and the zlib stream split over two IDATs */
static const unsigned char zlib_png[166] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x05, 0x00, 0x00, 0x00, 0x05, 0x08, 0x02, 0x00, 0x00, 0x00, 0x02, 0x0d, 0xb1, 0xb2, 0x00, 0x00, 0x00, 0x14, 0x74,
    0x45, 0x58, 0x74, 0x43, 0x6f, 0x6d, 0x6d, 0x65, 0x6e, 0x74, 0x00, 0x6d, 0x61, 0x64, 0x65, 0x20, 0x62, 0x79, 0x20,
    0x7a, 0x6c, 0x69, 0x62, 0x78, 0x42, 0xc5, 0x9c, 0x00, 0x00, 0x00, 0x07, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63,
    0x60, 0x60, 0x60, 0x30, 0xcb, 0x33, 0x10, 0x94, 0x00, 0x00, 0x00, 0x3a, 0x49, 0x44, 0x41, 0x54, 0x62, 0xe7, 0x4c,
    0xe1, 0x53, 0x99, 0x26, 0x1a, 0x78, 0x42, 0x66, 0x02, 0x23, 0xaf, 0x0d, 0x2b, 0x90, 0x6f, 0xc4, 0x2e, 0x6d, 0xc4,
    0xae, 0x6b, 0xc4, 0x6e, 0xcf, 0x04, 0xe4, 0x23, 0x23, 0x66, 0xa9, 0x0a, 0x2e, 0x05, 0x25, 0x76, 0x05, 0x25, 0x01,
    0x05, 0x25, 0x49, 0x05, 0x25, 0x25, 0x16, 0x90, 0x30, 0x3b, 0x02, 0x01, 0x00, 0xb9, 0x9d, 0x09, 0x43, 0x4a, 0x81,
    0xc0, 0x12, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
static const unsigned char zlib_png_px[75] = {0,  0,   0,  50,  7,   9,  100, 14,  36, 150, 21,  81,  200, 28,  144,
                                              13, 60,  5,  63,  67,  14, 113, 74,  41, 163, 81,  86,  213, 88,  149,
                                              26, 120, 10, 76,  127, 19, 126, 134, 46, 176, 141, 91,  226, 148, 154,
                                              39, 180, 15, 89,  187, 24, 139, 194, 51, 189, 201, 96,  239, 208, 159,
                                              52, 240, 20, 102, 247, 29, 152, 254, 56, 202, 5,   101, 252, 12,  164};

static void test_png_misc(void)
{
    cae_rng r = cae_rng_seed(5);
    unsigned char *grid = (unsigned char *)malloc(280 * 280), *png = NULL, *back = NULL, *bad;
    size_t plen = 0, i;
    int w, h, c, rc;
    cae_err e;
    /* compression of an MNIST-like grid */
    mnist_like_grid(grid, &r);
    rc = cae_png_encode(grid, 280, 280, 1, &png, &plen, &e);
    CHECK(rc == CAE_OK, "mnist grid: encode returned %d", rc);
    CHECK(plen < 280 * 280 * 40 / 100, "mnist grid: PNG is %zu bytes = %.1f%% of raw (want < 40%%)", plen,
          100.0 * (double)plen / (280 * 280));
    printf("  mnist-like 280x280 grid: %zu bytes, %.1f%% of raw\n", plen, 100.0 * (double)plen / (280 * 280));
    /* damaged files are refused with a format error */
    if (rc == CAE_OK) {
        bad = (unsigned char *)malloc(plen);
        memcpy(bad, png, plen);
        bad[40] ^= 1; /* inside IDAT: its CRC no longer matches */
        rc = png_decode(bad, plen, &back, &w, &h, &c, &e);
        CHECK(rc == CAE_ERR_FORMAT && back == NULL, "flipped bit: decode returned %d (want %d)", rc, CAE_ERR_FORMAT);
        CHECK(rc != CAE_OK && strstr(e.msg, "CRC") != NULL, "flipped bit: message '%s' does not name the CRC", e.msg);
        for (i = 0; i < plen; i += plen / 7 + 1) {
            rc = png_decode(png, i, &back, &w, &h, &c, &e);
            CHECK(rc != CAE_OK && back == NULL, "truncated to %zu bytes: decode returned %d", i, rc);
        }
        free(bad);
    }
    CONVAE_FREE(png);
    png = NULL;
    /* a PNG from another encoder (zlib, all five filters) */
    rc = png_decode(zlib_png, sizeof zlib_png, &back, &w, &h, &c, &e);
    CHECK(rc == CAE_OK, "zlib-made PNG: decode returned %d: %s", rc, rc ? e.msg : "");
    if (rc == CAE_OK) {
        CHECK(w == 5 && h == 5 && c == 3, "zlib-made PNG: %d x %d x %d", w, h, c);
        for (i = 0; i < sizeof zlib_png_px && back[i] == zlib_png_px[i]; i++) {
        }
        CHECK(i == sizeof zlib_png_px, "zlib-made PNG: byte %zu is %d, expected %d", i, i < 75 ? back[i] : 0,
              i < 75 ? zlib_png_px[i] : 0);
        CONVAE_FREE(back);
        back = NULL;
    }
    /* bad arguments */
    CHECK(cae_png_encode(grid, 0, 5, 1, &png, &plen, &e) == CAE_ERR_ARG, "w = 0 accepted");
    CHECK(cae_png_encode(grid, 5, 5, 5, &png, &plen, &e) == CAE_ERR_ARG, "c = 5 accepted");
    CHECK(cae_png_encode(NULL, 5, 5, 1, &png, &plen, &e) == CAE_ERR_ARG, "NULL pixels accepted");
    /* cae_write_png: the file holds what cae_png_encode gives */
    rc = cae_write_png("test_report_tmp.png", grid, 280, 280, 1, &e);
    CHECK(rc == CAE_OK, "cae_write_png returned %d: %s", rc, rc ? e.msg : "");
    if (rc == CAE_OK) {
        FILE *f = fopen("test_report_tmp.png", "rb");
        unsigned char *file = (unsigned char *)malloc(200000);
        size_t got = f ? fread(file, 1, 200000, f) : 0;
        if (f) fclose(f);
        rc = cae_png_encode(grid, 280, 280, 1, &png, &plen, &e);
        CHECK(rc == CAE_OK && got == plen && memcmp(file, png, plen) == 0, "written PNG (%zu bytes) != encoded (%zu)",
              got, plen);
        free(file);
        CONVAE_FREE(png);
        remove("test_report_tmp.png");
    }
    CHECK(cae_write_png("/nonexistent-dir/x.png", grid, 4, 4, 1, &e) == CAE_ERR_IO, "unwritable path not reported");
    free(grid);
}

/* Round trip through cae_zlib_compress and cae_inflate; header check bits and Adler-32 by hand. */
static void test_zlib(void)
{
    static const size_t sizes[5] = {0, 1, 65535, 65536, 100000};
    static const int levels[4] = {0, 1, 6, 9};
    static const char *const kinds[3] = {"random", "repetitive", "text-like"};
    cae_rng r = cae_rng_seed(3);
    unsigned char *data = (unsigned char *)malloc(100000);
    int si, li, kind;
    for (kind = 0; kind < 3; kind++)
        for (si = 0; si < 5; si++) {
            size_t n = sizes[si], i;
            for (i = 0; i < n; i++)
                data[i] = kind == 0   ? (unsigned char)(cae_rng_next(&r) >> 56)
                          : kind == 1 ? (unsigned char)("abcab"[i % 5] + (i % 1000 == 0))
                                      : (unsigned char)(" etaoinshrdlu"[cae_rng_below(&r, 13)]);
            for (li = 0; li < 4; li++) {
                unsigned char *z = NULL, *back = NULL;
                size_t zn = 0, bn = 0, used = 0;
                cae_err e;
                int rc = cae_zlib_compress(data, n, levels[li], &z, &zn, &e);
                CHECK(rc == CAE_OK, "zlib %s n=%zu level %d: compress returned %d", kinds[kind], n, levels[li], rc);
                if (rc) continue;
                CHECK(zn >= 6 && (z[0] & 15) == 8 && ((unsigned)z[0] << 8 | z[1]) % 31 == 0,
                      "zlib %s n=%zu level %d: bad header %x %x", kinds[kind], n, levels[li], z[0], z[1]);
                rc = cae_inflate(z + 2, zn - 2, &used, &back, &bn, n + 1, &e);
                CHECK(rc == CAE_OK, "zlib %s n=%zu level %d: inflate returned %d: %s", kinds[kind], n, levels[li], rc,
                      rc ? e.msg : "");
                if (rc == CAE_OK) {
                    CHECK(bn == n && (n == 0 || memcmp(back, data, n) == 0),
                          "zlib %s n=%zu level %d: %zu bytes back, %s", kinds[kind], n, levels[li], bn,
                          bn == n ? "content differs" : "length differs");
                    CHECK(used + 6 == zn && be32(z + zn - 4) == ref_adler32(data, n),
                          "zlib %s n=%zu level %d: trailer (%zu + 6 vs %zu bytes, adler %lx vs %lx)", kinds[kind], n,
                          levels[li], used, zn, be32(z + zn - 4), ref_adler32(data, n));
                }
                if (kind == 1 && n >= 65535 && levels[li] > 0)
                    CHECK(zn < n / 50, "zlib repetitive n=%zu level %d: %zu bytes", n, levels[li], zn);
                if (kind == 0 && n > 0)
                    CHECK(zn <= n + n / 1000 + 16, "zlib random n=%zu level %d: %zu bytes (stored would do)", n,
                          levels[li], zn);
                CONVAE_FREE(z);
                CONVAE_FREE(back);
            }
        }
    free(data);
}

/* -------------------------------------------------------------------------------- SVG */

static int g_xmllint = -1;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int count_str(const char *s, const char *needle)
{
    int k = 0;
    size_t m = strlen(needle);
    while ((s = strstr(s, needle)) != NULL) {
        k++;
        s += m;
    }
    return k;
}

/* the file's text with the base64 data URI cut out (its letters could spell "nan") */
static int has_nonfinite(const char *s)
{
    const char *p;
    for (p = s; *p; p++) {
        char a = (char)(p[0] | 32), b = (char)(p[1] | 32), c = p[1] ? (char)(p[2] | 32) : 0;
        if (strncmp(p, "base64,", 7) == 0) {
            p = strchr(p, '"');
            if (!p) return 0;
            continue;
        }
        if ((a == 'n' && b == 'a' && c == 'n') || (a == 'i' && b == 'n' && c == 'f')) return 1;
    }
    return 0;
}

/* common checks; returns the text (caller frees) or NULL */
static char *check_svg(const char *path, const char *what, const char *title)
{
    char *s = read_text(path), cmd[256];
    CHECK(s != NULL, "%s: %s was not written", what, path);
    if (!s) return NULL;
    CHECK(strncmp(s, "<?xml", 5) == 0 && strstr(s, "<svg") != NULL, "%s: does not start with <?xml ... <svg", what);
    CHECK(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL, "%s: no SVG namespace", what);
    CHECK(strstr(s, "</svg>") != NULL, "%s: no closing </svg>", what);
    CHECK(!has_nonfinite(s), "%s: 'nan' or 'inf' in the file", what);
    if (title) CHECK(strstr(s, title) != NULL, "%s: title '%s' not found", what, title);
    if (g_xmllint < 0) g_xmllint = system("command -v xmllint >/dev/null 2>&1") == 0;
    if (g_xmllint) {
        int rc;
        sprintf(cmd, "xmllint --noout %s", path);
        rc = system(cmd);
        CHECK(rc == 0, "%s: xmllint --noout %s exited with %d", what, path, rc);
    }
    return s;
}

static void test_svg(void)
{
    static float ep[40], tr[40], va[40], ones[5] = {1, 1, 1, 1, 1};
    float nanv = (float)NAN, infv = (float)INFINITY;
    cae_rng r = cae_rng_seed(21);
    cae_err e;
    char *s;
    int i, rc;
    for (i = 0; i < 40; i++) {
        ep[i] = (float)(i + 1);
        tr[i] = 0.3f * expf((float)-i / 6.0f) + 0.065f;
        va[i] = 0.3f * expf((float)-i / 6.0f) + 0.07f + 0.002f * cae_rng_normal(&r);
    }
    va[7] = nanv;
    va[8] = infv;
    /* line plots: log and linear, gaps, an empty and a one-point series */
    {
        float one = 0.5f, neg[3] = {-1, 0, -2};
        cae_series sr[4];
        cae_plot p;
        memset(&p, 0, sizeof p);
        sr[0].label = "train";
        sr[0].x = ep;
        sr[0].y = tr;
        sr[0].n = 40;
        sr[1].label = "validation <&> \"quoted\"";
        sr[1].x = NULL;
        sr[1].y = va;
        sr[1].n = 40;
        sr[2].label = "empty";
        sr[2].x = NULL;
        sr[2].y = NULL;
        sr[2].n = 0;
        sr[3].label = NULL;
        sr[3].x = NULL;
        sr[3].y = &one;
        sr[3].n = 1;
        p.title = "Loss per epoch";
        p.xlabel = "epoch";
        p.ylabel = "BCE";
        for (i = 0; i < 2; i++) {
            p.log_y = i;
            rc = cae_svg_lines("test_report_lines.svg", &p, sr, 4, &e);
            CHECK(rc == CAE_OK, "svg_lines log_y=%d returned %d: %s", i, rc, rc ? e.msg : "");
            s = check_svg("test_report_lines.svg", i ? "lines (log)" : "lines", "Loss per epoch");
            if (s) {
                CHECK(count_str(s, "class=\"series\"") == 4, "lines: %d series paths, expected 4",
                      count_str(s, "class=\"series\""));
                CHECK(strstr(s, "validation &lt;&amp;&gt; &quot;quoted&quot;") != NULL, "lines: label not escaped");
                CHECK(count_str(s, "class=\"legend\"") == 1, "lines: no legend");
                free(s);
            }
        }
        /* all equal, and all non-positive on a log axis */
        sr[0].y = ones;
        sr[0].n = 5;
        sr[0].x = NULL;
        rc = cae_svg_lines("test_report_lines.svg", &p, sr, 1, &e);
        CHECK(rc == CAE_OK, "svg_lines all-equal returned %d", rc);
        free(check_svg("test_report_lines.svg", "lines (all equal)", NULL));
        {
            sr[0].y = neg;
            sr[0].n = 3;
            p.log_y = 1;
            rc = cae_svg_lines("test_report_lines.svg", &p, sr, 1, &e);
            CHECK(rc == CAE_OK, "svg_lines log of non-positive returned %d", rc);
            free(check_svg("test_report_lines.svg", "lines (log, no positive values)", NULL));
        }
        rc = cae_svg_lines("test_report_lines.svg", NULL, NULL, 0, &e);
        CHECK(rc == CAE_OK, "svg_lines with no series returned %d", rc);
        free(check_svg("test_report_lines.svg", "lines (nothing)", NULL));
        CHECK(cae_svg_lines("/nonexistent-dir/x.svg", &p, sr, 1, &e) == CAE_ERR_IO,
              "lines: unwritable path not reported");
        remove("test_report_lines.svg");
    }
    /* histogram */
    {
        static float v[5000];
        cae_plot p;
        memset(&p, 0, sizeof p);
        p.title = "Reconstruction error";
        p.xlabel = "MSE";
        p.ylabel = "images";
        for (i = 0; i < 5000; i++) v[i] = 0.02f * expf(0.5f * cae_rng_normal(&r));
        v[0] = nanv;
        v[1] = -infv;
        rc = cae_svg_histogram("test_report_hist.svg", &p, v, 5000, 40, 0, 0, &e);
        CHECK(rc == CAE_OK, "svg_histogram returned %d: %s", rc, rc ? e.msg : "");
        s = check_svg("test_report_hist.svg", "histogram", "Reconstruction error");
        if (s) {
            CHECK(count_str(s, "class=\"bar\"") == 40, "histogram: %d bars, expected 40",
                  count_str(s, "class=\"bar\""));
            CHECK(strstr(s, "n = 4998") != NULL, "histogram: the summary does not count 4998 finite values");
            free(s);
        }
        rc = cae_svg_histogram("test_report_hist.svg", &p, v, 5000, 25, 0.0f, 0.03f, &e);
        CHECK(rc == CAE_OK, "svg_histogram with a range returned %d", rc);
        s = check_svg("test_report_hist.svg", "histogram (range)", NULL);
        if (s) {
            CHECK(count_str(s, "class=\"bar\"") == 25, "histogram (range): %d bars", count_str(s, "class=\"bar\""));
            CHECK(strstr(s, "outside the range") != NULL, "histogram (range): values outside not reported");
            free(s);
        }
        rc = cae_svg_histogram("test_report_hist.svg", &p, ones, 5, 10, 0, 0, &e);
        CHECK(rc == CAE_OK, "svg_histogram all-equal returned %d", rc);
        free(check_svg("test_report_hist.svg", "histogram (all equal)", NULL));
        rc = cae_svg_histogram("test_report_hist.svg", &p, NULL, 0, 10, 0, 0, &e);
        CHECK(rc == CAE_OK, "svg_histogram empty returned %d", rc);
        free(check_svg("test_report_hist.svg", "histogram (empty)", NULL));
        CHECK(cae_svg_histogram("test_report_hist.svg", &p, v, 10, 0, 0, 0, &e) == CAE_ERR_ARG, "nbins = 0 accepted");
        remove("test_report_hist.svg");
    }
    /* bar chart */
    {
        const char *names[5] = {"pixels", "latent code", "PCA-50 & more", NULL, "t-SNE 2-D"};
        float vals[5] = {0.97f, 0.981f, 0.5f, 0, -0.2f};
        cae_plot p;
        memset(&p, 0, sizeof p);
        p.title = "kNN accuracy";
        vals[3] = nanv;
        rc = cae_svg_bars("test_report_bars.svg", &p, names, vals, 5, &e);
        CHECK(rc == CAE_OK, "svg_bars returned %d: %s", rc, rc ? e.msg : "");
        s = check_svg("test_report_bars.svg", "bars", "kNN accuracy");
        if (s) {
            CHECK(count_str(s, "class=\"bar\"") == 5, "bars: %d bars, expected 5", count_str(s, "class=\"bar\""));
            CHECK(strstr(s, ">0.981<") != NULL && strstr(s, ">-0.2<") != NULL, "bars: value labels missing");
            CHECK(strstr(s, "PCA-50 &amp; more") != NULL, "bars: name not escaped");
            free(s);
        }
        rc = cae_svg_bars("test_report_bars.svg", NULL, NULL, vals, 2, &e);
        CHECK(rc == CAE_OK, "svg_bars without names returned %d", rc);
        free(check_svg("test_report_bars.svg", "bars (no names)", NULL));
        remove("test_report_bars.svg");
    }
    /* scatter */
    {
        static float xy[2 * 600];
        static int cls[600];
        cae_plot p;
        memset(&p, 0, sizeof p);
        p.title = "Latent space";
        for (i = 0; i < 600; i++) {
            cls[i] = i % 10;
            xy[2 * i] = (float)(cls[i] * 3) + cae_rng_normal(&r);
            xy[2 * i + 1] = (float)(cls[i] % 3) + cae_rng_normal(&r);
        }
        xy[10] = nanv; /* point 5 */
        cls[7] = 12;   /* out of range: grey, still drawn */
        rc = cae_svg_scatter("test_report_scatter.svg", &p, xy, cls, 600, 10, NULL, &e);
        CHECK(rc == CAE_OK, "svg_scatter returned %d: %s", rc, rc ? e.msg : "");
        s = check_svg("test_report_scatter.svg", "scatter", "Latent space");
        if (s) {
            CHECK(count_str(s, "class=\"pt\"") == 599, "scatter: %d points, expected 599",
                  count_str(s, "class=\"pt\""));
            CHECK(strstr(s, ">9</text>") != NULL, "scatter: legend entry '9' missing");
            free(s);
        }
        rc = cae_svg_scatter("test_report_scatter.svg", &p, xy, NULL, 1, 0, NULL, &e);
        CHECK(rc == CAE_OK, "svg_scatter one point returned %d", rc);
        s = check_svg("test_report_scatter.svg", "scatter (one point)", NULL);
        if (s) {
            CHECK(count_str(s, "class=\"pt\"") == 1, "scatter (one point): %d points", count_str(s, "class=\"pt\""));
            free(s);
        }
        remove("test_report_scatter.svg");
    }
    /* image grid: the embedded PNG decodes to the images, quantised, laid out in the grid */
    {
        static float im[6 * 7 * 5 * 3];
        const char *caps[6] = {"a", "b <1>", NULL, "d", "a much longer caption than fits", "f"};
        for (i = 0; i < 6 * 7 * 5 * 3; i++) im[i] = cae_rng_uniform(&r);
        im[0] = nanv;
        im[1] = 2.0f;
        im[2] = -1.0f;
        rc = cae_svg_image_grid("test_report_grid.svg", "Samples", im, 6, 7, 5, 3, 4, caps, 3, &e);
        CHECK(rc == CAE_OK, "svg_image_grid returned %d: %s", rc, rc ? e.msg : "");
        s = check_svg("test_report_grid.svg", "image grid", "Samples");
        if (s) {
            const char *b64 = strstr(s, "base64,");
            CHECK(count_str(s, "class=\"caption\"") == 5, "grid: %d captions, expected 5",
                  count_str(s, "class=\"caption\""));
            CHECK(strstr(s, "b &lt;1&gt;") != NULL, "grid: caption not escaped");
            CHECK(strstr(s, "pixelated") != NULL, "grid: no pixelated rendering");
            if (b64) {
                static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                unsigned char *png = (unsigned char *)malloc(strlen(b64)), *px = NULL;
                size_t n = 0;
                unsigned acc = 0;
                int bits = 0, w, h, c, bad = 0, k, y, x, ch;
                for (b64 += 7; *b64 && *b64 != '"' && *b64 != '='; b64++) {
                    const char *q = strchr(tab, *b64);
                    acc = acc << 6 | (unsigned)(q - tab);
                    bits += 6;
                    if (bits >= 8) {
                        bits -= 8;
                        png[n++] = (unsigned char)(acc >> bits);
                    }
                }
                rc = png_decode(png, n, &px, &w, &h, &c, &e);
                CHECK(rc == CAE_OK && c == 3, "grid: embedded PNG decode returned %d (c = %d): %s", rc, c,
                      rc ? e.msg : "");
                if (rc == CAE_OK) {
                    int gx = (w - 4 * 5) / 3;      /* 4 columns, 3 gaps */
                    int gy = (h - 2 * 7 + gx) / 2; /* 1 gap between the rows + room for the last captions */
                    for (k = 0; k < 6 && !bad; k++)
                        for (y = 0; y < 7; y++)
                            for (x = 0; x < 5; x++)
                                for (ch = 0; ch < 3; ch++) {
                                    float v = im[((k * 7 + y) * 5 + x) * 3 + ch];
                                    int want = v > 0 ? (v < 1 ? (int)(v * 255.0f + 0.5f) : 255) : 0;
                                    int got = px[(((k / 4) * (7 + gy) + y) * w + (k % 4) * (5 + gx) + x) * 3 + ch];
                                    if (got != want && !bad) {
                                        bad = 1;
                                        CHECK(0, "grid: image %d pixel (%d,%d,%d) is %d, expected %d", k, y, x, ch, got,
                                              want);
                                    }
                                }
                    CHECK(!bad, "grid: embedded pixels");
                    CONVAE_FREE(px);
                }
                free(png);
            } else {
                CHECK(0, "grid: no base64 PNG");
            }
            free(s);
        }
        rc = cae_svg_image_grid("test_report_grid.svg", NULL, im, 1, 7, 5, 1, 0, NULL, 0, &e);
        CHECK(rc == CAE_OK, "svg_image_grid single grey returned %d", rc);
        free(check_svg("test_report_grid.svg", "image grid (single)", NULL));
        CHECK(cae_svg_image_grid("test_report_grid.svg", NULL, im, 2, 7, 5, 2, 2, NULL, 2, &e) == CAE_ERR_ARG,
              "grid: c = 2 accepted");
        remove("test_report_grid.svg");
    }
}

/* -------------------------------------------------------------------------------- PCA */

static double sin_angle(const double *a, const double *b, int d)
{
    double ab = 0, aa = 0, bb = 0, r = 0;
    int t;
    for (t = 0; t < d; t++) {
        ab += a[t] * b[t];
        aa += a[t] * a[t];
        bb += b[t] * b[t];
    }
    for (t = 0; t < d; t++) { /* |a/|a| - (a.b) b / (|a||b|^2)| */
        double v = a[t] / sqrt(aa) - ab * b[t] / (sqrt(aa) * bb);
        r += v * v;
    }
    return sqrt(r);
}

/* the loading of component j, recovered from the scores: X_c^T s_j is proportional to it */
static void loading(const float *x, int n, int d, const float *sc, int k, int j, double *out)
{
    int i, t;
    for (t = 0; t < d; t++) {
        double mean = 0, s = 0;
        for (i = 0; i < n; i++) mean += x[(size_t)i * d + t];
        mean /= n;
        for (i = 0; i < n; i++) s += (x[(size_t)i * d + t] - mean) * sc[(size_t)i * k + j];
        out[t] = s;
    }
}

/* Reference PCA: the d x d sample covariance (times n) in double and its eigenvectors by cyclic
   Jacobi, sorted by decreasing eigenvalue (columns of vec). Slow and simple on purpose. */
static void covariance_eigen(const float *x, int n, int d, double *a, double *vec, double *lam)
{
    int i, p, q, k, sweep;
    double *mean = (double *)calloc((size_t)d, sizeof(double));
    for (i = 0; i < n; i++)
        for (p = 0; p < d; p++) mean[p] += x[(size_t)i * d + p];
    for (p = 0; p < d; p++) mean[p] /= n;
    memset(a, 0, sizeof(double) * (size_t)d * d);
    for (i = 0; i < n; i++)
        for (p = 0; p < d; p++) {
            double xp = x[(size_t)i * d + p] - mean[p];
            for (q = 0; q < d; q++) a[p * d + q] += xp * (x[(size_t)i * d + q] - mean[q]);
        }
    for (p = 0; p < d; p++)
        for (q = 0; q < d; q++) vec[p * d + q] = p == q;
    for (sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (p = 0; p < d; p++)
            for (q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
        if (off < 1e-26) break;
        for (p = 0; p < d; p++)
            for (q = p + 1; q < d; q++) {
                double th, t, c, s;
                if (fabs(a[p * d + q]) < 1e-300) continue;
                th = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q]);
                t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                c = 1 / sqrt(t * t + 1);
                s = t * c;
                for (k = 0; k < d; k++) {
                    double kp = a[k * d + p], kq = a[k * d + q];
                    a[k * d + p] = c * kp - s * kq;
                    a[k * d + q] = s * kp + c * kq;
                }
                for (k = 0; k < d; k++) {
                    double pk = a[p * d + k], qk = a[q * d + k];
                    a[p * d + k] = c * pk - s * qk;
                    a[q * d + k] = s * pk + c * qk;
                }
                for (k = 0; k < d; k++) {
                    double kp = vec[k * d + p], kq = vec[k * d + q];
                    vec[k * d + p] = c * kp - s * kq;
                    vec[k * d + q] = s * kp + c * kq;
                }
            }
    }
    for (p = 0; p < d; p++) lam[p] = a[p * d + p];
    for (p = 0; p < d; p++) { /* sort */
        int b = p;
        for (q = p + 1; q < d; q++)
            if (lam[q] > lam[b]) b = q;
        if (b != p) {
            double tmp = lam[p];
            lam[p] = lam[b];
            lam[b] = tmp;
            for (k = 0; k < d; k++) {
                tmp = vec[k * d + p];
                vec[k * d + p] = vec[k * d + b];
                vec[k * d + b] = tmp;
            }
        }
    }
    free(mean);
}

static void test_pca(void)
{
    cae_rng r = cae_rng_seed(99);
    cae_err e;
    int i, t, j, rc;
    /* 5-D: points along a direction plus small noise */
    {
        enum { N = 500, D = 5 };
        static float x[N * D], sc[N * 3], sc2[N * 3];
        double u[D], w[D], nu = 0, big = 0, sa;
        float evr[3];
        for (t = 0; t < D; t++) {
            u[t] = cae_rng_normal(&r);
            nu += u[t] * u[t];
        }
        for (t = 0; t < D; t++) u[t] /= sqrt(nu);
        for (i = 0; i < N; i++) {
            double a = 3.0 * cae_rng_normal(&r);
            for (t = 0; t < D; t++) x[i * D + t] = (float)(1.5 + a * u[t] + 0.01 * cae_rng_normal(&r));
        }
        rc = cae_pca(x, N, D, 3, sc, evr, &e);
        CHECK(rc == CAE_OK, "pca 5-D returned %d: %s", rc, rc ? e.msg : "");
        loading(x, N, D, sc, 3, 0, w);
        sa = sin_angle(w, u, D);
        CHECK(sa < 1e-3, "pca 5-D: first component is %.2e rad from the true axis (want < 1e-3)", sa);
        for (t = 0; t < D; t++)
            if (fabs(w[t]) > fabs(big)) big = w[t];
        CHECK(big > 0, "pca 5-D: largest loading %.3f is not positive", big);
        CHECK(evr[0] >= evr[1] && evr[1] >= evr[2] && evr[2] >= 0, "pca 5-D: ratios not sorted: %.6f %.6f %.6f", evr[0],
              evr[1], evr[2]);
        CHECK(evr[0] + evr[1] + evr[2] <= 1.0f + 1e-5f, "pca 5-D: ratios sum to %.7f > 1", evr[0] + evr[1] + evr[2]);
        CHECK(evr[0] > 0.999f, "pca 5-D: first ratio %.6f (expected > 0.999)", evr[0]);
        rc = cae_pca(x, N, D, 3, sc2, NULL, &e);
        CHECK(rc == CAE_OK && memcmp(sc, sc2, sizeof sc) == 0, "pca 5-D: a second call differs");
    }
    /* 200-D with five planted directions of decreasing spread (the iterative path), against the
       exact eigenvectors of the sample covariance */
    {
        enum { N = 400, D = 200, K = 5 };
        static float x[N * D], sc[N * K];
        static double dirs[K][D], cov[D * D], vec[D * D], lam[D];
        static const double sd[K] = {10, 7, 5, 3, 2};
        float evr[K];
        double w[D], trace = 0;
        for (j = 0; j < K; j++) { /* orthonormal directions by Gram-Schmidt */
            int q;
            double nrm = 0;
            for (t = 0; t < D; t++) dirs[j][t] = cae_rng_normal(&r);
            for (q = 0; q < j; q++) {
                double dot = 0;
                for (t = 0; t < D; t++) dot += dirs[j][t] * dirs[q][t];
                for (t = 0; t < D; t++) dirs[j][t] -= dot * dirs[q][t];
            }
            for (t = 0; t < D; t++) nrm += dirs[j][t] * dirs[j][t];
            for (t = 0; t < D; t++) dirs[j][t] /= sqrt(nrm);
        }
        for (i = 0; i < N; i++) {
            double a[K];
            for (j = 0; j < K; j++) a[j] = sd[j] * cae_rng_normal(&r);
            for (t = 0; t < D; t++) {
                double v = 3.0 + 0.05 * cae_rng_normal(&r);
                for (j = 0; j < K; j++) v += a[j] * dirs[j][t];
                x[i * D + t] = (float)v;
            }
        }
        rc = cae_pca(x, N, D, K, sc, evr, &e);
        CHECK(rc == CAE_OK, "pca 200-D returned %d: %s", rc, rc ? e.msg : "");
        covariance_eigen(x, N, D, cov, vec, lam);
        for (t = 0; t < D; t++) trace += lam[t];
        for (j = 0; j < K; j++) {
            double sa, ref[D], want = lam[j] / trace;
            for (t = 0; t < D; t++) ref[t] = vec[t * D + j];
            loading(x, N, D, sc, K, j, w);
            sa = sin_angle(w, ref, D);
            CHECK(sa < 1e-3, "pca 200-D: component %d is %.2e rad from the exact eigenvector (want < 1e-3)", j, sa);
            CHECK(fabs(evr[j] - want) <= 1e-4 * want, "pca 200-D: ratio %d is %.6f, exact %.6f", j, evr[j], want);
            sa = sin_angle(w, dirs[j], D); /* and near the planted one, up to sampling noise */
            CHECK(sa < 0.3, "pca 200-D: component %d is %.3f rad from its planted direction", j, sa);
        }
        { /* the scores of different components are uncorrelated */
            double s01 = 0, s00 = 0, s11 = 0;
            for (i = 0; i < N; i++) {
                s01 += (double)sc[i * K] * sc[i * K + 1];
                s00 += (double)sc[i * K] * sc[i * K];
                s11 += (double)sc[i * K + 1] * sc[i * K + 1];
            }
            CHECK(fabs(s01) < 1e-4 * sqrt(s00 * s11), "pca 200-D: scores 0 and 1 correlate: %.2e",
                  s01 / sqrt(s00 * s11));
        }
    }
    /* edge cases */
    {
        float x[12] = {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, sc[12], evr[2];
        rc = cae_pca(x, 4, 3, 2, sc, evr, &e);
        CHECK(rc == CAE_OK, "pca of identical points returned %d", rc);
        CHECK(sc[0] == 0 && sc[7] == 0 && evr[0] == 0 && evr[1] == 0, "pca of identical points: not all zero");
        CHECK(cae_pca(x, 4, 3, 4, sc, evr, &e) == CAE_ERR_ARG, "pca k > d accepted");
        CHECK(cae_pca(x, 4, 3, 0, sc, evr, &e) == CAE_ERR_ARG, "pca k = 0 accepted");
        x[5] = (float)NAN;
        CHECK(cae_pca(x, 4, 3, 1, sc, evr, &e) == CAE_ERR_ARG, "pca of NaN data accepted");
        rc = cae_pca(x, 1, 3, 1, sc, evr, &e);
        CHECK(rc == CAE_OK && sc[0] == 0, "pca of one point: rc %d, score %g", rc, sc[0]);
    }
}

/* -------------------------------------------------------------------------------- t-SNE, kNN */

static void tsne_clusters(int n_per, int d, float *x, int *lab, cae_rng *r)
{
    int c, i, t;
    float *cen = (float *)malloc(sizeof(float) * 3 * d);
    for (c = 0; c < 3; c++)
        for (t = 0; t < d; t++) cen[c * d + t] = 8.0f * cae_rng_normal(r) / sqrtf((float)d) * 4.0f;
    for (i = 0; i < 3 * n_per; i++) {
        lab[i] = i % 3;
        for (t = 0; t < d; t++) x[(size_t)i * d + t] = cen[lab[i] * d + t] + cae_rng_normal(r);
    }
    free(cen);
}

static void check_tsne_layout(const float *y, const int *lab, int n, const char *what)
{
    int i, j, c, nn_ok = 0, nw = 0;
    double cx[3] = {0, 0, 0}, cy[3] = {0, 0, 0}, cnt[3] = {0, 0, 0}, within = 0, between = 0;
    for (i = 0; i < n; i++) {
        double best = 1e300;
        int bj = -1;
        CHECK(y[2 * i] == y[2 * i] && y[2 * i + 1] == y[2 * i + 1], "%s: point %d is NaN", what, i);
        for (j = 0; j < n; j++) {
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1], d2 = dx * dx + dy * dy;
            if (j != i && d2 < best) {
                best = d2;
                bj = j;
            }
            if (j > i && lab[i] == lab[j]) {
                within += sqrt(d2);
                nw++;
            }
        }
        nn_ok += bj >= 0 && lab[bj] == lab[i];
        cx[lab[i]] += y[2 * i];
        cy[lab[i]] += y[2 * i + 1];
        cnt[lab[i]]++;
    }
    for (c = 0; c < 3; c++) {
        cx[c] /= cnt[c];
        cy[c] /= cnt[c];
    }
    for (c = 0; c < 3; c++)
        between += sqrt((cx[c] - cx[(c + 1) % 3]) * (cx[c] - cx[(c + 1) % 3]) +
                        (cy[c] - cy[(c + 1) % 3]) * (cy[c] - cy[(c + 1) % 3]));
    between /= 3;
    within /= nw;
    CHECK(nn_ok >= 0.98 * n, "%s: nearest neighbour in the same cluster for %d of %d points (want >= 98%%)", what,
          nn_ok, n);
    CHECK(within < 0.5 * between, "%s: mean within-cluster distance %.3f, mean between centroids %.3f (want < half)",
          what, within, between);
}

static void test_tsne(void)
{
    enum { NP = 60, N = 3 * NP };
    static float x[N * 100], y1[2 * N], y2[2 * N];
    static int lab[N];
    cae_rng r = cae_rng_seed(2024);
    cae_tsne_opts o;
    cae_err e;
    int rc, i;
    memset(&o, 0, sizeof o);
    /* 20-D: t-SNE works on the data itself */
    tsne_clusters(NP, 20, x, lab, &r);
    rc = cae_tsne(x, N, 20, &o, y1, &e);
    CHECK(rc == CAE_OK, "tsne 20-D returned %d: %s", rc, rc ? e.msg : "");
    check_tsne_layout(y1, lab, N, "tsne 20-D");
    rc = cae_tsne(x, N, 20, &o, y2, &e);
    CHECK(rc == CAE_OK && memcmp(y1, y2, sizeof y1) == 0, "tsne 20-D: the same seed gave a different layout");
#ifdef _OPENMP
    { /* the thread count must not change a bit (600 points: enough for the loops to go parallel) */
        static float xb[600 * 20], ya[2 * 600], yb[2 * 600];
        static int lb[600];
        int nt = omp_get_max_threads();
        tsne_clusters(200, 20, xb, lb, &r);
        o.iters = 60;
        omp_set_num_threads(1);
        rc = cae_tsne(xb, 600, 20, &o, ya, &e);
        omp_set_num_threads(nt > 1 ? nt : 2);
        rc |= cae_tsne(xb, 600, 20, &o, yb, &e);
        omp_set_num_threads(nt);
        for (i = 0; i < 2 * 600 && ya[i] == yb[i]; i++) {
        }
        CHECK(rc == CAE_OK && i == 2 * 600, "tsne: 1 and %d threads differ at coordinate %d", nt > 1 ? nt : 2, i);
        o.iters = 0;
    }
#endif
    o.seed = 7;
    rc = cae_tsne(x, N, 20, &o, y2, &e);
    CHECK(rc == CAE_OK && memcmp(y1, y2, sizeof y1) != 0, "tsne 20-D: another seed gave the same layout");
    check_tsne_layout(y2, lab, N, "tsne 20-D, seed 7");
    /* 100-D: reduced to 50 by PCA first */
    memset(&o, 0, sizeof o);
    tsne_clusters(NP, 100, x, lab, &r);
    rc = cae_tsne(x, N, 100, &o, y1, &e);
    CHECK(rc == CAE_OK, "tsne 100-D returned %d: %s", rc, rc ? e.msg : "");
    check_tsne_layout(y1, lab, N, "tsne 100-D");
    /* degenerate inputs */
    rc = cae_tsne(x, 2, 100, &o, y1, &e);
    CHECK(rc == CAE_OK && y1[0] == y1[0] && y1[3] == y1[3], "tsne of 2 points: rc %d", rc);
    o.iters = 50;
    rc = cae_tsne(x, 5, 1, &o, y1, &e);
    for (i = 0; i < 10 && y1[i] == y1[i] && fabsf(y1[i]) < 1e6f; i++) {
    }
    CHECK(rc == CAE_OK && i == 10, "tsne of 5 points in 1-D: rc %d, coordinate %d not finite", rc, i);
    x[3] = (float)NAN;
    CHECK(cae_tsne(x, 10, 20, &o, y1, &e) == CAE_ERR_ARG, "tsne of NaN data accepted");
}

static void test_knn(void)
{
    enum { N = 400, D = 8 };
    static float x[N * D];
    static int lab[N], rnd[N];
    cae_rng r = cae_rng_seed(77);
    float acc;
    int i, t;
    for (i = 0; i < N; i++) {
        lab[i] = i & 1;
        rnd[i] = cae_rng_below(&r, 2);
        for (t = 0; t < D; t++) x[i * D + t] = (float)(lab[i] * 20) + cae_rng_normal(&r);
    }
    acc = cae_knn_accuracy(x, lab, N, D, 5);
    CHECK(acc == 1.0f, "knn on separable clusters: %.4f (want 1)", acc);
    acc = cae_knn_accuracy(x, rnd, N, D, 5);
    CHECK(acc > 0.38f && acc < 0.62f, "knn on random labels: %.4f (want about 0.5)", acc);
    { /* ties go to the nearer neighbour's label: points 0, 1, -2 on a line, k = 2 */
        float p[3] = {0, 1, -2};
        int l1[3] = {0, 0, 1}, l2[3] = {1, 1, 0};
        acc = cae_knn_accuracy(p, l1, 3, 1, 2);
        CHECK(fabsf(acc - 2.0f / 3.0f) < 1e-6f, "knn ties (labels 0 0 1): %.4f, want 2/3", acc);
        acc = cae_knn_accuracy(p, l2, 3, 1, 2);
        CHECK(fabsf(acc - 2.0f / 3.0f) < 1e-6f, "knn ties (labels 1 1 0): %.4f, want 2/3", acc);
    }
    CHECK(cae_knn_accuracy(x, lab, 1, D, 5) < 0, "knn with n = 1 did not return -1");
    CHECK(cae_knn_accuracy(x, lab, N, D, 0) < 0, "knn with k = 0 did not return -1");
    acc = cae_knn_accuracy(x, lab, 4, D, 50); /* k clamped to n - 1 */
    CHECK(acc >= 0, "knn with k > n - 1: %.4f", acc);
}

#include <time.h>
#define TIMED(f)                                                                                                       \
    do {                                                                                                               \
        clock_t c0 = clock();                                                                                          \
        f();                                                                                                           \
        printf("  %-20s %.2f s cpu\n", #f, (double)(clock() - c0) / CLOCKS_PER_SEC);                                   \
    } while (0)

/* cae_text: growth past the stack buffer of cae_text_printf, escaping, and the whole-file write */
static void test_text(void)
{
    cae_text t;
    cae_err e;
    char big[3000], *back;
    size_t i, n;
    FILE *f;
    memset(&t, 0, sizeof t);
    for (i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = 0;
    cae_text_printf(&t, "%d:%s:%.3f", 42, big, 0.5);
    CHECK(!t.nomem && t.n == 3 + (sizeof big - 1) + 6, "printf of a long string: %zu bytes", t.n);
    CHECK(t.p && strncmp(t.p, "42:abc", 6) == 0 && strcmp(t.p + t.n - 6, ":0.500") == 0, "printf: wrong text");
    cae_text_free(&t);
    CHECK(t.p == NULL && t.n == 0, "cae_text_free leaves an empty text");
    cae_text_xml(&t, "a<b>&\"c'\n\td\001\xff");
    CHECK(t.p && strcmp(t.p, "a&lt;b&gt;&amp;&quot;c&#39;\n\td ?") == 0, "xml escaping gave \"%s\"", t.p ? t.p : "");
    for (i = 0; i < 10000; i++) cae_text_puts(&t, "0123456789");
    CHECK(t.n == strlen("a&lt;b&gt;&amp;&quot;c&#39;\n\td ?") + 100000 && t.p[t.n] == 0, "puts x10000: %zu bytes", t.n);
    n = t.n;
    CHECK(cae_text_write("test_report_text.txt", &t, &e) == CAE_OK, "cae_text_write: %s", e.msg);
    CHECK(t.p == NULL, "cae_text_write frees the text");
    f = fopen("test_report_text.txt", "rb");
    back = (char *)malloc(n + 1);
    CHECK(f && back && fread(back, 1, n + 1, f) == n, "the written file has %zu bytes", n);
    if (f) fclose(f);
    free(back);
    remove("test_report_text.txt");
    cae_text_puts(&t, "x");
    t.nomem = 1;
    CHECK(cae_text_write("test_report_text.txt", &t, &e) == CAE_ERR_NOMEM, "a text that ran out of memory is an error");
    f = fopen("test_report_text.txt", "rb");
    CHECK(!f, "a text that ran out of memory writes nothing");
    if (f) fclose(f);
    CHECK(cae_text_write("/nonexistent-dir/x.txt", &t, &e) == CAE_ERR_IO, "an unwritable path is an i/o error");
}

int main(void)
{
    TIMED(test_text);
    TIMED(test_zlib);
    TIMED(test_png_roundtrip);
    TIMED(test_png_misc);
    TIMED(test_svg);
    TIMED(test_pca);
    TIMED(test_tsne);
    TIMED(test_knn);
    if (g_fails) {
        printf("test_report: %d of %d checks FAILED\n", g_fails, g_checks);
        return 1;
    }
    printf("test_report: %d checks passed\n", g_checks);
    return 0;
}
