/*
 * report.h - the incident report of a failed deployment, built from the
 * audit store: the runbooks' post-rollback questions (what triggered it,
 * what was rolled back, could data have been lost, how long was the
 * service degraded) answered from what was recorded.
 */
#ifndef REPORT_H
#define REPORT_H

#include <jansson.h>
#include <stdio.h>

/*
 * The report of deployment (as store_show() returns it, borrowed) as a
 * JSON object the caller json_decref()s.
 */
json_t *report_new(json_t *deployment);
/* The report as Markdown. */
void report_markdown(json_t *report, FILE *out);

#endif
