/*
 * conv.c — 2-D and 1-D convolution (cross-correlation, as in PyTorch), forward and
 * backward, as im2col + one GEMM over the whole batch (kernels/im2col.cl, gemm.cl).
 *
 *   forward:  col [C*KH*KW, N*P] = im2col(x); t [O, N*P] = weight [O, CKK] col;
 *             y [N,O,P] = permute(t) + bias.
 *   backward: dyP [O, N*P] = permute(grad_y);
 *             grad_weight += dyP col^T;  grad_bias += sums of grad_y over N, P;
 *             grad_x = col2im(weight^T dyP), col2im being a gather (no atomics).
 * That is the GPU variant. On CPUs (PoCL) the column matrix costs more memory traffic
 * than the arithmetic, so the CPU variant is direct (kernels/conv_direct.cl): register
 * blocks of positions x 8 output channels over a zero-padded copy of the input, the
 * input gradient of a stride-1 convolution as the direct convolution of the padded
 * grad_y with the rotated weights, and the weight and bias gradients as partial sums
 * over chunks of the batch, reduced in a fixed order.
 * The launch count does not depend on N. 1-D convolution is 2-D with H = 1, KH = 1
 * on the same buffers (no copies).
 */
#include <limits.h>
#include <math.h>
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
            st = lunet__gemm_reduce(ctx, 0, 1, g->o, col_rows(g), col_cols(g), 1.0f, dyp, 0,
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

/* ---- the direct variant (CPU) ---- */

/* Register blocks of kernels/conv_direct.cl, from the tuning store: conv.pos positions per
 * work-item in conv_direct, conv.taps taps per work-item in conv_weight_grad (8 output
 * channels each). The weight gradient splits the batch until it has this many work-items. */
enum { DIRECT_MIN_ITEMS = 64 };

static int direct_pos(lunet_context *ctx) { return lunet__tuned(ctx, "conv.pos", 8); }
static int direct_taps(lunet_context *ctx) { return lunet__tuned(ctx, "conv.taps", 8); }

/* Small explicit work-groups: PoCL's own choice makes a few huge ones (one per thread at
 * best, and a stack overflow with these register blocks at worst). group0 work-items
 * along dimension 0 (global[0] is rounded up to a multiple; the extra ones return), the
 * same whatever the shape where possible: PoCL compiles a kernel once per local size. */
static lunet_status run_direct_group(lunet_context *ctx, const char *name, const size_t *global,
                                     size_t group0, int nargs, const lunet_arg *args) {
    char options[64];
    snprintf(options, sizeof options, "-DPOS=%d -DTB=%d", direct_pos(ctx), direct_taps(ctx));
    size_t local[3] = {group0, 1, 1};
    return lunet__run(ctx, "conv_direct", name, options, 3, global, local, nargs, args);
}

static lunet_status run_direct_kernel(lunet_context *ctx, const char *name, const size_t *global,
                                      int nargs, const lunet_arg *args) {
    return run_direct_group(ctx, name, global, 1, nargs, args);
}

static int groups_of_8(int n) { return (n + 7) / 8; }

/* wp [OG, T, 8] from weight (flip: the rotated, transposed weights of the input gradient). */
static lunet_status pack_weight(lunet_context *ctx, const conv_geom *g, const lunet_tensor *weight,
                                int flip, lunet_tensor **wp) {
    int out = flip ? g->c : g->o, t = (flip ? g->o : g->c) * g->kh * g->kw;
    int64_t shape[1] = {(int64_t)groups_of_8(out) * 8 * t};
    lunet_status st = lunet__tensor_empty(ctx, 1, shape, wp);
    if (st != LUNET_OK) return st;
    cl_mem w = lunet__mem(weight), dst = lunet__mem(*wp);
    lunet_arg args[] = {LUNET_ARG(w),     LUNET_ARG(dst),   LUNET_ARG(g->o), LUNET_ARG(g->c),
                        LUNET_ARG(g->kh), LUNET_ARG(g->kw), LUNET_ARG(flip)};
    size_t global[3] = {(size_t)t, (size_t)groups_of_8(out) * 8, 1};
    /* one element per work-item: 64 of them per work-group, not thousands of groups */
    return run_direct_group(ctx, "conv_pack_weight", global, 64, LUNET_NARGS(args), args);
}

/* A padded copy [N, C, H + 2ph, W + 2pw] of src [N, C, H, W]. */
static lunet_status pad_copy(lunet_context *ctx, cl_mem src, int n, int c, int h, int w, int ph,
                             int pw, lunet_tensor **out) {
    int hp = h + 2 * ph, wp = w + 2 * pw;
    int64_t shape[4] = {n, c, hp, wp};
    lunet_status st = lunet__tensor_empty(ctx, 4, shape, out);
    if (st != LUNET_OK) return st;
    cl_mem dst = lunet__mem(*out);
    lunet_arg args[] = {LUNET_ARG(src), LUNET_ARG(dst), LUNET_ARG(c),  LUNET_ARG(h), LUNET_ARG(w),
                        LUNET_ARG(hp),  LUNET_ARG(wp),  LUNET_ARG(ph), LUNET_ARG(pw)};
    size_t global[3] = {(size_t)c, (size_t)n, 1};
    return run_direct_kernel(ctx, "conv_pad", global, LUNET_NARGS(args), args);
}

/* The geometry of one direct convolution: input [n, c, hp, wp] already padded. */
typedef struct direct_conv {
    int n, c, hp, wp, o, oh, ow, kh, kw, sh, sw;
    int pad_rows;   /* zero rows above the data (and below it): hp - 2 * pad_rows hold data */
} direct_conv;

/* Output channels per work-item of conv_rows: all of them up to 8 (no idle registers). */
static int rows_channels(const direct_conv *d) { return d->o < 8 ? d->o : 8; }

/* The share of useful lanes of each layout: conv_direct's blocks of pos positions x 8
 * channels, conv_rows' blocks of 8 row outputs x rows_channels channels. */
static double flat_fill(const direct_conv *d, int pos) {
    double p = (double)d->oh * d->ow, o = d->o;
    return p / (pos * ceil(p / pos)) * (o / (8 * ceil(o / 8)));
}
static double rows_fill(const direct_conv *d) {
    double ow = d->ow, o = d->o, ob = rows_channels(d);
    return ow / (8 * ceil(ow / 8)) * (o / (ob * ceil(o / ob)));
}

/* conv.layout: "auto|flat|rows"; rows needs horizontal stride 1 (a vload8 per tap). */
static bool use_rows(lunet_context *ctx, const direct_conv *d) {
    int layout = lunet__tuned(ctx, "conv.layout", 0);
    if (d->sw != 1 || layout == 1) return false;
    return layout == 2 || rows_fill(d) > flat_fill(d, direct_pos(ctx));
}

static lunet_status run_rows(lunet_context *ctx, const direct_conv *d, cl_mem xp, cl_mem wp,
                             cl_mem bm, int has_bias, cl_mem y) {
    int real_rows = d->hp - 2 * d->pad_rows, ob = rows_channels(d);
    lunet_arg args[] = {LUNET_ARG(xp),    LUNET_ARG(wp),     LUNET_ARG(bm),       LUNET_ARG(y),
                        LUNET_ARG(d->n),
                        LUNET_ARG(d->c),  LUNET_ARG(d->hp),  LUNET_ARG(d->wp),    LUNET_ARG(d->o),
                        LUNET_ARG(d->oh), LUNET_ARG(d->ow),  LUNET_ARG(d->kh),    LUNET_ARG(d->kw),
                        LUNET_ARG(d->sh), LUNET_ARG(has_bias), LUNET_ARG(d->pad_rows),
                        LUNET_ARG(real_rows)};
    char options[32];
    snprintf(options, sizeof options, "-DOB=%d", ob);
    size_t blocks = ((size_t)d->ow + 7) / 8;
    size_t global[3] = {blocks, (size_t)d->oh, (size_t)d->n * (size_t)((d->o + ob - 1) / ob)};
    /* about 16 work-items per work-group: whole rows, as many as fit (evenly split) */
    size_t per = blocks < 16 ? 16 / blocks : 1, oh = (size_t)d->oh;
    size_t rows = (oh + ((oh + per - 1) / per) - 1) / ((oh + per - 1) / per);
    size_t local[3] = {blocks, rows, 1};
    return lunet__run(ctx, "conv_rows", "conv_rows", options, 3, global, local, LUNET_NARGS(args),
                      args);
}

static lunet_status run_direct(lunet_context *ctx, const direct_conv *d, cl_mem xp, cl_mem wp,
                               const lunet_tensor *bias, cl_mem y) {
    cl_mem bm = bias ? lunet__mem(bias) : wp; /* any valid buffer when there is no bias */
    int has_bias = bias != NULL, real_rows = d->hp - 2 * d->pad_rows;
    if (use_rows(ctx, d)) return run_rows(ctx, d, xp, wp, bm, has_bias, y);
    lunet_arg args[] = {LUNET_ARG(xp),    LUNET_ARG(wp),    LUNET_ARG(bm),    LUNET_ARG(y),
                        LUNET_ARG(d->c),  LUNET_ARG(d->hp), LUNET_ARG(d->wp), LUNET_ARG(d->o),
                        LUNET_ARG(d->oh), LUNET_ARG(d->ow), LUNET_ARG(d->kh), LUNET_ARG(d->kw),
                        LUNET_ARG(d->sh), LUNET_ARG(d->sw), LUNET_ARG(has_bias),
                        LUNET_ARG(d->pad_rows), LUNET_ARG(real_rows)};
    size_t p = (size_t)d->oh * d->ow, pos = (size_t)direct_pos(ctx);
    size_t blocks = (p + pos - 1) / pos, groups = (blocks + 15) / 16;
    size_t global[3] = {blocks, (size_t)groups_of_8(d->o), (size_t)d->n};
    /* Up to 16 position blocks per work-group, evenly split (PoCL's cost per work-group
     * shows at 1: 5-15%) */
    return run_direct_group(ctx, "conv_direct", global, (blocks + groups - 1) / groups,
                            LUNET_NARGS(args), args);
}

/* x, or a zero-bordered copy of it when the convolution pads (*owned is then set). */
static lunet_status padded_input(const conv_geom *g, const lunet_tensor *x, cl_mem *xp,
                                 lunet_tensor **owned) {
    *owned = NULL;
    *xp = lunet__mem(x);
    if (g->ph == 0 && g->pw == 0) return LUNET_OK;
    lunet_status st = pad_copy(x->ctx, lunet__mem(x), g->n, g->c, g->h, g->w, g->ph, g->pw, owned);
    if (st == LUNET_OK) *xp = lunet__mem(*owned);
    return st;
}

static direct_conv forward_conv(const conv_geom *g) {
    return (direct_conv){g->n, g->c, g->h + 2 * g->ph, g->w + 2 * g->pw, g->o, g->oh, g->ow,
                         g->kh, g->kw, g->sh, g->sw, g->ph};
}

static lunet_status forward_direct(const conv_geom *g, const lunet_tensor *x,
                                   const lunet_tensor *weight, const lunet_tensor *bias,
                                   lunet_tensor *y) {
    lunet_context *ctx = x->ctx;
    lunet_tensor *xpad = NULL, *wp = NULL;
    cl_mem xp;
    lunet_status st = padded_input(g, x, &xp, &xpad);
    if (st == LUNET_OK) st = pack_weight(ctx, g, weight, 0, &wp);
    if (st == LUNET_OK) {
        direct_conv d = forward_conv(g);
        st = run_direct(ctx, &d, xp, lunet__mem(wp), bias, lunet__mem(y));
    }
    lunet_tensor_free(xpad);
    lunet_tensor_free(wp);
    return st;
}

/* grad_x of a stride-1 convolution with padding below the kernel size: the direct
 * convolution of grad_y, padded by kernel - 1 - padding, with the rotated weights. */
static bool direct_input_grad_fits(const conv_geom *g) {
    return g->sh == 1 && g->sw == 1 && g->ph < g->kh && g->pw < g->kw;
}

static lunet_status input_grad_direct(const conv_geom *g, const lunet_tensor *weight,
                                      const lunet_tensor *grad_y, lunet_tensor *grad_x) {
    lunet_context *ctx = grad_y->ctx;
    int qh = g->kh - 1 - g->ph, qw = g->kw - 1 - g->pw;
    lunet_tensor *gyp = NULL, *wp = NULL;
    /* Always a copy, even unpadded: grad_x may share storage with grad_y. */
    lunet_status st = pad_copy(ctx, lunet__mem(grad_y), g->n, g->o, g->oh, g->ow, qh, qw, &gyp);
    if (st == LUNET_OK) st = pack_weight(ctx, g, weight, 1, &wp);
    if (st == LUNET_OK) {
        direct_conv d = {g->n, g->o, g->oh + 2 * qh, g->ow + 2 * qw, g->c, g->h, g->w,
                         g->kh, g->kw, 1, 1, qh};
        st = run_direct(ctx, &d, lunet__mem(gyp), lunet__mem(wp), NULL, lunet__mem(grad_x));
    }
    lunet_tensor_free(gyp);
    lunet_tensor_free(wp);
    return st;
}

/* Chunks of the batch for the weight gradient: enough work-items for every core. */
static int weight_chunks(lunet_context *ctx, const conv_geom *g) {
    int taps = g->c * g->kh * g->kw, tb = direct_taps(ctx);
    int items = (taps + tb - 1) / tb * groups_of_8(g->o);
    int chunks = (DIRECT_MIN_ITEMS + items - 1) / items;
    return chunks < g->n ? chunks : g->n;
}

static lunet_status run_weight_grad(lunet_context *ctx, const conv_geom *g, cl_mem xp, cl_mem gt,
                                    cl_mem part, int chunks) {
    int hp = g->h + 2 * g->ph, wpd = g->w + 2 * g->pw, per_chunk = (g->n + chunks - 1) / chunks;
    int taps = g->c * g->kh * g->kw, tb = direct_taps(ctx);
    lunet_arg args[] = {LUNET_ARG(xp),   LUNET_ARG(gt),    LUNET_ARG(part),  LUNET_ARG(g->n),
                        LUNET_ARG(g->c), LUNET_ARG(hp),    LUNET_ARG(wpd),   LUNET_ARG(g->o),
                        LUNET_ARG(g->oh), LUNET_ARG(g->ow), LUNET_ARG(g->kh), LUNET_ARG(g->kw),
                        LUNET_ARG(g->sh), LUNET_ARG(g->sw), LUNET_ARG(per_chunk)};
    size_t global[3] = {(size_t)(taps + tb - 1) / (size_t)tb, (size_t)groups_of_8(g->o),
                        (size_t)chunks};
    return run_direct_kernel(ctx, "conv_weight_grad", global, LUNET_NARGS(args), args);
}

static lunet_status run_weight_reduce(lunet_context *ctx, const conv_geom *g, cl_mem part,
                                      int chunks, lunet_tensor *grad_weight,
                                      lunet_tensor *grad_bias) {
    int taps = g->c * g->kh * g->kw, has_gw = grad_weight != NULL, has_gb = grad_bias != NULL;
    cl_mem gw = has_gw ? lunet__mem(grad_weight) : part, gb = has_gb ? lunet__mem(grad_bias) : part;
    lunet_arg args[] = {LUNET_ARG(part), LUNET_ARG(gw),     LUNET_ARG(gb),     LUNET_ARG(g->o),
                        LUNET_ARG(taps), LUNET_ARG(chunks), LUNET_ARG(has_gw), LUNET_ARG(has_gb)};
    size_t global[3] = {(size_t)taps + 1, (size_t)g->o, 1};
    return run_direct_group(ctx, "conv_weight_reduce", global, 64, LUNET_NARGS(args), args);
}

/* grad_y as gt [N][P][OG*8], channels innermost (the weight gradient's vector loads). */
static lunet_status pack_grad(lunet_context *ctx, const conv_geom *g, const lunet_tensor *grad_y,
                              lunet_tensor **gt) {
    int64_t shape[1] = {(int64_t)g->n * g->oh * g->ow * groups_of_8(g->o) * 8};
    lunet_status st = lunet__tensor_empty(ctx, 1, shape, gt);
    if (st != LUNET_OK) return st;
    cl_mem gy = lunet__mem(grad_y), dst = lunet__mem(*gt);
    int p = g->oh * g->ow;
    lunet_arg args[] = {LUNET_ARG(gy), LUNET_ARG(dst), LUNET_ARG(g->o), LUNET_ARG(p)};
    size_t global[3] = {(size_t)groups_of_8(g->o), (size_t)g->n, 1};
    return run_direct_kernel(ctx, "conv_pack_grad", global, LUNET_NARGS(args), args);
}

/* grad_weight += and grad_bias += (either may be NULL, not both). */
static lunet_status param_grads_direct(const conv_geom *g, const lunet_tensor *x,
                                       const lunet_tensor *grad_y, lunet_tensor *grad_weight,
                                       lunet_tensor *grad_bias) {
    lunet_context *ctx = x->ctx;
    lunet_tensor *xpad = NULL, *gt = NULL, *part = NULL;
    int chunks = weight_chunks(ctx, g);
    int64_t part_shape[3] = {chunks, g->o, (int64_t)g->c * g->kh * g->kw + 1};
    cl_mem xp;
    lunet_status st = padded_input(g, x, &xp, &xpad);
    if (st == LUNET_OK) st = pack_grad(ctx, g, grad_y, &gt);
    if (st == LUNET_OK) st = lunet__tensor_empty(ctx, 3, part_shape, &part);
    if (st == LUNET_OK) st = run_weight_grad(ctx, g, xp, lunet__mem(gt), lunet__mem(part), chunks);
    if (st == LUNET_OK)
        st = run_weight_reduce(ctx, g, lunet__mem(part), chunks, grad_weight, grad_bias);
    lunet_tensor_free(xpad);
    lunet_tensor_free(gt);
    lunet_tensor_free(part);
    return st;
}

/* The input gradient through the column matrix (strides above 1, large padding). */
static lunet_status input_grad_im2col(const conv_geom *g, const lunet_tensor *x,
                                      const lunet_tensor *weight, const lunet_tensor *grad_y,
                                      lunet_tensor *grad_x) {
    lunet_tensor *dyp = NULL;
    lunet_status st = scratch(x->ctx, g, g->o, &dyp);
    if (st == LUNET_OK) st = run_grad_output(x->ctx, g, lunet__mem(grad_y), lunet__mem(dyp));
    if (st == LUNET_OK) st = backward_gemms(g, x, weight, lunet__mem(dyp), grad_x, NULL);
    lunet_tensor_free(dyp);
    return st;
}

/* Parameter gradients first: they read grad_y and x before grad_x is written. */
static lunet_status backward_direct(const conv_geom *g, const lunet_tensor *x,
                                    const lunet_tensor *weight, const lunet_tensor *grad_y,
                                    lunet_tensor *grad_x, lunet_tensor *grad_weight,
                                    lunet_tensor *grad_bias) {
    lunet_status st = LUNET_OK;
    if (grad_weight || grad_bias) st = param_grads_direct(g, x, grad_y, grad_weight, grad_bias);
    if (st != LUNET_OK || !grad_x) return st;
    if (direct_input_grad_fits(g)) return input_grad_direct(g, weight, grad_y, grad_x);
    return input_grad_im2col(g, x, weight, grad_y, grad_x);
}

/* ---- the public ops ---- */

/* AUTO: the store's conv.algo ("im2col|direct": 0 or 1), by default the column matrix on
 * GPUs and direct on everything else (CPUs). */
static lunet__conv_algo resolve_algo(lunet__conv_algo algo, const lunet_tensor *x) {
    if (algo != LUNET__CONV_AUTO) return algo;
    int direct = lunet__tuned(x->ctx, "conv.algo", lunet__is_gpu(x->ctx) ? 0 : 1);
    return direct ? LUNET__CONV_DIRECT : LUNET__CONV_IM2COL;
}

lunet_status lunet__conv_forward_algo(lunet__conv_algo algo, int dims, const lunet_tensor *x,
                                      const lunet_tensor *weight, const lunet_tensor *bias,
                                      lunet_tensor *y, const lunet_conv_params *p) {
    conv_geom g;
    lunet_status st = setup(&g, dims, "", x, weight, p);
    if (st != LUNET_OK) return st;
    int64_t bshape[1] = {g.o}, yshape[4];
    int ynd = shape_of(&g, g.n, g.o, g.oh, g.ow, yshape);
    st = check_optional(&g, "bias", bias, 1, bshape, x);
    if (st == LUNET_OK) st = lunet__check_shape(g.op, "y", y, ynd, yshape);
    if (st == LUNET_OK) st = lunet__check_same_ctx(g.op, x, y);
    if (st != LUNET_OK) return st;
    if (resolve_algo(algo, x) == LUNET__CONV_DIRECT) return forward_direct(&g, x, weight, bias, y);
    return forward(&g, x, weight, bias, y);
}

lunet_status lunet__conv_backward_algo(lunet__conv_algo algo, int dims, const lunet_tensor *x,
                                       const lunet_tensor *weight, const lunet_tensor *grad_y,
                                       lunet_tensor *grad_x, lunet_tensor *grad_weight,
                                       lunet_tensor *grad_bias, const lunet_conv_params *p) {
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
    if (resolve_algo(algo, x) == LUNET__CONV_DIRECT)
        return backward_direct(&g, x, weight, grad_y, grad_x, grad_weight, grad_bias);
    return backward(&g, x, weight, grad_y, grad_x, grad_weight, grad_bias);
}

lunet_status lunet_conv2d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p) {
    return lunet__conv_forward_algo(LUNET__CONV_AUTO, 2, x, weight, bias, y, p);
}

lunet_status lunet_conv2d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p) {
    return lunet__conv_backward_algo(LUNET__CONV_AUTO, 2, x, weight, grad_y, grad_x, grad_weight,
                                     grad_bias, p);
}

lunet_status lunet_conv1d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p) {
    return lunet__conv_forward_algo(LUNET__CONV_AUTO, 1, x, weight, bias, y, p);
}

lunet_status lunet_conv1d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p) {
    return lunet__conv_backward_algo(LUNET__CONV_AUTO, 1, x, weight, grad_y, grad_x, grad_weight,
                                     grad_bias, p);
}
