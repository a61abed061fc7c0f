/* im2col.cl — the data movement around the GEMM of a convolution (2-D; 1-D is H = 1).
 *
 * Geometry (all int kernel arguments): x [N,C,H,W], kernel KHxKW, stride sh,sw, padding
 * ph,pw, output OHxOW, P = OH*OW. The column matrix col is [C*KH*KW, N*P]: row
 * (c*KH + kh)*KW + kw, column n*P + oh*OW + ow holds x[n, c, oh*sh - ph + kh,
 * ow*sw - pw + kw] (0 in the padding). The whole batch is one matrix, so a convolution
 * is one GEMM whatever N is.
 *
 * Every kernel here gives a work-item one row of OW (or W) values to loop over rather
 * than one value: per-work-item overhead dominates such copies on CPU drivers (PoCL:
 * about 5x faster than one value per work-item).
 */

/* Global (OH, C*KH*KW, N): each work-item fills one output row (OW columns). */
__kernel void im2col(__global const float *x, __global float *col, int N, int C, int H,
                     int W, int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw) {
    const int oh = (int)get_global_id(0), row = (int)get_global_id(1);
    const int n = (int)get_global_id(2);
    if (oh >= OH || row >= C * KH * KW || n >= N) return;
    const int kw = row % KW, kh = (row / KW) % KH, c = row / (KW * KH);
    const int h = oh * sh - ph + kh;
    const int P = OH * OW;
    __global float *dst = col + (size_t)row * N * P + n * P + oh * OW;
    if (h < 0 || h >= H) {
        for (int ow = 0; ow < OW; ow++) dst[ow] = 0.0f;
        return;
    }
    __global const float *src = x + ((size_t)(n * C + c) * H + h) * W;
    for (int ow = 0; ow < OW; ow++) {
        const int w = ow * sw - pw + kw;
        dst[ow] = w >= 0 && w < W ? src[w] : 0.0f;
    }
}

/* First output index o >= 0 whose window (o*s - pad .. o*s - pad + k - 1) covers i. */
static inline int first_window(int i, int pad, int k, int s) {
    const int t = i + pad - k + 1;
    return t <= 0 ? 0 : (t + s - 1) / s;
}

/* The adjoint of im2col as a gather: each input pixel sums the column entries that
 * were copied from it (no atomics, deterministic). Overwrites gx.
 * Global (H, C, N): each work-item produces one input row (W pixels). */
__kernel void col2im(__global const float *col, __global float *gx, int N, int C, int H,
                     int W, int KH, int KW, int OH, int OW, int sh, int sw, int ph, int pw) {
    const int h = (int)get_global_id(0), c = (int)get_global_id(1);
    const int n = (int)get_global_id(2);
    if (h >= H || c >= C || n >= N) return;
    const int P = OH * OW;
    const size_t row_stride = (size_t)N * P;
    __global const float *src = col + (size_t)c * KH * KW * row_stride + n * P;
    __global float *dst = gx + ((size_t)(n * C + c) * H + h) * W;
    const int oh_begin = first_window(h, ph, KH, sh), oh_end = min(OH - 1, (h + ph) / sh);
    for (int w = 0; w < W; w++) {
        const int ow_begin = first_window(w, pw, KW, sw), ow_end = min(OW - 1, (w + pw) / sw);
        float sum = 0.0f;
        for (int oh = oh_begin; oh <= oh_end; oh++) {
            const int kh = h + ph - oh * sh;
            for (int ow = ow_begin; ow <= ow_end; ow++) {
                const int kw = w + pw - ow * sw;
                sum += src[(kh * KW + kw) * row_stride + oh * OW + ow];
            }
        }
        dst[w] = sum;
    }
}

/* y [N,O,P] = t [O, N*P] permuted, plus bias[o] when has_bias. Global (OH, O, N): each
 * work-item moves one output row (OW values). */
__kernel void conv_output(__global const float *t, __global const float *bias,
                          __global float *y, int N, int O, int OH, int OW, int has_bias) {
    const int oh = (int)get_global_id(0), o = (int)get_global_id(1);
    const int n = (int)get_global_id(2);
    if (oh >= OH || o >= O || n >= N) return;
    const int P = OH * OW;
    const float b = has_bias ? bias[o] : 0.0f;
    __global const float *src = t + ((size_t)o * N + n) * P + oh * OW;
    __global float *dst = y + ((size_t)n * O + o) * P + oh * OW;
    for (int ow = 0; ow < OW; ow++) dst[ow] = src[ow] + b;
}

/* t [O, N*P] = grad_y [N,O,P] permuted (the GEMM layout of the output gradient).
 * Global (OH, O, N), one output row per work-item. */
__kernel void conv_grad_output(__global const float *gy, __global float *t, int N, int O,
                               int OH, int OW) {
    const int oh = (int)get_global_id(0), o = (int)get_global_id(1);
    const int n = (int)get_global_id(2);
    if (oh >= OH || o >= O || n >= N) return;
    const int P = OH * OW;
    __global const float *src = gy + ((size_t)n * O + o) * P + oh * OW;
    __global float *dst = t + ((size_t)o * N + n) * P + oh * OW;
    for (int ow = 0; ow < OW; ow++) dst[ow] = src[ow];
}
