/*
 * pool.c — max and average pooling (2-D over NCHW, 1-D over NCL), forward and backward.
 *
 * 1-D pooling is 2-D pooling with H = 1 on the same buffers (no copies). Semantics are
 * PyTorch's with ceil_mode=False: output floor((n + 2p - k) / s) + 1, pad <= k/2, max
 * ignores padding (ties go to the first cell in row-major order), average divides by
 * kh*kw. Kernels are in kernels/pool.cl; one launch per call, whatever the batch size.
 */
#include <limits.h>
#include <stdio.h>

#include <stdbool.h>

#include "internal.h"

typedef struct pool_geom {
    char op[40];             /* "max_pool2d", "avg_pool1d_backward", ... for messages */
    int ndim;                /* 4 for 2-D (NCHW), 3 for 1-D (NCL) */
    bool is_max;
    int64_t n, c, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
} pool_geom;

static void name_op(pool_geom *g, int dims, const char *suffix) {
    snprintf(g->op, sizeof g->op, "%s_pool%dd%s", g->is_max ? "max" : "avg", dims, suffix);
}

/* Window sizes from the params: 1-D uses only the _w fields, with H = 1. */
static void read_window(pool_geom *g, const lunet_pool_params *p, int dims) {
    g->kw = p->kernel_w;
    g->sw = p->stride_w;
    g->pw = p->pad_w;
    g->kh = dims == 2 ? p->kernel_h : 1;
    g->sh = dims == 2 ? p->stride_h : 1;
    g->ph = dims == 2 ? p->pad_h : 0;
}

/* "3x2" for 2-D, "2" for 1-D: sizes as the user gave them. */
static const char *sizes(const pool_geom *g, int64_t h, int64_t w, char *buf, size_t size) {
    if (g->ndim == 4) snprintf(buf, size, "%lldx%lld", (long long)h, (long long)w);
    else snprintf(buf, size, "%lld", (long long)w);
    return buf;
}

static lunet_status check_window(const pool_geom *g) {
    char a[48], b[48];
    if (g->kh < 1 || g->kw < 1)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: window %s must be at least 1", g->op,
                           sizes(g, g->kh, g->kw, a, sizeof a));
    if (g->sh < 1 || g->sw < 1)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: stride %s must be at least 1", g->op,
                           sizes(g, g->sh, g->sw, a, sizeof a));
    if (g->ph < 0 || g->pw < 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: padding %s must not be negative", g->op,
                           sizes(g, g->ph, g->pw, a, sizeof a));
    if (g->ph > g->kh / 2 || g->pw > g->kw / 2)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: padding %s must be at most half the window %s",
                           g->op, sizes(g, g->ph, g->pw, a, sizeof a),
                           sizes(g, g->kh, g->kw, b, sizeof b));
    return LUNET_OK;
}

/* Reads N, C, H, W from x and derives the output size; the window must fit. */
static lunet_status read_input(pool_geom *g, const lunet_tensor *x) {
    lunet_status st = lunet__check_ndim(g->op, "x", x, g->ndim);
    if (st != LUNET_OK) return st;
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->h = g->ndim == 4 ? x->shape[2] : 1;
    g->w = x->shape[g->ndim - 1];
    if (g->h + 2 * g->ph < g->kh || g->w + 2 * g->pw < g->kw) {
        char xs[96], k[48], in[48], pad[48];
        lunet__shape_str(x, xs, sizeof xs);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: window %s is larger than the padded input %s (x has shape %s, "
                           "padding %s)", g->op, sizes(g, g->kh, g->kw, k, sizeof k),
                           sizes(g, g->h + 2 * g->ph, g->w + 2 * g->pw, in, sizeof in), xs,
                           sizes(g, g->ph, g->pw, pad, sizeof pad));
    }
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    if (x->numel > INT_MAX || g->n * g->c * g->oh * g->ow > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: x has %lld elements, more than %d",
                           g->op, (long long)x->numel, INT_MAX);
    return LUNET_OK;
}

/* Validates params and x and fills g; suffix "" for forward, "_backward" for backward. */
static lunet_status pool_setup(pool_geom *g, const lunet_tensor *x, const lunet_pool_params *p,
                               int dims, const char *suffix) {
    const char *family = dims == 2 ? "pool2d" : "pool1d";
    if (!p) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: params must not be NULL", family);
    if (p->mode != LUNET_POOL_MAX && p->mode != LUNET_POOL_AVG)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: unknown pooling mode %d", family,
                           (int)p->mode);
    g->is_max = p->mode == LUNET_POOL_MAX;
    g->ndim = dims == 2 ? 4 : 3;
    name_op(g, dims, suffix);
    read_window(g, p, dims);
    lunet_status st = check_window(g);
    if (st != LUNET_OK) return st;
    return read_input(g, x);
}

/* [N,C,OH,OW] for 2-D, [N,C,OL] for 1-D. */
static void output_shape(const pool_geom *g, int64_t *shape) {
    shape[0] = g->n;
    shape[1] = g->c;
    shape[2] = g->ndim == 4 ? g->oh : g->ow;
    shape[3] = g->ow;
}

/* Outputs (or input cells) per work item along a row: a multiple of 4 for the float4
 * runs of the 2x2 kernels, long enough that PoCL's per-work-item cost stays small, short
 * enough that one long row (1-D pooling of a long signal) still spreads over the cores. */
#define POOL_CHUNK 64

/* Enqueues kernel `name` over a 2-D range (ceil(cols / POOL_CHUNK), planes * rows): work
 * item (i, r) handles columns [i*POOL_CHUNK, (i+1)*POOL_CHUNK) of row r (see pool.cl);
 * with_zero passes the backward kernels' `zero` argument. */
static lunet_status launch(const pool_geom *g, lunet_context *ctx, const char *name,
                           int64_t rows, int64_t cols, int nbufs, cl_mem *bufs, float zero,
                           bool with_zero) {
    int geom[12] = {(int)(g->n * g->c), (int)g->h, (int)g->w, (int)g->oh, (int)g->ow,
                    g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, POOL_CHUNK};
    lunet_arg args[3 + 12 + 1];
    int nargs = 0;
    for (int i = 0; i < nbufs; i++) args[nargs++] = LUNET_ARG(bufs[i]);
    for (int i = 0; i < 12; i++) args[nargs++] = LUNET_ARG(geom[i]);
    if (with_zero) args[nargs++] = LUNET_ARG(zero);
    size_t global[2] = {(size_t)((cols + POOL_CHUNK - 1) / POOL_CHUNK),
                        (size_t)(g->n * g->c * rows)};
    return lunet__run(ctx, "pool", name, NULL, 2, global, NULL, nargs, args);
}

/* 2x2 windows with stride 2 and no padding (1-D: 2, stride 2): the float4 kernels. */
static bool windows_are_pairs(const pool_geom *g) {
    bool rows_ok = g->ndim == 4 ? g->kh == 2 && g->sh == 2 : g->kh == 1;
    return rows_ok && g->kw == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* Each input cell lies in at most one window: backward writes each cell once. */
static bool windows_are_disjoint(const pool_geom *g) {
    return g->sh >= g->kh && g->sw >= g->kw;
}

/* Stride = window, no padding, and the windows cover every input cell exactly once. */
static bool windows_tile_input(const pool_geom *g) {
    return g->sh == g->kh && g->sw == g->kw && g->ph == 0 && g->pw == 0 &&
           g->oh * g->kh == g->h && g->ow * g->kw == g->w;
}

static lunet_status pool_forward(const lunet_tensor *x, lunet_tensor *y,
                                 const lunet_pool_params *p, int dims) {
    pool_geom g;
    lunet_status st = pool_setup(&g, x, p, dims, "");
    if (st != LUNET_OK) return st;
    int64_t yshape[LUNET_MAX_DIMS];
    output_shape(&g, yshape);
    if ((st = lunet__check_shape(g.op, "y", y, g.ndim, yshape)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(g.op, x, y)) != LUNET_OK) return st;
    cl_mem bufs[2] = {lunet__mem(x), lunet__mem(y)};
    const char *name = windows_are_pairs(&g) ? (g.is_max ? "pool_max_forward_2x2" : "pool_avg_forward_2x2")
                                             : (g.is_max ? "pool_max_forward" : "pool_avg_forward");
    return launch(&g, x->ctx, name, g.oh, g.ow, 2, bufs, 0.0f, false);
}

/* Overlapping max windows: one pass finds each window's argmax (into scratch space),
 * a second gathers the gradients per input row. */
static lunet_status max_backward_overlapping(const pool_geom *g, lunet_context *ctx,
                                             cl_mem *bufs) {
    int64_t shape[1] = {g->n * g->c * g->oh * g->ow};
    lunet_tensor *argmax;
    lunet_status st = lunet__tensor_empty(ctx, 1, shape, &argmax);  /* ints in a float buffer */
    if (st != LUNET_OK) return st;
    cl_mem first[2] = {bufs[0], lunet__mem(argmax)};
    st = launch(g, ctx, "pool_max_argmax", g->oh, g->ow, 2, first, 0.0f, false);
    cl_mem second[3] = {lunet__mem(argmax), bufs[1], bufs[2]};
    if (st == LUNET_OK)
        st = launch(g, ctx, "pool_max_backward", g->h, g->w, 3, second, 0.0f, false);
    lunet_tensor_free(argmax);
    return st;
}

/* Backward: disjoint windows write each gradient cell once, from blocks of outputs;
 * overlapping ones gather per input row. A cell that gathers starts its sum from 0.0f,
 * which turns a -0 gradient into +0; the tiling case always copied the gradient as is.
 * The kernels' `zero` (+0 or -0, added to each gradient) keeps both results bit for bit. */
static lunet_status backward_launch(const pool_geom *g, lunet_context *ctx, cl_mem *bufs) {
    float zero = windows_tile_input(g) ? -0.0f : 0.0f;
    if (windows_are_pairs(g))
        return launch(g, ctx, g->is_max ? "pool_max_backward_2x2" : "pool_avg_backward_2x2",
                      g->oh, g->ow, 3, bufs, zero, true);
    if (windows_are_disjoint(g))
        return launch(g, ctx, g->is_max ? "pool_max_backward_blocks" : "pool_avg_backward_blocks",
                      g->oh, g->ow, 3, bufs, zero, true);
    if (!g->is_max)
        return launch(g, ctx, "pool_avg_backward", g->h, g->w, 3, bufs, 0.0f, false);
    return max_backward_overlapping(g, ctx, bufs);
}

static lunet_status pool_backward(const lunet_tensor *x, const lunet_tensor *grad_y,
                                  lunet_tensor *grad_x, const lunet_pool_params *p, int dims) {
    pool_geom g;
    lunet_status st = pool_setup(&g, x, p, dims, "_backward");
    if (st != LUNET_OK) return st;
    int64_t yshape[LUNET_MAX_DIMS];
    output_shape(&g, yshape);
    if ((st = lunet__check_shape(g.op, "grad_y", grad_y, g.ndim, yshape)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(g.op, x, grad_y)) != LUNET_OK) return st;
    if (!grad_x) return LUNET_OK;  /* nothing wanted */
    if ((st = lunet__check_shape(g.op, "grad_x", grad_x, g.ndim, x->shape)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(g.op, x, grad_x)) != LUNET_OK) return st;
    cl_mem bufs[3] = {lunet__mem(x), lunet__mem(grad_y), lunet__mem(grad_x)};
    return backward_launch(&g, x->ctx, bufs);
}

lunet_status lunet_pool2d_forward(const lunet_tensor *x, lunet_tensor *y,
                                  const lunet_pool_params *p) {
    return pool_forward(x, y, p, 2);
}

lunet_status lunet_pool2d_backward(const lunet_tensor *x, const lunet_tensor *grad_y,
                                   lunet_tensor *grad_x, const lunet_pool_params *p) {
    return pool_backward(x, grad_y, grad_x, p, 2);
}

lunet_status lunet_pool1d_forward(const lunet_tensor *x, lunet_tensor *y,
                                  const lunet_pool_params *p) {
    return pool_forward(x, y, p, 1);
}

lunet_status lunet_pool1d_backward(const lunet_tensor *x, const lunet_tensor *grad_y,
                                   lunet_tensor *grad_x, const lunet_pool_params *p) {
    return pool_backward(x, grad_y, grad_x, p, 1);
}
