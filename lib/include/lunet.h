/*
 * lunet.h — the whole public C API of lunet.
 *
 * Plain C11, opaque handles, status codes. Every function that can fail returns a
 * lunet_status; on failure lunet_last_error() says what went wrong and where.
 * The library never aborts and never prints.
 *
 * Tensors are float32, contiguous, at most 4 dimensions, and live on one OpenCL
 * device. Layouts follow PyTorch: activations NCHW (NCL for 1-D), weights OIHW
 * (OIL for 1-D, [out,in] for dense layers), so weights load into PyTorch unchanged.
 *
 * Backward functions ACCUMULATE into parameter gradients (grad_weight, grad_bias),
 * as Torch's accGradParameters does, and OVERWRITE the input gradient (grad_x).
 * Any gradient output may be NULL when it is not wanted.
 *
 * The text between LUNET_API_BEGIN and LUNET_API_END is turned into the LuaJIT
 * ffi.cdef string at build time (cmake/gen_cdef.cmake): keep it free of macros.
 */
#ifndef LUNET_H
#define LUNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LUNET_API_BEGIN */

typedef enum lunet_status {
    LUNET_OK = 0,
    LUNET_ERR_ARGUMENT = 1,  /* a bad argument: NULL, negative size, bad option */
    LUNET_ERR_SHAPE = 2,     /* tensor shapes do not fit the op */
    LUNET_ERR_OPENCL = 3,    /* an OpenCL call failed */
    LUNET_ERR_NO_DEVICE = 4, /* no OpenCL platform/device, or the selector matched none */
    LUNET_ERR_BUILD = 5,     /* a kernel failed to compile (message has the build log) */
    LUNET_ERR_MEMORY = 6,    /* host or device allocation failed */
    LUNET_ERR_IO = 7,        /* a file could not be read or written */
    LUNET_ERR_FORMAT = 8     /* a file's content is malformed */
} lunet_status;

/* The message of the last failure on this thread ("" if none). */
const char *lunet_last_error(void);
/* "LUNET_ERR_SHAPE" etc. */
const char *lunet_status_name(lunet_status status);
/* Library version, e.g. "0.1.0". */
const char *lunet_version(void);

/* ---- devices ------------------------------------------------------------- */

typedef struct lunet_device_info {
    int index;              /* position in lunet's flat list of all devices */
    char platform[128];     /* platform name, e.g. "Portable Computing Language" */
    char name[128];         /* device name */
    char type[8];           /* "gpu", "cpu", "accel" or "other" */
    uint64_t memory;        /* global memory in bytes */
    uint32_t compute_units;
    char version[64];       /* CL_DEVICE_VERSION */
    char driver[64];        /* CL_DRIVER_VERSION */
} lunet_device_info;

/* Number of OpenCL devices on all platforms. Fails with LUNET_ERR_NO_DEVICE (and a
 * message naming PoCL) when there is no OpenCL platform at all. */
lunet_status lunet_device_count(int *count);
lunet_status lunet_device_get_info(int index, lunet_device_info *info);
/* Resolve a selector to a device index. selector: NULL or "" means $LUNET_DEVICE if
 * set, else the first GPU, else device 0; otherwise a decimal index or a
 * case-insensitive substring of "platform name" or "device name". */
lunet_status lunet_device_select(const char *selector, int *index);

/* ---- context: one device, its queue, kernels and buffer pool ------------- */

typedef struct lunet_context lunet_context;

/* Open the device chosen by selector (see lunet_device_select). */
lunet_status lunet_context_create(const char *selector, lunet_context **out);
/* Frees the context. Tensors of the context must be freed before. */
void lunet_context_destroy(lunet_context *ctx);
lunet_status lunet_context_info(const lunet_context *ctx, lunet_device_info *info);
/* Wait until all queued work is done. */
lunet_status lunet_context_finish(lunet_context *ctx);

typedef struct lunet_stats {
    uint64_t kernel_launches;    /* kernels enqueued since creation */
    uint64_t programs_compiled;  /* programs built from source */
    uint64_t programs_cached;    /* programs loaded from the on-disk binary cache */
    uint64_t buffers_allocated;  /* clCreateBuffer calls (pool misses) */
    uint64_t buffers_reused;     /* buffer requests served by the pool */
    uint64_t bytes_pooled;       /* bytes held by the pool, free for reuse */
    uint64_t host_syncs;         /* host waits for the device: blocking uploads and
                                    downloads, clFinish (lunet_context_finish) */
    uint64_t programs_saved;     /* compiled programs written to the on-disk cache (see
                                    lunet_context_save_kernels) */
} lunet_stats;
lunet_status lunet_context_stats(const lunet_context *ctx, lunet_stats *out);
/* Finish the queue, then write every program compiled since the last save into the
 * on-disk kernel cache. Saving makes some drivers (PoCL) compile every kernel of the
 * program once more (seconds on a cold cache), so it is not done when a program is built
 * but here and in lunet_context_destroy; call this before a process ends without
 * destroying its context (the Lua front end does when its state closes). Best effort: a
 * cache that cannot be written costs only a recompile next time (programs_saved in
 * lunet_stats counts the files written). */
lunet_status lunet_context_save_kernels(lunet_context *ctx);
/* Directory of the on-disk kernel binary cache ($LUNET_CACHE_DIR, else
 * $XDG_CACHE_HOME/lunet, else $HOME/.cache/lunet). */
const char *lunet_context_cache_dir(const lunet_context *ctx);

/* ---- tuning: kernel parameters per device ------------------------------- */
/* Every context owns a store of named integer parameters that ops read when they pick a
 * kernel (GEMM variant, block sizes ...). Each starts at its device-class default (CPU or
 * GPU); a context then loads the tuning file of its device, if there is one:
 * <cache dir>/tuning-<hash of platform, device and driver>.txt, written by scripts/tune.lua
 * (lunet_tuning_save). LUNET_TUNING=0 in the environment skips that file, so runs depend
 * on the defaults only. A file that cannot be used (corrupt, unknown key, value not
 * allowed) is ignored as a whole: the defaults apply and lunet_tuning_warning says why. */
typedef struct lunet_tuning_key {
    const char *name;         /* "gemm.rm" */
    const char *allowed;      /* "2|4|8|16" (integers) or "reg|tiled" (names) */
    const char *cpu_default;  /* on CPUs, accelerators and others */
    const char *gpu_default;  /* on GPUs */
    const char *description;
} lunet_tuning_key;
/* The known keys, numbered 0..count-1; lunet_tuning_key_at is NULL out of range. */
int lunet_tuning_key_count(void);
const lunet_tuning_key *lunet_tuning_key_at(int i);
/* The current value of key as text ("8", "reg") in value (size bytes). */
lunet_status lunet_tuning_get(const lunet_context *ctx, const char *key, char *value,
                              size_t size);
/* Sets key to value, which must be one of its allowed values (else LUNET_ERR_ARGUMENT and
 * nothing changes); value NULL restores the device default. Kernels built for other
 * values stay cached, so switching back and forth is cheap. */
lunet_status lunet_tuning_set(lunet_context *ctx, const char *key, const char *value);
/* Every key back to its device default (no file is touched). */
lunet_status lunet_tuning_reset(lunet_context *ctx);
/* 1 when key was set (lunet_tuning_set or a loaded file), 0 at its default, -1 unknown. */
int lunet_tuning_is_set(const lunet_context *ctx, const char *key);
/* The tuning file of ctx's device ("" when there is no cache directory). */
const char *lunet_tuning_path(const lunet_context *ctx);
/* Writes the keys that are set ("key = value" lines) to path (NULL: lunet_tuning_path,
 * creating the cache directory), atomically: a temporary file, then rename. */
lunet_status lunet_tuning_save(lunet_context *ctx, const char *path);
/* Replaces the store by the file at path (NULL: lunet_tuning_path): its keys take its
 * values, the others their defaults. A missing file is LUNET_ERR_IO; a malformed one,
 * an unknown key or a value not allowed is LUNET_ERR_FORMAT naming the line; on any
 * failure the store is left as it was. */
lunet_status lunet_tuning_load(lunet_context *ctx, const char *path);
/* Why the tuning file was ignored when ctx was created ("" when it was read, absent or
 * skipped through LUNET_TUNING=0). */
const char *lunet_tuning_warning(const lunet_context *ctx);

/* ---- tensors -------------------------------------------------------------- */

typedef struct lunet_tensor lunet_tensor;

/* A new tensor with ndim (1..4) dimensions, each >= 1, filled with zeros. */
lunet_status lunet_tensor_create(lunet_context *ctx, int ndim, const int64_t *shape,
                                 lunet_tensor **out);
/* Frees the handle; the device buffer goes back to the pool when no view uses it. */
void lunet_tensor_free(lunet_tensor *t);
/* A new handle with another shape (same numel) on the same storage. */
lunet_status lunet_tensor_view(const lunet_tensor *t, int ndim, const int64_t *shape,
                               lunet_tensor **out);
int lunet_tensor_ndim(const lunet_tensor *t);
/* Size of dimension d (0-based), or -1 when d is out of range. */
int64_t lunet_tensor_dim(const lunet_tensor *t, int d);
int64_t lunet_tensor_numel(const lunet_tensor *t);
lunet_context *lunet_tensor_context(const lunet_tensor *t);

/* Host <-> device; count must equal numel. upload returns when src may be reused. */
lunet_status lunet_tensor_upload(lunet_tensor *t, const float *src, int64_t count);
lunet_status lunet_tensor_download(const lunet_tensor *t, float *dst, int64_t count);
lunet_status lunet_tensor_fill(lunet_tensor *t, float value);
/* dst = src; same numel required (shapes may differ). */
lunet_status lunet_tensor_copy(lunet_tensor *dst, const lunet_tensor *src);
/* Seeded host-side random fills (same seed, same numbers on every device). */
lunet_status lunet_tensor_randn(lunet_tensor *t, uint64_t seed, float mean, float stddev);
lunet_status lunet_tensor_rand_uniform(lunet_tensor *t, uint64_t seed, float low, float high);

/* ---- ops ------------------------------------------------------------------ */

typedef struct lunet_conv_params {
    int stride_h, stride_w;
    int pad_h, pad_w;
} lunet_conv_params;

/* Output size floor((n + 2p - f) / s) + 1, or -1 when the kernel does not fit. */
int64_t lunet_conv_out_size(int64_t n, int64_t f, int64_t pad, int64_t stride);

/* x [N,C,H,W], weight [O,C,KH,KW], bias [O] or NULL -> y [N,O,OH,OW]. */
lunet_status lunet_conv2d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p);
lunet_status lunet_conv2d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p);
/* x [N,C,L], weight [O,C,K], bias [O] or NULL -> y [N,O,OL]; uses stride_w, pad_w. */
lunet_status lunet_conv1d_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y,
                                  const lunet_conv_params *p);
lunet_status lunet_conv1d_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias,
                                   const lunet_conv_params *p);

typedef enum lunet_pool_mode { LUNET_POOL_MAX = 0, LUNET_POOL_AVG = 1 } lunet_pool_mode;
typedef struct lunet_pool_params {
    lunet_pool_mode mode;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;        /* at most half the kernel size, as in PyTorch */
} lunet_pool_params;
/* x [N,C,H,W] -> y [N,C,OH,OW]. Max ignores padding; average divides by kh*kw
 * (PyTorch's count_include_pad=True). */
lunet_status lunet_pool2d_forward(const lunet_tensor *x, lunet_tensor *y,
                                  const lunet_pool_params *p);
lunet_status lunet_pool2d_backward(const lunet_tensor *x, const lunet_tensor *grad_y,
                                   lunet_tensor *grad_x, const lunet_pool_params *p);
/* x [N,C,L] -> y [N,C,OL]; uses kernel_w, stride_w, pad_w. */
lunet_status lunet_pool1d_forward(const lunet_tensor *x, lunet_tensor *y,
                                  const lunet_pool_params *p);
lunet_status lunet_pool1d_backward(const lunet_tensor *x, const lunet_tensor *grad_y,
                                   lunet_tensor *grad_x, const lunet_pool_params *p);

/* x [N,in], weight [out,in], bias [out] or NULL -> y [N,out] = x weight^T + bias. */
lunet_status lunet_linear_forward(const lunet_tensor *x, const lunet_tensor *weight,
                                  const lunet_tensor *bias, lunet_tensor *y);
lunet_status lunet_linear_backward(const lunet_tensor *x, const lunet_tensor *weight,
                                   const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                   lunet_tensor *grad_weight, lunet_tensor *grad_bias);

/* y [N,C,...] += bias[C] (in place), and grad_bias[C] += sum of grad_y over all but C. */
lunet_status lunet_bias_add_forward(lunet_tensor *y, const lunet_tensor *bias);
lunet_status lunet_bias_add_backward(const lunet_tensor *grad_y, lunet_tensor *grad_bias);

/* ---- general matrix multiply on row-major matrices ---- */
/* C[M,N] = alpha * op(A) op(B) + beta * C, op(X) = X or X^T.
 * A is [M,K] ([K,M] when trans_a), B is [K,N] ([N,K] when trans_b). The tensors are read
 * as flat row-major matrices: only their numel must fit. */
lunet_status lunet_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                        float alpha, const lunet_tensor *a, const lunet_tensor *b,
                        float beta, lunet_tensor *c);

typedef enum lunet_activation {
    LUNET_ACT_RELU = 0, LUNET_ACT_TANH = 1, LUNET_ACT_SIGMOID = 2
} lunet_activation;
/* y = f(x), any shape (y may be x: in place); grad_x = grad_y * f'(x). */
lunet_status lunet_activation_forward(lunet_activation act, const lunet_tensor *x,
                                      lunet_tensor *y);
lunet_status lunet_activation_backward(lunet_activation act, const lunet_tensor *x,
                                       const lunet_tensor *grad_y, lunet_tensor *grad_x);

/* Inverted dropout: y = x * mask / (1 - p), mask[i] = hash(seed, i) >= p.
 * The same seed gives the same mask in backward. 0 <= p < 1. */
lunet_status lunet_dropout_forward(const lunet_tensor *x, lunet_tensor *y, float p,
                                   uint64_t seed);
lunet_status lunet_dropout_backward(const lunet_tensor *grad_y, lunet_tensor *grad_x,
                                    float p, uint64_t seed);

/* Fused, numerically stable softmax + cross-entropy over logits [N,K] with labels [N]
 * holding 0-based class indices as floats. loss [1] receives the mean over the batch
 * (NaN if any label is outside 0..K-1). grad_logits = (softmax - onehot) / N. */
lunet_status lunet_softmax_xent_forward(const lunet_tensor *logits, const lunet_tensor *labels,
                                        lunet_tensor *loss);
lunet_status lunet_softmax_xent_backward(const lunet_tensor *logits, const lunet_tensor *labels,
                                         lunet_tensor *grad_logits);
/* probs [N,K] = softmax(logits) along dimension 1. */
lunet_status lunet_softmax_forward(const lunet_tensor *logits, lunet_tensor *probs);

/* ---- optimizers: on-device in-place updates, PyTorch's formulas ---- */
/* g' = g + weight_decay * p; v = momentum * v + g'; p -= lr * v (v unused if momentum 0). */
lunet_status lunet_sgd_step(lunet_tensor *param, const lunet_tensor *grad, lunet_tensor *velocity,
                            float lr, float momentum, float weight_decay);
/* step: 1-based step count used for bias correction. */
lunet_status lunet_adam_step(lunet_tensor *param, const lunet_tensor *grad, lunet_tensor *m,
                             lunet_tensor *v, float lr, float beta1, float beta2, float eps,
                             float weight_decay, int64_t step);

/* ---- datasets: IDX files, batch gathering ---- */
/* An IDX file of unsigned bytes (MNIST and its kin): dims[0..ndim-1] in file order,
 * count = dims[0] samples, data holds the product of the dims bytes, row-major. */
typedef struct lunet_idx {
    uint8_t *data;
    int ndim;
    int64_t dims[4];
    int64_t count;
} lunet_idx;
/* Reads a raw or gzip-compressed (told by its magic bytes) *-idx3-ubyte / *-idx1-ubyte
 * file. Fails with LUNET_ERR_IO when it cannot be read, LUNET_ERR_FORMAT when it is not
 * an IDX file of unsigned bytes, is truncated, has trailing bytes or corrupt gzip data. */
lunet_status lunet_idx_load(const char *path, lunet_idx *out);
/* Frees the data and zeroes *idx (safe on a zeroed or already freed one). */
void lunet_idx_free(lunet_idx *idx);
/* Images and their labels (a 1-D file); fails when the counts differ. */
lunet_status lunet_idx_load_pair(const char *images_path, const char *labels_path,
                                 lunet_idx *images, lunet_idx *labels);
/* t = bytes * scale + shift, converted on the device (the bytes travel as bytes);
 * count must equal numel. Returns when bytes may be reused. */
lunet_status lunet_tensor_from_bytes(lunet_tensor *t, const uint8_t *bytes, int64_t count,
                                     float scale, float shift);
/* dst[i, ...] = src[indices[offset + i], ...] for i < count, in one launch. src [N, ...],
 * dst [count, ...] with rows of the same numel, indices [M] holding row numbers as exact
 * float integers, offset + count <= M. A row whose index is not in 0..N-1 becomes NaN. */
lunet_status lunet_gather_rows(const lunet_tensor *src, const lunet_tensor *indices,
                               int64_t offset, int64_t count, lunet_tensor *dst);

/* ---- files: safetensors and PNG ---- */
/* safetensors (Hugging Face's format, read by safetensors.torch.load_file): an 8-byte
 * little-endian header length, a JSON header {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, "__metadata__": {string: string}} padded with spaces to
 * a multiple of 8 bytes, then the raw little-endian data. lunet reads and writes F32
 * tensors of 0 to 8 dimensions on the host; the *_tensor functions move to/from a device. */
typedef struct lunet_st_file lunet_st_file;
/* Parse and validate the header. Missing file: LUNET_ERR_IO; anything malformed
 * (truncated, bad JSON, dtype other than F32, bad offsets): LUNET_ERR_FORMAT. */
lunet_status lunet_st_open(const char *path, lunet_st_file **out);
void lunet_st_close(lunet_st_file *f);
/* Tensors are numbered 0..count-1 in the order of their data in the file. */
int lunet_st_count(const lunet_st_file *f);
const char *lunet_st_name(const lunet_st_file *f, int i);
/* Index of the tensor called name, or -1. */
int lunet_st_find(const lunet_st_file *f, const char *name);
int lunet_st_ndim(const lunet_st_file *f, int i);
/* Size of dimension d (0-based) of tensor i, or -1 when out of range. */
int64_t lunet_st_dim(const lunet_st_file *f, int i, int d);
/* count must equal the tensor's number of elements. */
lunet_status lunet_st_read(const lunet_st_file *f, int i, float *dst, int64_t count);
/* Upload tensor i into t, whose shape must be the same. */
lunet_status lunet_st_read_tensor(const lunet_st_file *f, int i, lunet_tensor *t);
/* The metadata value for key, or NULL. */
const char *lunet_st_metadata(const lunet_st_file *f, const char *key);

typedef struct lunet_st_writer lunet_st_writer;
lunet_status lunet_st_writer_create(lunet_st_writer **out);
void lunet_st_writer_free(lunet_st_writer *w);
/* Copies data (numel floats); tensors are stored in the order they are added.
 * A name already added is rejected. */
lunet_status lunet_st_writer_add(lunet_st_writer *w, const char *name, int ndim,
                                 const int64_t *shape, const float *data);
/* Downloads t from its device. */
lunet_status lunet_st_writer_add_tensor(lunet_st_writer *w, const char *name,
                                        const lunet_tensor *t);
/* Setting a key again replaces its value. */
lunet_status lunet_st_writer_set_metadata(lunet_st_writer *w, const char *key, const char *value);
/* Atomic: writes path.tmp.<pid>, syncs it and renames it over path. On failure the temp
 * file is removed and an existing file at path is left untouched. */
lunet_status lunet_st_writer_save(lunet_st_writer *w, const char *path);

/* PNG. Any PNG (grey, grey+alpha, RGB, RGBA, palette; 1 to 16 bits) is read as floats in
 * [0,1], row-major HWC, with 1 channel (grey) or 3 (RGB); transparency is composited
 * onto white. Free pixels with lunet_png_free. */
lunet_status lunet_png_read(const char *path, int *width, int *height, int *channels,
                            float **pixels);
void lunet_png_free(float *pixels);
/* 8-bit grey (channels 1), RGB (3) or RGBA (4) from HWC floats clamped to [0,1];
 * written atomically (temporary file, then rename). */
lunet_status lunet_png_write(const char *path, int width, int height, int channels,
                             const float *pixels);

/* ---- profiling ---- */
/* With LUNET_PROFILE=1 (set before the context is created) every kernel launch is timed
 * on the device (OpenCL profiling events). The report is a table: kernel, calls, total
 * ms, mean us, share of all kernel time, sorted by total time. It finishes the queue
 * first (a host sync). Fails with LUNET_ERR_ARGUMENT when profiling is off for ctx or
 * when size is too small for the report (the message says how many bytes it needs).
 * lunet_context_destroy prints the same report to stderr when profiling is on. */
lunet_status lunet_profile_report(lunet_context *ctx, char *buf, size_t size);

/* ---- t-SNE ---- */
/* Exact t-SNE (van der Maaten & Hinton 2008) for a 2-D embedding, O(N^2) in time and
 * memory: P is a dense [N,N] matrix (100 MB for N = 5000). 3 <= N <= 46340.
 * A run: lunet_tsne_affinities once, y = small random values, update = 0, gains = 1,
 * then lunet_tsne_step per iteration (the reference schedule: exaggeration 12 and
 * momentum 0.5 for the first 250 iterations, then 1 and 0.8; learning rate 200). */
/* x [N,D] -> p [N,N]: the symmetric joint affinities p_ij = (p_{j|i} + p_{i|j}) / 2N, which
 * sum to 1 (p_ii = 0). p_{j|i} is proportional to exp(-beta_i |x_i - x_j|^2), with beta_i
 * found per row by a binary search on the device until the entropy of p_{.|i} is
 * log(perplexity) nats (within 1e-5). betas [N] receives the beta_i (NULL: not wanted).
 * 1 <= perplexity < N - 1. */
lunet_status lunet_tsne_affinities(const lunet_tensor *x, float perplexity, lunet_tensor *p,
                                   lunet_tensor *betas);
/* One gradient-descent step of y [N,2] under p [N,N] (four separate tensors). With
 * num_ij = 1 / (1 + |y_i - y_j|^2) and Z = the sum of num_ij over all i != j (a fixed-order,
 * deterministic sum), dY is the gradient of KL(P||Q) divided by 4, as in the reference
 * implementations (tsne.py, bhtsne), whose learning rates therefore carry over:
 *   dY_i = sum_j (exaggeration p_ij - num_ij / Z) num_ij (y_i - y_j);
 *   gains += 0.2 where sign(dY) != sign(update), else gains *= 0.8; gains >= 0.01;
 *   update = momentum update - learning_rate gains dY;  y += update;  y -= mean(y).
 * update and gains [N,2] are updated in place. exaggeration > 0, 0 <= momentum < 1,
 * learning_rate > 0. */
lunet_status lunet_tsne_step(const lunet_tensor *p, lunet_tensor *y, lunet_tensor *update,
                             lunet_tensor *gains, float exaggeration, float momentum,
                             float learning_rate);
/* *kl = KL(P || Q) = sum over i != j of p_ij log(p_ij / q_ij), q_ij = num_ij / Z (terms
 * with p_ij = 0 count 0). Waits for the device (a blocking read). */
lunet_status lunet_tsne_kl(const lunet_tensor *p, const lunet_tensor *y, float *kl);

/* LUNET_API_END */

#ifdef __cplusplus
}
#endif

#endif /* LUNET_H */
