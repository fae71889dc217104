/*
 * fake_dockerd.h - a fake Docker Engine for the unit tests: fake_http.h's
 * server on a unix socket, with an engine handle opened on it.
 */
#ifndef FAKE_DOCKERD_H
#define FAKE_DOCKERD_H

#include <criterion/criterion.h>

#include "engine.h"
#include "fake_http.h"

/* Starts a server answering routes and opens *e on it. */
static inline void fake_dockerd_start(struct fake_http *f, const struct fake_route *routes,
                                      struct engine **e)
{
    struct tt_err err = {0};
    fake_http_start_unix(f, routes);
    cr_assert_eq(engine_open(f->url, e, &err), 0, "%s", err.msg);
}

static inline void fake_dockerd_stop(struct fake_http *f, struct engine **e)
{
    engine_close(*e);
    *e = NULL;
    fake_http_stop(f);
}

#endif
