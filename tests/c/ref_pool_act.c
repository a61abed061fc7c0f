#include "ref_pool_act.h"

#include <math.h>
#include <string.h>

int ref_pool_out(int size, int k, int stride, int pad) {
    return (size + 2 * pad - k) / stride + 1;
}

/* The real cells of window (oh, ow): the padding clipped away. */
typedef struct window {
    int h0, h1, w0, w1;  /* real rows [h0, h1), real columns [w0, w1) */
} window;

static window window_at(const ref_pool *g, int oh, int ow) {
    int hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    window win = {hs < 0 ? 0 : hs, hs + g->kh > g->h ? g->h : hs + g->kh,
                  ws < 0 ? 0 : ws, ws + g->kw > g->w ? g->w : ws + g->kw};
    return win;
}

static int window_argmax(const ref_pool *g, const float *plane, window win) {
    int best = -1;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++)
            if (best < 0 || plane[h * g->w + w] > plane[best]) best = h * g->w + w;
    return best;
}

static double window_sum(const ref_pool *g, const float *plane, window win) {
    double sum = 0.0;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++) sum += plane[h * g->w + w];
    return sum;
}

void ref_pool_forward(const ref_pool *g, const float *x, float *y) {
    int oh_n = ref_pool_out(g->h, g->kh, g->sh, g->ph), ow_n = ref_pool_out(g->w, g->kw, g->sw, g->pw);
    for (int p = 0; p < g->n * g->c; p++) {
        const float *plane = x + (int64_t)p * g->h * g->w;
        float *out = y + (int64_t)p * oh_n * ow_n;
        for (int oh = 0; oh < oh_n; oh++)
            for (int ow = 0; ow < ow_n; ow++) {
                window win = window_at(g, oh, ow);
                out[oh * ow_n + ow] = g->is_max ? plane[window_argmax(g, plane, win)]
                                                : (float)(window_sum(g, plane, win) / (g->kh * g->kw));
            }
    }
}

void ref_pool_backward(const ref_pool *g, const float *x, const float *grad_y, float *grad_x) {
    int oh_n = ref_pool_out(g->h, g->kh, g->sh, g->ph), ow_n = ref_pool_out(g->w, g->kw, g->sw, g->pw);
    memset(grad_x, 0, sizeof(float) * (size_t)g->n * g->c * g->h * g->w);
    for (int p = 0; p < g->n * g->c; p++) {
        const float *plane = x + (int64_t)p * g->h * g->w;
        float *gx = grad_x + (int64_t)p * g->h * g->w;
        const float *gy = grad_y + (int64_t)p * oh_n * ow_n;
        for (int oh = 0; oh < oh_n; oh++)
            for (int ow = 0; ow < ow_n; ow++) {
                window win = window_at(g, oh, ow);
                float v = gy[oh * ow_n + ow];
                if (g->is_max) {
                    gx[window_argmax(g, plane, win)] += v;
                    continue;
                }
                for (int h = win.h0; h < win.h1; h++)
                    for (int w = win.w0; w < win.w1; w++) gx[h * g->w + w] += v / (float)(g->kh * g->kw);
            }
    }
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

void ref_activation_forward(int act, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(act == 0 ? (v > 0 ? v : 0) : act == 1 ? tanh(v) : sigmoid(v));
    }
}

void ref_activation_backward(int act, const float *x, const float *grad_y, float *grad_x,
                             int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], d;
        if (act == 0) d = v > 0 ? 1.0 : 0.0;
        else if (act == 1) d = 1.0 - tanh(v) * tanh(v);
        else d = sigmoid(v) * (1.0 - sigmoid(v));
        grad_x[i] = (float)(grad_y[i] * d);
    }
}

/* "lowbias32" integer mixer, as in kernels/dropout.cl. */
static uint32_t mix32(uint32_t v) {
    v ^= v >> 16;
    v *= 0x7feb352dU;
    v ^= v >> 15;
    v *= 0x846ca68bU;
    v ^= v >> 16;
    return v;
}

float ref_dropout_uniform(uint64_t seed, uint32_t i) {
    uint32_t lo = (uint32_t)seed, hi = (uint32_t)(seed >> 32);
    uint32_t key = mix32(lo ^ mix32(hi ^ 0x9e3779b9U));
    uint32_t bits = mix32(mix32(i ^ key) + key);
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

void ref_dropout(const float *x, float *y, int64_t n, float p, uint64_t seed) {
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++)
        y[i] = ref_dropout_uniform(seed, (uint32_t)i) >= p ? x[i] * scale : 0.0f;
}
