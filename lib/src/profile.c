/* profile.c — per-kernel device time when LUNET_PROFILE=1.
 *
 * With LUNET_PROFILE set (and not "0") when a context is created, its queue has
 * CL_QUEUE_PROFILING_ENABLE (device.c) and lunet__run keeps the event of every launch
 * here. Events wait in a FIFO; every HARVEST_EVERY launches the finished ones at its
 * head are read (CL_PROFILING_COMMAND_START/END), added to their kernel's totals and
 * released, so memory stays bounded without making the host wait. Only when more than
 * MAX_PENDING launches are still queued does it wait for the oldest half (a host wait
 * that happens only under profiling and only when the host is that far ahead).
 * lunet_profile_report and lunet_context_destroy finish the queue and harvest the rest.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HARVEST_EVERY 256
#define MAX_PENDING 65536

bool lunet__profiling(lunet_context *ctx) {
    if (!ctx || !ctx->queue) return false;
    if (ctx->profile_state == 0) {
        cl_command_queue_properties props = 0;
        cl_int err = clGetCommandQueueInfo(ctx->queue, CL_QUEUE_PROPERTIES, sizeof props, &props,
                                           NULL);
        ctx->profile_state =
            (err == CL_SUCCESS && (props & CL_QUEUE_PROFILING_ENABLE)) ? 1 : -1;
    }
    return ctx->profile_state > 0;
}

/* Index of the entry for kernel `name`, added when new; -1 when out of host memory. */
static int entry_for(lunet_context *ctx, const char *name) {
    for (int i = 0; i < ctx->prof_n_entries; i++)
        if (strcmp(ctx->prof_entries[i].name, name) == 0) return i;
    if (ctx->prof_n_entries == ctx->prof_cap_entries) {
        int cap = ctx->prof_cap_entries ? 2 * ctx->prof_cap_entries : 32;
        lunet_profile_entry *grown = realloc(ctx->prof_entries, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        ctx->prof_entries = grown;
        ctx->prof_cap_entries = cap;
    }
    lunet_profile_entry *e = &ctx->prof_entries[ctx->prof_n_entries];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    return ctx->prof_n_entries++;
}

/* Adds one finished (or failed) event to its kernel's totals and releases it. */
static void account(lunet_context *ctx, const lunet_profile_pending *p, cl_int status) {
    cl_ulong start = 0, end = 0;
    bool timed = status == CL_COMPLETE &&
                 clGetEventProfilingInfo(p->event, CL_PROFILING_COMMAND_START, sizeof start,
                                         &start, NULL) == CL_SUCCESS &&
                 clGetEventProfilingInfo(p->event, CL_PROFILING_COMMAND_END, sizeof end, &end,
                                         NULL) == CL_SUCCESS &&
                 end >= start;
    if (timed) {
        ctx->prof_entries[p->entry].calls++;
        ctx->prof_entries[p->entry].total_ns += (uint64_t)(end - start);
    } else {
        ctx->prof_untimed++;
    }
    clReleaseEvent(p->event);
}

/* Harvests finished events from the head of the FIFO; with wait_all, every event (the
 * caller has finished the queue, so none waits). */
static void harvest(lunet_context *ctx, bool wait_all) {
    size_t i = ctx->prof_head;
    for (; i < ctx->prof_n_pending; i++) {
        lunet_profile_pending *p = &ctx->prof_pending[i];
        cl_int status = CL_QUEUED;
        if (clGetEventInfo(p->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                           NULL) != CL_SUCCESS)
            status = -1;   /* cannot tell: count it as untimed */
        if (status > CL_COMPLETE && !wait_all) break;   /* queued, submitted or running */
        if (status > CL_COMPLETE) {
            clWaitForEvents(1, &p->event);
            clGetEventInfo(p->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                           NULL);
        }
        account(ctx, p, status);
    }
    ctx->prof_head = i;
    if (ctx->prof_head == ctx->prof_n_pending) {
        ctx->prof_head = ctx->prof_n_pending = 0;
    } else if (ctx->prof_head >= ctx->prof_cap_pending / 2) {   /* compact */
        size_t left = ctx->prof_n_pending - ctx->prof_head;
        memmove(ctx->prof_pending, ctx->prof_pending + ctx->prof_head, left * sizeof *ctx->prof_pending);
        ctx->prof_head = 0;
        ctx->prof_n_pending = left;
    }
}

void lunet__profile_record(lunet_context *ctx, const char *name, cl_event event) {
    int entry = entry_for(ctx, name);
    if (entry < 0) {
        ctx->prof_untimed++;
        clReleaseEvent(event);
        return;
    }
    if (ctx->prof_n_pending == ctx->prof_cap_pending) {
        harvest(ctx, false);
        if (ctx->prof_n_pending - ctx->prof_head > MAX_PENDING) {
            /* the host is far ahead of the device: wait for the oldest half */
            lunet_profile_pending *mid =
                &ctx->prof_pending[ctx->prof_head + (ctx->prof_n_pending - ctx->prof_head) / 2];
            clWaitForEvents(1, &mid->event);
            harvest(ctx, false);
        }
    }
    if (ctx->prof_n_pending == ctx->prof_cap_pending) {
        size_t cap = ctx->prof_cap_pending ? 2 * ctx->prof_cap_pending : 1024;
        lunet_profile_pending *grown = realloc(ctx->prof_pending, cap * sizeof *grown);
        if (!grown) {
            ctx->prof_untimed++;
            clReleaseEvent(event);
            return;
        }
        ctx->prof_pending = grown;
        ctx->prof_cap_pending = cap;
    }
    ctx->prof_pending[ctx->prof_n_pending++] = (lunet_profile_pending){event, entry};
    if (++ctx->prof_since_harvest >= HARVEST_EVERY) {
        ctx->prof_since_harvest = 0;
        harvest(ctx, false);
    }
}

/* Sorts by total time (descending), then by name. */
static int by_total(const void *a, const void *b) {
    const lunet_profile_entry *x = a, *y = b;
    if (x->total_ns != y->total_ns) return x->total_ns > y->total_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Appends printf-style text at *len, growing *buf; false when out of memory. */
__attribute__((format(printf, 4, 5)))
static bool append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) return false;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return true;
        }
        size_t cap2 = 2 * *cap + (size_t)n;
        char *grown = realloc(*buf, cap2);
        if (!grown) return false;
        *buf = grown;
        *cap = cap2;
    }
}

/* The report as a malloc'd string (NULL when out of host memory). The queue must be
 * finished: every pending event is harvested. */
char *lunet__profile_text(lunet_context *ctx) {
    harvest(ctx, true);
    int n = ctx->prof_n_entries;
    lunet_profile_entry *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);
    if (!sorted || !buf) {
        free(sorted);
        free(buf);
        return NULL;
    }
    buf[0] = '\0';
    if (n > 0) memcpy(sorted, ctx->prof_entries, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_total);
    uint64_t calls = 0, total_ns = 0;
    for (int i = 0; i < n; i++) {
        calls += sorted[i].calls;
        total_ns += sorted[i].total_ns;
    }
    bool ok = append(&buf, &len, &cap,
                     "lunet profile (LUNET_PROFILE=1) on %s: %" PRIu64
                     " kernel launches timed, %.3f ms of kernel time\n",
                     ctx->info.name, calls, (double)total_ns / 1e6);
    ok = ok && append(&buf, &len, &cap, "%-32s %10s %12s %12s %7s\n", "kernel", "calls",
                      "total ms", "mean us", "share");
    for (int i = 0; ok && i < n; i++) {
        const lunet_profile_entry *e = &sorted[i];
        double mean_us = e->calls ? (double)e->total_ns / 1e3 / (double)e->calls : 0.0;
        double share = total_ns ? 100.0 * (double)e->total_ns / (double)total_ns : 0.0;
        ok = append(&buf, &len, &cap, "%-32s %10" PRIu64 " %12.3f %12.3f %6.1f%%\n", e->name,
                    e->calls, (double)e->total_ns / 1e6, mean_us, share);
    }
    if (ok && ctx->prof_untimed)
        ok = append(&buf, &len, &cap,
                    "(%" PRIu64 " launches not timed: their events failed or could not be kept)\n",
                    ctx->prof_untimed);
    free(sorted);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

void lunet__profile_free(lunet_context *ctx) {
    for (size_t i = ctx->prof_head; i < ctx->prof_n_pending; i++)
        clReleaseEvent(ctx->prof_pending[i].event);
    free(ctx->prof_pending);
    free(ctx->prof_entries);
    ctx->prof_pending = NULL;
    ctx->prof_entries = NULL;
    ctx->prof_head = ctx->prof_n_pending = ctx->prof_cap_pending = 0;
    ctx->prof_n_entries = ctx->prof_cap_entries = 0;
}

lunet_status lunet_profile_report(lunet_context *ctx, char *buf, size_t size) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "profile_report: ctx is NULL");
    if (!buf) return lunet__fail(LUNET_ERR_ARGUMENT, "profile_report: buf is NULL");
    if (size > 0) buf[0] = '\0';
    if (!lunet__profiling(ctx))
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "profile_report: profiling is off for this context (set "
                           "LUNET_PROFILE=1 before the context is created)");
    cl_int err = clFinish(ctx->queue);
    ctx->stats.host_syncs++;
    if (err != CL_SUCCESS) return lunet__cl_fail(err, "clFinish");
    char *text = lunet__profile_text(ctx);
    if (!text) return lunet__fail(LUNET_ERR_MEMORY, "profile_report: out of host memory");
    size_t need = strlen(text) + 1;
    if (need > size) {
        free(text);
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "profile_report: the report needs %zu bytes, buf has %zu", need, size);
    }
    memcpy(buf, text, need);
    free(text);
    return LUNET_OK;
}
