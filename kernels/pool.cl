/*
 * pool.cl — max and average pooling, forward and backward, over NCHW tensors.
 *
 * One work item per output element (forward) or per input element (backward).
 * Planes are indexed flat: plane = n*C + c, so the batch is part of the work size.
 * 1-D pooling runs these kernels with H = 1, KH = 1, SH = 1, PH = 0.
 * Every window holds at least one real cell because the host enforces pad <= k/2.
 * Backward is a gather (no atomics): each input element sums the gradients of the
 * output windows that contain it.
 */

#define POOL_ARGS                                                                   \
    const int total, const int H, const int W, const int OH, const int OW,          \
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW

/* Row-major index inside the plane of the first largest real cell of window (oh, ow). */
static int window_argmax(__global const float *plane, const int oh, const int ow,
                         const int H, const int W, const int KH, const int KW,
                         const int SH, const int SW, const int PH, const int PW) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h_lo = max(h0, 0), h_hi = min(h0 + KH, H);
    const int w_lo = max(w0, 0), w_hi = min(w0 + KW, W);
    int best = h_lo * W + w_lo;
    float best_value = plane[best];
    for (int h = h_lo; h < h_hi; h++) {
        for (int w = w_lo; w < w_hi; w++) {
            const float v = plane[h * W + w];
            if (v > best_value) { best_value = v; best = h * W + w; }  /* ties keep the first */
        }
    }
    return best;
}

/* Sum of the real cells of window (oh, ow); padded cells count as zeros. */
static float window_sum(__global const float *plane, const int oh, const int ow,
                        const int H, const int W, const int KH, const int KW,
                        const int SH, const int SW, const int PH, const int PW) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h_hi = min(h0 + KH, H), w_hi = min(w0 + KW, W);
    float sum = 0.0f;
    for (int h = max(h0, 0); h < h_hi; h++)
        for (int w = max(w0, 0); w < w_hi; w++) sum += plane[h * W + w];
    return sum;
}

/* First output index whose window (start o*S - P, length K) reaches position i. */
static int first_window(const int i, const int K, const int S, const int P) {
    const int a = i + P - K + 1;
    return a <= 0 ? 0 : (a + S - 1) / S;
}

/* Last output index whose window starts at or before position i. */
static int last_window(const int i, const int S, const int P, const int O) {
    return min((i + P) / S, O - 1);
}

/* Forward and the tiling backward run over a 3-D range (OW, OH, planes): no integer
 * division per work item, which PoCL cannot vectorise; `total` is the number of planes. */
__kernel void pool_max_forward(__global const float *x, __global float *y, POOL_ARGS) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH || plane >= total) return;
    __global const float *xp = x + plane * H * W;
    y[(plane * OH + oh) * OW + ow] = xp[window_argmax(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW)];
}

__kernel void pool_avg_forward(__global const float *x, __global float *y, POOL_ARGS) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH || plane >= total) return;
    __global const float *xp = x + plane * H * W;
    y[(plane * OH + oh) * OW + ow] =
        window_sum(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW) / (float)(KH * KW);
}

/* grad_x[i] = sum of grad_y over the windows containing i whose argmax is i. */
__kernel void pool_max_backward(__global const float *x, __global const float *grad_y,
                                __global float *grad_x, POOL_ARGS) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    __global const float *xp = x + plane * H * W;
    __global const float *gyp = grad_y + plane * OH * OW;
    const int self = h * W + w;
    const int oh_hi = last_window(h, SH, PH, OH), ow_hi = last_window(w, SW, PW, OW);
    float sum = 0.0f;
    for (int oh = first_window(h, KH, SH, PH); oh <= oh_hi; oh++)
        for (int ow = first_window(w, KW, SW, PW); ow <= ow_hi; ow++)
            if (window_argmax(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW) == self)
                sum += gyp[oh * OW + ow];
    grad_x[i] = sum;
}

/* grad_x[i] = sum of grad_y over the windows containing i, divided by KH*KW. */
__kernel void pool_avg_backward(__global const float *x, __global const float *grad_y,
                                __global float *grad_x, POOL_ARGS) {
    const int i = get_global_id(0);
    if (i >= total) return;
    (void)x;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    __global const float *gyp = grad_y + plane * OH * OW;
    const int oh_hi = last_window(h, SH, PH, OH), ow_hi = last_window(w, SW, PW, OW);
    float sum = 0.0f;
    for (int oh = first_window(h, KH, SH, PH); oh <= oh_hi; oh++)
        for (int ow = first_window(w, KW, SW, PW); ow <= ow_hi; ow++) sum += gyp[oh * OW + ow];
    grad_x[i] = sum / (float)(KH * KW);
}

/* Backward when the windows tile the input exactly (stride = window, no padding, the
 * windows cover every cell, as LeNet's 2x2/2 pooling): one work item per OUTPUT writes its
 * whole window, so no input needs to search for the windows that contain it. (A gather
 * over the input, one window lookup per cell, measured 3x slower on PoCL.) */
__kernel void pool_max_backward_tiles(__global const float *x, __global const float *grad_y,
                                      __global float *grad_x, POOL_ARGS) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH || plane >= total) return;
    __global const float *xp = x + plane * H * W;
    __global float *gxp = grad_x + plane * H * W;
    const int best = window_argmax(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW);
    const float g = grad_y[(plane * OH + oh) * OW + ow];
    for (int h = oh * KH; h < oh * KH + KH; h++)
        for (int w = ow * KW; w < ow * KW + KW; w++) gxp[h * W + w] = (h * W + w == best) ? g : 0.0f;
}

__kernel void pool_avg_backward_tiles(__global const float *x, __global const float *grad_y,
                                      __global float *grad_x, POOL_ARGS) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH || plane >= total) return;
    (void)x;
    const int i = (plane * OH + oh) * OW + ow;
    __global float *gxp = grad_x + plane * H * W;
    const float g = grad_y[i] / (float)(KH * KW);
    for (int h = oh * KH; h < oh * KH + KH; h++)
        for (int w = ow * KW; w < ow * KW + KW; w++) gxp[h * W + w] = g;
}
