/*
 * gather.c — datasets on the device: bytes to normalised floats, and a batch as a
 * gather of rows by a device-side index permutation (no host copy per batch).
 * Kernels are in kernels/gather.cl.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "internal.h"

#define GATHER_MAX_INDEX ((int64_t)1 << 24)   /* floats hold integers exactly up to 2^24 */

static lunet_status check_int_sized(const char *op, const char *what, const lunet_tensor *t) {
    if (t->numel <= INT_MAX) return LUNET_OK;
    return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has %" PRId64 " elements, more than %d", op, what,
                       t->numel, INT_MAX);
}

/* Uploads count bytes into a scratch buffer (as uchar) and converts them on the device. */
lunet_status lunet_tensor_from_bytes(lunet_tensor *t, const uint8_t *bytes, int64_t count,
                                     float scale, float shift) {
    const char *op = "tensor_from_bytes";
    lunet_status st = lunet__check_count(op, t, bytes, count, "bytes");
    if (st != LUNET_OK) return st;
    if (!isfinite(scale) || !isfinite(shift))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: scale (%g) and shift (%g) must be finite", op,
                           (double)scale, (double)shift);
    if ((st = check_int_sized(op, "tensor", t)) != LUNET_OK) return st;
    int64_t words = (count + 3) / 4;   /* a float-sized scratch buffer holding count bytes */
    lunet_tensor *raw = NULL;
    if ((st = lunet__tensor_empty(t->ctx, 1, &words, &raw)) != LUNET_OK) return st;
    cl_int err = clEnqueueWriteBuffer(t->ctx->queue, lunet__mem(raw), CL_TRUE, 0, (size_t)count,
                                      bytes, 0, NULL, NULL);
    t->ctx->stats.host_syncs++;
    if (err != CL_SUCCESS) {
        lunet_tensor_free(raw);
        return lunet__cl_fail(err, "clEnqueueWriteBuffer");
    }
    cl_mem rm = lunet__mem(raw), tm = lunet__mem(t);
    int n = (int)count;
    lunet_arg args[] = {LUNET_ARG(rm), LUNET_ARG(tm), LUNET_ARG(n), LUNET_ARG(scale),
                        LUNET_ARG(shift)};
    size_t global = (size_t)n;
    st = lunet__run(t->ctx, "gather", "bytes_to_float", NULL, 1, &global, NULL, LUNET_NARGS(args),
                    args);
    lunet_tensor_free(raw);   /* the queue is in order: the pool may hand it out again */
    return st;
}

static int64_t row_size(const lunet_tensor *t) { return t->numel / t->shape[0]; }

static lunet_status check_gather_tensors(const char *op, const lunet_tensor *src,
                                         const lunet_tensor *indices, const lunet_tensor *dst) {
    lunet_status st = lunet__check_tensor(op, "src", src);
    if (st == LUNET_OK) st = lunet__check_ndim(op, "indices", indices, 1);
    if (st == LUNET_OK) st = lunet__check_tensor(op, "dst", dst);
    if (st == LUNET_OK) st = lunet__check_same_ctx(op, src, indices);
    if (st == LUNET_OK) st = lunet__check_same_ctx(op, src, dst);
    if (st == LUNET_OK) st = check_int_sized(op, "src", src);
    if (st == LUNET_OK) st = check_int_sized(op, "dst", dst);
    if (st == LUNET_OK) st = check_int_sized(op, "indices", indices);
    if (st != LUNET_OK) return st;
    if (src->shape[0] > GATHER_MAX_INDEX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: src has %" PRId64 " rows, more than 2^24 (%" PRId64
                           ", the largest float index)", op, src->shape[0], GATHER_MAX_INDEX);
    if (row_size(src) != row_size(dst)) {
        char a[96], b[96];
        lunet__shape_str(src, a, sizeof a);
        lunet__shape_str(dst, b, sizeof b);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: rows of src %s have %" PRId64 " elements but rows of dst %s have %"
                           PRId64, op, a, row_size(src), b, row_size(dst));
    }
    return LUNET_OK;
}

static lunet_status check_gather_range(const char *op, const lunet_tensor *indices,
                                       const lunet_tensor *dst, int64_t offset, int64_t count) {
    if (offset < 0 || count < 1)
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "%s: offset must be >= 0 and count >= 1, got offset %" PRId64
                           " and count %" PRId64, op, offset, count);
    if (dst->shape[0] != count) {
        char b[96];
        lunet__shape_str(dst, b, sizeof b);
        return lunet__fail(LUNET_ERR_SHAPE, "%s: dst has shape %s but count is %" PRId64
                           " (dst must have count rows)", op, b, count);
    }
    if (offset > indices->numel - count)
        return lunet__fail(LUNET_ERR_SHAPE,
                           "%s: offset %" PRId64 " + count %" PRId64 " exceeds the %" PRId64
                           " indices", op, offset, count, indices->numel);
    return LUNET_OK;
}

/* Elements per work-item of gather_rows (GATHER_SPAN in kernels/gather.cl). */
enum { GATHER_SPAN = 256 };

lunet_status lunet_gather_rows(const lunet_tensor *src, const lunet_tensor *indices,
                               int64_t offset, int64_t count, lunet_tensor *dst) {
    const char *op = "gather_rows";
    lunet_status st = check_gather_tensors(op, src, indices, dst);
    if (st == LUNET_OK) st = check_gather_range(op, indices, dst, offset, count);
    if (st != LUNET_OK) return st;
    cl_mem sm = lunet__mem(src), im = lunet__mem(indices), dm = lunet__mem(dst);
    int rows = (int)src->shape[0], rs = (int)row_size(src), off = (int)offset, n = (int)count;
    lunet_arg args[] = {LUNET_ARG(sm), LUNET_ARG(im), LUNET_ARG(dm), LUNET_ARG(rows),
                        LUNET_ARG(rs), LUNET_ARG(off), LUNET_ARG(n)};
    size_t global[2] = {((size_t)rs + GATHER_SPAN - 1) / GATHER_SPAN, (size_t)n};
    return lunet__run(src->ctx, "gather", "gather_rows", NULL, 2, global, NULL, LUNET_NARGS(args),
                      args);
}
