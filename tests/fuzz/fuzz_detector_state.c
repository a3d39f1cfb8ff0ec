/* tests/fuzz/fuzz_detector_state - room: tests.  libFuzzer target for the
 * saved state read at start (policy/detector.c detector_load and
 * policy/counters.c counters_load_line): any text loads or is skipped,
 * and what loaded saves again without a fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "policy/detector.h"

#define T0 1800000000

static int discard(const char *text, size_t len, void *arg)
{
    (void)text;
    (void)len;
    (void)arg;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    if (cfg.detector.max_subjects == 0)
        config_detector_defaults(&cfg);
    struct detector *d = detector_new(&cfg.detector);
    if (d == NULL)
        return 0;
    detector_load(d, (const char *)data, size, T0);
    detector_save(d, T0, discard, NULL);
    detector_evaluate(d, "alice@example.org", T0);
    detector_free(d);
    return 0;
}
