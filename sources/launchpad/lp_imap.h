/*
 * The few IMAP responses the launchpad source reads itself, pure: the
 * SEARCH result of a libcurl custom request, UIDVALIDITY from STATUS, and
 * the response lines of the IDLE connection. Plus quoting for commands.
 */
#ifndef LP_IMAP_H
#define LP_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_IMAP_MAX_LINE	8192	/* IDLE connection line limit */

enum lp_imap_kind {
	LP_IMAP_UNTAGGED,	/* "* ..." */
	LP_IMAP_CONTINUE,	/* "+ ..." */
	LP_IMAP_TAGGED,		/* "a1 OK ..." */
};

enum lp_imap_status {
	LP_IMAP_NONE,		/* "* 3 EXISTS", "* CAPABILITY ..." */
	LP_IMAP_OK,
	LP_IMAP_NO,
	LP_IMAP_BAD,
	LP_IMAP_BYE,
	LP_IMAP_PREAUTH,
};

struct lp_imap_line {
	enum lp_imap_kind	kind;
	enum lp_imap_status	status;
	char			tag[16];	/* tagged lines */
	uint32_t		number;		/* "* N EXISTS" */
	bool			exists;		/* "* N EXISTS" */
	bool			recent;		/* "* N RECENT" */
	bool			has_idle;	/* CAPABILITY has IDLE */
	size_t			literal;	/* "{n}" at the end */
};

/* One response line without its CRLF. -1 when it is no IMAP line. */
int	lp_imap_parse_line(const uint8_t *, size_t, struct lp_imap_line *);

/* UIDs from "* SEARCH 4 7 9" lines (any number of them, other lines
 * ignored), at most max; sorted, no duplicates. -1 on garbage. */
int	lp_imap_parse_search(const uint8_t *, size_t, uint32_t **uids,
	    size_t *n, size_t max);

/* UIDVALIDITY from "* STATUS box (UIDVALIDITY 3 ...)" or
 * "* OK [UIDVALIDITY 3]"; -1 if absent. */
int	lp_imap_parse_uidvalidity(const uint8_t *, size_t, uint32_t *);

/* An IMAP quoted string ("a \"b\""), NULL when s cannot be quoted (CR,
 * LF, NUL). */
char	*lp_imap_quote(const char *s);

/* "4,7,9" for a UID set. */
char	*lp_imap_uid_set(const uint32_t *, size_t);

#endif
