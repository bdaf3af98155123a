/* Log lines stay one line of printable text whatever the logged fields hold: a hostile key id,
 * peer or message with newlines, terminal escapes, DEL, C1 controls or broken UTF-8 cannot forge
 * a second line or reach the terminal raw (docs/threat-model.md, "Audit-log injection"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/log.h"

/* Logs one line and returns what was written (malloc'd). */
static char *log_one(const char *component, const char *a, const char *b)
{
    FILE *f = tmpfile();
    tl_log_set_stream(f);
    tl_log(TL_LOG_WARN, component, "decision key_id=%s verdict=refused peer=%s", a, b);
    tl_log_set_stream(NULL);
    long n = ftell(f);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(f);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = 0;
    fclose(f);
    return buf;
}

/* One line: a single '\n', at the end; no other byte below 0x20, no DEL, no C1 (UTF-8 C2 80..9F). */
static int one_clean_line(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[n - 1] != '\n')
        return 0;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f))
            return 0;
        if (c == 0xff)
            return 0;
    }
    return 1;
}

int main(void)
{
    const char *evil_id = "k1\n2026-01-01T00:00:00.000Z info [kbs] decision key_id=k1 verdict=released";
    const char *evil_peer = "\x1b[31m10.0.0.1\x1b[0m\r\x7f\xff\xc2\x9b" "2J";
    char *line = log_one("kbs", evil_id, evil_peer);
    fprintf(stderr, "logged: %s", line);
    CHECKF(one_clean_line(line), "not one clean line: %s", line);
    CHECK(strstr(line, "key_id=k1\\n2026-01-01") != NULL);
    CHECK(strstr(line, "\\x1b[31m10.0.0.1\\x1b[0m\\r\\x7f\\xff\\u{009b}2J") != NULL);
    free(line);

    /* the component is escaped too; valid UTF-8 text passes unchanged; a backslash is doubled so
     * a literal "\n" in the input cannot pass for an escape */
    line = log_one("k\nbs", "na\xc3\xafve \\n", "\xe2\x80\xa8\xe2\x80\xae");
    CHECKF(one_clean_line(line), "not one clean line: %s", line);
    CHECK(strstr(line, "[k\\nbs]") != NULL);
    CHECK(strstr(line, "key_id=na\xc3\xafve \\\\n verdict=refused peer=\\u{2028}\\u{202e}") != NULL);
    free(line);

    /* a truncated multi-byte sequence at the end of a field, and a long message */
    char big[5000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    line = log_one("kbs", "\xe2\x80", big);
    CHECK(one_clean_line(line) && strstr(line, "key_id=\\xe2\\x80 verdict=refused peer=\\n\\n") != NULL);
    free(line);

    /* tl_log_escape never splits an escape when the output is short */
    char out[6];
    CHECK(tl_log_escape("ab\x1b", 3, out, sizeof out) == 2 && strcmp(out, "ab") == 0);
    return test_finish();
}
