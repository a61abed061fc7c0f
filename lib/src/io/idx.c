/*
 * idx.c — IDX files of unsigned bytes (MNIST, Fashion-MNIST, KMNIST, EMNIST), raw or
 * gzip-compressed (told apart by the gzip magic bytes 1f 8b, not by the file name).
 *
 * Layout: a big-endian magic 0x000008nn (0x08 = unsigned byte, nn = number of
 * dimensions), nn big-endian uint32 dimensions, then the bytes in row-major order.
 * The whole file is read in a few large calls: 47 MB of MNIST loads in a fraction of
 * a second.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

#define IDX_MAX_DIMS 4
#define IDX_HEADER_MAX (4 + 4 * IDX_MAX_DIMS)
#define GZ_CHUNK ((size_t)1 << 26)   /* bytes per gzread call (fits its unsigned length) */

/* One open file, raw or gzip, read through the same two calls. */
typedef struct idx_reader {
    const char *path;
    FILE *raw;
    gzFile gz;
} idx_reader;

static lunet_status fail_errno(const char *op, const char *path, int err) {
    char msg[256];
    if (strerror_r(err, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "error %d", err);
    return lunet__fail(LUNET_ERR_IO, "%s: cannot read %s: %s", op, path, msg);
}

static bool starts_with_gzip_magic(FILE *f) {
    unsigned char magic[2];
    size_t got = fread(magic, 1, 2, f);
    rewind(f);
    return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

static lunet_status reader_open(const char *op, const char *path, idx_reader *r) {
    *r = (idx_reader){.path = path};
    r->raw = fopen(path, "rb");
    if (!r->raw) return fail_errno(op, path, errno);
    if (!starts_with_gzip_magic(r->raw)) return LUNET_OK;
    fclose(r->raw);
    r->raw = NULL;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz) return fail_errno(op, path, errno ? errno : ENOMEM);
    gzbuffer(r->gz, 1u << 18);
    return LUNET_OK;
}

static void reader_close(idx_reader *r) {
    if (r->raw) fclose(r->raw);
    if (r->gz) gzclose(r->gz);
    *r = (idx_reader){0};
}

/* zlib's reason for a gzip failure, without the "path: " it puts in front. */
static lunet_status fail_gzip(const char *op, idx_reader *r) {
    int code;
    const char *why = gzerror(r->gz, &code);
    if (code == Z_ERRNO) return fail_errno(op, r->path, errno ? errno : EIO);
    size_t len = strlen(r->path);
    if (strncmp(why, r->path, len) == 0 && strncmp(why + len, ": ", 2) == 0) why += len + 2;
    return lunet__fail(LUNET_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", op, r->path, why);
}

/* Reads up to `want` bytes; *got says how many came. Fails on an I/O or gzip error. */
static lunet_status reader_read(const char *op, idx_reader *r, uint8_t *dst, size_t want,
                                size_t *got) {
    *got = 0;
    if (r->raw) {
        *got = fread(dst, 1, want, r->raw);
        if (*got < want && ferror(r->raw)) return fail_errno(op, r->path, errno ? errno : EIO);
        return LUNET_OK;
    }
    while (*got < want) {
        size_t chunk = want - *got < GZ_CHUNK ? want - *got : GZ_CHUNK;
        int n = gzread(r->gz, dst + *got, (unsigned)chunk);
        if (n < 0) return fail_gzip(op, r);
        if (n == 0) break;
        *got += (size_t)n;
    }
    int code;
    gzerror(r->gz, &code);   /* a gzip stream cut short reports itself only here */
    return code == Z_OK ? LUNET_OK : fail_gzip(op, r);
}

/* How many bytes are left after the expected end (0 for a well-formed file). */
static lunet_status count_trailing(const char *op, idx_reader *r, int64_t *extra) {
    uint8_t scratch[65536];
    *extra = 0;
    for (;;) {
        size_t got;
        lunet_status st = reader_read(op, r, scratch, sizeof scratch, &got);
        if (st != LUNET_OK) return st;
        *extra += (int64_t)got;
        if (got < sizeof scratch) return LUNET_OK;
    }
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void dims_text(const lunet_idx *idx, char *buf, size_t size) {
    size_t used = 0;
    for (int i = 0; i < idx->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? "x" : "", idx->dims[i]);
}

/* Reads and checks the magic number and the dimensions; *data_bytes = their product. */
static lunet_status read_header(const char *op, idx_reader *r, lunet_idx *out,
                                int64_t *header_bytes, int64_t *data_bytes) {
    uint8_t head[IDX_HEADER_MAX];
    size_t got;
    lunet_status st = reader_read(op, r, head, 4, &got);
    if (st != LUNET_OK) return st;
    if (got < 4)
        return lunet__fail(LUNET_ERR_FORMAT,
                           "%s: %s: only %zu bytes, too short for an IDX header (at least 4)", op,
                           r->path, got);
    uint32_t magic = be32(head);
    int ndim = (int)(magic & 0xff);
    if ((magic & 0xffffff00u) != 0x00000800u || ndim < 1 || ndim > IDX_MAX_DIMS)
        return lunet__fail(LUNET_ERR_FORMAT,
                           "%s: %s: wrong magic number 0x%08" PRIx32
                           ", expected an IDX file of unsigned bytes (0x00000801 or 0x00000803)",
                           op, r->path, magic);
    *header_bytes = 4 + 4 * ndim;
    if ((st = reader_read(op, r, head + 4, (size_t)(4 * ndim), &got)) != LUNET_OK) return st;
    if (got < (size_t)(4 * ndim))
        return lunet__fail(LUNET_ERR_FORMAT,
                           "%s: %s: truncated header: %d dimensions need %" PRId64
                           " bytes, found %zu", op, r->path, ndim, *header_bytes, 4 + got);
    out->ndim = ndim;
    int64_t product = 1;
    for (int i = 0; i < ndim; i++) {
        out->dims[i] = be32(head + 4 + 4 * i);
        if (out->dims[i] < 1)
            return lunet__fail(LUNET_ERR_FORMAT, "%s: %s: dimension %d is 0 (each must be >= 1)",
                               op, r->path, i);
        if (product > (INT64_MAX / 2) / out->dims[i])
            return lunet__fail(LUNET_ERR_FORMAT, "%s: %s: dimensions too large (overflow)", op,
                               r->path);
        product *= out->dims[i];
    }
    if ((uint64_t)product > SIZE_MAX / 2)
        return lunet__fail(LUNET_ERR_FORMAT, "%s: %s: dimensions too large for memory", op,
                           r->path);
    out->count = out->dims[0];
    *data_bytes = product;
    return LUNET_OK;
}

/* Reads exactly data_bytes, then makes sure nothing follows. */
static lunet_status read_body(const char *op, idx_reader *r, lunet_idx *out, int64_t header_bytes,
                              int64_t data_bytes) {
    out->data = malloc(data_bytes > 0 ? (size_t)data_bytes : 1);
    if (!out->data)
        return lunet__fail(LUNET_ERR_MEMORY, "%s: %s: cannot allocate %" PRId64 " bytes", op,
                           r->path, data_bytes);
    size_t got;
    lunet_status st = reader_read(op, r, out->data, (size_t)data_bytes, &got);
    if (st != LUNET_OK) return st;
    char dims[96];
    dims_text(out, dims, sizeof dims);
    if ((int64_t)got < data_bytes)
        return lunet__fail(LUNET_ERR_FORMAT,
                           "%s: %s: truncated: dimensions %s need %" PRId64 " bytes (%" PRId64
                           " of header + %" PRId64 " of data), found %" PRId64,
                           op, r->path, dims, header_bytes + data_bytes, header_bytes, data_bytes,
                           header_bytes + (int64_t)got);
    int64_t extra;
    if ((st = count_trailing(op, r, &extra)) != LUNET_OK) return st;
    if (extra > 0)
        return lunet__fail(LUNET_ERR_FORMAT,
                           "%s: %s: %" PRId64 " unexpected bytes after the data: dimensions %s "
                           "need %" PRId64 " bytes, found %" PRId64,
                           op, r->path, extra, dims, header_bytes + data_bytes,
                           header_bytes + data_bytes + extra);
    return LUNET_OK;
}

lunet_status lunet_idx_load(const char *path, lunet_idx *out) {
    const char *op = "idx_load";
    if (!out) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: out is NULL", op);
    *out = (lunet_idx){0};
    if (!path) return lunet__fail(LUNET_ERR_ARGUMENT, "%s: path is NULL", op);
    idx_reader r;
    lunet_status st = reader_open(op, path, &r);
    int64_t header_bytes = 0, data_bytes = 0;
    if (st == LUNET_OK) st = read_header(op, &r, out, &header_bytes, &data_bytes);
    if (st == LUNET_OK) st = read_body(op, &r, out, header_bytes, data_bytes);
    reader_close(&r);
    if (st != LUNET_OK) lunet_idx_free(out);
    return st;
}

void lunet_idx_free(lunet_idx *idx) {
    if (!idx) return;
    free(idx->data);
    *idx = (lunet_idx){0};
}

lunet_status lunet_idx_load_pair(const char *images_path, const char *labels_path,
                                 lunet_idx *images, lunet_idx *labels) {
    const char *op = "idx_load_pair";
    if (!images || !labels)
        return lunet__fail(LUNET_ERR_ARGUMENT, "%s: %s is NULL", op, images ? "labels" : "images");
    *images = (lunet_idx){0};
    *labels = (lunet_idx){0};
    lunet_status st = lunet_idx_load(images_path, images);
    if (st == LUNET_OK) st = lunet_idx_load(labels_path, labels);
    if (st == LUNET_OK && labels->ndim != 1)
        st = lunet__fail(LUNET_ERR_FORMAT,
                         "%s: %s: a label file has 1 dimension, this one has %d", op,
                         labels_path, labels->ndim);
    if (st == LUNET_OK && images->count != labels->count)
        st = lunet__fail(LUNET_ERR_FORMAT,
                         "%s: %" PRId64 " images but %" PRId64 " labels (%s, %s)", op,
                         images->count, labels->count, images_path, labels_path);
    if (st != LUNET_OK) {
        lunet_idx_free(images);
        lunet_idx_free(labels);
    }
    return st;
}
