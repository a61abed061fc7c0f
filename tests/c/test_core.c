/* Core: devices, contexts, tensors, the buffer pool, the kernel binary cache, errors. */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "testlib.h"

static char tmp_root[512];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) { printf("FATAL: cannot write %s\n", path); exit(2); }
    fputs(text, f);
    fclose(f);
}

/* Run in a child before this process touches OpenCL: the ICD loader reads
 * OCL_ICD_VENDORS once, so an empty vendor dir means "no platform at all". */
static int no_platform_child(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/no-vendors", tmp_root);
    mkdir(dir, 0755);
    setenv("OCL_ICD_VENDORS", dir, 1);
    int count = -1;
    lunet_status st = lunet_device_count(&count);
    if (st != LUNET_ERR_NO_DEVICE || !strstr(lunet_last_error(), "pocl-opencl-icd")) return 1;
    lunet_context *ctx = NULL;
    st = lunet_context_create(NULL, &ctx);
    if (st != LUNET_ERR_NO_DEVICE || ctx != NULL) return 2;
    if (!strstr(lunet_last_error(), "no OpenCL platform found")) return 3;
    return 0;
}

static void test_no_platform_is_a_clear_error(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(no_platform_child());
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child with no OpenCL vendors: exit status %d (1: count, 2/3: context)",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_devices_listed_and_selected(void) {
    int count = 0;
    REQUIRE_OK(lunet_device_count(&count));
    REQUIRE(count >= 1, "no device: CI must find PoCL");
    lunet_device_info info;
    REQUIRE_OK(lunet_device_get_info(0, &info));
    CHECK(info.name[0] != '\0' && info.platform[0] != '\0', "empty names");
    CHECK(info.version[0] != '\0' && info.driver[0] != '\0', "empty version or driver");
    CHECK(info.memory > 0, "memory %llu", (unsigned long long)info.memory);
    CHECK_FAILS(lunet_device_get_info(count, &info), LUNET_ERR_NO_DEVICE, "no OpenCL device with index");
    CHECK_FAILS(lunet_device_get_info(-1, &info), LUNET_ERR_ARGUMENT, "index must be >= 0");
    int index = -1;
    REQUIRE_OK(lunet_device_select("0", &index));
    CHECK(index == 0, "index %d", index);
    /* a case-insensitive substring of the platform name selects it */
    char upper[128];
    snprintf(upper, sizeof upper, "%s", info.platform);
    for (char *p = upper; *p; p++) *p = (char)toupper((unsigned char)*p);
    REQUIRE_OK(lunet_device_select(upper + 1, &index));
    CHECK(index == 0, "by name: index %d", index);
    CHECK_FAILS(lunet_device_select("no-such-device-xyz", &index), LUNET_ERR_NO_DEVICE,
                "matches no OpenCL device");
    CHECK_FAILS(lunet_device_select("999", &index), LUNET_ERR_NO_DEVICE, "no device with that index");
    setenv("LUNET_DEVICE", "no-such-device-xyz", 1);
    lunet_context *ctx = NULL;
    CHECK_FAILS(lunet_context_create(NULL, &ctx), LUNET_ERR_NO_DEVICE, "no-such-device-xyz");
    CHECK(ctx == NULL, "context set on failure");
    unsetenv("LUNET_DEVICE");
}

static void test_tensor_roundtrip_view_fill_copy(void) {
    int64_t shape[4] = {2, 3, 4, 5};
    float host[120], back[120];
    test_fill_random(host, 120, 7);
    lunet_tensor *t = test_tensor(4, shape, host);
    CHECK(lunet_tensor_ndim(t) == 4 && lunet_tensor_numel(t) == 120, "ndim/numel");
    CHECK(lunet_tensor_dim(t, 2) == 4 && lunet_tensor_dim(t, 4) == -1, "dim");
    REQUIRE_OK(lunet_tensor_download(t, back, 120));
    CHECK(memcmp(host, back, sizeof host) == 0, "roundtrip differs");

    int64_t flat[2] = {6, 20};
    lunet_tensor *v = NULL;
    REQUIRE_OK(lunet_tensor_view(t, 2, flat, &v));
    REQUIRE_OK(lunet_tensor_fill(v, 2.5f));   /* writes through the view */
    lunet_tensor_free(v);
    REQUIRE_OK(lunet_tensor_download(t, back, 120));
    CHECK(back[0] == 2.5f && back[119] == 2.5f, "fill through view: %g", back[0]);

    lunet_tensor *z = test_tensor(1, (int64_t[]){120}, NULL);
    float zeros[120];
    REQUIRE_OK(lunet_tensor_download(z, zeros, 120));
    CHECK(zeros[0] == 0.0f && zeros[77] == 0.0f, "create is not zero-filled");
    REQUIRE_OK(lunet_tensor_copy(z, t));
    REQUIRE_OK(lunet_tensor_download(z, zeros, 120));
    CHECK(zeros[5] == 2.5f, "copy");

    int64_t bad[2] = {7, 20};
    CHECK_FAILS(lunet_tensor_view(t, 2, bad, &v), LUNET_ERR_SHAPE, "cannot view shape [2,3,4,5]");
    CHECK_FAILS(lunet_tensor_upload(t, host, 119), LUNET_ERR_SHAPE, "119 values given");
    CHECK_FAILS(lunet_tensor_upload(t, NULL, 120), LUNET_ERR_ARGUMENT, "host pointer is NULL");
    lunet_tensor *small = test_tensor(1, (int64_t[]){3}, NULL);
    CHECK_FAILS(lunet_tensor_copy(small, t), LUNET_ERR_SHAPE, "dst has shape [3] but src has shape");
    lunet_tensor_free(small);
    lunet_tensor_free(z);
    lunet_tensor_free(t);
}

static void test_bad_shapes_rejected(void) {
    lunet_tensor *t = (lunet_tensor *)1;
    CHECK_FAILS(lunet_tensor_create(test_ctx(), 2, (int64_t[]){3, -1}, &t), LUNET_ERR_ARGUMENT,
                "every dimension must be >= 1, got shape [3,-1]");
    CHECK(t == NULL, "out not cleared");
    CHECK_FAILS(lunet_tensor_create(test_ctx(), 5, (int64_t[]){1, 1, 1, 1, 1}, &t),
                LUNET_ERR_ARGUMENT, "1 to 4 dimensions, got 5");
    CHECK_FAILS(lunet_tensor_create(NULL, 1, (int64_t[]){1}, &t), LUNET_ERR_ARGUMENT,
                "context is NULL");
    CHECK_FAILS(lunet_tensor_fill(NULL, 0.0f), LUNET_ERR_ARGUMENT, "tensor_fill: tensor is NULL");
}

static void test_pool_reuses_buffers(void) {
    lunet_stats before, after;
    REQUIRE_OK(lunet_context_stats(test_ctx(), &before));
    for (int i = 0; i < 10; i++) {
        lunet_tensor *t = test_tensor(2, (int64_t[]){64, 33}, NULL);
        lunet_tensor_free(t);
    }
    REQUIRE_OK(lunet_context_stats(test_ctx(), &after));
    CHECK(after.buffers_allocated - before.buffers_allocated <= 1, "allocated %llu new buffers",
          (unsigned long long)(after.buffers_allocated - before.buffers_allocated));
    CHECK(after.buffers_reused - before.buffers_reused >= 9, "reused %llu",
          (unsigned long long)(after.buffers_reused - before.buffers_reused));
}

static void test_random_fills_are_seeded(void) {
    lunet_tensor *a = test_tensor(1, (int64_t[]){10001}, NULL);
    lunet_tensor *b = test_tensor(1, (int64_t[]){10001}, NULL);
    REQUIRE_OK(lunet_tensor_randn(a, 42, 1.0f, 2.0f));
    REQUIRE_OK(lunet_tensor_randn(b, 42, 1.0f, 2.0f));
    float *va = test_download(a), *vb = test_download(b);
    CHECK(memcmp(va, vb, 10001 * sizeof(float)) == 0, "same seed, different numbers");
    double mean = 0, var = 0;
    for (int i = 0; i < 10001; i++) mean += va[i];
    mean /= 10001;
    for (int i = 0; i < 10001; i++) var += (va[i] - mean) * (va[i] - mean);
    var /= 10000;
    CHECK(fabs(mean - 1.0) < 0.06 && fabs(sqrt(var) - 2.0) < 0.06, "mean %g std %g", mean, sqrt(var));
    REQUIRE_OK(lunet_tensor_rand_uniform(b, 3, -0.5f, 0.25f));
    free(vb);
    vb = test_download(b);
    float lo = 1, hi = -1;
    for (int i = 0; i < 10001; i++) { lo = fminf(lo, vb[i]); hi = fmaxf(hi, vb[i]); }
    CHECK(lo >= -0.5f && hi <= 0.25f && lo < -0.49f && hi > 0.24f, "range [%g, %g]", lo, hi);
    CHECK_FAILS(lunet_tensor_rand_uniform(b, 3, 1.0f, 0.0f), LUNET_ERR_ARGUMENT, "must not exceed");
    free(va);
    free(vb);
    lunet_tensor_free(a);
    lunet_tensor_free(b);
}

static const char *PROBE_CL =
    "__kernel void scale(__global float *x, float s, int n) {\n"
    "    int i = get_global_id(0);\n"
    "    if (i < n) x[i] *= s * SCALE_BIAS;\n"
    "}\n";

static lunet_status run_probe(lunet_context *ctx, lunet_tensor *t, float s) {
    cl_mem m = lunet__mem(t);
    int n = (int)lunet_tensor_numel(t);
    lunet_arg args[] = {LUNET_ARG(m), LUNET_ARG(s), LUNET_ARG(n)};
    size_t global = (size_t)n;
    return lunet__run(ctx, "probe", "scale", "-DSCALE_BIAS=1.0f", 1, &global, NULL,
                      LUNET_NARGS(args), args);
}

/* A second context (a second run of a script) loads the binary instead of compiling. */
static void test_kernel_cache_avoids_recompiling(void) {
    char kdir[600], cdir[600], path[700];
    snprintf(kdir, sizeof kdir, "%s/kernels", tmp_root);
    snprintf(cdir, sizeof cdir, "%s/cache-%ld", tmp_root, (long)getpid());
    mkdir(kdir, 0755);
    snprintf(path, sizeof path, "%s/probe.cl", kdir);
    write_text(path, PROBE_CL);
    setenv("LUNET_KERNEL_DIR", kdir, 1);
    setenv("LUNET_CACHE_DIR", cdir, 1);
    lunet_stats first = {0}, second = {0};
    for (int run = 0; run < 2; run++) {
        lunet_context *ctx = NULL;
        REQUIRE_OK(lunet_context_create(NULL, &ctx));
        CHECK(strcmp(lunet_context_cache_dir(ctx), cdir) == 0, "cache dir %s", lunet_context_cache_dir(ctx));
        lunet_tensor *t = NULL;
        REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){5}, &t));
        REQUIRE_OK(lunet_tensor_fill(t, 2.0f));
        REQUIRE_OK(run_probe(ctx, t, 3.0f));
        float back[5];
        REQUIRE_OK(lunet_tensor_download(t, back, 5));
        CHECK(back[4] == 6.0f, "probe kernel result %g", back[4]);
        REQUIRE_OK(lunet_context_stats(ctx, run == 0 ? &first : &second));
        lunet_tensor_free(t);
        lunet_context_destroy(ctx);
    }
    CHECK(first.programs_compiled == 1 && first.programs_cached == 0, "first run: compiled %llu cached %llu",
          (unsigned long long)first.programs_compiled, (unsigned long long)first.programs_cached);
    CHECK(second.programs_compiled == 0 && second.programs_cached == 1,
          "second run recompiled: compiled %llu cached %llu",
          (unsigned long long)second.programs_compiled, (unsigned long long)second.programs_cached);
    CHECK(first.kernel_launches == 1, "launches %llu", (unsigned long long)first.kernel_launches);

    /* a changed source is a different key: compiled again */
    write_text(path, "/* edited */\n__kernel void scale(__global float *x, float s, int n) {\n"
                     "  int i = get_global_id(0); if (i < n) x[i] *= s + 0.0f * SCALE_BIAS; }\n");
    lunet_context *ctx = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    lunet_tensor *t = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){5}, &t));
    REQUIRE_OK(run_probe(ctx, t, 3.0f));
    REQUIRE_OK(lunet_context_stats(ctx, &second));
    CHECK(second.programs_compiled == 1, "edited source not recompiled");

    /* a build failure reports the compiler's log */
    write_text(path, "__kernel void scale(__global float *x) { x[0] = undeclared_thing; }\n");
    lunet_context *ctx2 = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &ctx2));
    lunet_tensor *t2 = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx2, 1, (int64_t[]){5}, &t2));
    CHECK_FAILS(run_probe(ctx2, t2, 1.0f), LUNET_ERR_BUILD, "undeclared_thing");
    CHECK(strstr(lunet_last_error(), "kernels/probe.cl") != NULL, "message: %s", lunet_last_error());
    lunet_tensor_free(t2);
    lunet_context_destroy(ctx2);
    /* an unknown kernel name is an OpenCL error naming the call */
    cl_kernel k;
    write_text(path, PROBE_CL);
    CHECK_FAILS(lunet__kernel(ctx, "probe", "nope", "-DSCALE_BIAS=1.0f", &k), LUNET_ERR_OPENCL,
                "CL_INVALID_KERNEL_NAME");
    CHECK_FAILS(lunet__kernel(ctx, "missing_family", "x", NULL, &k), LUNET_ERR_IO, "missing_family.cl");
    lunet_tensor_free(t);
    lunet_context_destroy(ctx);
    unsetenv("LUNET_KERNEL_DIR");
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

/* Cache files are written off the critical path: not when a program is built, nor at
 * lunet_context_finish, but by lunet_context_save_kernels and lunet_context_destroy; an
 * unwritable cache costs nothing but the file. */
static void test_kernel_cache_is_saved_off_the_critical_path(void) {
    char kdir[600], cdir[600], path[700];
    snprintf(kdir, sizeof kdir, "%s/kernels", tmp_root);
    snprintf(cdir, sizeof cdir, "%s/cache-saved-%ld", tmp_root, (long)getpid());
    snprintf(path, sizeof path, "%s/probe.cl", kdir);
    mkdir(kdir, 0755);
    write_text(path, PROBE_CL);
    setenv("LUNET_KERNEL_DIR", kdir, 1);
    setenv("LUNET_CACHE_DIR", cdir, 1);
    CHECK_FAILS(lunet_context_save_kernels(NULL), LUNET_ERR_ARGUMENT, "ctx is NULL");

    /* compiled, then saved on request: the file is there and counted, once */
    lunet_context *ctx = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    lunet_tensor *t = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){5}, &t));
    REQUIRE_OK(lunet_tensor_fill(t, 2.0f));
    REQUIRE_OK(run_probe(ctx, t, 3.0f));
    lunet_stats s = {0};
    REQUIRE_OK(lunet_context_stats(ctx, &s));
    CHECK(s.programs_compiled == 1 && s.programs_saved == 0, "before saving: compiled %llu saved %llu",
          (unsigned long long)s.programs_compiled, (unsigned long long)s.programs_saved);
    REQUIRE_OK(lunet_context_save_kernels(ctx));
    REQUIRE_OK(lunet_context_save_kernels(ctx));   /* nothing left: a no-op */
    REQUIRE_OK(lunet_context_stats(ctx, &s));
    CHECK(s.programs_saved == 1, "saved %llu", (unsigned long long)s.programs_saved);
    float back[5];
    REQUIRE_OK(lunet_tensor_download(t, back, 5));   /* the program still runs after saving */
    CHECK(back[0] == 6.0f, "probe result %g", back[0]);
    lunet_tensor_free(t);
    lunet_context_destroy(ctx);

    /* a new program: lunet_context_finish does not save it, lunet_context_destroy does */
    char second[1024];
    snprintf(second, sizeof second, "/* a second source */\n%s", PROBE_CL);
    write_text(path, second);
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){5}, &t));
    REQUIRE_OK(run_probe(ctx, t, 3.0f));
    REQUIRE_OK(lunet_context_finish(ctx));
    REQUIRE_OK(lunet_context_stats(ctx, &s));
    CHECK(s.programs_compiled == 1 && s.programs_saved == 0, "after finish: compiled %llu saved %llu",
          (unsigned long long)s.programs_compiled, (unsigned long long)s.programs_saved);
    lunet_tensor_free(t);
    lunet_context_destroy(ctx);
    DIR *d = opendir(cdir);
    int files = 0, temporaries = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        files += strstr(e->d_name, ".bin") != NULL && !strstr(e->d_name, ".tmp");
        temporaries += strstr(e->d_name, ".tmp") != NULL;
    }
    if (d) closedir(d);
    CHECK(files == 2 && temporaries == 0, "cache holds %d binaries and %d temporary files", files, temporaries);

    /* an unwritable cache (a file where the directory should be): no error, nothing saved */
    char blocker[700];
    snprintf(blocker, sizeof blocker, "%s/not-a-dir", tmp_root);
    write_text(blocker, "x");
    setenv("LUNET_CACHE_DIR", blocker, 1);
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){5}, &t));
    REQUIRE_OK(run_probe(ctx, t, 3.0f));
    REQUIRE_OK(lunet_context_save_kernels(ctx));
    REQUIRE_OK(lunet_context_stats(ctx, &s));
    CHECK(s.programs_compiled == 1 && s.programs_saved == 0, "unwritable cache: compiled %llu saved %llu",
          (unsigned long long)s.programs_compiled, (unsigned long long)s.programs_saved);
    CHECK(file_exists(blocker), "the file in the cache's place is untouched");
    lunet_tensor_free(t);
    lunet_context_destroy(ctx);
    unsetenv("LUNET_KERNEL_DIR");
}

static void test_status_names(void) {
    CHECK(strcmp(lunet_status_name(LUNET_ERR_SHAPE), "LUNET_ERR_SHAPE") == 0, "name");
    CHECK(strcmp(lunet__cl_error_name(-5), "CL_OUT_OF_RESOURCES") == 0, "cl name");
    CHECK(strcmp(lunet_version(), "0.1.0") == 0, "version %s", lunet_version());
}

int main(void) {
    const char *base = getenv("LUNET_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/core-%ld", base ? base : "/tmp", (long)getpid());
    mkdir(base ? base : "/tmp", 0755);
    mkdir(tmp_root, 0755);
    TEST_BEGIN();
    RUN(test_no_platform_is_a_clear_error);   /* first: before OpenCL is loaded here */
    RUN(test_devices_listed_and_selected);
    RUN(test_tensor_roundtrip_view_fill_copy);
    RUN(test_bad_shapes_rejected);
    RUN(test_pool_reuses_buffers);
    RUN(test_random_fills_are_seeded);
    RUN(test_kernel_cache_avoids_recompiling);
    RUN(test_kernel_cache_is_saved_off_the_critical_path);
    RUN(test_status_names);
    return TEST_END();
}
