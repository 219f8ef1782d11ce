/*
 * libFuzzer target: push-subunit job arguments (outside JSON) through
 * parse, topic and payload. A parsed job always has a project, and its
 * topic, when there is one, is a valid topic under the base.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/event.h"
#include "sources/subunit/subunit_job.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct subunit_job_info	 info;
	char			*err = NULL, *topic;
	json_t			*p;

	if (subunit_job_parse(data, len, &info, &err) != 0) {
		if (err == NULL)
			abort();
		free(err);
		return 0;
	}
	if (info.project == NULL || info.fields == NULL)
		abort();
	topic = subunit_job_topic("gearman-subunit", "host", &info);
	if (topic != NULL && (strncmp(topic, "gearman-subunit/host/", 21) != 0 ||
	    strpbrk(topic, "+#") != NULL ||
	    !fh_topic_is_valid(topic, strlen(topic))))
		abort();
	free(topic);
	p = subunit_job_payload(&info, "success", "e", "u", json_object());
	if (json_object_get(p, "status") == NULL)
		abort();
	json_decref(p);
	subunit_job_clear(&info);
	return 0;
}
