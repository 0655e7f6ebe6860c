/* libFuzzer target: audio headers and data through libsndfile from memory, decoded to mono. */
#include "audio/audio.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    AudioReader *r = audio_open_memory(data, size, "fuzz");
    if (!r) return 0;
    float buf[4096];
    for (int i = 0; i < 256; i++)
        if (audio_read_mono(r, buf, 4096) <= 0) break;
    audio_close(r);
    return 0;
}
