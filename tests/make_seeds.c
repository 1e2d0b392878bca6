/* make_seeds.c - the seed files tests/fuzz_corpus.sh gives the harnesses that read what the
   library writes, each a few hundred bytes (the lab's model is 300 KB: too slow a seed):
     DIR/fuzz_model  model files: every layer kind and activation, odd sizes, several channels,
                     a shape that takes Winograd
     DIR/fuzz_ckpt   checkpoints of the trainer fuzz_ckpt.c reads into (same model), before and
                     after a step, with and without the caller's bytes
     DIR/fuzz_npy    .npy files of every element type (0, 1 and 3 dimensions) and .npz archives

   usage: make_seeds DIR     (DIR/fuzz_model, DIR/fuzz_ckpt and DIR/fuzz_npy must exist) */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <string.h>

static const cae_layer_spec one[1] = {{CAE_CONV2D, 1, 1, CAE_ACT_NONE, NULL}};
static const cae_layer_spec small[5] = {{CAE_CONV2D, 4, 3, CAE_ACT_RELU, "enc_conv"},
                                        {CAE_MAXPOOL2D, 0, 0, 0, "enc_pool"},
                                        {CAE_CONV2D, 4, 3, CAE_ACT_RELU, NULL},
                                        {CAE_UPSAMPLE2D, 0, 0, 0, NULL},
                                        {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "dec_out"}};
static const cae_layer_spec acts[4] = {{CAE_CONV2D, 2, 5, CAE_ACT_NONE, NULL},
                                       {CAE_RELU, 0, 0, 0, NULL},
                                       {CAE_CONV2D, 3, 1, CAE_ACT_NONE, NULL},
                                       {CAE_SIGMOID, 0, 0, 0, NULL}};
static const cae_layer_spec wino[1] = {{CAE_CONV2D, 16, 3, CAE_ACT_RELU, NULL}};
/* the model of fuzz_ckpt.c, whose trainer reads the checkpoints */
static const cae_layer_spec ckpt[5] = {{CAE_CONV2D, 3, 3, CAE_ACT_RELU, "c1"},
                                       {CAE_MAXPOOL2D, 0, 0, 0, "p1"},
                                       {CAE_CONV2D, 4, 3, CAE_ACT_RELU, "c2"},
                                       {CAE_UPSAMPLE2D, 0, 0, 0, "u1"},
                                       {CAE_CONV2D, 1, 3, CAE_ACT_SIGMOID, "out"}};

static cae_err e;

static int model(const char *dir, const char *name, int h, int w, int c, const cae_layer_spec *s, int n)
{
    char path[1024];
    cae_net net;
    int rc;
    snprintf(path, sizeof path, "%s/fuzz_model/%s.cae", dir, name);
    rc = cae_net_create(&net, h, w, c, s, n, 1, &e);
    if (rc == CAE_OK) rc = cae_net_save(&net, path, &e);
    cae_net_free(&net);
    return rc == CAE_OK;
}

static int checkpoints(const char *dir)
{
    char path[1024];
    cae_net net;
    cae_trainer *t = NULL;
    float x[2 * 64];
    cae_tensor xt = cae_tensor_of(x, 2, 8, 8, 1);
    int i, rc = cae_net_create(&net, 8, 8, 1, ckpt, 5, 3, &e);
    if (rc == CAE_OK) rc = cae_trainer_create(&t, &net, 2, &e);
    cae_net_free(&net);
    for (i = 0; i < 2 * 64; i++) x[i] = (float)(i % 7) / 7.0f;
    snprintf(path, sizeof path, "%s/fuzz_ckpt/fresh.ckpt", dir);
    if (rc == CAE_OK) rc = cae_trainer_save(t, path, NULL, 0, &e);
    if (rc == CAE_OK) rc = cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, NULL, &e);
    snprintf(path, sizeof path, "%s/fuzz_ckpt/stepped.ckpt", dir);
    if (rc == CAE_OK) rc = cae_trainer_save(t, path, NULL, 0, &e);
    snprintf(path, sizeof path, "%s/fuzz_ckpt/user.ckpt", dir);
    if (rc == CAE_OK) rc = cae_trainer_save(t, path, "epoch 3, batch 17", 17, &e);
    cae_trainer_free(t);
    return rc == CAE_OK;
}

/* an array of `type` and the given dims (ndim 0: one element), as name.npy */
static int npy(const char *dir, const char *name, int type, int size, int ndim, int d0, int d1, int d2)
{
    static const unsigned char bytes[64] = {1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0xff, 0x7f, 0, 0x3f, 0x80, 0, 0};
    char path[1024];
    cae_idx x;
    memset(&x, 0, sizeof x);
    x.type = type, x.elem_size = size, x.ndim = ndim ? ndim : 1, x.data = (void *)bytes;
    x.dims[0] = ndim ? d0 : 1, x.dims[1] = d1, x.dims[2] = d2;
    x.count = (size_t)x.dims[0] * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    snprintf(path, sizeof path, "%s/fuzz_npy/%s.npy", dir, name);
    return cae_npy_save(path, &x, &e) == CAE_OK;
}

static int npz(const char *dir)
{
    static const float w[6] = {0.5f, -1.0f, 2.0f, 0.0f, 1e-3f, -7.0f};
    static const unsigned char b[3] = {9, 8, 7};
    static const char *const names[2] = {"arr_0", "w"};
    char path[1024];
    cae_idx x[2];
    memset(x, 0, sizeof x);
    x[0].type = CAE_IDX_U8, x[0].elem_size = 1, x[0].ndim = 1, x[0].dims[0] = 3, x[0].count = 3;
    x[0].data = (void *)b;
    x[1].type = CAE_IDX_F32, x[1].elem_size = 4, x[1].ndim = 2, x[1].dims[0] = 2, x[1].dims[1] = 3;
    x[1].count = 6, x[1].data = (void *)w;
    snprintf(path, sizeof path, "%s/fuzz_npy/two.npz", dir);
    return cae_npz_save(path, names, x, 2, &e) == CAE_OK;
}

int main(int argc, char **argv)
{
    const char *d = argc == 2 ? argv[1] : NULL;
    if (!d) {
        fprintf(stderr, "usage: make_seeds DIR  (DIR/fuzz_model, DIR/fuzz_ckpt and DIR/fuzz_npy must exist)\n");
        return 2;
    }
    if (model(d, "one", 1, 1, 1, one, 1) && model(d, "small", 8, 8, 1, small, 5) && model(d, "acts", 5, 7, 3, acts, 4) &&
        model(d, "wino", 4, 4, 8, wino, 1) && checkpoints(d) && npy(d, "u8", CAE_IDX_U8, 1, 1, 5, 0, 0) &&
        npy(d, "i8", CAE_IDX_I8, 1, 2, 2, 3, 0) && npy(d, "i16", CAE_IDX_I16, 2, 1, 4, 0, 0) &&
        npy(d, "i32", CAE_IDX_I32, 4, 3, 1, 2, 2) && npy(d, "f32", CAE_IDX_F32, 4, 2, 2, 2, 0) &&
        npy(d, "f64", CAE_IDX_F64, 8, 0, 0, 0, 0) && npy(d, "empty", CAE_IDX_F32, 4, 2, 0, 3, 0) && npz(d))
        return 0;
    fprintf(stderr, "make_seeds: %s\n", e.msg);
    return 1;
}
