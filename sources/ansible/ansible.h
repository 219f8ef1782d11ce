/* The ansible source: an HTTP endpoint for callback_plugins/firehose.py. */
#ifndef ANSIBLE_H
#define ANSIBLE_H

#include "gateway/module.h"

extern const struct fh_source_ops fh_source_ansible;

#endif
