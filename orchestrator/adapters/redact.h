/*
 * redact.h - secrets out of what ttdeploy prints and stores, by parsing:
 * a URL through libcurl's URL API (a postgres:// one through libpq's
 * PQconninfoParse, the parser that will connect with it), a libpq
 * connection string through PQconninfoParse, and known secrets removed
 * from a free text (a libpq or pg_dump error) in every form they may take
 * there.  Nothing here scans a URL's text for "user:password@".
 */
#ifndef REDACT_H
#define REDACT_H

/* What stands where a password was. */
#define REDACTED "<redacted>"

/*
 * url with its password replaced by REDACTED, rebuilt from the parsed
 * parts (scheme, user, host, port, path, query, fragment; a postgres://
 * URL's password given as ?password= goes too).  A url that does not
 * parse is not shown at all: the result says so.  The caller frees.
 */
char *redact_url(const char *url);

/*
 * A libpq connection string (key=value ... or a postgres:// URI) with its
 * password replaced by REDACTED, rebuilt from PQconninfoParse's parts.
 * One that does not parse is not shown (a URL of another scheme goes
 * through redact_url()).  The caller frees.
 */
char *redact_conninfo(const char *conninfo);

/*
 * text with every occurrence of each secret (secrets: NULL-terminated;
 * NULL and "" entries are skipped) replaced by REDACTED, in any form it
 * takes in a message: raw, %-encoded (either case, any byte), escaped by
 * a backslash (as in a quoted conninfo value), a space as '+', or any mix
 * of these byte by byte.  The caller frees.
 */
char *redact_text(const char *text, const char *const *secrets);

/* The password of a URL or connection string, decoded (NULL: none, or it does not parse). */
char *redact_password_of(const char *url_or_conninfo);

#endif
