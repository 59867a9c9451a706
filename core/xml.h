/*
 * xml.h: a small strict XML 1.0 reader for AWS query-protocol answers (STS). It checks that the
 * whole document is well formed (every character an XML Char in UTF-8; matching tags; attributes
 * name="v" or name='v', each name once; one root; only blanks, comments and processing
 * instructions around it; an optional XML declaration first), decodes the five predefined
 * entities and character references, reads CDATA sections, skips comments and processing
 * instructions, and refuses any DOCTYPE: no entity is ever expanded. Element names compare by
 * local name (after a prefix's colon). Nesting is limited to DPS__XML_MAX_DEPTH. The input is
 * not NUL-terminated and nothing past its length is read.
 */
#ifndef DPS_CORE_XML_H
#define DPS_CORE_XML_H

#include <stddef.h>

#define DPS__XML_MAX_DEPTH 32
#define DPS__XML_ABSENT 1   /* well formed, no such element */
#define DPS__XML_TOO_LONG 2 /* its text does not fit the buffer */

/*
 * The text directly inside the first element whose path from the root is @p path (@p n local
 * names, path[0] the root's), decoded: character data and CDATA concatenated, comments and
 * processing instructions skipped. An element with a child element in it is malformed for this
 * purpose (it has no text of its own). Copies at most @p out_size - 1 bytes and a NUL into
 * @p out; *@p out_len (when not NULL) gets the whole decoded length.
 * @return 0 found, DPS__XML_ABSENT, DPS__XML_TOO_LONG, or -1 when the document is not well
 *         formed, with @p why saying what and at which byte ("mismatched end tag </b> at byte
 *         41; expected </a>"). The whole document is checked on every call.
 */
int dps__xml_text(const char *xml, size_t len, const char *const *path, size_t n, char *out,
                  size_t out_size, size_t *out_len, char *why, size_t why_len);

#endif
