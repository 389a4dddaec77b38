/*
 * libcompcoll: leveled logging.
 *
 * Every line carries "[host:pid:rank] COMPCOLL LEVEL file:line".  The level is
 * tested before any argument is formatted, so disabled trace calls cost one
 * compare.  Messages go to stderr.
 */
#ifndef COMPCOLL_LOG_H
#define COMPCOLL_LOG_H

typedef enum {
    COMPCOLL_LOG_OFF = -1, /* nothing (test harnesses) */
    COMPCOLL_LOG_ERROR,
    COMPCOLL_LOG_WARN,
    COMPCOLL_LOG_INFO,
    COMPCOLL_LOG_DEBUG,
    COMPCOLL_LOG_TRACE,
} compcoll_log_level_t;

extern compcoll_log_level_t compcoll_log_level;

void compcoll_log_set_rank(int rank);
void compcoll_log_emit(compcoll_log_level_t level, const char *file, int line,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define compcoll_log(_level, ...)                                            \
    do {                                                                     \
        if ((_level) <= compcoll_log_level) {                                \
            compcoll_log_emit((_level), __FILE__, __LINE__, __VA_ARGS__);    \
        }                                                                    \
    } while (0)

#define compcoll_error(...) compcoll_log(COMPCOLL_LOG_ERROR, __VA_ARGS__)
#define compcoll_warn(...)  compcoll_log(COMPCOLL_LOG_WARN, __VA_ARGS__)
#define compcoll_info(...)  compcoll_log(COMPCOLL_LOG_INFO, __VA_ARGS__)
#define compcoll_debug(...) compcoll_log(COMPCOLL_LOG_DEBUG, __VA_ARGS__)
#define compcoll_trace(...) compcoll_log(COMPCOLL_LOG_TRACE, __VA_ARGS__)

/* Warn once per call site for the life of the process. */
#define compcoll_warn_once(...)                                              \
    do {                                                                     \
        static int _compcoll_warned;                                         \
        if (!_compcoll_warned) {                                             \
            _compcoll_warned = 1;                                            \
            compcoll_warn(__VA_ARGS__);                                      \
        }                                                                    \
    } while (0)

/*
 * Check an MPI call made on our own behalf: on failure log the call text and
 * MPI's error string, set _status and jump to _label.
 */
#define COMPCOLL_MPI_CHECK_GOTO(_call, _status, _label)                      \
    do {                                                                     \
        int _rc = (_call);                                                   \
        if (_rc != MPI_SUCCESS) {                                            \
            char _msg[MPI_MAX_ERROR_STRING];                                 \
            int  _len = 0;                                                   \
            PMPI_Error_string(_rc, _msg, &_len);                             \
            compcoll_error("%s failed: %s", #_call, _msg);                   \
            (_status) = COMPCOLL_ERR_MPI;                                    \
            goto _label;                                                     \
        }                                                                    \
    } while (0)

#endif
