/*
 * The slice of RFC 5322 / MIME that Launchpad mail needs, as pure
 * functions over bytes: header fields with folding, RFC 2047 encoded words,
 * Content-Type parameters, quoted-printable and base64 bodies, charsets to
 * UTF-8 (iconv), multipart (the text/plain part of multipart/alternative).
 * Everything returned is malloc'd, NUL-terminated and valid UTF-8.
 */
#ifndef LP_MIME_H
#define LP_MIME_H

#include <stddef.h>
#include <stdint.h>

#define LP_MIME_MAX_HEADERS	512	/* more fields are ignored */
#define LP_MIME_MAX_DEPTH	8	/* nested multiparts */

struct lp_mime_field {
	char	*name;		/* as written */
	char	*value;		/* unfolded, trimmed, raw bytes */
};

struct lp_mime {
	struct lp_mime_field	*fields;
	size_t			 nfields;
	const uint8_t		*body;	/* points into the input */
	size_t			 bodylen;
};

/* Split an entity into header fields and body. Never fails: garbage
 * becomes fewer fields. */
void		 lp_mime_parse(const uint8_t *, size_t, struct lp_mime *);
void		 lp_mime_clear(struct lp_mime *);

/* The n-th field (0 = first) of that name, case-insensitive; raw. */
const char	*lp_mime_get(const struct lp_mime *, const char *name,
		    size_t n);
size_t		 lp_mime_count(const struct lp_mime *, const char *name);

/* A header value decoded to UTF-8: RFC 2047 encoded words, raw 8-bit. */
char		*lp_mime_decode_header(const char *raw);

/* One parameter of a structured value (Content-Type: ...; charset=x),
 * unquoted; NULL if absent. */
char		*lp_mime_param(const char *value, const char *param);

/* The readable text of an entity: the text/plain part (decoded from its
 * transfer encoding and charset, CRLF turned into LF), or "" when the mail
 * has no text. *len gets the length without the NUL. */
char		*lp_mime_text(const struct lp_mime *, size_t *len);

/* Building blocks, exported for the unit tests. Outputs are malloc'd and
 * NUL-terminated; *outlen excludes the NUL. */
uint8_t		*lp_mime_qp_decode(const uint8_t *, size_t, int header,
		    size_t *outlen);
uint8_t		*lp_mime_b64_decode(const uint8_t *, size_t,
		    size_t *outlen);
/* Convert from charset (NULL or unknown: UTF-8, else Latin-1) to UTF-8;
 * bad sequences become U+FFFD. */
char		*lp_mime_to_utf8(const char *charset, const uint8_t *,
		    size_t, size_t *outlen);

#endif
