/* test_tuning.c — the tuning store: its key table, get/set with bad keys and values,
 * save/load round trips, every kind of bad file (rejected with the line named and the
 * store untouched), the automatic load at context creation (LUNET_TUNING=0 skips it, a
 * bad file is ignored with a warning), and one store per context. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testlib.h"

static char tmp_root[512];

/* The keys the ops read through lunet__tuned: each must be in the table. */
static const char *const KEYS_READ_BY_OPS[] = {"gemm.variant", "gemm.rm", "gemm.rn", "gemm.dm",
                                               "gemm.dn", "gemm.dv", "gemm.tile", "conv.algo",
                                               "conv.pos", "conv.taps", "conv.layout"};

static void write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(text, 1, len, f);
    fclose(f);
}

static char *slurp(const char *path) {
    static char buf[8192];
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *get(lunet_context *ctx, const char *key) {
    static char value[64];
    if (lunet_tuning_get(ctx, key, value, sizeof value) != LUNET_OK)
        snprintf(value, sizeof value, "<error: %s>", lunet_last_error());
    return value;
}

/* Files in dir whose name contains `part`. */
static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void test_key_table(void) {
    int n = lunet_tuning_key_count();
    CHECK(n >= 7, "%d keys", n);
    CHECK(lunet_tuning_key_at(-1) == NULL && lunet_tuning_key_at(n) == NULL, "out of range");
    lunet_context *ctx = test_ctx();
    for (int i = 0; i < n; i++) {
        const lunet_tuning_key *k = lunet_tuning_key_at(i);
        CHECK(k->name && *k->name && k->allowed && *k->allowed && k->description &&
                  *k->description, "key %d incomplete", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(k->name, lunet_tuning_key_at(j)->name) != 0, "%s twice", k->name);
        /* both defaults are allowed values (set rejects anything else) */
        CHECK(lunet_tuning_set(ctx, k->name, k->cpu_default) == LUNET_OK, "%s cpu default %s: %s",
              k->name, k->cpu_default, lunet_last_error());
        CHECK(lunet_tuning_set(ctx, k->name, k->gpu_default) == LUNET_OK, "%s gpu default %s: %s",
              k->name, k->gpu_default, lunet_last_error());
    }
    for (size_t i = 0; i < sizeof KEYS_READ_BY_OPS / sizeof KEYS_READ_BY_OPS[0]; i++)
        CHECK(lunet_tuning_is_set(ctx, KEYS_READ_BY_OPS[i]) >= 0, "ops read unknown key %s",
              KEYS_READ_BY_OPS[i]);
    REQUIRE_OK(lunet_tuning_reset(ctx));
}

/* The tests run on PoCL, a CPU: the CPU defaults. */
/* The default of key on ctx's device: CPUs and GPUs differ (gemm.variant: reg or tiled). */
static const char *device_default(const lunet_context *ctx, const char *key) {
    for (int i = 0; i < lunet_tuning_key_count(); i++) {
        const lunet_tuning_key *k = lunet_tuning_key_at(i);
        if (strcmp(k->name, key) == 0) return lunet__is_gpu(ctx) ? k->gpu_default : k->cpu_default;
    }
    return "<unknown key>";
}

static void test_defaults_get_set(void) {
    lunet_context *ctx = test_ctx();
    REQUIRE_OK(lunet_tuning_reset(ctx));
    const char *variant = device_default(ctx, "gemm.variant");
    CHECK(strcmp(variant, lunet__is_gpu(ctx) ? "tiled" : "reg") == 0, "default variant %s", variant);
    CHECK(strcmp(get(ctx, "gemm.variant"), variant) == 0, "variant %s", get(ctx, "gemm.variant"));
    CHECK(strcmp(get(ctx, "gemm.rm"), "8") == 0, "rm %s", get(ctx, "gemm.rm"));
    CHECK(strcmp(get(ctx, "gemm.tile"), "64") == 0, "tile %s", get(ctx, "gemm.tile"));
    CHECK(lunet__tuned(ctx, "gemm.rn", -1) == 16, "rn %d", lunet__tuned(ctx, "gemm.rn", -1));
    CHECK(lunet_tuning_is_set(ctx, "gemm.rm") == 0, "rm set at default");

    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.rm", "4"));
    CHECK(strcmp(get(ctx, "gemm.rm"), "4") == 0, "rm %s", get(ctx, "gemm.rm"));
    CHECK(lunet__tuned(ctx, "gemm.rm", -1) == 4, "tuned rm %d", lunet__tuned(ctx, "gemm.rm", -1));
    CHECK(lunet_tuning_is_set(ctx, "gemm.rm") == 1, "rm not marked set");
    /* names are stored as their position in the allowed list */
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.variant", "tiled"));
    CHECK(lunet__tuned(ctx, "gemm.variant", -1) == 1, "tiled is %d", lunet__tuned(ctx, "gemm.variant", -1));
    CHECK(strcmp(get(ctx, "gemm.variant"), "tiled") == 0, "variant %s", get(ctx, "gemm.variant"));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.variant", "reg"));
    CHECK(lunet__tuned(ctx, "gemm.variant", -1) == 0, "reg is %d", lunet__tuned(ctx, "gemm.variant", -1));
    /* NULL restores the default of that key only */
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.variant", NULL));
    CHECK(strcmp(get(ctx, "gemm.variant"), variant) == 0 && lunet_tuning_is_set(ctx, "gemm.variant") == 0,
          "variant after NULL: %s", get(ctx, "gemm.variant"));
    CHECK(strcmp(get(ctx, "gemm.rm"), "4") == 0, "rm lost: %s", get(ctx, "gemm.rm"));
    REQUIRE_OK(lunet_tuning_reset(ctx));
    CHECK(strcmp(get(ctx, "gemm.rm"), "8") == 0 && lunet_tuning_is_set(ctx, "gemm.rm") == 0,
          "rm after reset %s", get(ctx, "gemm.rm"));
    CHECK(lunet__tuned(ctx, "no.such", 42) == 42, "fallback for an unknown key");
}

static void test_bad_keys_and_values(void) {
    lunet_context *ctx = test_ctx();
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.rm", "2"));
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.rm", "3"), LUNET_ERR_ARGUMENT,
                "tuning_set: gemm.rm = \"3\" is not allowed (allowed: 2|4|8|16)");
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.rm", ""), LUNET_ERR_ARGUMENT, "is not allowed");
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.rm", "08"), LUNET_ERR_ARGUMENT, "is not allowed");
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.rm", " 4"), LUNET_ERR_ARGUMENT, "is not allowed");
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.variant", "tile"), LUNET_ERR_ARGUMENT,
                "gemm.variant = \"tile\" is not allowed (allowed: reg|tiled)");
    CHECK_FAILS(lunet_tuning_set(ctx, "gemm.rmm", "4"), LUNET_ERR_ARGUMENT,
                "tuning_set: unknown key \"gemm.rmm\" (known keys: gemm.variant, gemm.rm");
    CHECK_FAILS(lunet_tuning_set(ctx, NULL, "4"), LUNET_ERR_ARGUMENT, "unknown key \"(null)\"");
    CHECK_FAILS(lunet_tuning_set(NULL, "gemm.rm", "4"), LUNET_ERR_ARGUMENT, "ctx is NULL");
    CHECK(strcmp(get(ctx, "gemm.rm"), "2") == 0, "a rejected value changed the store: %s",
          get(ctx, "gemm.rm"));
    char small[2], message[80];
    const char *variant = device_default(ctx, "gemm.variant");
    snprintf(message, sizeof message, "gemm.variant = %s needs %zu bytes, got 2", variant,
             strlen(variant) + 1);
    CHECK_FAILS(lunet_tuning_get(ctx, "gemm.variant", small, sizeof small), LUNET_ERR_ARGUMENT,
                message);
    CHECK_FAILS(lunet_tuning_get(ctx, "x", small, sizeof small), LUNET_ERR_ARGUMENT, "unknown key \"x\"");
    CHECK(lunet_tuning_is_set(ctx, "x") == -1, "is_set of an unknown key");
    REQUIRE_OK(lunet_tuning_reset(ctx));
}

static void test_save_load_roundtrip(void) {
    lunet_context *ctx = test_ctx();
    char path[700];
    snprintf(path, sizeof path, "%s/roundtrip.txt", tmp_root);
    /* a variant other than the device's default, so that the file keeps it */
    const char *other = strcmp(device_default(ctx, "gemm.variant"), "reg") == 0 ? "tiled" : "reg";
    char expected[128];
    snprintf(expected, sizeof expected, "\ngemm.variant = %s\ngemm.rm = 16\ngemm.dv = 8\n", other);
    REQUIRE_OK(lunet_tuning_reset(ctx));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.variant", other));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.rm", "16"));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.dv", "8"));
    REQUIRE_OK(lunet_tuning_save(ctx, path));
    const char *text = slurp(path);
    CHECK(strstr(text, expected) != NULL, "file:\n%s", text);
    CHECK(strstr(text, "gemm.rn") == NULL, "a key at its default was written:\n%s", text);
    CHECK(strstr(text, "# device: ") != NULL, "no device line:\n%s", text);
    CHECK(count_files(tmp_root, ".tmp.") == 0, "temporary file left behind");

    /* load replaces the whole store: keys absent from the file go back to the default */
    REQUIRE_OK(lunet_tuning_reset(ctx));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.rn", "4"));
    REQUIRE_OK(lunet_tuning_load(ctx, path));
    CHECK(strcmp(get(ctx, "gemm.variant"), other) == 0, "variant %s", get(ctx, "gemm.variant"));
    CHECK(strcmp(get(ctx, "gemm.rm"), "16") == 0, "rm %s", get(ctx, "gemm.rm"));
    CHECK(strcmp(get(ctx, "gemm.dv"), "8") == 0, "dv %s", get(ctx, "gemm.dv"));
    CHECK(strcmp(get(ctx, "gemm.rn"), "16") == 0 && lunet_tuning_is_set(ctx, "gemm.rn") == 0,
          "rn %s", get(ctx, "gemm.rn"));
    CHECK(lunet_tuning_is_set(ctx, "gemm.rm") == 1, "loaded key not marked set");

    /* hand-written: comments, blank lines, spaces, CRLF */
    const char *hand = "# mine\r\n\r\n  gemm.rn=8   # narrower\r\n\tgemm.variant =reg\r\n";
    write_text(path, hand, strlen(hand));
    REQUIRE_OK(lunet_tuning_load(ctx, path));
    CHECK(strcmp(get(ctx, "gemm.rn"), "8") == 0 && strcmp(get(ctx, "gemm.variant"), "reg") == 0,
          "rn %s variant %s", get(ctx, "gemm.rn"), get(ctx, "gemm.variant"));
    CHECK(strcmp(get(ctx, "gemm.rm"), "8") == 0, "rm %s", get(ctx, "gemm.rm"));
    REQUIRE_OK(lunet_tuning_reset(ctx));
}

/* Each bad file fails with LUNET_ERR_FORMAT naming the problem; the store keeps its values. */
static void test_bad_files(void) {
    lunet_context *ctx = test_ctx();
    char path[700];
    snprintf(path, sizeof path, "%s/bad.txt", tmp_root);
    REQUIRE_OK(lunet_tuning_reset(ctx));
    REQUIRE_OK(lunet_tuning_set(ctx, "gemm.rm", "2"));
    static const struct {
        const char *text, *message;
    } CASES[] = {
        {"gemm.rm 4\n", "line 1: expected \"key = value\", got \"gemm.rm 4\""},
        {"# ok\ngemm.rx = 4\n", "line 2: unknown key \"gemm.rx\" (known keys: gemm.variant"},
        {"gemm.rm = 3\n", "line 1: gemm.rm = \"3\" is not allowed (allowed: 2|4|8|16)"},
        {"gemm.rm = \n", "line 1: gemm.rm = \"\" is not allowed"},
        {"= 4\n", "line 1: unknown key \"\""},
        {"gemm.rm = 4\ngemm.rm = 8\n", "line 2: gemm.rm is given twice"},
        {"gemm.variant = reg tiled\n", "gemm.variant = \"reg tiled\" is not allowed"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        write_text(path, CASES[i].text, strlen(CASES[i].text));
        CHECK_FAILS(lunet_tuning_load(ctx, path), LUNET_ERR_FORMAT, CASES[i].message);
        CHECK(strstr(lunet_last_error(), path) != NULL, "no path in \"%s\"", lunet_last_error());
    }
    write_text(path, "gemm.rm = 4\n\0\x01\x02", 15);
    CHECK_FAILS(lunet_tuning_load(ctx, path), LUNET_ERR_FORMAT, "binary data, not a tuning file");
    static char big[70000];
    memset(big, '#', sizeof big);
    write_text(path, big, sizeof big);
    CHECK_FAILS(lunet_tuning_load(ctx, path), LUNET_ERR_FORMAT, "larger than 65536 bytes");
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no-such-file.txt", tmp_root);
    CHECK_FAILS(lunet_tuning_load(ctx, missing), LUNET_ERR_IO, "cannot open: No such file");
    CHECK(strcmp(get(ctx, "gemm.rm"), "2") == 0 && lunet_tuning_is_set(ctx, "gemm.variant") == 0,
          "a failed load changed the store: rm %s", get(ctx, "gemm.rm"));
    /* a save that cannot write leaves nothing behind */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no-such-dir/t.txt", tmp_root);
    CHECK_FAILS(lunet_tuning_save(ctx, nodir), LUNET_ERR_IO, "cannot create");
    CHECK_FAILS(lunet_tuning_save(NULL, nodir), LUNET_ERR_ARGUMENT, "ctx is NULL");
    REQUIRE_OK(lunet_tuning_reset(ctx));
}

static lunet_context *fresh_context(void) {
    lunet_context *ctx = NULL;
    if (lunet_context_create(NULL, &ctx) != LUNET_OK) {
        printf("FATAL: context: %s\n", lunet_last_error());
        exit(2);
    }
    return ctx;
}

/* The per-device file in the cache directory is read when a context is created. */
static void test_autoload(void) {
    char cdir[700];
    snprintf(cdir, sizeof cdir, "%s/cache", tmp_root);
    setenv("LUNET_CACHE_DIR", cdir, 1);
    unsetenv("LUNET_TUNING");
    lunet_context *a = fresh_context();
    const char *path = lunet_tuning_path(a);
    const char *file = strrchr(path, '/');
    CHECK(strncmp(path, cdir, strlen(cdir)) == 0 && file && strncmp(file, "/tuning-", 8) == 0 &&
              strlen(file) == strlen("/tuning-0123456789abcdef.txt"),
          "path %s", path);
    CHECK(lunet_tuning_warning(a)[0] == '\0', "warning without a file: %s", lunet_tuning_warning(a));
    REQUIRE_OK(lunet_tuning_set(a, "gemm.rm", "4"));
    REQUIRE_OK(lunet_tuning_save(a, NULL));   /* creates the cache directory */
    CHECK(access(path, R_OK) == 0, "no file at %s", path);

    lunet_context *b = fresh_context();
    CHECK(strcmp(lunet_tuning_path(b), path) == 0, "another path for the same device");
    CHECK(strcmp(get(b, "gemm.rm"), "4") == 0 && lunet_tuning_is_set(b, "gemm.rm") == 1,
          "not loaded: rm %s", get(b, "gemm.rm"));
    /* contexts own their stores */
    REQUIRE_OK(lunet_tuning_set(a, "gemm.rm", "2"));
    CHECK(strcmp(get(b, "gemm.rm"), "4") == 0, "contexts share a store");
    lunet_context_destroy(b);

    setenv("LUNET_TUNING", "0", 1);
    b = fresh_context();
    CHECK(strcmp(get(b, "gemm.rm"), "8") == 0, "LUNET_TUNING=0 still loaded: rm %s", get(b, "gemm.rm"));
    lunet_context_destroy(b);
    unsetenv("LUNET_TUNING");

    /* a corrupt file: the context still opens, with the defaults and a warning */
    write_text(path, "gemm.rm = 5\n", 12);
    b = fresh_context();
    CHECK(strcmp(get(b, "gemm.rm"), "8") == 0, "bad file applied: rm %s", get(b, "gemm.rm"));
    const char *w = lunet_tuning_warning(b);
    CHECK(strstr(w, path) && strstr(w, "line 1: gemm.rm = \"5\" is not allowed") &&
              strstr(w, "the file is ignored and the device defaults apply"),
          "warning: %s", w);
    CHECK(strstr(lunet_last_error(), "warning: ") == lunet_last_error(), "last error: %s",
          lunet_last_error());
    /* an explicit load of the same file is an error, not a warning */
    CHECK_FAILS(lunet_tuning_load(b, NULL), LUNET_ERR_FORMAT, "is not allowed");
    lunet_context_destroy(b);

    remove(path);
    b = fresh_context();
    CHECK(lunet_tuning_warning(b)[0] == '\0' && strcmp(get(b, "gemm.rm"), "8") == 0,
          "after removing the file: rm %s, warning %s", get(b, "gemm.rm"), lunet_tuning_warning(b));
    lunet_context_destroy(b);
    lunet_context_destroy(a);

    /* no cache directory at all: no path, save(NULL) says so */
    setenv("LUNET_CACHE_DIR", "", 1);
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CACHE_HOME");
    char home_copy[600] = "", xdg_copy[600] = "";
    if (home) snprintf(home_copy, sizeof home_copy, "%s", home);
    if (xdg) snprintf(xdg_copy, sizeof xdg_copy, "%s", xdg);
    unsetenv("HOME"), unsetenv("XDG_CACHE_HOME");
    b = fresh_context();
    CHECK(lunet_tuning_path(b)[0] == '\0', "path without a cache dir: %s", lunet_tuning_path(b));
    CHECK_FAILS(lunet_tuning_save(b, NULL), LUNET_ERR_IO, "no path given and no cache directory");
    lunet_context_destroy(b);
    if (home) setenv("HOME", home_copy, 1);
    if (xdg) setenv("XDG_CACHE_HOME", xdg_copy, 1);
}

int main(void) {
    const char *base = getenv("LUNET_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/tuning-%ld", base ? base : "/tmp", (long)getpid());
    mkdir(base ? base : "/tmp", 0755);
    mkdir(tmp_root, 0755);
    TEST_BEGIN();
    RUN(test_key_table);
    RUN(test_defaults_get_set);
    RUN(test_bad_keys_and_values);
    RUN(test_save_load_roundtrip);
    RUN(test_bad_files);
    RUN(test_autoload);
    return TEST_END();
}
