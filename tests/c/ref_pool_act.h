/* ref_pool_act.h — plain-C references for pooling, activations and dropout (the tests
 * compare the OpenCL kernels against these). Straightforward loops, double accumulation. */
#ifndef LUNET_REF_POOL_ACT_H
#define LUNET_REF_POOL_ACT_H

#include <stdint.h>

/* Geometry of a 2-D pooling over NCHW; 1-D is h = 1, kh = 1, sh = 1, ph = 0. */
typedef struct ref_pool {
    int n, c, h, w;
    int kh, kw, sh, sw, ph, pw;
    int is_max;
} ref_pool;

/* floor((size + 2 pad - k) / stride) + 1 */
int ref_pool_out(int size, int k, int stride, int pad);
/* y [n,c,oh,ow]: max of the real cells (first maximum wins) or sum / (kh*kw). */
void ref_pool_forward(const ref_pool *g, const float *x, float *y);
/* grad_x [n,c,h,w] (overwritten): scatter of grad_y to each window's argmax, or evenly
 * over each window for average pooling. */
void ref_pool_backward(const ref_pool *g, const float *x, const float *grad_y, float *grad_x);

/* act: 0 relu, 1 tanh, 2 sigmoid (lunet_activation's values). */
void ref_activation_forward(int act, const float *x, float *y, int64_t n);
void ref_activation_backward(int act, const float *x, const float *grad_y, float *grad_x,
                             int64_t n);

/* The dropout uniform in [0, 1) for element i: the same hash as kernels/dropout.cl. */
float ref_dropout_uniform(uint64_t seed, uint32_t i);
/* y = x * (u >= p) / (1 - p), bit-exact with the kernel. */
void ref_dropout(const float *x, float *y, int64_t n, float p, uint64_t seed);

#endif
