/*
 * Secrets kept in files (tokens, passwords): read with a size limit, a
 * warning when the file is readable by group or others, and every copy
 * wiped when done. The secret is the file's first line, without trailing
 * blanks; the rest of the file is ignored (room for a comment).
 */
#ifndef FH_SECRET_H
#define FH_SECRET_H

#include <stddef.h>

#define FH_SECRET_MAX	4096	/* bytes, unless the caller says less */

/* Read the secret in path into *out (free it with fh_secret_free). On
 * error returns -1 with *why (malloc'd) saying what is wrong with the
 * file, in words that follow its name: "No such file or directory",
 * "is larger than 4096 bytes", "contains a NUL byte". An empty file is
 * an empty secret: whether that will do is the caller's to say. */
int	fh_secret_read(const char *path, size_t max, char **out, char **why);
/* Wipe and free; NULL-safe. */
void	fh_secret_free(char *);

#endif
