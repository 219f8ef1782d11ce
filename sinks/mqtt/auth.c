/*
 * Mosquitto's password and ACL files.
 *
 * Password lines are "user:$6$<salt>$<hash>" (SHA-512 of password then
 * salt) or "user:$7$<iterations>$<salt>$<hash>" (PBKDF2-HMAC-SHA512, 64
 * bytes), salt and hash in base64, as mosquitto_passwd 2.x writes them.
 *
 * ACL lines: "topic [read|write|readwrite|deny] T" (before any "user" line
 * they apply to anonymous clients, after it to that user), "user NAME",
 * "pattern [access] T" for everyone with %u and %c substituted. A deny
 * rule that matches wins; otherwise a matching rule with the access
 * grants it; otherwise the answer is no.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/topic.h"

#define AUTH_DENY	0x04

struct auth_user {
	char		*name;
	int		 type;		/* 6 or 7 */
	int		 iterations;
	uint8_t		 salt[64];
	size_t		 salt_len;
	uint8_t		 hash[64];
	size_t		 hash_len;
};

struct auth_rule {
	char	*topic;
	int	 access;	/* MQTT_ACL_READ | MQTT_ACL_WRITE | AUTH_DENY */
	bool	 pattern;
};

struct auth_rules {
	char			*user;		/* NULL: anonymous */
	struct auth_rule	*rules;
	size_t			 n;
};

struct mqtt_auth {
	struct auth_user	*users;
	size_t			 nusers;
	bool			 has_passwords;
	bool			 has_acl;
	struct auth_rules	*sets;		/* [0] anonymous */
	size_t			 nsets;
	struct auth_rules	 patterns;
};

struct mqtt_auth *
mqtt_auth_create(void)
{
	struct mqtt_auth	*a = fh_xcalloc(1, sizeof *a);

	a->sets = fh_xcalloc(1, sizeof *a->sets);
	a->nsets = 1;
	return a;
}

static void
auth_rules_clear(struct auth_rules *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		free(r->rules[i].topic);
	free(r->rules);
	free(r->user);
}

void
mqtt_auth_free(struct mqtt_auth *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nusers; i++) {
		OPENSSL_cleanse(a->users[i].hash, sizeof a->users[i].hash);
		free(a->users[i].name);
	}
	free(a->users);
	for (i = 0; i < a->nsets; i++)
		auth_rules_clear(&a->sets[i]);
	free(a->sets);
	auth_rules_clear(&a->patterns);
	free(a);
}

/* Base64 (with or without padding) into out; -1 if bad or too long. */
static int
auth_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	uint8_t	buf[256];
	char	in[352];
	int	n;
	size_t	pad = 0;

	while (len > 0 && s[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len == 0 || pad > 2 || len + 4 > sizeof in)
		return -1;
	memcpy(in, s, len);
	/* EVP_DecodeBlock wants whole quanta */
	pad = (4 - len % 4) % 4;
	if (pad == 3)
		return -1;
	memset(in + len, '=', pad);
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)(len + pad));
	if (n < 0)
		return -1;
	n -= (int)pad;
	if ((size_t)n > cap)
		return -1;
	memcpy(out, buf, (size_t)n);
	*outlen = (size_t)n;
	return 0;
}

/* "$6$salt$hash" or "$7$iter$salt$hash". */
static int
auth_parse_hash(const char *h, struct auth_user *u)
{
	const char	*salt, *hash;
	char		*end;
	long		 it;

	if (strncmp(h, "$6$", 3) == 0) {
		u->type = 6;
		salt = h + 3;
	} else if (strncmp(h, "$7$", 3) == 0) {
		u->type = 7;
		errno = 0;
		it = strtol(h + 3, &end, 10);
		if (errno != 0 || end == h + 3 || *end != '$' || it < 1 ||
		    it > 10000000)
			return -1;
		u->iterations = (int)it;
		salt = end + 1;
	} else
		return -1;
	if ((hash = strchr(salt, '$')) == NULL)
		return -1;
	if (auth_b64_decode(salt, (size_t)(hash - salt), u->salt,
	    sizeof u->salt, &u->salt_len) != 0)
		return -1;
	hash++;
	if (auth_b64_decode(hash, strlen(hash), u->hash, sizeof u->hash,
	    &u->hash_len) != 0 || u->hash_len != 64)
		return -1;
	return 0;
}

/* Next line of buf: strips CR and surrounding blanks; NULL at the end. */
static char *
auth_next_line(const char **p, const char *end, int *lineno)
{
	const char	*s = *p, *nl;
	char		*line;
	size_t		 len;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(end - s));
	len = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl ? nl + 1 : end;
	(*lineno)++;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	line = fh_xstrndup(s, len);
	return line;
}

int
mqtt_auth_parse_passwords(struct mqtt_auth *a, const char *name,
    const char *buf, size_t len, char **errstr)
{
	const char	*p = buf, *end = buf + len;
	char		*line, *colon;
	int		 lineno = 0;
	size_t		 i;
	struct auth_user u;

	a->has_passwords = true;
	while ((line = auth_next_line(&p, end, &lineno)) != NULL) {
		if (line[0] == '\0' || line[0] == '#') {
			free(line);
			continue;
		}
		memset(&u, 0, sizeof u);
		if ((colon = strchr(line, ':')) == NULL || colon == line) {
			*errstr = fh_xasprintf("%s:%d: expected user:hash",
			    name, lineno);
			free(line);
			return -1;
		}
		*colon = '\0';
		if (auth_parse_hash(colon + 1, &u) != 0) {
			*errstr = fh_xasprintf("%s:%d: user '%s': not a "
			    "mosquitto_passwd $6$ or $7$ hash", name, lineno,
			    line);
			free(line);
			return -1;
		}
		for (i = 0; i < a->nusers; i++) {
			if (strcmp(a->users[i].name, line) == 0) {
				*errstr = fh_xasprintf("%s:%d: duplicate user "
				    "'%s'", name, lineno, line);
				free(line);
				return -1;
			}
		}
		u.name = fh_xstrdup(line);
		a->users = fh_xrealloc(a->users,
		    (a->nusers + 1) * sizeof *a->users);
		a->users[a->nusers++] = u;
		free(line);
	}
	return 0;
}

static void
auth_rules_add(struct auth_rules *r, const char *topic, int access,
    bool pattern)
{
	r->rules = fh_xrealloc(r->rules, (r->n + 1) * sizeof *r->rules);
	r->rules[r->n].topic = fh_xstrdup(topic);
	r->rules[r->n].access = access;
	r->rules[r->n].pattern = pattern;
	r->n++;
}

int
mqtt_auth_parse_acl(struct mqtt_auth *a, const char *name, const char *buf,
    size_t len, char **errstr)
{
	const char		*p = buf, *end = buf + len;
	char			*line, *kw, *rest, *arg;
	struct auth_rules	*cur = &a->sets[0];
	int			 lineno = 0, access;

	a->has_acl = true;
	while ((line = auth_next_line(&p, end, &lineno)) != NULL) {
		if (line[0] == '\0' || line[0] == '#') {
			free(line);
			continue;
		}
		kw = line;
		rest = kw + strcspn(kw, " \t");
		if (*rest != '\0')
			*rest++ = '\0';
		rest += strspn(rest, " \t");
		if (*rest == '\0') {
			*errstr = fh_xasprintf("%s:%d: '%s' needs an argument",
			    name, lineno, kw);
			free(line);
			return -1;
		}
		if (strcmp(kw, "user") == 0) {
			a->sets = fh_xrealloc(a->sets,
			    (a->nsets + 1) * sizeof *a->sets);
			cur = &a->sets[a->nsets++];
			memset(cur, 0, sizeof *cur);
			cur->user = fh_xstrdup(rest);
		} else if (strcmp(kw, "topic") == 0 ||
		    strcmp(kw, "pattern") == 0) {
			arg = rest + strcspn(rest, " \t");
			access = MQTT_ACL_READ | MQTT_ACL_WRITE;
			if (*arg != '\0') {
				size_t wl = (size_t)(arg - rest);

				if (wl == 4 && strncmp(rest, "read", 4) == 0)
					access = MQTT_ACL_READ;
				else if (wl == 5 &&
				    strncmp(rest, "write", 5) == 0)
					access = MQTT_ACL_WRITE;
				else if (wl == 9 &&
				    strncmp(rest, "readwrite", 9) == 0)
					access = MQTT_ACL_READ |
					    MQTT_ACL_WRITE;
				else if (wl == 4 &&
				    strncmp(rest, "deny", 4) == 0)
					access = AUTH_DENY;
				else {
					*errstr = fh_xasprintf("%s:%d: bad "
					    "access '%.*s': expected read, "
					    "write, readwrite or deny", name,
					    lineno, (int)wl, rest);
					free(line);
					return -1;
				}
				rest = arg + strspn(arg, " \t");
			}
			if (kw[0] == 'p')
				auth_rules_add(&a->patterns, rest, access,
				    true);
			else
				auth_rules_add(cur, rest, access, false);
		} else {
			*errstr = fh_xasprintf("%s:%d: unknown ACL keyword "
			    "'%s': expected topic, user or pattern", name,
			    lineno, kw);
			free(line);
			return -1;
		}
		free(line);
	}
	return 0;
}

static int
auth_read_file(const char *path, char **buf, size_t *len, char **errstr)
{
	FILE	*f = fopen(path, "r");
	size_t	 cap = 4096, n;

	if (f == NULL) {
		*errstr = fh_xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	*buf = fh_xmalloc(cap);
	*len = 0;
	while ((n = fread(*buf + *len, 1, cap - *len, f)) > 0) {
		*len += n;
		if (*len == cap) {
			cap *= 2;
			*buf = fh_xrealloc(*buf, cap);
		}
	}
	if (ferror(f)) {
		*errstr = fh_xasprintf("%s: read error", path);
		fclose(f);
		free(*buf);
		return -1;
	}
	fclose(f);
	return 0;
}

struct mqtt_auth *
mqtt_auth_load(const char *password_file, const char *acl_file,
    char **errstr)
{
	struct mqtt_auth	*a = mqtt_auth_create();
	char			*buf;
	size_t			 len;
	int			 rc;

	if (password_file != NULL && *password_file != '\0') {
		if (auth_read_file(password_file, &buf, &len, errstr) != 0)
			goto fail;
		rc = mqtt_auth_parse_passwords(a, password_file, buf, len,
		    errstr);
		OPENSSL_cleanse(buf, len);
		free(buf);
		if (rc != 0)
			goto fail;
	}
	if (acl_file != NULL && *acl_file != '\0') {
		if (auth_read_file(acl_file, &buf, &len, errstr) != 0)
			goto fail;
		rc = mqtt_auth_parse_acl(a, acl_file, buf, len, errstr);
		free(buf);
		if (rc != 0)
			goto fail;
	}
	return a;
fail:
	mqtt_auth_free(a);
	return NULL;
}

bool
mqtt_auth_has_passwords(const struct mqtt_auth *a)
{
	return a->has_passwords;
}

bool
mqtt_auth_has_acl(const struct mqtt_auth *a)
{
	return a->has_acl;
}

size_t
mqtt_auth_user_count(const struct mqtt_auth *a)
{
	return a->nusers;
}

int
mqtt_auth_check_password(const struct mqtt_auth *a, const char *user,
    const uint8_t *pw, size_t len)
{
	const struct auth_user	*u = NULL;
	uint8_t			 out[64];
	unsigned		 outlen = 0;
	size_t			 i;
	int			 ok;
	EVP_MD_CTX		*ctx;

	for (i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, user) == 0)
			u = &a->users[i];
	if (u == NULL)
		return -1;
	if (u->type == 7) {
		if (PKCS5_PBKDF2_HMAC((const char *)pw, (int)len, u->salt,
		    (int)u->salt_len, u->iterations, EVP_sha512(), 64,
		    out) != 1)
			return -1;
		outlen = 64;
	} else {
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			return -1;
		ok = EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, pw, len) == 1 &&
		    EVP_DigestUpdate(ctx, u->salt, u->salt_len) == 1 &&
		    EVP_DigestFinal_ex(ctx, out, &outlen) == 1;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return -1;
	}
	ok = outlen == u->hash_len && CRYPTO_memcmp(out, u->hash, outlen) == 0;
	OPENSSL_cleanse(out, sizeof out);
	return ok ? 0 : -1;
}

/* Substitute %u and %c; NULL when the pattern needs what is missing or
 * unsafe (a wildcard or '/' in the name would widen the rule). */
static char *
auth_expand(const char *pat, const char *user, const char *cid)
{
	size_t		 cap = strlen(pat) + 1, n = 0, l;
	char		*out;
	const char	*v;

	for (v = pat; *v; v++)
		if (v[0] == '%' && (v[1] == 'u' || v[1] == 'c'))
			cap += strlen(v[1] == 'u' ? (user ? user : "") :
			    (cid ? cid : ""));
	out = fh_xmalloc(cap);
	while (*pat) {
		if (pat[0] == '%' && (pat[1] == 'u' || pat[1] == 'c')) {
			v = pat[1] == 'u' ? user : cid;
			if (v == NULL || strpbrk(v, "+#/") != NULL) {
				free(out);
				return NULL;
			}
			l = strlen(v);
			memcpy(out + n, v, l);
			n += l;
			pat += 2;
		} else
			out[n++] = *pat++;
	}
	out[n] = '\0';
	return out;
}

/* 1: granted, -1: denied, 0: no rule matched. */
static int
auth_rules_check(const struct auth_rules *r, const char *user,
    const char *cid, const char *topic, int access)
{
	size_t	 i;
	int	 res = 0;
	char	*f;
	bool	 m;

	for (i = 0; i < r->n; i++) {
		if (r->rules[i].pattern) {
			if ((f = auth_expand(r->rules[i].topic, user,
			    cid)) == NULL)
				continue;
			m = topic_matches(f, topic);
			free(f);
		} else
			m = topic_matches(r->rules[i].topic, topic);
		if (!m)
			continue;
		if (r->rules[i].access & AUTH_DENY)
			return -1;
		if (r->rules[i].access & access)
			res = 1;
	}
	return res;
}

bool
mqtt_auth_acl_check(const struct mqtt_auth *a, const char *user,
    const char *client_id, const char *topic, int access)
{
	const struct auth_rules	*set = NULL;
	size_t			 i;
	int			 r1 = 0, r2;

	if (a == NULL || !a->has_acl)
		return true;
	if (user == NULL)
		set = &a->sets[0];
	else
		for (i = 1; i < a->nsets; i++)
			if (strcmp(a->sets[i].user, user) == 0)
				set = &a->sets[i];
	if (set != NULL && (r1 = auth_rules_check(set, user, client_id, topic,
	    access)) < 0)
		return false;
	if ((r2 = auth_rules_check(&a->patterns, user, client_id, topic,
	    access)) < 0)
		return false;
	return r1 > 0 || r2 > 0;
}

/* The next level of a filter: its length; *p moves past it and its '/';
 * *more tells whether a level follows. */
static size_t
auth_level(const char **p, bool *more)
{
	const char	*s = *p, *e = strchr(s, '/');

	*more = e != NULL;
	if (e == NULL)
		e = s + strlen(s);
	*p = *more ? e + 1 : e;
	return (size_t)(e - s);
}

/* Is there a topic that both filters match? */
static bool
auth_filters_meet(const char *a, const char *b)
{
	const char	*la, *lb;
	size_t		 na, nb;
	bool		 ma = true, mb = true;

	/* '$' topics are not matched by a leading wildcard */
	if ((*a == '$' && (*b == '+' || *b == '#')) ||
	    (*b == '$' && (*a == '+' || *a == '#')))
		return false;
	while (ma && mb) {
		la = a;
		lb = b;
		na = auth_level(&a, &ma);
		nb = auth_level(&b, &mb);
		if ((na == 1 && *la == '#') || (nb == 1 && *lb == '#'))
			return true;
		if ((na == 1 && *la == '+') || (nb == 1 && *lb == '+'))
			continue;
		if (na != nb || memcmp(la, lb, na) != 0)
			return false;
	}
	if (ma == mb)
		return true;
	/* one goes on: only "/#" still matches the parent level */
	return strcmp(ma ? a : b, "#") == 0;
}

/* Does every topic that filter f matches also match rule r? */
static bool
auth_filter_covers(const char *r, const char *f)
{
	const char	*lr, *lf;
	size_t		 nr, nf;
	bool		 mr = true, mf = true;

	if (*f == '$' && (*r == '+' || *r == '#'))
		return false;
	while (mr && mf) {
		lr = r;
		lf = f;
		nr = auth_level(&r, &mr);
		nf = auth_level(&f, &mf);
		if (nr == 1 && *lr == '#')
			return true;
		if (nf == 1 && *lf == '#')
			return false;
		if (nr == 1 && *lr == '+')
			continue;
		if (nr != nf || memcmp(lr, lf, nr) != 0)
			return false;
	}
	if (!mr && !mf)
		return true;
	/* the rule goes on: "a/#" covers "a" */
	return mr && strcmp(r, "#") == 0;
}

/* 1: a read rule may grant part of filter, -1: a deny covers it all. */
static int
auth_rules_filter(const struct auth_rules *r, const char *user,
    const char *cid, const char *filter)
{
	const char	*t;
	char		*f;
	size_t		 i;
	int		 res = 0;

	for (i = 0; i < r->n; i++) {
		f = NULL;
		if (r->rules[i].pattern) {
			if ((f = auth_expand(r->rules[i].topic, user,
			    cid)) == NULL)
				continue;
			t = f;
		} else
			t = r->rules[i].topic;
		if (r->rules[i].access & AUTH_DENY) {
			if (auth_filter_covers(t, filter)) {
				free(f);
				return -1;
			}
		} else if ((r->rules[i].access & MQTT_ACL_READ) &&
		    auth_filters_meet(t, filter))
			res = 1;
		free(f);
	}
	return res;
}

bool
mqtt_auth_acl_filter_possible(const struct mqtt_auth *a, const char *user,
    const char *client_id, const char *filter)
{
	const struct auth_rules	*set = NULL;
	size_t			 i;
	int			 r1 = 0, r2;

	if (a == NULL || !a->has_acl)
		return true;
	if (user == NULL)
		set = &a->sets[0];
	else
		for (i = 1; i < a->nsets; i++)
			if (strcmp(a->sets[i].user, user) == 0)
				set = &a->sets[i];
	if (set != NULL && (r1 = auth_rules_filter(set, user, client_id,
	    filter)) < 0)
		return false;
	if ((r2 = auth_rules_filter(&a->patterns, user, client_id,
	    filter)) < 0)
		return false;
	return r1 > 0 || r2 > 0;
}
