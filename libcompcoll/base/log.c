#include "compcoll_log.h"
#include "compcoll_locale.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

compcoll_log_level_t compcoll_log_level = COMPCOLL_LOG_WARN;

static int  log_rank = -1;
static char log_host[64];

static const char *const level_names[] = {
    [COMPCOLL_LOG_ERROR] = "ERROR",
    [COMPCOLL_LOG_WARN]  = "WARN",
    [COMPCOLL_LOG_INFO]  = "INFO",
    [COMPCOLL_LOG_DEBUG] = "DEBUG",
    [COMPCOLL_LOG_TRACE] = "TRACE",
};

/* Once, whichever thread logs first (any thread may). */
static pthread_once_t log_host_once = PTHREAD_ONCE_INIT;

static void log_host_find(void)
{
    char *dot;

    if (gethostname(log_host, sizeof(log_host) - 1) != 0) {
        strcpy(log_host, "?");
    }
    dot = strchr(log_host, '.');
    if (dot != NULL) {
        *dot = '\0';
    }
}

void compcoll_log_set_rank(int rank)
{
    log_rank = rank;
}

void compcoll_log_emit(compcoll_log_level_t level, const char *file, int line,
                       const char *fmt, ...)
{
    const char          *base = strrchr(file, '/');
    char                 msg[1024];
    compcoll_c_numeric_t c;
    va_list              ap;

    pthread_once(&log_host_once, log_host_find);
    compcoll_c_numeric_begin(&c); /* 0.5, not 0,5, in every message */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    compcoll_c_numeric_end(&c);
    /* One fprintf per line so lines from concurrent ranks do not interleave. */
    fprintf(stderr, "[%s:%d:%d] COMPCOLL %-5s %s:%d %s\n", log_host,
            (int)getpid(), log_rank, level_names[level],
            base ? base + 1 : file, line, msg);
}
