/*
 * internal.h — what the parts of liblunet share and users never see.
 *
 * Ops (the files in lib/src/ops) follow one pattern:
 *   1. validate every argument with the lunet__check_* helpers (they set the message);
 *   2. pick a kernel and work size;
 *   3. lunet__run(...) enqueues it (no clFinish, no blocking read).
 * Temporary device buffers come from lunet__tensor_empty() and are freed right after
 * the enqueue: the queue is in order, so the pool may hand them out again at once.
 */
#ifndef LUNET_INTERNAL_H
#define LUNET_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <pthread.h>
#include <stdbool.h>

#include "lunet.h"

#define LUNET_MAX_DIMS 4

/* ---- errors (error.c) ---- */
/* Set the last-error message (printf-style) and return status. */
lunet_status lunet__fail(lunet_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "CL_OUT_OF_RESOURCES" for -5, "CL_UNKNOWN_ERROR" for codes it does not know. */
const char *lunet__cl_error_name(cl_int err);
/* Fail with LUNET_ERR_OPENCL: "OpenCL error CL_X (-n) in <call>". */
lunet_status lunet__cl_fail(cl_int err, const char *call);
/* Clear the last-error message. */
void lunet__clear_error(void);

/* ---- storage and tensors (tensor.c) ---- */
typedef struct lunet_storage {
    lunet_context *ctx;
    cl_mem mem;
    size_t bytes;
    int refs;            /* tensor handles (the owner and its views) using this storage */
} lunet_storage;

struct lunet_tensor {
    lunet_context *ctx;
    lunet_storage *storage;
    int ndim;
    int64_t shape[LUNET_MAX_DIMS];
    int64_t numel;
};

/* A tensor whose contents are undefined (no fill): for outputs and scratch space. */
lunet_status lunet__tensor_empty(lunet_context *ctx, int ndim, const int64_t *shape,
                                 lunet_tensor **out);
static inline cl_mem lunet__mem(const lunet_tensor *t) { return t->storage->mem; }
/* Write "[2,3,4,5]" into buf. */
void lunet__shape_str(const lunet_tensor *t, char *buf, size_t size);
/* Release every pooled buffer (context teardown). */
void lunet__pool_drain(lunet_context *ctx);

/* ---- argument checks (tensor.c); each sets a message naming op and what ---- */
/* t must be non-NULL. what: "x", "weight", ... */
lunet_status lunet__check_tensor(const char *op, const char *what, const lunet_tensor *t);
/* t non-NULL with exactly ndim dimensions. */
lunet_status lunet__check_ndim(const char *op, const char *what, const lunet_tensor *t, int ndim);
/* t non-NULL with exactly this shape: "conv2d: y has shape [..], expected [..]". */
lunet_status lunet__check_shape(const char *op, const char *what, const lunet_tensor *t,
                                int ndim, const int64_t *shape);
/* Same numel as ref ("relu: grad_y has shape [..] but x has shape [..]"). */
lunet_status lunet__check_same_numel(const char *op, const char *what, const lunet_tensor *t,
                                     const char *ref_what, const lunet_tensor *ref);
/* A host pointer ptr holding count items (unit: "values", "bytes") for every element of t:
 * "tensor_upload: 5 values given for a tensor of shape [2,3] (6 elements)". */
lunet_status lunet__check_count(const char *op, const lunet_tensor *t, const void *ptr,
                                int64_t count, const char *unit);
/* Both on the same context. */
lunet_status lunet__check_same_ctx(const char *op, const lunet_tensor *a, const lunet_tensor *b);

/* ---- context (device.c) ---- */
#define LUNET_KERNEL_CACHE_SLOTS 128
#define LUNET_POOL_SLOTS 256

typedef struct lunet_kernel_slot {
    char family[32];
    char name[64];
    char options[256];
    cl_program program;   /* owned by the program slot; not released here */
    cl_kernel kernel;
} lunet_kernel_slot;

typedef struct lunet_program_slot {
    char family[32];
    char options[256];
    cl_program program;
    uint64_t cache_key;   /* its file in the on-disk cache */
    bool unsaved;         /* compiled from source, not yet written to the cache */
} lunet_program_slot;

typedef struct lunet_pool_entry {
    cl_mem mem;
    size_t bytes;
} lunet_pool_entry;

/* Profiling (profile.c): device time per kernel name, and launches waiting to be timed. */
typedef struct lunet_profile_entry {
    char name[64];
    uint64_t calls;       /* launches timed */
    uint64_t total_ns;    /* sum of CL_PROFILING_COMMAND_END - START */
} lunet_profile_entry;

typedef struct lunet_profile_pending {
    cl_event event;
    int entry;            /* index into prof_entries */
} lunet_profile_pending;

/* The tuning store (tuning.c): one value per key of its table, in table order. */
#define LUNET_TUNING_MAX_KEYS 32
typedef struct lunet_tuning_store {
    int value[LUNET_TUNING_MAX_KEYS];   /* the number, or the index in a list of names */
    bool set[LUNET_TUNING_MAX_KEYS];    /* false: the device default */
} lunet_tuning_store;

struct lunet_context {
    lunet_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type device_type;
    cl_context context;
    cl_command_queue queue;
    size_t max_work_group_size;
    char cache_dir[1024];
    lunet_program_slot programs[LUNET_KERNEL_CACHE_SLOTS];
    int n_programs;
    lunet_kernel_slot kernels[LUNET_KERNEL_CACHE_SLOTS];
    int n_kernels;
    lunet_pool_entry pool[LUNET_POOL_SLOTS];
    int n_pool;
    lunet_stats stats;
    /* profiling: LUNET_PROFILE=1 (profile.c) */
    int profile_state;                     /* 0 not yet asked, 1 on, -1 off */
    lunet_profile_entry *prof_entries;
    int prof_n_entries, prof_cap_entries;
    lunet_profile_pending *prof_pending;   /* FIFO: [prof_head, prof_n_pending) wait */
    size_t prof_head, prof_n_pending, prof_cap_pending;
    uint64_t prof_since_harvest;
    uint64_t prof_untimed;                 /* launches whose event failed or was dropped */
    /* tuning parameters (tuning.c) */
    lunet_tuning_store tuning;
    char tuning_path[1100];
    char tuning_warning[1024];
    /* the cache writer (program.c): saves compiled programs off the critical path */
    uint64_t programs_saved;               /* files written by lunet__save_programs */
};

static inline bool lunet__is_gpu(const lunet_context *ctx) {
    return (ctx->device_type & CL_DEVICE_TYPE_GPU) != 0;
}

/* ---- tuning (tuning.c) ---- */
/* The value of tuning key `key` for ctx: the integer, or for keys whose allowed values are
 * names ("reg|tiled") the position of the name in that list. `fallback` when the key is
 * unknown (a typo in an op; the tuning tests check that every key an op reads exists). */
int lunet__tuned(const lunet_context *ctx, const char *key, int fallback);
/* Defaults for ctx's device, then its tuning file unless LUNET_TUNING=0 (context creation). */
void lunet__tuning_init(lunet_context *ctx);

/* ---- small shared helpers (program.c) ---- */
/* FNV-1a, 64 bits: start with h = 0xcbf29ce484222325. */
static inline uint64_t lunet__fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
/* mkdir -p, best effort (a later open reports what failed). */
void lunet__mkdir_p(const char *dir);

/* ---- programs and kernels (program.c) ---- */
/* The kernel `name` from kernels/<family>.cl built with extra build `options` (may be
 * NULL): built once per context, cached on disk across runs. */
lunet_status lunet__kernel(lunet_context *ctx, const char *family, const char *name,
                           const char *options, cl_kernel *out);
/* The embedded (or $LUNET_KERNEL_DIR) source of kernels/<family>.cl. */
lunet_status lunet__kernel_source(const char *family, char **source, size_t *length);

/* ---- saving compiled programs (program.c) ----
 * Reading a program's binary makes PoCL compile a generic work-group function for every
 * kernel in it (40-120 ms each): done right after each build it was 2.2 s of a 6 s cold
 * start. So a program compiled from source is only marked, and saved by
 * lunet_context_save_kernels (the Lua front end calls it when its state closes) or
 * lunet_context_destroy. Never from a second thread: PoCL 3.1 asserts
 * (pocl_release_dlhandle_cache) when that compile runs beside kernel launches. */
void lunet__save_programs(lunet_context *ctx);

/* ---- launching (program.c) ---- */
typedef struct lunet_arg {
    size_t size;
    const void *value;
} lunet_arg;
/* Usage: cl_mem xm = lunet__mem(x); int n = ...;
 *        lunet_arg args[] = { LUNET_ARG(xm), LUNET_ARG(n) }; */
#define LUNET_ARG(v) ((lunet_arg){ sizeof(v), &(v) })
#define LUNET_NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Set args and enqueue kernel `name` of `family` over `global` (rounded up to a multiple
 * of `local` when local is given; local NULL lets the driver choose). */
lunet_status lunet__run(lunet_context *ctx, const char *family, const char *name,
                        const char *options, int work_dim, const size_t *global,
                        const size_t *local, int nargs, const lunet_arg *args);

/* lunet__run over n work-items in 1-D for a kernel that returns when get_global_id(0) >= n,
 * with a fixed work-group size: PoCL compiles one work-group function per kernel and
 * local size at the first launch (40-130 ms each), and left to choose the local size
 * itself it picks a new one for almost every tensor size. */
lunet_status lunet__run_elementwise(lunet_context *ctx, const char *family, const char *name,
                                    const char *options, int64_t n, int nargs,
                                    const lunet_arg *args);

/* ---- profiling (profile.c) ---- */
/* True when ctx's queue was created with CL_QUEUE_PROFILING_ENABLE ($LUNET_PROFILE). */
bool lunet__profiling(lunet_context *ctx);
/* Keeps the event of one launch of kernel `name` (takes ownership of the event). */
void lunet__profile_record(lunet_context *ctx, const char *name, cl_event event);
/* The report table as a malloc'd string, NULL when out of memory; finish the queue first. */
char *lunet__profile_text(lunet_context *ctx);
/* Releases the events still held and the tables (context teardown). */
void lunet__profile_free(lunet_context *ctx);

/* ---- GEMM on raw buffers with element offsets (ops/gemm.c), used by conv and linear ---- */
lunet_status lunet__gemm(lunet_context *ctx, int trans_a, int trans_b, int64_t m, int64_t n,
                         int64_t k, float alpha, cl_mem a, size_t a_offset, cl_mem b,
                         size_t b_offset, float beta, cl_mem c, size_t c_offset);
/* lunet__gemm for products whose depth k is the batch (weight gradients): the GPU variant
 * always splits the depth into chunks summed afterwards (two launches at any batch size). */
lunet_status lunet__gemm_reduce(lunet_context *ctx, int trans_a, int trans_b, int64_t m,
                                int64_t n, int64_t k, float alpha, cl_mem a, size_t a_offset,
                                cl_mem b, size_t b_offset, float beta, cl_mem c,
                                size_t c_offset);

/* ---- convolution variants (ops/conv.c) ---- */
typedef enum lunet__conv_algo {
    LUNET__CONV_AUTO = 0,    /* from the device type: IM2COL on GPUs, DIRECT otherwise */
    LUNET__CONV_IM2COL = 1,  /* column matrix + GEMM (GPU) */
    LUNET__CONV_DIRECT = 2   /* register-blocked direct convolution (CPU) */
} lunet__conv_algo;
/* The public conv ops (dims 1 or 2) with the variant forced: tests run every variant. */
lunet_status lunet__conv_forward_algo(lunet__conv_algo algo, int dims, const lunet_tensor *x,
                                      const lunet_tensor *weight, const lunet_tensor *bias,
                                      lunet_tensor *y, const lunet_conv_params *p);
lunet_status lunet__conv_backward_algo(lunet__conv_algo algo, int dims, const lunet_tensor *x,
                                       const lunet_tensor *weight, const lunet_tensor *grad_y,
                                       lunet_tensor *grad_x, lunet_tensor *grad_weight,
                                       lunet_tensor *grad_bias, const lunet_conv_params *p);

#endif /* LUNET_INTERNAL_H */
