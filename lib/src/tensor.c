/* tensor.c — device buffers with a shape, the buffer pool, host transfers, and the
 * argument checks every op uses. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the buffer pool: freed buffers wait here for a request of the same size ---- */

static cl_mem pool_take(lunet_context *ctx, size_t bytes) {
    for (int i = ctx->n_pool - 1; i >= 0; i--) {
        if (ctx->pool[i].bytes == bytes) {
            cl_mem mem = ctx->pool[i].mem;
            ctx->pool[i] = ctx->pool[--ctx->n_pool];
            ctx->stats.bytes_pooled -= bytes;
            ctx->stats.buffers_reused++;
            return mem;
        }
    }
    return NULL;
}

static void pool_give(lunet_context *ctx, cl_mem mem, size_t bytes) {
    if (ctx->n_pool == LUNET_POOL_SLOTS) {   /* full: drop the oldest */
        ctx->stats.bytes_pooled -= ctx->pool[0].bytes;
        clReleaseMemObject(ctx->pool[0].mem);
        ctx->pool[0] = ctx->pool[--ctx->n_pool];
    }
    ctx->pool[ctx->n_pool++] = (lunet_pool_entry){mem, bytes};
    ctx->stats.bytes_pooled += bytes;
}

void lunet__pool_drain(lunet_context *ctx) {
    for (int i = 0; i < ctx->n_pool; i++) clReleaseMemObject(ctx->pool[i].mem);
    ctx->n_pool = 0;
    ctx->stats.bytes_pooled = 0;
}

/* ---- shapes ---- */

void lunet__shape_str(const lunet_tensor *t, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? "," : "", t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static void dims_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    lunet_tensor tmp = {.ndim = ndim};
    for (int i = 0; i < ndim && i < LUNET_MAX_DIMS; i++) tmp.shape[i] = shape[i];
    lunet__shape_str(&tmp, buf, size);
}

static lunet_status check_dims(const char *op, int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 1 || ndim > LUNET_MAX_DIMS)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: a tensor has 1 to 4 dimensions, got %d", op,
                           ndim);
    if (!shape) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: shape is NULL", op);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) {
            char s[96];
            dims_str(ndim, shape, s, sizeof s);
            return lunet__fail(LUNET_ERR_ARGUMENT,
                               "%s: every dimension must be >= 1, got shape %s", op, s);
        }
        if (n > INT64_MAX / 4 / shape[i])
            return lunet__fail(LUNET_ERR_ARGUMENT, "%s: shape too large", op);
        n *= shape[i];
    }
    *numel = n;
    return LUNET_OK;
}

/* ---- create, view, free ---- */

static lunet_status make_storage(lunet_context *ctx, size_t bytes, lunet_storage **out) {
    lunet_storage *s = calloc(1, sizeof *s);
    if (!s) return lunet__fail(LUNET_ERR_MEMORY, "tensor: out of host memory");
    s->ctx = ctx;
    s->bytes = bytes;
    s->refs = 1;
    s->mem = pool_take(ctx, bytes);
    if (!s->mem) {
        cl_int err;
        s->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
        if (err != CL_SUCCESS) {
            free(s);
            char call[96];
            snprintf(call, sizeof call, "clCreateBuffer(%zu bytes)", bytes);
            return lunet__cl_fail(err, call);
        }
        ctx->stats.buffers_allocated++;
    }
    *out = s;
    return LUNET_OK;
}

static lunet_tensor *new_handle(lunet_context *ctx, lunet_storage *s, int ndim,
                                const int64_t *shape, int64_t numel) {
    lunet_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ctx = ctx;
    t->storage = s;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    return t;
}

static void storage_release(lunet_storage *s) {
    if (--s->refs > 0) return;
    pool_give(s->ctx, s->mem, s->bytes);
    free(s);
}

lunet_status lunet__tensor_empty(lunet_context *ctx, int ndim, const int64_t *shape,
                                 lunet_tensor **out) {
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "tensor_create: out is NULL");
    *out = NULL;
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "tensor_create: context is NULL");
    int64_t numel;
    lunet_status st = check_dims("tensor_create", ndim, shape, &numel);
    if (st != LUNET_OK) return st;
    lunet_storage *s = NULL;
    st = make_storage(ctx, (size_t)numel * sizeof(float), &s);
    if (st != LUNET_OK) return st;
    *out = new_handle(ctx, s, ndim, shape, numel);
    if (!*out) {
        storage_release(s);
        return lunet__fail(LUNET_ERR_MEMORY, "tensor_create: out of host memory");
    }
    return LUNET_OK;
}

lunet_status lunet_tensor_create(lunet_context *ctx, int ndim, const int64_t *shape,
                                 lunet_tensor **out) {
    lunet_status st = lunet__tensor_empty(ctx, ndim, shape, out);
    if (st != LUNET_OK) return st;
    st = lunet_tensor_fill(*out, 0.0f);
    if (st != LUNET_OK) {
        lunet_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

void lunet_tensor_free(lunet_tensor *t) {
    if (!t) return;
    storage_release(t->storage);
    free(t);
}

lunet_status lunet_tensor_view(const lunet_tensor *t, int ndim, const int64_t *shape,
                               lunet_tensor **out) {
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "tensor_view: out is NULL");
    *out = NULL;
    lunet_status st = lunet__check_tensor("tensor_view", "tensor", t);
    if (st != LUNET_OK) return st;
    int64_t numel;
    st = check_dims("tensor_view", ndim, shape, &numel);
    if (st != LUNET_OK) return st;
    if (numel != t->numel) {
        char a[96], b[96];
        lunet__shape_str(t, a, sizeof a);
        dims_str(ndim, shape, b, sizeof b);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "tensor_view: cannot view shape %s (%" PRId64 " elements) as %s (%" PRId64
                           " elements)", a, t->numel, b, numel);
    }
    *out = new_handle(t->ctx, t->storage, ndim, shape, numel);
    if (!*out) return lunet__fail(LUNET_ERR_MEMORY, "tensor_view: out of host memory");
    t->storage->refs++;
    return LUNET_OK;
}

int lunet_tensor_ndim(const lunet_tensor *t) { return t ? t->ndim : 0; }

int64_t lunet_tensor_dim(const lunet_tensor *t, int d) {
    return (t && d >= 0 && d < t->ndim) ? t->shape[d] : -1;
}

int64_t lunet_tensor_numel(const lunet_tensor *t) { return t ? t->numel : 0; }

lunet_context *lunet_tensor_context(const lunet_tensor *t) { return t ? t->ctx : NULL; }

/* ---- transfers and fills ---- */

lunet_status lunet__check_count(const char *op, const lunet_tensor *t, const void *ptr,
                                int64_t count, const char *unit) {
    lunet_status st = lunet__check_tensor(op, "tensor", t);
    if (st != LUNET_OK) return st;
    if (!ptr) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: host pointer is NULL", op);
    if (count != t->numel) {
        char s[96];
        lunet__shape_str(t, s, sizeof s);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: %" PRId64 " %s given for a tensor of shape %s (%" PRId64
                           " elements)", op, count, unit, s, t->numel);
    }
    return LUNET_OK;
}

lunet_status lunet_tensor_upload(lunet_tensor *t, const float *src, int64_t count) {
    lunet_status st = lunet__check_count("tensor_upload", t, src, count, "values");
    if (st != LUNET_OK) return st;
    cl_int err = clEnqueueWriteBuffer(t->ctx->queue, t->storage->mem, CL_TRUE, 0,
                                      (size_t)count * sizeof(float), src, 0, NULL, NULL);
    t->ctx->stats.host_syncs++;
    return err == CL_SUCCESS ? LUNET_OK : lunet__cl_fail(err, "clEnqueueWriteBuffer");
}

lunet_status lunet_tensor_download(const lunet_tensor *t, float *dst, int64_t count) {
    lunet_status st = lunet__check_count("tensor_download", t, dst, count, "values");
    if (st != LUNET_OK) return st;
    cl_int err = clEnqueueReadBuffer(t->ctx->queue, t->storage->mem, CL_TRUE, 0,
                                     (size_t)count * sizeof(float), dst, 0, NULL, NULL);
    t->ctx->stats.host_syncs++;
    return err == CL_SUCCESS ? LUNET_OK : lunet__cl_fail(err, "clEnqueueReadBuffer");
}

lunet_status lunet_tensor_fill(lunet_tensor *t, float value) {
    lunet_status st = lunet__check_tensor("tensor_fill", "tensor", t);
    if (st != LUNET_OK) return st;
    cl_int err = clEnqueueFillBuffer(t->ctx->queue, t->storage->mem, &value, sizeof value, 0,
                                     (size_t)t->numel * sizeof(float), 0, NULL, NULL);
    return err == CL_SUCCESS ? LUNET_OK : lunet__cl_fail(err, "clEnqueueFillBuffer");
}

lunet_status lunet_tensor_copy(lunet_tensor *dst, const lunet_tensor *src) {
    lunet_status st = lunet__check_same_numel("tensor_copy", "dst", dst, "src", src);
    if (st == LUNET_OK) st = lunet__check_same_ctx("tensor_copy", dst, src);
    if (st != LUNET_OK || dst->storage == src->storage) return st;
    cl_int err = clEnqueueCopyBuffer(dst->ctx->queue, src->storage->mem, dst->storage->mem, 0, 0,
                                     (size_t)src->numel * sizeof(float), 0, NULL, NULL);
    return err == CL_SUCCESS ? LUNET_OK : lunet__cl_fail(err, "clEnqueueCopyBuffer");
}

/* ---- seeded random fills (host generator, so every device gets the same numbers) ---- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) {   /* in (0, 1): safe for log() */
    return ((double)(splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
}

static lunet_status upload_generated(lunet_tensor *t, const char *op, uint64_t seed, bool normal,
                                     double a, double b) {
    lunet_status st = lunet__check_tensor(op, "tensor", t);
    if (st != LUNET_OK) return st;
    float *v = malloc((size_t)t->numel * sizeof(float));
    if (!v) return lunet__fail(LUNET_ERR_MEMORY, "%s: out of host memory", op);
    uint64_t state = seed;
    for (int64_t i = 0; i < t->numel; i += 2) {
        double u1 = uniform01(&state), u2 = uniform01(&state);
        if (normal) {   /* Box-Muller: two normals from two uniforms */
            double r = sqrt(-2.0 * log(u1));
            v[i] = (float)(a + b * r * cos(6.283185307179586 * u2));
            if (i + 1 < t->numel) v[i + 1] = (float)(a + b * r * sin(6.283185307179586 * u2));
        } else {
            v[i] = (float)(a + (b - a) * u1);
            if (i + 1 < t->numel) v[i + 1] = (float)(a + (b - a) * u2);
        }
    }
    st = lunet_tensor_upload(t, v, t->numel);
    free(v);
    return st;
}

lunet_status lunet_tensor_randn(lunet_tensor *t, uint64_t seed, float mean, float stddev) {
    if (!(stddev >= 0.0f))
        return lunet__fail(LUNET_ERR_ARGUMENT, "tensor_randn: stddev must be >= 0, got %g",
                           (double)stddev);
    return upload_generated(t, "tensor_randn", seed, true, mean, stddev);
}

lunet_status lunet_tensor_rand_uniform(lunet_tensor *t, uint64_t seed, float low, float high) {
    if (!(low <= high))
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "tensor_rand_uniform: low (%g) must not exceed high (%g)", (double)low,
                           (double)high);
    return upload_generated(t, "tensor_rand_uniform", seed, false, low, high);
}

/* ---- argument checks ---- */

lunet_status lunet__check_tensor(const char *op, const char *what, const lunet_tensor *t) {
    if (!t) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: %s is NULL", op, what);
    return LUNET_OK;
}

lunet_status lunet__check_ndim(const char *op, const char *what, const lunet_tensor *t, int ndim) {
    lunet_status st = lunet__check_tensor(op, what, t);
    if (st != LUNET_OK) return st;
    if (t->ndim != ndim) {
        char s[96];
        lunet__shape_str(t, s, sizeof s);
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s must have %d dimensions, got shape %s", op,
                           what, ndim, s);
    }
    return LUNET_OK;
}

lunet_status lunet__check_shape(const char *op, const char *what, const lunet_tensor *t,
                                int ndim, const int64_t *shape) {
    lunet_status st = lunet__check_tensor(op, what, t);
    if (st != LUNET_OK) return st;
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[96], want[96];
        lunet__shape_str(t, got, sizeof got);
        dims_str(ndim, shape, want, sizeof want);
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, what, got,
                           want);
    }
    return LUNET_OK;
}

lunet_status lunet__check_same_numel(const char *op, const char *what, const lunet_tensor *t,
                                     const char *ref_what, const lunet_tensor *ref) {
    lunet_status st = lunet__check_tensor(op, what, t);
    if (st == LUNET_OK) st = lunet__check_tensor(op, ref_what, ref);
    if (st != LUNET_OK) return st;
    if (t->numel != ref->numel) {
        char a[96], b[96];
        lunet__shape_str(t, a, sizeof a);
        lunet__shape_str(ref, b, sizeof b);
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has shape %s but %s has shape %s", op, what, a,
                           ref_what, b);
    }
    return LUNET_OK;
}

lunet_status lunet__check_same_ctx(const char *op, const lunet_tensor *a, const lunet_tensor *b) {
    if (a && b && a->ctx != b->ctx)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensors belong to different contexts", op);
    return LUNET_OK;
}
