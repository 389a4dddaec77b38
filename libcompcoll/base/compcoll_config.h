/*
 * libcompcoll: the configuration table.
 *
 * Every COMPCOLL_* variable is one row of compcoll_cfg_table: its name, its
 * default, what values it takes, its documentation and the parser that fills
 * its field of compcoll_config_t.  The parser, `compcoll-info -c` and the
 * ENVIRONMENT section of libcompcoll(7) are all generated from that table.
 */
#ifndef COMPCOLL_CONFIG_H
#define COMPCOLL_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compcoll_log.h"
#include "compcoll_status.h"
#include "compcoll_wire.h"

typedef enum {
    COMPCOLL_METHOD_SCALECOM,
    COMPCOLL_METHOD_ADACOMP,
    COMPCOLL_METHOD_TOPK,
    COMPCOLL_METHOD_DENSE,
    COMPCOLL_METHOD_NONE,
} compcoll_method_id_t;

typedef enum {
    COMPCOLL_SELECT_EXACT,
    COMPCOLL_SELECT_CHUNK,
    COMPCOLL_SELECT_SAMPLE,
} compcoll_select_t;

typedef enum {
    COMPCOLL_TRANSPORT_UCX,
    COMPCOLL_TRANSPORT_MPI,
} compcoll_transport_id_t;

typedef enum {
    COMPCOLL_KEY_AUTO,
    COMPCOLL_KEY_ADDRESS,
    COMPCOLL_KEY_SEQUENCE,
} compcoll_key_t;

typedef enum {
    COMPCOLL_HIER_AUTO,
    COMPCOLL_HIER_YES,
    COMPCOLL_HIER_NO,
} compcoll_hier_t;

typedef enum {
    COMPCOLL_STATS_OFF,
    COMPCOLL_STATS_SUMMARY,
    COMPCOLL_STATS_JSON,
} compcoll_stats_mode_t;

/* Test aid (COMPCOLL_FAULT): where a call is made to fail. */
typedef enum {
    COMPCOLL_FAULT_ALLOC,     /* the call's buffers cannot be had */
    COMPCOLL_FAULT_VALIDATE,  /* the leader's header is rejected */
    COMPCOLL_FAULT_DECODE,    /* the leader's indices are rejected */
    COMPCOLL_FAULT_TRANSPORT, /* a transport operation reports failure */
    COMPCOLL_FAULT_KERNEL,    /* a compute kernel (selection) fails */
    COMPCOLL_FAULT_TENSOR,    /* a new tensor's state cannot be had */
    COMPCOLL_FAULT_WINDOW,    /* COMPCOLL_KEY=auto cannot note a call */
    COMPCOLL_FAULT_NODE,      /* a hierarchical call's step on the node */
    COMPCOLL_FAULT_AGREE,     /* the agreement on a call's outcome */
    COMPCOLL_FAULT_RESULT,    /* a hierarchical call's result to the node */
    COMPCOLL_FAULT_POINTS
} compcoll_fault_point_t;

#define COMPCOLL_FAULT_MAX 8

/* Fail `point` on world rank `rank` in call number `call` (0-based, of
 * each communicator's compressed calls). */
typedef struct {
    int      point; /* compcoll_fault_point_t */
    int      rank;
    uint64_t call;
} compcoll_fault_t;

typedef struct {
    compcoll_fault_t list[COMPCOLL_FAULT_MAX];
    unsigned         n;
} compcoll_faults_t;

typedef struct {
    int                     enable;
    int                     method;       /* compcoll_method_id_t */
    unsigned                ratio;
    unsigned                min_count;
    int                     select;       /* compcoll_select_t */
    double                  beta;
    double                  momentum;     /* 0 = off */
    unsigned                warmup;
    unsigned                ramp;         /* 0 = off */
    unsigned                diag_every;   /* 0 = off */
    unsigned                adacomp_bin;  /* 0 = auto */
    int                     wire;         /* compcoll_wire_t */
    int                     transport;    /* compcoll_transport_id_t */
    int                     key;          /* compcoll_key_t */
    size_t                  max_memory;   /* bytes; 0 = no cap */
    int                     hierarchical; /* compcoll_hier_t */
    unsigned                ranks_per_node; /* 0 = shared memory */
    int                     stats;        /* compcoll_stats_mode_t */
    char                    stats_path[PATH_MAX];
    int                     log_level;    /* compcoll_log_level_t */
    compcoll_faults_t       fault;        /* COMPCOLL_FAULT (test aid) */
} compcoll_config_t;

/* One accepted word of an enumerated variable. */
typedef struct {
    const char *name;
    int         value;
} compcoll_cfg_enum_t;

typedef compcoll_status_t (*compcoll_cfg_parse_fn_t)(const char *value,
                                                     void *field,
                                                     const void *arg,
                                                     char *err, size_t errlen);

typedef struct {
    const char              *name;    /* full name, COMPCOLL_... */
    const char              *dflt;    /* default, as the user would write it */
    const char              *syntax;  /* accepted values, for humans */
    const char              *doc;
    size_t                   offset;  /* of the field in compcoll_config_t */
    size_t                   size;    /* of that field */
    compcoll_cfg_parse_fn_t  parse;
    const void              *arg;     /* parser argument (enum table, range) */
    int                      local;   /* may differ between ranks; every
                                       * other row is checked at MPI_Init */
} compcoll_cfg_field_t;

extern const compcoll_cfg_field_t compcoll_cfg_table[];
extern const size_t               compcoll_cfg_table_size;

/*
 * Fill cfg from the defaults and the environment.  Every invalid variable is
 * reported through report(msg) (all of them, not only the first) and the
 * result is COMPCOLL_ERR_INVALID_PARAM.  Unknown COMPCOLL_* names go to
 * warn(msg) with the closest valid name.
 */
typedef void (*compcoll_cfg_report_fn_t)(void *ctx, const char *msg);
compcoll_status_t compcoll_cfg_parse(compcoll_config_t *cfg, char *const *envp,
                                     compcoll_cfg_report_fn_t report,
                                     compcoll_cfg_report_fn_t warn, void *ctx);

/* The effective value of a row: the environment's, else the default. */
const char *compcoll_cfg_value(const compcoll_cfg_field_t *field,
                               char *const *envp);

/*
 * A digest of each row's value in cfg (digest[i] for compcoll_cfg_table[i]),
 * equal on two ranks iff they behave alike: 0 for `local` rows, and for
 * every row but ENABLE and METHOD when cfg does not compress.
 */
void compcoll_cfg_digest(const compcoll_config_t *cfg, uint64_t *digest);

/* The closest known variable name to name (edit distance), or NULL. */
const char *compcoll_cfg_closest(const char *name);

/* Name of an enumerated value of a row, for reports ("scalecom"). */
const char *compcoll_cfg_enum_name(const char *var, int value);
/* Name of a fault point (COMPCOLL_FAULT), for messages. */
const char *compcoll_fault_point_name(int point);

/* `compcoll-info -c` and the man page's ENVIRONMENT section. */
void compcoll_cfg_print_table(FILE *out, char *const *envp);
void compcoll_cfg_print_man(FILE *out);

/* The configuration of this process (valid after compcoll_init). */
extern compcoll_config_t compcoll_cfg;

#endif
