/*
 * conv.c — 2-D and 1-D convolution (cross-correlation, as in PyTorch), forward and
 * backward, as im2col + one GEMM over the whole batch (kernels/im2col.cl, gemm.cl).
 *
 *   forward:  col [C*KH*KW, N*P] = im2col(x); t [O, N*P] = weight [O, CKK] col;
 *             y [N,O,P] = permute(t) + bias.
 *   backward: dyP [O, N*P] = permute(grad_y);
 *             grad_weight += dyP col^T;  grad_bias += sums of grad_y over N, P;
 *             grad_x = col2im(weight^T dyP), col2im being a gather (no atomics).
 * The launch count does not depend on N. 1-D convolution is 2-D with H = 1, KH = 1
 * on the same buffers (no copies).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct conv_geom {
    char op[32];          /* "conv2d", "conv1d_backward", ... for messages */
    int dims;             /* 2: NCHW / OIHW; 1: NCL / OIL */
    int n, c, h, w;       /* input */
    int o, kh, kw;        /* weight */
    int oh, ow;           /* output */
    int sh, sw, ph, pw;
} conv_geom;

int64_t lunet_conv_out_size(int64_t n, int64_t f, int64_t pad, int64_t stride) {
    if (n < 1 || f < 1 || pad < 0 || stride < 1 || n + 2 * pad < f) return -1;
    return (n + 2 * pad - f) / stride + 1;
}

/* The shape of an activation [N,C,H,W] (or [N,C,L]) in the op's dimensionality. */
static int shape_of(const conv_geom *g, int n, int c, int h, int w, int64_t *shape) {
    shape[0] = n;
    shape[1] = c;
    if (g->dims == 2) {
        shape[2] = h;
        shape[3] = w;
        return 4;
    }
    shape[2] = w;
    return 3;
}

static lunet_status read_params(conv_geom *g, const lunet_conv_params *p) {
    if (!p) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: params is NULL", g->op);
    g->sw = p->stride_w;
    g->pw = p->pad_w;
    g->sh = g->dims == 2 ? p->stride_h : 1;
    g->ph = g->dims == 2 ? p->pad_h : 0;
    if (g->sh < 1 || g->sw < 1) {
        if (g->dims == 1)
            return lunet__fail(LUNET_ERR_ARGUMENT, "%s: stride %d must be at least 1", g->op, g->sw);
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: stride %dx%d must be at least 1x1", g->op,
                           g->sh, g->sw);
    }
    if (g->ph < 0 || g->pw < 0) {
        if (g->dims == 1)
            return lunet__fail(LUNET_ERR_ARGUMENT, "%s: padding %d must not be negative", g->op,
                               g->pw);
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: padding %dx%d must not be negative", g->op,
                           g->ph, g->pw);
    }
    return LUNET_OK;
}

/* x and weight: ranks, channels, the kernel fitting the padded input; fills the sizes. */
static lunet_status read_x_weight(conv_geom *g, const lunet_tensor *x, const lunet_tensor *weight) {
    int nd = g->dims + 2;
    lunet_status st = lunet__check_ndim(g->op, "x", x, nd);
    if (st == LUNET_OK) st = lunet__check_ndim(g->op, "weight", weight, nd);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g->op, x, weight);
    if (st != LUNET_OK) return st;
    char xs[96], ws[96];
    lunet__shape_str(x, xs, sizeof xs);
    lunet__shape_str(weight, ws, sizeof ws);
    if (weight->shape[1] != x->shape[1])
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: weight has shape %s (%lld input channels) but x has %lld "
                           "channel%s (x has shape %s)",
                           g->op, ws, (long long)weight->shape[1], (long long)x->shape[1],
                           x->shape[1] == 1 ? "" : "s", xs);
    if (x->numel > INT_MAX || weight->numel > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: x %s or weight %s has more than %d elements",
                           g->op, xs, ws, INT_MAX);
    g->n = (int)x->shape[0];
    g->c = (int)x->shape[1];
    g->h = g->dims == 2 ? (int)x->shape[2] : 1;
    g->w = (int)x->shape[nd - 1];
    g->o = (int)weight->shape[0];
    g->kh = g->dims == 2 ? (int)weight->shape[2] : 1;
    g->kw = (int)weight->shape[nd - 1];
    return LUNET_OK;
}

static lunet_status check_fit(conv_geom *g) {
    if ((int64_t)g->h + 2 * g->ph >= g->kh && (int64_t)g->w + 2 * g->pw >= g->kw) return LUNET_OK;
    if (g->dims == 1)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: kernel %d does not fit input %d with padding %d",
                           g->op, g->kw, g->w, g->pw);
    char pad[32];
    if (g->ph == g->pw) snprintf(pad, sizeof pad, "%d", g->ph);
    else snprintf(pad, sizeof pad, "%dx%d", g->ph, g->pw);
    return lunet__fail(LUNET_ERR_SHAPE, "%s: kernel %dx%d does not fit input %dx%d with padding %s",
                       g->op, g->kh, g->kw, g->h, g->w, pad);
}

/* Output size, and the size limits of the int geometry the kernels use. */
static lunet_status derive_output(conv_geom *g) {
    g->oh = (int)lunet_conv_out_size(g->h, g->kh, g->ph, g->sh);
    g->ow = (int)lunet_conv_out_size(g->w, g->kw, g->pw, g->sw);
    int64_t cols = (int64_t)g->n * g->oh * g->ow;
    int64_t col_numel = (int64_t)g->c * g->kh * g->kw * cols;
    if (col_numel > INT_MAX || (int64_t)g->o * cols > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: the batch is too large: its column matrix would have %lld "
                           "elements, more than %d (use a smaller batch)",
                           g->op, (long long)col_numel, INT_MAX);
    return LUNET_OK;
}

/* Optional tensor: NULL is fine, otherwise exactly `shape` on x's context. */
static lunet_status check_optional(const conv_geom *g, const char *what, const lunet_tensor *t,
                                   int ndim, const int64_t *shape, const lunet_tensor *x) {
    if (!t) return LUNET_OK;
    lunet_status st = lunet__check_shape(g->op, what, t, ndim, shape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g->op, x, t);
    return st;
}

static lunet_status setup(conv_geom *g, int dims, const char *suffix, const lunet_tensor *x,
                          const lunet_tensor *weight, const lunet_conv_params *p) {
    memset(g, 0, sizeof *g);
    g->dims = dims;
    snprintf(g->op, sizeof g->op, "conv%dd%s", dims, suffix);
    lunet_status st = read_params(g, p);
    if (st == LUNET_OK) st = read_x_weight(g, x, weight);
    if (st == LUNET_OK) st = check_fit(g);
    if (st == LUNET_OK) st = derive_output(g);
    return st;
}

/* ---- launches ---- */

/* im2col or col2im: the same arguments, one over the columns, one over the pixels. */
static lunet_status run_im2col(lunet_context *ctx, const conv_geom *g, const char *name,
                               cl_mem src, cl_mem dst) {
    lunet_arg args[] = {LUNET_ARG(src),  LUNET_ARG(dst),  LUNET_ARG(g->n),  LUNET_ARG(g->c),
                        LUNET_ARG(g->h), LUNET_ARG(g->w), LUNET_ARG(g->kh), LUNET_ARG(g->kw),
                        LUNET_ARG(g->oh), LUNET_ARG(g->ow), LUNET_ARG(g->sh), LUNET_ARG(g->sw),
                        LUNET_ARG(g->ph), LUNET_ARG(g->pw)};
    size_t to_col[3] = {(size_t)g->oh, (size_t)g->c * g->kh * g->kw, (size_t)g->n};
    size_t to_image[3] = {(size_t)g->h, (size_t)g->c, (size_t)g->n};
    bool is_im2col = strcmp(name, "im2col") == 0;
    return lunet__run(ctx, "im2col", name, NULL, 3, is_im2col ? to_col : to_image, NULL,
                      LUNET_NARGS(args), args);
}

static lunet_status run_output(lunet_context *ctx, const conv_geom *g, cl_mem t,
                               const lunet_tensor *bias, cl_mem y) {
    cl_mem bm = bias ? lunet__mem(bias) : NULL;
    int has_bias = bias != NULL;
    lunet_arg args[] = {LUNET_ARG(t),    LUNET_ARG(bm),    LUNET_ARG(y),    LUNET_ARG(g->n),
                        LUNET_ARG(g->o), LUNET_ARG(g->oh), LUNET_ARG(g->ow), LUNET_ARG(has_bias)};
    size_t global[3] = {(size_t)g->oh, (size_t)g->o, (size_t)g->n};
    return lunet__run(ctx, "im2col", "conv_output", NULL, 3, global, NULL, LUNET_NARGS(args), args);
}

static lunet_status run_grad_output(lunet_context *ctx, const conv_geom *g, cl_mem gy, cl_mem t) {
    lunet_arg args[] = {LUNET_ARG(gy),   LUNET_ARG(t),     LUNET_ARG(g->n),
                        LUNET_ARG(g->o), LUNET_ARG(g->oh), LUNET_ARG(g->ow)};
    size_t global[3] = {(size_t)g->oh, (size_t)g->o, (size_t)g->n};
    return lunet__run(ctx, "im2col", "conv_grad_output", NULL, 3, global, NULL,
                      LUNET_NARGS(args), args);
}

/* Scratch matrix [rows, N*P]; freed by the caller right after the enqueues. */
static lunet_status scratch(lunet_context *ctx, const conv_geom *g, int64_t rows,
                            lunet_tensor **out) {
    int64_t shape[2] = {rows, (int64_t)g->n * g->oh * g->ow};
    return lunet__tensor_empty(ctx, 2, shape, out);
}

static int64_t col_rows(const conv_geom *g) { return (int64_t)g->c * g->kh * g->kw; }
static int64_t col_cols(const conv_geom *g) { return (int64_t)g->n * g->oh * g->ow; }

static lunet_status forward(const conv_geom *g, const lunet_tensor *x, const lunet_tensor *weight,
                            const lunet_tensor *bias, lunet_tensor *y) {
    lunet_context *ctx = x->ctx;
    lunet_tensor *col = NULL, *t = NULL;
    lunet_status st = scratch(ctx, g, col_rows(g), &col);
    if (st == LUNET_OK) st = scratch(ctx, g, g->o, &t);
    if (st == LUNET_OK) st = run_im2col(ctx, g, "im2col", lunet__mem(x), lunet__mem(col));
    if (st == LUNET_OK)
        st = lunet__gemm(ctx, 0, 0, g->o, col_cols(g), col_rows(g), 1.0f, lunet__mem(weight), 0,
                         lunet__mem(col), 0, 0.0f, lunet__mem(t), 0);
    if (st == LUNET_OK) st = run_output(ctx, g, lunet__mem(t), bias, lunet__mem(y));
    lunet_tensor_free(col);
    lunet_tensor_free(t);
    return st;
}

/* grad_weight += dyP col^T, then grad_x = col2im(weight^T dyP), reusing col's buffer. */
static lunet_status backward_gemms(const conv_geom *g, const lunet_tensor *x,
                                   const lunet_tensor *weight, cl_mem dyp, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight) {
    lunet_context *ctx = x->ctx;
    lunet_tensor *col = NULL;
    lunet_status st = scratch(ctx, g, col_rows(g), &col);
    if (st == LUNET_OK && grad_weight) {
        st = run_im2col(ctx, g, "im2col", lunet__mem(x), lunet__mem(col));
        if (st == LUNET_OK)
            st = lunet__gemm(ctx, 0, 1, g->o, col_rows(g), col_cols(g), 1.0f, dyp, 0,
                             lunet__mem(col), 0, 1.0f, lunet__mem(grad_weight), 0);
    }
    if (st == LUNET_OK && grad_x) {
        st = lunet__gemm(ctx, 1, 0, col_rows(g), col_cols(g), g->o, 1.0f, lunet__mem(weight), 0,
                         dyp, 0, 0.0f, lunet__mem(col), 0);
        if (st == LUNET_OK) st = run_im2col(ctx, g, "col2im", lunet__mem(col), lunet__mem(grad_x));
    }
    lunet_tensor_free(col);
    return st;
}

static lunet_status backward(const conv_geom *g, const lunet_tensor *x, const lunet_tensor *weight,
                             const lunet_tensor *grad_y, lunet_tensor *grad_x,
                             lunet_tensor *grad_weight, lunet_tensor *grad_bias) {
    /* Bias first: grad_y is read before grad_x is written, even if they share storage. */
    lunet_status st = grad_bias ? lunet_bias_add_backward(grad_y, grad_bias) : LUNET_OK;
    if (st == LUNET_OK && (grad_x || grad_weight)) {
        lunet_tensor *dyp = NULL;
        st = scratch(x->ctx, g, g->o, &dyp);
        if (st == LUNET_OK) st = run_grad_output(x->ctx, g, lunet__mem(grad_y), lunet__mem(dyp));
        if (st == LUNET_OK)
            st = backward_gemms(g, x, weight, lunet__mem(dyp), grad_x, grad_weight);
        lunet_tensor_free(dyp);
    }
    return st;
}

/* ---- the public ops ---- */

static lunet_status conv_forward(int dims, const lunet_tensor *x, const lunet_tensor *weight,
                                 const lunet_tensor *bias, lunet_tensor *y,
                                 const lunet_conv_params *p) {
    conv_geom g;
    lunet_status st = setup(&g, dims, "", x, weight, p);
    if (st != LUNET_OK) return st;
    int64_t bshape[1] = {g.o}, yshape[4];
    int ynd = shape_of(&g, g.n, g.o, g.oh, g.ow, yshape);
    st = check_optional(&g, "bias", bias, 1, bshape, x);
    if (st == LUNET_OK) st = lunet__check_shape(g.op, "y", y, ynd, yshape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g.op, x, y);
    if (st != LUNET_OK) return st;
    return forward(&g, x, weight, bias, y);
}

static lunet_status conv_backward(int dims, const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                  lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                  const lunet_conv_params *p) {
    conv_geom g;
    lunet_status st = setup(&g, dims, "_backward", x, weight, p);
    if (st != LUNET_OK) return st;
    int64_t yshape[4], bshape[1] = {g.o};
    int ynd = shape_of(&g, g.n, g.o, g.oh, g.ow, yshape);
    st = lunet__check_shape(g.op, "grad_y", grad_y, ynd, yshape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g.op, x, grad_y);
    if (st == LUNET_OK) st = check_optional(&g, "grad_x", grad_x, x->ndim, x->shape, x);
    if (st == LUNET_OK)
        st = check_optional(&g, "grad_weight", grad_weight, weight->ndim, weight->shape, x);
    if (st == LUNET_OK) st = check_optional(&g, "grad_bias", grad_bias, 1, bshape, x);
    if (st != LUNET_OK) return st;
    return backward(&g, x, weight, grad_y, grad_x, grad_weight, grad_bias);
}

lunet_status lunet_conv2d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p) {
    return conv_forward(2, x, weight, bias, y, p);
}

lunet_status lunet_conv2d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p) {
    return conv_backward(2, x, weight, grad_y, grad_x, grad_weight, grad_bias, p);
}

lunet_status lunet_conv1d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p) {
    return conv_forward(1, x, weight, bias, y, p);
}

lunet_status lunet_conv1d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p) {
    return conv_backward(1, x, weight, grad_y, grad_x, grad_weight, grad_bias, p);
}
