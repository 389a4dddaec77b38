/*
 * libcompcoll: status codes shared by every layer.
 *
 * Foreign error codes (MPI, UCX, CUDA) are translated once, where the foreign
 * call is made; from there on only compcoll_status_t travels.  Only interpose/
 * turns a status back into an MPI error code.
 */
#ifndef COMPCOLL_STATUS_H
#define COMPCOLL_STATUS_H

typedef enum {
    COMPCOLL_OK                 =  0,
    COMPCOLL_ERR_NO_MEMORY      = -1, /* allocation failed */
    COMPCOLL_ERR_INVALID_PARAM  = -2, /* bad argument or configuration value */
    COMPCOLL_ERR_NOT_SUPPORTED  = -3, /* valid request this build cannot serve */
    COMPCOLL_ERR_UNAVAILABLE    = -4, /* a component could not be set up */
    COMPCOLL_ERR_TRANSPORT      = -5, /* a transport operation failed */
    COMPCOLL_ERR_MPI            = -6, /* an MPI call failed */
    COMPCOLL_ERR_PROTOCOL       = -7, /* a peer sent something we must reject */
    COMPCOLL_ERR_NO_RESOURCE    = -8, /* a configured limit was reached */
    COMPCOLL_ERR_CUDA           = -9, /* a CUDA call failed */
    COMPCOLL_ERR_PEER           = -10, /* another rank failed this call */
} compcoll_status_t;

const char *compcoll_status_string(compcoll_status_t status);

#endif
