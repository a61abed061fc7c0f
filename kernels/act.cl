/*
 * act.cl — elementwise activations (ReLU, tanh, sigmoid), forward and backward.
 *
 * One work item per element, over any shape. y may be x (in place) and grad_x may be
 * grad_y: each item reads its element before writing it. Backward uses the input x.
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

__kernel void relu_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0);
    if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__kernel void tanh_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0);
    if (i < n) y[i] = safe_tanh(x[i]);
}

__kernel void sigmoid_forward(__global const float *x, __global float *y, const int n) {
    const int i = get_global_id(0);
    if (i < n) y[i] = safe_sigmoid(x[i]);
}

__kernel void relu_backward(__global const float *x, __global const float *grad_y,
                            __global float *grad_x, const int n) {
    const int i = get_global_id(0);
    if (i < n) grad_x[i] = x[i] > 0.0f ? grad_y[i] : 0.0f;
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
