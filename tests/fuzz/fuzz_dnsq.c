/* tests/fuzz/fuzz_dnsq - room: tests.  libFuzzer target for core/dnsq's
 * reading of DNS answers (A, AAAA, MX, TXT, PTR) off the wire: the first
 * octet picks the type, the rest is the DNS message.  Every record kept
 * must be a terminated string within DNSQ_TEXT_MAX, and no more records
 * than DNSQ_RECORDS_MAX; the negative TTL read from an authority
 * section's SOA (RFC 2308 5) is -1 or within 0 .. 2^31-1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsq.h"

static struct dnsq_answer answer;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    enum dnsq_type type = (enum dnsq_type)(data[0] % 5);
    dnsq_parse(type, data + 1, (int)(size - 1), &answer);
    if (answer.n > DNSQ_RECORDS_MAX)
        abort();
    for (size_t i = 0; i < answer.n; i++)
        if (strnlen(answer.rec[i].text, DNSQ_TEXT_MAX) >= DNSQ_TEXT_MAX)
            abort();
    if (answer.status == DNSQ_OK && answer.n == 0)
        abort();
    long ttl = dnsq_negative_ttl(data + 1, (int)(size - 1));
    if (ttl < -1 || ttl > 0x7fffffffL)
        abort();
    return 0;
}
