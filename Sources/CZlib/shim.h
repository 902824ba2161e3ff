#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot import; qcow2 clusters are raw deflate (no header).
static inline int corral_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}

// deflateInit2 is a macro too; window bits 15 + 16 asks zlib for a gzip header and trailer.
static inline int corral_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
