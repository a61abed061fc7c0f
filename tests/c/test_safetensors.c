/* safetensors: round trips (bit-exact), the exact byte layout the format specifies,
 * every malformed file we can think of, writer errors and atomic saves. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static char tmp_root[512];

static void tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", tmp_root, name);
}

static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)*size + 1);
    if (fread(buf, 1, (size_t)*size, f) != (size_t)*size) { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) { printf("FATAL: cannot write %s\n", path); exit(2); }
    fclose(f);
}

/* A file with header length `length` (or the JSON's own length when < 0), the JSON,
 * then data_len data bytes (values 1, 2, 3 ...). */
static void write_raw(const char *path, const char *json, long long length, size_t data_len) {
    size_t n = strlen(json);
    unsigned char *buf = calloc(8 + n + data_len, 1);
    uint64_t len = length < 0 ? (uint64_t)n : (uint64_t)length;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, json, n);
    for (size_t i = 0; i < data_len; i++) buf[8 + n + i] = (unsigned char)(i + 1);
    write_bytes(path, buf, 8 + n + data_len);
    free(buf);
}

/* Number of entries in tmp_root whose name contains ".tmp." (temp files left behind). */
static int temp_files_left(void) {
    DIR *d = opendir(tmp_root);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static lunet_status save_one(const char *path, const char *name, int64_t n, const float *data) {
    lunet_st_writer *w = NULL;
    lunet_status st = lunet_st_writer_create(&w);
    if (st == LUNET_OK) st = lunet_st_writer_add(w, name, 1, &n, data);
    if (st == LUNET_OK) st = lunet_st_writer_save(w, path);
    lunet_st_writer_free(w);
    return st;
}

static void test_roundtrip_with_metadata(void) {
    char path[600];
    tmp_path(path, sizeof path, "roundtrip.safetensors");
    int64_t s1[1] = {7}, s2[2] = {3, 5}, s4[4] = {2, 3, 4, 5}, s0[1] = {0};
    float v1[7], v2[15], v4[120], scalar = -3.25f;
    test_fill_random(v1, 7, 1);
    test_fill_random(v2, 15, 2);
    test_fill_random(v4, 120, 3);
    v1[3] = 1e-40f;   /* a subnormal survives bit-exact */
    lunet_st_writer *w = NULL;
    REQUIRE_OK(lunet_st_writer_create(&w));
    REQUIRE_OK(lunet_st_writer_add(w, "conv1.weight", 4, s4, v4));
    REQUIRE_OK(lunet_st_writer_add(w, "fc.bias", 1, s1, v1));
    REQUIRE_OK(lunet_st_writer_add(w, "weird \"name\"\\ \xc3\xa9\t", 2, s2, v2));
    REQUIRE_OK(lunet_st_writer_add(w, "scalar", 0, NULL, &scalar));
    REQUIRE_OK(lunet_st_writer_add(w, "empty", 1, s0, NULL));
    REQUIRE_OK(lunet_st_writer_set_metadata(w, "format", "pt"));
    REQUIRE_OK(lunet_st_writer_set_metadata(w, "note", "line1\nline2 \"quoted\" \x01"));
    REQUIRE_OK(lunet_st_writer_set_metadata(w, "format", "pt"));   /* replaced, not doubled */
    REQUIRE_OK(lunet_st_writer_save(w, path));
    lunet_st_writer_free(w);

    lunet_st_file *f = NULL;
    REQUIRE_OK(lunet_st_open(path, &f));
    CHECK(lunet_st_count(f) == 5, "count %d", lunet_st_count(f));
    const char *names[5] = {"conv1.weight", "fc.bias", "weird \"name\"\\ \xc3\xa9\t", "scalar", "empty"};
    for (int i = 0; i < 5; i++)
        CHECK(lunet_st_name(f, i) && strcmp(lunet_st_name(f, i), names[i]) == 0, "name %d: %s", i,
              lunet_st_name(f, i));
    CHECK(lunet_st_ndim(f, 0) == 4 && lunet_st_dim(f, 0, 3) == 5 && lunet_st_dim(f, 0, 4) == -1, "dims");
    CHECK(lunet_st_ndim(f, 3) == 0 && lunet_st_dim(f, 4, 0) == 0, "scalar/empty dims");
    CHECK(lunet_st_find(f, "fc.bias") == 1 && lunet_st_find(f, "nope") == -1, "find");
    CHECK(lunet_st_name(f, 5) == NULL && lunet_st_ndim(f, -1) == -1, "out of range");
    float back[120];
    REQUIRE_OK(lunet_st_read(f, 0, back, 120));
    CHECK(memcmp(back, v4, sizeof v4) == 0, "conv1.weight differs");
    REQUIRE_OK(lunet_st_read(f, 1, back, 7));
    CHECK(memcmp(back, v1, sizeof v1) == 0, "fc.bias differs");
    REQUIRE_OK(lunet_st_read(f, lunet_st_find(f, names[2]), back, 15));
    CHECK(memcmp(back, v2, sizeof v2) == 0, "weird differs");
    REQUIRE_OK(lunet_st_read(f, 3, back, 1));
    CHECK(back[0] == scalar, "scalar %g", back[0]);
    REQUIRE_OK(lunet_st_read(f, 4, NULL, 0));
    CHECK(lunet_st_metadata(f, "format") && strcmp(lunet_st_metadata(f, "format"), "pt") == 0, "format");
    CHECK(lunet_st_metadata(f, "note") &&
          strcmp(lunet_st_metadata(f, "note"), "line1\nline2 \"quoted\" \x01") == 0, "note");
    CHECK(lunet_st_metadata(f, "missing") == NULL, "missing key");
    CHECK_FAILS(lunet_st_read(f, 0, back, 119), LUNET_ERR_SHAPE, "'conv1.weight' has 120 elements");
    CHECK_FAILS(lunet_st_read(f, 9, back, 1), LUNET_ERR_ARGUMENT, "index 9 out of range");
    lunet_st_close(f);
}

/* The format, byte by byte: u64 LE length, compact JSON padded with spaces to 8, data. */
static void test_exact_byte_layout(void) {
    char path[600];
    tmp_path(path, sizeof path, "layout.safetensors");
    int64_t sa[1] = {2}, sb[2] = {1, 1};
    float a[2] = {1.0f, -2.0f}, b[1] = {0.5f};
    lunet_st_writer *w = NULL;
    REQUIRE_OK(lunet_st_writer_create(&w));
    REQUIRE_OK(lunet_st_writer_set_metadata(w, "format", "pt"));
    REQUIRE_OK(lunet_st_writer_set_metadata(w, "k\"\\", "v\n"));
    REQUIRE_OK(lunet_st_writer_add(w, "a", 1, sa, a));
    REQUIRE_OK(lunet_st_writer_add(w, "b\"q", 2, sb, b));
    REQUIRE_OK(lunet_st_writer_save(w, path));
    lunet_st_writer_free(w);

    /* 158 characters of JSON + 2 spaces = 160 = 0xA0 */
    const char *json = "{\"__metadata__\":{\"format\":\"pt\",\"k\\\"\\\\\":\"v\\n\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\\\"q\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}";
    REQUIRE(strlen(json) == 158, "hand-computed JSON has %zu characters", strlen(json));
    unsigned char want[8 + 160 + 12];
    const unsigned char len[8] = {0xA0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want, len, 8);
    memcpy(want + 8, json, 158);
    want[8 + 158] = ' ';
    want[8 + 159] = ' ';
    const unsigned char data[12] = {0x00, 0x00, 0x80, 0x3F,    /* 1.0f  = 0x3F800000 */
                                    0x00, 0x00, 0x00, 0xC0,    /* -2.0f = 0xC0000000 */
                                    0x00, 0x00, 0x00, 0x3F};   /* 0.5f  = 0x3F000000 */
    memcpy(want + 168, data, 12);
    long size = 0;
    unsigned char *got = read_all(path, &size);
    REQUIRE(got != NULL, "cannot read back %s", path);
    CHECK(size == (long)sizeof want, "file has %ld bytes, expected %zu", size, sizeof want);
    for (long i = 0; i < size && i < (long)sizeof want; i++)
        if (got[i] != want[i]) {
            CHECK(got[i] == want[i], "byte %ld is 0x%02x, expected 0x%02x ('%.*s')", i, got[i], want[i],
                  (int)(size > 8 ? size - 8 : 0), (const char *)got + 8);
            break;
        }
    free(got);
}

/* A hand-written file in the format (as another writer would produce: keys in any
 * order, whitespace, escapes) reads back. */
static void test_reads_foreign_file(void) {
    char path[600];
    tmp_path(path, sizeof path, "foreign.safetensors");
    const char *json = "{ \"w\" : { \"shape\" : [ 2 ], \"data_offsets\" : [ 0 , 8 ], \"dtype\":\"F32\" },\n"
                       "  \"__metadata__\": {\"x\": \"\\u00e9\\ud83d\\ude00\\/\"} }   ";
    size_t n = strlen(json);
    unsigned char buf[256];
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    const float v[2] = {3.5f, -0.125f};
    memcpy(buf + 8 + n, v, 8);   /* the tests run on little-endian hosts */
    write_bytes(path, buf, 8 + n + 8);
    lunet_st_file *f = NULL;
    REQUIRE_OK(lunet_st_open(path, &f));
    float back[2];
    REQUIRE_OK(lunet_st_read(f, 0, back, 2));
    CHECK(back[0] == 3.5f && back[1] == -0.125f, "values %g %g", back[0], back[1]);
    CHECK(strcmp(lunet_st_metadata(f, "x"), "\xc3\xa9\xf0\x9f\x98\x80/") == 0, "unicode escapes: %s",
          lunet_st_metadata(f, "x"));
    lunet_st_close(f);
}

typedef struct bad_case {
    const char *json;
    long long length;     /* header length to write; -1: the JSON's length */
    size_t data_len;
    const char *needle;
} bad_case;

static void test_malformed_files(void) {
    static const bad_case cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 100000, 8, "is larger than the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 8, "truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", -1, 8, "bad header JSON: expected '}'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", -1, 8, "bad header JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", -1, 8, "expected an integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", -1, 8, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", -1, 8, "text after the header"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", -1, 8, "tensor 'a' has dtype F16; only F32"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", -1, 8, "out of order"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", -1, 8, "ends at byte 16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1, 12, "'a' and 'b' overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 12, "of shape [3] needs 12 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8, "'a' appears twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", -1, 8, "lacks \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", -1, 8, "unknown key 'x'"},
        {"{\"__metadata__\":{\"epoch\":3}}", -1, 0, "__metadata__ values must be strings"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", -1, 8, "two numbers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", -1, 8, "too large"},
        {"{\"a\\q\":{}}", -1, 0, "bad escape"},
        {"[1,2]   ", -1, 0, "does not start with '{'"},
    };
    char path[600];
    tmp_path(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].json, cases[i].length, cases[i].data_len);
        lunet_st_file *f = (lunet_st_file *)1;
        CHECK_FAILS(lunet_st_open(path, &f), LUNET_ERR_FORMAT, cases[i].needle);
        CHECK(f == NULL, "case %zu: out not cleared", i);
        CHECK(strstr(lunet_last_error(), "bad.safetensors") != NULL, "case %zu: no file name in \"%s\"", i,
              lunet_last_error());
    }
    write_bytes(path, "abc", 3);
    lunet_st_file *f = NULL;
    CHECK_FAILS(lunet_st_open(path, &f), LUNET_ERR_FORMAT, "too short");
    write_bytes(path, "hello world, this is not a model file at all", 44);
    CHECK_FAILS(lunet_st_open(path, &f), LUNET_ERR_FORMAT, "larger than the file");
    tmp_path(path, sizeof path, "does-not-exist.safetensors");
    CHECK_FAILS(lunet_st_open(path, &f), LUNET_ERR_IO, "No such file");
    CHECK_FAILS(lunet_st_open(tmp_root, &f), LUNET_ERR_IO, "not a regular file");
    CHECK_FAILS(lunet_st_open(NULL, &f), LUNET_ERR_ARGUMENT, "path is NULL");
}

static void test_writer_rejects_bad_input(void) {
    lunet_st_writer *w = NULL;
    REQUIRE_OK(lunet_st_writer_create(&w));
    int64_t s[2] = {2, 2}, neg[1] = {-1}, big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float v[4] = {0};
    REQUIRE_OK(lunet_st_writer_add(w, "x", 2, s, v));
    CHECK_FAILS(lunet_st_writer_add(w, "x", 2, s, v), LUNET_ERR_ARGUMENT, "'x' was already added");
    CHECK_FAILS(lunet_st_writer_add(w, "", 2, s, v), LUNET_ERR_ARGUMENT, "name is NULL or empty");
    CHECK_FAILS(lunet_st_writer_add(w, NULL, 2, s, v), LUNET_ERR_ARGUMENT, "name is NULL or empty");
    CHECK_FAILS(lunet_st_writer_add(w, "__metadata__", 2, s, v), LUNET_ERR_ARGUMENT, "reserved");
    CHECK_FAILS(lunet_st_writer_add(w, "n", 1, neg, v), LUNET_ERR_ARGUMENT, "dimension 0 is negative");
    CHECK_FAILS(lunet_st_writer_add(w, "n", 9, big, v), LUNET_ERR_ARGUMENT, "0 to 8 are supported");
    CHECK_FAILS(lunet_st_writer_add(w, "n", 2, s, NULL), LUNET_ERR_ARGUMENT, "data is NULL");
    CHECK_FAILS(lunet_st_writer_add_tensor(w, "t", NULL), LUNET_ERR_ARGUMENT, "t");
    CHECK_FAILS(lunet_st_writer_set_metadata(w, "k", NULL), LUNET_ERR_ARGUMENT, "NULL");
    CHECK_FAILS(lunet_st_writer_add(w, "bad \xff utf8", 2, s, v), LUNET_ERR_ARGUMENT, "not valid UTF-8");
    CHECK_FAILS(lunet_st_writer_set_metadata(w, "k", "\xc3("), LUNET_ERR_ARGUMENT, "not valid UTF-8");
    CHECK_FAILS(lunet_st_writer_save(w, NULL), LUNET_ERR_ARGUMENT, "path is NULL");
    CHECK_FAILS(lunet_st_writer_save(NULL, "x"), LUNET_ERR_ARGUMENT, "writer is NULL");
    lunet_st_writer_free(w);
    lunet_st_writer_free(NULL);
    lunet_st_close(NULL);
}

/* Save failures leave the old file as it was and no temp file behind. */
static void test_atomic_save(void) {
    char path[600], dir_target[600], missing[700];
    tmp_path(path, sizeof path, "atomic.safetensors");
    float old_values[3] = {1, 2, 3};
    REQUIRE_OK(save_one(path, "old", 3, old_values));
    long old_size = 0;
    unsigned char *old_bytes = read_all(path, &old_size);

    /* the target is a directory: the rename fails */
    tmp_path(dir_target, sizeof dir_target, "a-directory");
    mkdir(dir_target, 0755);
    CHECK_FAILS(save_one(dir_target, "x", 3, old_values), LUNET_ERR_IO, "cannot rename");
    struct stat sb;
    CHECK(stat(dir_target, &sb) == 0 && S_ISDIR(sb.st_mode), "directory replaced");
    /* the directory does not exist */
    snprintf(missing, sizeof missing, "%s/no-such-dir/x.safetensors", tmp_root);
    CHECK_FAILS(save_one(missing, "x", 3, old_values), LUNET_ERR_IO, "cannot create");

    /* the writer fails half-way: a file size limit makes the data writes fail */
    float *big = calloc(1 << 16, sizeof(float));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &lim);
        lunet_status st = save_one(path, "new", 1 << 16, big);
        _exit(st == LUNET_ERR_IO && strstr(lunet_last_error(), "cannot write") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    free(big);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: save did not fail with an IO error");
    long size = 0;
    unsigned char *bytes = read_all(path, &size);
    CHECK(bytes && size == old_size && memcmp(bytes, old_bytes, (size_t)size) == 0, "old file changed");
    CHECK(temp_files_left() == 0, "%d temp files left in %s", temp_files_left(), tmp_root);
    free(bytes);
    free(old_bytes);

    /* a successful save replaces the file */
    float new_values[2] = {9, 8};
    REQUIRE_OK(save_one(path, "new", 2, new_values));
    lunet_st_file *f = NULL;
    REQUIRE_OK(lunet_st_open(path, &f));
    CHECK(lunet_st_find(f, "new") == 0 && lunet_st_find(f, "old") == -1, "not replaced");
    lunet_st_close(f);
    CHECK(temp_files_left() == 0, "temp files left after a good save");
}

/* Device tensors: add_tensor downloads, read_tensor uploads and checks the shape. */
static void test_device_tensors(void) {
    char path[600];
    tmp_path(path, sizeof path, "device.safetensors");
    int64_t shape[4] = {2, 3, 4, 5}, other[2] = {6, 20};
    float *host = NULL;
    lunet_tensor *t = test_tensor_random(4, shape, 11, &host);
    lunet_st_writer *w = NULL;
    REQUIRE_OK(lunet_st_writer_create(&w));
    REQUIRE_OK(lunet_st_writer_add_tensor(w, "t", t));
    CHECK_FAILS(lunet_st_writer_add_tensor(w, "t", t), LUNET_ERR_ARGUMENT, "already added");
    REQUIRE_OK(lunet_st_writer_save(w, path));
    lunet_st_writer_free(w);

    lunet_st_file *f = NULL;
    REQUIRE_OK(lunet_st_open(path, &f));
    lunet_tensor *back = test_tensor(4, shape, NULL);
    REQUIRE_OK(lunet_st_read_tensor(f, 0, back));
    float *got = test_download(back);
    CHECK(memcmp(got, host, 120 * sizeof(float)) == 0, "device round trip differs");
    lunet_tensor *wrong = test_tensor(2, other, NULL);
    CHECK_FAILS(lunet_st_read_tensor(f, 0, wrong), LUNET_ERR_SHAPE,
                "tensor 't' has shape [2,3,4,5] in");
    CHECK(strstr(lunet_last_error(), "but the tensor has shape [6,20]") != NULL, "%s", lunet_last_error());
    CHECK_FAILS(lunet_st_read_tensor(f, 0, NULL), LUNET_ERR_ARGUMENT, "t");
    CHECK_FAILS(lunet_st_read_tensor(f, 1, back), LUNET_ERR_ARGUMENT, "out of range");
    lunet_st_close(f);
    free(got);
    free(host);
    lunet_tensor_free(t);
    lunet_tensor_free(back);
    lunet_tensor_free(wrong);
}

int main(void) {
    const char *base = getenv("LUNET_TEST_TMP");
    mkdir(base ? base : "/tmp", 0755);
    snprintf(tmp_root, sizeof tmp_root, "%s/safetensors-%ld", base ? base : "/tmp", (long)getpid());
    mkdir(tmp_root, 0755);
    TEST_BEGIN();
    RUN(test_roundtrip_with_metadata);
    RUN(test_exact_byte_layout);
    RUN(test_reads_foreign_file);
    RUN(test_malformed_files);
    RUN(test_writer_rejects_bad_input);
    RUN(test_atomic_save);
    RUN(test_device_tensors);
    return TEST_END();
}
