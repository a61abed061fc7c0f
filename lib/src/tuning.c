/*
 * tuning.c — the per-context store of kernel parameters, and its file.
 *
 * Each key is one row of KEYS below: its name, its allowed values, its defaults on CPUs
 * and on GPUs, and what it does. Adding a tunable is adding a row; ops read the value
 * with lunet__tuned(ctx, "family.name", fallback). Allowed values are either integers
 * ("2|4|8|16": the value is the number) or names ("reg|tiled": the value is the position
 * of the name, 0 for "reg"), so ops compare with an enum in the order of the list.
 *
 * The file (lunet_tuning_path) is "key = value" lines with '#' comments, one per device:
 * <cache dir>/tuning-<FNV-1a of platform, device name and driver version>.txt. It is read
 * whole or not at all, and written atomically (temporary file, fsync, rename).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const lunet_tuning_key KEYS[] = {
    {"gemm.variant", "reg|tiled", "reg", "tiled",
     "GEMM kernel: register blocks per work-item, no local memory (CPUs), or local-memory "
     "tiles per work-group (GPUs)"},
    {"gemm.rm", "2|4|8|16", "8", "8", "reg GEMM nn/tn/tt: rows of C per work-item"},
    {"gemm.rn", "4|8|16", "16", "16",
     "reg GEMM nn/tn/tt: columns of C per work-item (the float vector width)"},
    {"gemm.dm", "2|4|8", "4", "4", "reg GEMM nt (dot products along k): rows of C per work-item"},
    {"gemm.dn", "4|8", "8", "8", "reg GEMM nt: columns of C per work-item"},
    {"gemm.dv", "8|16", "16", "16", "reg GEMM nt: float vector width along k"},
    {"gemm.tile", "64|32|16|8|4", "64", "64",
     "tiled GEMM: the largest square tile (TSM = TSN) tried; a smaller one is used when the "
     "device's work-group limit forbids it"},
    {"conv.algo", "im2col|direct", "direct", "im2col",
     "convolution: column matrix + GEMM (GPUs), or direct register-blocked kernels that never "
     "write the column matrix (CPUs)"},
    {"conv.pos", "4|8|16", "8", "8", "direct convolution: output positions per work-item"},
    {"conv.layout", "auto|flat|rows", "auto", "auto",
     "direct convolution: blocks of positions x 8 channels (flat), of 8 row outputs x up to 8 "
     "channels (rows, stride 1), or whichever fills more lanes (auto)"},
    {"conv.taps", "4|8|16", "8", "8",
     "direct convolution, weight gradient: kernel taps per work-item"},
};

#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))
_Static_assert(sizeof KEYS / sizeof KEYS[0] <= LUNET_TUNING_MAX_KEYS,
               "raise LUNET_TUNING_MAX_KEYS in internal.h");

#define MAX_FILE_BYTES 65536
#define MAX_VALUE 64

int lunet_tuning_key_count(void) { return N_KEYS; }

const lunet_tuning_key *lunet_tuning_key_at(int i) {
    return i >= 0 && i < N_KEYS ? &KEYS[i] : NULL;
}

static int key_index(const char *name) {
    for (int i = 0; name && i < N_KEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0) return i;
    return -1;
}

static bool is_numeric(const lunet_tuning_key *k) {
    return isdigit((unsigned char)k->allowed[0]) || k->allowed[0] == '-';
}

/* The value of `text` under key k (see the top of the file); false when not allowed. */
static bool parse_value(const lunet_tuning_key *k, const char *text, int *out) {
    size_t n = strlen(text);
    int index = 0;
    for (const char *p = k->allowed; *p; index++) {
        size_t len = strcspn(p, "|");
        if (len == n && n > 0 && strncmp(p, text, n) == 0) {
            *out = is_numeric(k) ? atoi(p) : index;
            return true;
        }
        p += len + (p[len] == '|');
    }
    return false;
}

/* The text of value v under key k: the number, or the v-th name. */
static void format_value(const lunet_tuning_key *k, int v, char *buf, size_t size) {
    if (is_numeric(k)) {
        snprintf(buf, size, "%d", v);
        return;
    }
    const char *p = k->allowed;
    for (int i = 0; i < v && *p; i++) p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|');
    snprintf(buf, size, "%.*s", (int)strcspn(p, "|"), p);
}

static void known_keys(char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_KEYS && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", KEYS[i].name);
}

static lunet_status unknown_key(const char *where, const char *key) {
    char known[512];
    known_keys(known, sizeof known);
    return lunet__fail(LUNET_ERR_ARGUMENT, "%s: unknown key \"%s\" (known keys: %s)", where,
                       key ? key : "(null)", known);
}

/* The device-class defaults for every key. */
static void set_defaults(const lunet_context *ctx, lunet_tuning_store *s) {
    bool gpu = lunet__is_gpu(ctx);
    for (int i = 0; i < N_KEYS; i++) {
        s->value[i] = 0;
        s->set[i] = false;
        parse_value(&KEYS[i], gpu ? KEYS[i].gpu_default : KEYS[i].cpu_default, &s->value[i]);
    }
}

int lunet__tuned(const lunet_context *ctx, const char *key, int fallback) {
    int i = key_index(key);
    return i < 0 ? fallback : ctx->tuning.value[i];
}

lunet_status lunet_tuning_get(const lunet_context *ctx, const char *key, char *value,
                              size_t size) {
    if (!ctx || !value) return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_get: NULL argument");
    int i = key_index(key);
    if (i < 0) return unknown_key("tuning_get", key);
    char text[MAX_VALUE];
    format_value(&KEYS[i], ctx->tuning.value[i], text, sizeof text);
    if (strlen(text) >= size)
        return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_get: %s = %s needs %zu bytes, got %zu",
                           key, text, strlen(text) + 1, size);
    memcpy(value, text, strlen(text) + 1);
    return LUNET_OK;
}

lunet_status lunet_tuning_set(lunet_context *ctx, const char *key, const char *value) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_set: ctx is NULL");
    int i = key_index(key);
    if (i < 0) return unknown_key("tuning_set", key);
    const lunet_tuning_key *k = &KEYS[i];
    if (!value) {   /* back to the device default */
        parse_value(k, lunet__is_gpu(ctx) ? k->gpu_default : k->cpu_default, &ctx->tuning.value[i]);
        ctx->tuning.set[i] = false;
        return LUNET_OK;
    }
    int v;
    if (!parse_value(k, value, &v))
        return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_set: %s = \"%s\" is not allowed (allowed: %s)",
                           key, value, k->allowed);
    ctx->tuning.value[i] = v;
    ctx->tuning.set[i] = true;
    return LUNET_OK;
}

lunet_status lunet_tuning_reset(lunet_context *ctx) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_reset: ctx is NULL");
    set_defaults(ctx, &ctx->tuning);
    return LUNET_OK;
}

int lunet_tuning_is_set(const lunet_context *ctx, const char *key) {
    int i = key_index(key);
    return !ctx || i < 0 ? -1 : ctx->tuning.set[i];
}

const char *lunet_tuning_path(const lunet_context *ctx) { return ctx ? ctx->tuning_path : ""; }

const char *lunet_tuning_warning(const lunet_context *ctx) {
    return ctx ? ctx->tuning_warning : "";
}

/* ---- the file ---- */

static lunet_status resolve_path(const lunet_context *ctx, const char *path, const char *op,
                                 const char **out) {
    if (path && *path) {
        *out = path;
        return LUNET_OK;
    }
    if (!ctx->tuning_path[0])
        return lunet__fail(LUNET_ERR_IO,
                           "%s: no path given and no cache directory (set LUNET_CACHE_DIR or HOME)",
                           op);
    *out = ctx->tuning_path;
    return LUNET_OK;
}

/* The whole file into a NUL-terminated malloc'd buffer; text only, at most MAX_FILE_BYTES. */
static lunet_status read_text(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return lunet__fail(LUNET_ERR_IO, "tuning file %s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return lunet__fail(LUNET_ERR_MEMORY, "tuning file %s: out of host memory", path);
    }
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    bool failed = ferror(f);
    fclose(f);
    lunet_status st = LUNET_OK;
    if (failed) st = lunet__fail(LUNET_ERR_IO, "tuning file %s: read error", path);
    else if (n > MAX_FILE_BYTES)
        st = lunet__fail(LUNET_ERR_FORMAT, "tuning file %s: larger than %d bytes, not a tuning file",
                         path, MAX_FILE_BYTES);
    else if (memchr(buf, '\0', n))
        st = lunet__fail(LUNET_ERR_FORMAT, "tuning file %s: binary data, not a tuning file", path);
    if (st != LUNET_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    return LUNET_OK;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
    return s;
}

/* One line (comment stripped) into the store being built; line is modified. */
static lunet_status parse_line(const char *path, int lineno, char *line, lunet_tuning_store *s) {
    line[strcspn(line, "#")] = '\0';
    char *text = trim(line);
    if (!*text) return LUNET_OK;
    char *eq = strchr(text, '=');
    if (!eq)
        return lunet__fail(LUNET_ERR_FORMAT, "tuning file %s, line %d: expected \"key = value\", got \"%.80s\"",
                           path, lineno, text);
    *eq = '\0';
    char *key = trim(text), *value = trim(eq + 1);
    int i = key_index(key);
    if (i < 0) {
        char known[512];
        known_keys(known, sizeof known);
        return lunet__fail(LUNET_ERR_FORMAT, "tuning file %s, line %d: unknown key \"%.80s\" (known keys: %s)",
                           path, lineno, key, known);
    }
    if (s->set[i])
        return lunet__fail(LUNET_ERR_FORMAT, "tuning file %s, line %d: %s is given twice", path,
                           lineno, key);
    if (!parse_value(&KEYS[i], value, &s->value[i]))
        return lunet__fail(LUNET_ERR_FORMAT,
                           "tuning file %s, line %d: %s = \"%.80s\" is not allowed (allowed: %s)",
                           path, lineno, key, value, KEYS[i].allowed);
    s->set[i] = true;
    return LUNET_OK;
}

/* Parse the file into a fresh store; ctx's store is replaced only when all of it is good. */
lunet_status lunet_tuning_load(lunet_context *ctx, const char *path) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_load: ctx is NULL");
    lunet_status st = resolve_path(ctx, path, "tuning_load", &path);
    char *text = NULL;
    if (st == LUNET_OK) st = read_text(path, &text);
    if (st != LUNET_OK) return st;
    lunet_tuning_store s;
    set_defaults(ctx, &s);
    int lineno = 1;
    for (char *line = text; line && st == LUNET_OK; lineno++) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        st = parse_line(path, lineno, line, &s);
        line = next;
    }
    free(text);
    if (st == LUNET_OK) ctx->tuning = s;
    return st;
}

static lunet_status write_all(FILE *f, const lunet_context *ctx) {
    const lunet_device_info *d = &ctx->info;
    fprintf(f, "# lunet tuning parameters: \"key = value\" lines, '#' starts a comment.\n"
               "# device: %s / %s / driver %s\n"
               "# Written by lunet_tuning_save (scripts/tune.lua); delete the file to go back to "
               "the defaults.\n",
            d->platform, d->name, d->driver);
    for (int i = 0; i < N_KEYS; i++) {
        if (!ctx->tuning.set[i]) continue;
        char text[MAX_VALUE];
        format_value(&KEYS[i], ctx->tuning.value[i], text, sizeof text);
        fprintf(f, "%s = %s\n", KEYS[i].name, text);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && !ferror(f);
    return ok ? LUNET_OK : LUNET_ERR_IO;
}

lunet_status lunet_tuning_save(lunet_context *ctx, const char *path) {
    if (!ctx) return lunet__fail(LUNET_ERR_ARGUMENT, "tuning_save: ctx is NULL");
    lunet_status st = resolve_path(ctx, path, "tuning_save", &path);
    if (st != LUNET_OK) return st;
    if (path == ctx->tuning_path) lunet__mkdir_p(ctx->cache_dir);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return lunet__fail(LUNET_ERR_IO, "tuning_save: cannot create %s: %s", tmp, strerror(errno));
    st = write_all(f, ctx);
    int saved_errno = errno;
    if (fclose(f) != 0 && st == LUNET_OK) st = LUNET_ERR_IO, saved_errno = errno;
    if (st == LUNET_OK && rename(tmp, path) != 0) st = LUNET_ERR_IO, saved_errno = errno;
    if (st == LUNET_OK) return LUNET_OK;
    remove(tmp);
    return lunet__fail(st, "tuning_save: cannot write %s: %s", path, strerror(saved_errno));
}

/* ---- at context creation ---- */

static void set_path(lunet_context *ctx) {
    ctx->tuning_path[0] = '\0';
    if (!ctx->cache_dir[0]) return;
    const lunet_device_info *d = &ctx->info;
    const char *parts[] = {d->platform, d->name, d->driver};
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        h = lunet__fnv1a(h, parts[i], strlen(parts[i]) + 1);
    snprintf(ctx->tuning_path, sizeof ctx->tuning_path, "%s/tuning-%016llx.txt", ctx->cache_dir,
             (unsigned long long)h);
}

void lunet__tuning_init(lunet_context *ctx) {
    set_defaults(ctx, &ctx->tuning);
    set_path(ctx);
    ctx->tuning_warning[0] = '\0';
    const char *env = getenv("LUNET_TUNING");
    if ((env && strcmp(env, "0") == 0) || !ctx->tuning_path[0]) return;
    if (access(ctx->tuning_path, F_OK) != 0) return;   /* not tuned: the defaults */
    if (lunet_tuning_load(ctx, NULL) == LUNET_OK) return;
    /* A bad file must not stop the library: keep the defaults, say why. */
    snprintf(ctx->tuning_warning, sizeof ctx->tuning_warning,
             "%s; the file is ignored and the device defaults apply (fix or delete it, or run "
             "scripts/tune.lua again; LUNET_TUNING=0 skips it)",
             lunet_last_error());
    lunet__fail(LUNET_OK, "warning: %s", ctx->tuning_warning);
}
