/* IMAP response lines and quoting for the launchpad source (lp_imap.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/xmalloc.h"
#include "sources/launchpad/lp_imap.h"

/* The word at p[*i] (up to a blank), advancing *i past blanks after it. */
static size_t
imap_word(const uint8_t *p, size_t len, size_t *i, const uint8_t **w)
{
	size_t	s = *i;

	while (*i < len && p[*i] != ' ')
		(*i)++;
	*w = p + s;
	s = *i - s;
	while (*i < len && p[*i] == ' ')
		(*i)++;
	return s;
}

static bool
imap_word_is(const uint8_t *w, size_t n, const char *s)
{
	return n == strlen(s) && strncasecmp((const char *)w, s, n) == 0;
}

static bool
imap_number(const uint8_t *w, size_t n, uint32_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit(w[i]))
			return false;
		v = v * 10 + (uint64_t)(w[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static enum lp_imap_status
imap_status(const uint8_t *w, size_t n)
{
	if (imap_word_is(w, n, "OK"))
		return LP_IMAP_OK;
	if (imap_word_is(w, n, "NO"))
		return LP_IMAP_NO;
	if (imap_word_is(w, n, "BAD"))
		return LP_IMAP_BAD;
	if (imap_word_is(w, n, "BYE"))
		return LP_IMAP_BYE;
	if (imap_word_is(w, n, "PREAUTH"))
		return LP_IMAP_PREAUTH;
	return LP_IMAP_NONE;
}

/* IDLE as a word anywhere after "CAPABILITY" (also "[CAPABILITY ...]"). */
static bool
imap_has_idle(const uint8_t *p, size_t len)
{
	size_t		 i, n;
	const uint8_t	*w;
	bool		 in_cap = false;

	for (i = 0; i < len;) {
		n = imap_word(p, len, &i, &w);
		if (n > 0 && w[0] == '[') {
			w++;
			n--;
		}
		if (n > 0 && w[n - 1] == ']') {
			if (in_cap && imap_word_is(w, n - 1, "IDLE"))
				return true;
			in_cap = false;
			continue;
		}
		if (imap_word_is(w, n, "CAPABILITY"))
			in_cap = true;
		else if (in_cap && imap_word_is(w, n, "IDLE"))
			return true;
		if (n == 0)
			break;
	}
	return false;
}

int
lp_imap_parse_line(const uint8_t *p, size_t len, struct lp_imap_line *l)
{
	size_t		 i = 0, n, k;
	const uint8_t	*w;
	uint32_t	 num;

	memset(l, 0, sizeof *l);
	if (len == 0)
		return -1;
	/* a literal announced at the end of the line */
	if (p[len - 1] == '}') {
		for (k = len - 1; k > 0 && isdigit(p[k - 1]); k--)
			;
		if (k > 0 && p[k - 1] == '{' && k < len - 1 &&
		    imap_number(p + k, len - 1 - k, &num))
			l->literal = num;
	}
	n = imap_word(p, len, &i, &w);
	if (imap_word_is(w, n, "+")) {
		l->kind = LP_IMAP_CONTINUE;
		return 0;
	}
	if (imap_word_is(w, n, "*")) {
		l->kind = LP_IMAP_UNTAGGED;
		n = imap_word(p, len, &i, &w);
		if (imap_number(w, n, &num)) {
			l->number = num;
			n = imap_word(p, len, &i, &w);
			l->exists = imap_word_is(w, n, "EXISTS");
			l->recent = imap_word_is(w, n, "RECENT");
			return 0;
		}
		l->status = imap_status(w, n);
		l->has_idle = imap_has_idle(p, len);
		return 0;
	}
	if (n == 0 || n >= sizeof l->tag)
		return -1;
	for (k = 0; k < n; k++)
		if (w[k] <= ' ' || w[k] > '~' || strchr("(){%*\"\\]", w[k]))
			return -1;
	l->kind = LP_IMAP_TAGGED;
	memcpy(l->tag, w, n);
	l->tag[n] = '\0';
	n = imap_word(p, len, &i, &w);
	l->status = imap_status(w, n);
	if (l->status == LP_IMAP_NONE)
		return -1;
	l->has_idle = imap_has_idle(p, len);
	return 0;
}

static int
imap_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
lp_imap_parse_search(const uint8_t *p, size_t len, uint32_t **uids,
    size_t *np, size_t max)
{
	size_t		 i = 0, e, j, n = 0, cap = 0, wl, out;
	const uint8_t	*w, *eol;
	uint32_t	 v, *u = NULL;

	while (i < len) {
		eol = memchr(p + i, '\n', len - i);
		e = eol != NULL ? (size_t)(eol - p) : len;
		j = i;
		i = eol != NULL ? e + 1 : len;
		if (e > j && p[e - 1] == '\r')
			e--;
		wl = imap_word(p, e, &j, &w);
		if (!imap_word_is(w, wl, "*"))
			continue;
		wl = imap_word(p, e, &j, &w);
		if (!imap_word_is(w, wl, "SEARCH"))
			continue;
		while (j < e) {
			wl = imap_word(p, e, &j, &w);
			if (wl > 0 && w[0] == '(')	/* (MODSEQ n) */
				break;
			if (!imap_number(w, wl, &v) || v == 0) {
				free(u);
				return -1;
			}
			if (n >= max)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				u = fh_xrealloc(u, cap * sizeof *u);
			}
			u[n++] = v;
		}
	}
	if (n > 0)
		qsort(u, n, sizeof *u, imap_cmp);
	for (i = out = 0; i < n; i++)
		if (out == 0 || u[out - 1] != u[i])
			u[out++] = u[i];
	*uids = u;
	*np = out;
	return 0;
}

int
lp_imap_parse_uidvalidity(const uint8_t *p, size_t len, uint32_t *out)
{
	static const char	 key[] = "UIDVALIDITY ";
	size_t			 k = sizeof key - 1, i, n;

	for (i = 0; i + k < len; i++) {
		if (strncasecmp((const char *)p + i, key, k) != 0)
			continue;
		for (n = 0; i + k + n < len && isdigit(p[i + k + n]); n++)
			;
		if (imap_number(p + i + k, n, out) && *out != 0)
			return 0;
	}
	return -1;
}

char *
lp_imap_quote(const char *s)
{
	size_t	 i, o = 0;
	char	*q = fh_xmalloc(strlen(s) * 2 + 3);

	q[o++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			free(q);
			return NULL;
		}
		if (s[i] == '"' || s[i] == '\\')
			q[o++] = '\\';
		q[o++] = s[i];
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}

char *
lp_imap_uid_set(const uint32_t *u, size_t n)
{
	char	*s = fh_xmalloc(n * 11 + 1);
	size_t	 i, o = 0;

	s[0] = '\0';
	for (i = 0; i < n; i++)
		o += (size_t)sprintf(s + o, "%s%u", i ? "," : "", u[i]);
	return s;
}
