#include <stdio.h>
#include <string.h>

#include "common/common.h"

int pxf_error_set(struct pxf_error *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        err->code = code;
        va_start(ap, fmt);
        (void)vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        return code;
}

int pxf_error_append(struct pxf_error *err, const char *fmt, ...)
{
        size_t n;
        va_list ap;

        if (!err)
                return 0;
        n = strnlen(err->msg, sizeof err->msg);
        va_start(ap, fmt);
        (void)vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
        va_end(ap);
        return err->code;
}

int pxf_error_prefix(struct pxf_error *err, const char *fmt, ...)
{
        char prefix[1024], old[PXF_ERROR_MSG_MAX];
        va_list ap;

        if (!err)
                return 0;
        va_start(ap, fmt);
        (void)vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        /* Truncation keeps the start of the message, which is the useful part. */
        size_t n = strnlen(prefix, sizeof prefix);
        if (n > sizeof err->msg - 3)
                n = sizeof err->msg - 3;
        memcpy(err->msg, prefix, n);
        memcpy(err->msg + n, ": ", 2);
        size_t rest = sizeof err->msg - n - 3;
        size_t m = strnlen(old, rest);
        memcpy(err->msg + n + 2, old, m);
        err->msg[n + 2 + m] = '\0';
        return err->code;
}
