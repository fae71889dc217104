/*
 * markup.h - text written into XML (the SVG timeline, JUnit reports, the
 * HTML report), escaped so that any service name, check detail or error
 * message stays text: & < > " ' become entities, characters XML 1.0 does
 * not allow (control characters but tab and newline, U+FFFE, U+FFFF) and
 * bytes that are not UTF-8 become U+FFFD.  Private to deploy/.
 */
#ifndef MARKUP_H
#define MARKUP_H

#include <stdio.h>

/* Writes s (NULL: nothing) as XML character data. */
void markup_text(FILE *out, const char *s);
/* Writes s (NULL: nothing) as the value of an attribute: newlines and tabs as references too. */
void markup_attr(FILE *out, const char *s);

#endif
