/*
 * The gerrit source: "gerrit stream-events" over SSH, published as
 * gerrit/<project>/<type>, without losing events.
 *
 * Everything runs on the event loop. libssh is in non-blocking mode on a
 * socket we connect ourselves; one state machine walks resolve -> TCP
 * connect -> SSH handshake -> host key check -> public-key auth -> channel
 * open -> exec -> streaming, and every libssh call that would block
 * returns SSH_AGAIN and is retried when the socket is ready.
 *
 * Dead peers: a keepalive@openssh.com global request (want-reply) goes out
 * whenever the connection was quiet for one keepalive interval; any byte
 * from the server counts as an answer, and after GERRIT_KA_MISSED_MAX
 * unanswered ones the connection is dropped.
 *
 * Gap fill: after a reconnect or a "dropped-output" event, the missed
 * window [newest event seen, now] is fetched from the events-log plugin
 * with libcurl (multi, on the loop), page after page, and published in
 * order. Live events that arrive meanwhile are held (bounded; reading
 * pauses when full) and published after the replay. A ring of recent
 * event fingerprints drops what both paths deliver (the window is
 * inclusive at both ends).
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <libssh/libssh.h>
#include <libssh/server.h>	/* ssh_send_keepalive(), usable by clients */

#include "gateway/backoff.h"
#include "gateway/conf.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sources/gerrit/gerrit.h"
#include "sources/gerrit/gerrit_parse.h"

#define GERRIT_COMMAND		"gerrit stream-events"
#define GERRIT_BACKOFF_MIN_MS	1000L
#define GERRIT_KA_MISSED_MAX	3	/* unanswered keepalives: dead */
#define GERRIT_LOGIN_TICKS	3	/* keepalive intervals to log in, */
#define GERRIT_LOGIN_MIN_MS	30000L	/* but at least this */
#define GERRIT_RECENT		8192	/* fingerprints kept for de-dup */
#define GERRIT_QUEUE_MAX	1024	/* live events held during a fill */
#define GERRIT_FILL_PAGES_MAX	1000
#define GERRIT_FILL_TRIES	3
#define GERRIT_FILL_TIMEOUT_S	120L
#define GERRIT_BASELINE_SLACK_S	60
#define GERRIT_CURSOR_KEY	"last_event"
#define GERRIT_CURSOR_FPS	64	/* fingerprints of the newest second */
#define GERRIT_READ_SIZE	65536
#define GERRIT_LOG_BYTES	80	/* of a bad line, in the log */
#define GERRIT_LOG_EVERY_MS	10000L	/* bad-line warnings at most */

enum gerrit_state {
	GERRIT_S_STOPPED,
	GERRIT_S_RESOLVING,
	GERRIT_S_CONNECTING,
	GERRIT_S_HANDSHAKE,
	GERRIT_S_AUTH,
	GERRIT_S_CHANNEL,
	GERRIT_S_EXEC,
	GERRIT_S_STREAMING,
	GERRIT_S_BACKOFF,
	GERRIT_S_FAILED,
};

static const char *const gerrit_state_names[] = {
	[GERRIT_S_STOPPED] = "stopped",
	[GERRIT_S_RESOLVING] = "resolving",
	[GERRIT_S_CONNECTING] = "connecting",
	[GERRIT_S_HANDSHAKE] = "ssh-handshake",
	[GERRIT_S_AUTH] = "authenticating",
	[GERRIT_S_CHANNEL] = "opening-channel",
	[GERRIT_S_EXEC] = "starting-stream",
	[GERRIT_S_STREAMING] = "streaming",
	[GERRIT_S_BACKOFF] = "backoff",
	[GERRIT_S_FAILED] = "failed",
};

struct gerrit_conf {
	char	*host;
	int	 port;
	char	*user;
	char	*key_file;
	char	*known_hosts;
	bool	 host_key_check;
	long	 keepalive;		/* ms */
	long	 backoff_max;		/* ms */
	char	*topic;
	int	 qos;
	bool	 retain;
	size_t	 max_line;
	char	*events_log_url;
	int	 events_log_limit;
	char	*events_log_user;
	char	*events_log_password_file;
};

static const struct fh_conf_var gerrit_vars[] = {
	FH_CONF_STR_REQ("host", struct gerrit_conf, host),
	FH_CONF_INT("port", struct gerrit_conf, port, "29418"),
	FH_CONF_STR("user", struct gerrit_conf, user, ""),
	FH_CONF_STR_REQ("key_file", struct gerrit_conf, key_file),
	FH_CONF_STR("known_hosts", struct gerrit_conf, known_hosts, ""),
	FH_CONF_BOOL("host_key_check", struct gerrit_conf, host_key_check,
	    "true"),
	FH_CONF_DURATION("keepalive", struct gerrit_conf, keepalive, "30s"),
	FH_CONF_DURATION("backoff_max", struct gerrit_conf, backoff_max,
	    "60s"),
	FH_CONF_STR("topic", struct gerrit_conf, topic, "gerrit"),
	FH_CONF_QOS("qos", struct gerrit_conf, qos, "0"),
	FH_CONF_BOOL("retain", struct gerrit_conf, retain, "false"),
	FH_CONF_SIZE("max_line", struct gerrit_conf, max_line, "16M"),
	FH_CONF_STR("events_log_url", struct gerrit_conf, events_log_url, ""),
	FH_CONF_INT("events_log_limit", struct gerrit_conf, events_log_limit,
	    "5000"),
	FH_CONF_STR("events_log_user", struct gerrit_conf, events_log_user,
	    ""),
	FH_CONF_STR("events_log_password_file", struct gerrit_conf,
	    events_log_password_file, ""),
	FH_CONF_END
};

/* A live event held while a gap fill runs. */
struct gerrit_held {
	char			*topic;
	json_t			*event;
	struct gerrit_held	*next;
};

/* One gap fill: the window, and the page being fetched. */
struct gerrit_fill {
	CURL			*easy;
	char			*url;
	struct gerrit_lines	 lines;
	time_t			 from;		/* the whole window */
	time_t			 t1;		/* this page starts here */
	time_t			 t2;
	int			 page;
	int			 tries;
	long			 status;
	size_t			 page_lines;
	int64_t			 page_last;
	size_t			 published;
	size_t			 duplicates;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 body[128];
	size_t			 bodylen;
};

/* The argument of a DNS lookup, so that a cancelled one can outlive us. */
struct gerrit_resolve {
	struct gerrit		*g;
};

struct gerrit {
	struct fh_gateway	*gw;
	char			*name;
	struct gerrit_conf	 conf;
	ssh_key			 key;
	char			*password;

	enum gerrit_state	 state;
	struct evdns_base	*dns;
	struct evdns_getaddrinfo_request *dnsreq;
	struct gerrit_resolve	*resolve;
	struct evutil_addrinfo	*addrs;
	struct evutil_addrinfo	*addr;
	int			 fd;		/* ours until libssh has it */
	int			 connect_errno;
	ssh_session		 ssh;
	ssh_channel		 channel;
	struct event		 io;		/* EV_READ|EV_PERSIST on fd */
	struct event		 wr;		/* EV_WRITE, when output waits */
	struct event		 timer;		/* backoff */
	struct event		 tick;		/* keepalive, login timeout */
	bool			 events_ready;
	bool			 paused;	/* held queue full */
	struct fh_backoff	 backoff;
	struct gerrit_lines	 lines;
	int64_t			 attempt_ms;	/* monotonic */
	int64_t			 last_rx_ms;
	int64_t			 last_bad_log_ms;
	int			 missed;
	bool			 ever_streamed;
	bool			 stderr_logged;
	char			*last_error;	/* logged once per change */
	int64_t			 last_time;	/* newest event (gerrit's s) */
	int64_t			 baseline;	/* first stream start (ours) */
	uint8_t			*readbuf;

	/* gap fill */
	struct fh_curl		*curl;
	struct gerrit_fill	*fill;
	struct event		 fill_timer;
	bool			 fill_pending;
	time_t			 pending_from;
	int64_t			 dedup_until;	/* live events up to: check */
	struct gerrit_held	*held;
	struct gerrit_held	**held_tail;
	size_t			 nheld;
	uint64_t		*recent;	/* ring of fingerprints */
	size_t			 nrecent;
	size_t			 recent_pos;
	/* The cursor kept in the state store: the newest published time and
	 * the fingerprints of what was published in that second. */
	int64_t			 cursor_time;
	uint64_t		 cursor_fps[GERRIT_CURSOR_FPS];
	size_t			 ncursor_fps;

	struct {
		uint64_t	events;
		uint64_t	reconnects;
		uint64_t	parse_errors;
		uint64_t	lines_too_long;
		uint64_t	dropped_output;
		uint64_t	gap_fills;
		uint64_t	gap_events;
		uint64_t	gap_fill_errors;
		uint64_t	duplicates;
		uint64_t	keepalive_timeouts;
	} st;
};

static void	gerrit_step(struct gerrit *);
static void	gerrit_connect(struct gerrit *);
static void	gerrit_fill_request(struct gerrit *, time_t from);
static void	gerrit_fill_page(struct gerrit *);

static int64_t
gerrit_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval
gerrit_tv(long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* "first bytes" of a bad line, printable, for the log. */
static char *
gerrit_excerpt(const uint8_t *p, size_t len)
{
	size_t	i, n = len < GERRIT_LOG_BYTES ? len : GERRIT_LOG_BYTES;
	char	*s = fh_xmalloc(n + 4);

	for (i = 0; i < n; i++)
		s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '.';
	strcpy(s + n, n < len ? "..." : "");
	return s;
}

/* ---- publishing and de-duplication ---- */

static bool
gerrit_recent_has(struct gerrit *g, uint64_t fp)
{
	size_t	i;

	for (i = 0; i < g->nrecent; i++)
		if (g->recent[i] == fp)
			return true;
	return false;
}

static void
gerrit_recent_add(struct gerrit *g, uint64_t fp)
{
	g->recent[g->recent_pos] = fp;
	g->recent_pos = (g->recent_pos + 1) % GERRIT_RECENT;
	if (g->nrecent < GERRIT_RECENT)
		g->nrecent++;
}

/*
 * Remember where the stream is, in the state store, so that a restarted
 * daemon fills the gap since then: "<time> <fingerprint>..." with the
 * fingerprints of the events published in that second (the replay window
 * starts there, inclusive).
 */
static void
gerrit_cursor_note(struct gerrit *g, int64_t t, uint64_t fp)
{
	struct fh_state	*st = fh_gateway_state(g->gw);
	char		*v, *next;
	size_t		 i;

	if (t <= 0 || t < g->cursor_time || st == NULL)
		return;
	if (t > g->cursor_time) {
		g->cursor_time = t;
		g->ncursor_fps = 0;
	}
	if (g->ncursor_fps == GERRIT_CURSOR_FPS)
		memmove(g->cursor_fps, g->cursor_fps + 1,
		    (GERRIT_CURSOR_FPS - 1) * sizeof *g->cursor_fps);
	else
		g->ncursor_fps++;
	g->cursor_fps[g->ncursor_fps - 1] = fp;
	v = fh_xasprintf("%lld", (long long)t);
	for (i = 0; i < g->ncursor_fps; i++) {
		next = fh_xasprintf("%s %016llx", v,
		    (unsigned long long)g->cursor_fps[i]);
		free(v);
		v = next;
	}
	fh_state_cursor_set(st, g->name, GERRIT_CURSOR_KEY, v);
	free(v);
}

/* Back from the store: the gap start and its fingerprints. */
static void
gerrit_cursor_load(struct gerrit *g)
{
	struct fh_state		*st = fh_gateway_state(g->gw);
	char			*v, *p, *end;
	long long		 t;
	unsigned long long	 fp;

	if (st == NULL || g->recent == NULL ||
	    (v = fh_state_cursor_get(st, g->name, GERRIT_CURSOR_KEY)) == NULL)
		return;
	t = strtoll(v, &end, 10);
	if (end != v && t > 0) {
		g->cursor_time = t;
		if (t > g->last_time)
			g->last_time = t;
		g->ever_streamed = true;	/* the first stream fills */
		for (p = end; *p == ' ';) {
			fp = strtoull(p + 1, &end, 16);
			if (end == p + 1)
				break;
			gerrit_recent_add(g, fp);
			if (g->ncursor_fps < GERRIT_CURSOR_FPS)
				g->cursor_fps[g->ncursor_fps++] = fp;
			p = end;
		}
		fh_log(LOG_INFO, "source %s: resuming after the event of %lld "
		    "(from the state store)", g->name, t);
	}
	free(v);
}

/* Publish (takes topic and event). Returns false for a duplicate. */
static bool
gerrit_publish(struct gerrit *g, char *topic, json_t *event, bool dedup)
{
	struct fh_event	*ev;
	uint64_t	 fp;

	if (g->recent != NULL) {
		fp = gerrit_fingerprint(event);
		if (dedup && gerrit_recent_has(g, fp)) {
			g->st.duplicates++;
			fh_log(LOG_DEBUG, "source %s: duplicate dropped: %s",
			    g->name, topic);
			free(topic);
			json_decref(event);
			return false;
		}
		gerrit_recent_add(g, fp);
		gerrit_cursor_note(g, gerrit_event_time(event), fp);
	}
	fh_log(LOG_DEBUG, "source %s: publish %s", g->name, topic);
	ev = fh_event_new(topic, event);
	free(topic);
	fh_event_set_qos(ev, g->conf.qos);
	fh_event_set_retain(ev, g->conf.retain);
	fh_event_set_origin(ev, g->name);
	fh_gateway_emit(g->gw, ev);
	fh_event_unref(ev);
	g->st.events++;
	return true;
}

static void
gerrit_bad_line(struct gerrit *g, const char *where, const uint8_t *line,
    size_t len, int err)
{
	int64_t	 now = gerrit_now_ms();
	char	*ex = gerrit_excerpt(line, len);
	int	 level = LOG_DEBUG;

	g->st.parse_errors++;
	if (err == GERRIT_E_TOO_LARGE)
		g->st.lines_too_long++;
	if (g->last_bad_log_ms == 0 ||
	    now - g->last_bad_log_ms >= GERRIT_LOG_EVERY_MS) {
		level = LOG_WARNING;
		g->last_bad_log_ms = now;
	}
	if (err == GERRIT_E_TOO_LARGE)
		fh_log(level, "source %s: %s: line longer than max_line "
		    "(%zu bytes) dropped: %s", g->name, where,
		    g->conf.max_line, ex);
	else
		fh_log(level, "source %s: %s: bad event dropped (%s): %s",
		    g->name, where, gerrit_strerror(err), ex);
	free(ex);
}

static void
gerrit_note_time(struct gerrit *g, const json_t *event)
{
	int64_t	t = gerrit_event_time(event);

	if (t <= 0)
		t = (int64_t)time(NULL);
	if (t > g->last_time)
		g->last_time = t;
}

/*
 * Where a gap starts: the newest event seen (eventCreatedOn, gerrit's
 * clock), or, before any event, our clock at the first stream start less
 * some slack for clock skew.
 */
static int64_t
gerrit_gap_start(struct gerrit *g)
{
	return g->last_time > 0 ? g->last_time : g->baseline;
}

static void
gerrit_hold(struct gerrit *g, char *topic, json_t *event)
{
	struct gerrit_held	*h = fh_xcalloc(1, sizeof *h);

	h->topic = topic;
	h->event = event;
	*g->held_tail = h;
	g->held_tail = &h->next;
	if (++g->nheld >= GERRIT_QUEUE_MAX && !g->paused) {
		/* Stop reading: gerrit queues, then says dropped-output. */
		fh_log(LOG_INFO, "source %s: %zu events held during a gap "
		    "fill; pausing the stream", g->name, g->nheld);
		g->paused = true;
		if (g->events_ready)
			event_del(&g->io);
	}
}

static void
gerrit_release_held(struct gerrit *g, bool publish)
{
	struct gerrit_held	*h;

	while ((h = g->held) != NULL) {
		g->held = h->next;
		if (publish)
			gerrit_publish(g, h->topic, h->event, true);
		else {
			free(h->topic);
			json_decref(h->event);
		}
		free(h);
	}
	g->held_tail = &g->held;
	g->nheld = 0;
}

static void
gerrit_live_line(const uint8_t *line, size_t len, int err, void *arg)
{
	struct gerrit	*g = arg;
	char		*topic;
	json_t		*event;
	const char	*type;
	int64_t		 before = gerrit_gap_start(g), t;
	bool		 dropped;

	if (err == 0)
		err = gerrit_parse_line(line, len, g->conf.topic, &topic,
		    &event);
	if (err == GERRIT_E_EMPTY)
		return;
	if (err != 0) {
		gerrit_bad_line(g, "stream", line, len, err);
		return;
	}
	fh_backoff_reset(&g->backoff);	/* this connection works */
	type = json_string_value(json_object_get(event, "type"));
	dropped = strcmp(type, "dropped-output") == 0;
	if (dropped) {
		g->st.dropped_output++;
		fh_log(LOG_WARNING, "source %s: gerrit dropped events for "
		    "this slow reader (dropped-output)", g->name);
	} else
		gerrit_note_time(g, event);
	t = gerrit_event_time(event);
	if (g->fill != NULL)
		gerrit_hold(g, topic, event);
	else
		gerrit_publish(g, topic, event,
		    t > 0 && t <= g->dedup_until);
	if (dropped)
		gerrit_fill_request(g, (time_t)before);
}

/* ---- connection state ---- */

static void
gerrit_set_state(struct gerrit *g, enum gerrit_state s)
{
	if (g->state != s)
		fh_log(LOG_DEBUG, "source %s: %s -> %s", g->name,
		    gerrit_state_names[g->state], gerrit_state_names[s]);
	g->state = s;
}

/* Drop the connection (not the gap fill, not the held events). */
static void
gerrit_disconnect(struct gerrit *g)
{
	if (g->events_ready) {
		event_del(&g->io);
		g->events_ready = false;
	}
	event_del(&g->wr);
	event_del(&g->tick);
	if (g->resolve != NULL) {
		/* The callback still comes (with EAI_CANCEL) and frees it. */
		g->resolve->g = NULL;
		g->resolve = NULL;
		if (g->dnsreq != NULL)
			evdns_getaddrinfo_cancel(g->dnsreq);
		g->dnsreq = NULL;
	}
	if (g->addrs != NULL)
		evutil_freeaddrinfo(g->addrs);
	g->addrs = g->addr = NULL;
	if (g->channel != NULL) {
		ssh_channel_free(g->channel);
		g->channel = NULL;
	}
	if (g->ssh != NULL) {
		ssh_disconnect(g->ssh);	/* closes the socket */
		ssh_free(g->ssh);
		g->ssh = NULL;
	}
	if (g->fd != -1) {
		close(g->fd);
		g->fd = -1;
	}
	g->paused = false;
	g->missed = 0;
	gerrit_lines_reset(&g->lines);
}

/* A transient failure: log it once per change, retry with backoff. */
static void __attribute__((format(printf, 2, 3)))
gerrit_fail(struct gerrit *g, const char *fmt, ...)
{
	va_list		 ap;
	char		*msg, *full;
	struct timeval	 tv;
	long		 delay;
	bool		 was_streaming = g->state == GERRIT_S_STREAMING;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	full = fh_xasprintf("%s (while %s)", msg,
	    gerrit_state_names[g->state]);
	free(msg);
	gerrit_disconnect(g);
	delay = fh_backoff_next(&g->backoff);
	if (was_streaming)
		fh_log(LOG_WARNING, "source %s: lost the stream from %s:%d: "
		    "%s; reconnecting", g->name, g->conf.host, g->conf.port,
		    full);
	else if (g->last_error == NULL || strcmp(g->last_error, full) != 0)
		fh_log(LOG_WARNING, "source %s: cannot stream from %s:%d: %s; "
		    "retrying with backoff (up to %lds)", g->name,
		    g->conf.host, g->conf.port, full,
		    g->conf.backoff_max / 1000);
	else
		fh_log(LOG_DEBUG, "source %s: %s; retry in %ldms", g->name,
		    full, delay);
	free(g->last_error);
	g->last_error = full;
	gerrit_set_state(g, GERRIT_S_BACKOFF);
	tv = gerrit_tv(delay);
	evtimer_add(&g->timer, &tv);
}

/* A failure that retrying cannot fix (a wrong host key): stop this
 * source, loudly; the daemon and the other sources carry on. */
static void __attribute__((format(printf, 2, 3)))
gerrit_fatal(struct gerrit *g, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	gerrit_disconnect(g);
	fh_log(LOG_ERR, "source %s: %s; this source is stopped (the broker "
	    "and other sources keep running)", g->name, msg);
	free(g->last_error);
	g->last_error = msg;
	gerrit_set_state(g, GERRIT_S_FAILED);
}

static void
gerrit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;

	(void)fd;
	(void)what;
	if (g->state == GERRIT_S_BACKOFF) {
		g->st.reconnects++;
		gerrit_connect(g);
	}
}

/*
 * Milliseconds since the server last sent us anything. TCP_INFO sees
 * every byte, even those libssh pulled in during another call (the answer
 * to a keepalive often arrives that way); last_rx_ms is the fallback.
 */
static int64_t
gerrit_idle_ms(struct gerrit *g, int64_t now)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof ti;
	int		fd = g->ssh != NULL ? ssh_get_fd(g->ssh) : -1;

	if (fd != -1 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti,
	    &len) == 0 && len >= offsetof(struct tcp_info,
	    tcpi_last_data_recv) + sizeof ti.tcpi_last_data_recv) {
		if (now - (int64_t)ti.tcpi_last_data_recv > g->last_rx_ms)
			g->last_rx_ms = now - (int64_t)ti.tcpi_last_data_recv;
	}
	return now - g->last_rx_ms;
}

static void
gerrit_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;
	int64_t		 now = gerrit_now_ms(), idle;

	(void)fd;
	(void)what;
	if (g->state != GERRIT_S_STREAMING) {
		if (now - g->attempt_ms >= GERRIT_LOGIN_TICKS *
		    g->conf.keepalive && now - g->attempt_ms >=
		    GERRIT_LOGIN_MIN_MS)
			gerrit_fail(g, "timed out after %lds",
			    (long)((now - g->attempt_ms) / 1000));
		return;
	}
	fh_backoff_reset(&g->backoff);	/* up for an interval: it works */
	if (g->paused) {
		g->last_rx_ms = now;	/* not reading on purpose */
		return;
	}
	idle = gerrit_idle_ms(g, now);
	if (idle < g->conf.keepalive) {
		g->missed = 0;
		return;
	}
	if (g->missed >= GERRIT_KA_MISSED_MAX) {
		g->st.keepalive_timeouts++;
		gerrit_fail(g, "no answer to %d keepalives in %lds: peer dead",
		    g->missed, (long)(idle / 1000));
		return;
	}
	/*
	 * keepalive@openssh.com with want-reply. libssh keeps one global
	 * request in flight: a first call collects the previous answer if
	 * one came, the second then sends; with no answer both only poll.
	 */
	ssh_send_keepalive(g->ssh);
	ssh_send_keepalive(g->ssh);
	g->missed++;
	gerrit_step(g);		/* libssh may have read stream data */
}

static void
gerrit_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;

	(void)fd;
	if (what & EV_READ) {
		g->last_rx_ms = gerrit_now_ms();
		g->missed = 0;
	}
	gerrit_step(g);
}

static void
gerrit_arm_events(struct gerrit *g, int fd)
{
	struct event_base	*base = fh_gateway_base(g->gw);

	event_assign(&g->io, base, fd, EV_READ | EV_PERSIST, gerrit_io_cb,
	    g);
	event_assign(&g->wr, base, fd, EV_WRITE, gerrit_io_cb, g);
	g->events_ready = true;
	event_add(&g->io, NULL);
}

static char *
gerrit_key_fingerprint(ssh_key key)
{
	unsigned char	*hash = NULL;
	size_t		 hlen = 0;
	char		*fp, *out;

	if (key == NULL || ssh_get_publickey_hash(key,
	    SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
		return fh_xstrdup("(unknown key)");
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	out = fh_xasprintf("%s %s", ssh_key_type_to_char(ssh_key_type(key)),
	    fp != NULL ? fp : "?");
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	return out;
}

/* Returns 0 when the server's key is the one in known_hosts. */
static int
gerrit_verify(struct gerrit *g)
{
	ssh_key	 srv = NULL;
	char	*fp;
	int	 rc = -1;

	if (!g->conf.host_key_check)
		return 0;
	ssh_get_server_publickey(g->ssh, &srv);
	fp = gerrit_key_fingerprint(srv);
	ssh_key_free(srv);
	switch (ssh_session_is_known_server(g->ssh)) {
	case SSH_KNOWN_HOSTS_OK:
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
		gerrit_fatal(g, "HOST KEY MISMATCH: %s:%d offered %s, which "
		    "is not the key for it in %s (a changed server key or "
		    "an attack); refusing to connect", g->conf.host,
		    g->conf.port, fp, g->conf.known_hosts);
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		gerrit_fatal(g, "HOST KEY MISMATCH: %s:%d offered %s, but %s "
		    "holds a key of another type for it; refusing to "
		    "connect", g->conf.host, g->conf.port, fp,
		    g->conf.known_hosts);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
		gerrit_fatal(g, "unknown host key: %s:%d (offered %s) is not "
		    "in %s; add it, e.g. with ssh-keyscan -p %d %s",
		    g->conf.host, g->conf.port, fp, g->conf.known_hosts,
		    g->conf.port, g->conf.host);
		break;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		gerrit_fatal(g, "known_hosts file %s not found; cannot "
		    "verify %s:%d (offered %s)", g->conf.known_hosts,
		    g->conf.host, g->conf.port, fp);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		gerrit_fatal(g, "cannot check the host key of %s:%d against "
		    "%s: %s", g->conf.host, g->conf.port,
		    g->conf.known_hosts, ssh_get_error(g->ssh));
		break;
	}
	free(fp);
	return rc;
}

static void
gerrit_streaming(struct gerrit *g)
{
	fh_log(LOG_INFO, "source %s: streaming events from %s@%s:%d%s",
	    g->name, g->conf.user, g->conf.host, g->conf.port,
	    g->ever_streamed ? " again" : "");
	free(g->last_error);
	g->last_error = NULL;
	g->stderr_logged = false;
	g->missed = 0;
	g->last_rx_ms = gerrit_now_ms();
	gerrit_set_state(g, GERRIT_S_STREAMING);
	if (g->ever_streamed)
		gerrit_fill_request(g, (time_t)gerrit_gap_start(g));
	else if (g->baseline == 0)
		g->baseline = (int64_t)time(NULL) - GERRIT_BASELINE_SLACK_S;
	g->ever_streamed = true;
}

/* Read all the channel holds. Returns -1 when the connection is gone. */
static int
gerrit_read(struct gerrit *g)
{
	int	n;

	while (!g->paused) {
		n = ssh_channel_read_nonblocking(g->channel, g->readbuf,
		    GERRIT_READ_SIZE, 0);
		if (n == SSH_ERROR) {
			gerrit_fail(g, "read: %s", ssh_get_error(g->ssh));
			return -1;
		}
		if (n <= 0)
			break;
		gerrit_lines_feed(&g->lines, g->readbuf, (size_t)n,
		    gerrit_live_line, g);
		if (g->state != GERRIT_S_STREAMING)
			return -1;
	}
	while ((n = ssh_channel_read_nonblocking(g->channel, g->readbuf,
	    GERRIT_READ_SIZE - 1, 1)) > 0) {
		char *ex = gerrit_excerpt(g->readbuf, (size_t)n);

		fh_log(g->stderr_logged ? LOG_DEBUG : LOG_WARNING,
		    "source %s: gerrit says: %s", g->name, ex);
		g->stderr_logged = true;
		free(ex);
	}
	if (g->paused)
		return 0;
	if (ssh_channel_is_eof(g->channel) || ssh_channel_is_closed(
	    g->channel)) {
		gerrit_fail(g, "the server ended the stream");
		return -1;
	}
	if (ssh_get_status(g->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR)) {
		gerrit_fail(g, "connection closed: %s",
		    ssh_get_error(g->ssh));
		return -1;
	}
	return 0;
}

/* Advance the state machine as far as the socket allows. */
static void
gerrit_step(struct gerrit *g)
{
	int	rc;

	for (;;) {
		switch (g->state) {
		case GERRIT_S_HANDSHAKE:
			rc = ssh_connect(g->ssh);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_fail(g, "ssh: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			if (gerrit_verify(g) != 0)
				return;
			gerrit_set_state(g, GERRIT_S_AUTH);
			break;
		case GERRIT_S_AUTH:
			rc = ssh_userauth_publickey(g->ssh, NULL, g->key);
			if (rc == SSH_AUTH_AGAIN)
				goto wait;
			if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL) {
				gerrit_fail(g, "the server refused the key %s "
				    "for user %s", g->conf.key_file,
				    g->conf.user);
				return;
			}
			if (rc != SSH_AUTH_SUCCESS) {
				gerrit_fail(g, "ssh auth: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			if ((g->channel = ssh_channel_new(g->ssh)) == NULL) {
				gerrit_fail(g, "ssh: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			gerrit_set_state(g, GERRIT_S_CHANNEL);
			break;
		case GERRIT_S_CHANNEL:
			rc = ssh_channel_open_session(g->channel);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_fail(g, "channel: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			gerrit_set_state(g, GERRIT_S_EXEC);
			break;
		case GERRIT_S_EXEC:
			rc = ssh_channel_request_exec(g->channel,
			    GERRIT_COMMAND);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_fail(g, "exec '%s': %s", GERRIT_COMMAND,
				    ssh_get_error(g->ssh));
				return;
			}
			gerrit_streaming(g);
			break;
		case GERRIT_S_STREAMING:
			if (gerrit_read(g) != 0)
				return;
			goto wait;
		default:
			return;
		}
	}
wait:
	if (g->ssh != NULL && g->events_ready &&
	    (ssh_get_poll_flags(g->ssh) & SSH_WRITE_PENDING) &&
	    !event_pending(&g->wr, EV_WRITE, NULL))
		event_add(&g->wr, NULL);
}

static void
gerrit_ssh_begin(struct gerrit *g)
{
	int	fd = g->fd, verbosity = SSH_LOG_NOLOG;
	bool	no = false;
	const char *kh = g->conf.host_key_check ? g->conf.known_hosts :
	    "/dev/null";

	evutil_freeaddrinfo(g->addrs);
	g->addrs = g->addr = NULL;
	if ((g->ssh = ssh_new()) == NULL) {
		gerrit_fail(g, "ssh_new failed");
		return;
	}
	if (ssh_options_set(g->ssh, SSH_OPTIONS_HOST, g->conf.host) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_PORT, &g->conf.port) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_USER, g->conf.user) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_PROCESS_CONFIG, &no) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_KNOWNHOSTS, kh) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, kh) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_LOG_VERBOSITY,
	    &verbosity) != 0 ||
	    ssh_options_set(g->ssh, SSH_OPTIONS_FD, &fd) != 0) {
		gerrit_fail(g, "ssh options: %s", ssh_get_error(g->ssh));
		return;
	}
	g->fd = -1;		/* libssh closes it from now on */
	ssh_set_blocking(g->ssh, 0);
	gerrit_arm_events(g, fd);
	gerrit_set_state(g, GERRIT_S_HANDSHAKE);
	gerrit_step(g);
}

static void gerrit_try_addr(struct gerrit *);

static void
gerrit_connected_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;
	int		 err = 0;
	socklen_t	 len = sizeof err;

	(void)what;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		g->connect_errno = err;
		close(g->fd);
		g->fd = -1;
		g->addr = g->addr->ai_next;
		gerrit_try_addr(g);
		return;
	}
	gerrit_ssh_begin(g);
}

static void
gerrit_try_addr(struct gerrit *g)
{
	int	fd, on = 1;
	int	idle = (int)(g->conf.keepalive / 1000) > 0 ?
		    (int)(g->conf.keepalive / 1000) : 1;
	unsigned int user_timeout = (unsigned int)(g->conf.keepalive *
		    (GERRIT_KA_MISSED_MAX + 1));

	for (; g->addr != NULL; g->addr = g->addr->ai_next) {
		fd = socket(g->addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			g->connect_errno = errno;
			continue;
		}
		/* Belt and braces under the SSH keepalive. */
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
		    sizeof user_timeout);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
		if (connect(fd, g->addr->ai_addr, g->addr->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			g->fd = fd;
			gerrit_set_state(g, GERRIT_S_CONNECTING);
			event_assign(&g->wr, fh_gateway_base(g->gw), fd,
			    EV_WRITE, gerrit_connected_cb, g);
			event_add(&g->wr, NULL);
			return;
		}
		g->connect_errno = errno;
		close(fd);
	}
	gerrit_fail(g, "connect: %s", strerror(g->connect_errno));
}

static void
gerrit_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct gerrit_resolve	*r = arg;
	struct gerrit		*g = r->g;

	free(r);
	if (g == NULL) {	/* cancelled */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	g->resolve = NULL;
	g->dnsreq = NULL;
	if (result != 0) {
		gerrit_fail(g, "cannot resolve %s: %s", g->conf.host,
		    evutil_gai_strerror(result));
		return;
	}
	g->addrs = g->addr = res;
	g->connect_errno = ECONNREFUSED;
	gerrit_try_addr(g);
}

static void
gerrit_connect(struct gerrit *g)
{
	struct evutil_addrinfo	 hints;
	struct gerrit_resolve	*r;
	struct evdns_getaddrinfo_request *req;
	struct timeval		 tv = gerrit_tv(g->conf.keepalive);
	char			 port[16];

	g->attempt_ms = gerrit_now_ms();
	event_add(&g->tick, &tv);
	gerrit_set_state(g, GERRIT_S_RESOLVING);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%d", g->conf.port);
	r = fh_xcalloc(1, sizeof *r);
	r->g = g;
	g->resolve = r;
	/* The callback may run before this returns (numeric hosts). */
	req = evdns_getaddrinfo(g->dns, g->conf.host, port, &hints,
	    gerrit_resolved_cb, r);
	if (g->resolve == r)
		g->dnsreq = req;
}

/* ---- gap fill from the events-log plugin ---- */

static void
gerrit_fill_line(const uint8_t *line, size_t len, int err, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	char			*topic;
	json_t			*event;
	int64_t			 t;

	if (err == 0)
		err = gerrit_parse_line(line, len, g->conf.topic, &topic,
		    &event);
	if (err == GERRIT_E_EMPTY)
		return;
	if (err != 0) {
		gerrit_bad_line(g, "events-log", line, len, err);
		return;
	}
	f->page_lines++;
	t = gerrit_event_time(event);
	if (t > f->page_last)
		f->page_last = t;
	gerrit_note_time(g, event);
	if (gerrit_publish(g, topic, event, true)) {
		f->published++;
		g->st.gap_events++;
	} else
		f->duplicates++;
}

static size_t
gerrit_fill_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	size_t			 n = size * nmemb, k;

	if (f->status == 0)
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
	if (f->status != 200) {
		/* Keep the start of an error page for the log. */
		k = sizeof f->body - 1 - f->bodylen;
		k = n < k ? n : k;
		memcpy(f->body + f->bodylen, ptr, k);
		f->bodylen += k;
		f->body[f->bodylen] = '\0';
		return n;
	}
	gerrit_lines_feed(&f->lines, (const uint8_t *)ptr, n,
	    gerrit_fill_line, g);
	return n;
}

static void
gerrit_fill_free(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;

	if (f == NULL)
		return;
	if (f->easy != NULL) {
		fh_curl_cancel(g->curl, f->easy);
		curl_easy_cleanup(f->easy);
	}
	event_del(&g->fill_timer);
	gerrit_lines_free(&f->lines);
	free(f->url);
	free(f);
	g->fill = NULL;
}

static void
gerrit_fill_end(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;

	if (f->t2 > g->dedup_until)
		g->dedup_until = f->t2;
	gerrit_fill_free(g);
	gerrit_release_held(g, true);
	if (g->fill_pending) {
		g->fill_pending = false;
		gerrit_fill_request(g, g->pending_from);
	}
	if (g->paused && g->nheld < GERRIT_QUEUE_MAX) {
		g->paused = false;
		if (g->state == GERRIT_S_STREAMING) {
			event_add(&g->io, NULL);
			gerrit_step(g);
		}
	}
}

static void
gerrit_fill_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gerrit_fill_page(arg);
}

/*
 * A full page (events_log_limit lines) means there may be more: the next
 * page starts at the newest second seen, inclusive (the overlap is
 * de-duplicated). A full page inside one second cannot be paged through
 * with second-granular t1; the rest of that second is out of reach.
 */
static bool
gerrit_fill_next_page(struct gerrit *g, struct gerrit_fill *f)
{
	time_t	next;

	if (f->page_lines < (size_t)g->conf.events_log_limit)
		return false;
	if (f->page_last > (int64_t)f->t1)
		next = (time_t)f->page_last;
	else {
		fh_log(LOG_WARNING, "source %s: events-log returned a full "
		    "page of %zu events within one second; events beyond it "
		    "in that second cannot be fetched (raise the plugin's "
		    "returnLimit)", g->name, f->page_lines);
		next = f->t1 + 1;
	}
	if (next > f->t2 || ++f->page >= GERRIT_FILL_PAGES_MAX)
		return false;
	f->t1 = next;
	gerrit_fill_page(g);
	return true;
}

static void
gerrit_fill_done_cb(CURL *easy, CURLcode rc, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	char			 a[32], b[32], *why;
	struct timeval		 tv;
	struct tm		 tm;
	time_t			 t;

	f->easy = NULL;
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_cleanup(easy);
	if (rc == CURLE_OK && f->status == 200)
		gerrit_lines_finish(&f->lines, gerrit_fill_line, g);
	else {
		gerrit_lines_reset(&f->lines);
		if (rc != CURLE_OK)
			why = fh_xasprintf("%s", f->errbuf[0] != '\0' ?
			    f->errbuf : curl_easy_strerror(rc));
		else
			why = fh_xasprintf("HTTP %ld: %.80s", f->status,
			    f->body);
		if (++f->tries < GERRIT_FILL_TRIES) {
			fh_log(LOG_INFO, "source %s: events-log: %s; "
			    "retrying", g->name, why);
			free(why);
			tv = gerrit_tv(1000L << f->tries);
			evtimer_add(&g->fill_timer, &tv);
			return;
		}
		t = f->from;
		gmtime_r(&t, &tm);
		strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S", &tm);
		t = f->t2;
		gmtime_r(&t, &tm);
		strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
		fh_log(LOG_WARNING, "source %s: gap fill from events-log "
		    "failed: %s; events between %s and %s UTC may be lost",
		    g->name, why, a, b);
		free(why);
		g->st.gap_fill_errors++;
		gerrit_fill_end(g);
		return;
	}
	f->tries = 0;
	if (gerrit_fill_next_page(g, f))
		return;
	g->st.gap_fills++;
	fh_log(LOG_INFO, "source %s: gap filled from events-log: %zu missed "
	    "events published, %zu duplicates dropped", g->name,
	    f->published, f->duplicates);
	gerrit_fill_end(g);
}

static void
gerrit_fill_page(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;
	CURL			*easy;

	free(f->url);
	f->url = gerrit_events_log_url(g->conf.events_log_url, f->t1, f->t2);
	f->status = 0;
	f->bodylen = 0;
	f->body[0] = '\0';
	f->errbuf[0] = '\0';
	f->page_lines = 0;
	f->page_last = 0;
	gerrit_lines_reset(&f->lines);
	fh_log(LOG_DEBUG, "source %s: GET %s", g->name, f->url);
	if ((easy = curl_easy_init()) == NULL)
		fh_fatal("curl_easy_init failed");
	curl_easy_setopt(easy, CURLOPT_URL, f->url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, gerrit_fill_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, GERRIT_FILL_TIMEOUT_S);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g->conf.events_log_user[0] != '\0') {
		curl_easy_setopt(easy, CURLOPT_USERNAME,
		    g->conf.events_log_user);
		curl_easy_setopt(easy, CURLOPT_PASSWORD,
		    g->password != NULL ? g->password : "");
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH,
		    (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST));
	}
	f->easy = easy;
	if (fh_curl_add(g->curl, easy, gerrit_fill_done_cb, g) != 0) {
		f->easy = NULL;
		curl_easy_cleanup(easy);
		g->st.gap_fill_errors++;
		fh_log(LOG_WARNING, "source %s: cannot start the events-log "
		    "request", g->name);
		gerrit_fill_end(g);
	}
}

static void
gerrit_fill_request(struct gerrit *g, time_t from)
{
	struct gerrit_fill	*f;

	if (g->curl == NULL) {
		fh_log(LOG_WARNING, "source %s: events since the last one "
		    "seen may be lost (set events_log_url to fill gaps)",
		    g->name);
		return;
	}
	if (g->fill != NULL) {
		if (!g->fill_pending || from < g->pending_from)
			g->pending_from = from;
		g->fill_pending = true;
		return;
	}
	fh_log(LOG_INFO, "source %s: filling the gap from events-log",
	    g->name);
	f = fh_xcalloc(1, sizeof *f);
	f->from = f->t1 = from;
	f->t2 = time(NULL);
	gerrit_lines_init(&f->lines, g->conf.max_line);
	g->fill = f;
	gerrit_fill_page(g);
}

/* ---- the ops ---- */

static void *
gerrit_create(struct fh_gateway *gw, const char *instance)
{
	struct gerrit	*g = fh_xcalloc(1, sizeof *g);
	char		*err = NULL;

	g->gw = gw;
	g->name = fh_xstrdup(instance);
	g->fd = -1;
	g->held_tail = &g->held;
	if (fh_conf_apply(NULL, gerrit_vars, &g->conf, &err) != 0)
		fh_fatal("gerrit defaults: %s", err);
	return g;
}

static char *
gerrit_read_secret(const char *path, char **why)
{
	FILE	*f;
	char	 buf[4096];
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		*why = fh_xstrdup(strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return fh_xstrdup(buf);
}

static int
gerrit_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct gerrit		*g = self;
	struct gerrit_conf	*c = &g->conf;
	const char		*key = NULL, *why = NULL;
	char			*where, *reason = NULL;
	struct passwd		*pw;

	if (fh_conf_apply(sec, gerrit_vars, c, errstr) != 0)
		return -1;
	if (c->port < 1 || c->port > 65535) {
		key = "port";
		why = "must be 1..65535";
	} else if (c->keepalive < 100) {
		key = "keepalive";
		why = "must be at least 100ms";
	} else if (c->backoff_max < GERRIT_BACKOFF_MIN_MS) {
		key = "backoff_max";
		why = "must be at least 1s";
	} else if (c->topic[0] == '\0' ||
	    !fh_topic_is_valid(c->topic, strlen(c->topic))) {
		key = "topic";
		why = "must be a valid MQTT topic without wildcards";
	} else if (c->max_line < 1024) {
		key = "max_line";
		why = "must be at least 1k";
	} else if (c->host_key_check && c->known_hosts[0] == '\0') {
		key = "known_hosts";
		why = "is required (or set host_key_check = false)";
	} else if (c->host_key_check && access(c->known_hosts, R_OK) != 0) {
		key = "known_hosts";
		reason = fh_xasprintf("%s: %s", c->known_hosts,
		    strerror(errno));
	} else if (c->events_log_url[0] != '\0' &&
	    strncmp(c->events_log_url, "http://", 7) != 0 &&
	    strncmp(c->events_log_url, "https://", 8) != 0) {
		key = "events_log_url";
		why = "must be an http:// or https:// URL";
	} else if (c->events_log_limit < 1) {
		key = "events_log_limit";
		why = "must be at least 1";
	} else if (c->events_log_password_file[0] != '\0' &&
	    c->events_log_user[0] == '\0') {
		key = "events_log_password_file";
		why = "needs events_log_user";
	}
	if (key == NULL && c->events_log_password_file[0] != '\0') {
		free(g->password);
		g->password = gerrit_read_secret(c->events_log_password_file,
		    &reason);
		if (g->password == NULL)
			key = "events_log_password_file";
	}
	if (key == NULL) {
		ssh_key_free(g->key);
		g->key = NULL;
		if (ssh_pki_import_privkey_file(c->key_file, NULL, NULL, NULL,
		    &g->key) != SSH_OK) {
			key = "key_file";
			reason = fh_xasprintf("cannot load the private key %s "
			    "(missing, unreadable, passphrase-protected or "
			    "not a key)", c->key_file);
		}
	}
	if (key != NULL) {
		where = fh_section_where(sec, key);
		*errstr = fh_xasprintf("%s: %s %s", where, key,
		    why != NULL ? why : reason);
		free(where);
		free(reason);
		return -1;
	}
	if (c->user[0] == '\0' && (pw = getpwuid(getuid())) != NULL) {
		free(c->user);
		c->user = fh_xstrdup(pw->pw_name);
	}
	return 0;
}

static int
gerrit_start(void *self)
{
	struct gerrit		*g = self;
	struct event_base	*base = fh_gateway_base(g->gw);

	if (g->state != GERRIT_S_STOPPED)
		return 0;
	if (g->dns == NULL) {
		g->dns = evdns_base_new(base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (g->dns == NULL)
			g->dns = evdns_base_new(base,
			    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (g->dns == NULL) {
			fh_log(LOG_ERR, "source %s: no DNS resolver", g->name);
			return -1;
		}
	}
	evtimer_assign(&g->timer, base, gerrit_timer_cb, g);
	event_assign(&g->wr, base, -1, EV_WRITE, gerrit_io_cb, g);
	event_assign(&g->tick, base, -1, EV_PERSIST, gerrit_tick_cb, g);
	evtimer_assign(&g->fill_timer, base, gerrit_fill_retry_cb, g);
	if (g->readbuf == NULL)
		g->readbuf = fh_xmalloc(GERRIT_READ_SIZE);
	gerrit_lines_init(&g->lines, g->conf.max_line);
	fh_backoff_init(&g->backoff, GERRIT_BACKOFF_MIN_MS,
	    g->conf.backoff_max);
	if (g->conf.events_log_url[0] != '\0') {
		g->curl = fh_curl_create(base);
		if (g->recent == NULL)
			g->recent = fh_xcalloc(GERRIT_RECENT,
			    sizeof *g->recent);
		if (!g->ever_streamed)
			gerrit_cursor_load(g);
	}
	if (!g->conf.host_key_check)
		fh_log(LOG_WARNING, "source %s: host_key_check = false: the "
		    "identity of %s:%d is not verified", g->name,
		    g->conf.host, g->conf.port);
	gerrit_connect(g);
	return 0;
}

static void	gerrit_stats(void *, json_t *);

static void
gerrit_stop(void *self)
{
	struct gerrit	*g = self;

	json_t		*st;
	const char	*k;
	json_t		*v;
	char		*line = NULL, *next;

	if (g->state == GERRIT_S_STOPPED)
		return;
	/* The counters once, for the operator (and the tests). */
	st = json_object();
	gerrit_stats(g, st);
	json_object_foreach(st, k, v) {
		if (!json_is_integer(v))
			continue;
		next = fh_xasprintf("%s%s=%lld ", line ? line : "", k,
		    (long long)json_integer_value(v));
		free(line);
		line = next;
	}
	fh_log(LOG_INFO, "source %s: stopped: %s", g->name, line ? line : "");
	free(line);
	json_decref(st);
	gerrit_disconnect(g);
	event_del(&g->timer);
	event_del(&g->tick);
	gerrit_fill_free(g);
	g->fill_pending = false;
	gerrit_release_held(g, false);
	fh_curl_free(g->curl);
	g->curl = NULL;
	gerrit_lines_free(&g->lines);
	gerrit_set_state(g, GERRIT_S_STOPPED);
}

static void
gerrit_destroy(void *self)
{
	struct gerrit	*g = self;

	if (g == NULL)
		return;
	gerrit_stop(g);
	if (g->dns != NULL)
		evdns_base_free(g->dns, 0);
	ssh_key_free(g->key);
	fh_conf_clear(gerrit_vars, &g->conf);
	free(g->password);
	free(g->last_error);
	free(g->readbuf);
	free(g->recent);
	free(g->name);
	free(g);
}

static void
gerrit_stats(void *self, json_t *out)
{
	struct gerrit	*g = self;

#define GERRIT_STAT(k, v) \
	json_object_set_new(out, (k), json_integer((json_int_t)(v)))
	json_object_set_new(out, "state",
	    json_string(gerrit_state_names[g->state]));
	json_object_set_new(out, "connected",
	    json_boolean(g->state == GERRIT_S_STREAMING));
	GERRIT_STAT("events", g->st.events);
	GERRIT_STAT("reconnects", g->st.reconnects);
	GERRIT_STAT("parse_errors", g->st.parse_errors);
	GERRIT_STAT("lines_too_long", g->st.lines_too_long);
	GERRIT_STAT("dropped_output", g->st.dropped_output);
	GERRIT_STAT("gap_fills", g->st.gap_fills);
	GERRIT_STAT("gap_events", g->st.gap_events);
	GERRIT_STAT("gap_fill_errors", g->st.gap_fill_errors);
	GERRIT_STAT("duplicates", g->st.duplicates);
	GERRIT_STAT("keepalive_timeouts", g->st.keepalive_timeouts);
	GERRIT_STAT("held", g->nheld);
#undef GERRIT_STAT
	if (g->last_error != NULL)
		json_object_set_new(out, "last_error",
		    json_string(g->last_error));
}

const struct fh_source_ops fh_source_gerrit = {
	.name = "gerrit",
	.create = gerrit_create,
	.configure = gerrit_configure,
	.start = gerrit_start,
	.stop = gerrit_stop,
	.destroy = gerrit_destroy,
	.stats = gerrit_stats,
};
