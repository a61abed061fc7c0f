/* test_gather.c — lunet_gather_rows and lunet_tensor_from_bytes against plain-C
 * references on random shapes; bad indices, launch counts and the error paths. */
#include <math.h>
#include <stdbool.h>

#include "testlib.h"

/* dst[i, :] = src[indices[offset + i], :] */
static void ref_gather_rows(const float *src, int64_t row, const float *indices, int64_t offset,
                            int64_t count, float *dst) {
    for (int64_t i = 0; i < count; i++)
        memcpy(dst + i * row, src + (int64_t)indices[offset + i] * row, sizeof(float) * (size_t)row);
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* One random gather: src [N, trailing...], M random row numbers, a window of them. */
static void check_gather_config(uint64_t *rng, int config) {
    int ndim = 1 + config % 4;
    int64_t src_shape[4], dst_shape[4];
    src_shape[0] = test_rand_int(rng, 1, 60);
    for (int d = 1; d < ndim; d++) src_shape[d] = test_rand_int(rng, 1, 9);
    int64_t m = test_rand_int(rng, 1, 90), row = numel_of(ndim, src_shape) / src_shape[0];
    int64_t count = test_rand_int(rng, 1, (int)m), offset = test_rand_int(rng, 0, (int)(m - count));
    float *idx = malloc(sizeof(float) * (size_t)m);
    for (int64_t i = 0; i < m; i++) idx[i] = (float)test_rand_int(rng, 0, (int)src_shape[0] - 1);
    dst_shape[0] = count;
    for (int d = 1; d < ndim; d++) dst_shape[d] = src_shape[d];
    float *hsrc;
    lunet_tensor *src = test_tensor_random(ndim, src_shape, 500 + (uint64_t)config, &hsrc);
    int64_t ishape[1] = {m};
    lunet_tensor *indices = test_tensor(1, ishape, idx);
    lunet_tensor *dst = test_tensor(ndim, dst_shape, NULL);
    float *want = malloc(sizeof(float) * (size_t)(count * row));
    ref_gather_rows(hsrc, row, idx, offset, count, want);
    lunet_status st = lunet_gather_rows(src, indices, offset, count, dst);
    CHECK(st == LUNET_OK, "config %d: %s", config, lunet_last_error());
    if (st == LUNET_OK) {
        float *got = test_download(dst);
        double err = test_rel_error(got, want, count * row);
        CHECK(err <= 1e-4, "config %d: N=%lld row=%lld M=%lld offset=%lld count=%lld: error %g",
              config, (long long)src_shape[0], (long long)row, (long long)m, (long long)offset,
              (long long)count, err);
        free(got);
    }
    free(idx); free(hsrc); free(want);
    lunet_tensor_free(src); lunet_tensor_free(indices); lunet_tensor_free(dst);
}

static void test_gather_random(void) {
    uint64_t rng = 2024;
    for (int config = 0; config < 16; config++) check_gather_config(&rng, config);
}

/* A dataset [N,1,4,4] walked in batches of 3 through a permutation: every row once. */
static void test_gather_epoch(void) {
    enum { N = 10, B = 3 };
    int64_t sshape[4] = {N, 1, 4, 4}, pshape[1] = {N};
    float *hsrc;
    lunet_tensor *src = test_tensor_random(4, sshape, 77, &hsrc);
    const float perm[N] = {3, 9, 0, 7, 1, 8, 2, 6, 4, 5};
    lunet_tensor *p = test_tensor(1, pshape, perm);
    for (int64_t offset = 0; offset < N; offset += B) {
        int64_t count = N - offset < B ? N - offset : B;
        int64_t bshape[2] = {count, 16};   /* another trailing shape, same row size */
        lunet_tensor *batch = test_tensor(2, bshape, NULL);
        REQUIRE_OK(lunet_gather_rows(src, p, offset, count, batch));
        float *got = test_download(batch);
        for (int64_t i = 0; i < count; i++)
            CHECK(memcmp(got + i * 16, hsrc + (int64_t)perm[offset + i] * 16, 64) == 0,
                  "batch at %lld, row %lld", (long long)offset, (long long)i);
        free(got);
        lunet_tensor_free(batch);
    }
    free(hsrc);
    lunet_tensor_free(src); lunet_tensor_free(p);
}

/* Indices that are not row numbers give NaN rows, the others are still gathered. */
/* Rows of `cols` elements; 600 spans three work-items of the kernel (256 each). */
static void bad_indices_give_nan(int64_t cols) {
    int64_t sshape[2] = {4, cols}, ishape[1] = {6}, dshape[2] = {6, cols};
    float *hsrc;
    lunet_tensor *src = test_tensor_random(2, sshape, 5, &hsrc);
    const float idx[6] = {2, -1, 4, 1.5f, 3, 1e9f};
    lunet_tensor *indices = test_tensor(1, ishape, idx), *dst = test_tensor(2, dshape, NULL);
    REQUIRE_OK(lunet_gather_rows(src, indices, 0, 6, dst));
    float *got = test_download(dst);
    const bool valid[6] = {true, false, false, false, true, false};
    for (int r = 0; r < 6; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = got[r * cols + c];
            if (valid[r]) CHECK(v == hsrc[(int64_t)idx[r] * cols + c], "row %d col %lld: %g", r, (long long)c, v);
            else CHECK(isnan(v), "row %d (index %g) col %lld: %g, expected NaN", r, idx[r], (long long)c, v);
        }
    free(got); free(hsrc);
    lunet_tensor_free(src); lunet_tensor_free(indices); lunet_tensor_free(dst);
}

static void test_bad_indices_give_nan(void) {
    bad_indices_give_nan(3);
    bad_indices_give_nan(600);
}

/* bytes * scale + shift on random sizes, including ones that are not multiples of 4. */
static void test_from_bytes(void) {
    uint64_t rng = 99;
    const int64_t sizes[6] = {1, 2, 3, 5, 784, 7919};
    for (int k = 0; k < 6; k++) {
        int64_t n = sizes[k];
        uint8_t *b = malloc((size_t)n);
        float *want = malloc(sizeof(float) * (size_t)n);
        float scale = 1.0f / 255.0f / 0.3081f, shift = -0.1307f / 0.3081f;
        if (k % 2) { scale = 1.0f; shift = 0.0f; }
        for (int64_t i = 0; i < n; i++) {
            b[i] = (uint8_t)test_rand_int(&rng, 0, 255);
            want[i] = (float)b[i] * scale + shift;
        }
        if (n >= 2) { b[0] = 0; b[1] = 255; want[0] = shift; want[1] = 255.0f * scale + shift; }
        int64_t shape[2] = {n, 1};
        lunet_tensor *t = test_tensor(2, shape, NULL);
        REQUIRE_OK(lunet_tensor_from_bytes(t, b, n, scale, shift));
        memset(b, 0, (size_t)n);   /* bytes may be reused once the call returns */
        float *got = test_download(t);
        double err = test_rel_error(got, want, n);
        CHECK(err <= 1e-6, "n=%lld: error %g", (long long)n, err);
        if (k % 2) CHECK(memcmp(got, want, sizeof(float) * (size_t)n) == 0, "labels exact");
        free(got); free(b); free(want);
        lunet_tensor_free(t);
    }
}

/* One launch per gather whatever the batch size, and one per conversion. */
static void test_launches(void) {
    int64_t sshape[2] = {128, 20}, ishape[1] = {128};
    lunet_tensor *src = test_tensor(2, sshape, NULL), *indices = test_tensor(1, ishape, NULL);
    for (int64_t n = 1; n <= 128; n *= 128) {
        int64_t dshape[2] = {n, 20};
        lunet_tensor *dst = test_tensor(2, dshape, NULL);
        lunet_stats before, after;
        lunet_context_stats(test_ctx(), &before);
        CHECK(lunet_gather_rows(src, indices, 0, n, dst) == LUNET_OK, "%s", lunet_last_error());
        lunet_context_stats(test_ctx(), &after);
        CHECK(after.kernel_launches - before.kernel_launches == 1, "batch %lld: %llu launches",
              (long long)n, (unsigned long long)(after.kernel_launches - before.kernel_launches));
        lunet_tensor_free(dst);
    }
    uint8_t bytes[128 * 20] = {0};
    lunet_stats before, after;
    lunet_context_stats(test_ctx(), &before);
    CHECK(lunet_tensor_from_bytes(src, bytes, 128 * 20, 1, 0) == LUNET_OK, "%s", lunet_last_error());
    lunet_context_stats(test_ctx(), &after);
    CHECK(after.kernel_launches - before.kernel_launches == 1, "from_bytes: %llu launches",
          (unsigned long long)(after.kernel_launches - before.kernel_launches));
    lunet_tensor_free(src); lunet_tensor_free(indices);
}

static void test_gather_errors(void) {
    int64_t s[4] = {10, 1, 4, 4}, is[1] = {10}, i2[2] = {5, 2}, d[4] = {3, 1, 4, 4};
    int64_t dbad[4] = {3, 1, 3, 4}, dcount[4] = {2, 1, 4, 4};
    lunet_tensor *src = test_tensor(4, s, NULL), *idx = test_tensor(1, is, NULL);
    lunet_tensor *idx2 = test_tensor(2, i2, NULL), *dst = test_tensor(4, d, NULL);
    lunet_tensor *bad = test_tensor(4, dbad, NULL), *two = test_tensor(4, dcount, NULL);
    CHECK_FAILS(lunet_gather_rows(NULL, idx, 0, 3, dst), LUNET_ERR_ARGUMENT, "gather_rows: src is NULL");
    CHECK_FAILS(lunet_gather_rows(src, NULL, 0, 3, dst), LUNET_ERR_ARGUMENT,
                "gather_rows: indices is NULL");
    CHECK_FAILS(lunet_gather_rows(src, idx, 0, 3, NULL), LUNET_ERR_ARGUMENT, "gather_rows: dst is NULL");
    CHECK_FAILS(lunet_gather_rows(src, idx2, 0, 3, dst), LUNET_ERR_SHAPE,
                "gather_rows: indices must have 1 dimensions, got shape [5,2]");
    CHECK_FAILS(lunet_gather_rows(src, idx, 0, 3, bad), LUNET_ERR_SHAPE,
                "gather_rows: rows of src [10,1,4,4] have 16 elements but rows of dst [3,1,3,4] have 12");
    CHECK_FAILS(lunet_gather_rows(src, idx, -1, 3, dst), LUNET_ERR_ARGUMENT,
                "gather_rows: offset must be >= 0 and count >= 1, got offset -1 and count 3");
    CHECK_FAILS(lunet_gather_rows(src, idx, 0, 0, dst), LUNET_ERR_ARGUMENT, "got offset 0 and count 0");
    CHECK_FAILS(lunet_gather_rows(src, idx, 0, 3, two), LUNET_ERR_SHAPE,
                "gather_rows: dst has shape [2,1,4,4] but count is 3 (dst must have count rows)");
    CHECK_FAILS(lunet_gather_rows(src, idx, 8, 3, dst), LUNET_ERR_SHAPE,
                "gather_rows: offset 8 + count 3 exceeds the 10 indices");
    CHECK(lunet_gather_rows(src, idx, 7, 3, dst) == LUNET_OK, "the last window fits: %s",
          lunet_last_error());
    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *elsewhere = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 1, is, &elsewhere));
    CHECK_FAILS(lunet_gather_rows(src, elsewhere, 0, 3, dst), LUNET_ERR_ARGUMENT,
                "gather_rows: tensors belong to different contexts");
    lunet_tensor_free(elsewhere);
    lunet_context_destroy(other);
    lunet_tensor_free(src); lunet_tensor_free(idx); lunet_tensor_free(idx2);
    lunet_tensor_free(dst); lunet_tensor_free(bad); lunet_tensor_free(two);
}

static void test_from_bytes_errors(void) {
    int64_t s[2] = {2, 3};
    lunet_tensor *t = test_tensor(2, s, NULL);
    const uint8_t b[6] = {1, 2, 3, 4, 5, 6};
    CHECK_FAILS(lunet_tensor_from_bytes(NULL, b, 6, 1, 0), LUNET_ERR_ARGUMENT,
                "tensor_from_bytes: tensor is NULL");
    CHECK_FAILS(lunet_tensor_from_bytes(t, NULL, 6, 1, 0), LUNET_ERR_ARGUMENT,
                "tensor_from_bytes: host pointer is NULL");
    CHECK_FAILS(lunet_tensor_from_bytes(t, b, 5, 1, 0), LUNET_ERR_SHAPE,
                "tensor_from_bytes: 5 bytes given for a tensor of shape [2,3] (6 elements)");
    CHECK_FAILS(lunet_tensor_from_bytes(t, b, 6, NAN, 0), LUNET_ERR_ARGUMENT,
                "tensor_from_bytes: scale (nan) and shift (0) must be finite");
    CHECK_FAILS(lunet_tensor_from_bytes(t, b, 6, 1, INFINITY), LUNET_ERR_ARGUMENT, "must be finite");
    lunet_tensor_free(t);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_gather_random);
    RUN(test_gather_epoch);
    RUN(test_bad_indices_give_nan);
    RUN(test_from_bytes);
    RUN(test_launches);
    RUN(test_gather_errors);
    RUN(test_from_bytes_errors);
    test_ctx_release();
    return TEST_END();
}
