/* device.c — OpenCL platforms and devices, choosing one, and the context that owns a
 * device's queue, kernels and buffer pool. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES_PER_PLATFORM 32

static const char *NO_PLATFORM_HELP =
    "no OpenCL platform found: install an OpenCL driver, e.g. PoCL for the CPU "
    "(apt-get install pocl-opencl-icd) or your GPU vendor's OpenCL ICD";

/* Find the platform and device of flat index `index` (or count them when index < 0). */
static lunet_status walk_devices(int index, int *count, cl_platform_id *platform_out,
                                 cl_device_id *device_out) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint n_platforms = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &n_platforms);
    if (err == -1001 || (err == CL_SUCCESS && n_platforms == 0))
        return lunet__fail(LUNET_ERR_NO_DEVICE, "%s", NO_PLATFORM_HELP);
    if (err != CL_SUCCESS) return lunet__cl_fail(err, "clGetPlatformIDs");
    int seen = 0;
    for (cl_uint p = 0; p < n_platforms && p < MAX_PLATFORMS; p++) {
        cl_device_id devices[MAX_DEVICES_PER_PLATFORM];
        cl_uint n_devices = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES_PER_PLATFORM, devices,
                             &n_devices);
        if (err == CL_DEVICE_NOT_FOUND) continue;
        if (err != CL_SUCCESS) return lunet__cl_fail(err, "clGetDeviceIDs");
        for (cl_uint d = 0; d < n_devices && d < MAX_DEVICES_PER_PLATFORM; d++, seen++) {
            if (seen == index) {
                *platform_out = platforms[p];
                *device_out = devices[d];
                return LUNET_OK;
            }
        }
    }
    if (count) *count = seen;
    if (index >= 0)
        return lunet__fail(LUNET_ERR_NO_DEVICE, "no OpenCL device with index %d (there are %d)",
                           index, seen);
    if (seen == 0)
        return lunet__fail(LUNET_ERR_NO_DEVICE,
                           "OpenCL platforms exist but have no devices: %s", NO_PLATFORM_HELP);
    return LUNET_OK;
}

lunet_status lunet_device_count(int *count) {
    if (!count) return lunet__fail(LUNET_ERR_ARGUMENT, "device_count: count is NULL");
    return walk_devices(-1, count, NULL, NULL);
}

/* Read into a roomy buffer, then truncate: a string longer than dst (PoCL's 65-character
 * device version) would otherwise fail the query and come back empty. */
static void device_string(cl_device_id dev, cl_device_info what, char *dst, size_t size) {
    char full[1024] = "";
    if (clGetDeviceInfo(dev, what, sizeof full - 1, full, NULL) != CL_SUCCESS) full[0] = '\0';
    snprintf(dst, size, "%s", full);
}

static lunet_status fill_info(int index, cl_platform_id platform, cl_device_id dev,
                              lunet_device_info *info) {
    memset(info, 0, sizeof *info);
    info->index = index;
    if (clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform,
                          NULL) != CL_SUCCESS)
        info->platform[0] = '\0';
    info->platform[sizeof info->platform - 1] = '\0';
    device_string(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(dev, CL_DEVICE_VERSION, info->version, sizeof info->version);
    device_string(dev, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    cl_device_type type = 0;
    cl_ulong mem = 0;
    cl_uint units = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    const char *t = (type & CL_DEVICE_TYPE_GPU) ? "gpu"
                    : (type & CL_DEVICE_TYPE_CPU) ? "cpu"
                    : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accel" : "other";
    snprintf(info->type, sizeof info->type, "%s", t);
    info->memory = mem;
    info->compute_units = units;
    return LUNET_OK;
}

lunet_status lunet_device_get_info(int index, lunet_device_info *info) {
    if (!info) return lunet__fail(LUNET_ERR_ARGUMENT, "device_get_info: info is NULL");
    if (index < 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "device_get_info: index must be >= 0, got %d",
                           index);
    cl_platform_id platform;
    cl_device_id dev;
    lunet_status st = walk_devices(index, NULL, &platform, &dev);
    if (st != LUNET_OK) return st;
    return fill_info(index, platform, dev, info);
}

static bool contains_nocase(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool is_decimal(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

lunet_status lunet_device_select(const char *selector, int *index) {
    if (!index) return lunet__fail(LUNET_ERR_ARGUMENT, "device_select: index is NULL");
    if (!selector || !*selector) selector = getenv("LUNET_DEVICE");
    int count = 0;
    lunet_status st = walk_devices(-1, &count, NULL, NULL);
    if (st != LUNET_OK) return st;
    bool by_default = !selector || !*selector;
    if (!by_default && is_decimal(selector)) {
        long i = strtol(selector, NULL, 10);
        if (i >= count)
            return lunet__fail(LUNET_ERR_NO_DEVICE,
                               "device selector \"%s\": no device with that index (there are %d)",
                               selector, count);
        *index = (int)i;
        return LUNET_OK;
    }
    for (int i = 0; i < count; i++) {
        lunet_device_info info;
        st = lunet_device_get_info(i, &info);
        if (st != LUNET_OK) return st;
        bool match = by_default ? strcmp(info.type, "gpu") == 0
                                : contains_nocase(info.platform, selector) ||
                                      contains_nocase(info.name, selector);
        if (match) {
            *index = i;
            return LUNET_OK;
        }
    }
    if (by_default) {
        *index = 0;
        return LUNET_OK;
    }
    return lunet__fail(LUNET_ERR_NO_DEVICE,
                       "device selector \"%s\" matches no OpenCL device (there are %d; list them "
                       "with lunet.devices())",
                       selector, count);
}

static void set_cache_dir(lunet_context *ctx) {
    const char *dir = getenv("LUNET_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dir && *dir) snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", dir);
    else if (xdg && *xdg) snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s/lunet", xdg);
    else if (home && *home) snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s/.cache/lunet", home);
    else ctx->cache_dir[0] = '\0';   /* no cache: always compile */
}

static lunet_status open_device(lunet_context *ctx, int index) {
    lunet_status st = walk_devices(index, NULL, &ctx->platform, &ctx->device);
    if (st != LUNET_OK) return st;
    fill_info(index, ctx->platform, ctx->device, &ctx->info);
    clGetDeviceInfo(ctx->device, CL_DEVICE_TYPE, sizeof ctx->device_type, &ctx->device_type, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof ctx->max_work_group_size,
                    &ctx->max_work_group_size, NULL);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) return lunet__cl_fail(err, "clCreateContext");
    cl_command_queue_properties qprops = 0;
    const char *profile = getenv("LUNET_PROFILE");
    if (profile && *profile && strcmp(profile, "0") != 0) qprops |= CL_QUEUE_PROFILING_ENABLE;
    /* clCreateCommandQueue is the OpenCL 1.2 call; it is deprecated only from 2.0 on. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, qprops, &err);
#pragma GCC diagnostic pop
    if (err != CL_SUCCESS) return lunet__cl_fail(err, "clCreateCommandQueue");
    return LUNET_OK;
}

lunet_status lunet_context_create(const char *selector, lunet_context **out) {
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "context_create: out is NULL");
    *out = NULL;
    int index = 0;
    lunet_status st = lunet_device_select(selector, &index);
    if (st != LUNET_OK) return st;
    lunet_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lunet__fail(LUNET_ERR_MEMORY, "context_create: out of host memory");
    set_cache_dir(ctx);
    st = open_device(ctx, index);
    if (st != LUNET_OK) {
        lunet_context_destroy(ctx);
        return st;
    }
    lunet__tuning_init(ctx);
    *out = ctx;
    return LUNET_OK;
}

void lunet_context_destroy(lunet_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    /* LUNET_PROFILE=1: the one place the library prints, to stderr, at teardown */
    if (lunet__profiling(ctx)) {
        char *report = lunet__profile_text(ctx);
        fputs(report ? report : "lunet profile: out of host memory for the report\n", stderr);
        free(report);
    }
    lunet__profile_free(ctx);
    lunet__save_programs(ctx);   /* before the programs go */
    for (int i = 0; i < ctx->n_kernels; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (int i = 0; i < ctx->n_programs; i++) clReleaseProgram(ctx->programs[i].program);
    lunet__pool_drain(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

lunet_status lunet_context_info(const lunet_context *ctx, lunet_device_info *info) {
    if (!ctx || !info) return lunet__fail(LUNET_ERR_ARGUMENT, "context_info: NULL argument");
    *info = ctx->info;
    return LUNET_OK;
}

lunet_status lunet_context_finish(lunet_context *ctx) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "context_finish: ctx is NULL");
    cl_int err = clFinish(ctx->queue);
    ctx->stats.host_syncs++;
    return err == CL_SUCCESS ? LUNET_OK : lunet__cl_fail(err, "clFinish");
}

lunet_status lunet_context_stats(const lunet_context *ctx, lunet_stats *out) {
    if (!ctx || !out) return lunet__fail(LUNET_ERR_ARGUMENT, "context_stats: NULL argument");
    *out = ctx->stats;
    out->programs_saved = ctx->programs_saved;
    return LUNET_OK;
}

const char *lunet_context_cache_dir(const lunet_context *ctx) {
    return ctx ? ctx->cache_dir : "";
}
