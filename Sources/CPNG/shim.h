// libpng, plus two small helpers that keep libpng's setjmp/longjmp error handling inside C.
//
// libpng reports a fatal error by calling longjmp, which Swift cannot catch. The helpers
// below set the jump point themselves, turn any libpng error into a return code and a
// message, and free everything they allocated on both paths, so Swift only ever sees
// "succeeded, here are the pixels" or "failed, here is why".
#ifndef FUSIONLAB_CPNG_SHIM_H
#define FUSIONLAB_CPNG_SHIM_H

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/// The decoded pixels of one PNG after palette/low-bit/tRNS expansion.
typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t channels;          // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    int32_t bitDepth;          // 8 or 16 (16-bit samples are big-endian)
    int32_t colorType;         // the IHDR colour type
    int32_t fileBitDepth;      // the IHDR bit depth
    int32_t interlaced;        // 1 for Adam7
    uint8_t *pixels;           // malloc'd, height * width * channels * bitDepth/8 bytes
    char message[256];         // libpng's error message on failure
} fl_png_decoded;

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} fl_png_source;

static void fl_png_error_fn(png_structp png, png_const_charp msg) {
    char *buffer = (char *)png_get_error_ptr(png);
    if (buffer) {
        strncpy(buffer, msg ? msg : "unknown libpng error", 255);
        buffer[255] = 0;
    }
    png_longjmp(png, 1);
}

static void fl_png_warning_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void fl_png_read_fn(png_structp png, png_bytep dst, size_t n) {
    fl_png_source *src = (fl_png_source *)png_get_io_ptr(png);
    if (src->size - src->offset < n) {
        png_error(png, "unexpected end of file (truncated PNG)");
    }
    memcpy(dst, src->data + src->offset, n);
    src->offset += n;
}

/// Decodes a PNG held in memory. Returns 0 on success (then `out->pixels` must be freed with
/// `fl_png_free`), nonzero on failure with `out->message` set. With `strip16`, 16-bit samples
/// are reduced to their high byte (what Pillow does).
static inline int fl_png_decode(const uint8_t *data, size_t size, int strip16, fl_png_decoded *out) {
    memset(out, 0, sizeof(*out));
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        strcpy(out->message, "not a PNG file (bad signature)");
        return 1;
    }
    fl_png_source src = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, out->message, fl_png_error_fn, fl_png_warning_fn);
    if (!png) {
        strcpy(out->message, "out of memory");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        strcpy(out->message, "out of memory");
        return 1;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        out->pixels = NULL;
        if (!out->message[0]) strcpy(out->message, "libpng error");
        return 1;
    }
    png_set_read_fn(png, &src, fl_png_read_fn);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_read_info(png, info);
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    out->colorType = png_get_color_type(png, info);
    out->fileBitDepth = png_get_bit_depth(png, info);
    out->interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    png_set_expand(png);
    if (strip16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->channels = png_get_channels(png, info);
    out->bitDepth = png_get_bit_depth(png, info);
    size_t rowBytes = png_get_rowbytes(png, info);
    size_t height = out->height;
    if (rowBytes == 0 || height == 0 || rowBytes > ((size_t)1 << 30) / height) {
        png_error(png, "image too large");
    }
    // Pillow's decompression-bomb limit: a tiny file must not make us decode a huge image.
    if ((size_t)out->width * height > (size_t)178956970) {
        png_error(png, "image too large: more than 178956970 pixels (a decompression bomb?)");
    }
    pixels = (uint8_t *)malloc(rowBytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (size_t y = 0; y < height; y++) rows[y] = pixels + y * rowBytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->pixels = pixels;
    return 0;
}

/// Frees pixels returned by `fl_png_decode` or bytes returned by `fl_png_encode`.
static inline void fl_png_free(void *pointer) { free(pointer); }

/// What to write: samples (one uint16 per sample, row-major, `channels` per pixel, each below
/// 2^bitDepth), the IHDR colour type, bit depth and interlacing, and an optional palette.
typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t colorType;
    int32_t bitDepth;
    int32_t interlaced;
    const uint16_t *samples;
    const uint8_t *paletteRGB;   // colour type 3: 3 * paletteCount bytes
    int32_t paletteCount;
    const uint8_t *paletteAlpha; // optional tRNS for palette images
    int32_t paletteAlphaCount;
    int32_t hasTransparentColor; // tRNS for grey / RGB images
    uint16_t transparentGrey, transparentRed, transparentGreen, transparentBlue;
    int32_t compressionLevel;    // zlib level 0...9, or -1 for libpng's default
} fl_png_encode_request;

typedef struct {
    uint8_t *bytes;
    size_t count;
    size_t capacity;
    int failed;
} fl_png_sink;

static void fl_png_write_fn(png_structp png, png_bytep src, size_t n) {
    fl_png_sink *sink = (fl_png_sink *)png_get_io_ptr(png);
    if (sink->count + n > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (capacity < sink->count + n) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(sink->bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->bytes = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->bytes + sink->count, src, n);
    sink->count += n;
}

static void fl_png_flush_fn(png_structp png) { (void)png; }

/// Encodes an image to PNG bytes in memory. Returns 0 on success with `*bytes`/`*count` set
/// (free with `fl_png_free`), nonzero on failure with `message` (256 bytes) set.
static inline int fl_png_encode(const fl_png_encode_request *req, uint8_t **bytes, size_t *count, char *message) {
    *bytes = NULL;
    *count = 0;
    message[0] = 0;
    int channels;
    switch (req->colorType) {
        case PNG_COLOR_TYPE_GRAY: channels = 1; break;
        case PNG_COLOR_TYPE_PALETTE: channels = 1; break;
        case PNG_COLOR_TYPE_GRAY_ALPHA: channels = 2; break;
        case PNG_COLOR_TYPE_RGB: channels = 3; break;
        case PNG_COLOR_TYPE_RGB_ALPHA: channels = 4; break;
        default: strcpy(message, "unsupported colour type"); return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, fl_png_error_fn, fl_png_warning_fn);
    if (!png) { strcpy(message, "out of memory"); return 1; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); strcpy(message, "out of memory"); return 1; }
    fl_png_sink sink = {NULL, 0, 0, 0};
    uint8_t *volatile row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(row);
        free(sink.bytes);
        png_destroy_write_struct(&png, &info);
        if (!message[0]) strcpy(message, "libpng error");
        return 1;
    }
    png_set_write_fn(png, &sink, fl_png_write_fn, fl_png_flush_fn);
    if (req->compressionLevel >= 0) png_set_compression_level(png, req->compressionLevel);
    png_set_IHDR(png, info, req->width, req->height, req->bitDepth, req->colorType,
                 req->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (req->colorType == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[256];
        int n = req->paletteCount;
        if (n < 1 || n > 256 || !req->paletteRGB) png_error(png, "palette needs 1...256 entries");
        for (int i = 0; i < n; i++) {
            palette[i].red = req->paletteRGB[3 * i];
            palette[i].green = req->paletteRGB[3 * i + 1];
            palette[i].blue = req->paletteRGB[3 * i + 2];
        }
        png_set_PLTE(png, info, palette, n);
        if (req->paletteAlpha && req->paletteAlphaCount > 0) {
            png_set_tRNS(png, info, req->paletteAlpha, req->paletteAlphaCount, NULL);
        }
    } else if (req->hasTransparentColor) {
        png_color_16 colour;
        memset(&colour, 0, sizeof(colour));
        colour.gray = req->transparentGrey;
        colour.red = req->transparentRed;
        colour.green = req->transparentGreen;
        colour.blue = req->transparentBlue;
        png_set_tRNS(png, info, NULL, 0, &colour);
    }
    png_write_info(png, info);
    size_t rowBytes = ((size_t)req->width * channels * req->bitDepth + 7) / 8;
    row = (uint8_t *)malloc(rowBytes ? rowBytes : 1);
    if (!row) png_error(png, "out of memory");
    int passes = req->interlaced ? png_set_interlace_handling(png) : 1;
    for (int pass = 0; pass < passes; pass++) {
        for (uint32_t y = 0; y < req->height; y++) {
            const uint16_t *in = req->samples + (size_t)y * req->width * channels;
            size_t samples = (size_t)req->width * channels;
            memset(row, 0, rowBytes);
            if (req->bitDepth == 16) {
                for (size_t i = 0; i < samples; i++) {
                    row[2 * i] = (uint8_t)(in[i] >> 8);
                    row[2 * i + 1] = (uint8_t)(in[i] & 0xff);
                }
            } else if (req->bitDepth == 8) {
                for (size_t i = 0; i < samples; i++) row[i] = (uint8_t)in[i];
            } else {
                int bits = req->bitDepth;
                for (size_t i = 0; i < samples; i++) {
                    size_t bit = i * bits;
                    row[bit / 8] |= (uint8_t)((in[i] & ((1u << bits) - 1)) << (8 - bits - (bit % 8)));
                }
            }
            png_write_row(png, row);
        }
    }
    png_write_end(png, NULL);
    free(row);
    png_destroy_write_struct(&png, &info);
    *bytes = sink.bytes;
    *count = sink.count;
    return 0;
}

#endif
