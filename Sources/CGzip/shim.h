#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot call; this wraps it for gzip streams.
static inline int loupe_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}
