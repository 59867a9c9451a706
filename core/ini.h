/*
 * ini.h: the parser for the AWS shared config and credentials files (~/.aws/config,
 * ~/.aws/credentials), read the way botocore reads them (Python's RawConfigParser):
 *
 *  - "[name]" opens a section; whitespace inside the brackets is trimmed (botocore keeps it, but
 *    then cannot find such a profile; trimming is what every other AWS SDK does); anything after
 *    the closing "]" is ignored, as configparser does;
 *  - "key = value", "key=value" or "key: value" (configparser accepts both delimiters; the first
 *    one on the line splits); keys are folded to lowercase (configparser's optionxform), section
 *    names are case-sensitive;
 *  - a line whose first non-blank character is '#' or ';' is a comment; there are no inline
 *    comments: "key = v # x" has the value "v # x", exactly as botocore reads it;
 *  - a line indented deeper than the key line above it continues that key's value (joined with
 *    '\n'), which is how sub-sections ("s3 =\n  max_concurrent_requests = 10") are written;
 *    dps__ini_get_nested() reads one key of such a sub-section;
 *  - a "[DEFAULT]" section supplies values to every other section of the same file (configparser);
 *  - LF, CRLF and lone CR line ends; a missing final newline is fine;
 *  - a section repeated is merged into the first and a key repeated keeps its last value (botocore
 *    rejects both with ConfigParseError; we are lenient on purpose: the intent is plain).
 *
 * Errors name the file and the line, never the line's text: the line may hold a secret.
 */
#ifndef DPS_CORE_INI_H
#define DPS_CORE_INI_H

#include <stddef.h>

#include "dpstatus.h"

typedef struct dps__ini dps__ini;

/* Files above this size are refused (a mistaken AWS_CONFIG_FILE=/dev/zero must not hang us). */
#define DPS__INI_MAX_BYTES ((size_t)4 << 20)

/*
 * Reads and parses the file at @p path. @p what names the file in messages ("credentials file",
 * "config file"): errors read `credentials file /x line 7: expected "key = value"`.
 *
 * A file that does not exist (ENOENT, ENOTDIR) is not an error: returns 0 with *out = NULL.
 *
 * @return 0 with *out owned by the caller (dps__ini_free), or
 *         DPS_EIO     the file exists but cannot be read (permissions, a directory, too big),
 *         DPS_ECONFIG a line is malformed (the message names the line),
 *         DPS_ENOMEM.
 */
int dps__ini_load(const char *path, const char *what, dps__ini **out, dps_error *err);

/* Parses @p len bytes of @p data; @p name stands for the file in messages. Same returns as
 * dps__ini_load except that *out is never NULL on success. */
int dps__ini_parse(const char *data, size_t len, const char *name, dps__ini **out, dps_error *err);

/* Frees @p ini and overwrites every value first: credentials files hold secrets. NULL is fine. */
void dps__ini_free(dps__ini *ini);

/* The file name given to load/parse, for messages. */
const char *dps__ini_name(const dps__ini *ini);

/* Sections in file order, "[DEFAULT]" excluded (it is not a section for configparser either). */
size_t dps__ini_section_count(const dps__ini *ini);
const char *dps__ini_section_name(const dps__ini *ini, size_t i);

/* The value of @p key (any case) in section @p i, falling back to [DEFAULT]; NULL when absent.
 * A key present with nothing after "=" has the value "". Multi-line values keep their '\n's. */
const char *dps__ini_section_get(const dps__ini *ini, size_t i, const char *key);

/* Index of the section named exactly @p section, or -1. */
long dps__ini_find(const dps__ini *ini, const char *section);

/* The value of @p key in @p section (see dps__ini_section_get); NULL when either is absent. */
const char *dps__ini_get(const dps__ini *ini, const char *section, const char *key);

/*
 * Reads @p subkey of the sub-section written as "key =" followed by indented "subkey = value"
 * lines, into @p out (NUL-terminated). Returns 1 when found, 0 when the key, the sub-section or
 * the subkey is absent, DPS_ECONFIG (naming file, section and key) when the sub-section has a
 * line without "=" (botocore refuses those too), or when the value does not fit @p outsz.
 */
int dps__ini_get_nested(const dps__ini *ini, const char *section, const char *key,
                        const char *subkey, char *out, size_t outsz, dps_error *err);

#endif
