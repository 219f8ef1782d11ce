/*
 * The topic tree. Exact children of a node are kept in an array sorted
 * by level, found by binary search; '+' and '#' children have their own
 * slots. Nodes with nothing left in them are pruned.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/xmalloc.h"
#include "lib/mqtt/packet.h"
#include "sinks/mqtt/topic.h"

struct topic_sub {
	struct topic_owner	*owner;
	uint8_t			 qos;
};

/* One per topic level in use: pointers, then 32-bit counts (80 B). */
struct topic_node {
	struct topic_node	 *parent;
	char			 *level;
	struct topic_node	**children;	/* sorted, exact levels */
	struct topic_node	 *plus, *hash;
	struct topic_sub	 *subs;
	void			 *retained;
	uint32_t		  level_len;	/* a topic is < 64 kB */
	uint32_t		  nchildren, capchildren;
	uint32_t		  nsubs, capsubs;
};

struct topic_tree {
	struct topic_node	 root;
	uint64_t		 gen;
	struct topic_owner	**vec;
	size_t			  nvec, capvec;
	size_t			  nsubs, nretained;
	topic_retain_free_cb	  free_cb;
};

struct topic_tree *
topic_tree_create(topic_retain_free_cb free_cb)
{
	struct topic_tree	*t = fh_xcalloc(1, sizeof *t);

	t->free_cb = free_cb;
	return t;
}

static void
topic_node_free(struct topic_tree *t, struct topic_node *n)
{
	size_t	i;

	for (i = 0; i < n->nchildren; i++)
		topic_node_free(t, n->children[i]);
	if (n->plus != NULL)
		topic_node_free(t, n->plus);
	if (n->hash != NULL)
		topic_node_free(t, n->hash);
	if (n->retained != NULL && t->free_cb != NULL)
		t->free_cb(n->retained);
	free(n->children);
	free(n->subs);
	free(n->level);
	if (n != &t->root)
		free(n);
}

void
topic_tree_free(struct topic_tree *t)
{
	if (t == NULL)
		return;
	topic_node_free(t, &t->root);
	free(t->vec);
	free(t);
}

/* Split the next level off s: returns its length; *more tells whether a
 * '/' follows (and so another, possibly empty, level). */
static size_t
topic_level(const char *s, size_t len, bool *more)
{
	const char	*slash = memchr(s, '/', len);

	*more = slash != NULL;
	return slash ? (size_t)(slash - s) : len;
}

static int
topic_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int	c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Binary search: the index of level, or where it would go. */
static size_t
topic_find(const struct topic_node *n, const char *level, size_t len,
    bool *found)
{
	size_t	lo = 0, hi = n->nchildren, mid;
	int	c;

	*found = false;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = topic_cmp(n->children[mid]->level,
		    n->children[mid]->level_len, level, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct topic_node *
topic_child(const struct topic_node *n, const char *level, size_t len)
{
	bool	found;
	size_t	i;

	if (len == 1 && level[0] == '+')
		return n->plus;
	if (len == 1 && level[0] == '#')
		return n->hash;
	i = topic_find(n, level, len, &found);
	return found ? n->children[i] : NULL;
}

static struct topic_node *
topic_child_add(struct topic_node *n, const char *level, size_t len)
{
	struct topic_node	*c;
	bool			 found;
	size_t			 i = 0;

	if ((c = topic_child(n, level, len)) != NULL)
		return c;
	c = fh_xcalloc(1, sizeof *c);
	c->parent = n;
	c->level = fh_xstrndup(level, len);
	c->level_len = len;
	if (len == 1 && level[0] == '+')
		n->plus = c;
	else if (len == 1 && level[0] == '#')
		n->hash = c;
	else {
		i = topic_find(n, level, len, &found);
		if (n->nchildren == n->capchildren) {
			n->capchildren = n->capchildren ? n->capchildren * 2 : 4;
			n->children = fh_xrealloc(n->children,
			    n->capchildren * sizeof *n->children);
		}
		memmove(n->children + i + 1, n->children + i,
		    (n->nchildren - i) * sizeof *n->children);
		n->children[i] = c;
		n->nchildren++;
	}
	return c;
}

static bool
topic_node_is_empty(const struct topic_node *n)
{
	return n->nchildren == 0 && n->plus == NULL && n->hash == NULL &&
	    n->nsubs == 0 && n->retained == NULL;
}

/* Remove empty nodes from n up towards the root. */
static void
topic_prune(struct topic_tree *t, struct topic_node *n)
{
	struct topic_node	*p;
	bool			 found;
	size_t			 i;

	while (n != &t->root && topic_node_is_empty(n)) {
		p = n->parent;
		if (p->plus == n)
			p->plus = NULL;
		else if (p->hash == n)
			p->hash = NULL;
		else {
			i = topic_find(p, n->level, n->level_len, &found);
			if (found) {
				memmove(p->children + i, p->children + i + 1,
				    (p->nchildren - i - 1) *
				    sizeof *p->children);
				p->nchildren--;
			}
		}
		topic_node_free(t, n);
		n = p;
	}
}

/* The node of a filter or topic; created when add is set. */
static struct topic_node *
topic_walk(struct topic_tree *t, const char *s, size_t len, bool add)
{
	struct topic_node	*n = &t->root;
	size_t			 l;
	bool			 more = true;

	while (more) {
		l = topic_level(s, len, &more);
		n = add ? topic_child_add(n, s, l) : topic_child(n, s, l);
		if (n == NULL)
			return NULL;
		if (more) {
			s += l + 1;
			len -= l + 1;
		}
	}
	return n;
}

int
topic_subscribe(struct topic_tree *t, const char *filter, size_t len,
    struct topic_owner *owner, uint8_t qos)
{
	struct topic_node	*n = topic_walk(t, filter, len, true);
	size_t			 i;

	for (i = 0; i < n->nsubs; i++) {
		if (n->subs[i].owner == owner) {
			n->subs[i].qos = qos;
			return 0;
		}
	}
	if (n->nsubs == n->capsubs) {
		n->capsubs = n->capsubs ? n->capsubs * 2 : 1;
		n->subs = fh_xrealloc(n->subs, n->capsubs * sizeof *n->subs);
	}
	n->subs[n->nsubs].owner = owner;
	n->subs[n->nsubs].qos = qos;
	n->nsubs++;
	t->nsubs++;
	return 1;
}

int
topic_unsubscribe(struct topic_tree *t, const char *filter, size_t len,
    struct topic_owner *owner)
{
	struct topic_node	*n = topic_walk(t, filter, len, false);
	size_t			 i;

	if (n == NULL)
		return -1;
	for (i = 0; i < n->nsubs; i++) {
		if (n->subs[i].owner == owner) {
			/* keep the order: delivery order follows it */
			memmove(n->subs + i, n->subs + i + 1,
			    (n->nsubs - i - 1) * sizeof *n->subs);
			n->nsubs--;
			t->nsubs--;
			topic_prune(t, n);
			return 0;
		}
	}
	return -1;
}

size_t
topic_subscription_count(const struct topic_tree *t)
{
	return t->nsubs;
}

static void
topic_add_subs(struct topic_tree *t, const struct topic_node *n)
{
	struct topic_owner	*o;
	size_t			 i;

	for (i = 0; i < n->nsubs; i++) {
		o = n->subs[i].owner;
		if (o->mark != t->gen) {
			o->mark = t->gen;
			o->qos = n->subs[i].qos;
			if (t->nvec == t->capvec) {
				t->capvec = t->capvec ? t->capvec * 2 : 16;
				t->vec = fh_xrealloc(t->vec,
				    t->capvec * sizeof *t->vec);
			}
			t->vec[t->nvec++] = o;
		} else if (n->subs[i].qos > o->qos)
			o->qos = n->subs[i].qos;
	}
}

/* s points at the start of a level of the topic (at least one remains). */
static void
topic_match_level(struct topic_tree *t, const struct topic_node *n,
    const char *s, size_t len, bool first)
{
	const struct topic_node	*c;
	size_t			 l;
	bool			 more, wild = !(first && len > 0 && s[0] == '$');

	l = topic_level(s, len, &more);
	if (wild && n->hash != NULL)
		topic_add_subs(t, n->hash);
	if (wild && n->plus != NULL) {
		if (more)
			topic_match_level(t, n->plus, s + l + 1, len - l - 1,
			    false);
		else {
			topic_add_subs(t, n->plus);
			if (n->plus->hash != NULL)
				topic_add_subs(t, n->plus->hash);
		}
	}
	if ((c = topic_child(n, s, l)) == NULL || c == n->plus ||
	    c == n->hash)
		return;
	if (more)
		topic_match_level(t, c, s + l + 1, len - l - 1, false);
	else {
		topic_add_subs(t, c);
		if (c->hash != NULL)	/* "a/#" matches "a" */
			topic_add_subs(t, c->hash);
	}
}

size_t
topic_match(struct topic_tree *t, const char *topic, size_t len,
    struct topic_owner ***out)
{
	t->gen++;
	t->nvec = 0;
	if (t->nsubs > 0)
		topic_match_level(t, &t->root, topic, len, true);
	*out = t->vec;
	return t->nvec;
}

void
topic_retain_set(struct topic_tree *t, const char *topic, size_t len,
    void *msg)
{
	struct topic_node	*n;

	n = topic_walk(t, topic, len, msg != NULL);
	if (n == NULL)
		return;
	if (n->retained != NULL) {
		if (t->free_cb != NULL)
			t->free_cb(n->retained);
		t->nretained--;
	}
	n->retained = msg;
	if (msg != NULL)
		t->nretained++;
	else
		topic_prune(t, n);
}

size_t
topic_retain_count(const struct topic_tree *t)
{
	return t->nretained;
}

/* Every retained message at n and below; at the root, skip '$' topics. */
static void
topic_retain_all(const struct topic_node *n, bool first, topic_retain_cb cb,
    void *arg)
{
	size_t	i;

	if (n->retained != NULL)
		cb(n->retained, arg);
	for (i = 0; i < n->nchildren; i++) {
		if (first && n->children[i]->level_len > 0 &&
		    n->children[i]->level[0] == '$')
			continue;
		topic_retain_all(n->children[i], false, cb, arg);
	}
}

static void
topic_retain_level(const struct topic_node *n, const char *s, size_t len,
    bool first, topic_retain_cb cb, void *arg)
{
	const struct topic_node	*c;
	size_t			 l, i;
	bool			 more;

	l = topic_level(s, len, &more);
	if (l == 1 && s[0] == '#') {
		/* "a/#" includes "a" itself; the root holds nothing */
		topic_retain_all(n, first, cb, arg);
		return;
	}
	if (l == 1 && s[0] == '+') {
		for (i = 0; i < n->nchildren; i++) {
			c = n->children[i];
			if (first && c->level_len > 0 && c->level[0] == '$')
				continue;
			if (more)
				topic_retain_level(c, s + 2, len - 2, false,
				    cb, arg);
			else if (c->retained != NULL)
				cb(c->retained, arg);
		}
		return;
	}
	if ((c = topic_child(n, s, l)) == NULL)
		return;
	if (more)
		topic_retain_level(c, s + l + 1, len - l - 1, false, cb, arg);
	else if (c->retained != NULL)
		cb(c->retained, arg);
}

void
topic_retain_match(struct topic_tree *t, const char *filter, size_t len,
    topic_retain_cb cb, void *arg)
{
	if (t->nretained > 0)
		topic_retain_level(&t->root, filter, len, true, cb, arg);
}

bool
topic_depth_ok(const void *topic, size_t len)
{
	const char	*p = topic, *end = p + len;
	size_t		 n = 0;

	while ((p = memchr(p, '/', (size_t)(end - p))) != NULL) {
		if (++n > TOPIC_MAX_SEPARATORS)
			return false;
		p++;
	}
	return true;
}

/* Filter against topic with no tree: for the ACL and anything else that
 * holds one filter. */
bool
topic_matches(const char *f, const char *t)
{
	return mqtt_topic_matches(f, t, strlen(t));
}
