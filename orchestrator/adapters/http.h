/*
 * http.h - plain HTTP requests from this host, through libcurl: what the
 * verify phase's http checks send when they run from the host rather than
 * from inside a service's container.  The Docker daemon has its own
 * client (engine.h); this one knows nothing of Docker.
 */
#ifndef HTTP_H
#define HTTP_H

#include "buf.h"
#include "strv.h"
#include "tterr.h"

/* What is kept of a body: its first bytes, this many. */
#define HTTP_BODY_MAX (1024 * 1024)

/*
 * GETs url, waiting at most timeout_ms for the whole request (connecting
 * included).  Returns 0 when the server answered, whatever the status:
 * *status receives the HTTP status and body (appended to) what came back:
 * its first HTTP_BODY_MAX bytes, after "body cut: kept the first 1048576
 * of N bytes\n" when it was longer (the rest is read and counted, not
 * kept, so the request's time is still the whole answer's).
 * Returns -1 when no answer came (refused, timed out, a malformed URL):
 * *status is 0 and err says why, in libcurl's words.
 */
int http_get(const char *url, long timeout_ms, long *status, struct buf *body, struct tt_err *err);

/*
 * POSTs body as application/json to url (http or https only, no
 * redirects followed), with headers ("Name: value" lines, may be NULL),
 * waiting at most timeout_ms for the whole request.  The answer's body is
 * read and dropped.  Returns 0 when the server answered, whatever the
 * status (*status receives it); -1 when no answer came: *status is 0 and
 * err says why in libcurl's words (which never hold the URL's path).  A
 * stop signal (interrupt.h) cuts the request short.
 */
int http_post(const char *url, const struct strv *headers, const char *body, long timeout_ms,
              long *status, struct tt_err *err);

/*
 * "scheme://host" or "scheme://host:port" (the port only when url gives
 * one) of url, with no user, password, path or query: what may be shown
 * of a URL that carries a token (caller frees); NULL when url does not
 * parse.
 */
char *http_url_origin(const char *url);

/* The host of url (caller frees), or NULL when url does not parse. */
char *http_url_host(const char *url);
/* url with its host replaced by host (caller frees), or NULL when url does not parse. */
char *http_url_with_host(const char *url, const char *host);

#endif
