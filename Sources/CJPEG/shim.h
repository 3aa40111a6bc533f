// A small C shim over libjpeg: libjpeg reports errors by calling error_exit, which must not
// return, so decoding runs here behind setjmp and comes back to Swift as a status code.
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} loupe_jpeg_error;

static inline void loupe_jpeg_error_exit(j_common_ptr cinfo) {
    loupe_jpeg_error *error = (loupe_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    longjmp(error->jump, 1);
}

static inline void loupe_jpeg_emit_message(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

/// Decodes a JPEG held in memory.
///
/// Call once with `pixels == NULL` to read the size (width, height, channels: 1 for grayscale,
/// 3 for colour), then again with a buffer of width * height * channels bytes.
/// Returns 0 on success; otherwise 1 and a message (at most `message_size` bytes).
static inline int loupe_jpeg_decode(const unsigned char *data, unsigned long size,
                                    int *width, int *height, int *channels,
                                    unsigned char *pixels, char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    loupe_jpeg_error error;
    memset(&info, 0, sizeof(info));
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = loupe_jpeg_error_exit;
    error.base.emit_message = loupe_jpeg_emit_message;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        snprintf(message, message_size, "%s", error.message);
        jpeg_destroy_decompress(&info);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(message, message_size, "CMYK JPEG images are not supported; convert the image to RGB");
        jpeg_destroy_decompress(&info);
        return 1;
    }
    int gray = info.num_components == 1;
    info.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    *width = (int)info.image_width;
    *height = (int)info.image_height;
    *channels = gray ? 1 : 3;
    if (pixels == NULL) {
        jpeg_destroy_decompress(&info);
        return 0;
    }
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * (size_t)info.output_components;
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = pixels + (size_t)info.output_scanline * stride;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}
