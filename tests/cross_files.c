/* cross_files.c - what tests/cross.sh runs on each platform it has (x86-64, i386, s390x under
   qemu, Windows under wine), to show that model and IDX files mean the same on all of them,
   whatever the byte order, the word size or the C library.

   usage: cross_files MODEL IMAGES OUTDIR [IDX...]
     MODEL   a model file (the lab's model.cae, written on x86-64)
     IMAGES  an IDX file of u8 images of the model's input size
   writes into OUTDIR (which must exist):
     resaved.cae  MODEL loaded and saved again: the same bytes as MODEL
     seed42.cae   the lab's model made from seed 42 and saved: the same bytes everywhere
     resaved.ckpt checkpoint.cae beside MODEL (the lab's, with Adam's moments and the lab's own
                  bytes) loaded into a trainer and saved again: the same bytes as that file
     seed42.ckpt  a trainer of the seed-42 model, saved: the same bytes everywhere
     out.txt      the model's outputs for the first 16 images, one "%.9g" a line
     idx.txt      for each IDX file: type, dims, and a hash of the elements' exact values
   The text files are written in binary mode, so that they compare byte for byte on Windows too.

       cc -std=c99 -O2 -I. tests/cross_files.c -o cross_files -lm */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIMG 16

static int fail(const char *what, const cae_err *e)
{
    fprintf(stderr, "cross_files: %s: %s\n", what, e ? e->msg : "out of memory");
    return 1;
}

/* OUTDIR/name, opened for writing in binary mode */
static FILE *open_out(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return fopen(path, "wb");
}

/* the outputs for the first NIMG images of IMAGES */
static int write_outputs(const cae_net *net, const char *images, const char *dir)
{
    cae_idx im;
    cae_err e;
    size_t hw = (size_t)net->h * net->w * net->c, nout, i, bytes = cae_net_scratch_bytes(net);
    const cae_layer *last = net->layer + net->nlayers - 1;
    float *x, *y;
    void *scratch;
    cae_tensor tx, ty;
    FILE *f;
    int n, rc;
    if (cae_idx_load(images, &im, &e)) return fail(images, &e);
    n = im.dims[0] < NIMG ? im.dims[0] : NIMG;
    if (im.type != CAE_IDX_U8 || im.ndim != 3 || (size_t)im.dims[1] * im.dims[2] != hw || n < 1) {
        cae_idx_free(&im);
        fprintf(stderr, "cross_files: %s: not u8 images of %dx%d\n", images, net->h, net->w);
        return 1;
    }
    nout = (size_t)n * last->oh * last->ow * last->oc;
    x = (float *)malloc((size_t)n * hw * sizeof *x);
    y = (float *)malloc(nout * sizeof *y);
    scratch = malloc(bytes);
    if (!x || !y || !scratch) {
        free(x), free(y), free(scratch), cae_idx_free(&im);
        return fail("outputs", NULL);
    }
    for (i = 0; i < (size_t)n * hw; i++) x[i] = (float)((const unsigned char *)im.data)[i] / 255.0f;
    tx = cae_tensor_of(x, n, net->h, net->w, net->c);
    ty = cae_tensor_of(y, n, last->oh, last->ow, last->oc);
    rc = cae_net_forward(net, &tx, &ty, scratch, bytes, &e);
    f = rc ? NULL : open_out(dir, "out.txt");
    if (f) {
        for (i = 0; i < nout; i++) fprintf(f, "%.9g\n", y[i]);
        if (fclose(f)) f = NULL;
    }
    free(x), free(y), free(scratch), cae_idx_free(&im);
    if (rc) return fail("forward", &e);
    if (!f) return fail("out.txt", NULL);
    return 0;
}

/* type, dims and an FNV-1a hash over the 64 bits of each element's value as a double: equal
   on two machines only if every element decoded to the same number */
static int write_idx(int argc, char **argv, const char *dir)
{
    FILE *f = open_out(dir, "idx.txt");
    int a, d, rc = 0;
    if (!f) return fail("idx.txt", NULL);
    for (a = 0; a < argc; a++) {
        const char *base = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        cae_idx x;
        cae_err e;
        unsigned long long h = 14695981039346656037ULL, bits;
        size_t i;
        int b;
        if (cae_idx_load(argv[a], &x, &e)) {
            fprintf(f, "%s: error %d\n", base, e.code);
            rc = fail(argv[a], &e);
            continue;
        }
        for (i = 0; i < x.count; i++) {
            double v = cae_idx_get(&x, i);
            memcpy(&bits, &v, sizeof bits);
            for (b = 0; b < 64; b += 8) h = (h ^ ((bits >> b) & 0xFF)) * 1099511628211ULL;
        }
        fprintf(f, "%s: type 0x%02X dims", base, (unsigned)x.type);
        for (d = 0; d < x.ndim; d++) fprintf(f, " %d", x.dims[d]);
        fprintf(f, " count %lu hash %016llx first %.17g last %.17g\n", (unsigned long)x.count, h,
                cae_idx_get(&x, 0), x.count ? cae_idx_get(&x, x.count - 1) : 0.0);
        cae_idx_free(&x);
    }
    if (fclose(f)) return fail("idx.txt", NULL);
    return rc;
}

/* resaved.ckpt and seed42.ckpt (see the top) */
static int checkpoints(const cae_net *lab, const char *model, const char *dir)
{
    char in[1024], path[1024];
    const char *slash = strrchr(model, '/');
    cae_trainer *t = NULL;
    void *user = NULL;
    size_t ulen = 0;
    cae_err e;
    int rc;
    snprintf(in, sizeof in, "%.*scheckpoint.cae", slash ? (int)(slash - model + 1) : 0, model);
    if (cae_trainer_create(&t, lab, 4, &e)) return fail("trainer", &e);
    snprintf(path, sizeof path, "%s/seed42.ckpt", dir);
    rc = cae_trainer_save(t, path, NULL, 0, &e);
    if (!rc) rc = cae_trainer_load(t, in, &user, &ulen, &e);
    if (!rc) {
        snprintf(path, sizeof path, "%s/resaved.ckpt", dir);
        rc = cae_trainer_save(t, path, user, ulen, &e);
    }
    free(user);
    cae_trainer_free(t);
    return rc ? fail(path, &e) : 0;
}

int main(int argc, char **argv)
{
    cae_net net, lab;
    cae_err e;
    char path[1024];
    int n, rc;
    const cae_layer_spec *specs = cae_lab_specs(&n);
    if (argc < 4) {
        fprintf(stderr, "usage: cross_files MODEL IMAGES OUTDIR [IDX...]\n");
        return 2;
    }
    if (cae_net_load(&net, argv[1], &e)) return fail(argv[1], &e);
    snprintf(path, sizeof path, "%s/resaved.cae", argv[3]);
    rc = cae_net_save(&net, path, &e) ? fail(path, &e) : write_outputs(&net, argv[2], argv[3]);
    cae_net_free(&net);
    if (rc) return rc;
    if (cae_net_create(&lab, 28, 28, 1, specs, n, 42, &e)) return fail("create", &e);
    snprintf(path, sizeof path, "%s/seed42.cae", argv[3]);
    rc = cae_net_save(&lab, path, &e) ? fail(path, &e) : 0;
    if (!rc) rc = checkpoints(&lab, argv[1], argv[3]);
    cae_net_free(&lab);
    if (rc) return rc;
    return write_idx(argc - 4, argv + 4, argv[3]);
}
