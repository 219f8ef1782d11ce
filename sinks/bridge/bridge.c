/*
 * The bridge sink: owns every [bridge NAME] section, makes one link (an
 * MQTT client, sinks/bridge/link.c) per section, and hands every bus event
 * to each link, which forwards what its topic lines select.
 *
 * The keys mean what Mosquitto's bridge keys mean, spelled the firehose
 * way (docs/bridge.md has the table).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/module.h"
#include "gateway/xmalloc.h"
#include "sinks/bridge/bridge.h"
#include "sinks/bridge/link.h"
#include "lib/mqtt/packet.h"

/* The keys of a [bridge NAME] as the schema table reads them. */
struct bridge_sec {
	char	*address;
	char	*protocol;
	char	*mqtt_version;
	char	*client_id;
	char	*username;
	char	*password_file;
	char	*ca_file;
	char	*cert_file;
	char	*key_file;
	bool	 tls_verify;
	char	*path;
	bool	 clean_session;
	long	 keepalive;
	bool	 notifications;
	char	*notification_topic;
	size_t	 max_queued;
	char	*restart_timeout;
	long	 connect_timeout;
	int	 max_inflight;
	size_t	 max_packet_size;
	bool	 try_private;
	bool	 round_robin;
};

static const struct fh_conf_var bridge_vars[] = {
	FH_CONF_STR_REQ("address", struct bridge_sec, address,
	    "host[:port], several separated by commas or blanks, tried in "
	    "turn (fail-over). The port defaults to 1883 (mqtt), 8883 "
	    "(mqtts), 80 (ws), 443 (wss); IPv6 as [::1]:1883."),
	FH_CONF_STR("protocol", struct bridge_sec, protocol, "mqtt",
	    "mqtt, mqtts (TLS), ws (MQTT over WebSocket) or wss (over "
	    "TLS)."),
	FH_CONF_STR("mqtt_version", struct bridge_sec, mqtt_version, "311",
	    "311 or 5."),
	FH_CONF_STR("client_id", struct bridge_sec, client_id, "",
	    "The remote client id; empty: HOSTNAME.NAME."),
	FH_CONF_STR("username", struct bridge_sec, username, "",
	    "User name on the remote; empty: none."),
	FH_CONF_STR("password_file", struct bridge_sec, password_file, "",
	    "File whose first line is the password. Read at start and on "
	    "SIGHUP."),
	FH_CONF_STR("ca_file", struct bridge_sec, ca_file, "",
	    "CA certificates (PEM) the remote's certificate must chain "
	    "to; empty: the system CAs."),
	FH_CONF_STR("cert_file", struct bridge_sec, cert_file, "",
	    "Our client certificate (PEM), for remotes that require one."),
	FH_CONF_STR("key_file", struct bridge_sec, key_file, "",
	    "The key of cert_file (PEM)."),
	FH_CONF_BOOL("tls_verify", struct bridge_sec, tls_verify, "true",
	    "Check the remote's certificate and that it names the host of "
	    "address. false: tests only."),
	FH_CONF_STR("path", struct bridge_sec, path, "/mqtt",
	    "ws, wss: the HTTP path of the remote's WebSocket endpoint."),
	FH_CONF_BOOL("clean_session", struct bridge_sec, clean_session,
	    "false",
	    "false: the remote keeps our session across reconnects."),
	FH_CONF_DURATION("keepalive", struct bridge_sec, keepalive, "60s",
	    "PINGREQ interval; no answer within 1.5 times it drops the "
	    "connection. 0: off."),
	FH_CONF_BOOL("notifications", struct bridge_sec, notifications,
	    "true",
	    "Publish retained 1/0 on notification_topic, locally and on "
	    "the remote (the 0 as our will)."),
	FH_CONF_STR("notification_topic", struct bridge_sec,
	    notification_topic, "",
	    "Empty: $SYS/broker/connection/NAME/state."),
	FH_CONF_SIZE("max_queued", struct bridge_sec, max_queued, "16M",
	    "Bytes the out-queue may hold (at least 4k); see "
	    "docs/bridge.md for the overflow policy."),
	FH_CONF_STR("restart_timeout", struct bridge_sec, restart_timeout,
	    "5s 30s",
	    "MIN [MAX]: reconnect delay, doubling from MIN to MAX, with "
	    "jitter."),
	FH_CONF_DURATION("connect_timeout", struct bridge_sec,
	    connect_timeout, "10s",
	    "TCP connect, TLS handshake and CONNACK must be done within "
	    "this."),
	FH_CONF_INT("max_inflight", struct bridge_sec, max_inflight, "100",
	    "QoS 1/2 messages sent and not yet acknowledged; an MQTT 5 "
	    "remote's Receive Maximum lowers it."),
	FH_CONF_SIZE("max_packet_size", struct bridge_sec, max_packet_size,
	    "1M",
	    "The largest packet taken from the remote; a bigger one drops "
	    "the connection."),
	FH_CONF_BOOL("try_private", struct bridge_sec, try_private, "true",
	    "MQTT 3.1.1: set the bridge bit in CONNECT, so that the "
	    "remote does not send our own messages back."),
	FH_CONF_BOOL("round_robin", struct bridge_sec, round_robin, "false",
	    "false: while on a later address, go back to the first one "
	    "when it answers again (checked every restart_timeout MAX); "
	    "true: stay on the address that works."),
	FH_CONF_END
};

static const struct fh_conf_schema bridge_schema[] = {
	{ .section = "bridge NAME",
	  .doc = "A link to a remote MQTT broker, Mosquitto-style "
	    "(docs/bridge.md). Besides the keys below, one or more "
	    "topic = PATTERN [out|in|both [QOS [LOCAL_PREFIX "
	    "REMOTE_PREFIX]]] lines (at least one) say what crosses.",
	  .vars = bridge_vars },
	{ .section = NULL }
};

struct bridge {
	struct fh_gateway	 *gw;
	struct link		**links;
	size_t			  nlinks;
	struct link_db		 *db;
};

static void *
bridge_create(struct fh_gateway *gw)
{
	struct bridge	*b = fh_xcalloc(1, sizeof *b);

	b->gw = gw;
	return b;
}

static int
bridge_error(char **errstr, const struct fh_section *sec, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
bridge_error(char **errstr, const struct fh_section *sec, const char *key,
    const char *fmt, ...)
{
	char	*where = fh_section_where(sec, key), *msg;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	*errstr = fh_xasprintf("%s: %s", where, msg);
	free(where);
	free(msg);
	return -1;
}

/* An error at one line of the section (a topic line). */
static int
bridge_error_line(char **errstr, const struct fh_section *sec, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
bridge_error_line(char **errstr, const struct fh_section *sec, int line,
    const char *fmt, ...)
{
	char	*where = fh_section_where(sec, NULL), *msg, *colon;
	va_list	 ap;

	if ((colon = strrchr(where, ':')) != NULL)	/* "file:header" */
		*colon = '\0';
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	*errstr = fh_xasprintf("%s:%d: %s", where, line, msg);
	free(where);
	free(msg);
	return -1;
}

/* Split a topic line into words; "" (or "...") is one word, maybe empty. */
static size_t
bridge_words(char *s, char **w, size_t max)
{
	size_t	n = 0;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0' || n == max)
			return *s == '\0' ? n : max + 1;
		if (*s == '"') {
			char *e = strchr(s + 1, '"');

			if (e == NULL)
				return max + 1;
			*e = '\0';
			w[n++] = s + 1;
			s = e + 1;
			if (*s != '\0' && !isspace((unsigned char)*s))
				return max + 1;
			continue;
		}
		w[n++] = s;
		while (*s != '\0' && !isspace((unsigned char)*s))
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static bool
bridge_has_wildcard(const char *s)
{
	return strpbrk(s, "+#") != NULL;
}

/* topic = PATTERN [out|in|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]] */
static int
bridge_topic_parse(const struct fh_section *sec, const char *value, int line,
    struct link_topic *t, char **errstr)
{
	char		*copy = fh_xstrdup(value), *w[6];
	size_t		 n = bridge_words(copy, w, 5);
	int		 rc = -1;

	memset(t, 0, sizeof *t);
	t->dir = LINK_OUT;
	if (n == 0) {
		/* "topic = # both 0" lost its pattern to the comment rule */
		bridge_error_line(errstr, sec, line, "empty topic line "
		    "(a '#' after a space starts a comment: write \"#\")");
		goto out;
	}
	if (n > 5 || n == 4) {
		bridge_error_line(errstr, sec, line, "bad topic line '%s': "
		    "expected PATTERN [out|in|both [QOS [LOCAL_PREFIX "
		    "REMOTE_PREFIX]]]", value);
		goto out;
	}
	if (n >= 2) {
		if (strcmp(w[1], "out") == 0)
			t->dir = LINK_OUT;
		else if (strcmp(w[1], "in") == 0)
			t->dir = LINK_IN;
		else if (strcmp(w[1], "both") == 0)
			t->dir = LINK_OUT | LINK_IN;
		else {
			bridge_error_line(errstr, sec, line, "bad direction "
			    "'%s': expected out, in or both", w[1]);
			goto out;
		}
	}
	if (n >= 3) {
		if (strlen(w[2]) != 1 || w[2][0] < '0' || w[2][0] > '2') {
			bridge_error_line(errstr, sec, line, "bad QoS '%s': "
			    "expected 0, 1 or 2", w[2]);
			goto out;
		}
		t->qos = w[2][0] - '0';
	}
	t->local_prefix = fh_xstrdup(n == 5 ? w[3] : "");
	t->remote_prefix = fh_xstrdup(n == 5 ? w[4] : "");
	if (bridge_has_wildcard(t->local_prefix) ||
	    bridge_has_wildcard(t->remote_prefix)) {
		bridge_error_line(errstr, sec, line, "a topic prefix "
		    "cannot hold wildcards");
		goto out;
	}
	if (*w[0] == '\0' && *t->local_prefix == '\0' &&
	    *t->remote_prefix == '\0') {
		bridge_error_line(errstr, sec, line, "an empty pattern "
		    "needs a prefix");
		goto out;
	}
	t->local_filter = fh_xasprintf("%s%s", t->local_prefix, w[0]);
	t->remote_filter = fh_xasprintf("%s%s", t->remote_prefix, w[0]);
	if (!mqtt_filter_is_valid((const uint8_t *)t->local_filter,
	    strlen(t->local_filter)) ||
	    !mqtt_filter_is_valid((const uint8_t *)t->remote_filter,
	    strlen(t->remote_filter))) {
		bridge_error_line(errstr, sec, line, "bad topic pattern "
		    "'%s'", w[0]);
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int
bridge_default_port(enum link_proto p)
{
	static const int ports[] = { 1883, 8883, 80, 443 };

	return ports[p];
}

/* "host[:port][, host[:port]...]", tried in turn. */
static int
bridge_addresses(const struct fh_section *sec, const char *value,
    struct link_conf *c, char **errstr)
{
	char	*copy = fh_xstrdup(value), *tok, *save = NULL, *host;
	int	 port, rc = 0;

	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		if (strchr(tok, ':') == NULL || (*tok == '[' &&
		    strstr(tok, "]:") == NULL)) {
			host = fh_xstrdup(tok);
			if (*host == '[') {
				memmove(host, host + 1, strlen(host));
				host[strcspn(host, "]")] = '\0';
			}
			port = bridge_default_port(c->proto);
		} else if (fh_parse_hostport(tok, &host, &port) != 0 ||
		    port == 0) {
			rc = bridge_error(errstr, sec, "address", "bad address "
			    "'%s': expected host:port", tok);
			break;
		}
		if (*host == '\0') {
			free(host);
			rc = bridge_error(errstr, sec, "address", "bad address "
			    "'%s': no host", tok);
			break;
		}
		c->addrs = fh_xrealloc(c->addrs, (c->naddrs + 1) *
		    sizeof *c->addrs);
		c->addrs[c->naddrs].host = host;
		c->addrs[c->naddrs++].port = port;
	}
	free(copy);
	if (rc == 0 && c->naddrs == 0)
		rc = bridge_error(errstr, sec, "address", "no address");
	return rc;
}

/* The secret lives in its own file: its first line, without the newline. */
static int
bridge_password(const struct fh_section *sec, const char *path,
    char **out, char **errstr)
{
	FILE	*f = fopen(path, "r");
	char	 buf[1024];
	size_t	 n;

	if (f == NULL)
		return bridge_error(errstr, sec, "password_file", "cannot "
		    "read '%s': %s", path, strerror(errno));
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	*out = fh_xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

static int
bridge_restart(const struct fh_section *sec, const char *value,
    struct link_conf *c, char **errstr)
{
	char	*copy = fh_xstrdup(value), *w[3];
	size_t	 n = bridge_words(copy, w, 2);
	int	 rc = 0;

	if (n < 1 || n > 2 || fh_parse_duration(w[0],
	    &c->restart_min_ms) != 0 || fh_parse_duration(w[n - 1],
	    &c->restart_max_ms) != 0 || c->restart_min_ms < 1 ||
	    c->restart_max_ms < c->restart_min_ms)
		rc = bridge_error(errstr, sec, "restart_timeout", "bad "
		    "restart_timeout '%s': expected MIN [MAX] (durations, "
		    "MIN > 0, MAX >= MIN)", value);
	free(copy);
	return rc;
}

/* One [bridge NAME] into *cp (and *ctxp for mqtts/wss); every file it
 * names is read now. */
static int
bridge_parse(const struct fh_section *sec, struct link_conf *cp,
    SSL_CTX **ctxp, char **errstr)
{
	struct bridge_sec	 bs;
	struct link_conf	 c;
	SSL_CTX			*ctx = NULL;
	const char		*v, *key;
	char			 host[256], *err;
	size_t			 i, nt = 0;
	int			 line, rc = -1;

	memset(&bs, 0, sizeof bs);
	memset(&c, 0, sizeof c);
	if (*fh_section_name(sec) == '\0')
		return bridge_error(errstr, sec, NULL, "[bridge] needs a "
		    "name, as in [bridge upstream]");
	c.name = fh_xstrdup(fh_section_name(sec));
	for (i = 0; (v = fh_section_get_nth(sec, "topic", i, &line)) != NULL;
	    i++) {
		c.topics = fh_xrealloc(c.topics, (i + 1) * sizeof *c.topics);
		c.ntopics = i + 1;
		if (bridge_topic_parse(sec, v, line, &c.topics[i],
		    errstr) != 0)
			goto out;
		nt++;
	}
	if (fh_conf_apply(sec, bridge_vars, &bs, errstr) != 0)
		goto out;
	if (nt == 0) {
		bridge_error(errstr, sec, NULL, "[bridge %s] needs at least "
		    "one 'topic = PATTERN out|in|both QOS' line", c.name);
		goto out;
	}
	if (strcmp(bs.protocol, "mqtt") == 0)
		c.proto = LINK_MQTT;
	else if (strcmp(bs.protocol, "mqtts") == 0)
		c.proto = LINK_MQTTS;
	else if (strcmp(bs.protocol, "ws") == 0)
		c.proto = LINK_WS;
	else if (strcmp(bs.protocol, "wss") == 0)
		c.proto = LINK_WSS;
	else {
		bridge_error(errstr, sec, "protocol", "bad protocol '%s': "
		    "expected mqtt, mqtts, ws or wss", bs.protocol);
		goto out;
	}
	if (strcmp(bs.mqtt_version, "311") == 0 ||
	    strcmp(bs.mqtt_version, "3.1.1") == 0 ||
	    strcmp(bs.mqtt_version, "mqttv311") == 0)
		c.version = MQTT_PROTO_311;
	else if (strcmp(bs.mqtt_version, "5") == 0 ||
	    strcmp(bs.mqtt_version, "5.0") == 0 ||
	    strcmp(bs.mqtt_version, "mqttv50") == 0)
		c.version = MQTT_PROTO_5;
	else {
		bridge_error(errstr, sec, "mqtt_version", "bad mqtt_version "
		    "'%s': expected 311 or 5", bs.mqtt_version);
		goto out;
	}
	if (bridge_addresses(sec, bs.address, &c, errstr) != 0 ||
	    bridge_restart(sec, bs.restart_timeout, &c, errstr) != 0)
		goto out;
	if (*bs.client_id == '\0') {
		/* Mosquitto's default: hostname.NAME */
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "firehose");
		host[sizeof host - 1] = '\0';
		c.client_id = fh_xasprintf("%s.%s", host, c.name);
	} else
		c.client_id = fh_xstrdup(bs.client_id);
	if (strlen(c.client_id) > 65535) {
		bridge_error(errstr, sec, "client_id", "client_id too long");
		goto out;
	}
	if (*bs.username != '\0')
		c.username = fh_xstrdup(bs.username);
	if (*bs.password_file != '\0') {
		if (c.username == NULL) {
			bridge_error(errstr, sec, "password_file", "a password "
			    "needs a username");
			goto out;
		}
		if (bridge_password(sec, bs.password_file, &c.password,
		    errstr) != 0)
			goto out;
	}
	if (bs.keepalive < 0 || bs.keepalive > 65535000L ||
	    (bs.keepalive > 0 && bs.keepalive < 1000)) {
		bridge_error(errstr, sec, "keepalive", "keepalive must be 0 "
		    "(off) or between 1s and 65535s");
		goto out;
	}
	if (bs.max_inflight < 1 || bs.max_inflight > 65000) {
		bridge_error(errstr, sec, "max_inflight", "max_inflight must "
		    "be between 1 and 65000");
		goto out;
	}
	if (bs.max_queued < 4096) {
		bridge_error(errstr, sec, "max_queued", "max_queued must be "
		    "at least 4k");
		goto out;
	}
	if (bs.connect_timeout < 100) {
		bridge_error(errstr, sec, "connect_timeout", "connect_timeout "
		    "must be at least 100ms");
		goto out;
	}
	if (bs.max_packet_size < 64) {
		bridge_error(errstr, sec, "max_packet_size", "max_packet_size "
		    "must be at least 64 bytes");
		goto out;
	}
	c.ca_file = fh_xstrdup(bs.ca_file);
	c.cert_file = fh_xstrdup(bs.cert_file);
	c.key_file = fh_xstrdup(bs.key_file);
	c.tls_verify = bs.tls_verify;
	c.ws_path = fh_xstrdup(bs.path);
	c.clean_session = bs.clean_session;
	c.keepalive_ms = bs.keepalive;
	c.notifications = bs.notifications;
	c.notification_topic = *bs.notification_topic ?
	    fh_xstrdup(bs.notification_topic) :
	    fh_xasprintf("$SYS/broker/connection/%s/state", c.name);
	if (!mqtt_topic_is_valid((const uint8_t *)c.notification_topic,
	    strlen(c.notification_topic))) {
		bridge_error(errstr, sec, "notification_topic", "bad "
		    "notification_topic '%s'", c.notification_topic);
		goto out;
	}
	c.max_queued = bs.max_queued;
	c.connect_timeout_ms = bs.connect_timeout;
	c.max_inflight = bs.max_inflight;
	c.max_packet_size = bs.max_packet_size;
	c.try_private = bs.try_private;
	c.round_robin = bs.round_robin;
	if (c.proto == LINK_MQTTS || c.proto == LINK_WSS) {
		if ((ctx = link_tls_ctx(&c, &key, &err)) == NULL) {
			bridge_error(errstr, sec, key, "%s", err);
			free(err);
			goto out;
		}
	} else if (*c.cert_file || *c.key_file || *c.ca_file) {
		bridge_error(errstr, sec, *c.ca_file ? "ca_file" :
		    *c.cert_file ? "cert_file" : "key_file", "TLS files need "
		    "protocol = mqtts or wss");
		goto out;
	}
	*cp = c;
	memset(&c, 0, sizeof c);
	*ctxp = ctx;
	rc = 0;
out:
	link_conf_free(&c);
	fh_conf_clear(bridge_vars, &bs);
	return rc;
}

static int
bridge_conf_section(struct bridge *b, const struct fh_section *sec,
    char **errstr)
{
	struct link_conf	 c;
	SSL_CTX			*ctx;

	if (bridge_parse(sec, &c, &ctx, errstr) != 0)
		return -1;
	b->links = fh_xrealloc(b->links, (b->nlinks + 1) * sizeof *b->links);
	b->links[b->nlinks++] = link_create(b->gw, &c, ctx);
	return 0;
}

/*
 * SIGHUP: the password file and the TLS files of each bridge are read
 * again and used from the next connection on; the one up stays. Other
 * keys, and bridges added or removed, take a restart (said once).
 */
static int
bridge_reload(void *self, const struct fh_conf *conf, char **errstr)
{
	struct bridge		*b = self;
	const struct fh_section	*sec;
	struct link_conf	 c;
	SSL_CTX			*ctx;
	size_t			 i, seen = 0;

	for (sec = NULL; (sec = fh_conf_next(conf, sec, "bridge")) != NULL;) {
		for (i = 0; i < b->nlinks; i++)
			if (strcmp(link_name(b->links[i]),
			    fh_section_name(sec)) == 0)
				break;
		if (bridge_parse(sec, &c, &ctx, errstr) != 0)
			return -1;
		if (i == b->nlinks) {
			fh_log(LOG_WARNING, "bridge %s: new bridges start with "
			    "the next restart", c.name);
			link_conf_free(&c);
			SSL_CTX_free(ctx);
			continue;
		}
		seen++;
		link_reload(b->links[i], &c, ctx);
		link_conf_free(&c);
	}
	if (seen < b->nlinks)
		fh_log(LOG_WARNING, "bridge: removed bridges stop with the "
		    "next restart");
	return 0;
}

static int
bridge_configure(void *self, const struct fh_conf *conf, char **errstr)
{
	struct bridge		*b = self;
	const struct fh_section	*sec;

	for (sec = NULL; (sec = fh_conf_next(conf, sec, "bridge")) != NULL;)
		if (bridge_conf_section(b, sec, errstr) != 0)
			return -1;
	return 0;
}

static int
bridge_start(void *self)
{
	struct bridge	*b = self;
	char		*err = NULL;
	size_t		 i;

	if (b->nlinks == 0)
		return 0;
	if (b->db == NULL && fh_gateway_state(b->gw) != NULL) {
		b->db = link_db_open(fh_gateway_state(b->gw), &err);
		if (b->db == NULL && err != NULL) {
			fh_log(LOG_ERR, "bridge: %s", err);
			free(err);
			return -1;
		}
	}
	for (i = 0; i < b->nlinks; i++) {
		if (link_start(b->links[i], b->db, &err) != 0) {
			fh_log(LOG_ERR, "%s", err);
			free(err);
			return -1;
		}
	}
	return 0;
}

static void
bridge_stop(void *self)
{
	struct bridge	*b = self;
	size_t		 i;

	for (i = 0; i < b->nlinks; i++)
		link_stop(b->links[i]);
	link_db_close(b->db);
	b->db = NULL;
}

static void
bridge_destroy(void *self)
{
	struct bridge	*b = self;
	size_t		 i;

	if (b == NULL)
		return;
	bridge_stop(b);
	for (i = 0; i < b->nlinks; i++)
		link_free(b->links[i]);
	free(b->links);
	free(b);
}

static int
bridge_publish(void *self, struct fh_event *ev)
{
	struct bridge	*b = self;
	size_t		 i;

	for (i = 0; i < b->nlinks; i++)
		link_publish(b->links[i], ev);
	return 0;
}

static void
bridge_stats(void *self, json_t *out)
{
	struct bridge	*b = self;
	json_t		*links = json_object(), *o;
	size_t		 i;

	for (i = 0; i < b->nlinks; i++) {
		o = json_object();
		link_stats(b->links[i], o);
		json_object_set_new(links, link_name(b->links[i]), o);
	}
	json_object_set_new(out, "links", links);
}

static const char *const bridge_sections[] = { "bridge", NULL };

const struct fh_sink_ops fh_sink_bridge = {
	.name = "bridge",
	.sections = bridge_sections,
	.schema = bridge_schema,
	.create = bridge_create,
	.configure = bridge_configure,
	.start = bridge_start,
	.stop = bridge_stop,
	.destroy = bridge_destroy,
	.publish = bridge_publish,
	.reload = bridge_reload,
	.stats = bridge_stats,
};
