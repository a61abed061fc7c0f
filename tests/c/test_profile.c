/* Profiling (LUNET_PROFILE=1, lunet_profile_report, the report printed by
 * lunet_context_destroy) and the host_syncs counter of lunet_stats. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <unistd.h>

#include "testlib.h"

#define RELU_LAUNCHES 3000   /* more than the first FIFO capacity (1024) and many harvests */
#define GEMM_LAUNCHES 7

/* A context created with LUNET_PROFILE set to `profile` (NULL: unset). */
static lunet_context *make_ctx(const char *profile) {
    if (profile) setenv("LUNET_PROFILE", profile, 1);
    else unsetenv("LUNET_PROFILE");
    lunet_context *ctx = NULL;
    lunet_status st = lunet_context_create(NULL, &ctx);
    unsetenv("LUNET_PROFILE");
    if (st != LUNET_OK) {
        printf("FATAL: lunet_context_create: %s\n", lunet_last_error());
        exit(2);   /* a missing device fails the program, never a skip */
    }
    return ctx;
}

static lunet_tensor *tensor_on(lunet_context *ctx, int64_t rows, int64_t cols, uint64_t seed) {
    int64_t shape[2] = {rows, cols};
    lunet_tensor *t = NULL;
    if (lunet_tensor_create(ctx, 2, shape, &t) != LUNET_OK) {
        printf("FATAL: lunet_tensor_create: %s\n", lunet_last_error());
        exit(2);
    }
    if (seed) lunet_tensor_randn(t, seed, 0.0f, 1.0f);
    return t;
}

/* RELU_LAUNCHES relu_forward and GEMM_LAUNCHES gemm launches on ctx. */
static void launch_work(lunet_context *ctx) {
    lunet_tensor *x = tensor_on(ctx, 64, 64, 1), *y = tensor_on(ctx, 64, 64, 0);
    for (int i = 0; i < RELU_LAUNCHES; i++) REQUIRE_OK(lunet_activation_forward(LUNET_ACT_RELU, x, y));
    for (int i = 0; i < GEMM_LAUNCHES; i++) REQUIRE_OK(lunet_gemm(0, 0, 64, 64, 64, 1.0f, x, x, 0.0f, y));
    lunet_tensor_free(x);
    lunet_tensor_free(y);
}

typedef struct row {
    char name[64];
    uint64_t calls;
    double total_ms, mean_us, share;
} row;

/* Parses the table rows of a report (the lines after the "kernel calls ..." header). */
static int parse_rows(const char *report, row *rows, int max) {
    const char *line = strstr(report, "\nkernel ");
    if (!line) return -1;
    line = strchr(line + 1, '\n');
    int n = 0;
    while (line && line[1] && n < max) {
        line++;
        row r;
        if (sscanf(line, "%63s %" SCNu64 " %lf %lf %lf%%", r.name, &r.calls, &r.total_ms, &r.mean_us,
                   &r.share) == 5)
            rows[n++] = r;
        line = strchr(line, '\n');
    }
    return n;
}

static const row *find_row(const row *rows, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

/* The table of a context that ran RELU_LAUNCHES relu and GEMM_LAUNCHES gemm launches. */
static void check_table(const char *report, uint64_t launches) {
    row rows[64];
    int n = parse_rows(report, rows, 64);
    REQUIRE(n >= 2, "expected at least 2 rows, parsed %d from:\n%s", n, report);
    const row *relu = find_row(rows, n, "relu_forward");
    REQUIRE(relu != NULL, "no relu_forward row in:\n%s", report);
    CHECK(relu->calls == RELU_LAUNCHES, "relu_forward calls %" PRIu64 ", expected %d", relu->calls,
          RELU_LAUNCHES);
    uint64_t gemm_calls = 0, calls = 0;
    double share = 0, total_ms = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(rows[i].name, "gemm", 4) == 0) gemm_calls += rows[i].calls;
        calls += rows[i].calls;
        share += rows[i].share;
        total_ms += rows[i].total_ms;
        CHECK(rows[i].total_ms > 0, "%s: total %g ms", rows[i].name, rows[i].total_ms);
        CHECK(fabs(rows[i].mean_us - rows[i].total_ms * 1e3 / (double)rows[i].calls) <=
                  0.5 / (double)rows[i].calls + 0.001,   /* total is rounded to 1 us */
              "%s: mean %g us but total %g ms over %" PRIu64 " calls", rows[i].name,
              rows[i].mean_us, rows[i].total_ms, rows[i].calls);
        if (i > 0)
            CHECK(rows[i - 1].total_ms >= rows[i].total_ms, "not sorted by total: %s %g before %s %g",
                  rows[i - 1].name, rows[i - 1].total_ms, rows[i].name, rows[i].total_ms);
    }
    /* each lunet_gemm is at least one launch of a gemm* kernel (how many is gemm.c's choice) */
    CHECK(gemm_calls >= GEMM_LAUNCHES, "gemm calls %" PRIu64 ", expected at least %d", gemm_calls,
          GEMM_LAUNCHES);
    CHECK(calls == launches, "rows add up to %" PRIu64 " calls, stats counted %" PRIu64 " launches",
          calls, launches);
    CHECK(fabs(share - 100.0) < 0.1 * n + 0.05, "shares add up to %g%%", share);
    char head[160];
    snprintf(head, sizeof head, ": %" PRIu64 " kernel launches timed, ", launches);
    CHECK(strstr(report, head) != NULL, "header lacks \"%s\":\n%s", head, report);
    double header_ms = -1;
    const char *at = strstr(report, "timed, ");
    if (at) sscanf(at + 7, "%lf", &header_ms);
    CHECK(fabs(header_ms - total_ms) < 0.001 * n + 0.002, "header says %g ms, rows add up to %g",
          header_ms, total_ms);
    CHECK(strstr(report, "not timed") == NULL, "untimed launches:\n%s", report);
}

/* Runs destroy with stderr sent to a file and returns what it printed (malloc'd). */
static char *stderr_of_destroy(lunet_context *ctx) {
    char path[] = "/tmp/lunet-profile-stderr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    lunet_context_destroy(ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    if (text && size > 0 && pread(fd, text, (size_t)size, 0) != size) text[0] = '\0';
    close(fd);
    unlink(path);
    return text;
}

/* Destroys a profiled context without its report cluttering the test output. */
static void destroy_quietly(lunet_context *ctx) {
    free(stderr_of_destroy(ctx));
}

static void test_report_counts_every_launch(void) {
    lunet_context *ctx = make_ctx("1");
    launch_work(ctx);
    lunet_stats stats;
    REQUIRE_OK(lunet_context_stats(ctx, &stats));
    CHECK(stats.kernel_launches >= RELU_LAUNCHES + GEMM_LAUNCHES,
          "kernel_launches %" PRIu64 ", expected at least %d", stats.kernel_launches,
          RELU_LAUNCHES + GEMM_LAUNCHES);
    static char report[16384];
    REQUIRE_OK(lunet_profile_report(ctx, report, sizeof report));
    check_table(report, stats.kernel_launches);
    CHECK(strncmp(report, "lunet profile (LUNET_PROFILE=1) on ", 35) == 0, "header: %.80s", report);
    CHECK(strstr(report, "kernel                                calls     total ms      mean us   share\n"),
          "column header missing:\n%s", report);

    /* a second report with no new launches is the same table; totals then accumulate */
    static char again[16384];
    REQUIRE_OK(lunet_profile_report(ctx, again, sizeof again));
    CHECK(strcmp(report, again) == 0, "second report differs:\n%s\nvs\n%s", report, again);
    lunet_tensor *x = tensor_on(ctx, 8, 8, 3);
    for (int i = 0; i < 5; i++) REQUIRE_OK(lunet_activation_forward(LUNET_ACT_RELU, x, x));
    REQUIRE_OK(lunet_profile_report(ctx, again, sizeof again));
    row rows[64];
    int n = parse_rows(again, rows, 64);
    const row *relu = find_row(rows, n, "relu_forward");
    REQUIRE(relu != NULL, "no relu_forward row");
    CHECK(relu->calls == RELU_LAUNCHES + 5, "relu_forward calls %" PRIu64 " after 5 more",
          relu->calls);
    lunet_tensor_free(x);
    destroy_quietly(ctx);
}

static void test_report_of_a_context_that_ran_nothing(void) {
    lunet_context *ctx = make_ctx("1");
    char report[1024];
    REQUIRE_OK(lunet_profile_report(ctx, report, sizeof report));
    CHECK(strstr(report, ": 0 kernel launches timed, 0.000 ms of kernel time\n") != NULL, "%s", report);
    row rows[4];
    CHECK(parse_rows(report, rows, 4) == 0, "rows in an empty report:\n%s", report);
    destroy_quietly(ctx);
}

static void test_report_errors(void) {
    char buf[64] = "untouched";
    CHECK_FAILS(lunet_profile_report(NULL, buf, sizeof buf), LUNET_ERR_ARGUMENT,
                "profile_report: ctx is NULL");
    lunet_context *off = make_ctx(NULL);
    CHECK_FAILS(lunet_profile_report(off, NULL, 10), LUNET_ERR_ARGUMENT, "profile_report: buf is NULL");
    CHECK_FAILS(lunet_profile_report(off, buf, sizeof buf), LUNET_ERR_ARGUMENT,
                "profile_report: profiling is off for this context (set LUNET_PROFILE=1 before "
                "the context is created)");
    CHECK(buf[0] == '\0', "buf not emptied: %s", buf);
    lunet_context_destroy(off);
    lunet_context *zero = make_ctx("0");   /* "0" means off, as an empty value does */
    CHECK_FAILS(lunet_profile_report(zero, buf, sizeof buf), LUNET_ERR_ARGUMENT, "profiling is off");
    lunet_context_destroy(zero);

    lunet_context *ctx = make_ctx("1");
    launch_work(ctx);
    strcpy(buf, "untouched");
    lunet_status st = lunet_profile_report(ctx, buf, 10);
    CHECK(st == LUNET_ERR_ARGUMENT, "status %s", lunet_status_name(st));
    size_t need = 0, given = 0;
    CHECK(sscanf(lunet_last_error(), "profile_report: the report needs %zu bytes, buf has %zu",
                 &need, &given) == 2,
          "message: %s", lunet_last_error());
    CHECK(given == 10 && need > 100, "needs %zu, has %zu", need, given);
    CHECK(buf[0] == '\0', "buf not emptied: %s", buf);
    char *exact = malloc(need);
    REQUIRE(exact != NULL, "malloc");
    CHECK_FAILS(lunet_profile_report(ctx, exact, need - 1), LUNET_ERR_ARGUMENT, "needs");
    lunet_status ok = lunet_profile_report(ctx, exact, need);
    CHECK(ok == LUNET_OK, "with exactly %zu bytes: %s", need, lunet_last_error());
    if (ok == LUNET_OK) CHECK(strlen(exact) + 1 == need, "length %zu + 1 != %zu", strlen(exact), need);
    free(exact);
    destroy_quietly(ctx);
}

static void test_destroy_prints_the_report_to_stderr(void) {
    lunet_context *ctx = make_ctx("1");
    launch_work(ctx);
    lunet_stats stats;
    REQUIRE_OK(lunet_context_stats(ctx, &stats));
    char *printed = stderr_of_destroy(ctx);
    REQUIRE(printed != NULL, "could not capture stderr");
    CHECK(strncmp(printed, "lunet profile (LUNET_PROFILE=1) on ", 35) == 0, "printed: %s", printed);
    check_table(printed, stats.kernel_launches);
    free(printed);

    lunet_context *quiet = make_ctx(NULL);
    launch_work(quiet);
    printed = stderr_of_destroy(quiet);
    REQUIRE(printed != NULL, "could not capture stderr");
    CHECK(printed[0] == '\0', "destroy without LUNET_PROFILE printed: %s", printed);
    free(printed);
}

static void test_host_syncs_count_blocking_calls_only(void) {
    lunet_context *ctx = make_ctx("1");
    lunet_stats s0, s1;
    int64_t shape[1] = {16};
    lunet_tensor *t = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx, 1, shape, &t));
    REQUIRE_OK(lunet_context_stats(ctx, &s0));
    float host[16];
    for (int i = 0; i < 16; i++) host[i] = (float)i - 8;
    REQUIRE_OK(lunet_tensor_upload(t, host, 16));
    REQUIRE_OK(lunet_context_stats(ctx, &s1));
    CHECK(s1.host_syncs == s0.host_syncs + 1, "upload: %" PRIu64 " -> %" PRIu64, s0.host_syncs,
          s1.host_syncs);
    for (int i = 0; i < 10; i++) REQUIRE_OK(lunet_activation_forward(LUNET_ACT_RELU, t, t));
    REQUIRE_OK(lunet_context_stats(ctx, &s0));
    CHECK(s0.host_syncs == s1.host_syncs, "10 kernel launches made %" PRIu64 " host syncs",
          s0.host_syncs - s1.host_syncs);
    CHECK(s0.kernel_launches == s1.kernel_launches + 10, "launches %" PRIu64 " -> %" PRIu64,
          s1.kernel_launches, s0.kernel_launches);
    REQUIRE_OK(lunet_tensor_download(t, host, 16));
    CHECK(host[0] == 0.0f && host[15] == 7.0f, "relu result %g %g", host[0], host[15]);
    REQUIRE_OK(lunet_context_stats(ctx, &s1));
    CHECK(s1.host_syncs == s0.host_syncs + 1, "download: +%" PRIu64, s1.host_syncs - s0.host_syncs);
    REQUIRE_OK(lunet_context_finish(ctx));
    REQUIRE_OK(lunet_context_stats(ctx, &s0));
    CHECK(s0.host_syncs == s1.host_syncs + 1, "finish: +%" PRIu64, s0.host_syncs - s1.host_syncs);
    uint8_t bytes[16] = {0};
    REQUIRE_OK(lunet_tensor_from_bytes(t, bytes, 16, 1.0f, 0.0f));
    REQUIRE_OK(lunet_context_stats(ctx, &s1));
    CHECK(s1.host_syncs == s0.host_syncs + 1, "from_bytes: +%" PRIu64, s1.host_syncs - s0.host_syncs);
    char report[4096];
    REQUIRE_OK(lunet_profile_report(ctx, report, sizeof report));
    REQUIRE_OK(lunet_context_stats(ctx, &s0));
    CHECK(s0.host_syncs == s1.host_syncs + 1, "profile_report: +%" PRIu64,
          s0.host_syncs - s1.host_syncs);
    /* failed calls that never reach the device do not count */
    CHECK_FAILS(lunet_tensor_upload(t, host, 3), LUNET_ERR_SHAPE, "3 values given");
    REQUIRE_OK(lunet_context_stats(ctx, &s1));
    CHECK(s1.host_syncs == s0.host_syncs, "a rejected upload counted");
    lunet_tensor_free(t);
    destroy_quietly(ctx);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_report_counts_every_launch);
    RUN(test_report_of_a_context_that_ran_nothing);
    RUN(test_report_errors);
    RUN(test_destroy_prints_the_report_to_stderr);
    RUN(test_host_syncs_count_blocking_calls_only);
    return TEST_END();
}
