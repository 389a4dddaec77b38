#include "compcoll_config.h"
#include "compcoll_locale.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_PREFIX     "COMPCOLL_"
#define CFG_UCX_PREFIX "COMPCOLL_UCX_" /* handed to UCX, not ours to check */

/* COMPCOLL_* names that belong to the tools, not to the library. */
static const char *const cfg_tool_names[] = {
    "COMPCOLL_LIBRARY", /* compcoll-run(1): the library to preload */
};

compcoll_config_t compcoll_cfg;

/* ------------------------------------------------------------ parsers */

typedef struct {
    unsigned long min;
    unsigned long max;
} cfg_range_t;

static compcoll_status_t cfg_parse_bool(const char *v, void *field,
                                        const void *arg, char *err, size_t len)
{
    static const char *const yes[] = {"y", "yes", "1", "on", "true"};
    static const char *const no[]  = {"n", "no", "0", "off", "false"};
    size_t                   i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *(int *)field = 1;
            return COMPCOLL_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *(int *)field = 0;
            return COMPCOLL_OK;
        }
    }
    snprintf(err, len, "expected y or n (also yes/no, 1/0, on/off, true/false)");
    return COMPCOLL_ERR_INVALID_PARAM;
}

static compcoll_status_t cfg_parse_enum(const char *v, void *field,
                                        const void *arg, char *err, size_t len)
{
    const compcoll_cfg_enum_t *e = arg;
    size_t                     used = 0;

    for (; e->name != NULL; e++) {
        if (strcasecmp(v, e->name) == 0) {
            *(int *)field = e->value;
            return COMPCOLL_OK;
        }
    }
    used = (size_t)snprintf(err, len, "expected one of:");
    for (e = arg; e->name != NULL && used < len; e++) {
        used += (size_t)snprintf(err + used, len - used, " %s", e->name);
    }
    return COMPCOLL_ERR_INVALID_PARAM;
}

/* A plain decimal integer: no sign, no spaces, no trailing characters. */
static int cfg_strtoul(const char *v, unsigned long long *out)
{
    char *end;

    if (!isdigit((unsigned char)v[0])) {
        return -1;
    }
    errno = 0;
    *out  = strtoull(v, &end, 10);
    return (errno == 0) ? (int)(end - v) : -1;
}

static compcoll_status_t cfg_parse_uint(const char *v, void *field,
                                        const void *arg, char *err, size_t len)
{
    const cfg_range_t  *r = arg;
    unsigned long long  x;
    int                 n = cfg_strtoul(v, &x);

    if (n < 0 || v[n] != '\0' || x < r->min || x > r->max) {
        snprintf(err, len, "expected an integer from %lu to %lu", r->min,
                 r->max);
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    *(unsigned *)field = (unsigned)x;
    return COMPCOLL_OK;
}

/* "auto" (stored as 0) or an integer in the row's range. */
static compcoll_status_t cfg_parse_auto_uint(const char *v, void *field,
                                             const void *arg, char *err,
                                             size_t len)
{
    const cfg_range_t *r = arg;

    if (strcasecmp(v, "auto") == 0) {
        *(unsigned *)field = 0;
        return COMPCOLL_OK;
    }
    if (cfg_parse_uint(v, field, arg, err, len) != COMPCOLL_OK) {
        snprintf(err, len, "expected auto or an integer from %lu to %lu",
                 r->min, r->max);
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    return COMPCOLL_OK;
}

/* A number within a part of [0, 1]: (0, 1] or [0, 1). */
typedef struct {
    int         zero_ok; /* 0 accepted, 1 not; else 1 accepted, 0 not */
    const char *expect;  /* the error's text */
} cfg_unit_t;

static const cfg_unit_t cfg_beta_unit = {
    0, "expected a number in (0, 1], e.g. 1 or 0.5"};
static const cfg_unit_t cfg_momentum_unit = {
    1, "expected a number in [0, 1): the optimizer's momentum, e.g. 0.9, or "
       "0 (off)"};

static compcoll_status_t cfg_parse_unit(const char *v, void *field,
                                        const void *arg, char *err, size_t len)
{
    const cfg_unit_t *u = arg;
    char             *end;
    double            x;

    /* a plain decimal number, 0.5 or 5e-1: no space, sign, hex or inf */
    if (!(isdigit((unsigned char)v[0]) || v[0] == '.') ||
        v[strspn(v, "0123456789.eE+-")] != '\0') {
        snprintf(err, len, "%s", u->expect);
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    errno = 0;
    x     = strtod(v, &end); /* in the C locale: compcoll_cfg_parse */
    if (end == v || *end != '\0' || errno != 0 || !isfinite(x) || x < 0.0 ||
        x > 1.0 || x == (u->zero_ok ? 1.0 : 0.0)) {
        snprintf(err, len, "%s", u->expect);
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    *(double *)field = x;
    return COMPCOLL_OK;
}

/* Sizes: "0" (no cap) or an integer with an optional binary unit. */
static compcoll_status_t cfg_parse_size(const char *v, void *field,
                                        const void *arg, char *err, size_t len)
{
    static const struct {
        const char *suffix;
        unsigned    shift;
    } units[] = {{"", 0},    {"b", 0},   {"k", 10},  {"kb", 10}, {"m", 20},
                 {"mb", 20}, {"g", 30},  {"gb", 30}, {"t", 40},  {"tb", 40}};
    unsigned long long x;
    int                n = cfg_strtoul(v, &x);
    size_t             i;

    if (n >= 0) {
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcasecmp(v + n, units[i].suffix) == 0) {
                if (x > (SIZE_MAX >> units[i].shift)) {
                    break;
                }
                *(size_t *)field = (size_t)(x << units[i].shift);
                return COMPCOLL_OK;
            }
        }
    }
    snprintf(err, len,
             "expected a size such as 512m, 4g or 1073741824 (units k, m, g, "
             "t: powers of 1024), or 0 for no cap");
    return COMPCOLL_ERR_INVALID_PARAM;
}

static compcoll_status_t cfg_parse_stats(const char *v, void *field,
                                         const void *arg, char *err,
                                         size_t len)
{
    compcoll_config_t *cfg = (compcoll_config_t *)((char *)field -
                              offsetof(compcoll_config_t, stats));
    size_t             n   = strlen(v);

    cfg->stats_path[0] = '\0';
    if (strcmp(v, "0") == 0) {
        cfg->stats = COMPCOLL_STATS_OFF;
        return COMPCOLL_OK;
    }
    if (strcmp(v, "1") == 0) {
        cfg->stats = COMPCOLL_STATS_SUMMARY;
        return COMPCOLL_OK;
    }
    if (n > 5 && strcmp(v + n - 5, ".json") == 0 &&
        n < sizeof(cfg->stats_path)) {
        memcpy(cfg->stats_path, v, n + 1);
        cfg->stats = COMPCOLL_STATS_JSON;
        return COMPCOLL_OK;
    }
    snprintf(err, len, "expected 0, 1, or a file path ending in .json");
    return COMPCOLL_ERR_INVALID_PARAM;
}

static const char *const cfg_fault_points[COMPCOLL_FAULT_POINTS] = {
    "alloc", "validate", "decode", "transport", "kernel", "tensor",
    "window", "node", "agree", "result"};

const char *compcoll_fault_point_name(int point)
{
    return (point >= 0 && point < COMPCOLL_FAULT_POINTS)
               ? cfg_fault_points[point]
               : "?";
}

/* POINT:RANK:CALL[,POINT:RANK:CALL...], or empty, into a compcoll_faults_t. */
static compcoll_status_t cfg_parse_fault(const char *v, void *field,
                                         const void *arg, char *err,
                                         size_t len)
{
    compcoll_faults_t *faults = field;
    compcoll_fault_t  *f      = faults->list;
    unsigned           n      = 0;

    memset(faults, 0, sizeof(*faults)); /* a refused list leaves nothing */
    while (*v != '\0') {
        unsigned long long call;
        long               rank;
        size_t             plen = strcspn(v, ":");
        char              *end;
        int                p;

        for (p = 0; p < COMPCOLL_FAULT_POINTS; p++) {
            if (strlen(cfg_fault_points[p]) == plen &&
                strncmp(v, cfg_fault_points[p], plen) == 0) {
                break;
            }
        }
        if (p == COMPCOLL_FAULT_POINTS || v[plen] != ':') {
            size_t at = (size_t)snprintf(err, len, "expected POINT:RANK:CALL "
                                         "with POINT one of");

            for (p = 0; p < COMPCOLL_FAULT_POINTS && at < len; p++) {
                at += (size_t)snprintf(err + at, len - at, "%s %s",
                                       p == 0 ? "" : ",",
                                       cfg_fault_points[p]);
            }
            return COMPCOLL_ERR_INVALID_PARAM;
        }
        errno = 0;
        rank  = strtol(v + plen + 1, &end, 10);
        if (!isdigit((unsigned char)v[plen + 1]) || errno != 0 ||
            end == v + plen + 1 || *end != ':' || rank < 0 ||
            rank > INT_MAX || !isdigit((unsigned char)end[1])) {
            snprintf(err, len, "expected POINT:RANK:CALL with RANK and CALL "
                     "integers >= 0");
            return COMPCOLL_ERR_INVALID_PARAM;
        }
        call = strtoull(end + 1, &end, 10);
        if (errno != 0 || (*end != '\0' && *end != ',') ||
            (*end == ',' && end[1] == '\0')) {
            snprintf(err, len, "expected POINT:RANK:CALL[,POINT:RANK:CALL...]");
            return COMPCOLL_ERR_INVALID_PARAM;
        }
        if (n == COMPCOLL_FAULT_MAX) {
            snprintf(err, len, "at most %d faults", COMPCOLL_FAULT_MAX);
            return COMPCOLL_ERR_INVALID_PARAM;
        }
        f[n].point = p;
        f[n].rank  = (int)rank;
        f[n].call  = call;
        n++;
        v = (*end == ',') ? end + 1 : end;
    }
    faults->n = n;
    return COMPCOLL_OK;
}

/* ------------------------------------------------------------ the table */

static const compcoll_cfg_enum_t cfg_methods[] = {
    {"scalecom", COMPCOLL_METHOD_SCALECOM},
    {"adacomp", COMPCOLL_METHOD_ADACOMP},
    {"topk", COMPCOLL_METHOD_TOPK},
    {"dense", COMPCOLL_METHOD_DENSE},
    {"none", COMPCOLL_METHOD_NONE},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_selects[] = {
    {"exact", COMPCOLL_SELECT_EXACT},
    {"chunk", COMPCOLL_SELECT_CHUNK},
    {"sample", COMPCOLL_SELECT_SAMPLE},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_wires[] = {
    {"fp32", COMPCOLL_WIRE_FP32},
    {"fp16", COMPCOLL_WIRE_FP16},
    {"bf16", COMPCOLL_WIRE_BF16},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_transports[] = {
    {"ucx", COMPCOLL_TRANSPORT_UCX},
    {"mpi", COMPCOLL_TRANSPORT_MPI},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_keys[] = {
    {"auto", COMPCOLL_KEY_AUTO},
    {"address", COMPCOLL_KEY_ADDRESS},
    {"sequence", COMPCOLL_KEY_SEQUENCE},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_hiers[] = {
    {"auto", COMPCOLL_HIER_AUTO},
    {"y", COMPCOLL_HIER_YES},
    {"yes", COMPCOLL_HIER_YES},
    {"n", COMPCOLL_HIER_NO},
    {"no", COMPCOLL_HIER_NO},
    {NULL, 0}};

static const compcoll_cfg_enum_t cfg_levels[] = {
    {"error", COMPCOLL_LOG_ERROR},
    {"warn", COMPCOLL_LOG_WARN},
    {"info", COMPCOLL_LOG_INFO},
    {"debug", COMPCOLL_LOG_DEBUG},
    {"trace", COMPCOLL_LOG_TRACE},
    {NULL, 0}};

static const cfg_range_t cfg_ratio_range  = {1, INT_MAX};
static const cfg_range_t cfg_count_range  = {1, INT_MAX};
static const cfg_range_t cfg_warmup_range = {0, UINT_MAX};
static const cfg_range_t cfg_bin_range    = {1, INT_MAX};

/* whether a row must be equal on every rank (compcoll_cfg_field_t.local) */
#define CFG_AGREED 0
#define CFG_LOCAL  1

#define CFG_FIELD_OFFSET(_f) offsetof(compcoll_config_t, _f)
#define CFG_FIELD(_f) \
    offsetof(compcoll_config_t, _f), sizeof(((compcoll_config_t *)0)->_f)

const compcoll_cfg_field_t compcoll_cfg_table[] = {
    {"COMPCOLL_ENABLE", "y", "y|n",
     "Master switch. With n every MPI call goes to the MPI library unchanged "
     "and no transport is set up.",
     CFG_FIELD(enable), cfg_parse_bool, NULL, CFG_AGREED},
    {"COMPCOLL_METHOD", "scalecom", "scalecom|adacomp|topk|dense|none",
     "Method for eligible calls. scalecom: cyclic local top-k with low-pass "
     "error feedback, shared indices. adacomp: AdaComp bin-local residual "
     "selection with ternary values. topk: local top-k of every rank with "
     "classic error feedback. adacomp and topk pick different indices on "
     "every rank and exchange them by allgatherv, so their bytes grow with "
     "the number of ranks. dense: every value summed over the library's "
     "transport, sent as COMPCOLL_WIRE_TYPE, no error feedback. none: every "
     "call goes to the MPI library.",
     CFG_FIELD(method), cfg_parse_enum, cfg_methods, CFG_AGREED},
    {"COMPCOLL_RATIO", "100", "integer >= 1",
     "Compression ratio: a compressed tensor of n elements sends "
     "k = ceil(n / COMPCOLL_RATIO) values.",
     CFG_FIELD(ratio), cfg_parse_uint, &cfg_ratio_range, CFG_AGREED},
    {"COMPCOLL_MIN_COUNT", "8192", "integer >= 1",
     "Smallest element count that is compressed; calls with fewer elements go "
     "to the MPI library unchanged.",
     CFG_FIELD(min_count), cfg_parse_uint, &cfg_count_range, CFG_AGREED},
    {"COMPCOLL_SELECT", "sample", "exact|chunk|sample",
     "How scalecom's leader, or every rank with topk, picks k indices. "
     "exact: the k largest |a| (ties go "
     "to the lower index), by a two-pass radix select. chunk: the largest "
     "|a| of each of k equal chunks. "
     "sample: a threshold estimated from a random sample, then trimmed to k; "
     "it selects the same indices as exact (falling back to it when the "
     "sample misjudges) at less cost on large tensors, except in a "
     "pipelined call (libcompcoll(7), Pipelining), where each piece takes "
     "the exact top of a quota of k that the sample plans.",
     CFG_FIELD(select), cfg_parse_enum, cfg_selects, CFG_AGREED},
    {"COMPCOLL_BETA", "1", "number in (0, 1]",
     "Low-pass filter of scalecom's error-feedback memory: "
     "m <- (1 - beta) m + beta (a - C(a)). 1 is classic error feedback, "
     "which adacomp and topk always use.",
     CFG_FIELD(beta), cfg_parse_unit, &cfg_beta_unit, CFG_AGREED},
    {"COMPCOLL_MOMENTUM", "0", "number in [0, 1)",
     "Momentum correction of scalecom for SGD with heavy-ball momentum: set "
     "it to the optimizer's momentum (e.g. 0.9). Each rank compresses its "
     "velocity u <- mu u + g in place of g, a sparse call clears the "
     "velocity where it sent, and the call returns S - mu S', S its sum and "
     "S' the tensor's previous one, so that the optimizer's momentum buffer "
     "holds S. Right only for SGD with momentum mu (dampening 0, not "
     "Nesterov) making one call per tensor per step: the output is not the "
     "gradients' sum. Takes three more words per element (within "
     "COMPCOLL_MAX_MEMORY); device buffers go through host memory. "
     "Needs COMPCOLL_METHOD=scalecom. 0: off.",
     CFG_FIELD(momentum), cfg_parse_unit, &cfg_momentum_unit, CFG_AGREED},
    {"COMPCOLL_WARMUP", "0", "integer >= 0",
     "Number of calls per tensor that are summed densely (in fp32) before "
     "compression starts, for every compressing method.",
     CFG_FIELD(warmup), cfg_parse_uint, &cfg_warmup_range, CFG_AGREED},
    {"COMPCOLL_RAMP", "0", "integer >= 0",
     "Sparsity ramp of scalecom and topk: over a tensor's first N compressed "
     "calls (after COMPCOLL_WARMUP) the ratio rises geometrically from "
     "min(4, COMPCOLL_RATIO) to COMPCOLL_RATIO, call c sending "
     "k = ceil(n / (4 (COMPCOLL_RATIO / 4)^(c / N))) values, so that the "
     "error-feedback memories build up while the gradient changes fastest. "
     "The ramp costs about N (1/4 - 1/COMPCOLL_RATIO) / ln(COMPCOLL_RATIO / 4) "
     "dense calls' bytes per tensor. Where the ranks count a tensor's calls "
     "differently (buffers keyed apart), scalecom takes the leader's k and "
     "topk's ranks each send their own. "
     "0: off.",
     CFG_FIELD(ramp), cfg_parse_uint, &cfg_warmup_range, CFG_AGREED},
    {"COMPCOLL_DIAG_EVERY", "0", "integer >= 0",
     "Every N compressed scalecom calls of a communicator, measure how much "
     "of the energy of the global top-k of the error-compensated sum "
     "(every rank's a = m + g, summed) the leader's k indices captured: one "
     "dense all-reduce of the memories, a selection and two sums on every "
     "rank. Reported in the statistics as topk_energy_captured (mean, "
     "least, calls measured). With COMPCOLL_BETA=1 and host buffers only. "
     "0: off.",
     CFG_FIELD(diag_every), cfg_parse_uint, &cfg_warmup_range, CFG_AGREED},
    {"COMPCOLL_ADACOMP_BIN", "auto", "auto|integer >= 1",
     "Bin length of adacomp. auto: 50 for tensors of fewer than 65536 "
     "elements (convolution-sized), 500 from there on (fully-connected-"
     "sized), the values the AdaComp paper used.",
     CFG_FIELD(adacomp_bin), cfg_parse_auto_uint, &cfg_bin_range,
     CFG_AGREED},
    {"COMPCOLL_WIRE_TYPE", "fp32", "fp32|fp16|bf16",
     "Encoding of the values on the wire: scalecom's k values, topk's "
     "values and every value of method dense (adacomp sends signs). Sums are "
     "accumulated in fp32. scalecom does not feed the rounding error of fp16 "
     "or bf16 back into its memory; topk does.",
     CFG_FIELD(wire), cfg_parse_enum, cfg_wires, CFG_AGREED},
    {"COMPCOLL_TRANSPORT", "ucx", "ucx|mpi",
     "Transport of the library's own traffic. ucx: the library's own UCX "
     "context (tuned with COMPCOLL_UCX_* variables, e.g. COMPCOLL_UCX_TLS). "
     "mpi: PMPI collectives. When UCX cannot be set up on every rank of a "
     "communicator, that communicator uses mpi, with one warning.",
     CFG_FIELD(transport), cfg_parse_enum, cfg_transports, CFG_AGREED},
    {"COMPCOLL_KEY", "auto", "auto|address|sequence",
     "What identifies a tensor's error-feedback memory. auto: the buffer "
     "address while the communicator's cycle of calls is learned (the "
     "ranks agree on it call by call), then the position in that cycle, so "
     "that programs that reuse their buffers and "
     "programs that pass a fresh buffer every step (PyTorch's zero_grad, "
     "torch.cat buckets) keep one memory per tensor. address: "
     "(communicator, buffer address, count). sequence: (communicator, count, "
     "position in the repeating sequence of compressed calls). Memories "
     "unused for 8 cycles are retired.",
     CFG_FIELD(key), cfg_parse_enum, cfg_keys, CFG_AGREED},
    {"COMPCOLL_MAX_MEMORY", "8g", "size, e.g. 512m, 4g; 0 = no cap",
     "Cap on the error-feedback memory of one process. A tensor that does not "
     "fit gets no memory: its calls are summed densely while this process "
     "leads them (scalecom) or always (adacomp, topk), with one warning.",
     CFG_FIELD(max_memory), cfg_parse_size, NULL, CFG_LOCAL},
    {"COMPCOLL_HIERARCHICAL", "auto", "auto|y|n",
     "Dense reduction inside a node and compression between nodes: the ranks "
     "of a node sum their gradients through MPI (shared memory), the node "
     "leaders run the method among themselves, and each leader broadcasts "
     "the result to its node. auto: on for a communicator that spans several "
     "nodes with more than one rank on some node. y: on whenever some node "
     "holds more than one rank of the communicator. n: every rank takes part "
     "in the compressed exchange.",
     CFG_FIELD(hierarchical), cfg_parse_enum, cfg_hiers, CFG_AGREED},
    {"COMPCOLL_RANKS_PER_NODE", "auto", "auto|integer >= 1",
     "What a node is for COMPCOLL_HIERARCHICAL. auto: the ranks that share "
     "memory (MPI_Comm_split_type MPI_COMM_TYPE_SHARED). N: each block of N "
     "consecutive ranks of the communicator, e.g. to try the hierarchy on "
     "one host or to split a large host.",
     CFG_FIELD(ranks_per_node), cfg_parse_auto_uint, &cfg_count_range,
     CFG_AGREED},
    {"COMPCOLL_STATS", "0", "0|1|PATH.json",
     "Statistics at MPI_Finalize. 1: a summary table on standard error of "
     "rank 0. A path ending in .json: rank 0 writes the statistics there as "
     "one JSON object.",
     CFG_FIELD(stats), cfg_parse_stats, NULL, CFG_LOCAL},
    {"COMPCOLL_LOG_LEVEL", "warn", "error|warn|info|debug|trace",
     "Messages printed on standard error. trace prints one line per "
     "intercepted call with its decision and the reason.",
     CFG_FIELD(log_level), cfg_parse_enum, cfg_levels, CFG_LOCAL},
    {"COMPCOLL_FAULT", "", "POINT:RANK:CALL[,...]",
     "Test aid: make the library fail on purpose. Each POINT:RANK:CALL makes "
     "call number CALL (counted from 0 over each communicator's compressed "
     "calls) fail on MPI_COMM_WORLD rank RANK at POINT: alloc (its buffers "
     "cannot be had), validate (the leader's header is rejected), decode "
     "(the leader's indices are rejected), transport (a transport operation "
     "reports failure after moving its bytes), kernel (the index "
     "selection fails), tensor (the state of a tensor the call is the "
     "first of on that rank cannot be allocated; other calls are not "
     "touched), window (while COMPCOLL_KEY=auto learns the cycle of "
     "calls, it cannot note the call: the ranks learn anew from it, and "
     "nothing fails), node (the sum over the ranks of a node in a "
     "COMPCOLL_HIERARCHICAL call reports an MPI failure after it "
     "completed), result (the node leader's broadcast of such a call's "
     "result reports an MPI failure after it completed) or agree (the "
     "ranks' agreement on the outcome of a call reports failure after it "
     "completed); node, result and agree end the job. A "
     "call that fails then fails on every rank, as a real failure would. "
     "Empty: no faults.",
     CFG_FIELD(fault), cfg_parse_fault, NULL, CFG_LOCAL},
};

const size_t compcoll_cfg_table_size =
    sizeof(compcoll_cfg_table) / sizeof(compcoll_cfg_table[0]);

/* ------------------------------------------------------------ lookup */

static const char *cfg_env(char *const *envp, const char *name)
{
    size_t len = strlen(name);

    for (; envp != NULL && *envp != NULL; envp++) {
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=') {
            return *envp + len + 1;
        }
    }
    return NULL;
}

const char *compcoll_cfg_value(const compcoll_cfg_field_t *field,
                               char *const *envp)
{
    const char *v = cfg_env(envp, field->name);

    return v ? v : field->dflt;
}

static const compcoll_cfg_field_t *cfg_find(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < compcoll_cfg_table_size; i++) {
        if (strlen(compcoll_cfg_table[i].name) == len &&
            strncmp(compcoll_cfg_table[i].name, name, len) == 0) {
            return &compcoll_cfg_table[i];
        }
    }
    return NULL;
}

static int cfg_is_tool_name(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(cfg_tool_names) / sizeof(cfg_tool_names[0]); i++) {
        if (strlen(cfg_tool_names[i]) == len &&
            strncmp(cfg_tool_names[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *compcoll_cfg_enum_name(const char *var, int value)
{
    const compcoll_cfg_field_t *f = cfg_find(var, strlen(var));
    const compcoll_cfg_enum_t  *e;

    if (f == NULL || f->parse != cfg_parse_enum) {
        return "?";
    }
    for (e = f->arg; e->name != NULL; e++) {
        if (e->value == value) {
            return e->name;
        }
    }
    return "?";
}

/* Levenshtein distance over the part after COMPCOLL_. */
static size_t cfg_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t row[64];
    size_t i, j, diag, up;

    if (lb >= sizeof(row) / sizeof(row[0])) {
        return SIZE_MAX;
    }
    for (j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (i = 1; i <= la; i++) {
        diag   = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            up     = row[j];
            row[j] = diag + (toupper((unsigned char)a[i - 1]) != b[j - 1]);
            if (up + 1 < row[j]) {
                row[j] = up + 1;
            }
            if (row[j - 1] + 1 < row[j]) {
                row[j] = row[j - 1] + 1;
            }
            diag = up;
        }
    }
    return row[lb];
}

const char *compcoll_cfg_closest(const char *name)
{
    const size_t plen  = strlen(CFG_PREFIX);
    const char  *best  = NULL;
    size_t       bestd = SIZE_MAX;
    size_t       i, d, len;

    if (strncasecmp(name, CFG_PREFIX, plen) == 0) {
        name += plen;
    }
    len = strcspn(name, "=");
    for (i = 0; i < compcoll_cfg_table_size; i++) {
        const char *cand = compcoll_cfg_table[i].name + plen;

        d = cfg_distance(name, len, cand, strlen(cand));
        if (d < bestd) {
            bestd = d;
            best  = compcoll_cfg_table[i].name;
        }
    }
    /* Suggest only what is plausibly a typo: at most a third changed. */
    return (bestd <= (len + 2) / 3) ? best : NULL;
}

/* ------------------------------------------------------------ parse */

static compcoll_status_t cfg_parse_all(compcoll_config_t *cfg,
                                       char *const *envp,
                                       compcoll_cfg_report_fn_t report,
                                       compcoll_cfg_report_fn_t warn,
                                       void *ctx);

compcoll_status_t compcoll_cfg_parse(compcoll_config_t *cfg, char *const *envp,
                                     compcoll_cfg_report_fn_t report,
                                     compcoll_cfg_report_fn_t warn, void *ctx)
{
    compcoll_c_numeric_t c;
    compcoll_status_t    status;

    /* in the C locale, whatever the program's: 0.5 is a number and
     * strcasecmp("INFO", "info") holds under tr_TR too */
    compcoll_c_numeric_begin(&c);
    status = cfg_parse_all(cfg, envp, report, warn, ctx);
    compcoll_c_numeric_end(&c);
    return status;
}

static compcoll_status_t cfg_parse_all(compcoll_config_t *cfg,
                                       char *const *envp,
                                       compcoll_cfg_report_fn_t report,
                                       compcoll_cfg_report_fn_t warn,
                                       void *ctx)
{
    compcoll_status_t result = COMPCOLL_OK;
    char              err[256], msg[PATH_MAX + 512];
    size_t            i;

    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < compcoll_cfg_table_size; i++) {
        const compcoll_cfg_field_t *f     = &compcoll_cfg_table[i];
        const char                 *value = cfg_env(envp, f->name);
        void                       *field = (char *)cfg + f->offset;

        /* The default is valid by construction: parse it first so a
         * rejected user value still leaves a usable configuration. */
        err[0] = '\0';
        if (f->parse(f->dflt, field, f->arg, err, sizeof(err)) != COMPCOLL_OK) {
            snprintf(msg, sizeof(msg), "internal: default of %s rejected: %s",
                     f->name, err);
            report(ctx, msg);
            result = COMPCOLL_ERR_INVALID_PARAM;
        }
        if (value == NULL) {
            continue;
        }
        if (f->parse(value, field, f->arg, err, sizeof(err)) != COMPCOLL_OK) {
            snprintf(msg, sizeof(msg), "invalid %s='%s': %s", f->name, value,
                     err);
            report(ctx, msg);
            f->parse(f->dflt, field, f->arg, err, sizeof(err));
            result = COMPCOLL_ERR_INVALID_PARAM;
        }
    }

    /* momentum correction changes what a call returns: only scalecom
     * makes it (an uncompressed job, METHOD=none or ENABLE=n, returns the
     * sums themselves, which the optimizer's momentum takes as usual) */
    if (cfg->momentum != 0.0 && cfg->enable &&
        cfg->method != COMPCOLL_METHOD_SCALECOM &&
        cfg->method != COMPCOLL_METHOD_NONE) {
        snprintf(msg, sizeof(msg),
                 "invalid COMPCOLL_MOMENTUM='%s': momentum correction needs "
                 "COMPCOLL_METHOD=scalecom (COMPCOLL_METHOD is %s); set "
                 "COMPCOLL_MOMENTUM=0 or unset it",
                 cfg_env(envp, "COMPCOLL_MOMENTUM"),
                 compcoll_cfg_enum_name("COMPCOLL_METHOD", cfg->method));
        report(ctx, msg);
        cfg->momentum = 0.0;
        result = COMPCOLL_ERR_INVALID_PARAM;
    }

    for (; envp != NULL && *envp != NULL; envp++) {
        const char *e   = *envp;
        size_t      len = strcspn(e, "=");
        const char *best;

        if (strncmp(e, CFG_PREFIX, strlen(CFG_PREFIX)) != 0 ||
            strncmp(e, CFG_UCX_PREFIX, strlen(CFG_UCX_PREFIX)) == 0 ||
            cfg_find(e, len) != NULL || cfg_is_tool_name(e, len)) {
            continue;
        }
        best = compcoll_cfg_closest(e);
        if (best != NULL) {
            snprintf(msg, sizeof(msg),
                     "unknown variable %.*s is ignored; did you mean %s?",
                     (int)len, e, best);
        } else {
            snprintf(msg, sizeof(msg),
                     "unknown variable %.*s is ignored; `compcoll-info -c` "
                     "lists the valid ones",
                     (int)len, e);
        }
        warn(ctx, msg);
    }
    return result;
}

/* ------------------------------------------------------------ agreement */

void compcoll_cfg_digest(const compcoll_config_t *cfg, uint64_t *digest)
{
    const int compresses = cfg->enable &&
                           cfg->method != COMPCOLL_METHOD_NONE;
    size_t    i, b;

    for (i = 0; i < compcoll_cfg_table_size; i++) {
        const compcoll_cfg_field_t *f = &compcoll_cfg_table[i];
        const unsigned char        *v = (const unsigned char *)cfg + f->offset;
        uint64_t                    h = 1469598103934665603ull; /* FNV-1a */

        if (f->local || (!compresses && f->offset != CFG_FIELD_OFFSET(enable) &&
                         f->offset != CFG_FIELD_OFFSET(method))) {
            digest[i] = 0;
            continue;
        }
        for (b = 0; b < f->size; b++) {
            h = (h ^ v[b]) * 1099511628211ull;
        }
        digest[i] = h;
    }
}

/* ------------------------------------------------------------ printing */

#define CFG_LOCAL_NOTE  " May differ between ranks."
#define CFG_AGREED_NOTE " Must be the same on every rank: MPI_Init checks."


void compcoll_cfg_print_table(FILE *out, char *const *envp)
{
    size_t i;

    for (i = 0; i < compcoll_cfg_table_size; i++) {
        const compcoll_cfg_field_t *f = &compcoll_cfg_table[i];
        const char                 *v = cfg_env(envp, f->name);

        fprintf(out, "%s=%s%s\n", f->name, v ? v : f->dflt,
                v ? "" : "  (default)");
        fprintf(out, "    values: %s; default: %s\n", f->syntax,
                f->dflt[0] != '\0' ? f->dflt : "unset");
        fprintf(out, "    %s%s\n\n", f->doc,
                f->local ? CFG_LOCAL_NOTE : CFG_AGREED_NOTE);
    }
}

/* roff-escape: backslashes and a leading dot or quote. */
static void cfg_print_roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'') {
        fputs("\\&", out);
    }
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            fputs("\\e", out);
        } else if (*s == '-') {
            fputs("\\-", out);
        } else {
            fputc(*s, out);
        }
    }
}

void compcoll_cfg_print_man(FILE *out)
{
    size_t i;

    for (i = 0; i < compcoll_cfg_table_size; i++) {
        const compcoll_cfg_field_t *f = &compcoll_cfg_table[i];

        fputs(".TP\n.B ", out);
        cfg_print_roff(out, f->name);
        fputs("\n", out);
        cfg_print_roff(out, f->syntax);
        if (f->dflt[0] != '\0') {
            fputs("; default \\fB", out);
            cfg_print_roff(out, f->dflt);
            fputs("\\fR", out);
        } else {
            fputs("; unset by default", out);
        }
        fputs(".\n", out);
        cfg_print_roff(out, f->doc);
        cfg_print_roff(out, f->local ? CFG_LOCAL_NOTE : CFG_AGREED_NOTE);
        fputs("\n", out);
    }
}
