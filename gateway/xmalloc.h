/* Allocation that never returns NULL: out of memory aborts the daemon. */
#ifndef FH_XMALLOC_H
#define FH_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*fh_xmalloc(size_t);
void	*fh_xcalloc(size_t, size_t);
void	*fh_xrealloc(void *, size_t);
char	*fh_xstrdup(const char *);
char	*fh_xstrndup(const char *, size_t);
char	*fh_xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*fh_xvasprintf(const char *, va_list)
	    __attribute__((format(printf, 1, 0)));

#endif
