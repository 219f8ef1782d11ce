#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "gateway/log.h"
#include "gateway/privdrop.h"
#include "gateway/xmalloc.h"

static int
privdrop_lookup(const char *user, struct passwd **pw, char **errstr)
{
	errno = 0;
	if ((*pw = getpwnam(user)) == NULL) {
		*errstr = fh_xasprintf("[gateway] user '%s': %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	return 0;
}

int
fh_privdrop_check(const char *user, char **errstr)
{
	struct passwd	*pw;

	if (user == NULL || *user == '\0')
		return 0;
	if (privdrop_lookup(user, &pw, errstr) != 0)
		return -1;
	if (geteuid() != 0 && geteuid() != pw->pw_uid) {
		*errstr = fh_xasprintf("[gateway] user '%s': only root can "
		    "switch users (running as uid %u)", user,
		    (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* Give dir, and what is directly in it, to uid:gid. Symbolic links are
 * neither followed nor changed; subdirectories are left alone (the store
 * makes none). */
static int
privdrop_chown_state(const char *dir, uid_t uid, gid_t gid, char **errstr)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	int		 dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		*errstr = fh_xasprintf("state_dir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (fstat(dfd, &st) == 0 && (st.st_uid != uid || st.st_gid != gid) &&
	    fchown(dfd, uid, gid) != 0) {
		*errstr = fh_xasprintf("cannot give state_dir %s to uid %u: "
		    "%s", dir, (unsigned)uid, strerror(errno));
		close(dfd);
		return -1;
	}
	if ((d = fdopendir(dfd)) == NULL) {
		*errstr = fh_xasprintf("state_dir %s: %s", dir,
		    strerror(errno));
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) ||
		    (st.st_uid == uid && st.st_gid == gid))
			continue;
		if (fchownat(dfd, de->d_name, uid, gid,
		    AT_SYMLINK_NOFOLLOW) != 0) {
			*errstr = fh_xasprintf("cannot give %s/%s to uid %u: "
			    "%s", dir, de->d_name, (unsigned)uid,
			    strerror(errno));
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int
fh_privdrop_give(const char *user, const char *path, char **errstr)
{
	struct passwd	*pw;

	if (user == NULL || *user == '\0' || geteuid() != 0)
		return 0;
	if (privdrop_lookup(user, &pw, errstr) != 0)
		return -1;
	if (lchown(path, pw->pw_uid, pw->pw_gid) != 0) {
		*errstr = fh_xasprintf("cannot give %s to user '%s': %s", path,
		    user, strerror(errno));
		return -1;
	}
	return 0;
}

int
fh_privdrop(const char *user, const char *state_dir, char **errstr)
{
	struct passwd	*pw;
	uid_t		 uid;
	gid_t		 gid;

	if (user == NULL || *user == '\0')
		return 0;
	if (fh_privdrop_check(user, errstr) != 0 ||
	    privdrop_lookup(user, &pw, errstr) != 0)
		return -1;
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() == uid && getuid() == uid)
		return 0;	/* started as that user already */
	if (state_dir != NULL && *state_dir != '\0' &&
	    privdrop_chown_state(state_dir, uid, gid, errstr) != 0)
		return -1;
	if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0 ||
	    setuid(uid) != 0) {
		*errstr = fh_xasprintf("cannot become user '%s' (uid %u, "
		    "gid %u): %s", user, (unsigned)uid, (unsigned)gid,
		    strerror(errno));
		return -1;
	}
	/* setuid() from root changes every uid; make sure, as a failed
	 * partial switch would leave a way back. */
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || (uid != 0 && (setuid(0) == 0 ||
	    seteuid(0) == 0))) {
		*errstr = fh_xasprintf("user '%s': root could be regained "
		    "after the switch; refusing to run", user);
		return -1;
	}
	/* Nothing we might exec later gains privileges back. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fh_log(LOG_WARNING, "prctl(PR_SET_NO_NEW_PRIVS): %s",
		    strerror(errno));
	fh_log(LOG_INFO, "running as user %s (uid %u, gid %u)", user,
	    (unsigned)uid, (unsigned)gid);
	return 0;
}
