/* convae_cuda.h - the layers of convae.h on an NVIDIA GPU (tools/convae_cuda.cu).

   Built two ways from the same source:
     nvcc -c tools/convae_cuda.cu                       the kernels run on the GPU
     c++ -x c++ -DCAE_GPU_EMULATE -c tools/convae_cuda.cu  the same kernel bodies run on the CPU,
                                                        block by block and thread by thread, with
                                                        the shared-memory tiles as plain arrays
   so every line that reaches the GPU has run in the tests here. The functions take host arrays
   in convae.h's layouts (NHWC activations, HWIO kernels), copy them to the device, run the
   kernels and copy the results back: they are for tests and checks. The trainer at the end
   keeps everything on the device: the data set, parameters, gradients, Adam's moments and the
   activations. Errors are convae.h's codes and cae_err. */
#ifndef CONVAE_CUDA_H
#define CONVAE_CUDA_H

#include "../convae.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "cuda" or "host emulation" */
const char *cae_gpu_backend(void);
/* CAE_OK and the device's name in name, or CAE_ERR_IO when there is no usable GPU or driver. */
int cae_gpu_available(char *name, size_t cap, cae_err *e);

/* As cae_conv2d_forward_ref: out [n,h,w,co] = act(conv(in [n,h,w,ci], wt [k,k,ci,co]) + bias). */
int cae_gpu_conv2d_forward(float *out, const float *in, const float *wt, const float *bias, int n, int h, int w, int ci,
                           int co, int k, int act, cae_err *e);
/* As cae_conv2d_backward_ref, but dwt and dbias are written, not added to; din may be NULL. */
int cae_gpu_conv2d_backward(float *din, float *dwt, float *dbias, const float *dpre, const float *in, const float *wt,
                            int n, int h, int w, int ci, int co, int k, cae_err *e);
/* As cae_maxpool2d_forward_ref / _backward_ref (argmax: the input index inside one image). */
int cae_gpu_maxpool2d_forward(float *out, int *argmax, const float *in, int n, int h, int w, int c, cae_err *e);
int cae_gpu_maxpool2d_backward(float *din, const float *dout, const int *argmax, int n, int h, int w, int c,
                               cae_err *e);
/* As cae_upsample2d_forward_ref / _backward_ref. */
int cae_gpu_upsample2d_forward(float *out, const float *in, int n, int h, int w, int c, cae_err *e);
int cae_gpu_upsample2d_backward(float *din, const float *dout, int n, int h, int w, int c, cae_err *e);
/* As cae_relu_backward_ref. */
int cae_gpu_relu_backward(float *dx, const float *dy, const float *y, size_t n, cae_err *e);
/* As cae_bce_logits: *sum gets the summed loss (in double, in a fixed order), grad its gradient
   times scale. */
int cae_gpu_bce_logits(const float *z, const float *t, size_t n, float *grad, float scale, double *sum, cae_err *e);
/* As cae_adam_step (the step size computed on the host as there); a->t counts the step. */
int cae_gpu_adam_step(cae_adam *a, float *param, const float *grad, float *m, float *v, size_t n, cae_err *e);

/* ---------------------------------------------------------------- the trainer on the device
   The step of cae_trainer_step with BCE on the device: the same layers, initial parameters
   and Adam, each batch's images gathered on the device from the data set it holds, so a step
   moves only the batch's image indices up and its loss down. It takes nets of convolutions,
   2x2 max-pools and upsamplings whose last layer is a convolution with a sigmoid, and whose
   output has the input's shape (an autoencoder). The CPU trainer stays the reference and the
   keeper of checkpoints: _get_state / _set_state move parameters, moments and the step count
   between the two. */
typedef struct cae_gpu_trainer cae_gpu_trainer;

/* A trainer for batches of 1..max_batch images starting from net's parameters and adam's
   settings and step count (moments zero). *out is NULL on error. */
int cae_gpu_trainer_create(cae_gpu_trainer **out, const cae_net *net, const cae_adam *adam, int max_batch,
                           cae_err *e);
void cae_gpu_trainer_free(cae_gpu_trainer *g);
/* The data set: n images of the net's input shape as bytes, pixel p read as p * (1/255.0f),
   as the lab's to_float does. Replaces the one before. */
int cae_gpu_trainer_data(cae_gpu_trainer *g, const unsigned char *px, int n, cae_err *e);
/* One step on the data set's images idx[0..n): they are the targets, and the inputs too unless
   x (n images, host floats: a corrupted copy, say) is given. *loss (may be NULL) gets the mean
   BCE before the update, as cae_trainer_step's. */
int cae_gpu_trainer_step(cae_gpu_trainer *g, const int *idx, int n, const float *x, double *loss, cae_err *e);
/* The mean BCE of the same images, without a step. */
int cae_gpu_trainer_evaluate(cae_gpu_trainer *g, const int *idx, int n, const float *x, double *loss, cae_err *e);
/* The mean gradient of the last step (nparams floats). */
int cae_gpu_trainer_grad(cae_gpu_trainer *g, float *grad, cae_err *e);
/* Parameters, Adam's moments (nparams floats each; m and v may be NULL) and settings. */
int cae_gpu_trainer_get_state(cae_gpu_trainer *g, float *param, float *m, float *v, cae_adam *adam, cae_err *e);
int cae_gpu_trainer_set_state(cae_gpu_trainer *g, const float *param, const float *m, const float *v,
                              const cae_adam *adam, cae_err *e);

#ifdef __cplusplus
}
#endif
#endif
