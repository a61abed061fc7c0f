/* PNG: round trips for 1, 3 and 4 channels, clamping, images of every colour type and
 * bit depth built byte by byte here (independently of libpng), and the error paths. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static char tmp_root[512];

static void tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", tmp_root, name);
}

static int temp_files_left(void) {
    DIR *d = opendir(tmp_root);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

typedef struct raw_png {
    int width, height, bit_depth, color_type, interlace;
    const unsigned char *samples;   /* packed rows, without filter bytes (interlace 0) */
    const unsigned char *stream;    /* or the whole filtered scanline stream (interlace 1) */
    size_t stream_len;
    const unsigned char *palette;   /* n_palette RGB triples */
    int n_palette;
    const unsigned char *trans;
    int n_trans;
} raw_png;

/* The tests build PNG files byte by byte (chunks, CRC-32, a zlib stream of stored
 * deflate blocks, Adler-32), independently of the libpng code under test. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static void write_chunk(FILE *fp, const char *type, const unsigned char *data, size_t n) {
    unsigned char head[8];
    put_u32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uint32_t crc = crc32_update(crc32_update(0, head + 4, 4), data, n);
    unsigned char tail[4];
    put_u32(tail, crc);
    fwrite(head, 1, 8, fp);
    if (n) fwrite(data, 1, n, fp);
    fwrite(tail, 1, 4, fp);
}

/* zlib stream holding raw in stored (uncompressed) deflate blocks; *len receives its size. */
static unsigned char *zlib_stored(const unsigned char *raw, size_t n, size_t *len) {
    size_t blocks = n / 65535 + 1;
    unsigned char *z = malloc(2 + n + 5 * blocks + 4), *p = z;
    *p++ = 0x78; *p++ = 0x01;
    size_t done = 0;
    do {
        size_t k = n - done > 65535 ? 65535 : n - done;
        *p++ = (unsigned char)(done + k == n);   /* BFINAL, BTYPE 00 */
        *p++ = (unsigned char)k; *p++ = (unsigned char)(k >> 8);
        *p++ = (unsigned char)~k; *p++ = (unsigned char)(~k >> 8);
        memcpy(p, raw + done, k);
        p += k;
        done += k;
    } while (done < n);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) { a = (a + raw[i]) % 65521; b = (b + a) % 65521; }
    put_u32(p, (b << 16) | a);
    *len = (size_t)(p + 4 - z);
    return z;
}

static int write_raw_png(const char *path, const raw_png *img) {
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
    size_t rowbytes = ((size_t)img->width * (size_t)channels[img->color_type] * (size_t)img->bit_depth + 7) / 8;
    size_t n = img->stream ? img->stream_len : (rowbytes + 1) * (size_t)img->height;
    unsigned char *raw = malloc(n);
    if (img->stream) memcpy(raw, img->stream, n);
    for (int y = 0; !img->stream && y < img->height; y++) {
        raw[(size_t)y * (rowbytes + 1)] = 0;   /* filter type None */
        memcpy(raw + (size_t)y * (rowbytes + 1) + 1, img->samples + (size_t)y * rowbytes, rowbytes);
    }
    size_t zlen = 0;
    unsigned char *z = zlib_stored(raw, n, &zlen);
    FILE *fp = fopen(path, "wb");
    if (!fp) { free(raw); free(z); return 0; }
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char ihdr[13];
    put_u32(ihdr, (uint32_t)img->width);
    put_u32(ihdr + 4, (uint32_t)img->height);
    ihdr[8] = (unsigned char)img->bit_depth;
    ihdr[9] = (unsigned char)img->color_type;
    ihdr[10] = 0; ihdr[11] = 0;
    ihdr[12] = (unsigned char)img->interlace;
    fwrite(signature, 1, 8, fp);
    write_chunk(fp, "IHDR", ihdr, 13);
    if (img->palette) write_chunk(fp, "PLTE", img->palette, (size_t)img->n_palette * 3);
    if (img->trans) write_chunk(fp, "tRNS", img->trans, (size_t)img->n_trans);
    write_chunk(fp, "IDAT", z, zlen);
    write_chunk(fp, "IEND", NULL, 0);
    int ok = fclose(fp) == 0;
    free(raw);
    free(z);
    return ok;
}

/* Read path and compare with want (w x h x c floats) within tol. */
static void check_read(const char *path, int w, int h, int c, const float *want, double tol) {
    int gw = 0, gh = 0, gc = 0;
    float *px = NULL;
    REQUIRE_OK(lunet_png_read(path, &gw, &gh, &gc, &px));
    CHECK(gw == w && gh == h && gc == c, "%s: got %dx%dx%d, expected %dx%dx%d", path, gw, gh, gc, w, h, c);
    if (gw == w && gh == h && gc == c) {
        double err = test_rel_error(px, want, (int64_t)w * h * c);
        CHECK(err <= tol, "%s: error %g", path, err);
    }
    lunet_png_free(px);
}

static void test_roundtrip_1_3_4_channels(void) {
    const int w = 13, h = 7;
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        size_t n = (size_t)w * h * (size_t)c;
        float *px = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) px[i] = (float)((i * 37 + (size_t)c) % 256) / 255.0f;
        char path[600], name[32];
        snprintf(name, sizeof name, "rt%d.png", c);
        tmp_path(path, sizeof path, name);
        REQUIRE_OK(lunet_png_write(path, w, h, c, px));
        if (c != 4) {
            check_read(path, w, h, c, px, 0.0);
        } else {   /* transparency is composited onto white on reading */
            float *rgb = malloc((size_t)w * h * 3 * sizeof(float));
            for (int p = 0; p < w * h; p++) {
                float a = px[p * 4 + 3];
                for (int k = 0; k < 3; k++) rgb[p * 3 + k] = px[p * 4 + k] * a + (1.0f - a);
            }
            check_read(path, w, h, 3, rgb, 2.0 / 255.0);
            free(rgb);
        }
        free(px);
    }
    CHECK(temp_files_left() == 0, "temp files left");
}

static void test_write_clamps_and_rounds(void) {
    char path[600];
    tmp_path(path, sizeof path, "clamp.png");
    const float px[6] = {-0.5f, 1.5f, 0.0f / 0.0f, 0.5f, 1.0f / 255.0f * 0.49f, 0.999f};
    const float want[6] = {0, 1, 0, 128 / 255.0f, 0, 1};
    REQUIRE_OK(lunet_png_write(path, 3, 2, 1, px));
    check_read(path, 3, 2, 1, want, 1e-7);
}

static void test_reads_16_bit(void) {
    char path[600];
    tmp_path(path, sizeof path, "grey16.png");
    const unsigned short values[6] = {0, 1, 257, 40000, 65534, 65535};
    unsigned char samples[12];
    float want[6];
    for (int i = 0; i < 6; i++) {
        samples[2 * i] = (unsigned char)(values[i] >> 8);   /* PNG samples are big-endian */
        samples[2 * i + 1] = (unsigned char)(values[i] & 0xFF);
        want[i] = (float)values[i] / 65535.0f;
    }
    raw_png img = {.width = 3, .height = 2, .bit_depth = 16, .color_type = 0, .samples = samples};
    REQUIRE(write_raw_png(path, &img), "cannot write %s", path);
    check_read(path, 3, 2, 1, want, 1e-7);

    /* 16-bit RGBA, Adam7-interlaced: composited onto white at 16-bit precision */
    tmp_path(path, sizeof path, "rgba16.png");
    unsigned char rgba[2 * 2 * 4 * 2];
    float rgb_want[2 * 2 * 3];
    for (int p = 0; p < 4; p++)
        for (int k = 0; k < 4; k++) {
            unsigned v = (unsigned)(p * 16411 + k * 3001) & 0xFFFF;
            rgba[(p * 4 + k) * 2] = (unsigned char)(v >> 8);
            rgba[(p * 4 + k) * 2 + 1] = (unsigned char)(v & 0xFF);
        }
    for (int p = 0; p < 4; p++) {
        unsigned av = ((unsigned)rgba[(p * 4 + 3) * 2] << 8) | rgba[(p * 4 + 3) * 2 + 1];
        float a = (float)av / 65535.0f;
        for (int k = 0; k < 3; k++) {
            unsigned v = ((unsigned)rgba[(p * 4 + k) * 2] << 8) | rgba[(p * 4 + k) * 2 + 1];
            rgb_want[p * 3 + k] = (float)v / 65535.0f * a + (1.0f - a);
        }
    }
    /* Adam7 on 2x2: pass 1 holds (0,0), pass 6 holds (1,0), pass 7 the second row */
    unsigned char stream[9 + 9 + 17] = {0};
    memcpy(stream + 1, rgba, 8);
    memcpy(stream + 10, rgba + 8, 8);
    memcpy(stream + 19, rgba + 16, 16);
    raw_png img2 = {.width = 2, .height = 2, .bit_depth = 16, .color_type = 6, .interlace = 1,
                    .stream = stream, .stream_len = sizeof stream};
    REQUIRE(write_raw_png(path, &img2), "cannot write %s", path);
    check_read(path, 2, 2, 3, rgb_want, 1e-4);
}

static void test_reads_palette_and_low_bit_depths(void) {
    char path[600];
    /* 2-bit palette, 4 pixels per byte, with a tRNS chunk (composited onto white) */
    const unsigned char palette[9] = {255, 0, 0, 0, 128, 255, 10, 20, 30};
    const unsigned char trans[3] = {0, 128, 255};
    const unsigned char idx[2] = {(0 << 6) | (1 << 4) | (2 << 2) | 1, (2 << 6) | (0 << 4)};
    const int pixel_index[6] = {0, 1, 2, 1, 2, 0};
    float want[18];
    for (int p = 0; p < 6; p++) {
        float a = trans[pixel_index[p]] / 255.0f;
        for (int k = 0; k < 3; k++)
            want[p * 3 + k] = palette[pixel_index[p] * 3 + k] / 255.0f * a + (1.0f - a);
    }
    tmp_path(path, sizeof path, "palette2.png");
    raw_png img = {.width = 6, .height = 1, .bit_depth = 2, .color_type = 3, .samples = idx,
                   .palette = palette, .n_palette = 3, .trans = trans, .n_trans = 3};
    REQUIRE(write_raw_png(path, &img), "cannot write %s", path);
    check_read(path, 6, 1, 3, want, 2.0 / 255.0);

    /* 1-bit grey: 0 -> 0.0, 1 -> 1.0 */
    const unsigned char bits[1] = {0xA5};   /* 1010 0101 */
    const float grey_want[8] = {1, 0, 1, 0, 0, 1, 0, 1};
    tmp_path(path, sizeof path, "grey1.png");
    raw_png img1 = {.width = 8, .height = 1, .bit_depth = 1, .color_type = 0, .samples = bits};
    REQUIRE(write_raw_png(path, &img1), "cannot write %s", path);
    check_read(path, 8, 1, 1, grey_want, 0.0);

    /* 4-bit grey: v -> v / 15 */
    const unsigned char nibbles[2] = {0x0F, 0x7A};
    const float nib_want[4] = {0, 1, 7 / 15.0f, 10 / 15.0f};
    tmp_path(path, sizeof path, "grey4.png");
    raw_png img4 = {.width = 4, .height = 1, .bit_depth = 4, .color_type = 0, .samples = nibbles};
    REQUIRE(write_raw_png(path, &img4), "cannot write %s", path);
    check_read(path, 4, 1, 1, nib_want, 1e-6);

    /* 8-bit grey + alpha: one channel; fully transparent reads as white */
    const unsigned char ga[4] = {51, 0, 204, 255};
    const float ga_want[2] = {1.0f, 0.8f};
    tmp_path(path, sizeof path, "greyalpha.png");
    raw_png imga = {.width = 2, .height = 1, .bit_depth = 8, .color_type = 4, .samples = ga};
    REQUIRE(write_raw_png(path, &imga), "cannot write %s", path);
    check_read(path, 2, 1, 1, ga_want, 2.0 / 255.0);
}

static void copy_prefix(const char *src, const char *dst, long keep) {
    FILE *in = fopen(src, "rb");
    FILE *out = fopen(dst, "wb");
    for (long i = 0; in && out && i < keep; i++) {
        int ch = fgetc(in);
        if (ch == EOF) break;
        fputc(ch, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
}

static void test_read_errors(void) {
    char path[600], good[600];
    int w, h, c;
    float *px = (float *)1;
    tmp_path(path, sizeof path, "text.png");
    FILE *f = fopen(path, "w");
    fputs("this is a text file, not an image\n", f);
    fclose(f);
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_FORMAT, "is not a PNG file");
    CHECK(px == NULL, "pixels not cleared");

    /* a valid image cut in the middle of its pixel data, and one without its end */
    float img[64 * 64];
    test_fill_random(img, 64 * 64, 5);
    tmp_path(good, sizeof good, "good.png");
    REQUIRE_OK(lunet_png_write(good, 64, 64, 1, img));
    struct stat sb;
    REQUIRE(stat(good, &sb) == 0, "stat");
    tmp_path(path, sizeof path, "truncated.png");
    copy_prefix(good, path, (long)sb.st_size / 2);
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_FORMAT, "corrupt or truncated PNG");
    CHECK(strstr(lunet_last_error(), "truncated.png") != NULL, "no file name: %s", lunet_last_error());
    copy_prefix(good, path, (long)sb.st_size - 6);
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_FORMAT, "corrupt or truncated PNG");
    copy_prefix(good, path, 20);   /* signature and part of IHDR */
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_FORMAT, "corrupt or truncated PNG");

    /* a flipped byte inside IHDR breaks its CRC */
    long size = (long)sb.st_size;
    unsigned char *bytes = malloc((size_t)size);
    FILE *in = fopen(good, "rb");
    REQUIRE(in && fread(bytes, 1, (size_t)size, in) == (size_t)size, "read good.png");
    fclose(in);
    bytes[18] ^= 0x40;
    FILE *out = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size, out);
    fclose(out);
    free(bytes);
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_FORMAT, "CRC");

    tmp_path(path, sizeof path, "missing.png");
    CHECK_FAILS(lunet_png_read(path, &w, &h, &c, &px), LUNET_ERR_IO, "No such file");
    CHECK_FAILS(lunet_png_read(NULL, &w, &h, &c, &px), LUNET_ERR_ARGUMENT, "must not be NULL");
}

static void test_write_errors_and_atomicity(void) {
    char path[600], dir[600];
    const float px[12] = {0};
    tmp_path(path, sizeof path, "w.png");
    CHECK_FAILS(lunet_png_write(path, 2, 2, 2, px), LUNET_ERR_ARGUMENT, "channels must be 1, 3 or 4, got 2");
    CHECK_FAILS(lunet_png_write(path, 0, 2, 1, px), LUNET_ERR_ARGUMENT, "size 0x2");
    CHECK_FAILS(lunet_png_write(path, 2, -1, 1, px), LUNET_ERR_ARGUMENT, "size 2x-1");
    CHECK_FAILS(lunet_png_write(path, 2, 2, 1, NULL), LUNET_ERR_ARGUMENT, "pixels is NULL");
    CHECK_FAILS(lunet_png_write(NULL, 2, 2, 1, px), LUNET_ERR_ARGUMENT, "path is NULL");
    snprintf(dir, sizeof dir, "%s/no-such-dir/x.png", tmp_root);
    CHECK_FAILS(lunet_png_write(dir, 2, 2, 1, px), LUNET_ERR_IO, "cannot create");
    /* the target is a directory: nothing is replaced and no temp file stays */
    tmp_path(dir, sizeof dir, "a-directory.png");
    mkdir(dir, 0755);
    CHECK_FAILS(lunet_png_write(dir, 2, 2, 1, px), LUNET_ERR_IO, "cannot rename");
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "directory replaced");
    CHECK(temp_files_left() == 0, "%d temp files left", temp_files_left());
}

int main(void) {
    const char *base = getenv("LUNET_TEST_TMP");
    mkdir(base ? base : "/tmp", 0755);
    snprintf(tmp_root, sizeof tmp_root, "%s/png-%ld", base ? base : "/tmp", (long)getpid());
    mkdir(tmp_root, 0755);
    TEST_BEGIN();
    RUN(test_roundtrip_1_3_4_channels);
    RUN(test_write_clamps_and_rounds);
    RUN(test_reads_16_bit);
    RUN(test_reads_palette_and_low_bit_depths);
    RUN(test_read_errors);
    RUN(test_write_errors_and_atomicity);
    return TEST_END();
}
