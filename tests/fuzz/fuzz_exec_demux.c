/*
 * fuzz_exec_demux.c - libFuzzer target for the exec stream demultiplexer
 * (engine_exec.c).  The first byte chooses how the stream is cut into
 * pieces and how often the rest of the input is repeated (so that outputs
 * over the 64 KiB kept bound are reached with short inputs); the rest is
 * the stream.  The same stream must give the same text and the same
 * verdict whether it arrives whole (engine_demux_exec) or in pieces (the
 * streaming demuxer, as engine_exec and the probes use it), and the kept
 * text must stay within its bound.  The lenient reader for container logs
 * (engine_demux) runs on it too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf raw = {0}, whole = {0}, pieces = {0}, logs = {0};
    struct tt_err e1 = {0}, e2 = {0};

    if (size < 1)
        return 0;
    size_t piece = 1 + (data[0] & 0x1f) * 7, repeat = 1 + (data[0] >> 5);
    for (size_t i = 0; i < repeat; i++)
        buf_add(&raw, data + 1, size - 1);

    int rc1 = engine_demux_exec(&raw, &whole, &e1);

    struct engine_demuxer *d = engine_demuxer_new(&pieces, 0);
    for (size_t off = 0; off < raw.len; off += piece)
        engine_demuxer_feed(d, raw.data + off, raw.len - off < piece ? raw.len - off : piece);
    int rc2 = engine_demuxer_end(d, &e2);
    engine_demuxer_free(d);

    if (rc1 != rc2 || whole.len != pieces.len ||
        (whole.len && memcmp(whole.data, pieces.data, whole.len)))
        abort(); /* the pieces changed the result */
    if (rc1 < 0 && strcmp(e1.msg, e2.msg))
        abort();
    if (whole.len > ENGINE_OUTPUT_KEEP + 64) /* the kept bytes and the note */
        abort();

    engine_demux(&raw, &logs);
    if (logs.len > ENGINE_OUTPUT_KEEP + 64)
        abort();

    buf_release(&raw);
    buf_release(&whole);
    buf_release(&pieces);
    buf_release(&logs);
    return 0;
}
