/*
 * linear.c — dense layer y [N,out] = x [N,in] weight^T + bias, weight [out,in].
 *
 *   forward:  y = x W^T (GEMM), then y += bias (bias.c);
 *   backward: grad_x = dy W; grad_weight += dy^T x; grad_bias += column sums of dy.
 */
#include "internal.h"

typedef struct linear_geom {
    const char *op;
    int64_t n, in, out;
} linear_geom;

static lunet_status read_x_weight(linear_geom *g, const lunet_tensor *x,
                                  const lunet_tensor *weight) {
    lunet_status st = lunet__check_ndim(g->op, "x", x, 2);
    if (st == LUNET_OK) st = lunet__check_ndim(g->op, "weight", weight, 2);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g->op, x, weight);
    if (st != LUNET_OK) return st;
    if (weight->shape[1] != x->shape[1]) {
        char xs[96], ws[96];
        lunet__shape_str(x, xs, sizeof xs);
        lunet__shape_str(weight, ws, sizeof ws);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: weight has shape %s (%lld input features) but x has shape %s "
                           "(%lld features)",
                           g->op, ws, (long long)weight->shape[1], xs, (long long)x->shape[1]);
    }
    g->n = x->shape[0];
    g->in = x->shape[1];
    g->out = weight->shape[0];
    return LUNET_OK;
}

/* NULL is fine; otherwise exactly `shape` on x's context. */
static lunet_status check_optional(const linear_geom *g, const char *what, const lunet_tensor *t,
                                   int ndim, const int64_t *shape, const lunet_tensor *x) {
    if (!t) return LUNET_OK;
    lunet_status st = lunet__check_shape(g->op, what, t, ndim, shape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g->op, x, t);
    return st;
}

/* A GEMM output must not share storage with the GEMM's inputs. */
static lunet_status check_distinct(const linear_geom *g, const char *out_what,
                                   const lunet_tensor *out, const char *in_what,
                                   const lunet_tensor *in) {
    if (out && in && out->storage == in->storage)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: %s must not share storage with %s", g->op,
                           out_what, in_what);
    return LUNET_OK;
}

lunet_status lunet_linear_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y) {
    linear_geom g = {.op = "linear"};
    lunet_status st = read_x_weight(&g, x, weight);
    if (st != LUNET_OK) return st;
    int64_t bshape[1] = {g.out}, yshape[2] = {g.n, g.out};
    st = check_optional(&g, "bias", bias, 1, bshape, x);
    if (st == LUNET_OK) st = lunet__check_shape(g.op, "y", y, 2, yshape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g.op, x, y);
    if (st == LUNET_OK) st = check_distinct(&g, "y", y, "x", x);
    if (st == LUNET_OK) st = check_distinct(&g, "y", y, "weight", weight);
    if (st != LUNET_OK) return st;
    st = lunet__gemm(x->ctx, 0, 1, g.n, g.out, g.in, 1.0f, lunet__mem(x), 0, lunet__mem(weight),
                     0, 0.0f, lunet__mem(y), 0);
    if (st == LUNET_OK && bias) st = lunet_bias_add_forward(y, bias);
    return st;
}

static lunet_status check_backward(linear_geom *g, const lunet_tensor *x,
                                   const lunet_tensor *weight, const lunet_tensor *grad_y,
                                   const lunet_tensor *grad_x, const lunet_tensor *grad_weight,
                                   const lunet_tensor *grad_bias) {
    lunet_status st = read_x_weight(g, x, weight);
    if (st != LUNET_OK) return st;
    int64_t yshape[2] = {g->n, g->out}, bshape[1] = {g->out};
    st = lunet__check_shape(g->op, "grad_y", grad_y, 2, yshape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g->op, x, grad_y);
    if (st == LUNET_OK) st = check_optional(g, "grad_x", grad_x, 2, x->shape, x);
    if (st == LUNET_OK) st = check_optional(g, "grad_weight", grad_weight, 2, weight->shape, x);
    if (st == LUNET_OK) st = check_optional(g, "grad_bias", grad_bias, 1, bshape, x);
    if (st == LUNET_OK) st = check_distinct(g, "grad_x", grad_x, "grad_y", grad_y);
    if (st == LUNET_OK) st = check_distinct(g, "grad_x", grad_x, "weight", weight);
    if (st == LUNET_OK) st = check_distinct(g, "grad_weight", grad_weight, "grad_y", grad_y);
    if (st == LUNET_OK) st = check_distinct(g, "grad_weight", grad_weight, "x", x);
    return st;
}

lunet_status lunet_linear_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias) {
    linear_geom g = {.op = "linear_backward"};
    lunet_status st = check_backward(&g, x, weight, grad_y, grad_x, grad_weight, grad_bias);
    if (st != LUNET_OK) return st;
    lunet_context *ctx = x->ctx;
    cl_mem dy = lunet__mem(grad_y);
    if (grad_bias) st = lunet_bias_add_backward(grad_y, grad_bias);
    if (st == LUNET_OK && grad_weight)
        st = lunet__gemm_reduce(ctx, 1, 0, g.out, g.in, g.n, 1.0f, dy, 0, lunet__mem(x), 0,
                                1.0f, lunet__mem(grad_weight), 0);
    if (st == LUNET_OK && grad_x)
        st = lunet__gemm(ctx, 0, 0, g.n, g.in, g.out, 1.0f, dy, 0, lunet__mem(weight), 0, 0.0f,
                         lunet__mem(grad_x), 0);
    return st;
}
