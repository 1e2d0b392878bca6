/* convae_cuda.h - the layers of convae.h on an NVIDIA GPU (tools/convae_cuda.cu).

   Built two ways from the same source:
     nvcc -c tools/convae_cuda.cu                       the kernels run on the GPU
     c++ -x c++ -DCAE_GPU_EMULATE -c tools/convae_cuda.cu  the same kernel bodies run on the CPU,
                                                        block by block and thread by thread, with
                                                        the shared-memory tiles as plain arrays
   so every line that reaches the GPU has run in the tests here. The functions take host arrays
   in convae.h's layouts (NHWC activations, HWIO kernels), copy them to the device, run the
   kernels and copy the results back: they are for tests and checks; the trainer that keeps
   everything on the device comes next (issue 11). Errors are convae.h's codes and cae_err. */
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

#ifdef __cplusplus
}
#endif
#endif
