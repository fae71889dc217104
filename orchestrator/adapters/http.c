/*
 * http.c - one blocking GET with libcurl's easy interface, for verify's
 * probes from the host, and one POST of a JSON body, for notify's
 * webhooks.  No retries here: the caller counts failures and decides how
 * many requests to send before its deadline.
 */
#include "http.h"
#include "interrupt.h"

#include <curl/curl.h>
#include <string.h>

/* The body kept: its first HTTP_BODY_MAX bytes, and how long it was. */
struct body {
    struct buf *b;
    size_t base;     /* b's length before: what was there is not ours */
    long long total; /* bytes received */
};

/* libcurl hands the response over in pieces: the first HTTP_BODY_MAX bytes are kept, the rest
 * read (the request's time is the whole answer's) and counted. */
static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
    struct body *body = userdata;
    size_t len = size * n, have = body->b->len - body->base;

    body->total += (long long)len;
    if (have < HTTP_BODY_MAX)
        buf_add(body->b, ptr, len < HTTP_BODY_MAX - have ? len : HTTP_BODY_MAX - have);
    return len;
}

/* A body cut at HTTP_BODY_MAX starts with a note saying so. */
static void note_cut(const struct body *body)
{
    struct buf note = {0};

    if (body->total <= HTTP_BODY_MAX)
        return;
    buf_printf(&note, "body cut: kept the first %d of %lld bytes\n", HTTP_BODY_MAX, body->total);
    buf_grow(body->b, note.len);
    memmove(body->b->data + body->base + note.len, body->b->data + body->base,
            body->b->len - body->base + 1);
    memcpy(body->b->data + body->base, note.data, note.len);
    body->b->len += note.len;
    buf_release(&note);
}

int http_get(const char *url, long timeout_ms, long *status, struct buf *body, struct tt_err *err)
{
    CURL *curl = curl_easy_init();
    struct body kept = {body, body->len, 0};
    char errbuf[CURL_ERROR_SIZE] = "";

    *status = 0;
    if (!curl)
        return tt_error(err, "cannot initialise libcurl");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &kept);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    note_cut(&kept);
    if (rc != CURLE_OK)
        return tt_error(err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return 0;
}

/* The answer's body is not kept: a webhook's reply says nothing the caller needs. */
static size_t drop_data(char *ptr, size_t size, size_t n, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * n;
}

/* Non-zero aborts the transfer: a stop signal arrived. */
static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)p, (void)dt, (void)dn, (void)ut, (void)un;
    return interrupt_signal() != 0;
}

int http_post(const char *url, const struct strv *headers, const char *body, long timeout_ms,
              long *status, struct tt_err *err)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";

    *status = 0;
    if (!curl)
        return tt_error(err, "cannot initialise libcurl");
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; headers && i < headers->n; i++)
        list = curl_slist_append(list, headers->v[i]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ttdeploy");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, drop_data);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return tt_error(err, "interrupted by a stop signal");
    if (rc != CURLE_OK)
        return tt_error(err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return 0;
}

char *http_url_origin(const char *url)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        struct buf b = {0};
        buf_printf(&b, "%s://%s", scheme, host);
        if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            buf_printf(&b, ":%s", port);
        out = buf_detach(&b);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(h);
    return out;
}

char *http_url_host(const char *url)
{
    CURLU *h = curl_url();
    char *host = NULL, *out = NULL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        out = xstrdup(host);
    curl_free(host);
    curl_url_cleanup(h);
    return out;
}

char *http_url_with_host(const char *url, const char *host)
{
    CURLU *h = curl_url();
    char *text = NULL, *out = NULL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(h, CURLUPART_HOST, host, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_URL, &text, 0) == CURLUE_OK)
        out = xstrdup(text);
    curl_free(text);
    curl_url_cleanup(h);
    return out;
}
