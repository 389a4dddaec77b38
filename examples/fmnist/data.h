/*
 * data.h: the Fashion-MNIST IDX files (gzip-compressed, read with zlib).
 */
#ifndef FMNIST_DATA_H
#define FMNIST_DATA_H

#include <stddef.h>

#define FM_ROWS 28
#define FM_COLS 28
#define FM_PIXELS (FM_ROWS * FM_COLS)
#define FM_CLASSES 10

/* Where Debian's dataset-fashion-mnist package puts the files. */
#define FM_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct fm_set {
    int            n;      /* examples */
    unsigned char *images; /* n x FM_PIXELS, row-major, 0..255 */
    unsigned char *labels; /* n, 0..FM_CLASSES-1 */
} fm_set_t;

/*
 * Read DIR/PREFIX-images-idx3-ubyte.gz and DIR/PREFIX-labels-idx1-ubyte.gz
 * (PREFIX "train" or "t10k"; the names without .gz are tried as well).
 * Returns 0, or -1 with a message naming the file and the fault in ERR.
 */
int fm_load(const char *dir, const char *prefix, fm_set_t *set, char *err,
            size_t errlen);

void fm_free(fm_set_t *set);

#endif
