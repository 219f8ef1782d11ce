/* Pure parsing for the gerrit source: see gerrit_parse.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/xmalloc.h"
#include "sources/gerrit/gerrit_parse.h"

/* Keep small lines' memory small once a big line went through. */
#define GERRIT_LINES_KEEP	(64 * 1024)

const char *
gerrit_strerror(int err)
{
	switch (err) {
	case GERRIT_OK:
		return "ok";
	case GERRIT_E_EMPTY:
		return "empty line";
	case GERRIT_E_MALFORMED:
		return "not valid JSON";
	case GERRIT_E_NOT_OBJECT:
		return "not a JSON object";
	case GERRIT_E_NO_TYPE:
		return "no \"type\" string";
	case GERRIT_E_TOO_LARGE:
		return "line too long";
	}
	return "unknown error";
}

static const char *
gerrit_parse_string(const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *
gerrit_event_project(const json_t *event)
{
	static const char *const holders[] = { "change", "refUpdate" };
	const char	*p;
	size_t		 i;

	if ((p = gerrit_parse_string(event, "project")) != NULL)
		return p;
	for (i = 0; i < sizeof holders / sizeof holders[0]; i++) {
		p = gerrit_parse_string(json_object_get(event, holders[i]),
		    "project");
		if (p != NULL)
			return p;
	}
	return "";
}

int64_t
gerrit_event_time(const json_t *event)
{
	const json_t	*v = json_object_get(event, "eventCreatedOn");

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

/* Append s to out at *o, wildcards replaced (the caller sized out). */
static void
gerrit_parse_level(char *out, size_t *o, const char *s)
{
	for (; *s != '\0'; s++)
		out[(*o)++] = (*s == '+' || *s == '#') ? '_' : *s;
}

static bool
gerrit_parse_is_blank(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' &&
		    p[i] != '\n')
			return false;
	return true;
}

int
gerrit_parse_line(const uint8_t *line, size_t len, const char *base,
    char **topic, json_t **event)
{
	json_t		*ev;
	json_error_t	 jerr;
	const char	*type, *project;
	size_t		 n, o = 0;
	char		*t;

	*topic = NULL;
	*event = NULL;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (gerrit_parse_is_blank(line, len))
		return GERRIT_E_EMPTY;
	ev = json_loadb((const char *)line, len, JSON_DECODE_ANY, &jerr);
	if (ev == NULL)
		return GERRIT_E_MALFORMED;
	if (!json_is_object(ev)) {
		json_decref(ev);
		return GERRIT_E_NOT_OBJECT;
	}
	type = gerrit_parse_string(ev, "type");
	if (type == NULL || *type == '\0') {
		json_decref(ev);
		return GERRIT_E_NO_TYPE;
	}
	project = gerrit_event_project(ev);
	n = strlen(base) + strlen(project) + strlen(type) + 3;
	t = fh_xmalloc(n);
	gerrit_parse_level(t, &o, base);
	t[o++] = '/';
	gerrit_parse_level(t, &o, project);
	t[o++] = '/';
	gerrit_parse_level(t, &o, type);
	t[o] = '\0';
	*topic = t;
	*event = ev;
	return GERRIT_OK;
}

uint64_t
gerrit_fingerprint(const json_t *event)
{
	uint64_t	 h = 14695981039346656037ULL;
	char		*s;
	const char	*p;

	s = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY);
	if (s == NULL)
		return 0;
	for (p = s; *p != '\0'; p++) {
		h ^= (uint8_t)*p;
		h *= 1099511628211ULL;
	}
	free(s);
	return h;
}

void
gerrit_lines_init(struct gerrit_lines *l, size_t max)
{
	memset(l, 0, sizeof *l);
	l->max = max;
}

static void
gerrit_lines_append(struct gerrit_lines *l, const uint8_t *p, size_t n)
{
	size_t	cap;

	if (l->len + n > l->cap) {
		cap = l->cap ? l->cap : 4096;
		while (cap < l->len + n)
			cap *= 2;
		l->buf = fh_xrealloc(l->buf, cap);
		l->cap = cap;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

static void
gerrit_lines_consumed(struct gerrit_lines *l)
{
	l->len = 0;
	if (l->cap > GERRIT_LINES_KEEP) {
		free(l->buf);
		l->buf = NULL;
		l->cap = 0;
	}
}

void
gerrit_lines_feed(struct gerrit_lines *l, const uint8_t *p, size_t n,
    gerrit_line_cb cb, void *arg)
{
	const uint8_t	*nl;
	size_t		 chunk, room;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		chunk = nl != NULL ? (size_t)(nl - p) : n;
		if (l->skipping) {
			/* the rest of a line that was too long */
		} else if (l->len + chunk > l->max) {
			/* Report once, with the first bytes seen. */
			room = l->len < 256 ? 256 - l->len : 0;
			gerrit_lines_append(l, p, chunk < room ? chunk : room);
			cb(l->buf, l->len, GERRIT_E_TOO_LARGE, arg);
			gerrit_lines_consumed(l);
			l->skipping = true;
		} else if (nl != NULL && l->len == 0) {
			cb(p, chunk, GERRIT_OK, arg);	/* no copy */
		} else {
			gerrit_lines_append(l, p, chunk);
			if (nl != NULL) {
				cb(l->buf, l->len, GERRIT_OK, arg);
				gerrit_lines_consumed(l);
			}
		}
		if (nl == NULL)
			return;
		l->skipping = false;
		p += chunk + 1;
		n -= chunk + 1;
	}
}

void
gerrit_lines_finish(struct gerrit_lines *l, gerrit_line_cb cb, void *arg)
{
	if (!l->skipping && l->len > 0)
		cb(l->buf, l->len, GERRIT_OK, arg);
	gerrit_lines_reset(l);
}

void
gerrit_lines_reset(struct gerrit_lines *l)
{
	l->skipping = false;
	gerrit_lines_consumed(l);
}

void
gerrit_lines_free(struct gerrit_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
	l->skipping = false;
}

/* "yyyy-MM-dd%20HH%3Amm%3Ass" in UTC. */
static void
gerrit_parse_time(char *out, size_t size, time_t t)
{
	struct tm	tm;

	if (t < 0 || gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(out, size, "%04d-%02d-%02d%%20%02d%%3A%02d%%3A%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

char *
gerrit_events_log_url(const char *url, time_t t1, time_t t2)
{
	char	a[64], b[64];

	gerrit_parse_time(a, sizeof a, t1);
	gerrit_parse_time(b, sizeof b, t2);
	return fh_xasprintf("%s%st1=%s;t2=%s", url,
	    strchr(url, '?') != NULL ? "&" : "?", a, b);
}
