/*
 * The gerrit source's SSH connection: one state machine on the event
 * loop walks resolve -> TCP connect -> SSH handshake -> host key check ->
 * public-key auth -> channel open -> exec -> streaming; every libssh call
 * that would block returns SSH_AGAIN and is retried when the socket is
 * ready. Dead peers are found by keepalive@openssh.com requests (see
 * gerrit.c).
 */
#include "sources/gerrit/gerrit_int.h"

const char *const gerrit_ssh_state_names[] = {
	[GERRIT_S_STOPPED] = "stopped",
	[GERRIT_S_CONNECTING] = "connecting",
	[GERRIT_S_HANDSHAKE] = "ssh-handshake",
	[GERRIT_S_AUTH] = "authenticating",
	[GERRIT_S_CHANNEL] = "opening-channel",
	[GERRIT_S_EXEC] = "starting-stream",
	[GERRIT_S_STREAMING] = "streaming",
	[GERRIT_S_BACKOFF] = "backoff",
	[GERRIT_S_FAILED] = "failed",
};

/* ---- connection state ---- */

void
gerrit_ssh_set_state(struct gerrit *g, enum gerrit_state s)
{
	if (g->state != s)
		fh_log(LOG_DEBUG, "source %s: %s -> %s", g->name,
		    gerrit_ssh_state_names[g->state],
		    gerrit_ssh_state_names[s]);
	g->state = s;
}

/* Drop the connection (not the gap fill, not the held events). */
void
gerrit_ssh_disconnect(struct gerrit *g)
{
	if (g->events_ready) {
		event_del(&g->io);
		g->events_ready = false;
	}
	event_del(&g->wr);
	event_del(&g->tick);
	fh_connect_cancel(g->conn);
	g->conn = NULL;
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
gerrit_ssh_fail(struct gerrit *g, const char *fmt, ...)
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
	    gerrit_ssh_state_names[g->state]);
	free(msg);
	gerrit_ssh_disconnect(g);
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
	gerrit_ssh_set_state(g, GERRIT_S_BACKOFF);
	tv = gerrit_tv(delay);
	evtimer_add(&g->timer, &tv);
}

/* A failure that retrying cannot fix (a wrong host key): stop this
 * source, loudly; the daemon and the other sources carry on. */
static void __attribute__((format(printf, 2, 3)))
gerrit_ssh_fatal(struct gerrit *g, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	gerrit_ssh_disconnect(g);
	fh_log(LOG_ERR, "source %s: %s; this source is stopped (the broker "
	    "and other sources keep running)", g->name, msg);
	free(g->last_error);
	g->last_error = msg;
	gerrit_ssh_set_state(g, GERRIT_S_FAILED);
}

void
gerrit_ssh_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;

	(void)fd;
	(void)what;
	if (g->state == GERRIT_S_BACKOFF) {
		g->st.reconnects++;
		gerrit_ssh_connect(g);
	}
}

/*
 * Milliseconds since the server last sent us anything. TCP_INFO sees
 * every byte, even those libssh pulled in during another call (the answer
 * to a keepalive often arrives that way); last_rx_ms is the fallback.
 */
static int64_t
gerrit_ssh_idle_ms(struct gerrit *g, int64_t now)
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

void
gerrit_ssh_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;
	int64_t		 now = gerrit_now_ms(), idle;

	(void)fd;
	(void)what;
	if (g->state != GERRIT_S_STREAMING) {
		if (now - g->attempt_ms >= GERRIT_LOGIN_TICKS *
		    g->conf.keepalive && now - g->attempt_ms >=
		    GERRIT_LOGIN_MIN_MS)
			gerrit_ssh_fail(g, "timed out after %lds",
			    (long)((now - g->attempt_ms) / 1000));
		return;
	}
	fh_backoff_reset(&g->backoff);	/* up for an interval: it works */
	if (g->paused) {
		g->last_rx_ms = now;	/* not reading on purpose */
		return;
	}
	idle = gerrit_ssh_idle_ms(g, now);
	if (idle < g->conf.keepalive) {
		g->missed = 0;
		return;
	}
	if (g->missed >= GERRIT_KA_MISSED_MAX) {
		g->st.keepalive_timeouts++;
		gerrit_ssh_fail(g, "no answer to %d keepalives in %lds: "
		    "peer dead", g->missed, (long)(idle / 1000));
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
	gerrit_ssh_step(g);		/* libssh may have read stream data */
}

void
gerrit_ssh_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gerrit	*g = arg;

	(void)fd;
	if (what & EV_READ) {
		g->last_rx_ms = gerrit_now_ms();
		g->missed = 0;
	}
	gerrit_ssh_step(g);
}

static void
gerrit_ssh_arm_events(struct gerrit *g, int fd)
{
	struct event_base	*base = fh_gateway_base(g->gw);

	event_assign(&g->io, base, fd, EV_READ | EV_PERSIST, gerrit_ssh_io_cb,
	    g);
	event_assign(&g->wr, base, fd, EV_WRITE, gerrit_ssh_io_cb, g);
	g->events_ready = true;
	event_add(&g->io, NULL);
}

static char *
gerrit_ssh_key_fingerprint(ssh_key key)
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
gerrit_ssh_verify(struct gerrit *g)
{
	ssh_key	 srv = NULL;
	char	*fp;
	int	 rc = -1;

	if (!g->conf.host_key_check)
		return 0;
	ssh_get_server_publickey(g->ssh, &srv);
	fp = gerrit_ssh_key_fingerprint(srv);
	ssh_key_free(srv);
	switch (ssh_session_is_known_server(g->ssh)) {
	case SSH_KNOWN_HOSTS_OK:
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
		gerrit_ssh_fatal(g, "HOST KEY MISMATCH: %s:%d offered %s, "
		    "which is not the key for it in %s (a changed server key "
		    "or an attack); refusing to connect", g->conf.host,
		    g->conf.port, fp, g->conf.known_hosts);
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		gerrit_ssh_fatal(g, "HOST KEY MISMATCH: %s:%d offered %s, "
		    "but %s holds a key of another type for it; refusing to "
		    "connect", g->conf.host, g->conf.port, fp,
		    g->conf.known_hosts);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
		gerrit_ssh_fatal(g, "unknown host key: %s:%d (offered %s) "
		    "is not in %s; add it, e.g. with ssh-keyscan -p %d %s",
		    g->conf.host, g->conf.port, fp, g->conf.known_hosts,
		    g->conf.port, g->conf.host);
		break;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		gerrit_ssh_fatal(g, "known_hosts file %s not found; cannot "
		    "verify %s:%d (offered %s)", g->conf.known_hosts,
		    g->conf.host, g->conf.port, fp);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		gerrit_ssh_fatal(g, "cannot check the host key of %s:%d "
		    "against %s: %s", g->conf.host, g->conf.port,
		    g->conf.known_hosts, ssh_get_error(g->ssh));
		break;
	}
	free(fp);
	return rc;
}

static void
gerrit_ssh_streaming(struct gerrit *g)
{
	fh_log(LOG_INFO, "source %s: streaming events from %s@%s:%d%s",
	    g->name, g->conf.user, g->conf.host, g->conf.port,
	    g->ever_streamed ? " again" : "");
	free(g->last_error);
	g->last_error = NULL;
	g->stderr_logged = false;
	g->missed = 0;
	g->last_rx_ms = gerrit_now_ms();
	gerrit_ssh_set_state(g, GERRIT_S_STREAMING);
	if (g->ever_streamed)
		gerrit_fill_request(g, (time_t)gerrit_gap_start(g));
	else if (g->baseline == 0)
		g->baseline = (int64_t)time(NULL) - GERRIT_BASELINE_SLACK_S;
	g->ever_streamed = true;
}

/* Read all the channel holds. Returns -1 when the connection is gone. */
static int
gerrit_ssh_read(struct gerrit *g)
{
	int	n;

	while (!g->paused) {
		n = ssh_channel_read_nonblocking(g->channel, g->readbuf,
		    GERRIT_READ_SIZE, 0);
		if (n == SSH_ERROR) {
			gerrit_ssh_fail(g, "read: %s", ssh_get_error(g->ssh));
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
		gerrit_ssh_fail(g, "the server ended the stream");
		return -1;
	}
	if (ssh_get_status(g->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR)) {
		gerrit_ssh_fail(g, "connection closed: %s",
		    ssh_get_error(g->ssh));
		return -1;
	}
	return 0;
}

/* Advance the state machine as far as the socket allows. */
void
gerrit_ssh_step(struct gerrit *g)
{
	int	rc;

	for (;;) {
		switch (g->state) {
		case GERRIT_S_HANDSHAKE:
			rc = ssh_connect(g->ssh);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_ssh_fail(g, "ssh: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			if (gerrit_ssh_verify(g) != 0)
				return;
			gerrit_ssh_set_state(g, GERRIT_S_AUTH);
			break;
		case GERRIT_S_AUTH:
			rc = ssh_userauth_publickey(g->ssh, NULL, g->key);
			if (rc == SSH_AUTH_AGAIN)
				goto wait;
			if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL) {
				gerrit_ssh_fail(g, "the server refused the "
				    "key %s for user %s", g->conf.key_file,
				    g->conf.user);
				return;
			}
			if (rc != SSH_AUTH_SUCCESS) {
				gerrit_ssh_fail(g, "ssh auth: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			if ((g->channel = ssh_channel_new(g->ssh)) == NULL) {
				gerrit_ssh_fail(g, "ssh: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			gerrit_ssh_set_state(g, GERRIT_S_CHANNEL);
			break;
		case GERRIT_S_CHANNEL:
			rc = ssh_channel_open_session(g->channel);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_ssh_fail(g, "channel: %s",
				    ssh_get_error(g->ssh));
				return;
			}
			gerrit_ssh_set_state(g, GERRIT_S_EXEC);
			break;
		case GERRIT_S_EXEC:
			rc = ssh_channel_request_exec(g->channel,
			    GERRIT_COMMAND);
			if (rc == SSH_AGAIN)
				goto wait;
			if (rc != SSH_OK) {
				gerrit_ssh_fail(g, "exec '%s': %s",
				    GERRIT_COMMAND, ssh_get_error(g->ssh));
				return;
			}
			gerrit_ssh_streaming(g);
			break;
		case GERRIT_S_STREAMING:
			if (gerrit_ssh_read(g) != 0)
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

	if ((g->ssh = ssh_new()) == NULL) {
		gerrit_ssh_fail(g, "ssh_new failed");
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
		gerrit_ssh_fail(g, "ssh options: %s", ssh_get_error(g->ssh));
		return;
	}
	g->fd = -1;		/* libssh closes it from now on */
	ssh_set_blocking(g->ssh, 0);
	gerrit_ssh_arm_events(g, fd);
	gerrit_ssh_set_state(g, GERRIT_S_HANDSHAKE);
	gerrit_ssh_step(g);
}

/* TCP is up (fh_connect tried every address) or every try failed. */
static void
gerrit_ssh_connected_cb(int fd, const char *why, void *arg)
{
	struct gerrit	*g = arg;
	int		 on = 1;
	int		 idle = (int)(g->conf.keepalive / 1000) > 0 ?
			    (int)(g->conf.keepalive / 1000) : 1;
	unsigned int	 user_timeout = (unsigned int)(g->conf.keepalive *
			    (GERRIT_KA_MISSED_MAX + 1));

	g->conn = NULL;
	if (fd == -1) {
		gerrit_ssh_fail(g, "%s", why);
		return;
	}
	/* Belt and braces under the SSH keepalive. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
	    sizeof user_timeout);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	g->fd = fd;
	gerrit_ssh_begin(g);
}

void
gerrit_ssh_connect(struct gerrit *g)
{
	struct timeval	tv = gerrit_tv(g->conf.keepalive);
	long		login = GERRIT_LOGIN_TICKS * g->conf.keepalive;

	g->attempt_ms = gerrit_now_ms();
	event_add(&g->tick, &tv);
	gerrit_ssh_set_state(g, GERRIT_S_CONNECTING);
	/* Each address gets as long as the whole login may take. */
	g->conn = fh_connect_start(g->gw, g->conf.host, g->conf.port,
	    login > GERRIT_LOGIN_MIN_MS ? login : GERRIT_LOGIN_MIN_MS,
	    gerrit_ssh_connected_cb, g);
}

