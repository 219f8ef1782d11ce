#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <event2/event.h>

#include "gateway/log.h"
#include "gateway/log_limit.h"
#include "gateway/xmalloc.h"

/* The key under which addresses share an entry once the table is full. */
#define LOG_LIMIT_OTHER	"other addresses"

struct log_limit_addr {
	char			 key[INET6_ADDRSTRLEN];	/* "" = free slot */
	long long		 start_ms;	/* first line of the interval */
	unsigned long long	 held;		/* lines held back since */
	int			 level;		/* of the first: the count's */
};

struct fh_log_limit {
	struct event		*timer;
	char			*prefix;
	char			*what;
	long			 interval_ms;
	size_t			 max;
	size_t			 used;
	struct log_limit_addr	*addrs;
	unsigned long long	 suppressed;	/* total, for stats */
};

static long long
log_limit_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1"; anything else as is. */
static void
log_limit_key(const char *addr, char *key, size_t len)
{
	const char	*end;
	size_t		 n;

	if (addr == NULL)
		addr = "-";
	if (addr[0] == '[' && (end = strchr(addr, ']')) != NULL)
		addr++;
	else if ((end = strrchr(addr, ':')) == NULL ||
	    memchr(addr, ':', (size_t)(end - addr)) != NULL)
		end = addr + strlen(addr);	/* no port, or bare v6 */
	n = (size_t)(end - addr);
	if (n == 0)
		addr = "-", n = 1;	/* "" marks a free slot */
	if (n >= len)
		n = len - 1;
	memcpy(key, addr, n);
	key[n] = '\0';
}

static void
log_limit_report(struct fh_log_limit *lim, struct log_limit_addr *a)
{
	if (a->held > 0)
		fh_log(a->level, "%s: %llu more %s from %s suppressed",
		    lim->prefix, a->held, lim->what, a->key);
	a->key[0] = '\0';
	a->held = 0;
	lim->used--;
}

/* Report and free the entries whose interval is over. */
static void
log_limit_sweep(struct fh_log_limit *lim, long long now, bool all)
{
	size_t	i;

	for (i = 0; lim->addrs != NULL && i < lim->max; i++)
		if (lim->addrs[i].key[0] != '\0' && (all ||
		    now - lim->addrs[i].start_ms >= lim->interval_ms))
			log_limit_report(lim, &lim->addrs[i]);
}

static void
log_limit_arm(struct fh_log_limit *lim)
{
	struct timeval	tv;

	if (lim->timer == NULL || evtimer_pending(lim->timer, NULL))
		return;
	tv.tv_sec = lim->interval_ms / 1000;
	tv.tv_usec = (lim->interval_ms % 1000) * 1000;
	evtimer_add(lim->timer, &tv);
}

static void
log_limit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_log_limit	*lim = arg;

	(void)fd;
	(void)what;
	log_limit_sweep(lim, log_limit_now_ms(), false);
	if (lim->used > 0)
		log_limit_arm(lim);
}

struct fh_log_limit *
fh_log_limit_create(struct event_base *base, const char *prefix,
    const char *what, long interval_ms, size_t max_addrs)
{
	struct fh_log_limit	*lim = fh_xcalloc(1, sizeof *lim);

	lim->prefix = fh_xstrdup(prefix);
	lim->what = fh_xstrdup(what);
	lim->interval_ms = interval_ms > 0 ? interval_ms : 1;
	lim->max = max_addrs > 1 ? max_addrs : 2;
	if (base != NULL)
		lim->timer = evtimer_new(base, log_limit_timer_cb, lim);
	return lim;
}

void
fh_log_limit_free(struct fh_log_limit *lim)
{
	if (lim == NULL)
		return;
	/* What was held back is still worth a line at shutdown. */
	log_limit_sweep(lim, 0, true);
	if (lim->timer != NULL)
		event_free(lim->timer);
	free(lim->addrs);
	free(lim->prefix);
	free(lim->what);
	free(lim);
}

static struct log_limit_addr *
log_limit_find(struct fh_log_limit *lim, const char *key)
{
	size_t	i;

	/* The table comes with the first line: most limiters never log. */
	if (lim->addrs == NULL)
		lim->addrs = fh_xcalloc(lim->max, sizeof *lim->addrs);
	for (i = 0; i < lim->max; i++)
		if (strcmp(lim->addrs[i].key, key) == 0)
			return &lim->addrs[i];
	return NULL;
}

void
fh_log_limited(struct fh_log_limit *lim, int level, const char *addr,
    const char *fmt, ...)
{
	struct log_limit_addr	*a;
	char			 key[INET6_ADDRSTRLEN], msg[1024];
	long long		 now;
	va_list			 ap;

	if (!fh_log_is_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (lim == NULL) {
		fh_log(level, "%s", msg);
		return;
	}
	now = log_limit_now_ms();
	log_limit_key(addr, key, sizeof key);
	if ((a = log_limit_find(lim, key)) != NULL &&
	    now - a->start_ms >= lim->interval_ms) {
		log_limit_report(lim, a);	/* its interval is over */
		a = NULL;
	}
	if (a == NULL && lim->used >= lim->max - 1 &&
	    (a = log_limit_find(lim, LOG_LIMIT_OTHER)) == NULL) {
		/* Full: the last slot is for everyone else. */
		snprintf(key, sizeof key, "%s", LOG_LIMIT_OTHER);
	}
	if (a != NULL) {
		a->held++;
		lim->suppressed++;
		return;
	}
	if ((a = log_limit_find(lim, "")) == NULL) {
		fh_log(level, "%s", msg);	/* cannot happen: used < max */
		return;
	}
	snprintf(a->key, sizeof a->key, "%s", key);
	a->start_ms = now;
	a->held = 0;
	a->level = level;
	lim->used++;
	log_limit_arm(lim);
	fh_log(level, "%s", msg);
}

unsigned long long
fh_log_limit_suppressed(const struct fh_log_limit *lim)
{
	return lim ? lim->suppressed : 0;
}
