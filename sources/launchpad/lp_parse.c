/*
 * Launchpad mail -> events (see lp_parse.h). The payload keys and their
 * order are lpmqtt's: event-type, commenters, bug-reporter, bug-modifier,
 * tags, bug-number, the key=value pairs of one X-Launchpad-Bug header
 * (product renamed project), then subject (new) and body (decoded).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/xmalloc.h"
#include "sources/launchpad/lp_mime.h"
#include "sources/launchpad/lp_parse.h"

/* Keys a bug task header may not overwrite. */
static const char *const parse_reserved[] = {
	"event-type", "commenters", "bug-reporter", "bug-modifier", "tags",
	"bug-number", "subject", "body", "body-truncated", NULL
};

static char *
parse_header(const struct lp_mime *m, const char *name, size_t n)
{
	const char	*raw = lp_mime_get(m, name, n);

	return raw != NULL ? lp_mime_decode_header(raw) : NULL;
}

/* Whitespace-separated words of a header, [] when absent. */
static json_t *
parse_words(const struct lp_mime *m, const char *name)
{
	json_t	*a = json_array();
	char	*v = parse_header(m, name, 0), *w, *save = NULL;

	if (v == NULL)
		return a;
	for (w = strtok_r(v, " \t\r\n", &save); w != NULL;
	    w = strtok_r(NULL, " \t\r\n", &save))
		json_array_append_new(a, json_string(w));
	free(v);
	return a;
}

static json_t *
parse_string_or_null(const struct lp_mime *m, const char *name)
{
	char	*v = parse_header(m, name, 0);
	json_t	*j;

	if (v == NULL)
		return json_null();
	j = json_string(v);
	free(v);
	return j != NULL ? j : json_null();
}

/* "[Bug 1827772] ..." anywhere in the subject, else the
 * 1827772@bugs.launchpad.net address of Reply-To or From. */
static char *
parse_bug_number(const struct lp_mime *m, const char *subject)
{
	static const char *const addr_fields[] = { "Reply-To", "From", NULL };
	const char	*s, *v, *at;
	size_t		 i, n;

	for (s = subject; s != NULL && (s = strchr(s, '[')) != NULL; s++) {
		if (strncasecmp(s + 1, "Bug ", 4) != 0)
			continue;
		for (n = 0; isdigit((unsigned char)s[5 + n]); n++)
			;
		if (n > 0 && n < 20 && s[5 + n] == ']')
			return fh_xstrndup(s + 5, n);
	}
	for (i = 0; addr_fields[i] != NULL; i++) {
		if ((v = lp_mime_get(m, addr_fields[i], 0)) == NULL)
			continue;
		for (at = v; (at = strcasestr(at, "@bugs.launchpad.net")) !=
		    NULL; at++) {
			for (n = 0; at - n > v &&
			    isdigit((unsigned char)at[-(long)n - 1]); n++)
				;
			if (n > 0 && n < 20)
				return fh_xstrndup(at - n, n);
		}
	}
	return NULL;
}

static bool
parse_is_reserved(const char *key)
{
	size_t	i;

	for (i = 0; parse_reserved[i] != NULL; i++)
		if (strcmp(parse_reserved[i], key) == 0)
			return true;
	return false;
}

static char *
parse_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "product=qemu; status=New; importance=Undecided; assignee=None;" */
static void
parse_task(json_t *ev, const char *value)
{
	char	*copy = fh_xstrdup(value), *f, *save = NULL, *eq, *k, *v;

	for (f = strtok_r(copy, ";", &save); f != NULL;
	    f = strtok_r(NULL, ";", &save)) {
		if ((eq = strchr(f, '=')) == NULL)
			continue;
		*eq = '\0';
		k = parse_trim(f);
		v = parse_trim(eq + 1);
		if (*k == '\0')
			continue;
		if (strcmp(k, "product") == 0)
			k = "project";
		if (parse_is_reserved(k))
			continue;
		json_object_set_new(ev, k, json_string(v));
	}
	free(copy);
}

/* One topic level: no '/', no wildcards, no control characters. */
static void
parse_add_level(char **topic, const char *level)
{
	char	*t;
	size_t	 i, n = strlen(*topic);

	t = fh_xmalloc(n + strlen(level) + 2);
	memcpy(t, *topic, n);
	t[n++] = '/';
	for (i = 0; level[i] != '\0'; i++) {
		unsigned char c = (unsigned char)level[i];

		t[n++] = (c == '/' || c == '+' || c == '#' || c < 0x20 ||
		    c == 0x7f) ? '_' : (char)c;
	}
	t[n] = '\0';
	free(*topic);
	*topic = t;
}

static const char *
parse_level(const json_t *payload, const char *key)
{
	const char	*s = json_string_value(json_object_get(payload, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

char *
lp_parse_topic(const char *base, const json_t *payload)
{
	char		*topic = fh_xstrdup(base);
	const char	*project, *type, *num;

	/* A distribution task (ubuntu/nova) has no product: its pillar is
	 * the distribution. */
	if ((project = parse_level(payload, "project")) == NULL)
		project = parse_level(payload, "distribution");
	if (project == NULL)
		return topic;
	parse_add_level(&topic, project);
	if ((type = parse_level(payload, "event-type")) == NULL)
		return topic;
	parse_add_level(&topic, type);
	if ((num = parse_level(payload, "bug-number")) == NULL)
		return topic;
	parse_add_level(&topic, num);
	return topic;
}

static void
parse_add_text(json_t *ev, const char *subject, const char *body,
    size_t blen, size_t max_body)
{
	bool	truncated = false;

	if (subject != NULL)
		json_object_set_new(ev, "subject", json_string(subject));
	if (max_body > 0 && blen > max_body) {
		blen = max_body;	/* cut on a character boundary */
		while (blen > 0 && ((unsigned char)body[blen] & 0xc0) == 0x80)
			blen--;
		truncated = true;
	}
	json_object_set_new(ev, "body", json_stringn(body, blen));
	if (truncated)
		json_object_set_new(ev, "body-truncated", json_true());
}

static void
parse_emit(json_t *events, const char *base, json_t *payload)
{
	char	*topic = lp_parse_topic(base, payload);

	json_array_append_new(events, json_pack("{s:s,s:o}", "topic", topic,
	    "payload", payload));
	free(topic);
}

static void
parse_bug(const struct lp_mime *m, const struct lp_parse_opts *o,
    const char *subject, const char *body, size_t blen, json_t *events)
{
	size_t	 ntasks = lp_mime_count(m, "X-Launchpad-Bug"), i;
	char	*num = parse_bug_number(m, subject), *tags, *task;
	json_t	*ev;

	tags = parse_header(m, "X-Launchpad-Bug-Tags", 0);
	for (i = 0; i < ntasks || (i == 0 && ntasks == 0); i++) {
		ev = json_object();
		json_object_set_new(ev, "event-type", json_string("bug"));
		json_object_set_new(ev, "commenters",
		    parse_words(m, "X-Launchpad-Bug-Commenters"));
		json_object_set_new(ev, "bug-reporter",
		    parse_string_or_null(m, "X-Launchpad-Bug-Reporter"));
		json_object_set_new(ev, "bug-modifier",
		    parse_string_or_null(m, "X-Launchpad-Bug-Modifier"));
		if (tags != NULL && *parse_trim(tags) != '\0')
			json_object_set_new(ev, "tags",
			    parse_words(m, "X-Launchpad-Bug-Tags"));
		if (num != NULL)
			json_object_set_new(ev, "bug-number",
			    json_string(num));
		if ((task = parse_header(m, "X-Launchpad-Bug", i)) != NULL) {
			parse_task(ev, task);
			free(task);
		}
		parse_add_text(ev, subject, body, blen, o->max_body);
		parse_emit(events, o->topic, ev);
	}
	free(tags);
	free(num);
}

static void
parse_other(const struct lp_mime *m, const struct lp_parse_opts *o,
    const char *subject, const char *body, size_t blen, json_t *events)
{
	json_t	*ev = json_object();
	char	*v;
	size_t	 i;

	for (i = 0; i < m->nfields; i++) {
		const char *name = m->fields[i].name;

		if (strncasecmp(name, "X-Launchpad", 11) != 0 ||
		    json_object_get(ev, name) != NULL ||
		    parse_is_reserved(name))
			continue;
		v = lp_mime_decode_header(m->fields[i].value);
		json_object_set_new(ev, name, json_string(v));
		free(v);
	}
	parse_add_text(ev, subject, body, blen, o->max_body);
	parse_emit(events, o->topic, ev);
}

int
lp_parse_mail(const uint8_t *p, size_t len, const struct lp_parse_opts *o,
    json_t **events)
{
	struct lp_mime	 m;
	const char	*gen;
	char		*type, *subject, *body;
	size_t		 blen;
	int		 kind;

	*events = json_array();
	lp_mime_parse(p, len, &m);
	gen = lp_mime_get(&m, "X-Generated-By", 0);
	if (gen == NULL || strcasestr(gen, "Launchpad") == NULL) {
		lp_mime_clear(&m);
		return LP_MAIL_FOREIGN;
	}
	subject = parse_header(&m, "Subject", 0);
	body = lp_mime_text(&m, &blen);
	type = parse_header(&m, "X-Launchpad-Notification-Type", 0);
	if (type != NULL && strcmp(parse_trim(type), "bug") == 0) {
		parse_bug(&m, o, subject, body, blen, *events);
		kind = LP_MAIL_BUG;
	} else {
		parse_other(&m, o, subject, body, blen, *events);
		kind = LP_MAIL_OTHER;
	}
	free(type);
	free(body);
	free(subject);
	lp_mime_clear(&m);
	return kind;
}
