/* tests/fuzz/fuzz_config - libFuzzer target for core/config (room: tests):
 * each input is written to a temporary file and loaded; whatever it holds,
 * config_load must return a config or an error, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"

static char path[64];

/* __lsan_default_suppressions - libconfig 1.5 (Debian 12) loses the text of
 * a string token its parser discards during error recovery ("a = \"x\" b;",
 * "a \"\" = 1;"), a bug fixed upstream in 2019 (hyperrealm/libconfig#142,
 * PR #155).  Those strings are allocated by its scanner, so only leaks
 * allocated under the scanner are excused; settings the parser builds, and
 * every allocation of our own, still fail the run. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/* remove_path - delete the temporary file when the fuzzer exits. */
static void remove_path(void)
{
    unlink(path);
}

/* fuzz_path - the one temporary file, made on first use and reused, so that
 * a run of millions of inputs does not litter /tmp. */
static const char *fuzz_path(void)
{
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/fuzz_config-XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_path);
    }
    return path;
}

/* write_input - DATA as the whole content of the temporary file. */
static int write_input(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        return -1;
    int rc = fwrite(data, 1, size, fp) == size ? 0 : -1;
    if (fclose(fp) != 0)
        rc = -1;
    return rc;
}

/* LLVMFuzzerTestOneInput - load one input as a config file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    const char *path = fuzz_path();
    if (write_input(path, data, size) < 0)
        abort();
    struct config *cfg = config_load(path, err, sizeof(err));
    config_free(cfg);
    return 0;
}
