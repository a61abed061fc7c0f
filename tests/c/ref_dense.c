/* ref_dense.c — the plain-C references of ref_dense.h. */
#include "ref_dense.h"

#include <stddef.h>

void ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
              const float *b, float beta, float *c) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int p = 0; p < k; p++) {
                double av = trans_a ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                double bv = trans_b ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                sum += av * bv;
            }
            double old = beta == 0.0f ? 0.0 : (double)beta * c[(size_t)i * n + j];
            c[(size_t)i * n + j] = (float)(alpha * sum + old);
        }
}

void ref_conv_init(ref_conv *g) {
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
}

int64_t ref_conv_x_numel(const ref_conv *g) { return (int64_t)g->n * g->c * g->h * g->w; }
int64_t ref_conv_w_numel(const ref_conv *g) { return (int64_t)g->o * g->c * g->kh * g->kw; }
int64_t ref_conv_y_numel(const ref_conv *g) { return (int64_t)g->n * g->o * g->oh * g->ow; }

static size_t x_at(const ref_conv *g, int n, int c, int h, int w) {
    return (((size_t)n * g->c + c) * g->h + h) * g->w + w;
}
static size_t w_at(const ref_conv *g, int o, int c, int kh, int kw) {
    return (((size_t)o * g->c + c) * g->kh + kh) * g->kw + kw;
}
static size_t y_at(const ref_conv *g, int n, int o, int oh, int ow) {
    return (((size_t)n * g->o + o) * g->oh + oh) * g->ow + ow;
}

/* Input row/column read by output (oh, ow) at kernel tap (kh, kw); -1 when in padding. */
static int in_row(const ref_conv *g, int oh, int kh) {
    int h = oh * g->sh - g->ph + kh;
    return h >= 0 && h < g->h ? h : -1;
}
static int in_col(const ref_conv *g, int ow, int kw) {
    int w = ow * g->sw - g->pw + kw;
    return w >= 0 && w < g->w ? w : -1;
}

static double conv_at(const ref_conv *g, const float *x, const float *w, int n, int o, int oh,
                      int ow) {
    double sum = 0.0;
    for (int c = 0; c < g->c; c++)
        for (int kh = 0; kh < g->kh; kh++)
            for (int kw = 0; kw < g->kw; kw++) {
                int h = in_row(g, oh, kh), ww = in_col(g, ow, kw);
                if (h >= 0 && ww >= 0)
                    sum += (double)x[x_at(g, n, c, h, ww)] * w[w_at(g, o, c, kh, kw)];
            }
    return sum;
}

void ref_conv_forward(const ref_conv *g, const float *x, const float *w, const float *bias,
                      float *y) {
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->o; o++)
            for (int oh = 0; oh < g->oh; oh++)
                for (int ow = 0; ow < g->ow; ow++)
                    y[y_at(g, n, o, oh, ow)] =
                        (float)(conv_at(g, x, w, n, o, oh, ow) + (bias ? bias[o] : 0.0));
}

/* Scatter form: every (output, tap) pair adds its share to gx and gw. */
void ref_conv_backward(const ref_conv *g, const float *x, const float *w, const float *gy,
                       float *gx, float *gw, float *gb) {
    if (gx)
        for (int64_t i = 0; i < ref_conv_x_numel(g); i++) gx[i] = 0.0f;
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->o; o++)
            for (int oh = 0; oh < g->oh; oh++)
                for (int ow = 0; ow < g->ow; ow++) {
                    float dy = gy[y_at(g, n, o, oh, ow)];
                    if (gb) gb[o] += dy;
                    for (int c = 0; c < g->c; c++)
                        for (int kh = 0; kh < g->kh; kh++)
                            for (int kw = 0; kw < g->kw; kw++) {
                                int h = in_row(g, oh, kh), ww = in_col(g, ow, kw);
                                if (h < 0 || ww < 0) continue;
                                if (gx) gx[x_at(g, n, c, h, ww)] += dy * w[w_at(g, o, c, kh, kw)];
                                if (gw) gw[w_at(g, o, c, kh, kw)] += dy * x[x_at(g, n, c, h, ww)];
                            }
                }
}

void ref_linear_forward(int n, int in, int out, const float *x, const float *w,
                        const float *bias, float *y) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++) {
            double sum = bias ? bias[j] : 0.0;
            for (int p = 0; p < in; p++) sum += (double)x[(size_t)i * in + p] * w[(size_t)j * in + p];
            y[(size_t)i * out + j] = (float)sum;
        }
}

void ref_linear_backward(int n, int in, int out, const float *x, const float *w,
                         const float *gy, float *gx, float *gw, float *gb) {
    if (gx)
        for (int i = 0; i < n; i++)
            for (int p = 0; p < in; p++) {
                double sum = 0.0;
                for (int j = 0; j < out; j++) sum += (double)gy[(size_t)i * out + j] * w[(size_t)j * in + p];
                gx[(size_t)i * in + p] = (float)sum;
            }
    if (gw)
        for (int j = 0; j < out; j++)
            for (int p = 0; p < in; p++) {
                double sum = 0.0;
                for (int i = 0; i < n; i++) sum += (double)gy[(size_t)i * out + j] * x[(size_t)i * in + p];
                gw[(size_t)j * in + p] += (float)sum;
            }
    if (gb) ref_bias_grad(n, out, 1, gy, gb);
}

void ref_bias_add(int n, int c, int s, float *y, const float *bias) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int p = 0; p < s; p++) y[((size_t)i * c + k) * s + p] += bias[k];
}

void ref_bias_grad(int n, int c, int s, const float *gy, float *gb) {
    for (int k = 0; k < c; k++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < s; p++) sum += gy[((size_t)i * c + k) * s + p];
        gb[k] += (float)sum;
    }
}
