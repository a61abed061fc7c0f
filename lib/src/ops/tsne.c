/*
 * tsne.c — exact t-SNE on the device (kernels/tsne.cl): the affinities P of the inputs
 * (a perplexity-matched binary search per row, all rows in parallel), one gradient-descent
 * step of the 2-D embedding with momentum and gains, and the KL divergence KL(P || Q).
 *
 * P is a dense [N,N] matrix: O(N^2) memory (100 MB for N = 5000) and O(N^2) work per step.
 */
#include <math.h>

#include "internal.h"

/* N * N must index an int in the kernels. */
#define TSNE_MAX_POINTS 46340
/* The binary search stops when |H - log(perplexity)| < tol nats, or after max_iter steps. */
#define TSNE_TOL 1e-5f
#define TSNE_MAX_ITER 200
/* Gains never fall below this (the reference implementation's min_gain). */
#define TSNE_MIN_GAIN 0.01f

static lunet_status check_points(const char *op, const char *what, const lunet_tensor *t) {
    int64_t n = t->shape[0];
    if (n < 3 || n > TSNE_MAX_POINTS)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has %lld points, expected 3 to %d", op, what,
                           (long long)n, TSNE_MAX_POINTS);
    return LUNET_OK;
}

/* A scratch tensor [n] (k == 1) or [n,k] with undefined contents. */
static lunet_status scratch(lunet_context *ctx, int64_t n, int64_t k, lunet_tensor **out) {
    int64_t shape[2] = {n, k};
    return lunet__tensor_empty(ctx, k > 1 ? 2 : 1, shape, out);
}

lunet_status lunet_tsne_affinities(const lunet_tensor *x, float perplexity, lunet_tensor *p,
                                   lunet_tensor *betas) {
    const char *op = "tsne_affinities";
    lunet_status st = lunet__check_ndim(op, "x", x, 2);
    if (st != LUNET_OK) return st;
    if ((st = check_points(op, "x", x)) != LUNET_OK) return st;
    int64_t n = x->shape[0], d = x->shape[1];
    int64_t pshape[2] = {n, n}, bshape[1] = {n};
    if ((st = lunet__check_shape(op, "p", p, 2, pshape)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(op, x, p)) != LUNET_OK) return st;
    if (betas) {
        if ((st = lunet__check_shape(op, "betas", betas, 1, bshape)) != LUNET_OK) return st;
        if ((st = lunet__check_same_ctx(op, x, betas)) != LUNET_OK) return st;
    }
    if (p->storage == x->storage || (betas && (betas->storage == x->storage ||
                                               betas->storage == p->storage)))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: x, p and betas must not share storage", op);
    if (!(perplexity >= 1.0f && perplexity < (float)(n - 1)))  /* also rejects NaN */
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "%s: perplexity = %g must be at least 1 and less than N - 1 = %lld "
                           "(N = %lld points)", op, (double)perplexity, (long long)(n - 1),
                           (long long)n);
    if (d * n > INT32_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: x has %lld elements, more than %d", op,
                           (long long)(d * n), INT32_MAX);

    lunet_context *ctx = x->ctx;
    lunet_tensor *xc = NULL, *norms = NULL, *beta_tmp = NULL;
    int in = (int)n, id = (int)d;
    st = scratch(ctx, n, d, &xc);
    if (st == LUNET_OK) st = scratch(ctx, n, 1, &norms);
    if (st == LUNET_OK && !betas) st = scratch(ctx, n, 1, &beta_tmp);
    if (st != LUNET_OK) goto done;
    cl_mem xm = lunet__mem(x), xcm = lunet__mem(xc), nm = lunet__mem(norms), pm = lunet__mem(p);
    cl_mem bm = lunet__mem(betas ? betas : beta_tmp);
    {   /* centre the columns (distances do not change; the Gram trick loses less) */
        lunet_arg args[] = {LUNET_ARG(xm), LUNET_ARG(xcm), LUNET_ARG(in), LUNET_ARG(id)};
        size_t g = (size_t)d;
        st = lunet__run(ctx, "tsne", "tsne_center_columns", NULL, 1, &g, NULL, LUNET_NARGS(args), args);
    }
    if (st == LUNET_OK) {
        lunet_arg args[] = {LUNET_ARG(xcm), LUNET_ARG(nm), LUNET_ARG(in), LUNET_ARG(id)};
        size_t g = (size_t)n;
        st = lunet__run(ctx, "tsne", "tsne_row_norms", NULL, 1, &g, NULL, LUNET_NARGS(args), args);
    }
    if (st == LUNET_OK)  /* p = xc xc^T */
        st = lunet__gemm(ctx, 0, 1, n, n, d, 1.0f, xcm, 0, xcm, 0, 0.0f, pm, 0);
    if (st == LUNET_OK) {
        lunet_arg args[] = {LUNET_ARG(pm), LUNET_ARG(nm), LUNET_ARG(in)};
        size_t g[2] = {(size_t)n, (size_t)n};
        st = lunet__run(ctx, "tsne", "tsne_gram_to_sqdist", NULL, 2, g, NULL, LUNET_NARGS(args), args);
    }
    if (st == LUNET_OK) {
        float log_perplexity = logf(perplexity), tol = TSNE_TOL;
        int max_iter = TSNE_MAX_ITER;
        lunet_arg args[] = {LUNET_ARG(pm), LUNET_ARG(bm), LUNET_ARG(in), LUNET_ARG(log_perplexity),
                            LUNET_ARG(tol), LUNET_ARG(max_iter)};
        size_t g = (size_t)n;
        st = lunet__run(ctx, "tsne", "tsne_conditional", NULL, 1, &g, NULL, LUNET_NARGS(args), args);
    }
    if (st == LUNET_OK) {
        float scale = 1.0f / (2.0f * (float)n);
        lunet_arg args[] = {LUNET_ARG(pm), LUNET_ARG(in), LUNET_ARG(scale)};
        size_t g[2] = {(size_t)n, (size_t)n};
        st = lunet__run(ctx, "tsne", "tsne_symmetrize", NULL, 2, g, NULL, LUNET_NARGS(args), args);
    }
done:
    lunet_tensor_free(xc);
    lunet_tensor_free(norms);
    lunet_tensor_free(beta_tmp);
    return st;
}

/* p [N,N] and y [N,2] on one context; N in range. */
static lunet_status check_p_y(const char *op, const lunet_tensor *p, const lunet_tensor *y) {
    lunet_status st = lunet__check_ndim(op, "y", y, 2);
    if (st != LUNET_OK) return st;
    int64_t n = y->shape[0];
    int64_t yshape[2] = {n, 2}, pshape[2] = {n, n};
    if ((st = lunet__check_shape(op, "y", y, 2, yshape)) != LUNET_OK) return st;
    if ((st = check_points(op, "y", y)) != LUNET_OK) return st;
    if ((st = lunet__check_shape(op, "p", p, 2, pshape)) != LUNET_OK) return st;
    return lunet__check_same_ctx(op, y, p);
}

/* forces [N,4] and the partial sums [N] of y against p, and z [1] = their sum. */
static lunet_status forces_and_z(const lunet_tensor *p, const lunet_tensor *y, lunet_tensor *forces,
                                 lunet_tensor *partial, lunet_tensor *z) {
    lunet_context *ctx = y->ctx;
    int in = (int)y->shape[0];
    cl_mem pm = lunet__mem(p), ym = lunet__mem(y), fm = lunet__mem(forces);
    cl_mem sm = lunet__mem(partial), zm = lunet__mem(z);
    lunet_arg fargs[] = {LUNET_ARG(pm), LUNET_ARG(ym), LUNET_ARG(fm), LUNET_ARG(sm), LUNET_ARG(in)};
    size_t g = (size_t)in, one = 1;
    lunet_status st = lunet__run(ctx, "tsne", "tsne_forces", NULL, 1, &g, NULL,
                                 LUNET_NARGS(fargs), fargs);
    if (st != LUNET_OK) return st;
    lunet_arg rargs[] = {LUNET_ARG(sm), LUNET_ARG(zm), LUNET_ARG(in)};
    return lunet__run(ctx, "tsne", "tsne_reduce_sum", NULL, 1, &one, NULL, LUNET_NARGS(rargs), rargs);
}

lunet_status lunet_tsne_step(const lunet_tensor *p, lunet_tensor *y, lunet_tensor *update,
                             lunet_tensor *gains, float exaggeration, float momentum,
                             float learning_rate) {
    const char *op = "tsne_step";
    lunet_status st = check_p_y(op, p, y);
    if (st != LUNET_OK) return st;
    int64_t n = y->shape[0], yshape[2] = {n, 2};
    if ((st = lunet__check_shape(op, "update", update, 2, yshape)) != LUNET_OK) return st;
    if ((st = lunet__check_shape(op, "gains", gains, 2, yshape)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(op, y, update)) != LUNET_OK) return st;
    if ((st = lunet__check_same_ctx(op, y, gains)) != LUNET_OK) return st;
    const lunet_storage *stores[4] = {p->storage, y->storage, update->storage, gains->storage};
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            if (stores[a] == stores[b])
                return lunet__fail(LUNET_ERR_ARGUMENT,
                                   "%s: p, y, update and gains must be four separate tensors", op);
    if (!(exaggeration > 0.0f && isfinite(exaggeration)))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: exaggeration = %g must be positive and finite",
                           op, (double)exaggeration);
    if (!(momentum >= 0.0f && momentum < 1.0f))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: momentum = %g must be in [0, 1)", op,
                           (double)momentum);
    if (!(learning_rate > 0.0f && isfinite(learning_rate)))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: learning_rate = %g must be positive and finite",
                           op, (double)learning_rate);

    lunet_context *ctx = y->ctx;
    lunet_tensor *forces = NULL, *partial = NULL, *z = NULL;
    st = scratch(ctx, n, 4, &forces);
    if (st == LUNET_OK) st = scratch(ctx, n, 1, &partial);
    if (st == LUNET_OK) st = scratch(ctx, 1, 1, &z);
    if (st == LUNET_OK) st = forces_and_z(p, y, forces, partial, z);
    if (st == LUNET_OK) {
        int in = (int)n;
        float min_gain = TSNE_MIN_GAIN;
        cl_mem fm = lunet__mem(forces), zm = lunet__mem(z), ym = lunet__mem(y);
        cl_mem um = lunet__mem(update), gm = lunet__mem(gains);
        lunet_arg args[] = {LUNET_ARG(fm), LUNET_ARG(zm), LUNET_ARG(ym), LUNET_ARG(um),
                            LUNET_ARG(gm), LUNET_ARG(in), LUNET_ARG(exaggeration),
                            LUNET_ARG(momentum), LUNET_ARG(learning_rate), LUNET_ARG(min_gain)};
        size_t g = (size_t)(2 * n), one = 1;
        st = lunet__run(ctx, "tsne", "tsne_update", NULL, 1, &g, NULL, LUNET_NARGS(args), args);
        if (st == LUNET_OK) {
            lunet_arg cargs[] = {LUNET_ARG(ym), LUNET_ARG(in)};
            st = lunet__run(ctx, "tsne", "tsne_center", NULL, 1, &one, NULL, LUNET_NARGS(cargs), cargs);
        }
    }
    lunet_tensor_free(forces);
    lunet_tensor_free(partial);
    lunet_tensor_free(z);
    return st;
}

lunet_status lunet_tsne_kl(const lunet_tensor *p, const lunet_tensor *y, float *kl) {
    const char *op = "tsne_kl";
    if (!kl) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: kl is NULL", op);
    *kl = NAN;
    lunet_status st = check_p_y(op, p, y);
    if (st != LUNET_OK) return st;
    if (p->storage == y->storage)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: p and y must be separate tensors", op);
    lunet_context *ctx = y->ctx;
    int64_t n = y->shape[0];
    lunet_tensor *forces = NULL, *partial = NULL, *z = NULL, *sum = NULL;
    st = scratch(ctx, n, 4, &forces);
    if (st == LUNET_OK) st = scratch(ctx, n, 1, &partial);
    if (st == LUNET_OK) st = scratch(ctx, 1, 1, &z);
    if (st == LUNET_OK) st = scratch(ctx, 1, 1, &sum);
    if (st == LUNET_OK) st = forces_and_z(p, y, forces, partial, z);
    if (st == LUNET_OK) {
        int in = (int)n;
        cl_mem pm = lunet__mem(p), ym = lunet__mem(y), zm = lunet__mem(z);
        cl_mem sm = lunet__mem(partial), om = lunet__mem(sum);
        lunet_arg args[] = {LUNET_ARG(pm), LUNET_ARG(ym), LUNET_ARG(zm), LUNET_ARG(sm), LUNET_ARG(in)};
        size_t g = (size_t)n, one = 1;
        st = lunet__run(ctx, "tsne", "tsne_kl_rows", NULL, 1, &g, NULL, LUNET_NARGS(args), args);
        if (st == LUNET_OK) {
            lunet_arg rargs[] = {LUNET_ARG(sm), LUNET_ARG(om), LUNET_ARG(in)};
            st = lunet__run(ctx, "tsne", "tsne_reduce_sum", NULL, 1, &one, NULL,
                            LUNET_NARGS(rargs), rargs);
        }
    }
    if (st == LUNET_OK) st = lunet_tensor_download(sum, kl, 1);
    lunet_tensor_free(forces);
    lunet_tensor_free(partial);
    lunet_tensor_free(z);
    lunet_tensor_free(sum);
    return st;
}
