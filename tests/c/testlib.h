/* testlib.h — a tiny test harness for the C tests, and helpers to move data in and out.
 *
 *   int main(void) { TEST_BEGIN(); RUN(test_conv_forward); ...; return TEST_END(); }
 *   CHECK(cond, "fmt", ...) records a failure and goes on; REQUIRE returns from the test.
 *   Each test prints "ok"/"FAIL"; the last line is "N passed, N failed".
 */
#ifndef LUNET_TESTLIB_H
#define LUNET_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet.h"

typedef struct test_state {
    int passed, failed;
    int current_failures;
    const char *current;
} test_state;
extern test_state test_g;

#define TEST_BEGIN() memset(&test_g, 0, sizeof test_g)
#define TEST_END() test_report()
#define RUN(fn)                                                                   \
    do {                                                                          \
        test_g.current = #fn;                                                     \
        test_g.current_failures = 0;                                              \
        fn();                                                                     \
        if (test_g.current_failures) { test_g.failed++; printf("FAIL %s\n", #fn); } \
        else { test_g.passed++; printf("ok   %s\n", #fn); }                       \
        fflush(stdout);                                                           \
    } while (0)
#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            test_g.current_failures++;                                            \
            printf("  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);    \
            printf(__VA_ARGS__);                                                  \
            printf("\n");                                                         \
        }                                                                         \
    } while (0)
#define REQUIRE(cond, ...)                                                        \
    do {                                                                          \
        if (!(cond)) { CHECK(cond, __VA_ARGS__); return; }                        \
    } while (0)
/* The call must return LUNET_OK; otherwise fail and return, printing the message. */
#define REQUIRE_OK(call)                                                          \
    do {                                                                          \
        lunet_status st_ = (call);                                                \
        REQUIRE(st_ == LUNET_OK, "%s -> %s: %s", #call, lunet_status_name(st_),   \
                lunet_last_error());                                              \
    } while (0)
/* The call must fail with `status` and a message containing `needle`. */
#define CHECK_FAILS(call, status, needle)                                         \
    do {                                                                          \
        lunet_status st_ = (call);                                                \
        CHECK(st_ == (status), "%s returned %s, expected %s (%s)", #call,         \
              lunet_status_name(st_), lunet_status_name(status), lunet_last_error()); \
        CHECK(strstr(lunet_last_error(), (needle)) != NULL,                       \
              "message \"%s\" lacks \"%s\"", lunet_last_error(), (needle));       \
    } while (0)

int test_report(void);

/* The shared test context (LUNET_DEVICE or default), created on first use; a missing
 * device fails the whole test program (never a skip). */
lunet_context *test_ctx(void);
void test_ctx_release(void);

/* Deterministic host data: uniform in [-1, 1). */
void test_fill_random(float *dst, int64_t n, uint64_t seed);
/* A tensor of the given shape holding `values` (NULL: zeros). Fails the test on error. */
lunet_tensor *test_tensor(int ndim, const int64_t *shape, const float *values);
/* A tensor with random values; also returns them in *host (malloc'd) when host != NULL. */
lunet_tensor *test_tensor_random(int ndim, const int64_t *shape, uint64_t seed, float **host);
/* Download into a new malloc'd array. */
float *test_download(const lunet_tensor *t);
/* max |a-b| / max(1, max |b|): the error measure the tests bound by 1e-4. */
double test_rel_error(const float *a, const float *b, int64_t n);
/* Integer in [lo, hi] from a simple seeded generator (state updated). */
int test_rand_int(uint64_t *state, int lo, int hi);
/* The allowed values of tuning key `key` as strings ("2|4|8" -> "2", "4", "8"), at most
 * TEST_MAX_ALLOWED; a failed check when the key is unknown. */
enum { TEST_MAX_ALLOWED = 16 };
int test_allowed_values(const char *key, char values[][16]);

/* Kernel launches of test_ctx() so far (lunet_context_stats). */
uint64_t test_kernel_launches(void);

#endif
