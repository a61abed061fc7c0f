/*
 * act.cl — elementwise activations (ReLU, tanh, sigmoid), forward and backward.
 *
 * One work item per element, over any shape; ReLU, memory-bound, takes eight elements
 * per work item as one float8 (PoCL's cost per work item is larger than a ReLU's), the
 * last item the remainder. y may be x (in place) and grad_x may be grad_y: each item
 * reads its elements before writing them. Backward uses the input x.
 */

/* 1 / (1 + exp(-v)) without overflow: exp only ever sees a non-positive argument. */
static float safe_sigmoid(const float v) {
    const float e = exp(-fabs(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* tanh that saturates to exactly +-1: float tanh(v) rounds to 1 for |v| >= 9, but some
 * drivers return 1 - 2^-24 there (a 1-ulp error), leaving a tiny nonzero slope. */
static float safe_tanh(const float v) {
    return fabs(v) >= 9.0f ? copysign(1.0f, v) : tanh(v);
}

/* Global ceil(n / 8): elements [8i, 8i + 8). */
__kernel void relu_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0) * 8;
    if (i + 8 <= n) {
        const float8 v = vload8(0, x + i);
        vstore8(select((float8)(0.0f), v, v > 0.0f), 0, y + i);
        return;
    }
    for (int j = i; j < n; j++) y[j] = x[j] > 0.0f ? x[j] : 0.0f;
}

__kernel void tanh_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0);
    if (i < n) y[i] = safe_tanh(x[i]);
}

__kernel void sigmoid_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0);
    if (i < n) y[i] = safe_sigmoid(x[i]);
}

/* Global ceil(n / 8), as relu_forward. */
__kernel void relu_backward(__global const float *x, __global const float *grad_y,
                            __global float *grad_x, const int n) {
    const int i = get_global_id(0) * 8;
    if (i + 8 <= n) {
        const float8 g = vload8(0, grad_y + i);
        vstore8(select((float8)(0.0f), g, vload8(0, x + i) > 0.0f), 0, grad_x + i);
        return;
    }
    for (int j = i; j < n; j++) grad_x[j] = x[j] > 0.0f ? grad_y[j] : 0.0f;
}

__kernel void tanh_backward(__global const float *x, __global const float *grad_y,
                            __global float *grad_x, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float t = safe_tanh(x[i]);
    grad_x[i] = grad_y[i] * (1.0f - t * t);
}

__kernel void sigmoid_backward(__global const float *x, __global const float *grad_y,
                               __global float *grad_x, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float s = safe_sigmoid(x[i]);
    grad_x[i] = grad_y[i] * s * (1.0f - s);
}
