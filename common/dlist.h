/*
 * dlist.h - an intrusive doubly-linked list: a struct that can be on a list embeds a
 * dd_dlink, and the list is a pointer to its first link (NULL: empty). Adding and
 * removing are O(1) and allocate nothing; the caller does the locking. DD_CONTAINER
 * gives the struct a link is embedded in.
 */
#ifndef DD_DLIST_H
#define DD_DLIST_H

#include <stddef.h>

typedef struct dd_dlink {
    struct dd_dlink *prev, *next;
} dd_dlink;

#define DD_CONTAINER(link, type, member) ((type *)((char *)(link) - offsetof(type, member)))

/* Put `l` (on no list) first on the list *head. */
static inline void dd_dlist_push(dd_dlink **head, dd_dlink *l)
{
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
}

/* Take `l` off the list *head it is on. */
static inline void dd_dlist_remove(dd_dlink **head, dd_dlink *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

#endif
