/*
 * The systemd service notification protocol (sd_notify(3)), by hand: one
 * datagram of "KEY=VALUE\n" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for an abstract socket). No
 * libsystemd: the protocol is a few lines and stable.
 *
 * Without $NOTIFY_SOCKET every call is a no-op, so the daemon behaves the
 * same under systemd, another supervisor, or a terminal.
 */
#ifndef FH_SDNOTIFY_H
#define FH_SDNOTIFY_H

struct event_base;
struct fh_sdnotify;

/*
 * Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID, connect, and
 * remove them from the environment so that no child inherits them.
 * Connecting once, at start, keeps notifications working after the daemon
 * has dropped its privileges. With a watchdog asked for, a timer on base
 * sends WATCHDOG=1 every half period: it runs from the event loop, so a
 * wedged loop stops the pings and systemd restarts the daemon. Never NULL.
 */
struct fh_sdnotify	*fh_sdnotify_open(struct event_base *base);
void			 fh_sdnotify_free(struct fh_sdnotify *);

/* Send one notification, e.g. "READY=1\nSTATUS=serving". Returns 0 when
 * sent or when there is no socket, -1 when the send failed. */
int			 fh_sdnotify(struct fh_sdnotify *, const char *fmt, ...)
			    __attribute__((format(printf, 2, 3)));
/* RELOADING=1 with MONOTONIC_USEC, as systemd 253 and later expect. */
int			 fh_sdnotify_reloading(struct fh_sdnotify *);
/* The watchdog period in microseconds, 0 when none was asked for. */
unsigned long long	 fh_sdnotify_watchdog_usec(const struct fh_sdnotify *);

#endif
