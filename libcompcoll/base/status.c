#include "compcoll_status.h"

const char *compcoll_status_string(compcoll_status_t status)
{
    switch (status) {
    case COMPCOLL_OK:                return "success";
    case COMPCOLL_ERR_NO_MEMORY:     return "out of memory";
    case COMPCOLL_ERR_INVALID_PARAM: return "invalid parameter";
    case COMPCOLL_ERR_NOT_SUPPORTED: return "not supported";
    case COMPCOLL_ERR_UNAVAILABLE:   return "component unavailable";
    case COMPCOLL_ERR_TRANSPORT:     return "transport error";
    case COMPCOLL_ERR_MPI:           return "MPI error";
    case COMPCOLL_ERR_PROTOCOL:      return "protocol error (inconsistent peers)";
    case COMPCOLL_ERR_NO_RESOURCE:   return "resource limit reached";
    case COMPCOLL_ERR_CUDA:          return "CUDA error";
    case COMPCOLL_ERR_PEER:          return "failed on another rank";
    }
    return "unknown status";
}
