/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Doubly linked lists in systemd's style (src/basic/list.h): the links
 * live in the item (LIST_FIELDS), the head is a plain pointer, and
 * removal needs no walk.
 *
 *   struct Item { LIST_FIELDS(Item, items); ... };
 *   Item *head = NULL;
 *   LIST_PREPEND(items, head, item);
 *   LIST_FOREACH(items, i, head) ...
 *   LIST_REMOVE(items, head, item);
 */

#include <assert.h>
#include <stddef.h>

#define LIST_FIELDS(t, name) t *name##_next, *name##_prev

#define LIST_PREPEND(name, head, item)                                  \
        ({                                                              \
                typeof(*(head)) **_head = &(head), *_item = (item);    \
                assert(_item);                                          \
                if ((_item->name##_next = *_head))                      \
                        _item->name##_next->name##_prev = _item;        \
                _item->name##_prev = NULL;                              \
                *_head = _item;                                         \
                _item;                                                  \
        })

#define LIST_REMOVE(name, head, item)                                   \
        ({                                                              \
                typeof(*(head)) **_head = &(head), *_item = (item);    \
                assert(_item);                                          \
                if (_item->name##_next)                                 \
                        _item->name##_next->name##_prev = _item->name##_prev; \
                if (_item->name##_prev)                                 \
                        _item->name##_prev->name##_next = _item->name##_next; \
                else {                                                  \
                        assert(*_head == _item);                        \
                        *_head = _item->name##_next;                    \
                }                                                       \
                _item->name##_next = _item->name##_prev = NULL;         \
                _item;                                                  \
        })

#define LIST_FOREACH(name, i, head) \
        for (typeof(*(head)) *i = (head); i; i = i->name##_next)

/* Safe against removal of i in the body. */
#define LIST_FOREACH_SAFE(name, i, n, head) \
        for (typeof(*(head)) *n, *i = (head); i && ((n = i->name##_next), 1); i = n)
