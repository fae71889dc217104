/*
 * http.c - one blocking GET with libcurl's easy interface, for verify's
 * probes from the host.  No retries here: the caller counts failures and
 * decides how many requests to send before its deadline.
 */
#include "http.h"

#include <curl/curl.h>

/* libcurl hands the response over in pieces; they are kept whole. */
static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
    buf_add(userdata, ptr, size * n);
    return size * n;
}

int http_get(const char *url, long timeout_ms, long *status, struct buf *body, struct tt_err *err)
{
    CURL *curl = curl_easy_init();
    char errbuf[CURL_ERROR_SIZE] = "";

    *status = 0;
    if (!curl)
        return tt_error(err, "cannot initialise libcurl");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return tt_error(err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return 0;
}
