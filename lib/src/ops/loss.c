/* loss.c — softmax and the fused softmax + cross-entropy loss (kernels/loss.cl).
 * One work-item per row; the loss is reduced by a second, single-work-item kernel so
 * that the result does not depend on scheduling (bit-identical for the same inputs).
 */
#include <limits.h>

#include "internal.h"

/* logits [N,K] with N*K addressable by the kernels' int geometry. */
static lunet_status check_logits(const char *op, const lunet_tensor *logits) {
    lunet_status st = lunet__check_ndim(op, "logits", logits, 2);
    if (st) return st;
    if (logits->shape[0] > INT_MAX || logits->shape[1] > INT_MAX)
        return lunet__fail(LUNET_ERR_SHAPE, "%s: logits has %lld x %lld elements, more than "
                           "the kernels support", op, (long long)logits->shape[0],
                           (long long)logits->shape[1]);
    return LUNET_OK;
}

/* labels must be [N] for logits [N,K]. */
static lunet_status check_labels(const char *op, const lunet_tensor *logits,
                                 const lunet_tensor *labels) {
    lunet_status st = lunet__check_tensor(op, "labels", labels);
    if (st) return st;
    if (labels->ndim == 1 && labels->shape[0] == logits->shape[0])
        return lunet__check_same_ctx(op, logits, labels);
    char have[64], ref[64];
    lunet__shape_str(labels, have, sizeof have);
    lunet__shape_str(logits, ref, sizeof ref);
    return lunet__fail(LUNET_ERR_SHAPE, "%s: labels has shape %s but logits has shape %s "
                       "(expected labels [%lld])", op, have, ref, (long long)logits->shape[0]);
}

/* out must have exactly the shape of logits. */
static lunet_status check_like_logits(const char *op, const char *what,
                                      const lunet_tensor *logits, const lunet_tensor *out) {
    lunet_status st = lunet__check_shape(op, what, out, 2, logits->shape);
    if (st) return st;
    return lunet__check_same_ctx(op, logits, out);
}

static lunet_status check_xent(const char *op, const lunet_tensor *logits,
                               const lunet_tensor *labels) {
    lunet_status st = check_logits(op, logits);
    if (st) return st;
    return check_labels(op, logits, labels);
}

lunet_status lunet_softmax_xent_forward(const lunet_tensor *logits, const lunet_tensor *labels,
                                        lunet_tensor *loss) {
    static const char op[] = "softmax_xent_forward";
    static const int64_t loss_shape[1] = {1};
    lunet_status st = check_xent(op, logits, labels);
    if (!st) st = lunet__check_shape(op, "loss", loss, 1, loss_shape);
    if (!st) st = lunet__check_same_ctx(op, logits, loss);
    if (st) return st;

    lunet_context *ctx = logits->ctx;
    int n = (int)logits->shape[0], k = (int)logits->shape[1];
    lunet_tensor *rows = NULL;
    st = lunet__tensor_empty(ctx, 1, logits->shape, &rows);
    if (st) return st;
    cl_mem xm = lunet__mem(logits), lm = lunet__mem(labels), rm = lunet__mem(rows);
    cl_mem om = lunet__mem(loss);
    lunet_arg row_args[] = { LUNET_ARG(xm), LUNET_ARG(lm), LUNET_ARG(rm), LUNET_ARG(n),
                             LUNET_ARG(k) };
    size_t global = (size_t)n, one = 1;
    st = lunet__run(ctx, "loss", "xent_rows", NULL, 1, &global, NULL, LUNET_NARGS(row_args),
                    row_args);
    if (!st) {
        lunet_arg mean_args[] = { LUNET_ARG(rm), LUNET_ARG(om), LUNET_ARG(n) };
        st = lunet__run(ctx, "loss", "xent_mean", NULL, 1, &one, NULL,
                        LUNET_NARGS(mean_args), mean_args);
    }
    lunet_tensor_free(rows);  /* the in-order queue finishes with it before reuse */
    return st;
}

lunet_status lunet_softmax_xent_backward(const lunet_tensor *logits, const lunet_tensor *labels,
                                         lunet_tensor *grad_logits) {
    static const char op[] = "softmax_xent_backward";
    lunet_status st = check_xent(op, logits, labels);
    if (!st) st = check_like_logits(op, "grad_logits", logits, grad_logits);
    if (st) return st;

    int n = (int)logits->shape[0], k = (int)logits->shape[1];
    cl_mem xm = lunet__mem(logits), lm = lunet__mem(labels), gm = lunet__mem(grad_logits);
    lunet_arg args[] = { LUNET_ARG(xm), LUNET_ARG(lm), LUNET_ARG(gm), LUNET_ARG(n),
                         LUNET_ARG(k) };
    size_t global = (size_t)n;
    return lunet__run(logits->ctx, "loss", "xent_backward", NULL, 1, &global, NULL,
                      LUNET_NARGS(args), args);
}

lunet_status lunet_softmax_forward(const lunet_tensor *logits, lunet_tensor *probs) {
    static const char op[] = "softmax_forward";
    lunet_status st = check_logits(op, logits);
    if (!st) st = check_like_logits(op, "probs", logits, probs);
    if (st) return st;

    int n = (int)logits->shape[0], k = (int)logits->shape[1];
    cl_mem xm = lunet__mem(logits), pm = lunet__mem(probs);
    lunet_arg args[] = { LUNET_ARG(xm), LUNET_ARG(pm), LUNET_ARG(n), LUNET_ARG(k) };
    size_t global = (size_t)n;
    return lunet__run(logits->ctx, "loss", "softmax_rows", NULL, 1, &global, NULL,
                      LUNET_NARGS(args), args);
}
