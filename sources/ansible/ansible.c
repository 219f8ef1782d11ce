/*
 * The ansible source: an HTTP/1.1 endpoint (libevent's evhttp, on the
 * gateway's event base) that the firehose callback plugin POSTs to.
 *
 *   POST /v1/events   one event object or an array of them
 *     202 {"accepted": N}     every event is on the bus
 *     400 {"error", "field"}  a bad event; none of the batch is emitted
 *     401                     token_file is set and the bearer token is wrong
 *     413                     body over max_body (answered by evhttp)
 *   405 other methods on /v1/events, 404 other paths.
 *
 * It listens on TCP ("127.0.0.1:8765", "[::1]:8765") and/or a unix socket
 * ("unix:/run/firehose/ansible.sock", mode socket_mode); listen takes a
 * list separated by commas or spaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gateway/conf.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/privdrop.h"
#include "gateway/secret.h"
#include "gateway/xmalloc.h"
#include "sources/ansible/ansible.h"
#include "sources/ansible/ansible_parse.h"

#define ANSIBLE_PATH		"/v1/events"
#define ANSIBLE_TOKEN_MAX	4096
#define ANSIBLE_HEADERS_MAX	16384
#define ANSIBLE_TIMEOUT_SECS	30
#define ANSIBLE_WARN_EVERY	60	/* seconds between WARN lines */

struct ansible_conf {
	char	*listen;
	char	*socket_mode;
	char	*token_file;
	size_t	 max_body;
	char	*topic;
	int	 qos;
	bool	 retain;
};

static const struct fh_conf_var ansible_vars[] = {
	FH_CONF_STR("listen", struct ansible_conf, listen, "127.0.0.1:8765",
	    "Where the callback plugin posts: host:port, [v6]:port or "
	    "unix:/path; a list separated by commas or blanks."),
	FH_CONF_STR("socket_mode", struct ansible_conf, socket_mode, "0660",
	    "Mode of the unix sockets (octal)."),
	FH_CONF_STR("token_file", struct ansible_conf, token_file, "",
	    "If set, requests need Authorization: Bearer TOKEN, the "
	    "file's one line (read at start)."),
	FH_CONF_SIZE("max_body", struct ansible_conf, max_body, "1M",
	    "Larger request bodies get 413."),
	FH_CONF_STR("topic", struct ansible_conf, topic, "ansible",
	    "Base topic of the events."),
	FH_CONF_QOS("qos", struct ansible_conf, qos, "0",
	    "QoS of the events."),
	FH_CONF_BOOL("retain", struct ansible_conf, retain, "false",
	    "Publish the events retained."),
	FH_CONF_END
};

static const struct fh_conf_schema ansible_schema = {
	.section = "source NAME",
	.doc =
	    "type = ansible: events from ansible-playbook, posted by the "
	    "firehose callback plugin over HTTP or a unix socket "
	    "(docs/sources/ansible.md).",
	.vars = ansible_vars,
};

struct ansible_addr {
	char	*unix_path;	/* NULL for TCP */
	char	*host;
	int	 port;
	bool	 bound;		/* unix: we made the file, unlink it */
};

/* The status codes this source answers itself, for stats. */
static const int ansible_codes[] = { 400, 401, 404, 405 };
#define ANSIBLE_NCODES	(sizeof ansible_codes / sizeof ansible_codes[0])

struct ansible {
	struct fh_gateway	*gw;
	char			*name;
	struct ansible_conf	 conf;
	struct ansible_addr	*addrs;
	size_t			 naddrs;
	mode_t			 mode;
	bool			 have_token;
	unsigned char		 token_md[EVP_MAX_MD_SIZE];
	unsigned int		 token_md_len;
	struct evhttp		*http;

	uint64_t		 requests;
	uint64_t		 events;
	uint64_t		 refused;
	uint64_t		 errors[ANSIBLE_NCODES];
	time_t			 last_warn;
	uint64_t		 quiet;	/* warnings logged at debug since */
};

static void *
ansible_create(struct fh_gateway *gw, const char *instance)
{
	struct ansible	*a = fh_xcalloc(1, sizeof *a);

	a->gw = gw;
	a->name = fh_xstrdup(instance);
	return a;
}

static int
ansible_parse_listen(struct ansible *a, const struct fh_section *sec,
    char **errstr)
{
	struct ansible_addr	*ad;
	char			*list, *tok, *save = NULL;
	int			 rc = 0;

	list = fh_xstrdup(a->conf.listen);
	for (tok = strtok_r(list, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		a->addrs = fh_xrealloc(a->addrs,
		    (a->naddrs + 1) * sizeof *a->addrs);
		ad = &a->addrs[a->naddrs++];
		memset(ad, 0, sizeof *ad);
		if (strncmp(tok, "unix:", 5) == 0) {
			ad->unix_path = fh_xstrdup(tok + 5);
			if (ad->unix_path[0] != '/' || strlen(ad->unix_path) >=
			    sizeof ((struct sockaddr_un *)0)->sun_path) {
				rc = fh_conf_error(errstr, sec, "listen",
				    "[source %s]: bad unix socket '%s': "
				    "expected unix:/absolute/path (up to 107 "
				    "bytes)", a->name, tok);
				break;
			}
		} else if (fh_parse_hostport(tok, &ad->host, &ad->port) != 0) {
			rc = fh_conf_error(errstr, sec, "listen",
			    "[source %s]: bad listen address '%s': expected "
			    "host:port, [v6]:port or unix:/path", a->name,
			    tok);
			break;
		}
	}
	if (rc == 0 && a->naddrs == 0)
		rc = fh_conf_error(errstr, sec, "listen",
		    "[source %s]: listen is empty", a->name);
	free(list);
	return rc;
}

/* Read the token file into a->token_md; on error *why says why and the
 * token held so far stays. */
static int
ansible_read_token(struct ansible *a, char **why)
{
	char	*tok, *err;
	size_t	 len;

	if (fh_secret_read(a->conf.token_file, ANSIBLE_TOKEN_MAX, &tok,
	    &err) != 0) {
		*why = fh_xasprintf("cannot read token_file %s: %s",
		    a->conf.token_file, err);
		free(err);
		return -1;
	}
	len = strlen(tok);
	if (len == 0 || strpbrk(tok, " \t") != NULL) {
		fh_secret_free(tok);
		*why = fh_xasprintf("token_file %s must hold one token of 1 "
		    "to %d bytes without spaces", a->conf.token_file,
		    ANSIBLE_TOKEN_MAX);
		return -1;
	}
	/* Compare digests, so that the compare time says nothing about
	 * the token, not even its length. */
	EVP_Digest(tok, len, a->token_md, &a->token_md_len, EVP_sha256(),
	    NULL);
	fh_secret_free(tok);
	a->have_token = true;
	return 0;
}

static int
ansible_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct ansible	*a = self;
	const char	*m;
	char		*end, *why;
	long		 mode;

	if (fh_conf_apply(sec, ansible_vars, &a->conf, errstr) != 0)
		return -1;
	if (ansible_parse_listen(a, sec, errstr) != 0)
		return -1;
	m = a->conf.socket_mode;
	errno = 0;
	mode = strtol(m, &end, 8);
	if (*m == '\0' || *end != '\0' || errno != 0 || mode < 0 ||
	    mode > 0777)
		return fh_conf_error(errstr, sec, "socket_mode",
		    "[source %s]: bad socket_mode '%s': expected octal like "
		    "0660", a->name, m);
	a->mode = (mode_t)mode;
	if (a->conf.max_body == 0 || a->conf.max_body > (size_t)1 << 30)
		return fh_conf_error(errstr, sec, "max_body",
		    "[source %s]: max_body must be between 1 and 1G", a->name);
	if (!fh_topic_is_valid(a->conf.topic, strlen(a->conf.topic)) ||
	    a->conf.topic[strlen(a->conf.topic) - 1] == '/')
		return fh_conf_error(errstr, sec, "topic",
		    "[source %s]: bad topic '%s': expected a topic without "
		    "wildcards or a trailing '/'", a->name, a->conf.topic);
	if (a->conf.token_file[0] != '\0' && ansible_read_token(a, &why) != 0) {
		fh_conf_error(errstr, sec, "token_file", "[source %s]: %s",
		    a->name, why);
		free(why);
		return -1;
	}
	return 0;
}

/* SIGHUP: the token file again; a bad one keeps the token we have. */
static int
ansible_reload(void *self, char **errstr)
{
	struct ansible	*a = self;

	if (a->conf.token_file[0] == '\0')
		return 0;
	if (ansible_read_token(a, errstr) != 0)
		return -1;
	fh_log(LOG_INFO, "source %s: token_file %s read again", a->name,
	    a->conf.token_file);
	return 0;
}

static void
ansible_count(struct ansible *a, int code)
{
	size_t	i;

	for (i = 0; i < ANSIBLE_NCODES; i++)
		if (ansible_codes[i] == code)
			a->errors[i]++;
}

/* One WARN line per ANSIBLE_WARN_EVERY seconds; the rest at debug. */
static void
ansible_warn(struct ansible *a, struct evhttp_request *req, int code,
    const char *what)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char	*peer = NULL;
	ev_uint16_t	 port = 0;
	time_t		 now = time(NULL);
	int		 level = LOG_DEBUG;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, (char **)&peer, &port);
	if (now - a->last_warn >= ANSIBLE_WARN_EVERY) {
		level = LOG_WARNING;
		a->last_warn = now;
	}
	fh_log(level, "source %s: %d to %s%s%.0u: %s%s", a->name, code,
	    peer ? peer : "?", port ? ":" : "", port, what ? what : "",
	    level == LOG_WARNING && a->quiet ? " (and earlier errors "
	    "logged at debug)" : "");
	if (level == LOG_WARNING)
		a->quiet = 0;
	else
		a->quiet++;
}

static void
ansible_reply(struct ansible *a, struct evhttp_request *req, int code,
    const char *reason, json_t *body)
{
	struct evbuffer	*buf = evbuffer_new();
	char		*s;

	s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (code >= 400) {
		ansible_count(a, code);
		ansible_warn(a, req, code, json_string_value(
		    json_object_get(body, "error")));
	}
	json_decref(body);
	if (buf == NULL || s == NULL) {
		free(s);
		if (buf != NULL)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(buf, "%s\n", s);
	free(s);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static void
ansible_error(struct ansible *a, struct evhttp_request *req, int code,
    const char *reason, const char *msg)
{
	ansible_reply(a, req, code, reason, json_pack("{s:s}", "error", msg));
}

static bool
ansible_authorized(struct ansible *a, struct evhttp_request *req)
{
	const char	*h, *tok;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	size_t		 len;

	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	for (tok = h + 7; *tok == ' '; tok++)
		;
	len = strlen(tok);
	while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (len == 0 || len > ANSIBLE_TOKEN_MAX)
		return false;
	EVP_Digest(tok, len, md, &mdlen, EVP_sha256(), NULL);
	return mdlen == a->token_md_len &&
	    CRYPTO_memcmp(md, a->token_md, mdlen) == 0;
}

static void
ansible_emit(struct ansible *a, struct ansible_event *evs, size_t n)
{
	struct fh_event	*ev;
	size_t		 i;

	for (i = 0; i < n; i++) {
		ev = fh_event_new(evs[i].topic, evs[i].payload);
		evs[i].payload = NULL;	/* stolen */
		fh_event_set_qos(ev, a->conf.qos);
		fh_event_set_retain(ev, a->conf.retain);
		fh_event_set_origin(ev, a->name);
		if (fh_gateway_emit(a->gw, ev) != 0)
			a->refused++;
		fh_log(LOG_DEBUG, "source %s: %s", a->name, evs[i].topic);
		fh_event_unref(ev);
	}
	a->events += n;
}

static void
ansible_request_cb(struct evhttp_request *req, void *arg)
{
	struct ansible			*a = arg;
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	struct ansible_parse_error	 perr;
	struct ansible_event		*evs;
	struct evbuffer			*in;
	const char			*path;
	char				*msg;
	size_t				 n, len;

	a->requests++;
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || strcmp(path, ANSIBLE_PATH) != 0) {
		ansible_error(a, req, 404, "Not Found",
		    "not found: events go to POST " ANSIBLE_PATH);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		ansible_error(a, req, 405, "Method Not Allowed",
		    "method not allowed: use POST");
		return;
	}
	if (a->have_token && !ansible_authorized(a, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"firehose\"");
		ansible_error(a, req, 401, "Unauthorized",
		    "a valid 'Authorization: Bearer <token>' is required");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (ansible_parse(evbuffer_pullup(in, -1), len, a->conf.topic, &evs,
	    &n, &perr) != 0) {
		msg = fh_xasprintf("%s: %s", perr.field, perr.message);
		ansible_reply(a, req, 400, "Bad Request", json_pack(
		    "{s:s,s:s}", "error", msg, "field", perr.field));
		free(msg);
		return;
	}
	ansible_emit(a, evs, n);
	ansible_events_free(evs, n);
	ansible_reply(a, req, 202, "Accepted",
	    json_pack("{s:I}", "accepted", (json_int_t)n));
}

static struct evconnlistener *
ansible_listen_tcp(struct ansible *a, struct ansible_addr *ad)
{
	struct sockaddr_storage	 ss;
	struct evconnlistener	*lev;
	int			 sslen = sizeof ss;
	char			 addr[300];
	bool			 v6 = strchr(ad->host, ':') != NULL;

	snprintf(addr, sizeof addr, "%s%s%s:%d", v6 ? "[" : "",
	    *ad->host ? ad->host : "0.0.0.0", v6 ? "]" : "", ad->port);
	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		fh_log(LOG_ERR, "source %s: cannot parse address %s", a->name,
		    addr);
		return NULL;
	}
	lev = evconnlistener_new_bind(fh_gateway_base(a->gw), NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (lev == NULL)
		fh_log(LOG_ERR, "source %s: cannot listen on %s: %s", a->name,
		    addr, strerror(errno));
	else
		fh_log(LOG_INFO, "source %s: listening on http://%s"
		    ANSIBLE_PATH, a->name, addr);
	return lev;
}

static struct evconnlistener *
ansible_listen_unix(struct ansible *a, struct ansible_addr *ad)
{
	struct evconnlistener	*lev;
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	char			*err;
	int			 fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ad->unix_path, strlen(ad->unix_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (lstat(ad->unix_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			goto fail;
		}
		/* A socket nobody answers on is a leftover: replace it. */
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
		    errno == EINPROGRESS || errno == EAGAIN) {
			errno = EADDRINUSE;
			goto fail;
		}
		close(fd);
		unlink(ad->unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
	}
	old = umask(0777 & ~a->mode);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc != 0)
		goto fail;
	ad->bound = true;
	if (chmod(ad->unix_path, a->mode) != 0 || listen(fd, 128) != 0)
		goto fail;
	/* With [gateway] user, socket_mode is for that user and group (as
	 * when started as it), not root's. */
	if (fh_privdrop_give(fh_gateway_user(a->gw), ad->unix_path,
	    &err) != 0) {
		fh_log(LOG_ERR, "source %s: %s", a->name, err);
		free(err);
		close(fd);
		unlink(ad->unix_path);
		ad->bound = false;
		return NULL;
	}
	lev = evconnlistener_new(fh_gateway_base(a->gw), NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (lev == NULL)
		goto fail;
	fh_log(LOG_INFO, "source %s: listening on unix:%s (mode %04o)",
	    a->name, ad->unix_path, (unsigned)a->mode);
	return lev;
fail:
	fh_log(LOG_ERR, "source %s: cannot listen on unix:%s: %s", a->name,
	    ad->unix_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (ad->bound) {
		unlink(ad->unix_path);
		ad->bound = false;
	}
	return NULL;
}

static void
ansible_stop(void *self)
{
	struct ansible	*a = self;
	size_t		 i;

	if (a->http != NULL) {
		evhttp_free(a->http);	/* frees the listeners too */
		a->http = NULL;
	}
	for (i = 0; i < a->naddrs; i++) {
		/* After [gateway] user, a directory only root may write
		 * keeps the file: said, as the next start replaces it. */
		if (a->addrs[i].bound && unlink(a->addrs[i].unix_path) != 0 &&
		    errno != ENOENT)
			fh_log(LOG_INFO, "source %s: cannot remove unix:%s: "
			    "%s; the next start replaces it", a->name,
			    a->addrs[i].unix_path, strerror(errno));
		a->addrs[i].bound = false;
	}
}

static int
ansible_start(void *self)
{
	struct ansible		*a = self;
	struct evconnlistener	*lev;
	size_t			 i;

	if (a->http != NULL)
		return 0;
	if ((a->http = evhttp_new(fh_gateway_base(a->gw))) == NULL)
		return -1;
	evhttp_set_max_body_size(a->http, (ev_ssize_t)a->conf.max_body);
	evhttp_set_max_headers_size(a->http, ANSIBLE_HEADERS_MAX);
	evhttp_set_timeout(a->http, ANSIBLE_TIMEOUT_SECS);
	/* Every method reaches the callback, which answers 405 itself. */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(a->http, ansible_request_cb, a);
	for (i = 0; i < a->naddrs; i++) {
		if (a->addrs[i].unix_path != NULL)
			lev = ansible_listen_unix(a, &a->addrs[i]);
		else
			lev = ansible_listen_tcp(a, &a->addrs[i]);
		if (lev == NULL || evhttp_bind_listener(a->http, lev) ==
		    NULL) {
			if (lev != NULL)
				evconnlistener_free(lev);
			ansible_stop(a);
			return -1;
		}
	}
	return 0;
}

static void
ansible_destroy(void *self)
{
	struct ansible	*a = self;
	size_t		 i;

	if (a == NULL)
		return;
	ansible_stop(a);
	for (i = 0; i < a->naddrs; i++) {
		free(a->addrs[i].unix_path);
		free(a->addrs[i].host);
	}
	free(a->addrs);
	fh_conf_clear(ansible_vars, &a->conf);
	OPENSSL_cleanse(a->token_md, sizeof a->token_md);
	free(a->name);
	free(a);
}

static void
ansible_stats(void *self, json_t *out)
{
	struct ansible	*a = self;
	json_t		*errors = json_object();
	char		 code[8];
	size_t		 i;

	for (i = 0; i < ANSIBLE_NCODES; i++) {
		snprintf(code, sizeof code, "%d", ansible_codes[i]);
		json_object_set_new(errors, code,
		    json_integer((json_int_t)a->errors[i]));
	}
	json_object_set_new(out, "requests",
	    json_integer((json_int_t)a->requests));
	json_object_set_new(out, "events", json_integer((json_int_t)a->events));
	json_object_set_new(out, "refused",
	    json_integer((json_int_t)a->refused));
	json_object_set_new(out, "errors", errors);
}

const struct fh_source_ops fh_source_ansible = {
	.name = "ansible",
	.schema = &ansible_schema,
	.create = ansible_create,
	.configure = ansible_configure,
	.start = ansible_start,
	.stop = ansible_stop,
	.destroy = ansible_destroy,
	.stats = ansible_stats,
	.reload = ansible_reload,
	/* The one source that runs with no config file at all. */
	.default_conf =
	    "[source ansible]\n"
	    "type = ansible\n"
	    "listen = 127.0.0.1:8765\n",
};
