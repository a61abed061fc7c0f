/*
 * bias.c — per-channel bias: y[N,C,...] += bias[C], and its gradient
 * grad_bias[C] += the sum of grad_y over every dimension but C (kernels/bias.cl).
 * Conv and linear layers use these too.
 */
#include <limits.h>
#include <stdio.h>

#include "internal.h"

/* Work-group sizes tried for bias_grad, largest first (powers of two). One work-group per
 * channel: on an H100, 256 items made conv1's bias gradient (6 channels) faster than 64. */
static const int GPU_WG[] = {256, 64, 16, 1};
static const int CPU_WG[] = {16, 1};

static lunet_status check_bias(const char *op, const lunet_tensor *y, const char *y_what,
                               const lunet_tensor *bias, const char *bias_what) {
    lunet_status st = lunet__check_tensor(op, y_what, y);
    if (st == LUNET_OK) st = lunet__check_tensor(op, bias_what, bias);
    if (st == LUNET_OK) st = lunet__check_same_ctx(op, y, bias);
    if (st != LUNET_OK) return st;
    char ys[96], bs[96];
    lunet__shape_str(y, ys, sizeof ys);
    lunet__shape_str(bias, bs, sizeof bs);
    if (y->ndim < 2)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s must have at least 2 dimensions [N,C,...], got %s",
                           op, y_what, ys);
    if (bias->ndim != 1 || bias->shape[0] != y->shape[1])
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has shape %s, expected [%lld] (%s has shape %s)",
                           op, bias_what, bs, (long long)y->shape[1], y_what, ys);
    if (y->numel > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has %lld elements, more than %d", op, y_what,
                           (long long)y->numel, INT_MAX);
    return LUNET_OK;
}

static lunet_status pick_grad_wg(lunet_context *ctx, int *wg, char *options, size_t size);

lunet_status lunet_bias_add_forward(lunet_tensor *y, const lunet_tensor *bias) {
    lunet_status st = check_bias("bias_add", y, "y", bias, "bias");
    if (st != LUNET_OK) return st;
    int C = (int)y->shape[1], numel = (int)y->numel;
    int S = numel / ((int)y->shape[0] * C);
    /* built with bias_grad's options: one program for both kernels, not two */
    int wg = 1;
    char options[32];
    st = pick_grad_wg(y->ctx, &wg, options, sizeof options);
    if (st != LUNET_OK) return st;
    cl_mem ym = lunet__mem(y), bm = lunet__mem(bias);
    lunet_arg args[] = {LUNET_ARG(ym), LUNET_ARG(bm), LUNET_ARG(C), LUNET_ARG(S), LUNET_ARG(numel)};
    return lunet__run_elementwise(y->ctx, "bias", "bias_add", options, numel, LUNET_NARGS(args),
                                  args);
}

/* The largest candidate work-group that the device and the built kernel accept. */
static lunet_status pick_grad_wg(lunet_context *ctx, int *wg, char *options, size_t size) {
    const int *sizes = lunet__is_gpu(ctx) ? GPU_WG : CPU_WG;
    int count = lunet__is_gpu(ctx) ? (int)(sizeof GPU_WG / sizeof GPU_WG[0])
                                   : (int)(sizeof CPU_WG / sizeof CPU_WG[0]);
    for (int i = 0; i < count; i++) {
        if ((size_t)sizes[i] > ctx->max_work_group_size) continue;
        snprintf(options, size, "-DBIAS_WG=%d", sizes[i]);
        cl_kernel kernel;
        lunet_status st = lunet__kernel(ctx, "bias", "bias_grad", options, &kernel);
        if (st != LUNET_OK) return st;
        size_t limit = 0;
        cl_int err = clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof limit, &limit, NULL);
        if (err != CL_SUCCESS) return lunet__cl_fail(err, "clGetKernelWorkGroupInfo(bias_grad)");
        if ((size_t)sizes[i] <= limit || sizes[i] == 1) {
            *wg = sizes[i];
            return LUNET_OK;
        }
    }
    return lunet__fail(LUNET_ERR_OPENCL, "bias_grad: no work-group size fits %s", ctx->info.name);
}

lunet_status lunet_bias_add_backward(const lunet_tensor *grad_y, lunet_tensor *grad_bias) {
    lunet_status st = check_bias("bias_add_backward", grad_y, "grad_y", grad_bias, "grad_bias");
    if (st != LUNET_OK) return st;
    int wg = 1;
    char options[32];
    st = pick_grad_wg(grad_y->ctx, &wg, options, sizeof options);
    if (st != LUNET_OK) return st;
    int N = (int)grad_y->shape[0], C = (int)grad_y->shape[1];
    int S = (int)(grad_y->numel / ((int64_t)N * C));
    cl_mem gy = lunet__mem(grad_y), gb = lunet__mem(grad_bias);
    lunet_arg args[] = {LUNET_ARG(gy), LUNET_ARG(gb), LUNET_ARG(N), LUNET_ARG(C), LUNET_ARG(S)};
    size_t global[1] = {(size_t)C * (size_t)wg}, local[1] = {(size_t)wg};
    return lunet__run(grad_y->ctx, "bias", "bias_grad", options, 1, global, local,
                      LUNET_NARGS(args), args);
}
