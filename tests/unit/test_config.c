/*
 * The configuration parser: defaults, every kind of bad value for every
 * variable, accepted spellings, unknown-name suggestions, and the man page
 * rows generated from the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_config.h"

static char reported[8192];
static char warned[8192];

static void keep(void *ctx, const char *msg)
{
    char  *buf  = ctx ? warned : reported;
    size_t used = strlen(buf);

    snprintf(buf + used, 8192 - used, "%s\n", msg);
}

static void keep_warn(void *ctx, const char *msg)
{
    keep((void *)1, msg);
}

/* Parse with exactly the given NULL-terminated environment. */
static compcoll_status_t parse(compcoll_config_t *cfg, char **env)
{
    reported[0] = warned[0] = '\0';
    return compcoll_cfg_parse(cfg, env, keep, keep_warn, NULL);
}

static compcoll_status_t parse1(compcoll_config_t *cfg, const char *name,
                                const char *value)
{
    static char  buf[512];
    char        *env[2] = {buf, NULL};

    snprintf(buf, sizeof(buf), "%s=%s", name, value);
    return parse(cfg, env);
}

typedef struct {
    const char *name;
    const char *bad[8];
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"COMPCOLL_ENABLE", {"", "maybe", "2", "yess", " y", NULL}},
    {"COMPCOLL_METHOD", {"", "scalecomm", "SGD", "dense,none", NULL}},
    {"COMPCOLL_RATIO", {"", "0", "-5", "abc", "10x", "1.5", "2147483648",
                        "99999999999999999999"}},
    {"COMPCOLL_MIN_COUNT", {"", "0", "-1", "1e3", "12 ", "4294967296", NULL}},
    {"COMPCOLL_SELECT", {"", "topk", "exactly", NULL}},
    {"COMPCOLL_BETA", {"", "0", "-0.5", "1.01", "nan", "inf", "0.5x", "abc"}},
    /* a plain decimal number only, read alike in every locale */
    {"COMPCOLL_BETA", {" 0.5", "+0.5", "0.5 ", "0,5", "0x1p-1", "1e-400",
                       "e-1", NULL}},
    {"COMPCOLL_MOMENTUM", {"", "1", "-0.1", "1.5", "nan", "inf", "0.9x",
                           "abc"}},
    {"COMPCOLL_WARMUP", {"", "-1", "ten", "3.5", "4294967296", NULL}},
    {"COMPCOLL_RAMP", {"", "-1", "ten", "3.5", "4294967296", NULL}},
    {"COMPCOLL_DIAG_EVERY", {"", "-1", "often", "2.5", "4294967296", NULL}},
    {"COMPCOLL_ADACOMP_BIN", {"", "0", "-50", "automatic", "50x",
                              "2147483648", NULL}},
    {"COMPCOLL_WIRE_TYPE", {"", "fp8", "float16", "int8", NULL}},
    {"COMPCOLL_TRANSPORT", {"", "tcp", "nccl", NULL}},
    {"COMPCOLL_KEY", {"", "name", "addr", NULL}},
    {"COMPCOLL_MAX_MEMORY", {"", "-1", "4x", "g", "1.5g", "4 g",
                             "99999999999999999999t", NULL}},
    {"COMPCOLL_HIERARCHICAL", {"", "maybe", "2", NULL}},
    {"COMPCOLL_RANKS_PER_NODE", {"", "0", "-2", "autox", "2.5", "4 ",
                                 "2147483648", NULL}},
    {"COMPCOLL_STATS", {"", "2", "yes", "out.txt", ".json", NULL}},
    {"COMPCOLL_LOG_LEVEL", {"", "verbose", "5", "warning", NULL}},
    {"COMPCOLL_FAULT", {"alloc", "alloc:1", "oom:0:1", "alloc:-1:0",
                        "alloc:0:x", "alloc:0:1,", "alloc:0:1;decode:1:2",
                        "decode:0:99999999999999999999"}},
    {"COMPCOLL_FAULT", {"alloc:+1:3", "alloc: 1:3", "alloc:1:+3",
                        "alloc:1: 3", NULL}},
};

static void test_defaults(void)
{
    compcoll_config_t cfg;
    char             *env[] = {NULL};

    ok(parse(&cfg, env) == COMPCOLL_OK && reported[0] == '\0',
       "empty environment parses");
    ok(cfg.enable == 1 && cfg.method == COMPCOLL_METHOD_SCALECOM &&
           cfg.ratio == 100 && cfg.min_count == 8192 &&
           cfg.select == COMPCOLL_SELECT_SAMPLE && cfg.beta == 1.0 &&
           cfg.momentum == 0.0 &&
           cfg.warmup == 0 && cfg.adacomp_bin == 0 &&
           cfg.wire == COMPCOLL_WIRE_FP32 &&
           cfg.transport == COMPCOLL_TRANSPORT_UCX &&
           cfg.key == COMPCOLL_KEY_AUTO &&
           cfg.max_memory == (size_t)8 << 30 &&
           cfg.hierarchical == COMPCOLL_HIER_AUTO &&
           cfg.ranks_per_node == 0 &&
           cfg.stats == COMPCOLL_STATS_OFF &&
           cfg.log_level == COMPCOLL_LOG_WARN,
       "defaults are the documented ones");
}

static void test_bad_values(void)
{
    compcoll_config_t cfg;
    size_t            i, j;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        for (j = 0; j < 8 && bad_cases[i].bad[j] != NULL; j++) {
            char              want[256];
            compcoll_status_t st;

            st = parse1(&cfg, bad_cases[i].name, bad_cases[i].bad[j]);
            snprintf(want, sizeof(want), "%s='%s'", bad_cases[i].name,
                     bad_cases[i].bad[j]);
            ok(st == COMPCOLL_ERR_INVALID_PARAM &&
                   strstr(reported, want) != NULL &&
                   strstr(reported, "expected") != NULL,
               "%s rejected with a message naming it", want);
        }
    }
}

static void test_fault(void)
{
    compcoll_config_t cfg;

    ok(parse1(&cfg, "COMPCOLL_FAULT", "alloc:1:3,transport:0:18") ==
               COMPCOLL_OK &&
           cfg.fault.n == 2 && cfg.fault.list[0].point == COMPCOLL_FAULT_ALLOC &&
           cfg.fault.list[0].rank == 1 && cfg.fault.list[0].call == 3 &&
           cfg.fault.list[1].point == COMPCOLL_FAULT_TRANSPORT &&
           cfg.fault.list[1].rank == 0 && cfg.fault.list[1].call == 18,
       "FAULT=alloc:1:3,transport:0:18 parses into two faults");
    ok(parse1(&cfg, "COMPCOLL_FAULT", "") == COMPCOLL_OK && cfg.fault.n == 0,
       "FAULT empty: no faults");
    for (int p = 0; p < COMPCOLL_FAULT_POINTS; p++) {
        char v[64];

        snprintf(v, sizeof(v), "%s:2:5", compcoll_fault_point_name(p));
        ok(parse1(&cfg, "COMPCOLL_FAULT", v) == COMPCOLL_OK &&
               cfg.fault.n == 1 && cfg.fault.list[0].point == p &&
               cfg.fault.list[0].rank == 2 && cfg.fault.list[0].call == 5,
           "FAULT=%s parses into point %d", v, p);
    }
    ok(parse1(&cfg, "COMPCOLL_FAULT", "nodes:0:1") ==
           COMPCOLL_ERR_INVALID_PARAM,
       "FAULT=nodes:0:1 (no such point) is rejected");
    ok(parse1(&cfg, "COMPCOLL_FAULT",
              "kernel:0:0,kernel:0:1,kernel:0:2,kernel:0:3,kernel:0:4,"
              "kernel:0:5,kernel:0:6,kernel:0:7,kernel:0:8") ==
           COMPCOLL_ERR_INVALID_PARAM,
       "FAULT with more than %d entries is rejected", COMPCOLL_FAULT_MAX);
}

/* The digest compared at MPI_Init: equal iff the ranks behave alike. */
static void test_digest(void)
{
    compcoll_config_t a, b;
    uint64_t          da[64], db[64];
    size_t            i, differ;
    char             *yes[] = {"COMPCOLL_ENABLE=yes", "COMPCOLL_RATIO=100", NULL};
    char             *y[]   = {"COMPCOLL_ENABLE=y", NULL};
    char             *r50[] = {"COMPCOLL_RATIO=50", "COMPCOLL_LOG_LEVEL=trace",
                               "COMPCOLL_FAULT=alloc:0:1",
                               "COMPCOLL_MAX_MEMORY=1m", NULL};
    char             *off[] = {"COMPCOLL_ENABLE=n", NULL};
    char             *off2[] = {"COMPCOLL_ENABLE=0", "COMPCOLL_RATIO=7", NULL};

    ok(compcoll_cfg_table_size <= 64, "the table fits the test's arrays");
    parse(&a, yes);
    parse(&b, y);
    compcoll_cfg_digest(&a, da);
    compcoll_cfg_digest(&b, db);
    ok(memcmp(da, db, compcoll_cfg_table_size * sizeof(da[0])) == 0,
       "ENABLE=yes RATIO=100 and ENABLE=y have the same digest");
    parse(&b, r50);
    compcoll_cfg_digest(&b, db);
    for (i = 0, differ = 0; i < compcoll_cfg_table_size; i++) {
        if (da[i] != db[i]) {
            differ++;
            ok(strcmp(compcoll_cfg_table[i].name, "COMPCOLL_RATIO") == 0,
               "only RATIO differs, not the local %s",
               compcoll_cfg_table[i].name);
        }
    }
    ok(differ == 1, "RATIO=50 and local variables: one row differs (%zu)",
       differ);
    parse(&a, off);
    parse(&b, off2);
    compcoll_cfg_digest(&a, da);
    compcoll_cfg_digest(&b, db);
    ok(memcmp(da, db, compcoll_cfg_table_size * sizeof(da[0])) == 0,
       "compression off: RATIO is not compared");
}

static void test_hierarchical(void)
{
    compcoll_config_t cfg;

    ok(parse1(&cfg, "COMPCOLL_HIERARCHICAL", "y") == COMPCOLL_OK &&
           cfg.hierarchical == COMPCOLL_HIER_YES,
       "HIERARCHICAL=y");
    ok(parse1(&cfg, "COMPCOLL_HIERARCHICAL", "NO") == COMPCOLL_OK &&
           cfg.hierarchical == COMPCOLL_HIER_NO,
       "HIERARCHICAL=NO");
    ok(parse1(&cfg, "COMPCOLL_RANKS_PER_NODE", "Auto") == COMPCOLL_OK &&
           cfg.ranks_per_node == 0,
       "RANKS_PER_NODE=Auto");
    ok(parse1(&cfg, "COMPCOLL_RANKS_PER_NODE", "4") == COMPCOLL_OK &&
           cfg.ranks_per_node == 4,
       "RANKS_PER_NODE=4");
}

/* COMPCOLL_MOMENTUM: scalecom's; with a method that cannot make it, an
 * error naming both variables; a job that does not compress takes it */
static void test_momentum(void)
{
    compcoll_config_t cfg;
    char              m9[] = "COMPCOLL_MOMENTUM=0.9";
    char              m0[] = "COMPCOLL_MOMENTUM=0";
    char              ada[] = "COMPCOLL_METHOD=adacomp";
    char              topk[] = "COMPCOLL_METHOD=topk";
    char              dense[] = "COMPCOLL_METHOD=dense";
    char              none[] = "COMPCOLL_METHOD=none";
    char              off[] = "COMPCOLL_ENABLE=n";
    char             *e1[] = {m9, NULL};
    char             *e2[] = {ada, m9, NULL};
    char             *e3[] = {m9, topk, NULL};
    char             *e4[] = {dense, m9, NULL};
    char             *e5[] = {none, m9, NULL};
    char             *e6[] = {off, ada, m9, NULL};
    char             *e7[] = {ada, m0, NULL};
    char            **bad[] = {e2, e3, e4};
    const char       *what[] = {"adacomp", "topk", "dense"};
    size_t            i;

    ok(parse(&cfg, e1) == COMPCOLL_OK && cfg.momentum > 0.89 &&
           cfg.momentum < 0.91 && reported[0] == '\0',
       "MOMENTUM=0.9 with scalecom");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(parse(&cfg, bad[i]) == COMPCOLL_ERR_INVALID_PARAM &&
               strstr(reported, "COMPCOLL_MOMENTUM='0.9'") != NULL &&
               strstr(reported, "COMPCOLL_METHOD=scalecom") != NULL &&
               cfg.momentum == 0.0,
           "MOMENTUM=0.9 with METHOD=%s rejected, naming both variables",
           what[i]);
    }
    ok(parse(&cfg, e5) == COMPCOLL_OK && reported[0] == '\0',
       "MOMENTUM=0.9 with METHOD=none: nothing compressed, accepted");
    ok(parse(&cfg, e6) == COMPCOLL_OK && reported[0] == '\0',
       "MOMENTUM=0.9 with ENABLE=n: nothing compressed, accepted");
    ok(parse(&cfg, e7) == COMPCOLL_OK && reported[0] == '\0',
       "MOMENTUM=0 with METHOD=adacomp: off, accepted");
}

static void test_good_values(void)
{
    compcoll_config_t cfg;

    ok(parse1(&cfg, "COMPCOLL_RATIO", "1") == COMPCOLL_OK && cfg.ratio == 1,
       "RATIO=1");
    ok(parse1(&cfg, "COMPCOLL_RATIO", "2147483647") == COMPCOLL_OK &&
           cfg.ratio == 2147483647u,
       "RATIO=INT_MAX");
    ok(parse1(&cfg, "COMPCOLL_BETA", "0.25") == COMPCOLL_OK &&
           cfg.beta == 0.25,
       "BETA=0.25");
    ok(parse1(&cfg, "COMPCOLL_BETA", "1e-3") == COMPCOLL_OK &&
           cfg.beta == 1e-3,
       "BETA=1e-3");
    ok(parse1(&cfg, "COMPCOLL_BETA", ".5") == COMPCOLL_OK && cfg.beta == 0.5,
       "BETA=.5");
    ok(parse1(&cfg, "COMPCOLL_MOMENTUM", "9E-1") == COMPCOLL_OK &&
           cfg.momentum == 0.9,
       "MOMENTUM=9E-1");
    ok(parse1(&cfg, "COMPCOLL_MAX_MEMORY", "4g") == COMPCOLL_OK &&
           cfg.max_memory == (size_t)4 << 30,
       "MAX_MEMORY=4g");
    ok(parse1(&cfg, "COMPCOLL_MAX_MEMORY", "512MB") == COMPCOLL_OK &&
           cfg.max_memory == (size_t)512 << 20,
       "MAX_MEMORY=512MB");
    ok(parse1(&cfg, "COMPCOLL_MAX_MEMORY", "12345") == COMPCOLL_OK &&
           cfg.max_memory == 12345,
       "MAX_MEMORY in bytes");
    ok(parse1(&cfg, "COMPCOLL_MAX_MEMORY", "0") == COMPCOLL_OK &&
           cfg.max_memory == 0,
       "MAX_MEMORY=0 (no cap)");
    ok(parse1(&cfg, "COMPCOLL_ENABLE", "No") == COMPCOLL_OK &&
           cfg.enable == 0,
       "ENABLE=No");
    ok(parse1(&cfg, "COMPCOLL_METHOD", "DENSE") == COMPCOLL_OK &&
           cfg.method == COMPCOLL_METHOD_DENSE,
       "METHOD is case-insensitive");
    ok(parse1(&cfg, "COMPCOLL_STATS", "/tmp/x/stats.json") == COMPCOLL_OK &&
           cfg.stats == COMPCOLL_STATS_JSON &&
           strcmp(cfg.stats_path, "/tmp/x/stats.json") == 0,
       "STATS=path.json");
    ok(parse1(&cfg, "COMPCOLL_STATS", "1") == COMPCOLL_OK &&
           cfg.stats == COMPCOLL_STATS_SUMMARY,
       "STATS=1");
    ok(parse1(&cfg, "COMPCOLL_WIRE_TYPE", "bf16") == COMPCOLL_OK &&
           cfg.wire == COMPCOLL_WIRE_BF16,
       "WIRE_TYPE=bf16");
    ok(parse1(&cfg, "COMPCOLL_WARMUP", "0") == COMPCOLL_OK && cfg.warmup == 0,
       "WARMUP=0");
    ok(parse1(&cfg, "COMPCOLL_RAMP", "470") == COMPCOLL_OK && cfg.ramp == 470,
       "RAMP=470");
    ok(parse1(&cfg, "COMPCOLL_ADACOMP_BIN", "Auto") == COMPCOLL_OK &&
           cfg.adacomp_bin == 0,
       "ADACOMP_BIN=Auto");
    ok(parse1(&cfg, "COMPCOLL_ADACOMP_BIN", "500") == COMPCOLL_OK &&
           cfg.adacomp_bin == 500,
       "ADACOMP_BIN=500");
    ok(parse1(&cfg, "COMPCOLL_METHOD", "adacomp") == COMPCOLL_OK &&
           cfg.method == COMPCOLL_METHOD_ADACOMP,
       "METHOD=adacomp");
    ok(parse1(&cfg, "COMPCOLL_METHOD", "topk") == COMPCOLL_OK &&
           cfg.method == COMPCOLL_METHOD_TOPK,
       "METHOD=topk");
}

static void test_many_errors(void)
{
    compcoll_config_t cfg;
    char              a[] = "COMPCOLL_RATIO=zero", b[] = "COMPCOLL_BETA=2",
                      c[] = "COMPCOLL_SELECT=chunk";
    char             *env[] = {a, b, c, NULL};

    ok(parse(&cfg, env) == COMPCOLL_ERR_INVALID_PARAM &&
           strstr(reported, "COMPCOLL_RATIO") != NULL &&
           strstr(reported, "COMPCOLL_BETA") != NULL &&
           cfg.select == COMPCOLL_SELECT_CHUNK && cfg.ratio == 100,
       "every bad variable is reported; good ones still apply");
}

static void test_unknown(void)
{
    compcoll_config_t cfg;
    char              a[] = "COMPCOLL_RATOI=10", b[] = "COMPCOLL_UCX_TLS=tcp",
                      c[] = "COMPCOLL_QWERTYUIOPASDF=1", d[] = "COMPCOL_X=1",
                      e[] = "COMPCOLL_LIBRARY=/opt/lib/libcompcoll.so";
    char             *env[] = {a, b, c, d, e, NULL};

    ok(parse(&cfg, env) == COMPCOLL_OK, "unknown names do not fail");
    ok(strstr(warned, "COMPCOLL_RATOI") != NULL &&
           strstr(warned, "did you mean COMPCOLL_RATIO?") != NULL,
       "a typo gets the closest name");
    ok(strstr(warned, "COMPCOLL_UCX_TLS") == NULL,
       "COMPCOLL_UCX_* is left to UCX");
    ok(strstr(warned, "COMPCOLL_QWERTYUIOPASDF") != NULL &&
           strstr(warned, "compcoll-info -c") != NULL,
       "a name like no other points to compcoll-info -c");
    ok(strstr(warned, "COMPCOL_X") == NULL, "other prefixes are not ours");
    ok(strstr(warned, "COMPCOLL_LIBRARY") == NULL,
       "compcoll-run's COMPCOLL_LIBRARY is known");
    ok(compcoll_cfg_closest("COMPCOLL_WIRETYPE") != NULL &&
           strcmp(compcoll_cfg_closest("COMPCOLL_WIRETYPE"),
                  "COMPCOLL_WIRE_TYPE") == 0,
       "closest(WIRETYPE) is WIRE_TYPE");
    ok(compcoll_cfg_closest("COMPCOLL_min_count") != NULL &&
           strcmp(compcoll_cfg_closest("COMPCOLL_min_count"),
                  "COMPCOLL_MIN_COUNT") == 0,
       "closest ignores case");
}

static void test_man(void)
{
    char   *text = NULL;
    size_t  len  = 0, i, rows = 0;
    FILE   *f    = open_memstream(&text, &len);
    int     all  = 1;
    char   *p;

    compcoll_cfg_print_man(f);
    fclose(f);
    for (p = text; (p = strstr(p, ".TP\n.B ")) != NULL; p++) {
        rows++;
    }
    for (i = 0; i < compcoll_cfg_table_size; i++) {
        char want[128];

        snprintf(want, sizeof(want), ".B %s\n", compcoll_cfg_table[i].name);
        all &= strstr(text, want) != NULL;
    }
    ok(rows == compcoll_cfg_table_size && all,
       "man rows: one per variable (%zu)", rows);
    free(text);
}

int main(void)
{
    size_t nbad = 0, i, j;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        for (j = 0; j < 8 && bad_cases[i].bad[j] != NULL; j++) {
            nbad++;
        }
    }
    for (i = 0; i < compcoll_cfg_table_size; i++) {
        int found = 0;

        for (j = 0; j < sizeof(bad_cases) / sizeof(bad_cases[0]); j++) {
            found |= strcmp(bad_cases[j].name, compcoll_cfg_table[i].name) == 0;
        }
        ok(found, "bad values are tried for %s", compcoll_cfg_table[i].name);
    }
    test_defaults();
    test_bad_values();
    test_fault();
    test_digest();
    test_hierarchical();
    test_momentum();
    test_good_values();
    test_many_errors();
    test_unknown();
    test_man();
    diag("%zu bad values tried", nbad);
    return tap_done();
}
