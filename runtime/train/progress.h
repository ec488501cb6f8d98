/* progress.h: the progress output of a fit: a live line rewritten after every batch, or one
 * line per epoch. */
#ifndef SURGERY_PROGRESS_H
#define SURGERY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Ownership: a progress value borrows its FILE and name (both must outlive it). */

typedef struct progress {
    FILE *out;
    bool live;
    const char *name;
    int64_t epochs;         /* of the fit; 0 when it counts iterations instead */
    double start, last_draw;
    int last_len;
} progress;

/* Seconds on a monotonic clock. */
double now_seconds(void);
/* The live line: at most every 0.1 s unless force. done_frac < 0: no ETA. */
void progress_live(progress *p, int64_t epoch, int64_t batch,
                   double loss, int64_t examples, double done_frac, bool force);
/* The line of a completed epoch (replacing the live line). */
void progress_epoch(progress *p, int64_t epoch, double loss,
                    int64_t examples, double epoch_seconds);

#endif
