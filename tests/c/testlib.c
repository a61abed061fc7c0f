#include "testlib.h"

#include <math.h>

test_state test_g;
static lunet_context *shared_ctx;

int test_report(void) {
    test_ctx_release();
    printf("%d passed, %d failed\n", test_g.passed, test_g.failed);
    return test_g.failed ? 1 : 0;
}

lunet_context *test_ctx(void) {
    if (!shared_ctx) {
        lunet_status st = lunet_context_create(NULL, &shared_ctx);
        if (st != LUNET_OK) {
            printf("FATAL: no OpenCL device: %s\n", lunet_last_error());
            exit(2);
        }
    }
    return shared_ctx;
}

void test_ctx_release(void) {
    if (shared_ctx) lunet_context_destroy(shared_ctx);
    shared_ctx = NULL;
}

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int test_rand_int(uint64_t *state, int lo, int hi) {
    return lo + (int)(next_u64(state) % (uint64_t)(hi - lo + 1));
}

void test_fill_random(float *dst, int64_t n, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)((double)(next_u64(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

lunet_tensor *test_tensor(int ndim, const int64_t *shape, const float *values) {
    lunet_tensor *t = NULL;
    if (lunet_tensor_create(test_ctx(), ndim, shape, &t) != LUNET_OK) {
        printf("FATAL: tensor_create: %s\n", lunet_last_error());
        exit(2);
    }
    if (values && lunet_tensor_upload(t, values, numel_of(ndim, shape)) != LUNET_OK) {
        printf("FATAL: upload: %s\n", lunet_last_error());
        exit(2);
    }
    return t;
}

lunet_tensor *test_tensor_random(int ndim, const int64_t *shape, uint64_t seed, float **host) {
    int64_t n = numel_of(ndim, shape);
    float *v = malloc((size_t)n * sizeof(float));
    test_fill_random(v, n, seed);
    lunet_tensor *t = test_tensor(ndim, shape, v);
    if (host) *host = v;
    else free(v);
    return t;
}

float *test_download(const lunet_tensor *t) {
    int64_t n = lunet_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof(float));
    if (lunet_tensor_download(t, v, n) != LUNET_OK) {
        printf("FATAL: download: %s\n", lunet_last_error());
        exit(2);
    }
    return v;
}

double test_rel_error(const float *a, const float *b, int64_t n) {
    double maxdiff = 0.0, maxref = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= maxdiff)) maxdiff = d;   /* NaN propagates as a failure */
        if (fabs((double)b[i]) > maxref) maxref = fabs((double)b[i]);
    }
    return maxdiff / maxref;
}

int test_allowed_values(const char *key, char values[][16]) {
    for (int i = 0; i < lunet_tuning_key_count(); i++) {
        const lunet_tuning_key *k = lunet_tuning_key_at(i);
        if (strcmp(k->name, key) != 0) continue;
        int n = 0;
        for (const char *p = k->allowed; *p && n < TEST_MAX_ALLOWED; n++) {
            size_t len = strcspn(p, "|");
            snprintf(values[n], 16, "%.*s", (int)len, p);
            p += len + (p[len] == '|');
        }
        return n;
    }
    CHECK(0, "no tuning key %s", key);
    return 0;
}

uint64_t test_kernel_launches(void) {
    lunet_stats st;
    lunet_context_stats(test_ctx(), &st);
    return st.kernel_launches;
}
