/*
 * The pure half of the ansible source: a POST body (one event object or an
 * array of them, as sent by callback_plugins/firehose.py) becomes a list of
 * (topic, payload) pairs in the original mqtt callback's four topic forms.
 * No I/O, no event loop: unit-tested, golden-tested and fuzzed.
 */
#ifndef ANSIBLE_PARSE_H
#define ANSIBLE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ansible_event {
	char	*topic;		/* "ansible/playbook/<id>/task/<host>/OK" */
	json_t	*payload;	/* a JSON object, owned */
};

struct ansible_parse_error {
	/* The bad field as a path: "" (the body), "[2]", "[2].stats.ok",
	 * "ansible_host". */
	char	field[128];
	char	message[192];
};

/*
 * Parse and validate a whole body under base topic base. All-or-nothing:
 * on success returns 0 with *out (free with ansible_events_free) and *nout
 * set; on any bad event returns -1, fills err and outputs nothing.
 */
int	ansible_parse(const uint8_t *buf, size_t len, const char *base,
	    struct ansible_event **out, size_t *nout,
	    struct ansible_parse_error *err);
void	ansible_events_free(struct ansible_event *, size_t);

#endif
