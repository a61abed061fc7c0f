/* test_idx.c — the IDX loader: small raw and gzip files written here (every malformed case
 * gives the expected status and message), and the real MNIST files when they are found.
 *
 * The .gz files are written by hand as gzip members of "stored" deflate blocks with a
 * computed CRC-32 (the test links only liblunet, not zlib); zlib in the library inflates
 * them like any other gzip file, and the real MNIST files are gzip -6 output. */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static char tmp_root[512];

static const char *tmp_path(const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", tmp_root, name);
    return buf;
}

/* ---- writing test files ---- */

typedef struct bytes {
    uint8_t *data;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }

static void put_be32(bytes *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, p, 4);
}

static void put_le32(bytes *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, p, 4);
}

/* An IDX image: magic, dims, then `data_len` bytes of pattern (i * 7 + 3) mod 256. */
static bytes idx_bytes(uint32_t magic, int ndim, const uint32_t *dims, size_t data_len) {
    bytes b = {0};
    put_be32(&b, magic);
    for (int i = 0; i < ndim; i++) put_be32(&b, dims[i]);
    for (size_t i = 0; i < data_len; i++) put_u8(&b, (uint8_t)(i * 7 + 3));
    return b;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

/* A gzip member holding `raw` in stored deflate blocks (at most 65535 bytes each). */
static bytes gzip_stored(const bytes *raw) {
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    bytes g = {0};
    put(&g, header, sizeof header);
    size_t pos = 0;
    do {
        size_t n = raw->len - pos > 65535 ? 65535 : raw->len - pos;
        put_u8(&g, pos + n == raw->len ? 1 : 0);   /* BFINAL, BTYPE 00 (stored) */
        uint8_t lens[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)};
        put(&g, lens, 4);
        put(&g, raw->data + pos, n);
        pos += n;
    } while (pos < raw->len);
    put_le32(&g, crc32_of(raw->data, raw->len));
    put_le32(&g, (uint32_t)raw->len);
    return g;
}

static void write_file(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) { CHECK(0, "cannot write %s", path); return; }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

/* Writes the IDX content raw to `name` and gzip-compressed to `name`.gz. */
static void write_idx_pair(const char *name, bytes content) {
    char path[600], gz_path[610];
    tmp_path(name, path, sizeof path);
    snprintf(gz_path, sizeof gz_path, "%s.gz", path);
    write_file(path, content.data, content.len);
    bytes g = gzip_stored(&content);
    write_file(gz_path, g.data, g.len);
    free(g.data);
    free(content.data);
}

static const uint32_t images_dims[3] = {3, 4, 5};

static void write_fixtures(void) {
    write_idx_pair("images-idx3-ubyte", idx_bytes(0x803, 3, images_dims, 60));
    uint32_t label_dims[1] = {3};
    bytes labels = {0};
    put_be32(&labels, 0x801);
    put_be32(&labels, 3);
    put_u8(&labels, 7); put_u8(&labels, 0); put_u8(&labels, 9);
    write_idx_pair("labels-idx1-ubyte", labels);
    label_dims[0] = 2;
    write_idx_pair("two-labels-idx1-ubyte", idx_bytes(0x801, 1, label_dims, 2));
    write_idx_pair("int-type", idx_bytes(0x00000c03, 3, images_dims, 60));
    write_idx_pair("five-dims", idx_bytes(0x00000805, 0, NULL, 0));
    write_idx_pair("no-dims", idx_bytes(0x00000800, 0, NULL, 0));
    write_idx_pair("truncated", idx_bytes(0x803, 3, images_dims, 50));
    write_idx_pair("trailing", idx_bytes(0x803, 3, images_dims, 63));
    bytes header_cut = idx_bytes(0x803, 3, images_dims, 0);
    header_cut.len = 10;
    write_idx_pair("header-cut", header_cut);
    const uint32_t zero_dims[3] = {3, 0, 5};
    write_idx_pair("zero-dim", idx_bytes(0x803, 3, zero_dims, 0));
    const uint32_t huge_dims[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 2};
    write_idx_pair("overflow", idx_bytes(0x804, 4, huge_dims, 0));
    bytes three = {0};
    put_u8(&three, 0); put_u8(&three, 0); put_u8(&three, 8);
    write_idx_pair("three-bytes", three);
}

/* ---- loading good files ---- */

static void check_images(const lunet_idx *im) {
    CHECK(im->ndim == 3 && im->dims[0] == 3 && im->dims[1] == 4 && im->dims[2] == 5,
          "dims %d: %lld %lld %lld", im->ndim, (long long)im->dims[0], (long long)im->dims[1],
          (long long)im->dims[2]);
    CHECK(im->count == 3, "count %lld", (long long)im->count);
    int wrong = 0;
    for (int i = 0; i < 60; i++) wrong += im->data[i] != (uint8_t)(i * 7 + 3);
    CHECK(wrong == 0, "%d wrong bytes", wrong);
}

static void test_load_raw_and_gz(void) {
    char path[600];
    const char *names[2] = {"images-idx3-ubyte", "images-idx3-ubyte.gz"};
    for (int k = 0; k < 2; k++) {
        lunet_idx im;
        REQUIRE_OK(lunet_idx_load(tmp_path(names[k], path, sizeof path), &im));
        check_images(&im);
        lunet_idx_free(&im);
        CHECK(im.data == NULL && im.count == 0, "free zeroes the struct");
        lunet_idx_free(&im);   /* a second free is harmless */
    }
}

/* gzip is told by its magic bytes, not by the name. */
static void test_format_by_content_not_name(void) {
    char path[600];
    bytes raw = idx_bytes(0x803, 3, images_dims, 60);
    bytes g = gzip_stored(&raw);
    write_file(tmp_path("raw-named.gz", path, sizeof path), raw.data, raw.len);
    lunet_idx im;
    REQUIRE_OK(lunet_idx_load(path, &im));
    check_images(&im);
    lunet_idx_free(&im);
    write_file(tmp_path("gzip-named-idx3-ubyte", path, sizeof path), g.data, g.len);
    REQUIRE_OK(lunet_idx_load(path, &im));
    check_images(&im);
    lunet_idx_free(&im);
    free(raw.data);
    free(g.data);
}

static void test_load_pair(void) {
    char ip[600], lp[600];
    lunet_idx im, lb;
    REQUIRE_OK(lunet_idx_load_pair(tmp_path("images-idx3-ubyte.gz", ip, sizeof ip),
                                   tmp_path("labels-idx1-ubyte", lp, sizeof lp), &im, &lb));
    check_images(&im);
    CHECK(lb.ndim == 1 && lb.count == 3 && lb.dims[0] == 3, "labels dims");
    CHECK(lb.data[0] == 7 && lb.data[1] == 0 && lb.data[2] == 9, "labels %d %d %d", lb.data[0],
          lb.data[1], lb.data[2]);
    lunet_idx_free(&im);
    lunet_idx_free(&lb);
}

/* ---- malformed files: the same message raw and gzip-compressed ---- */

static void check_bad(const char *name, lunet_status status, const char *needle) {
    char path[600], gz[610];
    tmp_path(name, path, sizeof path);
    snprintf(gz, sizeof gz, "%s.gz", path);
    const char *paths[2] = {path, gz};
    for (int k = 0; k < 2; k++) {
        lunet_idx im = {.count = 99};
        CHECK_FAILS(lunet_idx_load(paths[k], &im), status, needle);
        CHECK(strstr(lunet_last_error(), paths[k]) != NULL, "message \"%s\" lacks the path %s",
              lunet_last_error(), paths[k]);
        CHECK(im.data == NULL && im.count == 0, "%s: out not cleared on failure", paths[k]);
    }
}

static void test_wrong_magic(void) {
    check_bad("int-type", LUNET_ERR_FORMAT,
              "wrong magic number 0x00000c03, expected an IDX file of unsigned bytes "
              "(0x00000801 or 0x00000803)");
    check_bad("five-dims", LUNET_ERR_FORMAT, "wrong magic number 0x00000805");
    check_bad("no-dims", LUNET_ERR_FORMAT, "wrong magic number 0x00000800");
    char path[600];
    lunet_idx im;   /* a PNG is not an IDX file */
    const uint8_t png[8] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
    write_file(tmp_path("picture.png", path, sizeof path), png, sizeof png);
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_FORMAT, "wrong magic number 0x89504e47");
}

static void test_too_short(void) {
    check_bad("three-bytes", LUNET_ERR_FORMAT,
              "only 3 bytes, too short for an IDX header (at least 4)");
    char path[600];
    lunet_idx im;
    write_file(tmp_path("empty", path, sizeof path), NULL, 0);
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_FORMAT, "only 0 bytes");
    check_bad("header-cut", LUNET_ERR_FORMAT,
              "truncated header: 3 dimensions need 16 bytes, found 10");
}

static void test_truncated(void) {
    check_bad("truncated", LUNET_ERR_FORMAT,
              "truncated: dimensions 3x4x5 need 76 bytes (16 of header + 60 of data), found 66");
}

static void test_trailing_bytes(void) {
    check_bad("trailing", LUNET_ERR_FORMAT,
              "3 unexpected bytes after the data: dimensions 3x4x5 need 76 bytes, found 79");
}

static void test_bad_dimensions(void) {
    check_bad("zero-dim", LUNET_ERR_FORMAT, "dimension 1 is 0 (each must be >= 1)");
    check_bad("overflow", LUNET_ERR_FORMAT, "dimensions too large");
}

static void test_missing_file(void) {
    char path[600];
    lunet_idx im;
    tmp_path("no-such-file-idx3-ubyte", path, sizeof path);
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_IO, "idx_load: cannot read ");
    CHECK(strstr(lunet_last_error(), path) && strstr(lunet_last_error(), strerror(ENOENT)),
          "message \"%s\" lacks the path or the reason", lunet_last_error());
    CHECK_FAILS(lunet_idx_load(tmp_root, &im), LUNET_ERR_IO, strerror(EISDIR));
}

static void test_count_mismatch(void) {
    char ip[600], lp[600];
    lunet_idx im = {.count = 5}, lb = {.count = 5};
    tmp_path("images-idx3-ubyte", ip, sizeof ip);
    CHECK_FAILS(lunet_idx_load_pair(ip, tmp_path("two-labels-idx1-ubyte.gz", lp, sizeof lp), &im,
                                    &lb), LUNET_ERR_FORMAT, "idx_load_pair: 3 images but 2 labels");
    CHECK(im.data == NULL && lb.data == NULL && im.count == 0, "pair not cleared on failure");
    CHECK_FAILS(lunet_idx_load_pair(ip, ip, &im, &lb), LUNET_ERR_FORMAT,
                "a label file has 1 dimension, this one has 3");
    CHECK_FAILS(lunet_idx_load_pair(ip, tmp_path("nothing-here", lp, sizeof lp), &im, &lb),
                LUNET_ERR_IO, "nothing-here");
}

static void test_corrupt_gzip(void) {
    char path[600];
    bytes raw = idx_bytes(0x803, 3, images_dims, 60);
    bytes g = gzip_stored(&raw);
    g.data[g.len - 6] ^= 0x55;   /* the stored CRC no longer matches */
    write_file(tmp_path("bad-crc.gz", path, sizeof path), g.data, g.len);
    lunet_idx im;
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_FORMAT, "bad-crc.gz: corrupt gzip data (incorrect data check)");
    g.data[g.len - 6] ^= 0x55;
    g.data[10] = 0x07;           /* block type 3: invalid */
    write_file(tmp_path("bad-block.gz", path, sizeof path), g.data, g.len);
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_FORMAT, "bad-block.gz: corrupt gzip data (invalid block type)");
    g.data[10] = 0x01;
    write_file(tmp_path("cut.gz", path, sizeof path), g.data, g.len / 2);
    CHECK_FAILS(lunet_idx_load(path, &im), LUNET_ERR_FORMAT, "cut.gz: corrupt gzip data (unexpected end of file)");
    free(raw.data);
    free(g.data);
}

static void test_null_arguments(void) {
    lunet_idx im, lb;
    CHECK_FAILS(lunet_idx_load(NULL, &im), LUNET_ERR_ARGUMENT, "idx_load: path is NULL");
    CHECK_FAILS(lunet_idx_load("x", NULL), LUNET_ERR_ARGUMENT, "idx_load: out is NULL");
    CHECK_FAILS(lunet_idx_load_pair("a", "b", &im, NULL), LUNET_ERR_ARGUMENT,
                "idx_load_pair: labels is NULL");
    CHECK_FAILS(lunet_idx_load_pair("a", "b", NULL, &lb), LUNET_ERR_ARGUMENT,
                "idx_load_pair: images is NULL");
    lunet_idx_free(NULL);
}

/* ---- the real MNIST, when present ---- */

static bool is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static const char *find_mnist(void) {
    const char *env = getenv("LUNET_MNIST_DIR");
    if (env && *env) return env;
    static const char *const guesses[2] = {"../../shared/data/mnist", "../shared/data/mnist"};
    for (int i = 0; i < 2; i++)
        if (is_dir(guesses[i])) return guesses[i];
    return NULL;
}

/* The first file of name (.gz, then raw) that exists in dir. */
static const char *mnist_file(const char *dir, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s.gz", dir, name);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check_split(const char *dir, const char *prefix, int64_t n, const uint8_t first[5]) {
    char ip[600], lp[600], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    mnist_file(dir, name, ip, sizeof ip);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    mnist_file(dir, name, lp, sizeof lp);
    lunet_idx im, lb;
    double t0 = now_seconds();
    REQUIRE_OK(lunet_idx_load(ip, &im));
    double seconds = now_seconds() - t0;
    printf("  %s images: %lld x %lld x %lld loaded in %.3f s\n", prefix, (long long)im.dims[0],
           (long long)im.dims[1], (long long)im.dims[2], seconds);
    CHECK(seconds < 1.0, "loading %s took %.3f s", ip, seconds);
    lunet_idx_free(&im);
    REQUIRE_OK(lunet_idx_load_pair(ip, lp, &im, &lb));
    CHECK(im.ndim == 3 && im.count == n && im.dims[1] == 28 && im.dims[2] == 28,
          "%s images %lld x %lld x %lld", prefix, (long long)im.count, (long long)im.dims[1],
          (long long)im.dims[2]);
    CHECK(lb.ndim == 1 && lb.count == n, "%s labels %lld", prefix, (long long)lb.count);
    CHECK(memcmp(lb.data, first, 5) == 0, "%s first labels %d %d %d %d %d", prefix, lb.data[0],
          lb.data[1], lb.data[2], lb.data[3], lb.data[4]);
    if (n == 60000) {
        static const int64_t want[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
        int64_t counts[10] = {0};
        int bad = 0;
        for (int64_t i = 0; i < n; i++) lb.data[i] < 10 ? (void)counts[lb.data[i]]++ : (void)bad++;
        CHECK(bad == 0 && memcmp(counts, want, sizeof want) == 0, "train class counts differ");
    }
    int max_pixel = 0;
    for (int64_t i = 0; i < n * 784; i++) max_pixel = im.data[i] > max_pixel ? im.data[i] : max_pixel;
    CHECK(max_pixel == 255, "%s max pixel %d", prefix, max_pixel);
    lunet_idx_free(&im);
    lunet_idx_free(&lb);
}

static void test_real_mnist(void) {
    const char *dir = find_mnist();
    if (!dir) {
        printf("  skipped: MNIST not found (set LUNET_MNIST_DIR)\n");
        return;
    }
    printf("  MNIST from %s\n", dir);
    static const uint8_t train_first[5] = {5, 0, 4, 1, 9}, test_first[5] = {7, 2, 1, 0, 4};
    check_split(dir, "train", 60000, train_first);
    check_split(dir, "t10k", 10000, test_first);
}

int main(void) {
    const char *base = getenv("LUNET_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/idx-%ld", base ? base : "/tmp", (long)getpid());
    mkdir(base ? base : "/tmp", 0755);
    mkdir(tmp_root, 0755);
    TEST_BEGIN();
    write_fixtures();
    RUN(test_load_raw_and_gz);
    RUN(test_format_by_content_not_name);
    RUN(test_load_pair);
    RUN(test_wrong_magic);
    RUN(test_too_short);
    RUN(test_truncated);
    RUN(test_trailing_bytes);
    RUN(test_bad_dimensions);
    RUN(test_missing_file);
    RUN(test_count_mismatch);
    RUN(test_corrupt_gzip);
    RUN(test_null_arguments);
    RUN(test_real_mnist);
    return TEST_END();
}
