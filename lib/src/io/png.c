/* png.c — PNG images through libpng, as float pixels in [0,1], row-major HWC.
 *
 * libpng reports errors by calling an error function that must not return; ours
 * stores the message and longjmps back to the setjmp in the function that called
 * libpng. Every resource lives in a struct outside that function's locals, so it is
 * freed correctly after the jump. Warnings are ignored (never printed). */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define PNG_MAX_SIDE 1000000   /* libpng's default user limit on width and height */

typedef struct png_errors {
    jmp_buf jump;
    char message[256];
} png_errors;

static void on_png_error(png_structp png, png_const_charp message) {
    png_errors *e = png_get_error_ptr(png);
    snprintf(e->message, sizeof e->message, "%s", message);
    longjmp(e->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/* ---- reading ---- */

typedef struct png_reader {
    const char *path;
    FILE *fp;
    png_structp png;
    png_infop info;
    png_errors errors;
    unsigned char *raw;     /* decoded rows, 8 or 16 bits per sample */
    png_bytep *rows;
    float *pixels;
    int width, height, channels;
} png_reader;

/* Expand everything to 8/16-bit grey or RGB; transparency is composited onto white, as
 * an image viewer shows it (a black digit on a transparent canvas reads as ink on paper). */
static void set_transforms(png_reader *r) {
    png_byte color = png_get_color_type(r->png, r->info);
    int depth = png_get_bit_depth(r->png, r->info) == 16 ? 16 : 8;
    png_set_expand(r->png);   /* palette -> RGB, 1/2/4-bit grey -> 8-bit, tRNS -> alpha */
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(r->png, r->info, PNG_INFO_tRNS)) {
        png_uint_16 white = depth == 16 ? 65535 : 255;
        png_color_16 background = {0, white, white, white, white};
        png_set_background(r->png, &background, PNG_BACKGROUND_GAMMA_SCREEN, 0, 1.0);
    }
    (void)png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
}

static lunet_status alloc_image(png_reader *r, size_t rowbytes) {
    size_t samples = (size_t)r->width * (size_t)r->height * (size_t)r->channels;
    r->raw = malloc(rowbytes * (size_t)r->height);
    r->rows = malloc((size_t)r->height * sizeof(png_bytep));
    r->pixels = malloc(samples * sizeof(float));
    if (!r->raw || !r->rows || !r->pixels)
        return lunet__fail(LUNET_ERR_MEMORY, "png_read: %s: out of host memory for %dx%d pixels",
                           r->path, r->width, r->height);
    for (int y = 0; y < r->height; y++) r->rows[y] = r->raw + (size_t)y * rowbytes;
    return LUNET_OK;
}

static void convert_samples(png_reader *r, int bit_depth) {
    size_t n = (size_t)r->width * (size_t)r->channels;
    for (int y = 0; y < r->height; y++) {
        const unsigned char *src = r->rows[y];
        float *dst = r->pixels + (size_t)y * n;
        for (size_t i = 0; i < n; i++)
            dst[i] = bit_depth == 16 ? (float)((src[2 * i] << 8) | src[2 * i + 1]) / 65535.0f
                                     : (float)src[i] / 255.0f;
    }
}

/* All libpng calls of a read; returns through the longjmp on a libpng error. */
static lunet_status read_body(png_reader *r) {
    if (setjmp(r->errors.jump))
        return lunet__fail(LUNET_ERR_FORMAT, "png_read: %s: corrupt or truncated PNG: %s", r->path,
                           r->errors.message);
    png_init_io(r->png, r->fp);
    png_set_sig_bytes(r->png, 8);
    png_read_info(r->png, r->info);
    png_uint_32 w = png_get_image_width(r->png, r->info), h = png_get_image_height(r->png, r->info);
    if (w == 0 || h == 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return lunet__fail(LUNET_ERR_FORMAT, "png_read: %s: unsupported size %ux%u", r->path,
                           (unsigned)w, (unsigned)h);
    set_transforms(r);
    r->width = (int)w;
    r->height = (int)h;
    r->channels = png_get_channels(r->png, r->info);
    int bit_depth = png_get_bit_depth(r->png, r->info);
    lunet_status st = alloc_image(r, png_get_rowbytes(r->png, r->info));
    if (st != LUNET_OK) return st;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);   /* checks the rest of the file up to IEND */
    convert_samples(r, bit_depth);
    return LUNET_OK;
}

static lunet_status open_png(png_reader *r) {
    r->fp = fopen(r->path, "rb");
    if (!r->fp) return lunet__fail(LUNET_ERR_IO, "png_read: cannot open %s: %s", r->path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, 8, r->fp);
    if (got < 8 || png_sig_cmp(sig, 0, 8) != 0)
        return lunet__fail(LUNET_ERR_FORMAT, "png_read: %s is not a PNG file (bad signature)", r->path);
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->errors, on_png_error, on_png_warning);
    if (r->png) r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info) return lunet__fail(LUNET_ERR_MEMORY, "png_read: out of host memory");
    return LUNET_OK;
}

lunet_status lunet_png_read(const char *path, int *width, int *height, int *channels, float **pixels) {
    if (!path || !width || !height || !channels || !pixels)
        return lunet__fail(LUNET_ERR_ARGUMENT, "png_read: path, width, height, channels and pixels must not be NULL");
    *pixels = NULL;
    png_reader r;
    memset(&r, 0, sizeof r);
    r.path = path;
    lunet_status st = open_png(&r);
    if (st == LUNET_OK) st = read_body(&r);
    if (r.png) png_destroy_read_struct(&r.png, r.info ? &r.info : NULL, NULL);
    if (r.fp) fclose(r.fp);
    free(r.rows);
    free(r.raw);
    if (st != LUNET_OK) { free(r.pixels); return st; }
    *width = r.width;
    *height = r.height;
    *channels = r.channels;
    *pixels = r.pixels;
    return LUNET_OK;
}

void lunet_png_free(float *pixels) { free(pixels); }

/* ---- writing ---- */

typedef struct png_writer {
    const char *tmp;
    FILE *fp;
    png_structp png;
    png_infop info;
    png_errors errors;
    int width, height, channels;
    png_bytep *rows;
} png_writer;

static unsigned char to_byte(float v) {
    if (!(v > 0.0f)) return 0;   /* also NaN */
    if (v >= 1.0f) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

static lunet_status make_rows(png_writer *w, const float *pixels) {
    size_t n = (size_t)w->width * (size_t)w->channels;
    w->rows = calloc((size_t)w->height, sizeof(png_bytep));
    if (!w->rows) return lunet__fail(LUNET_ERR_MEMORY, "png_write: out of host memory");
    for (int y = 0; y < w->height; y++) {
        w->rows[y] = malloc(n);
        if (!w->rows[y]) return lunet__fail(LUNET_ERR_MEMORY, "png_write: out of host memory");
        for (size_t i = 0; i < n; i++) w->rows[y][i] = to_byte(pixels[(size_t)y * n + i]);
    }
    return LUNET_OK;
}

static lunet_status write_body(png_writer *w) {
    if (setjmp(w->errors.jump))
        return lunet__fail(LUNET_ERR_IO, "png_write: %s: %s", w->tmp, w->errors.message);
    static const int color_types[5] = { 0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB,
                                        PNG_COLOR_TYPE_RGB_ALPHA };
    png_init_io(w->png, w->fp);
    png_set_IHDR(w->png, w->info, (png_uint_32)w->width, (png_uint_32)w->height, 8,
                 color_types[w->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(w->png, w->info);
    png_write_image(w->png, w->rows);
    png_write_end(w->png, NULL);
    return LUNET_OK;
}

static lunet_status write_file(png_writer *w) {
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) return lunet__fail(LUNET_ERR_IO, "png_write: cannot create %s: %s", w->tmp, strerror(errno));
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->errors, on_png_error, on_png_warning);
    if (w->png) w->info = png_create_info_struct(w->png);
    if (!w->png || !w->info) return lunet__fail(LUNET_ERR_MEMORY, "png_write: out of host memory");
    lunet_status st = write_body(w);
    if (st == LUNET_OK && (fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0))
        st = lunet__fail(LUNET_ERR_IO, "png_write: cannot write %s: %s", w->tmp, strerror(errno));
    return st;
}

static lunet_status check_write_args(const char *path, int width, int height, int channels,
                                     const float *pixels) {
    if (!path || !path[0]) return lunet__fail(LUNET_ERR_ARGUMENT, "png_write: path is NULL or empty");
    if (!pixels) return lunet__fail(LUNET_ERR_ARGUMENT, "png_write: pixels is NULL");
    if (width < 1 || height < 1 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
        return lunet__fail(LUNET_ERR_ARGUMENT, "png_write: size %dx%d is not in 1..%d", width, height,
                           PNG_MAX_SIDE);
    if (channels != 1 && channels != 3 && channels != 4)
        return lunet__fail(LUNET_ERR_ARGUMENT, "png_write: channels must be 1, 3 or 4, got %d", channels);
    return LUNET_OK;
}

/* 8-bit grey, RGB or RGBA; written to path.tmp.<pid>, then renamed over path. */
lunet_status lunet_png_write(const char *path, int width, int height, int channels, const float *pixels) {
    lunet_status st = check_write_args(path, width, height, channels, pixels);
    if (st != LUNET_OK) return st;
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return lunet__fail(LUNET_ERR_MEMORY, "png_write: out of host memory");
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    png_writer w;
    memset(&w, 0, sizeof w);
    w.tmp = tmp;
    w.width = width;
    w.height = height;
    w.channels = channels;
    st = make_rows(&w, pixels);
    if (st == LUNET_OK) st = write_file(&w);
    if (w.png) png_destroy_write_struct(&w.png, w.info ? &w.info : NULL);
    if (w.fp && fclose(w.fp) != 0 && st == LUNET_OK)
        st = lunet__fail(LUNET_ERR_IO, "png_write: cannot write %s: %s", tmp, strerror(errno));
    if (st == LUNET_OK && rename(tmp, path) != 0)
        st = lunet__fail(LUNET_ERR_IO, "png_write: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st != LUNET_OK && w.fp) remove(tmp);
    for (int y = 0; w.rows && y < height; y++) free(w.rows[y]);
    free(w.rows);
    free(tmp);
    return st;
}
