/*
 * dropout.c — inverted dropout, forward and backward: y = x * keep / (1 - p), where
 * keep[i] = uniform(seed, i) >= p is a pure function of (seed, i) computed on the device
 * (kernels/dropout.cl), so backward regenerates the forward mask from the same seed and
 * nothing is stored. y may be x (in place).
 */
#include <limits.h>

#include "internal.h"

static lunet_status check_p(const char *op, float p) {
    if (!(p >= 0.0f && p < 1.0f))  /* also rejects NaN */
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: p = %g must be in [0, 1)", op, (double)p);
    return LUNET_OK;
}

/* out = in * keep / (1 - p); in and out already validated. */
static lunet_status dropout_apply(const lunet_tensor *in, lunet_tensor *out, float p,
                                  uint64_t seed) {
    if (p == 0.0f) return lunet_tensor_copy(out, in);  /* keeps all; no-op in place */
    cl_mem im = lunet__mem(in), om = lunet__mem(out);
    int n = (int)in->numel;
    float scale = 1.0f / (1.0f - p);
    cl_uint seed_lo = (cl_uint)(seed & 0xffffffffu), seed_hi = (cl_uint)(seed >> 32);
    lunet_arg args[] = {LUNET_ARG(im), LUNET_ARG(om), LUNET_ARG(n), LUNET_ARG(p),
                        LUNET_ARG(scale), LUNET_ARG(seed_lo), LUNET_ARG(seed_hi)};
    return lunet__run_elementwise(in->ctx, "dropout", "dropout_apply", NULL, n,
                                  LUNET_NARGS(args), args);
}

/* in exists with an int-sized element count; out (if given) matches it. */
static lunet_status check_pair(const char *op, const char *in_what, const lunet_tensor *in,
                               const char *out_what, const lunet_tensor *out, float p) {
    lunet_status st = lunet__check_tensor(op, in_what, in);
    if (st != LUNET_OK) return st;
    if (in->numel > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has %lld elements, more than %d", op,
                           in_what, (long long)in->numel, INT_MAX);
    if ((st = check_p(op, p)) != LUNET_OK) return st;
    if (!out) return LUNET_OK;
    if ((st = lunet__check_same_numel(op, out_what, out, in_what, in)) != LUNET_OK) return st;
    return lunet__check_same_ctx(op, in, out);
}

lunet_status lunet_dropout_forward(const lunet_tensor *x, lunet_tensor *y, float p,
                                   uint64_t seed) {
    lunet_status st = check_pair("dropout", "x", x, "y", y, p);
    if (st != LUNET_OK) return st;
    if (!y) return lunet__check_tensor("dropout", "y", y);
    return dropout_apply(x, y, p, seed);
}

lunet_status lunet_dropout_backward(const lunet_tensor *grad_y, lunet_tensor *grad_x, float p,
                                    uint64_t seed) {
    lunet_status st = check_pair("dropout_backward", "grad_y", grad_y, "grad_x", grad_x, p);
    if (st != LUNET_OK || !grad_x) return st;  /* grad_x NULL: nothing wanted */
    return dropout_apply(grad_y, grad_x, p, seed);
}
