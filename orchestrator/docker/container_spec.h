/*
 * container_spec.h - what the Docker Engine is asked to create for a
 * compose service: the container name, the POST /containers/create body,
 * the extra networks to connect, and the config hash that tells whether a
 * running container still matches the compose file.
 *
 * Containers, networks and volumes carry the labels Docker Compose uses
 * (com.docker.compose.project, .service, .container-number, .oneoff,
 * .config-hash, ...), so `docker compose ps` sees ttdeploy's containers
 * and ttdeploy sees compose's.
 */
#ifndef CONTAINER_SPEC_H
#define CONTAINER_SPEC_H

#include <jansson.h>

#include "compose.h"
#include "sha256.h"

#define LABEL_PROJECT "com.docker.compose.project"
#define LABEL_SERVICE "com.docker.compose.service"
#define LABEL_NUMBER "com.docker.compose.container-number"
#define LABEL_ONEOFF "com.docker.compose.oneoff"
#define LABEL_CONFIG_HASH "com.docker.compose.config-hash"
#define LABEL_NETWORK "com.docker.compose.network"
#define LABEL_VOLUME "com.docker.compose.volume"
#define LABEL_WORKING_DIR "com.docker.compose.project.working_dir"
#define LABEL_CONFIG_FILES "com.docker.compose.project.config_files"
#define LABEL_VERSION "com.docker.compose.version"
#define LABEL_MANAGED "dev.ttdeploy.managed"
#define LABEL_SLOT "dev.ttdeploy.slot" /* blue-green: "blue" or "green" */

struct container_spec {
    char *name;             /* container name: container_name, or PROJECT-SERVICE-1 */
    json_t *body;           /* POST /containers/create body */
    json_t *extra_networks; /* [{"network": NAME, "aliases": [...]}] to connect before start */
    char hash[SHA256_HEX_LEN + 1];
    int has_healthcheck; /* compose defines one (the image may still have its own) */
};

/* The Docker name of a project network or volume: PROJECT_NAME. */
char *container_spec_resource_name(const struct compose_project *p, const char *name);

/*
 * Builds the spec of service s.  image_override (may be NULL) replaces the
 * compose image.  Environment entries without a value take the value of
 * the same name from env (the process environment when NULL) or are left
 * out, as docker compose does.
 */
struct container_spec *container_spec_new(const struct compose_project *p,
                                          const struct compose_service *s,
                                          const char *image_override);
void container_spec_free(struct container_spec *c);
/*
 * Makes c the spec of one slot of a blue-green service: named
 * PROJECT-SERVICE-SLOT-1, labelled with its slot, reachable on its networks
 * as SERVICE-SLOT (and as SERVICE only when service_alias: without a
 * proxy, while both slots run, both answer; with one, the proxy decides).
 * The config hash stays that of the service, so either slot can be
 * compared with the release.
 */
void container_spec_set_slot(struct container_spec *c, const struct compose_project *p,
                             const struct compose_service *s, const char *slot, int service_alias);

/* Labels for project networks and volumes. */
json_t *container_spec_network_body(const struct compose_project *p, const char *name);
json_t *container_spec_volume_body(const struct compose_project *p, const char *name);

#endif
