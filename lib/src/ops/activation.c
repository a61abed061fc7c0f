/*
 * activation.c — elementwise ReLU, tanh and sigmoid, forward and backward, over tensors
 * of any shape. y may be x (in place). Kernels are in kernels/act.cl.
 */
#include <limits.h>
#include <stdio.h>

#include "internal.h"

static const char *act_name(lunet_activation act) {
    switch (act) {
    case LUNET_ACT_RELU: return "relu";
    case LUNET_ACT_TANH: return "tanh";
    case LUNET_ACT_SIGMOID: return "sigmoid";
    }
    return NULL;
}

/* Work items for n elements: ReLU's kernels take eight elements each (see act.cl). */
static size_t work_items(lunet_activation act, int n) {
    return act == LUNET_ACT_RELU ? ((size_t)n + 7) / 8 : (size_t)n;
}

/* Validates the activation and that x exists with an int-sized element count. */
static lunet_status check_act_input(lunet_activation act, const char *op, const lunet_tensor *x) {
    if (!act_name(act))
        return lunet__fail(LUNET_ERR_ARGUMENT, "activation: unknown activation %d", (int)act);
    lunet_status st = lunet__check_tensor(op, "x", x);
    if (st != LUNET_OK) return st;
    if (x->numel > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: x has %lld elements, more than %d", op,
                           (long long)x->numel, INT_MAX);
    return LUNET_OK;
}

/* t exists, has as many elements as x, and lives on x's context. */
static lunet_status check_like_x(const char *op, const char *what, const lunet_tensor *t,
                                 const lunet_tensor *x) {
    lunet_status st = lunet__check_same_numel(op, what, t, "x", x);
    if (st != LUNET_OK) return st;
    return lunet__check_same_ctx(op, x, t);
}

lunet_status lunet_activation_forward(lunet_activation act, const lunet_tensor *x,
                                      lunet_tensor *y) {
    const char *op = act_name(act);
    lunet_status st = check_act_input(act, op, x);
    if (st != LUNET_OK) return st;
    if ((st = check_like_x(op, "y", y, x)) != LUNET_OK) return st;
    char kernel[32];
    snprintf(kernel, sizeof kernel, "%s_forward", op);
    cl_mem xm = lunet__mem(x), ym = lunet__mem(y);
    int n = (int)x->numel;
    lunet_arg args[] = {LUNET_ARG(xm), LUNET_ARG(ym), LUNET_ARG(n)};
    return lunet__run_elementwise(x->ctx, "act", kernel, NULL, (int64_t)work_items(act, n),
                                  LUNET_NARGS(args), args);
}

lunet_status lunet_activation_backward(lunet_activation act, const lunet_tensor *x,
                                       const lunet_tensor *grad_y, lunet_tensor *grad_x) {
    char op[32];
    snprintf(op, sizeof op, "%s_backward", act_name(act) ? act_name(act) : "activation");
    lunet_status st = check_act_input(act, op, x);
    if (st != LUNET_OK) return st;
    if ((st = check_like_x(op, "grad_y", grad_y, x)) != LUNET_OK) return st;
    if (!grad_x) return LUNET_OK;  /* nothing wanted */
    if ((st = check_like_x(op, "grad_x", grad_x, x)) != LUNET_OK) return st;
    cl_mem xm = lunet__mem(x), gym = lunet__mem(grad_y), gxm = lunet__mem(grad_x);
    int n = (int)x->numel;
    lunet_arg args[] = {LUNET_ARG(xm), LUNET_ARG(gym), LUNET_ARG(gxm), LUNET_ARG(n)};
    return lunet__run_elementwise(x->ctx, "act", op, NULL, (int64_t)work_items(act, n),
                                  LUNET_NARGS(args), args);
}
