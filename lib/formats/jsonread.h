/* jsonread.h - reading JSON documents (metrics, histories, checkpoint metadata) into a tree.
 *
 * Promise: json_parse() accepts exactly RFC 8259 JSON (one value, whitespace around it), nesting up to
 * JSONR_MAX_DEPTH levels, strings with every escape (\uXXXX with surrogate pairs, decoded to UTF-8;
 * \u0000 refused), numbers as strtod reads them. Anything else is an error naming the document and the
 * byte offset. Object members keep their order; lookups return the first member of a name. */
#ifndef AUDIOCNN_JSONREAD_H
#define AUDIOCNN_JSONREAD_H

#include <stddef.h>

#define JSONR_MAX_DEPTH 64

typedef enum { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT } JsonType;

typedef struct JsonValue {
    JsonType type;
    int boolean;
    double number;
    char *string;             /* JV_STRING: NUL-terminated UTF-8 */
    size_t n;                 /* JV_ARRAY / JV_OBJECT: number of items */
    struct JsonValue *items;  /* the items (members' values for an object) */
    char **keys;              /* JV_OBJECT: the members' names */
} JsonValue;

/* Returns 0, or -1 with err_set() ("NAME: offset 12: expected ':'"). */
int json_parse(const char *text, size_t len, const char *name, JsonValue *out);
/* json_parse of a whole file. */
int json_read_file(const char *path, JsonValue *out);
void json_value_free(JsonValue *v);

/* The member KEY of an object, or NULL (also when v is NULL or not an object). */
const JsonValue *json_get(const JsonValue *v, const char *key);
/* The member's number, or NaN when absent or not a number. */
double json_get_number(const JsonValue *v, const char *key);

#endif
