#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot call; this wraps it. windowBits 16 + 15 reads gzip
// streams, -15 raw deflate (zip entries).
static inline int loupe_inflate_init(z_stream *stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
