/* The HTML5 named character references (generated table, src/text/html_entities.c). */
#ifndef RAD_HTML_ENTITIES_H
#define RAD_HTML_ENTITIES_H
#include <stddef.h>

/* The UTF-8 text of the reference `name` (len bytes, without the '&', with the ';' if written), or NULL.
 * Names are exact and case-sensitive, as in Python's html.entities.html5. */
const char *rad_html_entity(const char *name, size_t len);
#endif
