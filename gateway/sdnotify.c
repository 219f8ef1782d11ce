#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>

#include "gateway/log.h"
#include "gateway/sdnotify.h"
#include "gateway/xmalloc.h"

struct fh_sdnotify {
	int			 fd;		/* -1: no socket */
	char			*name;		/* for log lines */
	unsigned long long	 watchdog_usec;
	struct event		*watchdog;
	bool			 failed;	/* logged once per episode */
};

/* $NOTIFY_SOCKET as a sockaddr: "/path" or "@abstract". */
static int
sdnotify_addr(const char *s, struct sockaddr_un *sun, socklen_t *len)
{
	size_t	n = strlen(s);

	if ((s[0] != '/' && s[0] != '@') || n < 2 ||
	    n >= sizeof sun->sun_path)
		return -1;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, s, n);
	if (s[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract: no trailing NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (s[0] == '/'));
	return 0;
}

static void
sdnotify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_sdnotify	*sd = arg;

	(void)fd;
	(void)what;
	fh_sdnotify(sd, "WATCHDOG=1");
}

/* WATCHDOG_USEC applies to us only if WATCHDOG_PID is unset or ours. */
static unsigned long long
sdnotify_watchdog_env(void)
{
	const char		*s = getenv("WATCHDOG_USEC");
	const char		*p = getenv("WATCHDOG_PID");
	unsigned long long	 usec;
	char			*end;

	if (s == NULL || *s == '\0')
		return 0;
	if (p != NULL && *p != '\0' &&
	    strtol(p, &end, 10) != (long)getpid())
		return 0;
	errno = 0;
	usec = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || usec == 0) {
		fh_log(LOG_WARNING, "systemd: ignoring WATCHDOG_USEC=%s", s);
		return 0;
	}
	return usec;
}

struct fh_sdnotify *
fh_sdnotify_open(struct event_base *base)
{
	struct fh_sdnotify	*sd = fh_xcalloc(1, sizeof *sd);
	const char		*s = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	struct timeval		 tv;

	sd->fd = -1;
	sd->watchdog_usec = sdnotify_watchdog_env();
	if (s != NULL && *s != '\0') {
		sd->name = fh_xstrdup(s);
		if (sdnotify_addr(s, &sun, &len) != 0) {
			fh_log(LOG_WARNING, "systemd: unsupported "
			    "NOTIFY_SOCKET=%s", s);
		} else if ((sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
		    0)) < 0 || connect(sd->fd, (struct sockaddr *)&sun,
		    len) != 0) {
			fh_log(LOG_WARNING, "systemd: cannot connect to "
			    "NOTIFY_SOCKET=%s: %s", s, strerror(errno));
			if (sd->fd >= 0)
				close(sd->fd);
			sd->fd = -1;
		}
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (sd->fd >= 0 && sd->watchdog_usec != 0) {
		tv.tv_sec = (time_t)(sd->watchdog_usec / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(sd->watchdog_usec / 2 % 1000000);
		sd->watchdog = event_new(base, -1, EV_PERSIST,
		    sdnotify_watchdog_cb, sd);
		event_add(sd->watchdog, &tv);
		fh_log(LOG_INFO, "systemd: watchdog every %llu ms",
		    sd->watchdog_usec / 2000);
	}
	return sd;
}

void
fh_sdnotify_free(struct fh_sdnotify *sd)
{
	if (sd == NULL)
		return;
	if (sd->watchdog != NULL)
		event_free(sd->watchdog);
	if (sd->fd >= 0)
		close(sd->fd);
	free(sd->name);
	free(sd);
}

int
fh_sdnotify(struct fh_sdnotify *sd, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;
	int	n;

	if (sd->fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = (int)strlen(msg);	/* truncated STATUS: still useful */
	/* Never block the loop on a busy supervisor: a dropped datagram is
	 * better than a stalled broker. */
	if (send(sd->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		if (!sd->failed)
			fh_log(LOG_WARNING, "systemd: notify to %s failed: %s",
			    sd->name, strerror(errno));
		sd->failed = true;
		return -1;
	}
	sd->failed = false;
	return 0;
}

int
fh_sdnotify_reloading(struct fh_sdnotify *sd)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return fh_sdnotify(sd, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

unsigned long long
fh_sdnotify_watchdog_usec(const struct fh_sdnotify *sd)
{
	return sd->watchdog ? sd->watchdog_usec : 0;
}
