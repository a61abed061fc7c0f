/*
 * dropout.cl — inverted dropout: y = x * keep / (1 - p).
 *
 * keep[i] = uniform(seed, i) >= p, where uniform is a counter-based hash of the 64-bit
 * seed and the element index: the mask is a pure function of (seed, i), the same on every
 * device, in backward, and in the C reference (tests/c/ref_pool_act.c). Only 32-bit
 * integer arithmetic, so no device needs 64-bit support. Backward runs the same kernel
 * on grad_y. y may be x (in place).
 */

/* "lowbias32" integer mixer (Chris Wellons): a bijection on 32-bit words. */
static uint mix32(uint v) {
    v ^= v >> 16;
    v *= 0x7feb352dU;
    v ^= v >> 15;
    v *= 0x846ca68bU;
    v ^= v >> 16;
    return v;
}

/* 24 random bits of (seed, i) as a float in [0, 1), exact in float32. */
static float dropout_uniform(const uint seed_lo, const uint seed_hi, const uint i) {
    const uint key = mix32(seed_lo ^ mix32(seed_hi ^ 0x9e3779b9U));
    const uint bits = mix32(mix32(i ^ key) + key);
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

__kernel void dropout_apply(__global const float *x, __global float *y, const int n,
                            const float p, const float scale, const uint seed_lo,
                            const uint seed_hi) {
    const int i = get_global_id(0);
    if (i >= n) return;
    y[i] = dropout_uniform(seed_lo, seed_hi, (uint)i) >= p ? x[i] * scale : 0.0f;
}
