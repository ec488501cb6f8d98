/* progress.c: the progress lines of a fit. */
#include "runtime/train/progress.h"

#include <time.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "?");
        return;
    }
    long long x = (long long)(s + 0.5);
    if (x >= 3600)
        snprintf(buf, n, "%lld:%02lld:%02lld", x / 3600, x / 60 % 60, x % 60);
    else
        snprintf(buf, n, "%lld:%02lld", x / 60, x % 60);
}

void progress_live(progress *p, int64_t epoch, int64_t batch,
                   double loss, int64_t examples, double done_frac, bool force)
{
    double now = now_seconds();
    if (!force && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    double el = now - p->start;
    char eta[32], ep[48];
    fmt_duration(eta, sizeof eta, done_frac > 0 ? el * (1.0 - done_frac) / done_frac : -1);
    if (p->epochs <= 0)
        snprintf(ep, sizeof ep, "epoch %lld", (long long)epoch + 1);
    else
        snprintf(ep, sizeof ep, "epoch %lld/%lld", (long long)epoch + 1, (long long)p->epochs);
    char line[256];
    int len = snprintf(line, sizeof line, "fit %s: %s  batch %lld  loss %.4f  %.0f ex/s  ETA %s",
                       p->name, ep, (long long)batch, loss, el > 0 ? (double)examples / el : 0.0,
                       eta);
    int pad = p->last_len > len ? p->last_len - len : 0;
    fprintf(p->out, "\r%s%*s", line, pad, "");
    fflush(p->out);
    p->last_len = len;
}

void progress_epoch(progress *p, int64_t epoch, double loss,
                    int64_t examples, double epoch_seconds)
{
    char ep[48];
    if (p->epochs <= 0)
        snprintf(ep, sizeof ep, "epoch %lld", (long long)epoch + 1);
    else
        snprintf(ep, sizeof ep, "epoch %lld/%lld", (long long)epoch + 1, (long long)p->epochs);
    char line[256];
    int len = snprintf(line, sizeof line, "fit %s: %s  loss %.4f  %.0f ex/s  %.1f s", p->name,
                       ep, loss, epoch_seconds > 0 ? (double)examples / epoch_seconds : 0.0,
                       epoch_seconds);
    if (p->live) {
        int pad = p->last_len > len ? p->last_len - len : 0;
        fprintf(p->out, "\r%s%*s\n", line, pad, "");
        p->last_len = 0;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}
