/*
 * Fuzz target: the parser of the COMPCOLL_* variables (compcoll_cfg_parse,
 * compcoll_config.h), which reads whatever a user, a launcher or a job
 * script put into the environment.
 *
 * Input: a selector byte, then the bytes of a value (up to the first NUL:
 * an environment string has none).  The selector picks a row of the
 * configuration table, whose variable gets the value; or, past the last
 * row, the bytes are a variable name after COMPCOLL_ (with "=1"), for the
 * unknown-name check.  Valid inputs are values each row accepts, written
 * in the forms the man page allows.  What must hold:
 *   - a refused value is reported once, naming the variable and the value,
 *     and the configuration is the default one;
 *   - an accepted value is reported nowhere and sets its row as a reading
 *     of the man page's syntax, written here without the parser's code,
 *     says: the words of an enumeration in any case, plain decimal
 *     integers within the row's range, sizes with k/m/g/t units, numbers
 *     in (0, 1] or [0, 1), 0, 1 or a .json path, POINT:RANK:CALL lists;
 *     and the forms that reading accepts are accepted;
 *   - an unknown COMPCOLL_ name draws one warning that names it, and a
 *     name it suggests is one of the table's; a known name draws none.
 * The known names' value is then "1", which some rows refuse: the name
 * check looks at the warnings only.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compcoll_config.h"
#include "fuzz.h"

#define MAX_VALUE 80

enum { P_REFUSED, P_ACCEPTED, P_READING, P_NAME };

/* ------------------------------------------------------------ the calls */

typedef struct {
    unsigned reports, warnings;
    char     first[PATH_MAX + 600];
} heard_t;

static void on_report(void *ctx, const char *msg)
{
    heard_t *h = ctx;

    if (h->reports++ == 0) {
        snprintf(h->first, sizeof(h->first), "%s", msg);
    }
}

static void on_warn(void *ctx, const char *msg)
{
    heard_t *h = ctx;

    if (h->warnings++ == 0 && h->reports == 0) {
        snprintf(h->first, sizeof(h->first), "%s", msg);
    }
}

static compcoll_status_t parse_env(compcoll_config_t *cfg, char *entry,
                                   heard_t *h)
{
    char *envp[2] = {entry, NULL};

    memset(h, 0, sizeof(*h));
    return compcoll_cfg_parse(cfg, entry ? envp : envp + 1, on_report,
                              on_warn, h);
}

/* ----------------------------------------------- the man page's reading */

/* The value of a plain decimal integer (no sign, no space): 0, or 1 when
 * it does not fit in 64 bits (as strtoull's ERANGE), or -1 when v is not
 * one. */
static int read_integer(const char *v, size_t len, unsigned long long *x)
{
    size_t i;
    int    over = 0;

    *x = 0;
    if (len == 0) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        unsigned d;

        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        d = (unsigned)(v[i] - '0');
        if (*x > (ULLONG_MAX - d) / 10) {
            over = 1;
        } else {
            *x = *x * 10 + d;
        }
    }
    return over;
}

static int one_of(const char *v, const char *const *words, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(v, words[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The words of a row's syntax "a|b|c" (an enumeration), into words. */
static size_t syntax_words(const char *syntax, char words[][24], size_t max)
{
    size_t n = 0;

    while (*syntax != '\0' && n < max) {
        size_t len = strcspn(syntax, "|");

        snprintf(words[n++], 24, "%.*s", (int)len, syntax);
        syntax += len + (syntax[len] == '|');
    }
    return n;
}

/* A number of the "C" notation: digits, an optional fraction, an optional
 * exponent; as strtod reads it, 0 with ERANGE when it underflows. */
static int read_decimal(const char *v, double *x)
{
    const char *p = v;
    int         digits = 0;

    while (isdigit((unsigned char)*p)) {
        p++, digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++, digits++;
        }
    }
    if (digits == 0) {
        return -1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
    }
    if (*p != '\0') {
        return -1;
    }
    errno = 0;
    *x    = strtod(v, NULL);
    return errno == 0 ? 0 : -1;
}

/*
 * Whether the reading accepts value v for row f, and when it does whether
 * cfg (what the parser made of it) agrees.  Returns 1 accepted and agrees,
 * 0 refused, -1 accepted but cfg disagrees.
 */
static int reading(const compcoll_cfg_field_t *f, const char *v,
                   const compcoll_config_t *cfg)
{
    static const char *const yes[] = {"y", "yes", "1", "on", "true"};
    static const char *const no[]  = {"n", "no", "0", "off", "false"};
    const char              *name  = f->name + strlen("COMPCOLL_");
    const void              *field = (const char *)cfg + f->offset;
    unsigned long long       x;
    size_t                   len   = strlen(v);

    if (strcmp(name, "ENABLE") == 0) {
        int y = one_of(v, yes, 5), n = one_of(v, no, 5);

        if (y < 0 && n < 0) {
            return 0;
        }
        return cfg->enable == (y >= 0) ? 1 : -1;
    }
    if (strcmp(name, "RATIO") == 0 || strcmp(name, "MIN_COUNT") == 0 ||
        strcmp(name, "WARMUP") == 0 || strcmp(name, "RAMP") == 0 ||
        strcmp(name, "DIAG_EVERY") == 0 || strcmp(name, "ADACOMP_BIN") == 0 ||
        strcmp(name, "RANKS_PER_NODE") == 0) {
        int                from_one = strstr(f->syntax, ">= 1") != NULL;
        unsigned long long max = from_one ? INT_MAX : UINT_MAX;

        if (strncmp(f->syntax, "auto|", 5) == 0 && strcasecmp(v, "auto") == 0) {
            return *(const unsigned *)field == 0 ? 1 : -1;
        }
        if (read_integer(v, len, &x) != 0 || x < (unsigned)from_one ||
            x > max) {
            return 0;
        }
        return *(const unsigned *)field == x ? 1 : -1;
    }
    if (strcmp(name, "BETA") == 0 || strcmp(name, "MOMENTUM") == 0) {
        int    beta = name[0] == 'B';
        double d;

        if (read_decimal(v, &d) != 0 || d > 1.0 || (beta && d == 0.0) ||
            (!beta && d == 1.0)) {
            return 0;
        }
        return *(const double *)field == d ? 1 : -1;
    }
    if (strcmp(name, "MAX_MEMORY") == 0) {
        static const char *const units[] = {"", "b", "k", "kb", "m",
                                            "mb", "g", "gb", "t", "tb"};
        size_t digits = strspn(v, "0123456789");
        int    u      = one_of(v + digits, units, 10);
        int    shift  = u < 0 ? 0 : 10 * (u / 2);

        if (digits == 0 || u < 0 || read_integer(v, digits, &x) != 0 ||
            x > (SIZE_MAX >> shift)) {
            return 0;
        }
        return *(const size_t *)field == (size_t)(x << shift) ? 1 : -1;
    }
    if (strcmp(name, "STATS") == 0) {
        if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0) {
            return cfg->stats == (v[0] == '1' ? COMPCOLL_STATS_SUMMARY
                                              : COMPCOLL_STATS_OFF)
                       ? 1
                       : -1;
        }
        if (len <= 5 || strcmp(v + len - 5, ".json") != 0 ||
            len >= sizeof(cfg->stats_path)) {
            return 0;
        }
        return cfg->stats == COMPCOLL_STATS_JSON &&
                       strcmp(cfg->stats_path, v) == 0
                   ? 1
                   : -1;
    }
    if (strcmp(name, "FAULT") == 0) {
        compcoll_fault_t list[COMPCOLL_FAULT_MAX];
        const char      *p = v;
        unsigned         n = 0, i;

        while (*p != '\0') { /* POINT:RANK:CALL[,...] */
            size_t             plen = strcspn(p, ":");
            int                pt;
            unsigned long long rank, call;
            size_t             rlen, clen;

            for (pt = 0; pt < COMPCOLL_FAULT_POINTS; pt++) {
                const char *point = compcoll_fault_point_name(pt);

                if (strlen(point) == plen && strncmp(p, point, plen) == 0) {
                    break;
                }
            }
            if (pt == COMPCOLL_FAULT_POINTS || p[plen] != ':') {
                return 0;
            }
            p += plen + 1;
            rlen = strcspn(p, ":");
            if (p[rlen] != ':' || read_integer(p, rlen, &rank) != 0 ||
                rank > INT_MAX) {
                return 0;
            }
            p += rlen + 1;
            clen = strcspn(p, ",");
            if (read_integer(p, clen, &call) != 0 ||
                (p[clen] == ',' && p[clen + 1] == '\0') ||
                n == COMPCOLL_FAULT_MAX) {
                return 0;
            }
            list[n].point = pt;
            list[n].rank  = (int)rank;
            list[n].call  = call;
            n++;
            p += clen + (p[clen] == ',');
        }
        if (cfg->fault.n != n) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (cfg->fault.list[i].point != list[i].point ||
                cfg->fault.list[i].rank != list[i].rank ||
                cfg->fault.list[i].call != list[i].call) {
                return -1;
            }
        }
        return 1;
    }
    {   /* an enumeration: one of the syntax's words, in any case, or
         * COMPCOLL_HIERARCHICAL's yes and no */
        char   words[8][24];
        size_t n = syntax_words(f->syntax, words, 8), i;
        int    value = *(const int *)field;

        for (i = 0; i < n; i++) {
            if (strcasecmp(v, words[i]) == 0) {
                return strcasecmp(compcoll_cfg_enum_name(f->name, value),
                                  words[i]) == 0
                           ? 1
                           : -1;
            }
        }
        if (strcmp(name, "HIERARCHICAL") == 0 &&
            (strcasecmp(v, "yes") == 0 || strcasecmp(v, "no") == 0)) {
            return value == (tolower((unsigned char)v[0]) == 'y'
                                 ? COMPCOLL_HIER_YES
                                 : COMPCOLL_HIER_NO)
                       ? 1
                       : -1;
        }
        return 0;
    }
}

/* ------------------------------------------------------------ valid */

static size_t config_seed(fuzz_rng_t *rng, uint8_t *buf, size_t cap, int *bad)
{
    size_t                      rows = compcoll_cfg_table_size;
    size_t                      r    = (size_t)fuzz_below(rng, rows + 1);
    const compcoll_cfg_field_t *f;
    const char                 *name;
    char                        v[MAX_VALUE];
    size_t                      vlen;
    unsigned long long          x = fuzz_rand(rng);

    (void)bad;
    buf[0] = (uint8_t)r;
    if (r == rows) { /* a name: a row's own, or one with a typo */
        const char *row = compcoll_cfg_table[fuzz_below(rng, rows)].name +
                          strlen("COMPCOLL_");

        snprintf(v, sizeof(v), "%s", row);
        if (fuzz_below(rng, 2) == 0) {
            v[fuzz_below(rng, strlen(v))] = (char)('A' + fuzz_below(rng, 26));
        }
    } else {
        f    = &compcoll_cfg_table[r];
        name = f->name + strlen("COMPCOLL_");
        if (strcmp(name, "ENABLE") == 0) {
            snprintf(v, sizeof(v), "%s", x % 2 ? "Yes" : "off");
        } else if (strcmp(name, "BETA") == 0 || strcmp(name, "MOMENTUM") == 0) {
            snprintf(v, sizeof(v), x % 3 ? "0.%03u" : "%ue-3",
                     (unsigned)(1 + (x >> 8) % 998));
        } else if (strcmp(name, "MAX_MEMORY") == 0) {
            static const char *const u[] = {"", "k", "MB", "g", "T"};

            snprintf(v, sizeof(v), "%u%s", (unsigned)(x >> 8) % 5000,
                     u[x % 5]);
        } else if (strcmp(name, "STATS") == 0) {
            snprintf(v, sizeof(v), x % 3 ? "/tmp/run%u.json" : "%u",
                     (unsigned)(x >> 8) % 2);
        } else if (strcmp(name, "FAULT") == 0) {
            int p1 = (int)(x % COMPCOLL_FAULT_POINTS);
            int p2 = (int)((x >> 32) % COMPCOLL_FAULT_POINTS);

            snprintf(v, sizeof(v), "%s:%u:%u,%s:0:1",
                     compcoll_fault_point_name(p1), (unsigned)(x >> 8) % 64,
                     (unsigned)(x >> 16) % 1000, compcoll_fault_point_name(p2));
        } else if (strstr(f->syntax, "integer") != NULL) {
            if (strncmp(f->syntax, "auto|", 5) == 0 && x % 4 == 0) {
                snprintf(v, sizeof(v), "AUTO");
            } else {
                snprintf(v, sizeof(v), "%u", 1 + (unsigned)(x >> 8) % 100000);
            }
        } else { /* an enumeration */
            char   words[8][24];
            size_t n = syntax_words(f->syntax, words, 8);

            snprintf(v, sizeof(v), "%s", words[x % n]);
            if ((x >> 8) % 2) {
                v[0] = (char)toupper((unsigned char)v[0]);
            }
        }
    }
    vlen = strlen(v);
    if (vlen + 1 > cap) {
        vlen = cap - 1;
    }
    memcpy(buf + 1, v, vlen);
    return vlen + 1;
}

/* ------------------------------------------------------------ one input */

static unsigned long n_refused, n_accepted, n_names;

static int config_one(const uint8_t *data, size_t len, unsigned *broken)
{
    static compcoll_config_t dflt, cfg;
    static int               have_dflt;
    char                     entry[MAX_VALUE + 64], v[MAX_VALUE + 1];
    const compcoll_cfg_field_t *f;
    heard_t                  h;
    compcoll_status_t        st;
    size_t                   vlen, r;
    int                      rd;

    if (!have_dflt) {
        parse_env(&dflt, NULL, &h);
        have_dflt = 1;
    }
    if (len == 0) {
        return FUZZ_REJECTED;
    }
    vlen = strnlen((const char *)data + 1, len - 1);
    vlen = vlen > MAX_VALUE ? MAX_VALUE : vlen;
    memcpy(v, data + 1, vlen);
    v[vlen] = '\0';
    r = data[0] % (compcoll_cfg_table_size + 1);

    if (r == compcoll_cfg_table_size) { /* a name */
        const char *known = NULL;
        size_t      i;

        if (strchr(v, '=') != NULL) {
            return FUZZ_REJECTED; /* the name would end there */
        }
        snprintf(entry, sizeof(entry), "COMPCOLL_%s=1", v);
        for (i = 0; i < compcoll_cfg_table_size; i++) {
            if (strlen(compcoll_cfg_table[i].name) == strlen(entry) - 2 &&
                strncmp(compcoll_cfg_table[i].name, entry,
                        strlen(entry) - 2) == 0) {
                known = compcoll_cfg_table[i].name;
            }
        }
        parse_env(&cfg, entry, &h);
        n_names++;
        if (known != NULL) { /* a row's own name: no warning */
            if (h.warnings != 0) {
                *broken |= 1u << P_NAME;
            }
            return FUZZ_ACCEPTED;
        }
        if (strncmp(v, "UCX_", 4) == 0 || strcmp(v, "LIBRARY") == 0) {
            /* COMPCOLL_UCX_* and the tools' own names are not the
             * library's to warn about */
            if (h.warnings != 0) {
                *broken |= 1u << P_NAME;
            }
            return FUZZ_ACCEPTED;
        }
        {
            const char *sug = compcoll_cfg_closest(entry);
            char        named[MAX_VALUE + 16];

            snprintf(named, sizeof(named), "COMPCOLL_%s", v);
            if (h.warnings != 1 || strstr(h.first, named) == NULL) {
                *broken |= 1u << P_NAME;
            }
            if (sug != NULL) {
                for (i = 0; i < compcoll_cfg_table_size; i++) {
                    if (sug == compcoll_cfg_table[i].name) {
                        break;
                    }
                }
                if (i == compcoll_cfg_table_size ||
                    strstr(h.first, sug) == NULL) {
                    *broken |= 1u << P_NAME;
                }
            }
        }
        return FUZZ_ACCEPTED;
    }

    f = &compcoll_cfg_table[r];
    snprintf(entry, sizeof(entry), "%s=%s", f->name, v);
    st = parse_env(&cfg, entry, &h);
    rd = reading(f, v, &cfg);
    if (st != COMPCOLL_OK) {
        char want[MAX_VALUE + 64];

        n_refused++;
        snprintf(want, sizeof(want), "invalid %s='%s'", f->name, v);
        if (h.reports != 1 || strstr(h.first, want) == NULL ||
            memcmp(&cfg, &dflt, sizeof(cfg)) != 0) {
            *broken |= 1u << P_REFUSED;
        }
        if (rd != 0) {
            *broken |= 1u << P_READING; /* the man page allows it */
        }
        return FUZZ_REJECTED;
    }
    n_accepted++;
    if (h.reports != 0 || h.warnings != 0) {
        *broken |= 1u << P_ACCEPTED;
    }
    if (rd != 1) {
        *broken |= 1u << P_ACCEPTED;
    }
    return FUZZ_ACCEPTED;
}

static void config_summary(void)
{
    printf("# values refused %lu, accepted %lu; names %lu\n", n_refused,
           n_accepted, n_names);
}

const fuzz_target_t fuzz_target = {
    .name     = "config",
    .max_len  = 1 + MAX_VALUE,
    .inputs   = 500000,
    .per_seed = 32,
    .props    = {"a refused value is reported once, naming the variable and "
                 "the value, and leaves the defaults",
                 "an accepted value is not reported and sets its row as the "
                 "man page's syntax reads",
                 "what the man page's syntax accepts is accepted",
                 "an unknown COMPCOLL_ name draws one warning naming it, and "
                 "suggests only the table's names; a known one none",
                 NULL},
    .seed    = config_seed,
    .one     = config_one,
    .summary = config_summary,
};
