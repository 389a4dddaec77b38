/*
 * data.c: read the IDX files of Fashion-MNIST through zlib's gzread, which
 * also reads files that are not compressed.  Every header field is checked
 * before anything is allocated, so a wrong or damaged file is a message,
 * not a crash.
 */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC_LABELS 0x00000801u /* unsigned byte, 1 dimension */
#define IDX_MAGIC_IMAGES 0x00000803u /* unsigned byte, 3 dimensions */
#define FM_MAX_EXAMPLES 10000000

/* path of DIR/NAME.gz, or of DIR/NAME when only that one exists */
static void data_path(char *path, size_t len, const char *dir, const char *name)
{
    snprintf(path, len, "%s/%s", dir, name);
    if (access(path, F_OK) == 0) {
        return;
    }
    snprintf(path, len, "%s/%s.gz", dir, name);
}

static const char *data_gzerror(gzFile f)
{
    int         code;
    const char *msg = gzerror(f, &code);

    if (code == Z_ERRNO) {
        return strerror(errno);
    }
    return (msg != NULL && *msg != '\0') ? msg : "unexpected end of file";
}

/* Read exactly LEN bytes; 0 or -1 with ERR filled. */
static int data_read(gzFile f, const char *path, void *buf, size_t len,
                     const char *what, char *err, size_t errlen)
{
    unsigned char *p    = buf;
    size_t         done = 0;

    while (done < len) {
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : len - done;
        int    got   = gzread(f, p + done, (unsigned)chunk);

        if (got < 0) {
            snprintf(err, errlen, "%s: cannot read %s: %s", path, what,
                     data_gzerror(f));
            return -1;
        }
        if (got == 0) {
            snprintf(err, errlen,
                     "%s: truncated: %zu bytes of %s expected, %zu found", path,
                     len, what, done);
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

static unsigned data_be32(const unsigned char *b)
{
    return ((unsigned)b[0] << 24) | ((unsigned)b[1] << 16) |
           ((unsigned)b[2] << 8) | (unsigned)b[3];
}

/*
 * Open PATH, check the magic number and read the dimensions (NDIM of them).
 * Returns the open file or NULL with ERR filled.
 */
static gzFile data_open_idx(const char *path, unsigned magic, int ndim,
                            unsigned *dims, char *err, size_t errlen)
{
    unsigned char hdr[16];
    gzFile        f;
    unsigned      m;
    int           i;

    errno = 0;
    f     = gzopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path,
                 errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    if (data_read(f, path, hdr, 4 + 4 * (size_t)ndim, "IDX header", err,
                  errlen) != 0) {
        gzclose(f);
        return NULL;
    }
    m = data_be32(hdr);
    if (m != magic) {
        snprintf(err, errlen,
                 "%s: not an IDX %s file (magic number 0x%08x, expected "
                 "0x%08x)",
                 path, ndim == 1 ? "label" : "image", m, magic);
        gzclose(f);
        return NULL;
    }
    for (i = 0; i < ndim; i++) {
        dims[i] = data_be32(hdr + 4 + 4 * i);
    }
    return f;
}

int fm_load(const char *dir, const char *prefix, fm_set_t *set, char *err,
            size_t errlen)
{
    char     ipath[4096], lpath[4096], name[64];
    unsigned idims[3], ldims[1];
    gzFile   fi = NULL, fl = NULL;
    int      i;

    memset(set, 0, sizeof(*set));
    snprintf(name, sizeof(name), "%s-images-idx3-ubyte", prefix);
    data_path(ipath, sizeof(ipath), dir, name);
    snprintf(name, sizeof(name), "%s-labels-idx1-ubyte", prefix);
    data_path(lpath, sizeof(lpath), dir, name);

    fi = data_open_idx(ipath, IDX_MAGIC_IMAGES, 3, idims, err, errlen);
    if (fi == NULL) {
        goto err;
    }
    if (idims[0] == 0 || idims[0] > FM_MAX_EXAMPLES || idims[1] != FM_ROWS ||
        idims[2] != FM_COLS) {
        snprintf(err, errlen,
                 "%s: unexpected image dimensions %u x %u x %u (expected "
                 "1..%d images of %d x %d)",
                 ipath, idims[0], idims[1], idims[2], FM_MAX_EXAMPLES, FM_ROWS,
                 FM_COLS);
        goto err;
    }
    fl = data_open_idx(lpath, IDX_MAGIC_LABELS, 1, ldims, err, errlen);
    if (fl == NULL) {
        goto err;
    }
    if (ldims[0] != idims[0]) {
        snprintf(err, errlen, "%s has %u labels but %s has %u images", lpath,
                 ldims[0], ipath, idims[0]);
        goto err;
    }
    set->n      = (int)idims[0];
    set->images = malloc((size_t)set->n * FM_PIXELS);
    set->labels = malloc((size_t)set->n);
    if (set->images == NULL || set->labels == NULL) {
        snprintf(err, errlen, "%s: out of memory for %d images", ipath, set->n);
        goto err;
    }
    if (data_read(fi, ipath, set->images, (size_t)set->n * FM_PIXELS, "pixels",
                  err, errlen) != 0 ||
        data_read(fl, lpath, set->labels, (size_t)set->n, "labels", err,
                  errlen) != 0) {
        goto err;
    }
    for (i = 0; i < set->n; i++) {
        if (set->labels[i] >= FM_CLASSES) {
            snprintf(err, errlen,
                     "%s: label %d of example %d is not a class "
                     "0..%d",
                     lpath, set->labels[i], i, FM_CLASSES - 1);
            goto err;
        }
    }
    gzclose(fi);
    gzclose(fl);
    return 0;

err:
    if (fi != NULL) {
        gzclose(fi);
    }
    if (fl != NULL) {
        gzclose(fl);
    }
    fm_free(set);
    return -1;
}

void fm_free(fm_set_t *set)
{
    free(set->images);
    free(set->labels);
    memset(set, 0, sizeof(*set));
}
