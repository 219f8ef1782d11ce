#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/log.h"
#include "gateway/xmalloc.h"

void *
fh_xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		fh_fatal("out of memory (%zu bytes)", n);
	return p;
}

void *
fh_xcalloc(size_t nmemb, size_t size)
{
	void	*p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fh_fatal("out of memory (%zu x %zu bytes)", nmemb, size);
	return p;
}

void *
fh_xrealloc(void *old, size_t n)
{
	void	*p = realloc(old, n ? n : 1);

	if (p == NULL)
		fh_fatal("out of memory (%zu bytes)", n);
	return p;
}

char *
fh_xstrdup(const char *s)
{
	return fh_xstrndup(s, strlen(s));
}

char *
fh_xstrndup(const char *s, size_t n)
{
	char	*p = fh_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
fh_xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		fh_fatal("out of memory (asprintf)");
	va_end(ap);
	return p;
}

char *
fh_xvasprintf(const char *fmt, va_list ap)
{
	char	*p;

	if (vasprintf(&p, fmt, ap) < 0)
		fh_fatal("out of memory (vasprintf)");
	return p;
}
