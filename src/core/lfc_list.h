/* SPDX-License-Identifier: MIT */
/*
 * An intrusive, circular, doubly linked list with a sentinel head (the
 * shape of the Linux kernel's list_head). No locking: every list says in
 * its owner's field table which lock guards it.
 *
 * A node that is not on any list points at itself (lfc__list_init, and
 * lfc__list_remove leaves it so), so lfc__list_linked() tells whether a
 * node is on a list without a flag beside it.
 */
#ifndef LFC_LIST_H
#define LFC_LIST_H

#include <stdbool.h>

#include "lfc_common.h"

struct lfc__list {
    struct lfc__list *next;
    struct lfc__list *prev;
};

/* An empty list head, or a node that is on no list. */
static inline void
lfc__list_init(struct lfc__list *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool
lfc__list_empty(const struct lfc__list *head)
{
    return head->next == head;
}

/* Whether node n (initialized) is on a list. */
static inline bool
lfc__list_linked(const struct lfc__list *n)
{
    return n->next != n;
}

/* Append n (on no list) at the tail of head. */
static inline void
lfc__list_push_back(struct lfc__list *head, struct lfc__list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Take n off its list; n then is on no list. */
static inline void
lfc__list_remove(struct lfc__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    lfc__list_init(n);
}

/* Move every node of `from` to the tail of `to`, in order; `from` is
 * left empty. */
static inline void
lfc__list_splice_back(struct lfc__list *to, struct lfc__list *from)
{
    if (lfc__list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    lfc__list_init(from);
}

/* The first node of head, or NULL if it is empty. */
static inline struct lfc__list *
lfc__list_first(const struct lfc__list *head)
{
    return lfc__list_empty(head) ? NULL : head->next;
}

/* for (it = each node of head, oldest first); the body must not remove
 * `it` (it may stop the loop after removing it). */
#define lfc__list_for_each(it, head)                                           \
    for ((it) = (head)->next; (it) != (head); (it) = (it)->next)

#define lfc__list_entry(ptr, type, member) lfc_container_of(ptr, type, member)

#endif /* LFC_LIST_H */
