/*
 * RFC 5322 header fields, RFC 2047 encoded words and the MIME bodies of
 * Launchpad mail, decoded to UTF-8. Pure: bytes in, malloc'd strings out.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sources/launchpad/lp_mime.h"

#define MIME_MAX_PARTS		64	/* per multipart; rest ignored */
#define MIME_MAX_CHARSET	40

struct mime_buf {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
};

static void
mime_buf_add(struct mime_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 64;
		b->p = fh_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
mime_buf_addc(struct mime_buf *b, uint8_t c)
{
	mime_buf_add(b, &c, 1);
}

/* Hand the buffer over as a NUL-terminated string ("" when empty). */
static uint8_t *
mime_buf_take(struct mime_buf *b, size_t *len)
{
	uint8_t	*p;

	if (b->p == NULL)
		mime_buf_add(b, "", 0);
	p = b->p;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof *b);
	return p;
}

static bool
mime_is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* ---- header fields ---- */

static void
mime_add_field(struct lp_mime *m, const uint8_t *name, size_t nlen,
    struct mime_buf *val)
{
	struct lp_mime_field	*f;
	uint8_t			*v;
	size_t			 vlen, s, i;

	v = mime_buf_take(val, &vlen);
	if (m->nfields >= LP_MIME_MAX_HEADERS) {
		free(v);
		return;
	}
	/* trim, and no NULs inside a C string */
	for (i = 0; i < vlen; i++)
		if (v[i] == '\0')
			v[i] = ' ';
	while (vlen > 0 && (mime_is_wsp(v[vlen - 1]) || v[vlen - 1] == '\r'))
		v[--vlen] = '\0';
	for (s = 0; s < vlen && mime_is_wsp(v[s]); s++)
		;
	if (s > 0)
		memmove(v, v + s, vlen - s + 1);
	m->fields = fh_xrealloc(m->fields, (m->nfields + 1) * sizeof *f);
	f = &m->fields[m->nfields++];
	f->name = fh_xstrndup((const char *)name, nlen);
	f->value = (char *)v;
}

void
lp_mime_parse(const uint8_t *p, size_t len, struct lp_mime *m)
{
	const uint8_t	*name = NULL, *eol, *colon;
	size_t		 nlen = 0, i = 0, le, next, k;
	struct mime_buf	 val = { 0 };
	bool		 have = false;

	memset(m, 0, sizeof *m);
	m->body = p + len;
	/* an mbox "From " line in front */
	if (len >= 5 && memcmp(p, "From ", 5) == 0) {
		eol = memchr(p, '\n', len);
		i = eol != NULL ? (size_t)(eol - p) + 1 : len;
	}
	while (i < len) {
		eol = memchr(p + i, '\n', len - i);
		next = eol != NULL ? (size_t)(eol - p) + 1 : len;
		le = eol != NULL ? (size_t)(eol - p) : len;
		if (le > i && p[le - 1] == '\r')
			le--;
		if (le == i) {			/* the empty line */
			m->body = p + next;
			break;
		}
		if (mime_is_wsp(p[i])) {	/* folded: one space */
			if (have) {
				for (k = i; k < le && mime_is_wsp(p[k]); k++)
					;
				while (val.len > 0 &&
				    mime_is_wsp(val.p[val.len - 1]))
					val.len--;
				mime_buf_addc(&val, ' ');
				mime_buf_add(&val, p + k, le - k);
			}
			i = next;
			continue;
		}
		if (have)
			mime_add_field(m, name, nlen, &val);
		have = false;
		colon = memchr(p + i, ':', le - i);
		if (colon != NULL) {
			name = p + i;
			nlen = (size_t)(colon - name);
			while (nlen > 0 && mime_is_wsp(name[nlen - 1]))
				nlen--;
			for (k = 0; k < nlen; k++)
				if (name[k] <= ' ' || name[k] > '~')
					break;
			if (nlen > 0 && k == nlen) {
				have = true;
				val.len = 0;
				mime_buf_add(&val, colon + 1,
				    le - (size_t)(colon + 1 - p));
			}
		}
		/* a line that is no field is skipped */
		i = next;
	}
	if (have)
		mime_add_field(m, name, nlen, &val);
	free(val.p);
	m->bodylen = (size_t)(p + len - m->body);
}

void
lp_mime_clear(struct lp_mime *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].value);
	}
	free(m->fields);
	memset(m, 0, sizeof *m);
}

const char *
lp_mime_get(const struct lp_mime *m, const char *name, size_t n)
{
	size_t	i;

	for (i = 0; i < m->nfields; i++)
		if (strcasecmp(m->fields[i].name, name) == 0 && n-- == 0)
			return m->fields[i].value;
	return NULL;
}

size_t
lp_mime_count(const struct lp_mime *m, const char *name)
{
	size_t	i, n = 0;

	for (i = 0; i < m->nfields; i++)
		if (strcasecmp(m->fields[i].name, name) == 0)
			n++;
	return n;
}

/* ---- transfer encodings ---- */

static int
mime_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

uint8_t *
lp_mime_qp_decode(const uint8_t *p, size_t len, int header, size_t *outlen)
{
	struct mime_buf	out = { 0 };
	size_t		i = 0, k;
	int		hi, lo;

	while (i < len) {
		if (p[i] == '_' && header) {
			mime_buf_addc(&out, ' ');
			i++;
		} else if (p[i] != '=') {
			mime_buf_addc(&out, p[i++]);
		} else if (i + 2 < len && (hi = mime_hex(p[i + 1])) >= 0 &&
		    (lo = mime_hex(p[i + 2])) >= 0) {
			mime_buf_addc(&out, (uint8_t)(hi << 4 | lo));
			i += 3;
		} else {
			/* a soft line break: '=', blanks, end of line */
			for (k = i + 1; k < len && mime_is_wsp(p[k]); k++)
				;
			if (k < len && p[k] == '\r')
				k++;
			if (k == len || p[k] == '\n') {
				i = k < len ? k + 1 : k;
				continue;
			}
			mime_buf_addc(&out, '=');	/* stray: kept */
			i++;
		}
	}
	return mime_buf_take(&out, outlen);
}

static int
mime_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

uint8_t *
lp_mime_b64_decode(const uint8_t *p, size_t len, size_t *outlen)
{
	struct mime_buf	out = { 0 };
	uint32_t	acc = 0;
	int		bits = 0, v;
	size_t		i;

	for (i = 0; i < len; i++) {
		if (p[i] == '=')
			break;
		if ((v = mime_b64_value(p[i])) < 0)
			continue;	/* line breaks and garbage */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mime_buf_addc(&out, (uint8_t)(acc >> bits));
		}
	}
	return mime_buf_take(&out, outlen);
}

/* ---- charsets ---- */

static char *
mime_latin1(const uint8_t *p, size_t len, size_t *outlen)
{
	struct mime_buf	out = { 0 };
	size_t		i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x80)
			mime_buf_addc(&out, p[i]);
		else {
			mime_buf_addc(&out, (uint8_t)(0xc0 | p[i] >> 6));
			mime_buf_addc(&out, (uint8_t)(0x80 | (p[i] & 0x3f)));
		}
	}
	return (char *)mime_buf_take(&out, outlen);
}

/* UTF-8 as it is when it is valid, else Latin-1 (mislabelled 8-bit). */
static char *
mime_guess(const uint8_t *p, size_t len, size_t *outlen)
{
	struct mime_buf	out = { 0 };

	if (!fh_utf8_is_valid(p, len))
		return mime_latin1(p, len, outlen);
	mime_buf_add(&out, p, len);
	return (char *)mime_buf_take(&out, outlen);
}

static bool
mime_charset_is_sane(const char *cs)
{
	size_t	i;

	for (i = 0; cs[i] != '\0'; i++)
		if (!isalnum((unsigned char)cs[i]) && strchr("-_.:", cs[i]) ==
		    NULL)
			return false;
	return i > 0 && i <= MIME_MAX_CHARSET;
}

char *
lp_mime_to_utf8(const char *charset, const uint8_t *p, size_t len,
    size_t *outlen)
{
	static const uint8_t	 repl[] = { 0xef, 0xbf, 0xbd };
	struct mime_buf		 out = { 0 };
	iconv_t			 cd;
	char			*ip = (char *)(uintptr_t)p, *op;
	size_t			 il = len, ol, r;
	bool			 grow = false;

	if (charset == NULL || !mime_charset_is_sane(charset) ||
	    strcasecmp(charset, "us-ascii") == 0 ||
	    strcasecmp(charset, "ascii") == 0)
		return mime_guess(p, len, outlen);
	if ((cd = iconv_open("UTF-8", charset)) == (iconv_t)-1)
		return mime_guess(p, len, outlen);
	mime_buf_add(&out, "", 0);
	for (;;) {
		if (grow || out.cap - out.len < il + 16) {
			out.cap = out.cap * 2 + il + 16;
			out.p = fh_xrealloc(out.p, out.cap);
			grow = false;
		}
		op = (char *)out.p + out.len;
		ol = out.cap - out.len - 1;
		if (il > 0)
			r = iconv(cd, &ip, &il, &op, &ol);
		else
			r = iconv(cd, NULL, NULL, &op, &ol);	/* flush */
		out.len = (size_t)((uint8_t *)op - out.p);
		if (r != (size_t)-1) {
			if (il == 0 && ip != NULL)
				ip = NULL;		/* now flush once */
			else
				break;
			continue;
		}
		if (errno == E2BIG) {
			grow = true;
			continue;
		}
		/* EILSEQ, EINVAL: one bad byte becomes U+FFFD */
		if (il == 0)
			break;
		mime_buf_add(&out, repl, sizeof repl);
		ip++;
		il--;
	}
	iconv_close(cd);
	out.p[out.len] = '\0';
	/* iconv itself made it; keep the promise of valid UTF-8 anyway */
	if (!fh_utf8_is_valid(out.p, out.len)) {
		char *s = mime_latin1(out.p, out.len, outlen);

		free(out.p);
		return s;
	}
	return (char *)mime_buf_take(&out, outlen);
}

/* ---- headers: RFC 2047 ---- */

struct mime_ew {
	char		 charset[MIME_MAX_CHARSET + 1];
	char		 enc;
	const uint8_t	*text;
	size_t		 textlen;
	size_t		 end;	/* offset just after "?=" */
};

/* =?charset[*lang]?B|Q?text?= at p[i]; no blanks inside. */
static bool
mime_ew_parse(const uint8_t *p, size_t len, size_t i, struct mime_ew *ew)
{
	size_t	k, cs, cse, q2, q3;

	if (i + 1 >= len || p[i] != '=' || p[i + 1] != '?')
		return false;
	cs = i + 2;
	for (k = cs; k < len && p[k] != '?'; k++)
		if (p[k] <= ' ' || p[k] > '~')
			return false;
	if (k >= len || k == cs)
		return false;
	cse = k;
	for (k = cs; k < cse && p[k] != '*'; k++)
		;
	if (k - cs > MIME_MAX_CHARSET)
		return false;
	memcpy(ew->charset, p + cs, k - cs);
	ew->charset[k - cs] = '\0';
	q2 = cse + 1;
	if (q2 + 1 >= len || p[q2 + 1] != '?')
		return false;
	ew->enc = (char)toupper(p[q2]);
	if (ew->enc != 'B' && ew->enc != 'Q')
		return false;
	q3 = q2 + 2;
	for (k = q3; k + 1 < len; k++) {
		if (p[k] <= ' ' || p[k] > '~')
			return false;
		if (p[k] == '?' && p[k + 1] == '=')
			break;
	}
	if (k + 1 >= len)
		return false;
	ew->text = p + q3;
	ew->textlen = k - q3;
	ew->end = k + 2;
	return true;
}

struct mime_hdec {
	struct mime_buf	out;
	struct mime_buf	raw;	/* undecoded text waiting */
	struct mime_buf	ewb;	/* encoded-word bytes waiting */
	char		cs[MIME_MAX_CHARSET + 1];
};

static void
mime_hdec_flush(struct mime_hdec *d)
{
	char	*s;
	size_t	 n;

	if (d->raw.len > 0) {
		s = mime_guess(d->raw.p, d->raw.len, &n);
		mime_buf_add(&d->out, s, n);
		free(s);
		d->raw.len = 0;
	}
	if (d->ewb.len > 0) {
		s = lp_mime_to_utf8(d->cs, d->ewb.p, d->ewb.len, &n);
		mime_buf_add(&d->out, s, n);
		free(s);
		d->ewb.len = 0;
	}
}

char *
lp_mime_decode_header(const char *raw)
{
	const uint8_t		*p = (const uint8_t *)raw;
	size_t			 len = strlen(raw), i = 0, k, n;
	struct mime_hdec	 d;
	struct mime_ew		 ew;
	uint8_t			*bytes;
	bool			 after_ew = false;

	memset(&d, 0, sizeof d);
	while (i < len) {
		if (mime_ew_parse(p, len, i, &ew)) {
			if (ew.enc == 'B')
				bytes = lp_mime_b64_decode(ew.text,
				    ew.textlen, &n);
			else
				bytes = lp_mime_qp_decode(ew.text, ew.textlen,
				    1, &n);
			if (d.raw.len > 0 || (d.ewb.len > 0 &&
			    strcasecmp(d.cs, ew.charset) != 0))
				mime_hdec_flush(&d);
			memcpy(d.cs, ew.charset, sizeof d.cs);
			mime_buf_add(&d.ewb, bytes, n);
			free(bytes);
			i = ew.end;
			after_ew = true;
			continue;
		}
		if (after_ew && mime_is_wsp(p[i])) {
			/* blanks between two encoded words vanish */
			for (k = i; k < len && mime_is_wsp(p[k]); k++)
				;
			if (k < len && mime_ew_parse(p, len, k, &ew)) {
				i = k;
				continue;
			}
		}
		after_ew = false;
		if (d.ewb.len > 0)
			mime_hdec_flush(&d);
		mime_buf_addc(&d.raw, p[i++]);
	}
	mime_hdec_flush(&d);
	free(d.raw.p);
	free(d.ewb.p);
	return (char *)mime_buf_take(&d.out, NULL);
}

/* ---- structured values ---- */

char *
lp_mime_param(const char *value, const char *param)
{
	const char	*s = value, *ns;
	size_t		 nlen, plen = strlen(param);
	struct mime_buf	 v;

	/* skip the media type itself */
	while (*s != '\0' && *s != ';')
		s++;
	while (*s == ';') {
		s++;
		while (isspace((unsigned char)*s))
			s++;
		ns = s;
		while (*s != '\0' && *s != '=' && *s != ';' &&
		    !isspace((unsigned char)*s))
			s++;
		nlen = (size_t)(s - ns);
		while (isspace((unsigned char)*s))
			s++;
		if (*s != '=') {
			while (*s != '\0' && *s != ';')
				s++;
			continue;
		}
		s++;
		while (isspace((unsigned char)*s))
			s++;
		memset(&v, 0, sizeof v);
		if (*s == '"') {
			for (s++; *s != '\0' && *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				mime_buf_addc(&v, (uint8_t)*s);
			}
			if (*s == '"')
				s++;
		} else {
			while (*s != '\0' && *s != ';' &&
			    !isspace((unsigned char)*s))
				mime_buf_addc(&v, (uint8_t)*s++);
		}
		if (nlen == plen && strncasecmp(ns, param, plen) == 0)
			return (char *)mime_buf_take(&v, NULL);
		free(v.p);
		while (*s != '\0' && *s != ';')
			s++;
	}
	return NULL;
}

/* "text/plain" from a Content-Type value, lower case, at most n-1 bytes. */
static void
mime_media_type(const struct lp_mime *m, char *out, size_t n)
{
	const char	*ct = lp_mime_get(m, "Content-Type", 0);
	size_t		 i = 0;

	if (ct == NULL || *ct == '\0' || *ct == ';')
		ct = "text/plain";
	while (*ct != '\0' && *ct != ';' && !isspace((unsigned char)*ct) &&
	    i + 1 < n)
		out[i++] = (char)tolower((unsigned char)*ct++);
	out[i] = '\0';
	if (strchr(out, '/') == NULL)		/* RFC 2045: garbage is */
		strcpy(out, "text/plain");	/* text/plain */
}

/* ---- bodies ---- */

static char *
mime_decode_text(const struct lp_mime *m, size_t *outlen)
{
	const char	*cte = lp_mime_get(m, "Content-Transfer-Encoding", 0);
	char		*charset = NULL, *text, *ct;
	uint8_t		*bytes;
	size_t		 n, i, o;

	if (cte != NULL && strncasecmp(cte, "quoted-printable", 16) == 0)
		bytes = lp_mime_qp_decode(m->body, m->bodylen, 0, &n);
	else if (cte != NULL && strncasecmp(cte, "base64", 6) == 0)
		bytes = lp_mime_b64_decode(m->body, m->bodylen, &n);
	else {
		bytes = fh_xmalloc(m->bodylen + 1);
		memcpy(bytes, m->body, m->bodylen);
		bytes[m->bodylen] = '\0';
		n = m->bodylen;
	}
	if ((ct = (char *)lp_mime_get(m, "Content-Type", 0)) != NULL)
		charset = lp_mime_param(ct, "charset");
	text = lp_mime_to_utf8(charset, bytes, n, &n);
	free(charset);
	free(bytes);
	/* CRLF -> LF */
	for (i = o = 0; i < n; i++) {
		if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')
			continue;
		text[o++] = text[i];
	}
	text[o] = '\0';
	*outlen = o;
	return text;
}

/* The first part (depth first) whose type is want ("text/plain") or,
 * with want "text/", any text. */
static char *
mime_find_text(const struct lp_mime *m, const char *want, int depth,
    size_t *outlen)
{
	char		 type[64], *boundary, *r = NULL;
	const uint8_t	*b = m->body, *eol;
	size_t		 n = m->bodylen, blen, pos = 0, next, le, end;
	size_t		 parts = 0;
	size_t		 start = 0;
	bool		 in_part = false, delim;
	struct lp_mime	 part;

	mime_media_type(m, type, sizeof type);
	if (strncmp(type, "multipart/", 10) != 0) {
		if (strncmp(type, want, strlen(want)) == 0)
			return mime_decode_text(m, outlen);
		return NULL;
	}
	if (depth >= LP_MIME_MAX_DEPTH)
		return NULL;
	boundary = lp_mime_param(lp_mime_get(m, "Content-Type", 0),
	    "boundary");
	if (boundary == NULL || (blen = strlen(boundary)) == 0) {
		free(boundary);
		return NULL;
	}
	while (pos <= n && r == NULL && parts < MIME_MAX_PARTS) {
		eol = pos < n ? memchr(b + pos, '\n', n - pos) : NULL;
		next = eol != NULL ? (size_t)(eol - b) + 1 : n;
		le = eol != NULL ? (size_t)(eol - b) : n;
		delim = le - pos >= blen + 2 && b[pos] == '-' &&
		    b[pos + 1] == '-' &&
		    memcmp(b + pos + 2, boundary, blen) == 0 &&
		    (le == pos + blen + 2 ||
		    strchr("- \t\r", b[pos + blen + 2]) != NULL);
		if (delim || pos == n) {
			if (in_part) {
				end = pos;
				if (end > start && b[end - 1] == '\n')
					end--;
				if (end > start && b[end - 1] == '\r')
					end--;
				lp_mime_parse(b + start, end - start, &part);
				r = mime_find_text(&part, want, depth + 1,
				    outlen);
				lp_mime_clear(&part);
				parts++;
			}
			if (pos == n || (le >= pos + blen + 4 &&
			    b[pos + blen + 2] == '-' &&
			    b[pos + blen + 3] == '-'))
				break;		/* the close delimiter */
			in_part = true;
			start = next;
		}
		if (next == pos)
			break;
		pos = next;
	}
	free(boundary);
	return r;
}

char *
lp_mime_text(const struct lp_mime *m, size_t *len)
{
	char	*r;

	if ((r = mime_find_text(m, "text/plain", 0, len)) != NULL)
		return r;
	if ((r = mime_find_text(m, "text/", 0, len)) != NULL)
		return r;
	*len = 0;
	return fh_xstrdup("");
}
