/*
 * compose_int.h - what the files of the compose loader share.  Private to
 * orchestrator/compose/: nothing outside this folder includes it.
 *
 * The loader is spread over files by subject:
 *   compose.c               the top: files, .env, profiles, checks, the project name
 *   compose_service.c       one service mapping's keys -> struct compose_service
 *   compose_ports_volumes.c ports and volumes, short and long syntax
 *   compose_deps.c          depends_on and healthcheck: how services wait for each other
 *   compose_merge.c         laying one service over another: several -f files, extends
 *   compose_values.c        durations, byte sizes and shell words inside values
 *   yread.c                 typed reading of YAML nodes (shared with plans/)
 */
#ifndef COMPOSE_INT_H
#define COMPOSE_INT_H

#include "compose.h"
#include "yread.h"

struct compose_loader {
    const struct compose_options *opts;
    struct compose_project *proj;
    struct vars vars;
    struct yread r;           /* errors to the caller's err; warnings to proj->warnings */
    struct strindex services; /* proj->services by name, while the files are loaded */
};

/* compose.c */
/* Parses and interpolates one file; the project keeps the document.  NULL on error. */
const struct ynode *compose_load_doc(struct compose_loader *l, const char *path, int use_inline);
/* rel against dir ("~/" is $HOME; absolute paths stay); the caller frees. */
char *compose_path_join(const char *dir, const char *rel);
/* The absolute directory of path; the caller frees. */
char *compose_dir_of(const char *path);
/*
 * The directory n's relative paths (env_file, build context, bind
 * sources) resolve against: the project directory for the -f files, the
 * file's own directory for a file reached through extends: file:, as the
 * Compose Specification says ("relative paths ... still point to the same
 * file when used by the extending service").  The caller frees.
 */
char *compose_dir_for(const struct compose_loader *l, const struct ynode *n);
struct compose_service *compose_find_in(struct compose_service **v, size_t n, const char *name);

/* compose_service.c */
void compose_service_init(struct compose_service *s, const char *name);
void compose_service_clear(struct compose_service *s);
void compose_service_free(struct compose_service *s);
/* Fills s from one service mapping (keys not present stay unset). */
int compose_service_parse(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s);
/* Sets key to value (NULL: no value), replacing an earlier value of key. */
void compose_kv_set(struct compose_kvlist *kv, const char *key, const char *value);
const struct compose_kv *compose_kv_find(const struct compose_kvlist *kv, const char *key);
void compose_extra_set(struct compose_service *s, const char *key, const struct ynode *v);

/* compose_ports_volumes.c */
int compose_ports_parse(struct compose_loader *l, const struct ynode *n, struct compose_service *s);
int compose_volumes_parse(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s);
void compose_port_free(struct compose_port *p);
void compose_mount_free(struct compose_mount *m);
/* dst's ports, then src's; volumes: src's replace dst's of the same target. */
void compose_ports_append(struct compose_service *dst, const struct compose_service *src);
void compose_volumes_merge(struct compose_service *dst, const struct compose_service *src);

/* compose_deps.c */
int compose_depends_on_parse(struct compose_loader *l, const struct ynode *n,
                             struct compose_service *s);
void compose_depends_on_merge(struct compose_service *dst, const struct compose_service *src);
/* Checks s's dependencies against the enabled services; drops optional absent ones. */
int compose_depends_on_check(struct compose_loader *l, struct compose_service *s);
void compose_healthcheck_init(struct compose_healthcheck *h);
int compose_healthcheck_parse(struct compose_loader *l, const struct ynode *n,
                              struct compose_healthcheck *h);
void compose_healthcheck_merge(struct compose_healthcheck *dst,
                               const struct compose_healthcheck *src);

/* compose_merge.c */
/* Lays src over dst by the Compose Specification's merge rules. */
void compose_service_merge(struct compose_service *dst, const struct compose_service *src);
/*
 * Builds the service called name in services, resolving extends first;
 * ref is where it was asked for, chain the extends being resolved (for
 * cycles).
 */
int compose_service_build(struct compose_loader *l, const struct ynode *services, const char *name,
                          const struct ynode *ref, struct strv *chain, struct compose_service *out);

#endif
