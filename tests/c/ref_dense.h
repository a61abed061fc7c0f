/* ref_dense.h — plain-C, double-accumulating references for GEMM, conv2d/conv1d, linear
 * and bias add (written as the textbook loops, independent of the device algorithms). */
#ifndef LUNET_REF_DENSE_H
#define LUNET_REF_DENSE_H

#include <stdint.h>

/* Row-major C[m,n] = alpha op(A) op(B) + beta C; beta == 0 ignores C's contents. */
void ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
              const float *b, float beta, float *c);

typedef struct ref_conv {
    int n, c, h, w;      /* input [N,C,H,W] (1-D: H = 1) */
    int o, kh, kw;       /* weight [O,C,KH,KW] */
    int sh, sw, ph, pw;
    int oh, ow;          /* filled by ref_conv_init */
} ref_conv;

/* Computes oh, ow with floor((n + 2p - f) / s) + 1. */
void ref_conv_init(ref_conv *g);
int64_t ref_conv_x_numel(const ref_conv *g);
int64_t ref_conv_w_numel(const ref_conv *g);
int64_t ref_conv_y_numel(const ref_conv *g);
/* y [N,O,OH,OW] = cross-correlation of x with w, + bias (bias may be NULL). */
void ref_conv_forward(const ref_conv *g, const float *x, const float *w, const float *bias,
                      float *y);
/* grad_x = (overwritten), grad_w += , grad_b += ; each may be NULL. */
void ref_conv_backward(const ref_conv *g, const float *x, const float *w, const float *gy,
                       float *gx, float *gw, float *gb);

/* y [n,out] = x [n,in] w^T + bias (bias may be NULL). */
void ref_linear_forward(int n, int in, int out, const float *x, const float *w,
                        const float *bias, float *y);
/* grad_x = dy w (overwritten), grad_w += dy^T x, grad_b += column sums; each may be NULL. */
void ref_linear_backward(int n, int in, int out, const float *x, const float *w,
                         const float *gy, float *gx, float *gw, float *gb);

/* y [n,c,s] += bias[c]; gb[c] += sum over n, s of gy[n,c,s]. */
void ref_bias_add(int n, int c, int s, float *y, const float *bias);
void ref_bias_grad(int n, int c, int s, const float *gy, float *gb);

#endif
