/* program.c — kernel sources (embedded, or $LUNET_KERNEL_DIR), building them with an
 * on-disk binary cache, looking up kernels, and launching them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"
#include "internal.h"

#define BASE_OPTIONS "-cl-std=CL1.2"

static lunet_status read_file(const char *path, char **data, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return lunet__fail(LUNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return lunet__fail(LUNET_ERR_MEMORY, "out of host memory reading %s", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return lunet__fail(LUNET_ERR_IO, "error reading %s", path);
    }
    buf[len] = '\0';
    *data = buf;
    *length = len;
    return LUNET_OK;
}

lunet_status lunet__kernel_source(const char *family, char **source, size_t *length) {
    const char *dir = getenv("LUNET_KERNEL_DIR");
    if (dir && *dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.cl", dir, family);
        return read_file(path, source, length);
    }
    for (int i = 0; i < lunet_embedded_kernel_count; i++) {
        if (strcmp(lunet_embedded_kernels[i].family, family) == 0) {
            *length = lunet_embedded_kernels[i].length;
            *source = malloc(*length + 1);
            if (!*source) return lunet__fail(LUNET_ERR_MEMORY, "out of host memory");
            memcpy(*source, lunet_embedded_kernels[i].source, *length + 1);
            return LUNET_OK;
        }
    }
    return lunet__fail(LUNET_ERR_ARGUMENT, "no kernel source kernels/%s.cl in this build", family);
}

/* ---- the on-disk binary cache ---- */

static uint64_t cache_key(const lunet_context *ctx, const char *source, size_t length,
                          const char *options) {
    const lunet_device_info *d = &ctx->info;
    const char *parts[] = {d->platform, d->name, d->version, d->driver, options, LUNET_VERSION_STRING};
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        h = lunet__fnv1a(h, parts[i], strlen(parts[i]) + 1);
    return lunet__fnv1a(h, source, length);
}

static void cache_path(const lunet_context *ctx, uint64_t key, char *path, size_t size) {
    snprintf(path, size, "%s/%016llx.bin", ctx->cache_dir, (unsigned long long)key);
}

void lunet__mkdir_p(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

/* Try to build from a cached binary; returns NULL when there is none or it is unusable. */
static cl_program load_cached(lunet_context *ctx, const char *path, const char *options) {
    char *bin = NULL;
    size_t len = 0;
    if (access(path, R_OK) != 0 || read_file(path, &bin, &len) != LUNET_OK) return NULL;
    const unsigned char *bins[] = {(const unsigned char *)bin};
    cl_int status = CL_SUCCESS, err;
    cl_program program =
        clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &len, bins, &status, &err);
    free(bin);
    if (err != CL_SUCCESS || status != CL_SUCCESS) return NULL;
    if (clBuildProgram(program, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(program);
        return NULL;
    }
    return program;
}

/* Best effort: a cache that cannot be written only costs a recompile next time. Written
 * to a temporary file named after the process and thread, then renamed: a reader never
 * sees half a binary. Returns whether the file was written. */
static bool store_cached(const lunet_context *ctx, cl_program program, const char *path) {
    size_t size = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return false;
    unsigned char *bin = malloc(size);
    if (!bin) return false;
    unsigned char *bins[] = {bin};
    bool ok = false;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        lunet__mkdir_p(ctx->cache_dir);
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.%ld-%lx.tmp", path, (long)getpid(),
                 (unsigned long)pthread_self());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            ok = fwrite(bin, 1, size, f) == size;
            ok = (fclose(f) == 0) && ok;
            ok = ok && rename(tmp, path) == 0;
            if (!ok) remove(tmp);
        }
    }
    free(bin);
    return ok;
}

/* ---- saving compiled programs (see internal.h) ---- */

/* Writes every program compiled from source and not yet saved. */
static void save_marked(lunet_context *ctx) {
    for (int i = 0; i < ctx->n_programs; i++) {
        lunet_program_slot *s = &ctx->programs[i];
        if (!s->unsaved) continue;
        char path[1100];
        cache_path(ctx, s->cache_key, path, sizeof path);
        if (store_cached(ctx, s->program, path)) ctx->programs_saved++;
        s->unsaved = false;
    }
}

lunet_status lunet_context_save_kernels(lunet_context *ctx) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "context_save_kernels: ctx is NULL");
    if (ctx->queue) clFinish(ctx->queue);   /* nothing of PoCL's may run beside the compiles */
    save_marked(ctx);
    return LUNET_OK;
}

void lunet__save_programs(lunet_context *ctx) { save_marked(ctx); }

static lunet_status build_failure(lunet_context *ctx, cl_program program, const char *family,
                                  const char *options) {
    char log[3000] = "";
    size_t size = 0;
    clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &size);
    log[sizeof log - 1] = '\0';
    return lunet__fail(LUNET_ERR_BUILD, "building kernels/%s.cl (options \"%s\") failed on %s:\n%s",
                       family, options, ctx->info.name, log);
}

static lunet_status compile(lunet_context *ctx, const char *family, const char *source,
                            size_t length, const char *options, cl_program *out) {
    cl_int err;
    cl_program program = clCreateProgramWithSource(ctx->context, 1, &source, &length, &err);
    if (err != CL_SUCCESS) return lunet__cl_fail(err, "clCreateProgramWithSource");
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        lunet_status st = build_failure(ctx, program, family, options);
        clReleaseProgram(program);
        return st;
    }
    *out = program;
    return LUNET_OK;
}

/* Builds (or loads from the cache) kernels/<family>.cl with `extra` options. *key is its
 * cache key and *to_save whether it was compiled and belongs in the cache. */
static lunet_status build_program(lunet_context *ctx, const char *family, const char *extra,
                                  cl_program *out, uint64_t *key, bool *to_save) {
    char options[512];
    snprintf(options, sizeof options, "%s %s", BASE_OPTIONS, extra ? extra : "");
    char *source = NULL;
    size_t length = 0;
    lunet_status st = lunet__kernel_source(family, &source, &length);
    if (st != LUNET_OK) return st;
    char path[1100] = "";
    *key = cache_key(ctx, source, length, options);
    *to_save = false;
    if (ctx->cache_dir[0]) {
        cache_path(ctx, *key, path, sizeof path);
        *out = load_cached(ctx, path, options);
        if (*out) {
            ctx->stats.programs_cached++;
            free(source);
            return LUNET_OK;
        }
    }
    st = compile(ctx, family, source, length, options, out);
    free(source);
    if (st != LUNET_OK) return st;
    ctx->stats.programs_compiled++;
    *to_save = path[0] != '\0';
    return LUNET_OK;
}

static lunet_status get_program(lunet_context *ctx, const char *family, const char *options,
                                cl_program *out) {
    for (int i = 0; i < ctx->n_programs; i++) {
        lunet_program_slot *s = &ctx->programs[i];
        if (strcmp(s->family, family) == 0 && strcmp(s->options, options) == 0) {
            *out = s->program;
            return LUNET_OK;
        }
    }
    if (ctx->n_programs == LUNET_KERNEL_CACHE_SLOTS)
        return lunet__fail(LUNET_ERR_MEMORY, "too many kernel programs (%d) in one context",
                           LUNET_KERNEL_CACHE_SLOTS);
    uint64_t key = 0;
    bool to_save = false;
    lunet_status st = build_program(ctx, family, options, out, &key, &to_save);
    if (st != LUNET_OK) return st;
    lunet_program_slot *s = &ctx->programs[ctx->n_programs];
    snprintf(s->family, sizeof s->family, "%s", family);
    snprintf(s->options, sizeof s->options, "%s", options);
    s->program = *out;
    s->cache_key = key;
    s->unsaved = to_save;
    ctx->n_programs++;
    return LUNET_OK;
}

lunet_status lunet__kernel(lunet_context *ctx, const char *family, const char *name,
                           const char *options, cl_kernel *out) {
    if (!options) options = "";
    if (strlen(family) >= 32 || strlen(name) >= 64 || strlen(options) >= 256)
        return lunet__fail(LUNET_ERR_ARGUMENT, "kernel %s/%s: name or options too long", family,
                           name);
    for (int i = 0; i < ctx->n_kernels; i++) {
        lunet_kernel_slot *s = &ctx->kernels[i];
        if (strcmp(s->name, name) == 0 && strcmp(s->family, family) == 0 &&
            strcmp(s->options, options) == 0) {
            *out = s->kernel;
            return LUNET_OK;
        }
    }
    if (ctx->n_kernels == LUNET_KERNEL_CACHE_SLOTS)
        return lunet__fail(LUNET_ERR_MEMORY, "too many kernels (%d) in one context",
                           LUNET_KERNEL_CACHE_SLOTS);
    cl_program program;
    lunet_status st = get_program(ctx, family, options, &program);
    if (st != LUNET_OK) return st;
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS) {
        char call[160];
        snprintf(call, sizeof call, "clCreateKernel(%s in kernels/%s.cl)", name, family);
        return lunet__cl_fail(err, call);
    }
    lunet_kernel_slot *s = &ctx->kernels[ctx->n_kernels++];
    snprintf(s->family, sizeof s->family, "%s", family);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->options, sizeof s->options, "%s", options);
    s->program = program;
    s->kernel = kernel;
    *out = kernel;
    return LUNET_OK;
}

lunet_status lunet__run(lunet_context *ctx, const char *family, const char *name,
                        const char *options, int work_dim, const size_t *global,
                        const size_t *local, int nargs, const lunet_arg *args) {
    cl_kernel kernel;
    lunet_status st = lunet__kernel(ctx, family, name, options, &kernel);
    if (st != LUNET_OK) return st;
    char call[160];
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            snprintf(call, sizeof call, "clSetKernelArg(%s, arg %d)", name, i);
            return lunet__cl_fail(err, call);
        }
    }
    size_t rounded[3];
    for (int d = 0; d < work_dim; d++) {
        if (global[d] == 0) return LUNET_OK;   /* nothing to do */
        rounded[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    }
    cl_event event = NULL;   /* kept only when profiling (LUNET_PROFILE=1) */
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, (cl_uint)work_dim, NULL, rounded, local,
                                        0, NULL, lunet__profiling(ctx) ? &event : NULL);
    if (err != CL_SUCCESS) {
        snprintf(call, sizeof call, "clEnqueueNDRangeKernel(%s)", name);
        return lunet__cl_fail(err, call);
    }
    ctx->stats.kernel_launches++;
    if (event) lunet__profile_record(ctx, name, event);
    return LUNET_OK;
}

/* One work-group size for every element-wise launch, within the device's limit (on PoCL
 * 256 ran as fast as the sizes PoCL picks itself, measured on LeNet's ReLU and SGD shapes). */
static size_t elementwise_local(const lunet_context *ctx) {
    size_t wg = 256;
    return wg < ctx->max_work_group_size ? wg : ctx->max_work_group_size;
}

lunet_status lunet__run_elementwise(lunet_context *ctx, const char *family, const char *name,
                                    const char *options, int64_t n, int nargs,
                                    const lunet_arg *args) {
    size_t global = (size_t)n, local = elementwise_local(ctx);
    return lunet__run(ctx, family, name, options, 1, &global, &local, nargs, args);
}
