#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot import; qcow2 clusters are raw deflate (no header).
static inline int corral_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}
