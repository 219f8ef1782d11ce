/*
 * A push-subunit job (pure): the JSON argument a log-processor client
 * submits, the topic it is published under and the payload.
 *
 * Job argument (puppet-log_processor / project-config submit-log-processor-
 * jobs): {"source_url": URL, "retry": bool, "event": {"fields": {...},
 * "tags": [...]}} where fields has project, build_uuid, build_status,
 * build_queue, build_change, build_ref, ...
 */
#ifndef FH_SUBUNIT_JOB_H
#define FH_SUBUNIT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct subunit_job_info {
	char	*source_url;
	json_t	*fields;	/* the event's fields (a reference) */
	char	*project;
	char	*change;	/* change, else queue, else short ref; or NULL */
	bool	 aborted;	/* build_status ABORTED: nothing to fetch */
};

/* Parse a job argument. Returns 0, or -1 with *errstr (malloc'd) set;
 * info is cleared either way first. */
int	 subunit_job_parse(const uint8_t *buf, size_t len,
	    struct subunit_job_info *info, char **errstr);
void	 subunit_job_clear(struct subunit_job_info *info);

/* "<base>/<host>/<project>/<change>" (the change level is left out when
 * the build has none); '+' and '#' in levels become '_'. NULL if the result
 * is not a valid topic. */
char	*subunit_job_topic(const char *base, const char *host,
	    const struct subunit_job_info *info);

/*
 * The payload: build_uuid, source_url and status first (the original three
 * keys), then error (when there is one), fetched_url and summary (when
 * given; summary is stolen), then every build field not already set.
 */
json_t	*subunit_job_payload(const struct subunit_job_info *info,
	    const char *status, const char *error, const char *fetched_url,
	    json_t *summary);

#endif
