/* make_data.c - a small made-up MNIST folder for the tests that must run where the real files
   are absent: DIR/{train,t10k}-images-idx3-ubyte and the two label files, raw IDX (big-endian
   dimensions, u8 pixels). Each image is a few strokes whose shape depends on its label (0-9),
   so an autoencoder has something to learn and the labels mean something.

   usage: make_data DIR NTRAIN NTEST [SIZE [SEED [CHANNELS]]]
   (SIZE x SIZE pixels, default 28; CHANNELS 2..4: N x SIZE x SIZE x CHANNELS images, each
   channel the strokes at an intensity that depends on the label, so colour means something) */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <stdlib.h>

static void put32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* a thick line from (x0,y0) to (x1,y1), coordinates in [0,1] of the image */
static void stroke(unsigned char *img, int s, float x0, float y0, float x1, float y1)
{
    int i, steps = 3 * s;
    for (i = 0; i <= steps; i++) {
        float t = (float)i / (float)steps, x = (x0 + t * (x1 - x0)) * (float)(s - 1),
              y = (y0 + t * (y1 - y0)) * (float)(s - 1);
        int dx, dy;
        for (dy = -1; dy <= 1; dy++)
            for (dx = -1; dx <= 1; dx++) {
                int px = (int)(x + 0.5f) + dx, py = (int)(y + 0.5f) + dy;
                if (px >= 0 && px < s && py >= 0 && py < s) {
                    unsigned char v = (unsigned char)(dx || dy ? 160 : 255);
                    if (img[py * s + px] < v) img[py * s + px] = v;
                }
            }
    }
}

static void draw(unsigned char *img, int s, int label, cae_rng *r)
{
    float j = 0.08f * (cae_rng_uniform(r) - 0.5f), a = 0.25f + j, b = 0.75f - j;
    int k;
    for (k = 0; k < s * s; k++) img[k] = 0;
    switch (label) {
    case 0: stroke(img, s, a, a, b, a), stroke(img, s, b, a, b, b), stroke(img, s, b, b, a, b), stroke(img, s, a, b, a, a); break;
    case 1: stroke(img, s, 0.5f + j, a, 0.5f - j, b); break;
    case 2: stroke(img, s, a, a, b, a), stroke(img, s, b, a, a, b), stroke(img, s, a, b, b, b); break;
    case 3: stroke(img, s, a, a, b, a), stroke(img, s, b, a, b, b), stroke(img, s, a, b, b, b), stroke(img, s, a, 0.5f, b, 0.5f); break;
    case 4: stroke(img, s, a, a, a, 0.5f), stroke(img, s, a, 0.5f, b, 0.5f), stroke(img, s, b, a, b, b); break;
    case 5: stroke(img, s, b, a, a, a), stroke(img, s, a, a, b, b), stroke(img, s, b, b, a, b); break;
    case 6: stroke(img, s, b, a, a, b), stroke(img, s, a, b, b, b), stroke(img, s, b, b, a, 0.5f); break;
    case 7: stroke(img, s, a, a, b, a), stroke(img, s, b, a, 0.5f, b); break;
    case 8: stroke(img, s, a, a, b, b), stroke(img, s, b, a, a, b), stroke(img, s, a, a, b, a), stroke(img, s, a, b, b, b); break;
    default: stroke(img, s, a, a, b, a), stroke(img, s, a, a, a, 0.5f), stroke(img, s, a, 0.5f, b, 0.5f), stroke(img, s, b, a, b, b); break;
    }
}

static int write_split(const char *dir, const char *prefix, int n, int s, int c, cae_rng *r)
{
    char path[1024];
    size_t hw = (size_t)s * (size_t)s, head = c > 1 ? 20 : 16, ni = head + (size_t)n * hw * (size_t)c, nl = 8 + (size_t)n;
    unsigned char *plane = (unsigned char *)malloc(hw);
    unsigned char *im = (unsigned char *)malloc(ni), *lb = (unsigned char *)malloc(nl);
    cae_err e;
    int i, ok = im && lb && plane;
    if (ok) {
        put32(im, c > 1 ? 0x804 : 0x803), put32(im + 4, (unsigned)n), put32(im + 8, (unsigned)s), put32(im + 12, (unsigned)s);
        if (c > 1) put32(im + 16, (unsigned)c);
        put32(lb, 0x801), put32(lb + 4, (unsigned)n);
        for (i = 0; i < n; i++) {
            size_t q;
            int k;
            lb[8 + i] = (unsigned char)cae_rng_below(r, 10);
            draw(plane, s, lb[8 + i], r);
            for (q = 0; q < hw; q++)
                for (k = 0; k < c; k++) /* channel k at (1 + (label + k) % 3) / 3 of the strokes' intensity */
                    im[head + ((size_t)i * hw + q) * (size_t)c + (size_t)k] =
                        (unsigned char)(plane[q] * (1 + (lb[8 + i] + k) % 3) / 3);
        }
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
        ok = cae_write_file(path, im, ni, &e) == CAE_OK;
        if (ok) {
            snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
            ok = cae_write_file(path, lb, nl, &e) == CAE_OK;
        }
        if (!ok) fprintf(stderr, "make_data: %s\n", e.msg);
    } else {
        fprintf(stderr, "make_data: out of memory\n");
    }
    free(im), free(lb), free(plane);
    return ok;
}

int main(int argc, char **argv)
{
    int ntr = argc > 2 ? atoi(argv[2]) : 0, nte = argc > 3 ? atoi(argv[3]) : 0, s = argc > 4 ? atoi(argv[4]) : 28,
        c = argc > 6 ? atoi(argv[6]) : 1;
    cae_rng r = cae_rng_seed(argc > 5 ? strtoull(argv[5], NULL, 10) : 1);
    if (argc < 4 || ntr < 1 || nte < 1 || ntr > 1000000 || nte > 1000000 || s < 4 || s > 256 || c < 1 || c > 4) {
        fprintf(stderr, "usage: make_data DIR NTRAIN NTEST [SIZE [SEED [CHANNELS]]]  (the folder must exist)\n");
        return 2;
    }
    return write_split(argv[1], "train", ntr, s, c, &r) && write_split(argv[1], "t10k", nte, s, c, &r) ? 0 : 1;
}
