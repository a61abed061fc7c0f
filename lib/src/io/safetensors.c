/* safetensors.c — model weights in Hugging Face's safetensors format, F32 only.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to a
 * multiple of 8), then the tensors' raw little-endian bytes. The JSON maps each name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data start)
 * and "__metadata__" to a string->string object. Reading and writing work on host
 * arrays, so the files need no device; *_tensor variants move data to/from a device. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100 * 1024 * 1024)   /* the reference implementation's limit */

typedef struct st_entry {
    char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t begin, end;   /* byte offsets relative to the data start */
} st_entry;

struct lunet_st_file {
    FILE *fp;
    char *path;
    int64_t data_start;
    int count;
    st_entry *entries;    /* sorted by data offset: the order they were written in */
    int n_meta;
    char **meta_keys;
    char **meta_values;
};

typedef struct st_item {
    char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    float *data;
} st_item;

struct lunet_st_writer {
    st_item *items;
    int n_items, cap_items;
    char **meta_keys;
    char **meta_values;
    int n_meta, cap_meta;
};

/* ---- small helpers ---- */

static char *dup_string(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap_floats(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        unsigned char b[4], r[4];
        memcpy(b, &v[i], 4);
        r[0] = b[3]; r[1] = b[2]; r[2] = b[1]; r[3] = b[0];
        memcpy(&v[i], r, 4);
    }
}

/* numel of a shape, or -1 when it overflows the byte count of an int64. */
static int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return -1;
        if (shape[d] != 0 && n > INT64_MAX / 4 / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

/* ---- a JSON parser for the header's subset (objects, arrays, strings, integers) ---- */

typedef struct json {
    const char *s;
    size_t n, pos;
    const char *path;
    lunet_status status;  /* first error; the message is already set */
} json;

static lunet_status json_fail(json *j, const char *what) {
    if (j->status == LUNET_OK)
        j->status = lunet__fail(LUNET_ERR_FORMAT,
                                "safetensors: %s: bad header JSON: %s at byte %zu of the header",
                                j->path, what, j->pos);
    return j->status;
}

static void json_ws(json *j) {
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                             j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

/* Consume character c (after whitespace); 0 if it is not there. */
static int json_accept(json *j, char c) {
    json_ws(j);
    if (j->pos < j->n && j->s[j->pos] == c) { j->pos++; return 1; }
    return 0;
}

static lunet_status json_expect(json *j, char c) {
    if (json_accept(j, c)) return LUNET_OK;
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return json_fail(j, what);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int json_hex4(json *j, unsigned *out) {
    if (j->pos + 4 > j->n) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(j->s[j->pos + (size_t)i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    j->pos += 4;
    *out = v;
    return 1;
}

static size_t utf8_encode(unsigned cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The code point of a \u escape (the "\u" already consumed), joining surrogate pairs. */
static int json_unicode_escape(json *j, unsigned *cp) {
    if (!json_hex4(j, cp)) return 0;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return 0;
    if (*cp < 0xD800 || *cp > 0xDBFF) return 1;
    unsigned low;
    if (j->pos + 2 > j->n || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u') return 0;
    j->pos += 2;
    if (!json_hex4(j, &low) || low < 0xDC00 || low > 0xDFFF) return 0;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (low - 0xDC00);
    return 1;
}

/* A string into a new malloc'd buffer (NULL on error, status set). */
static char *json_string(json *j) {
    if (json_expect(j, '"') != LUNET_OK) return NULL;
    /* decoded text is never longer than the escaped text */
    size_t start = j->pos, len = 0;
    while (start < j->n && j->s[start] != '"') start += (j->s[start] == '\\') ? 2 : 1;
    char *out = malloc(start - j->pos + 1);
    if (!out) { j->status = lunet__fail(LUNET_ERR_MEMORY, "safetensors: out of host memory"); return NULL; }
    for (;;) {
        if (j->pos >= j->n) { json_fail(j, "unterminated string"); break; }
        unsigned char c = (unsigned char)j->s[j->pos++];
        if (c == '"') { out[len] = '\0'; return out; }
        if (c < 0x20) { j->pos--; json_fail(j, "control character in a string"); break; }
        if (c != '\\') { out[len++] = (char)c; continue; }
        if (j->pos >= j->n) { json_fail(j, "unterminated string"); break; }
        char e = j->s[j->pos++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            out[len++] = decoded[simple - "\"\\/bfnrt"];
        } else if (e == 'u') {
            unsigned cp;
            if (!json_unicode_escape(j, &cp) || cp == 0) { json_fail(j, "bad \\u escape"); break; }
            len += utf8_encode(cp, out + len);
        } else {
            j->pos--;
            json_fail(j, "bad escape in a string");
            break;
        }
    }
    free(out);
    return NULL;
}

/* A non-negative integer (no sign, fraction or exponent). */
static lunet_status json_uint(json *j, int64_t *out) {
    json_ws(j);
    size_t start = j->pos;
    int64_t v = 0;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        int digit = j->s[j->pos] - '0';
        if (v > (INT64_MAX - digit) / 10) return json_fail(j, "integer too large");
        v = v * 10 + digit;
        j->pos++;
    }
    if (j->pos == start) return json_fail(j, "expected a non-negative integer");
    if (j->pos - start > 1 && j->s[start] == '0') return json_fail(j, "leading zero in a number");
    if (j->pos < j->n && strchr(".eE-+", j->s[j->pos]) && j->s[j->pos] != '\0')
        return json_fail(j, "expected an integer");
    *out = v;
    return LUNET_OK;
}

/* [int, int, ...] with at most max items; *count receives the number read. */
static lunet_status json_uint_array(json *j, int64_t *values, int max, int *count) {
    *count = 0;
    if (json_expect(j, '[') != LUNET_OK) return j->status;
    if (json_accept(j, ']')) return LUNET_OK;
    do {
        int64_t v = 0;
        if (*count >= max) return json_fail(j, "too many numbers in an array");
        if (json_uint(j, &v) != LUNET_OK) return j->status;
        values[(*count)++] = v;
    } while (json_accept(j, ','));
    return json_expect(j, ']');
}

/* ---- reading ---- */

static void file_free(lunet_st_file *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);
    for (int i = 0; i < f->count; i++) free(f->entries[i].name);
    for (int i = 0; i < f->n_meta; i++) { free(f->meta_keys[i]); free(f->meta_values[i]); }
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

static lunet_status grow(void **array, int *cap, int needed, size_t item) {
    if (needed <= *cap) return LUNET_OK;
    int next = *cap ? *cap * 2 : 8;
    while (next < needed) next *= 2;
    void *p = realloc(*array, (size_t)next * item);
    if (!p) return lunet__fail(LUNET_ERR_MEMORY, "safetensors: out of host memory");
    *array = p;
    *cap = next;
    return LUNET_OK;
}

static lunet_status parse_metadata(json *j, lunet_st_file *f) {
    int cap = 0, cap_values = 0;
    if (f->n_meta > 0) return json_fail(j, "a second \"__metadata__\"");
    if (json_expect(j, '{') != LUNET_OK) return j->status;
    if (json_accept(j, '}')) return LUNET_OK;
    do {
        if (grow((void **)&f->meta_keys, &cap, f->n_meta + 1, sizeof(char *)) != LUNET_OK ||
            grow((void **)&f->meta_values, &cap_values, f->n_meta + 1, sizeof(char *)) != LUNET_OK)
            return j->status = LUNET_ERR_MEMORY;
        char *key = json_string(j);
        if (!key) return j->status;
        if (json_expect(j, ':') != LUNET_OK) { free(key); return j->status; }
        json_ws(j);
        if (j->pos < j->n && j->s[j->pos] != '"') {
            free(key);
            return json_fail(j, "__metadata__ values must be strings");
        }
        char *value = json_string(j);
        if (!value) { free(key); return j->status; }
        f->meta_keys[f->n_meta] = key;
        f->meta_values[f->n_meta++] = value;
    } while (json_accept(j, ','));
    return json_expect(j, '}');
}

/* {"dtype": "F32", "shape": [...], "data_offsets": [b, e]} for tensor e->name. */
static lunet_status parse_entry(json *j, st_entry *e) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (json_expect(j, '{') != LUNET_OK) return j->status;
    do {
        char *key = json_string(j);
        if (!key) return j->status;
        if (json_expect(j, ':') != LUNET_OK) { free(key); return j->status; }
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            char *dtype = json_string(j);
            if (!dtype) { free(key); return j->status; }
            if (strcmp(dtype, "F32") != 0) {
                j->status = lunet__fail(LUNET_ERR_FORMAT,
                                        "safetensors: %s: tensor '%s' has dtype %s; only F32 is supported",
                                        j->path, e->name, dtype);
                free(dtype); free(key);
                return j->status;
            }
            free(dtype);
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            json_uint_array(j, e->shape, ST_MAX_DIMS, &e->ndim);
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            int64_t off[2] = { 0, 0 };
            int n = 0;
            if (json_uint_array(j, off, 2, &n) == LUNET_OK && n != 2)
                json_fail(j, "data_offsets must hold two numbers");
            e->begin = off[0];
            e->end = off[1];
            have_offsets = 1;
        } else {
            j->status = lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: tensor '%s' has %s key '%s'",
                                    j->path, e->name,
                                    strcmp(key, "dtype") && strcmp(key, "shape") &&
                                    strcmp(key, "data_offsets") ? "an unknown" : "a repeated", key);
        }
        free(key);
        if (j->status != LUNET_OK) return j->status;
    } while (json_accept(j, ','));
    if (json_expect(j, '}') != LUNET_OK) return j->status;
    if (!have_dtype || !have_shape || !have_offsets)
        return j->status = lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: tensor '%s' lacks \"%s\"",
                                       j->path, e->name,
                                       !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return LUNET_OK;
}

static lunet_status parse_header(json *j, lunet_st_file *f) {
    int cap = 0;
    if (json_expect(j, '{') != LUNET_OK) return j->status;
    if (!json_accept(j, '}')) {
        do {
            char *name = json_string(j);
            if (!name) return j->status;
            if (json_expect(j, ':') != LUNET_OK) { free(name); return j->status; }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (parse_metadata(j, f) != LUNET_OK) return j->status;
                continue;
            }
            for (int i = 0; i < f->count; i++)
                if (strcmp(f->entries[i].name, name) == 0) {
                    j->status = lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: tensor '%s' appears twice",
                                            j->path, name);
                    free(name);
                    return j->status;
                }
            if (grow((void **)&f->entries, &cap, f->count + 1, sizeof(st_entry)) != LUNET_OK) {
                free(name);
                return j->status = LUNET_ERR_MEMORY;
            }
            st_entry *e = &f->entries[f->count++];
            memset(e, 0, sizeof *e);
            e->name = name;
            if (parse_entry(j, e) != LUNET_OK) return j->status;
        } while (json_accept(j, ','));
        if (json_expect(j, '}') != LUNET_OK) return j->status;
    }
    json_ws(j);
    if (j->pos != j->n) return json_fail(j, "text after the header object");
    return LUNET_OK;
}

static int compare_offsets(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Offsets in order, inside the data, no overlaps, and 4 bytes per element. */
static lunet_status check_entries(lunet_st_file *f, int64_t data_size) {
    qsort(f->entries, (size_t)f->count, sizeof(st_entry), compare_offsets);
    for (int i = 0; i < f->count; i++) {
        const st_entry *e = &f->entries[i];
        char shape[160];
        shape_text(e->ndim, e->shape, shape, sizeof shape);
        int64_t numel = shape_numel(e->ndim, e->shape);
        if (e->end < e->begin)
            return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: tensor '%s' has data_offsets [%lld,%lld] out of order",
                               f->path, e->name, (long long)e->begin, (long long)e->end);
        if (e->end > data_size)
            return lunet__fail(LUNET_ERR_FORMAT,
                               "safetensors: %s: tensor '%s' ends at byte %lld of the data but the file holds only %lld data bytes (truncated?)",
                               f->path, e->name, (long long)e->end, (long long)data_size);
        if (numel < 0 || e->end - e->begin != numel * 4)
            return lunet__fail(LUNET_ERR_FORMAT,
                               "safetensors: %s: tensor '%s' of shape %s needs %lld bytes but its data_offsets [%lld,%lld] hold %lld",
                               f->path, e->name, shape, numel < 0 ? -1LL : (long long)(numel * 4),
                               (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin));
        if (i > 0 && e->begin < f->entries[i - 1].end)
            return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: tensors '%s' and '%s' overlap",
                               f->path, f->entries[i - 1].name, e->name);
    }
    return LUNET_OK;
}

/* The 8-byte length and the header text; the file position is left at the data. */
static lunet_status read_header(lunet_st_file *f, char **text, int64_t *len, int64_t *data_size) {
    struct stat sb;
    if (fstat(fileno(f->fp), &sb) != 0 || !S_ISREG(sb.st_mode))
        return lunet__fail(LUNET_ERR_IO, "safetensors: %s is not a regular file", f->path);
    unsigned char b[8];
    if (sb.st_size < 8 || fread(b, 1, 8, f->fp) != 8)
        return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: file is %lld bytes, too short for the 8-byte header length",
                           f->path, (long long)sb.st_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    if (n > (uint64_t)(sb.st_size - 8))
        return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: header length %llu is larger than the file (%lld bytes)",
                           f->path, (unsigned long long)n, (long long)sb.st_size);
    if (n < 2 || n > ST_MAX_HEADER)
        return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: header length %llu is not plausible (not a safetensors file?)",
                           f->path, (unsigned long long)n);
    *text = malloc((size_t)n);
    if (!*text) return lunet__fail(LUNET_ERR_MEMORY, "safetensors: out of host memory for the header");
    if (fread(*text, 1, (size_t)n, f->fp) != (size_t)n)
        return lunet__fail(LUNET_ERR_IO, "safetensors: %s: cannot read the header: %s", f->path, strerror(errno));
    if ((*text)[0] != '{')
        return lunet__fail(LUNET_ERR_FORMAT, "safetensors: %s: the header does not start with '{' (not a safetensors file?)",
                           f->path);
    *len = (int64_t)n;
    *data_size = (int64_t)sb.st_size - 8 - (int64_t)n;
    return LUNET_OK;
}

static lunet_status open_file(lunet_st_file *f) {
    char *text = NULL;
    int64_t len = 0, data_size = 0;
    lunet_status st = read_header(f, &text, &len, &data_size);
    if (st == LUNET_OK) {
        json j = { text, (size_t)len, 0, f->path, LUNET_OK };
        st = parse_header(&j, f);
    }
    free(text);
    if (st == LUNET_OK) st = check_entries(f, data_size);
    f->data_start = 8 + len;
    return st;
}

lunet_status lunet_st_open(const char *path, lunet_st_file **out) {
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "st_open: out is NULL");
    *out = NULL;
    if (!path) return lunet__fail(LUNET_ERR_ARGUMENT, "st_open: path is NULL");
    lunet_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_string(path, strlen(path)))) {
        free(f);
        return lunet__fail(LUNET_ERR_MEMORY, "st_open: out of host memory");
    }
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        int err = errno;
        file_free(f);
        return lunet__fail(LUNET_ERR_IO, "safetensors: cannot open %s: %s", path, strerror(err));
    }
    lunet_status st = open_file(f);
    if (st != LUNET_OK) { file_free(f); return st; }
    *out = f;
    return LUNET_OK;
}

void lunet_st_close(lunet_st_file *f) { file_free(f); }

int lunet_st_count(const lunet_st_file *f) { return f ? f->count : 0; }

const char *lunet_st_name(const lunet_st_file *f, int i) {
    return (f && i >= 0 && i < f->count) ? f->entries[i].name : NULL;
}

int lunet_st_find(const lunet_st_file *f, const char *name) {
    if (!f || !name) return -1;
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->entries[i].name, name) == 0) return i;
    return -1;
}

int lunet_st_ndim(const lunet_st_file *f, int i) {
    return (f && i >= 0 && i < f->count) ? f->entries[i].ndim : -1;
}

int64_t lunet_st_dim(const lunet_st_file *f, int i, int d) {
    if (!f || i < 0 || i >= f->count || d < 0 || d >= f->entries[i].ndim) return -1;
    return f->entries[i].shape[d];
}

const char *lunet_st_metadata(const lunet_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static lunet_status check_index(const char *op, const lunet_st_file *f, int i) {
    if (!f) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: file is NULL", op);
    if (i < 0 || i >= f->count)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensor index %d out of range (the file holds %d)",
                           op, i, f->count);
    return LUNET_OK;
}

lunet_status lunet_st_read(const lunet_st_file *f, int i, float *dst, int64_t count) {
    lunet_status st = check_index("st_read", f, i);
    if (st != LUNET_OK) return st;
    const st_entry *e = &f->entries[i];
    int64_t numel = (e->end - e->begin) / 4;
    if (count != numel)
        return lunet__fail(LUNET_ERR_SHAPE, "st_read: tensor '%s' has %lld elements, count is %lld",
                           e->name, (long long)numel, (long long)count);
    if (numel == 0) return LUNET_OK;
    if (!dst) return lunet__fail(LUNET_ERR_ARGUMENT, "st_read: dst is NULL");
    if (fseeko(f->fp, (off_t)(f->data_start + e->begin), SEEK_SET) != 0 ||
        fread(dst, 4, (size_t)numel, f->fp) != (size_t)numel)
        return lunet__fail(LUNET_ERR_IO, "safetensors: %s: cannot read tensor '%s' (file changed or truncated?)",
                           f->path, e->name);
    if (!host_is_little_endian()) swap_floats(dst, numel);
    return LUNET_OK;
}

lunet_status lunet_st_read_tensor(const lunet_st_file *f, int i, lunet_tensor *t) {
    lunet_status st = check_index("st_read_tensor", f, i);
    if (st == LUNET_OK) st = lunet__check_tensor("st_read_tensor", "t", t);
    if (st != LUNET_OK) return st;
    const st_entry *e = &f->entries[i];
    int same = e->ndim == t->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == t->shape[d];
    if (!same) {
        char fs[160], ts[160];
        shape_text(e->ndim, e->shape, fs, sizeof fs);
        lunet__shape_str(t, ts, sizeof ts);
        return lunet__fail(LUNET_ERR_SHAPE, "st_read_tensor: tensor '%s' has shape %s in %s but the tensor has shape %s",
                           e->name, fs, f->path, ts);
    }
    float *host = malloc((size_t)t->numel * sizeof(float));
    if (!host) return lunet__fail(LUNET_ERR_MEMORY, "st_read_tensor: out of host memory");
    st = lunet_st_read(f, i, host, t->numel);
    if (st == LUNET_OK) st = lunet_tensor_upload(t, host, t->numel);
    free(host);
    return st;
}

/* ---- writing ---- */

lunet_status lunet_st_writer_create(lunet_st_writer **out) {
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return lunet__fail(LUNET_ERR_MEMORY, "st_writer_create: out of host memory");
    return LUNET_OK;
}

void lunet_st_writer_free(lunet_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_items; i++) { free(w->items[i].name); free(w->items[i].data); }
    for (int i = 0; i < w->n_meta; i++) { free(w->meta_keys[i]); free(w->meta_values[i]); }
    free(w->items);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

/* Readers of the format (Rust's serde_json) reject a header that is not UTF-8. */
static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                  : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || (extra == 1 && *p < 0xC2)) return 0;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

static lunet_status check_name(const char *op, const lunet_st_writer *w, const char *name) {
    if (!w) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: writer is NULL", op);
    if (!name || !name[0]) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: the tensor name is NULL or empty", op);
    if (!valid_utf8(name)) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: the tensor name is not valid UTF-8", op);
    if (strcmp(name, "__metadata__") == 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: \"__metadata__\" is reserved, not a tensor name", op);
    for (int i = 0; i < w->n_items; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return lunet__fail(LUNET_ERR_ARGUMENT, "%s: a tensor named '%s' was already added", op, name);
    return LUNET_OK;
}

static lunet_status check_dims(const char *op, const char *name, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensor '%s' has %d dimensions; 0 to %d are supported",
                           op, name, ndim, ST_MAX_DIMS);
    if (ndim > 0 && !shape) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensor '%s': shape is NULL", op, name);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensor '%s': dimension %d is negative (%lld)",
                               op, name, d, (long long)shape[d]);
    if (shape_numel(ndim, shape) < 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: tensor '%s': shape too large", op, name);
    return LUNET_OK;
}

/* A new item with a copy of the name and room for its data (filled by the caller). */
static lunet_status add_item(lunet_st_writer *w, const char *name, int ndim, const int64_t *shape,
                             st_item **out) {
    if (grow((void **)&w->items, &w->cap_items, w->n_items + 1, sizeof(st_item)) != LUNET_OK)
        return LUNET_ERR_MEMORY;
    st_item it = { 0 };
    it.ndim = ndim;
    for (int d = 0; d < ndim; d++) it.shape[d] = shape[d];
    it.numel = shape_numel(ndim, shape);
    it.name = dup_string(name, strlen(name));
    it.data = malloc((size_t)(it.numel ? it.numel : 1) * sizeof(float));
    if (!it.name || !it.data) {
        free(it.name);
        free(it.data);
        return lunet__fail(LUNET_ERR_MEMORY, "st_writer_add: out of host memory for '%s'", name);
    }
    w->items[w->n_items] = it;
    *out = &w->items[w->n_items++];
    return LUNET_OK;
}

static void drop_last_item(lunet_st_writer *w) {
    st_item *it = &w->items[--w->n_items];
    free(it->name);
    free(it->data);
}

lunet_status lunet_st_writer_add(lunet_st_writer *w, const char *name, int ndim,
                                 const int64_t *shape, const float *data) {
    lunet_status st = check_name("st_writer_add", w, name);
    if (st == LUNET_OK) st = check_dims("st_writer_add", name, ndim, shape);
    if (st != LUNET_OK) return st;
    if (!data && shape_numel(ndim, shape) > 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_add: tensor '%s': data is NULL", name);
    st_item *it;
    if ((st = add_item(w, name, ndim, shape, &it)) != LUNET_OK) return st;
    if (it->numel) memcpy(it->data, data, (size_t)it->numel * sizeof(float));
    return LUNET_OK;
}

lunet_status lunet_st_writer_add_tensor(lunet_st_writer *w, const char *name, const lunet_tensor *t) {
    lunet_status st = check_name("st_writer_add_tensor", w, name);
    if (st == LUNET_OK) st = lunet__check_tensor("st_writer_add_tensor", name, t);
    if (st != LUNET_OK) return st;
    st_item *it;
    if ((st = add_item(w, name, t->ndim, t->shape, &it)) != LUNET_OK) return st;
    st = lunet_tensor_download(t, it->data, t->numel);
    if (st != LUNET_OK) drop_last_item(w);
    return st;
}

lunet_status lunet_st_writer_set_metadata(lunet_st_writer *w, const char *key, const char *value) {
    if (!w) return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_set_metadata: writer is NULL");
    if (!key || !value) return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_set_metadata: key or value is NULL");
    if (!valid_utf8(key) || !valid_utf8(value))
        return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_set_metadata: key or value is not valid UTF-8");
    char *v = dup_string(value, strlen(value));
    if (!v) return lunet__fail(LUNET_ERR_MEMORY, "st_writer_set_metadata: out of host memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {   /* setting a key again replaces it */
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return LUNET_OK;
        }
    int cap_values = w->cap_meta;
    char *k = dup_string(key, strlen(key));
    if (!k || grow((void **)&w->meta_values, &cap_values, w->n_meta + 1, sizeof(char *)) != LUNET_OK ||
        grow((void **)&w->meta_keys, &w->cap_meta, w->n_meta + 1, sizeof(char *)) != LUNET_OK) {
        free(k);
        free(v);
        return lunet__fail(LUNET_ERR_MEMORY, "st_writer_set_metadata: out of host memory");
    }
    w->meta_keys[w->n_meta] = k;
    w->meta_values[w->n_meta++] = v;
    return LUNET_OK;
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_text(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf_int(strbuf *b, long long v) {
    char num[32];
    sb_put(b, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json_string(strbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; sb_put(b, esc, 2); }
        else if (c == '\n') sb_put(b, "\\n", 2);
        else if (c == '\r') sb_put(b, "\\r", 2);
        else if (c == '\t') sb_put(b, "\\t", 2);
        else if (c == '\b') sb_put(b, "\\b", 2);
        else if (c == '\f') sb_put(b, "\\f", 2);
        else if (c < 0x20) sb_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        else sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

/* The header JSON, compact, padded with spaces to a multiple of 8 bytes. */
static lunet_status build_header(const lunet_st_writer *w, strbuf *b) {
    sb_text(b, "{");
    if (w->n_meta > 0) {
        sb_text(b, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i) sb_text(b, ",");
            sb_json_string(b, w->meta_keys[i]);
            sb_text(b, ":");
            sb_json_string(b, w->meta_values[i]);
        }
        sb_text(b, "}");
    }
    int64_t offset = 0;
    for (int i = 0; i < w->n_items; i++) {
        const st_item *it = &w->items[i];
        if (i || w->n_meta > 0) sb_text(b, ",");
        sb_json_string(b, it->name);
        sb_text(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            if (d) sb_text(b, ",");
            sb_printf_int(b, it->shape[d]);
        }
        sb_text(b, "],\"data_offsets\":[");
        sb_printf_int(b, offset);
        sb_text(b, ",");
        offset += it->numel * 4;
        sb_printf_int(b, offset);
        sb_text(b, "]}");
    }
    sb_text(b, "}");
    while (!b->oom && b->len % 8 != 0) sb_text(b, " ");
    if (b->oom) return lunet__fail(LUNET_ERR_MEMORY, "st_writer_save: out of host memory for the header");
    return LUNET_OK;
}

static int write_floats(FILE *fp, const float *v, int64_t n) {
    if (host_is_little_endian()) return fwrite(v, 4, (size_t)n, fp) == (size_t)n;
    for (int64_t i = 0; i < n; i++) {
        float x = v[i];
        swap_floats(&x, 1);
        if (fwrite(&x, 4, 1, fp) != 1) return 0;
    }
    return 1;
}

static lunet_status write_contents(const lunet_st_writer *w, const strbuf *header, FILE *fp,
                                   const char *tmp) {
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)header->len >> (8 * i));
    int ok = fwrite(len, 1, 8, fp) == 8 && fwrite(header->p, 1, header->len, fp) == header->len;
    for (int i = 0; ok && i < w->n_items; i++) ok = write_floats(fp, w->items[i].data, w->items[i].numel);
    if (ok) ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (!ok) return lunet__fail(LUNET_ERR_IO, "safetensors: cannot write %s: %s", tmp, strerror(errno));
    return LUNET_OK;
}

/* Make the rename durable (best effort: some file systems refuse fsync on a directory). */
static void sync_parent_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
}

/* Write path.tmp.<pid>, sync it, rename it over path; on failure remove the temp file. */
lunet_status lunet_st_writer_save(lunet_st_writer *w, const char *path) {
    if (!w) return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_save: writer is NULL");
    if (!path || !path[0]) return lunet__fail(LUNET_ERR_ARGUMENT, "st_writer_save: path is NULL or empty");
    strbuf header = { 0 };
    lunet_status st = build_header(w, &header);
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (st == LUNET_OK && !tmp) st = lunet__fail(LUNET_ERR_MEMORY, "st_writer_save: out of host memory");
    if (st != LUNET_OK) { free(header.p); free(tmp); return st; }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = lunet__fail(LUNET_ERR_IO, "safetensors: cannot create %s: %s", tmp, strerror(errno));
    } else {
        st = write_contents(w, &header, fp, tmp);
        if (fclose(fp) != 0 && st == LUNET_OK)
            st = lunet__fail(LUNET_ERR_IO, "safetensors: cannot write %s: %s", tmp, strerror(errno));
        if (st == LUNET_OK && rename(tmp, path) != 0)
            st = lunet__fail(LUNET_ERR_IO, "safetensors: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (st != LUNET_OK) remove(tmp);
        else sync_parent_dir(path);
    }
    free(header.p);
    free(tmp);
    return st;
}
