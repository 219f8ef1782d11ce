/*
 * [gateway] user: run as an unprivileged user after the privileged part of
 * start-up (binding ports below 1024, opening the state store) is done.
 */
#ifndef FH_PRIVDROP_H
#define FH_PRIVDROP_H

/* Check that user exists and that we can become it: root, or already that
 * user. "" or NULL: nothing to do. For "firehosed -t" and before start. */
int	fh_privdrop_check(const char *user, char **errstr);

/*
 * Become user for good: supplementary groups from /etc/group, then the
 * group, then the user, then a check that root cannot be regained. When
 * root, state_dir (if not "") and the files directly in it are given to
 * the user first, so that the store can still create its WAL file and
 * write after the switch. Already being that user is success. On failure
 * *errstr says why and the caller must exit.
 */
int	fh_privdrop(const char *user, const char *state_dir, char **errstr);

/*
 * Give path (not followed if a symbolic link), made by start-up before
 * the switch, to user and its group: what a module creates as root for
 * clients, such as a unix socket, then belongs to the user it runs as,
 * the same as when started as that user. Nothing to do without a user
 * or when not root.
 */
int	fh_privdrop_give(const char *user, const char *path, char **errstr);

#endif
