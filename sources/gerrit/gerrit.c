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
#include "sources/gerrit/gerrit_int.h"

static const struct fh_conf_var gerrit_vars[] = {
	FH_CONF_STR_REQ("host", struct gerrit_conf, host,
	    "The Gerrit server (SSH stream-events)."),
	FH_CONF_INT_RANGE("port", struct gerrit_conf, port, "29418", 1, 65535,
	    "Its SSH port."),
	FH_CONF_STR("user", struct gerrit_conf, user, "",
	    "SSH user name; empty: the daemon's user name."),
	FH_CONF_STR_REQ("key_file", struct gerrit_conf, key_file,
	    "OpenSSH private key (no passphrase) for public-key "
	    "authentication."),
	FH_CONF_STR("known_hosts", struct gerrit_conf, known_hosts, "",
	    "OpenSSH known_hosts file the server key is checked against "
	    "([host]:port for ports other than 22); required unless "
	    "host_key_check is false. A mismatch stops this source."),
	FH_CONF_BOOL("host_key_check", struct gerrit_conf, host_key_check,
	    "true",
	    "false: accept any server key (tests only)."),
	FH_CONF_DURATION("keepalive", struct gerrit_conf, keepalive, "30s",
	    "SSH keepalive interval; a dead peer is detected and "
	    "reconnected."),
	FH_CONF_DURATION("backoff_max", struct gerrit_conf, backoff_max,
	    "60s",
	    "Reconnect delay cap (starts at 1s, doubles, with jitter)."),
	FH_CONF_STR("topic", struct gerrit_conf, topic, "gerrit",
	    "Base topic: events go to TOPIC/PROJECT/TYPE."),
	FH_CONF_QOS("qos", struct gerrit_conf, qos, "0",
	    "QoS of the events."),
	FH_CONF_BOOL("retain", struct gerrit_conf, retain, "false",
	    "Publish the events retained."),
	FH_CONF_SIZE("max_line", struct gerrit_conf, max_line, "16M",
	    "Longest event line accepted; a longer one is dropped, "
	    "counted and logged."),
	FH_CONF_STR("events_log_url", struct gerrit_conf, events_log_url, "",
	    "The events-log plugin's REST URL, to replay what was missed "
	    "while disconnected; empty: no replay."),
	FH_CONF_INT_RANGE("events_log_limit", struct gerrit_conf,
	    events_log_limit, "5000", 1, 1000000,
	    "The events-log plugin's returnLimit (page size)."),
	FH_CONF_STR("events_log_user", struct gerrit_conf, events_log_user,
	    "",
	    "HTTP user for events_log_url (basic or digest auth)."),
	FH_CONF_STR("events_log_password_file", struct gerrit_conf,
	    events_log_password_file, "",
	    "File whose first line is the HTTP password for "
	    "events_log_url."),
	FH_CONF_END
};

static const struct fh_conf_schema gerrit_schema = {
	.section = "source NAME",
	.doc =
	    "type = gerrit: Gerrit stream-events over SSH, with events-log "
	    "replay after an outage (docs/sources/gerrit.md).",
	.vars = gerrit_vars,
};

int64_t
gerrit_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timeval
gerrit_tv(long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* "first bytes" of a bad line, printable, for the log. */
char *
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
bool
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

void
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

/* A line of either path (the stream, events-log) as topic and event;
 * false when it is empty, or bad (then logged and counted). */
bool
gerrit_line_event(struct gerrit *g, const char *where, const uint8_t *line,
    size_t len, int err, char **topic, json_t **event)
{
	if (err == 0)
		err = gerrit_parse_line(line, len, g->conf.topic, topic,
		    event);
	if (err == GERRIT_E_EMPTY)
		return false;
	if (err != 0) {
		gerrit_bad_line(g, where, line, len, err);
		return false;
	}
	return true;
}

void
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
int64_t
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

void
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

void
gerrit_live_line(const uint8_t *line, size_t len, int err, void *arg)
{
	struct gerrit	*g = arg;
	char		*topic;
	json_t		*event;
	const char	*type;
	int64_t		 before = gerrit_gap_start(g), t;
	bool		 dropped;

	if (!gerrit_line_event(g, "stream", line, len, err, &topic, &event))
		return;
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

static int
gerrit_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct gerrit		*g = self;
	struct gerrit_conf	*c = &g->conf;
	const char		*key = NULL, *why = NULL;
	char			*reason = NULL;
	struct passwd		*pw;

	if (fh_conf_apply(sec, gerrit_vars, c, errstr) != 0)
		return -1;
	if (c->keepalive < 100) {
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
	} else if (c->events_log_password_file[0] != '\0' &&
	    c->events_log_user[0] == '\0') {
		key = "events_log_password_file";
		why = "needs events_log_user";
	}
	if (key == NULL && c->events_log_password_file[0] != '\0') {
		char *why_file = NULL;

		fh_secret_free(g->password);
		if (fh_secret_read(c->events_log_password_file, 0,
		    &g->password, &why_file) != 0) {
			key = "events_log_password_file";
			reason = fh_xasprintf("%s %s",
			    c->events_log_password_file, why_file);
			free(why_file);
		}
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
		fh_conf_error(errstr, sec, key, "%s %s", key,
		    why != NULL ? why : reason);
		free(reason);
		return -1;
	}
	if (c->user[0] == '\0' && (pw = getpwuid(getuid())) != NULL) {
		free(c->user);
		c->user = fh_xstrdup(pw->pw_name);
	}
	return 0;
}

/*
 * SIGHUP: the files this source reads, read again with the settings it
 * runs with: the private key and the events-log password now, and
 * known_hosts (which libssh reads at each connect) checked. A bad one
 * keeps what we have. A source stopped by its host key check tries again:
 * reloading a fixed known_hosts is how an operator lets it go on.
 */
static int
gerrit_reload(void *self, char **errstr)
{
	struct gerrit		*g = self;
	struct gerrit_conf	*c = &g->conf;
	ssh_key			 key = NULL;
	char			*password = NULL, *why = NULL;

	if (c->host_key_check && access(c->known_hosts, R_OK) != 0) {
		*errstr = fh_xasprintf("known_hosts %s: %s", c->known_hosts,
		    strerror(errno));
		return -1;
	}
	if (ssh_pki_import_privkey_file(c->key_file, NULL, NULL, NULL,
	    &key) != SSH_OK) {
		*errstr = fh_xasprintf("key_file: cannot load the private key "
		    "%s", c->key_file);
		return -1;
	}
	if (c->events_log_password_file[0] != '\0' &&
	    fh_secret_read(c->events_log_password_file, 0, &password,
	    &why) != 0) {
		*errstr = fh_xasprintf("events_log_password_file %s %s",
		    c->events_log_password_file, why);
		free(why);
		ssh_key_free(key);
		return -1;
	}
	ssh_key_free(g->key);
	g->key = key;
	if (password != NULL) {
		fh_secret_free(g->password);
		g->password = password;
	}
	fh_log(LOG_INFO, "source %s: key_file, known_hosts%s read again",
	    g->name, password != NULL ? " and events_log_password_file" : "");
	if (g->state == GERRIT_S_FAILED) {
		fh_log(LOG_INFO, "source %s: connecting again after the "
		    "reload", g->name);
		fh_backoff_reset(&g->backoff);
		gerrit_ssh_connect(g);
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
	evtimer_assign(&g->timer, base, gerrit_ssh_timer_cb, g);
	event_assign(&g->wr, base, -1, EV_WRITE, gerrit_ssh_io_cb, g);
	event_assign(&g->tick, base, -1, EV_PERSIST, gerrit_ssh_tick_cb, g);
	evtimer_assign(&g->fill_timer, base, gerrit_fill_retry_cb, g);
	if (g->readbuf == NULL)
		g->readbuf = fh_xmalloc(GERRIT_READ_SIZE);
	gerrit_lines_init(&g->lines, g->conf.max_line);
	fh_backoff_init(&g->backoff, GERRIT_BACKOFF_MIN_MS,
	    g->conf.backoff_max);
	if (g->conf.events_log_url[0] != '\0') {
		g->curl = fh_gateway_curl(g->gw);
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
	gerrit_ssh_connect(g);
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
	gerrit_ssh_disconnect(g);
	event_del(&g->timer);
	event_del(&g->tick);
	gerrit_fill_free(g);
	g->fill_pending = false;
	gerrit_release_held(g, false);
	g->curl = NULL;		/* the gateway's; our transfer is gone */
	gerrit_lines_free(&g->lines);
	gerrit_ssh_set_state(g, GERRIT_S_STOPPED);
}

static void
gerrit_destroy(void *self)
{
	struct gerrit	*g = self;

	if (g == NULL)
		return;
	gerrit_stop(g);
	ssh_key_free(g->key);
	fh_conf_clear(gerrit_vars, &g->conf);
	fh_secret_free(g->password);
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
	    json_string(gerrit_ssh_state_names[g->state]));
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
	.schema = &gerrit_schema,
	.create = gerrit_create,
	.configure = gerrit_configure,
	.start = gerrit_start,
	.stop = gerrit_stop,
	.destroy = gerrit_destroy,
	.stats = gerrit_stats,
	.reload = gerrit_reload,
};

