/*
 * compose_out.h - the normalized model as data: JSON (jansson) and YAML.
 *
 * Used by `ttdeploy config` and `ttdeploy graph`, and by tests that
 * compare the model with what docker-compose printed.
 */
#ifndef COMPOSE_OUT_H
#define COMPOSE_OUT_H

#include <jansson.h>

#include "buf.h"
#include "compose.h"
#include "dag.h"

/* A new JSON object for the project (the caller json_decref()s it). */
json_t *compose_out_project(const struct compose_project *p);
/* A new JSON object: {"layers": [[names]...], "edges": [{from,to,condition,required}]}. */
json_t *compose_out_graph(const struct dag *d);
/* Appends v as block-style YAML, mapping keys sorted. */
void compose_out_yaml(const json_t *v, struct buf *out);

/* A string list as a JSON array of strings (a new reference). */
json_t *compose_strv_json(const struct strv *s);

#endif
