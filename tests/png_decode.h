/* png_decode.h - a small PNG decoder for the tests: it reads back what convae_report.h
   writes (8-bit, non-interlaced grey / grey+alpha / RGB / RGBA), checking every CRC and the
   Adler-32, so the tests can hold the encoder to the pixels it was given. Only the tests use
   it; it calls convae.h's public cae_inflate and cae_crc32. Include after convae.h.

   png_decode(png, n, &px, &w, &h, &c, &e): *px (malloc) holds w*h*c bytes; *c is 1..4. */
#ifndef PNG_DECODE_H
#define PNG_DECODE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNG_MAX_BYTES ((size_t)1 << 30)

static const unsigned char png_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};

static int png_fail(cae_err *e, int code, const char *fmt, ...)
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

static size_t png_mul(size_t a, size_t b)
{
    return a && b > (size_t)-1 / a ? 0 : a * b;
}

static int png_paeth(int a, int b, int c)
{
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

static unsigned long png_adler32(unsigned long adler, const unsigned char *p, size_t n)
{
    unsigned long a = adler & 0xFFFFu, s = (adler >> 16) & 0xFFFFu;
    while (n--) {
        a = (a + *p++) % 65521u;
        s = (s + a) % 65521u;
    }
    return (s << 16) | a;
}

static unsigned long png_be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | (unsigned long)p[3];
}

static int png_decode(const unsigned char *png, size_t n, unsigned char **px, int *w, int *h, int *c,
                              cae_err *e)
{
    static const int chans[7] = {1, 0, 3, 0, 2, 0, 4};
    unsigned char *idat = NULL, *raw = NULL, *img = NULL;
    size_t idat_n = 0, pos = 8, raw_n = 0, used = 0, stride = 0, need, i;
    unsigned long W = 0, H = 0;
    int C = 0, seen_ihdr = 0, seen_iend = 0, rc = CAE_OK, y;
    if (!png || !px || !w || !h || !c) return png_fail(e, CAE_ERR_ARG, "png_decode: NULL argument");
    *px = NULL;
    *w = *h = *c = 0;
    if (n < 8 || memcmp(png, png_sig, 8) != 0)
        return png_fail(e, CAE_ERR_FORMAT, "png: bad signature at offset 0 (expected 89 50 4e 47 0d 0a 1a 0a)");
    while (!seen_iend) {
        unsigned long len, crc;
        const unsigned char *type, *data;
        if (n - pos < 12)
            return png_fail(e, CAE_ERR_FORMAT, "png: truncated: chunk header at offset %zu needs 12 bytes, %zu left",
                             pos, n - pos);
        len = png_be32(png + pos);
        type = png + pos + 4;
        data = png + pos + 8;
        if (len > 0x7FFFFFFFUL || len > n - pos - 12) {
            free(idat);
            return png_fail(e, CAE_ERR_FORMAT, "png: chunk %c%c%c%c at offset %zu claims %lu bytes, %zu left", type[0],
                             type[1], type[2], type[3], pos, len, n - pos - 12);
        }
        crc = cae_crc32(cae_crc32(0, type, 4), data, (size_t)len);
        if (crc != png_be32(data + len)) {
            free(idat);
            return png_fail(e, CAE_ERR_FORMAT,
                             "png: CRC mismatch in chunk %c%c%c%c at offset %zu: stored %x, computed %x", type[0],
                             type[1], type[2], type[3], pos, (unsigned)png_be32(data + len), (unsigned)crc);
        }
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0) {
            free(idat);
            return png_fail(e, CAE_ERR_FORMAT, "png: first chunk at offset %zu is %c%c%c%c, expected IHDR", pos,
                             type[0], type[1], type[2], type[3]);
        }
        if (memcmp(type, "IHDR", 4) == 0) {
            if (seen_ihdr || len != 13) {
                free(idat);
                return png_fail(e, CAE_ERR_FORMAT, "png: bad or repeated IHDR at offset %zu", pos);
            }
            W = png_be32(data);
            H = png_be32(data + 4);
            if (W == 0 || H == 0 || W > 0x7FFFFFFFUL || H > 0x7FFFFFFFUL)
                return png_fail(e, CAE_ERR_FORMAT, "png: bad size %lu x %lu in IHDR", W, H);
            if (data[8] != 8 || data[9] > 6 || !chans[data[9]])
                return png_fail(
                    e, CAE_ERR_FORMAT,
                    "png: bit depth %u, colour type %u not supported (only 8-bit grey, grey+alpha, RGB, RGBA)",
                    (unsigned)data[8], (unsigned)data[9]);
            if (data[10] != 0 || data[11] != 0)
                return png_fail(e, CAE_ERR_FORMAT, "png: unknown compression %u or filter method %u in IHDR",
                                 (unsigned)data[10], (unsigned)data[11]);
            if (data[12] != 0) return png_fail(e, CAE_ERR_FORMAT, "png: interlaced images are not supported");
            C = chans[data[9]];
            stride = png_mul((size_t)W, (size_t)C);
            need = png_mul(stride + 1, (size_t)H);
            if (!stride || !need || need > PNG_MAX_BYTES)
                return png_fail(e, CAE_ERR_NOMEM, "png: %lu x %lu x %d image is larger than PNG_MAX_BYTES", W, H,
                                 C);
            seen_ihdr = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            unsigned char *t = (unsigned char *)realloc(idat, idat_n + len + 1);
            if (!t) {
                free(idat);
                return png_fail(e, CAE_ERR_NOMEM, "png: out of memory collecting IDAT data");
            }
            idat = t;
            memcpy(idat + idat_n, data, (size_t)len);
            idat_n += (size_t)len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
        } else if (!(type[0] & 32)) { /* critical chunk we do not know (PLTE, ...) */
            free(idat);
            return png_fail(e, CAE_ERR_FORMAT, "png: unsupported critical chunk %c%c%c%c at offset %zu", type[0],
                             type[1], type[2], type[3], pos);
        }
        pos += 12 + (size_t)len;
    }
    need = (stride + 1) * (size_t)H;
    if (idat_n < 6 || (idat[0] & 15) != 8 || (idat[0] >> 4) > 7 || ((unsigned)idat[0] << 8 | idat[1]) % 31 ||
        (idat[1] & 32)) { /* deflate, window <= 32 KiB, check bits, no preset dictionary */
        unsigned b0 = idat_n ? idat[0] : 0u, b1 = idat_n > 1 ? idat[1] : 0u;
        free(idat);
        return png_fail(e, CAE_ERR_FORMAT, "png: IDAT is not a zlib stream (header bytes %x %x)", b0, b1);
    }
    rc = cae_inflate(idat + 2, idat_n - 2, &used, &raw, &raw_n, need, e);
    if (rc != CAE_OK) {
        char why[sizeof e->msg];
        if (e)
            memcpy(why, e->msg, sizeof why);
        else
            why[0] = 0;
        free(idat);
        return png_fail(e, rc, "png: IDAT zlib data: %s", why);
    }
    if (raw_n != need || idat_n - 2 - used < 4 || png_be32(idat + 2 + used) != png_adler32(1, raw, raw_n)) {
        free(idat);
        free(raw);
        return raw_n != need
                   ? png_fail(e, CAE_ERR_FORMAT, "png: image data is %zu bytes, expected %zu for %lu x %lu x %d",
                               raw_n, need, W, H, C)
                   : png_fail(e, CAE_ERR_FORMAT, "png: Adler-32 of the image data is missing or wrong");
    }
    free(idat);
    img = (unsigned char *)malloc(stride * (size_t)H);
    if (!img) {
        free(raw);
        return png_fail(e, CAE_ERR_NOMEM, "png: no memory for a %lu x %lu x %d image", W, H, C);
    }
    for (y = 0; y < (int)H; y++) {
        const unsigned char *src = raw + (size_t)y * (stride + 1) + 1;
        unsigned char *dst = img + (size_t)y * stride, *up = y ? dst - stride : NULL;
        int f = src[-1];
        size_t bpp = (size_t)C;
        if (f > 4) {
            free(raw);
            free(img);
            return png_fail(e, CAE_ERR_FORMAT, "png: row %d has filter type %d (expected 0..4)", y, f);
        }
        for (i = 0; i < stride; i++) {
            int a = i >= bpp ? dst[i - bpp] : 0, b = up ? up[i] : 0, cc = up && i >= bpp ? up[i - bpp] : 0;
            int p = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) >> 1 : png_paeth(a, b, cc);
            dst[i] = (unsigned char)((src[i] + p) & 255);
        }
    }
    free(raw);
    *px = img;
    *w = (int)W;
    *h = (int)H;
    *c = C;
    return CAE_OK;
}

#endif /* PNG_DECODE_H */
