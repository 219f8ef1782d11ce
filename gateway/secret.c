#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/log.h"
#include "gateway/secret.h"
#include "gateway/xmalloc.h"

int
fh_secret_read(const char *path, size_t max, char **out, char **why)
{
	struct stat	 st;
	char		*buf, *nl;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rc = -1;

	*out = NULL;
	if (max == 0 || max > FH_SECRET_MAX)
		max = FH_SECRET_MAX;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*why = fh_xstrdup(strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		fh_log(LOG_WARNING, "%s is readable by %s (mode %04o): "
		    "chmod 600 it", path, (st.st_mode & S_IROTH) ?
		    "everyone" : "its group", (unsigned)(st.st_mode & 07777));
	/* One byte more than allowed, to tell "too large" from "full". */
	buf = fh_xmalloc(max + 2);
	while (len < max + 1) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*why = fh_xstrdup(strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		*why = fh_xstrdup("contains a NUL byte");
		goto out;
	}
	/* The first line is the secret; the rest is the file's own. */
	if ((nl = strpbrk(buf, "\r\n")) != NULL)
		*nl = '\0';
	else if (len > max) {
		*why = fh_xasprintf("is larger than %zu bytes", max);
		goto out;
	}
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	*out = fh_xstrdup(buf);
	rc = 0;
out:
	explicit_bzero(buf, max + 2);
	free(buf);
	close(fd);
	return rc;
}

void
fh_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
