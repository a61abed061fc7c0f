/* optim.c — on-device SGD and Adam updates (kernels/optim.cl), one launch per call.
 * Formulas and argument rules follow PyTorch's torch.optim.SGD (dampening 0, no
 * Nesterov) and torch.optim.Adam (L2 weight decay, 1-based step for bias correction).
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* A state or gradient tensor: same shape and context as param. */
static lunet_status check_like_param(const char *op, const char *what, const lunet_tensor *t,
                                     const lunet_tensor *param) {
    lunet_status st = lunet__check_tensor(op, what, t);
    if (st) return st;
    if (t->ndim != param->ndim ||
        memcmp(t->shape, param->shape, (size_t)param->ndim * sizeof(int64_t)) != 0) {
        char have[64], ref[64];
        lunet__shape_str(t, have, sizeof have);
        lunet__shape_str(param, ref, sizeof ref);
        return lunet__fail(LUNET_ERR_SHAPE, "%s: %s has shape %s but param has shape %s", op,
                           what, have, ref);
    }
    return lunet__check_same_ctx(op, param, t);
}

static lunet_status check_param(const char *op, const lunet_tensor *param) {
    lunet_status st = lunet__check_tensor(op, "param", param);
    if (st) return st;
    if (param->numel > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: param has %lld elements, more than the "
                           "kernels support", op, (long long)param->numel);
    return LUNET_OK;
}

/* value must be finite and >= 0 (NaN fails). */
static lunet_status check_non_negative(const char *op, const char *what, float value) {
    if (value >= 0.0f && isfinite(value)) return LUNET_OK;
    return lunet__fail(LUNET_ERR_ARGUMENT, "%s: %s must be a finite number >= 0, got %g", op,
                       what, (double)value);
}

/* 0 <= beta < 1 (NaN fails). */
static lunet_status check_beta(const char *op, const char *what, float value) {
    if (value >= 0.0f && value < 1.0f) return LUNET_OK;
    return lunet__fail(LUNET_ERR_ARGUMENT, "%s: %s must be in [0, 1), got %g", op, what,
                       (double)value);
}

static lunet_status check_sgd(const lunet_tensor *param, const lunet_tensor *grad,
                              const lunet_tensor *velocity, float lr, float momentum,
                              float weight_decay) {
    static const char op[] = "sgd_step";
    lunet_status st = check_param(op, param);
    if (!st) st = check_like_param(op, "grad", grad, param);
    if (!st) st = check_non_negative(op, "lr", lr);
    if (!st) st = check_non_negative(op, "momentum", momentum);
    if (!st) st = check_non_negative(op, "weight_decay", weight_decay);
    if (st) return st;
    if (momentum == 0.0f && velocity == NULL) return LUNET_OK;
    if (velocity == NULL)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: velocity is NULL but momentum is %g "
                           "(a velocity tensor is needed when momentum > 0)", op,
                           (double)momentum);
    return check_like_param(op, "velocity", velocity, param);
}

lunet_status lunet_sgd_step(lunet_tensor *param, const lunet_tensor *grad, lunet_tensor *velocity,
                            float lr, float momentum, float weight_decay) {
    lunet_status st = check_sgd(param, grad, velocity, lr, momentum, weight_decay);
    if (st) return st;

    int n = (int)param->numel;
    cl_mem pm = lunet__mem(param), gm = lunet__mem(grad);
    if (momentum == 0.0f) {
        lunet_arg args[] = { LUNET_ARG(pm), LUNET_ARG(gm), LUNET_ARG(n), LUNET_ARG(lr),
                             LUNET_ARG(weight_decay) };
        return lunet__run_elementwise(param->ctx, "optim", "sgd_plain", NULL, n,
                                      LUNET_NARGS(args), args);
    }
    cl_mem vm = lunet__mem(velocity);
    lunet_arg args[] = { LUNET_ARG(pm), LUNET_ARG(gm), LUNET_ARG(vm), LUNET_ARG(n),
                         LUNET_ARG(lr), LUNET_ARG(momentum), LUNET_ARG(weight_decay) };
    return lunet__run_elementwise(param->ctx, "optim", "sgd_momentum", NULL, n,
                                  LUNET_NARGS(args), args);
}

static lunet_status check_adam(const lunet_tensor *param, const lunet_tensor *grad,
                               const lunet_tensor *m, const lunet_tensor *v, float lr,
                               float beta1, float beta2, float eps, float weight_decay,
                               int64_t step) {
    static const char op[] = "adam_step";
    lunet_status st = check_param(op, param);
    if (!st) st = check_like_param(op, "grad", grad, param);
    if (!st) st = check_like_param(op, "m", m, param);
    if (!st) st = check_like_param(op, "v", v, param);
    if (!st) st = check_non_negative(op, "lr", lr);
    if (!st) st = check_beta(op, "beta1", beta1);
    if (!st) st = check_beta(op, "beta2", beta2);
    if (!st) st = check_non_negative(op, "weight_decay", weight_decay);
    if (st) return st;
    if (!(eps > 0.0f && isfinite(eps)))
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: eps must be a finite number > 0, got %g",
                           op, (double)eps);
    if (step < 1)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: step must be >= 1 (1-based), got %lld", op,
                           (long long)step);
    return LUNET_OK;
}

lunet_status lunet_adam_step(lunet_tensor *param, const lunet_tensor *grad, lunet_tensor *m,
                             lunet_tensor *v, float lr, float beta1, float beta2, float eps,
                             float weight_decay, int64_t step) {
    lunet_status st = check_adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step);
    if (st) return st;

    /* Bias corrections in double on the host: 1 - beta^t loses digits in float. */
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    float step_size = (float)((double)lr / bc1);
    float sqrt_bc2 = (float)sqrt(bc2);
    int n = (int)param->numel;
    cl_mem pm = lunet__mem(param), gm = lunet__mem(grad), mm = lunet__mem(m);
    cl_mem vm = lunet__mem(v);
    lunet_arg args[] = { LUNET_ARG(pm), LUNET_ARG(gm), LUNET_ARG(mm), LUNET_ARG(vm),
                         LUNET_ARG(n), LUNET_ARG(beta1), LUNET_ARG(beta2), LUNET_ARG(eps),
                         LUNET_ARG(weight_decay), LUNET_ARG(step_size), LUNET_ARG(sqrt_bc2) };
    return lunet__run_elementwise(param->ctx, "optim", "adam", NULL, n, LUNET_NARGS(args),
                                  args);
}
