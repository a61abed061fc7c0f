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

/* 1-D range of `total` items, or with `planes` set a 3-D range (OW, OH, N*C) whose `total`
 * argument is the number of planes (see pool.cl). */
static lunet_status launch_range(const pool_geom *g, lunet_context *ctx, const char *name,
                                 int64_t total, bool planes, int nbufs, cl_mem *bufs) {
    int geom[11] = {(int)total, (int)g->h, (int)g->w, (int)g->oh, (int)g->ow,
                    g->kh, g->kw, g->sh, g->sw, g->ph, g->pw};
    lunet_arg args[3 + 11];
    int nargs = 0;
    for (int i = 0; i < nbufs; i++) args[nargs++] = LUNET_ARG(bufs[i]);
    for (int i = 0; i < 11; i++) args[nargs++] = LUNET_ARG(geom[i]);
    if (planes) {
        size_t global[3] = {(size_t)g->ow, (size_t)g->oh, (size_t)total};
        return lunet__run(ctx, "pool", name, NULL, 3, global, NULL, nargs, args);
    }
    size_t global = (size_t)total;
    return lunet__run(ctx, "pool", name, NULL, 1, &global, NULL, nargs, args);
}

static lunet_status launch(const pool_geom *g, lunet_context *ctx, const char *name,
                           int64_t total, int nbufs, cl_mem *bufs) {
    return launch_range(g, ctx, name, total, false, nbufs, bufs);
}

static lunet_status launch_planes(const pool_geom *g, lunet_context *ctx, const char *name,
                                  int nbufs, cl_mem *bufs) {
    return launch_range(g, ctx, name, g->n * g->c, true, nbufs, bufs);
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
    return launch_planes(&g, x->ctx, g.is_max ? "pool_max_forward" : "pool_avg_forward", 2, bufs);
}

/* Stride = window, no padding, and the windows cover every input cell exactly once. */
static bool windows_tile_input(const pool_geom *g) {
    return g->sh == g->kh && g->sw == g->kw && g->ph == 0 && g->pw == 0 &&
           g->oh * g->kh == g->h && g->ow * g->kw == g->w;
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
    if (windows_tile_input(&g))
        return launch_planes(&g, x->ctx,
                             g.is_max ? "pool_max_backward_tiles" : "pool_avg_backward_tiles", 3,
                             bufs);
    return launch(&g, x->ctx, g.is_max ? "pool_max_backward" : "pool_avg_backward", x->numel,
                  3, bufs);
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
