#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gateway/log.h"

/*
 * The log level is process-wide: it is the one piece of state every module
 * reads, set at start-up and on SIGHUP from the main thread only.
 */
static int	 log_level = LOG_INFO;
static int	 log_syslog;
static const char *log_ident = "firehosed";

static const char *const log_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static void
log_event_cb(int severity, const char *msg)
{
	int	level;

	switch (severity) {
	case EVENT_LOG_DEBUG:	level = LOG_DEBUG; break;
	case EVENT_LOG_MSG:	level = LOG_INFO; break;
	case EVENT_LOG_WARN:	level = LOG_WARNING; break;
	default:		level = LOG_ERR; break;
	}
	fh_log(level, "libevent: %s", msg);
}

void
fh_log_init(const char *ident)
{
	if (ident != NULL)
		log_ident = ident;
	event_set_log_callback(log_event_cb);
}

void
fh_log_set_level(int level)
{
	log_level = level;
}

int
fh_log_get_level(void)
{
	return log_level;
}

void
fh_log_set_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
}

int
fh_log_is_enabled(int level)
{
	return level <= log_level;
}

static void
log_vlog(int level, const char *fmt, va_list ap)
{
	char		 msg[2048], stamp[32];
	struct timespec	 ts;
	struct tm	 tm;

	vsnprintf(msg, sizeof msg, fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s[%s] %s\n", stamp, ts.tv_nsec / 1000000,
	    log_ident, log_names[level & 7], msg);
	if (log_syslog)
		syslog(level, "%s", msg);
}

void
fh_log(int level, const char *fmt, ...)
{
	va_list	ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vlog(level, fmt, ap);
	va_end(ap);
}

void
fh_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
