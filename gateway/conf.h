/*
 * The INI config file: sections, keys, and per-module schema tables.
 *
 * A section is "[type]" or "[type NAME]"; keys are "key = value" with ';'
 * and '#' comments. Every key remembers its file:line so that errors point
 * at it. Modules describe their keys with a table of fh_conf_var and call
 * fh_conf_apply(), which fills defaults, parses values and rejects unknown
 * keys; there is no strcmp chain anywhere.
 */
#ifndef FH_CONF_H
#define FH_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct fh_conf;
struct fh_section;

enum fh_conf_type {
	FH_CONF_T_STR,		/* char *, owned by the struct (free it) */
	FH_CONF_T_INT,		/* int */
	FH_CONF_T_BOOL,		/* bool: true/false/yes/no/on/off/1/0 */
	FH_CONF_T_SIZE,		/* size_t: bytes, k/M/G suffixes */
	FH_CONF_T_DURATION,	/* long: milliseconds, ms/s/m/h suffixes */
	FH_CONF_T_QOS,		/* int 0..2 */
	FH_CONF_T_ENUM,		/* int: the index of the value in names[] */
	FH_CONF_T_RANGE,	/* int in lo..hi */
};

struct fh_conf_var {
	const char		*key;
	enum fh_conf_type	 type;
	size_t			 offset;
	const char		*def;		/* NULL: no default */
	bool			 required;
	const char		*doc;		/* for man firehose.conf; "" */
	const char *const	*names;		/* ENUM: NULL-terminated */
	long			 lo, hi;	/* RANGE */
};

/*
 * The trailing argument is the key's documentation, a string literal,
 * optional (FH_CONF_INT("port", struct x, port, "22", "the SSH port")):
 * the man page firehose.conf(5) is generated from these tables.
 */
#define FH_CONF_VAR(k, t, st, field, d, req, ...) \
	{ .key = (k), .type = (t), .offset = offsetof(st, field), \
	  .def = (d), .required = (req), .doc = "" __VA_ARGS__ }
#define FH_CONF_STR(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_STR, st, f, d, false, __VA_ARGS__)
#define FH_CONF_STR_REQ(k, st, f, ...) \
	FH_CONF_VAR(k, FH_CONF_T_STR, st, f, NULL, true, __VA_ARGS__)
#define FH_CONF_INT(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_INT, st, f, d, false, __VA_ARGS__)
#define FH_CONF_BOOL(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_BOOL, st, f, d, false, __VA_ARGS__)
#define FH_CONF_SIZE(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_SIZE, st, f, d, false, __VA_ARGS__)
#define FH_CONF_DURATION(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_DURATION, st, f, d, false, __VA_ARGS__)
#define FH_CONF_QOS(k, st, f, d, ...) \
	FH_CONF_VAR(k, FH_CONF_T_QOS, st, f, d, false, __VA_ARGS__)
/* An enum: the int field gets the index of the value in names (a
 * NULL-terminated array), so that no module compares strings for it. */
#define FH_CONF_ENUM(k, st, f, nm, d, ...) \
	{ .key = (k), .type = FH_CONF_T_ENUM, .offset = offsetof(st, f), \
	  .def = (d), .names = (nm), .doc = "" __VA_ARGS__ }
/* An int that must be in l..h. */
#define FH_CONF_INT_RANGE(k, st, f, d, l, h, ...) \
	{ .key = (k), .type = FH_CONF_T_RANGE, .offset = offsetof(st, f), \
	  .def = (d), .lo = (l), .hi = (h), .doc = "" __VA_ARGS__ }
#define FH_CONF_END			{ .key = NULL }

/*
 * One section's schema, for the generated documentation: the modules'
 * tables are walked by man/mangen.c, so that the man page lists exactly
 * the keys the parser accepts.
 */
struct fh_conf_schema {
	const char		 *section;	/* "broker", "listener NAME" */
	const char		 *doc;		/* a paragraph, or "" */
	const struct fh_conf_var *vars;
};

/* Parse a whole file or buffer. On error returns NULL and sets *errstr to
 * "file:line: message". */
struct fh_conf	*fh_conf_load(const char *path, char **errstr);
struct fh_conf	*fh_conf_parse(const char *name, const char *buf, size_t len,
		    char **errstr);
void		 fh_conf_free(struct fh_conf *);
const char	*fh_conf_path(const struct fh_conf *);

/* Iterate sections of one type ("listener"), or all with type NULL. */
const struct fh_section *fh_conf_next(const struct fh_conf *,
		    const struct fh_section *prev, const char *type);
const struct fh_section *fh_conf_find(const struct fh_conf *, const char *type);

const char	*fh_section_type(const struct fh_section *);
const char	*fh_section_name(const struct fh_section *);	/* "" if none */
const char	*fh_section_get(const struct fh_section *, const char *key);
int		 fh_section_line(const struct fh_section *);
/* "file:line" of a key, or of the section header when key is NULL/absent. */
char		*fh_section_where(const struct fh_section *, const char *key);

/* A key that may repeat (a bridge's "topic" lines): its n-th value (from
 * 0) in file order, NULL past the last; *line (if not NULL) gets its line.
 * The values are claimed. Every other key repeated is an error from
 * fh_conf_apply(). */
const char	*fh_section_get_nth(const struct fh_section *, const char *key,
		    size_t n, int *line);
/* Mark a key as handled outside a schema table (like a source's "type"). */
void		 fh_section_claim(const struct fh_section *, const char *key);

/* Apply a schema table to obj: defaults, then values; unknown keys, bad
 * values and missing required keys fail with "file:line: message". With
 * sec NULL only defaults are applied. Frees strings it replaces. */
int		 fh_conf_apply(const struct fh_section *sec,
		    const struct fh_conf_var *vars, void *obj, char **errstr);
/* The one way to report a config error: *errstr = "file:line: message"
 * for key in sec (the section header when key is NULL or absent;
 * "default" when sec is NULL). Returns -1. */
int		 fh_conf_error(char **errstr, const struct fh_section *sec,
		    const char *key, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
/* Free the strings that fh_conf_apply() put into obj. */
void		 fh_conf_clear(const struct fh_conf_var *vars, void *obj);

/* First section that was never passed to fh_conf_apply/claim, so that
 * unknown sections are errors. */
const struct fh_section *fh_conf_unclaimed(const struct fh_conf *);
void		 fh_section_mark(const struct fh_section *);

/* The type as the man page names it ("size", "duration"...). */
const char	*fh_conf_type_name(enum fh_conf_type);

/* Value parsers, shared with anything else that reads user input. */
int	fh_parse_bool(const char *, bool *);
int	fh_parse_int(const char *, int *);
int	fh_parse_size(const char *, size_t *);
int	fh_parse_duration(const char *, long *ms);
/* "host:port", "[v6]:port" or ":port"; host "" means any. */
int	fh_parse_hostport(const char *, char **host, int *port);

#endif
