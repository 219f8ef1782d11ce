/*
 * The topic tree: subscriptions with '+' and '#', and retained messages.
 *
 * One node per topic level. Subscribers are opaque owners that embed a
 * struct topic_owner; matching a topic marks each owner once with the
 * highest QoS among its overlapping subscriptions and returns them in a
 * vector that the tree reuses, so a delivery allocates nothing.
 *
 * Topics starting with '$' are not matched by a leading '+' or '#'
 * ([MQTT-4.7.2-1]).
 */
#ifndef MQTT_TOPIC_H
#define MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct topic_tree;

struct topic_owner {
	uint64_t	 mark;		/* the match generation, tree-private */
	uint8_t		 qos;		/* highest QoS of this match */
	bool		 shared;	/* a shared subscription group */
	void		*ctx;		/* the owner's object */
};

/* A retained message is opaque to the tree; free_cb releases it. */
typedef void (*topic_retain_free_cb)(void *msg);
typedef void (*topic_retain_cb)(void *msg, void *arg);

struct topic_tree	*topic_tree_create(topic_retain_free_cb);
void			 topic_tree_free(struct topic_tree *);

/* Returns 1 for a new subscription, 0 when it replaced the QoS of an
 * existing one. The filter must be valid (mqtt_filter_is_valid). */
int	topic_subscribe(struct topic_tree *, const char *filter, size_t len,
	    struct topic_owner *, uint8_t qos);
/* 0 when removed, -1 when there was no such subscription. */
int	topic_unsubscribe(struct topic_tree *, const char *filter, size_t len,
	    struct topic_owner *);
size_t	topic_subscription_count(const struct topic_tree *);

/* Every owner whose subscriptions match topic, once, with owner->qos set
 * to its highest granted QoS. The vector is valid until the next call. */
size_t	topic_match(struct topic_tree *, const char *topic, size_t len,
	    struct topic_owner ***out);

/* Set (msg != NULL) or clear (NULL) the retained message of a topic; the
 * old one is released through free_cb. */
void	topic_retain_set(struct topic_tree *, const char *topic, size_t len,
	    void *msg);
size_t	topic_retain_count(const struct topic_tree *);
/* Call cb for each retained message whose topic matches filter. */
void	topic_retain_match(struct topic_tree *, const char *filter,
	    size_t len, topic_retain_cb cb, void *arg);

/*
 * The tree's walks recurse once per level, so what goes into it (a
 * filter, a retained topic) has at most this many '/' separators, as
 * Mosquitto's TOPIC_HIERARCHY_LIMIT: a 65535-level topic would overflow
 * the stack. Deeper ones are refused before they reach the tree.
 */
#define TOPIC_MAX_SEPARATORS	200
bool	topic_depth_ok(const void *topic, size_t len);

/* Does topic match filter (MQTT wildcard rules incl. '$')? Pure. */
bool	topic_matches(const char *filter, const char *topic);

#endif
