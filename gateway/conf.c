#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conf.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

struct conf_kv {
	char		*key;
	char		*value;
	int		 line;
	bool		 used;
	struct conf_kv	*next;
};

struct fh_section {
	struct fh_conf	*conf;
	char		*type;
	char		*name;
	int		 line;
	bool		 claimed;
	struct conf_kv	*kvs, **kvtail;
	struct fh_section *next;
};

struct fh_conf {
	char		*path;
	struct fh_section *sections, **tail;
};

static char *
conf_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Is the '#' at p, in the line s, a whole value (docs/config.md): the
 * first thing after a line's first '=', followed by nothing or by white
 * space and a comment? It is the MQTT wildcard then (topics = #), not a
 * comment.
 */
static bool
conf_lone_hash(const char *s, const char *p)
{
	const char	*q = p, *eq = strchr(s, '=');

	while (q > s && isspace((unsigned char)q[-1]))
		q--;
	if (eq == NULL || q != eq + 1)
		return false;
	for (q = p + 1; isspace((unsigned char)*q); q++)
		;
	return *q == '\0' || ((*q == ';' || *q == '#') &&
	    isspace((unsigned char)p[1]));
}

/*
 * Strip a comment: a line whose first non-blank character is ';' or '#',
 * or a ';' or '#' that follows white space, so that values such as URLs
 * with '#' fragments and MQTT filters (gerrit/#) survive. A value that is
 * exactly '#' is kept too (conf_lone_hash).
 */
static void
conf_strip_comment(char *s)
{
	char	*p;

	for (p = s; *p != '\0'; p++) {
		if ((*p == ';' || *p == '#') &&
		    (p == s || isspace((unsigned char)p[-1]))) {
			if (*p == '#' && conf_lone_hash(s, p))
				continue;
			*p = '\0';
			return;
		}
	}
}

static bool
conf_is_ident(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' &&
		    *s != '.')
			return false;
	return true;
}

/* Errors one config check reports at most: a binary file is not worth
 * a million lines. */
#define CONF_MAX_ERRORS	50

/* Add msg (taken) to the errors so far in *errs, one a line, so that
 * firehosed -t reports every one it finds. */
static void
conf_errs_add(char **errs, char *msg)
{
	const char	*p;
	char		*all;
	int		 n = 1;

	if (*errs == NULL) {
		*errs = msg;
		return;
	}
	for (p = *errs; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	if (n > CONF_MAX_ERRORS) {
		free(msg);
		return;
	}
	all = n == CONF_MAX_ERRORS ?
	    fh_xasprintf("%s\n(more errors not shown)", *errs) :
	    fh_xasprintf("%s\n%s", *errs, msg);
	free(*errs);
	free(msg);
	*errs = all;
}

static void
conf_error(char **errs, const char *file, int line, const char *msg,
    const char *arg)
{
	conf_errs_add(errs, fh_xasprintf("%s:%d: %s%s%s%s", file, line, msg,
	    arg ? " '" : "", arg ? arg : "", arg ? "'" : ""));
}

struct fh_conf *
fh_conf_parse(const char *name, const char *buf, size_t len, char **errstr)
{
	struct fh_conf		*conf;
	struct fh_section	*sec = NULL, *s;
	struct conf_kv		*kv;
	const char		*p = buf, *end = buf + len, *nl;
	char			*line, *l, *eq, *key, *val, *sp;
	char			*errs = NULL;
	bool			 bad_header = false;
	int			 lineno = 0;

	conf = fh_xcalloc(1, sizeof *conf);
	conf->path = fh_xstrdup(name);
	conf->tail = &conf->sections;

	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (nl == NULL)
			nl = end;
		line = fh_xstrndup(p, nl - p);
		p = nl + 1;
		lineno++;
		conf_strip_comment(line);
		l = conf_trim(line);
		if (*l == '\0') {
			free(line);
			continue;
		}
		if (*l == '[') {
			char *close = strchr(l, ']');

			if (close == NULL || conf_trim(close + 1)[0] != '\0') {
				conf_error(&errs, name, lineno,
				    "malformed section header", NULL);
				/* its keys are not taken for the section
				 * before's */
				sec = NULL;
				bad_header = true;
				goto next;
			}
			*close = '\0';
			bad_header = false;
			l = conf_trim(l + 1);
			sp = l + strcspn(l, " \t");
			sec = fh_xcalloc(1, sizeof *sec);
			sec->conf = conf;
			sec->line = lineno;
			sec->kvtail = &sec->kvs;
			*conf->tail = sec;
			conf->tail = &sec->next;
			if (*sp != '\0') {
				*sp++ = '\0';
				sec->name = fh_xstrdup(conf_trim(sp));
			} else
				sec->name = fh_xstrdup("");
			sec->type = fh_xstrdup(l);
			if (!conf_is_ident(sec->type) || (sec->name[0] != '\0' &&
			    !conf_is_ident(sec->name))) {
				conf_error(&errs, name, lineno,
				    "bad section name", l);
				goto next;
			}
			for (s = conf->sections; s != sec; s = s->next) {
				if (strcmp(s->type, sec->type) == 0 &&
				    strcmp(s->name, sec->name) == 0) {
					char *what = fh_xasprintf("%s%s%s",
					    sec->type, *sec->name ? " " : "",
					    sec->name);
					conf_error(&errs, name, lineno,
					    "duplicate section", what);
					free(what);
					break;
				}
			}
			goto next;
		}
		eq = strchr(l, '=');
		if (eq == NULL) {
			conf_error(&errs, name, lineno,
			    "expected 'key = value'", NULL);
			goto next;
		}
		*eq = '\0';
		key = conf_trim(l);
		val = conf_trim(eq + 1);
		if (!conf_is_ident(key)) {
			conf_error(&errs, name, lineno, "bad key", key);
			goto next;
		}
		if (sec == NULL) {
			/* not again for each key under a bad header */
			if (!bad_header)
				conf_error(&errs, name, lineno,
				    "key outside of any section", key);
			goto next;
		}
		/* Repeated keys are kept: the schema decides whether a key
		 * may repeat (fh_conf_apply refuses it, a bridge's "topic"
		 * lines are read with fh_section_get_nth). */
		kv = fh_xcalloc(1, sizeof *kv);
		kv->key = fh_xstrdup(key);
		kv->value = fh_xstrdup(val);
		kv->line = lineno;
		*sec->kvtail = kv;
		sec->kvtail = &kv->next;
next:
		free(line);
	}
	if (errs == NULL)
		return conf;
	*errstr = errs;
	fh_conf_free(conf);
	return NULL;
}

struct fh_conf *
fh_conf_load(const char *path, char **errstr)
{
	FILE		*f;
	char		*buf = NULL;
	size_t		 len = 0, cap = 0, n;
	struct fh_conf	*conf;

	if ((f = fopen(path, "r")) == NULL) {
		*errstr = fh_xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 16 * 1024 * 1024) {
				fclose(f);
				free(buf);
				*errstr = fh_xasprintf("%s: file too large",
				    path);
				return NULL;
			}
			buf = fh_xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		*errstr = fh_xasprintf("%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (memchr(buf, '\0', len) != NULL) {
		*errstr = fh_xasprintf("%s: contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	conf = fh_conf_parse(path, buf, len, errstr);
	free(buf);
	return conf;
}

void
fh_conf_free(struct fh_conf *conf)
{
	struct fh_section	*sec, *nsec;
	struct conf_kv		*kv, *nkv;

	if (conf == NULL)
		return;
	for (sec = conf->sections; sec != NULL; sec = nsec) {
		nsec = sec->next;
		for (kv = sec->kvs; kv != NULL; kv = nkv) {
			nkv = kv->next;
			free(kv->key);
			free(kv->value);
			free(kv);
		}
		free(sec->type);
		free(sec->name);
		free(sec);
	}
	free(conf->path);
	free(conf);
}

const char *
fh_conf_path(const struct fh_conf *conf)
{
	return conf->path;
}

const struct fh_section *
fh_conf_next(const struct fh_conf *conf, const struct fh_section *prev,
    const char *type)
{
	const struct fh_section	*s = prev ? prev->next : conf->sections;

	for (; s != NULL; s = s->next)
		if (type == NULL || strcmp(s->type, type) == 0)
			return s;
	return NULL;
}

const struct fh_section *
fh_conf_find(const struct fh_conf *conf, const char *type)
{
	return fh_conf_next(conf, NULL, type);
}

const char *
fh_section_type(const struct fh_section *sec)
{
	return sec->type;
}

const char *
fh_section_name(const struct fh_section *sec)
{
	return sec->name;
}

int
fh_section_line(const struct fh_section *sec)
{
	return sec->line;
}

static struct conf_kv *
section_kv(const struct fh_section *sec, const char *key)
{
	struct conf_kv	*kv;

	for (kv = sec->kvs; kv != NULL; kv = kv->next)
		if (strcmp(kv->key, key) == 0)
			return kv;
	return NULL;
}

const char *
fh_section_get(const struct fh_section *sec, const char *key)
{
	struct conf_kv	*kv = section_kv(sec, key);

	return kv ? kv->value : NULL;
}

char *
fh_section_where(const struct fh_section *sec, const char *key)
{
	struct conf_kv	*kv = key ? section_kv(sec, key) : NULL;

	return fh_xasprintf("%s:%d", sec->conf->path,
	    kv ? kv->line : sec->line);
}

const char *
fh_section_get_nth(const struct fh_section *sec, const char *key, size_t n,
    int *line)
{
	struct conf_kv	*kv;

	for (kv = sec->kvs; kv != NULL; kv = kv->next) {
		if (strcmp(kv->key, key) != 0 || n-- > 0)
			continue;
		kv->used = true;
		((struct fh_section *)sec)->claimed = true;
		if (line != NULL)
			*line = kv->line;
		return kv->value;
	}
	return NULL;
}

void
fh_section_claim(const struct fh_section *sec, const char *key)
{
	struct conf_kv	*kv = section_kv(sec, key);

	((struct fh_section *)sec)->claimed = true;
	if (kv != NULL)
		kv->used = true;
}

void
fh_section_mark(const struct fh_section *sec)
{
	((struct fh_section *)sec)->claimed = true;
}

const struct fh_section *
fh_conf_unclaimed(const struct fh_conf *conf)
{
	const struct fh_section	*s;

	for (s = conf->sections; s != NULL; s = s->next)
		if (!s->claimed)
			return s;
	return NULL;
}

int
fh_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };
	int	i;

	for (i = 0; yes[i] != NULL; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
	for (i = 0; no[i] != NULL; i++)
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	return -1;
}

int
fh_parse_int(const char *s, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < INT_MIN ||
	    v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* A non-negative number with an optional unit suffix from the table. */
static int
conf_parse_scaled(const char *s, const char *const *units,
    const unsigned long long *scale, unsigned long long *out)
{
	char			*end;
	unsigned long long	 v;
	int			 i;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '\0') {
		/* A bare number has a scale too (seconds for durations):
		 * check it as well, or 184467447073705161 wraps to 584 ms. */
		if (v > ULLONG_MAX / scale[0])
			return -1;
		*out = v * scale[0];
		return 0;
	}
	for (i = 1; units[i] != NULL; i++) {
		if (strcmp(end, units[i]) == 0) {
			if (v > ULLONG_MAX / scale[i])
				return -1;
			*out = v * scale[i];
			return 0;
		}
	}
	return -1;
}

int
fh_parse_size(const char *s, size_t *out)
{
	static const char *const units[] = { "", "k", "K", "M", "G", "kB",
	    "KB", "MB", "GB", "B", NULL };
	static const unsigned long long scale[] = { 1, 1024, 1024,
	    1024 * 1024, 1024 * 1024 * 1024ULL, 1024, 1024, 1024 * 1024,
	    1024 * 1024 * 1024ULL, 1 };
	unsigned long long	v;

	if (conf_parse_scaled(s, units, scale, &v) != 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

int
fh_parse_duration(const char *s, long *ms)
{
	static const char *const units[] = { "", "ms", "s", "m", "h", "d",
	    NULL };
	static const unsigned long long scale[] = { 1000, 1, 1000, 60000,
	    3600000, 86400000 };
	unsigned long long	v;

	if (conf_parse_scaled(s, units, scale, &v) != 0 || v > LONG_MAX)
		return -1;
	*ms = (long)v;
	return 0;
}

int
fh_parse_hostport(const char *s, char **host, int *port)
{
	const char	*colon, *h, *he;
	int		 p;

	if (*s == '[') {
		he = strchr(s, ']');
		if (he == NULL || he[1] != ':')
			return -1;
		h = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		h = s;
		he = colon;
		if (memchr(h, ':', he - h) != NULL)
			return -1;	/* bare IPv6 needs brackets */
	}
	if (fh_parse_int(colon + 1, &p) != 0 || p < 0 || p > 65535)
		return -1;
	*host = fh_xstrndup(h, he - h);
	*port = p;
	return 0;
}

static int
conf_set(const struct fh_conf_var *v, void *obj, const char *val)
{
	char	*base = obj;
	bool	 b;
	int	 i;
	size_t	 sz;
	long	 ms;

	switch (v->type) {
	case FH_CONF_T_STR: {
		char **sp = (char **)(base + v->offset);

		free(*sp);
		*sp = fh_xstrdup(val);
		return 0;
	}
	case FH_CONF_T_INT:
		if (fh_parse_int(val, &i) != 0)
			return -1;
		*(int *)(base + v->offset) = i;
		return 0;
	case FH_CONF_T_QOS:
		if (fh_parse_int(val, &i) != 0 || i < 0 || i > 2)
			return -1;
		*(int *)(base + v->offset) = i;
		return 0;
	case FH_CONF_T_BOOL:
		if (fh_parse_bool(val, &b) != 0)
			return -1;
		*(bool *)(base + v->offset) = b;
		return 0;
	case FH_CONF_T_SIZE:
		if (fh_parse_size(val, &sz) != 0)
			return -1;
		*(size_t *)(base + v->offset) = sz;
		return 0;
	case FH_CONF_T_DURATION:
		if (fh_parse_duration(val, &ms) != 0)
			return -1;
		*(long *)(base + v->offset) = ms;
		return 0;
	case FH_CONF_T_ENUM:
		for (i = 0; v->names[i] != NULL; i++) {
			if (strcmp(v->names[i], val) == 0) {
				*(int *)(base + v->offset) = i;
				return 0;
			}
		}
		return -1;
	case FH_CONF_T_RANGE:
		if (fh_parse_int(val, &i) != 0 || i < v->lo || i > v->hi)
			return -1;
		*(int *)(base + v->offset) = i;
		return 0;
	}
	return -1;
}


static const char *
conf_type_hint(enum fh_conf_type t)
{
	switch (t) {
	case FH_CONF_T_INT:	 return "an integer";
	case FH_CONF_T_QOS:	 return "0, 1 or 2";
	case FH_CONF_T_BOOL:	 return "true or false";
	case FH_CONF_T_SIZE:	 return "a size (e.g. 512k, 1M)";
	case FH_CONF_T_DURATION: return "a duration (e.g. 30s, 5m)";
	default:		 return "a string";
	}
}

const char *
fh_conf_type_name(enum fh_conf_type t)
{
	switch (t) {
	case FH_CONF_T_INT:	 return "integer";
	case FH_CONF_T_QOS:	 return "QoS (0, 1 or 2)";
	case FH_CONF_T_BOOL:	 return "boolean";
	case FH_CONF_T_SIZE:	 return "size";
	case FH_CONF_T_DURATION: return "duration";
	case FH_CONF_T_ENUM:	 return "keyword";
	case FH_CONF_T_RANGE:	 return "integer";
	default:		 return "string";
	}
}

/* "a, b or c" for an enum's names. */
static char *
conf_enum_names(const char *const *names)
{
	char	*out = fh_xstrdup(""), *next;
	size_t	 i;

	for (i = 0; names[i] != NULL; i++) {
		next = fh_xasprintf("%s%s%s", out, i == 0 ? "" :
		    names[i + 1] == NULL ? " or " : ", ", names[i]);
		free(out);
		out = next;
	}
	return out;
}

/* Why val is not a value of v, for the log. */
static char *
conf_bad_value(const struct fh_conf_var *v, const char *val)
{
	char	*names, *msg;

	switch (v->type) {
	case FH_CONF_T_ENUM:
		names = conf_enum_names(v->names);
		msg = fh_xasprintf("bad %s '%s': expected %s", v->key, val,
		    names);
		free(names);
		return msg;
	case FH_CONF_T_RANGE:
		return fh_xasprintf("%s must be %ld..%ld", v->key, v->lo,
		    v->hi);
	default:
		return fh_xasprintf("bad value '%s' for '%s': expected %s",
		    val, v->key, conf_type_hint(v->type));
	}
}

int
fh_conf_error(char **errstr, const struct fh_section *sec, const char *key,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*where, *msg;

	where = sec != NULL ? fh_section_where(sec, key) :
	    fh_xstrdup("default");
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fh_fatal("out of memory");
	va_end(ap);
	*errstr = fh_xasprintf("%s: %s", where, msg);
	free(msg);
	free(where);
	return -1;
}

int
fh_conf_apply(const struct fh_section *sec, const struct fh_conf_var *vars,
    void *obj, char **errstr)
{
	const struct fh_conf_var	*v;
	struct conf_kv			*kv;
	char				*where, *errs = NULL;

	for (v = vars; v->key != NULL; v++) {
		if (v->def != NULL && conf_set(v, obj, v->def) != 0)
			fh_fatal("bad built-in default for %s", v->key);
	}
	if (sec == NULL)
		return 0;
	fh_section_mark(sec);
	for (kv = sec->kvs; kv != NULL; kv = kv->next) {
		if (kv->used)
			continue;
		if (section_kv(sec, kv->key) != kv) {
			conf_errs_add(&errs, fh_xasprintf("%s:%d: duplicate "
			    "key '%s'", sec->conf->path, kv->line, kv->key));
			continue;
		}
		for (v = vars; v->key != NULL; v++)
			if (strcmp(v->key, kv->key) == 0)
				break;
		if (v->key == NULL) {
			conf_errs_add(&errs, fh_xasprintf("%s:%d: unknown key "
			    "'%s' in [%s%s%s]", sec->conf->path, kv->line,
			    kv->key, sec->type, *sec->name ? " " : "",
			    sec->name));
			continue;
		}
		if (conf_set(v, obj, kv->value) != 0) {
			char *why = conf_bad_value(v, kv->value);

			conf_errs_add(&errs, fh_xasprintf("%s:%d: %s",
			    sec->conf->path, kv->line, why));
			free(why);
			continue;
		}
		kv->used = true;
	}
	for (v = vars; v->key != NULL; v++) {
		if (v->required && section_kv(sec, v->key) == NULL) {
			where = fh_section_where(sec, NULL);
			conf_errs_add(&errs, fh_xasprintf("%s: missing "
			    "required key '%s' in [%s%s%s]", where, v->key,
			    sec->type, *sec->name ? " " : "", sec->name));
			free(where);
			continue;
		}
		if (v->required && v->type == FH_CONF_T_STR &&
		    (*(char **)((char *)obj + v->offset))[0] == '\0') {
			where = fh_section_where(sec, v->key);
			conf_errs_add(&errs, fh_xasprintf("%s: '%s' must not "
			    "be empty", where, v->key));
			free(where);
		}
	}
	if (errs == NULL)
		return 0;
	*errstr = errs;
	return -1;
}

void
fh_conf_clear(const struct fh_conf_var *vars, void *obj)
{
	const struct fh_conf_var	*v;
	char				**sp;

	for (v = vars; v->key != NULL; v++) {
		if (v->type != FH_CONF_T_STR)
			continue;
		sp = (char **)((char *)obj + v->offset);
		free(*sp);
		*sp = NULL;
	}
}
