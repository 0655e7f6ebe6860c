/* json.h - a small JSON writer for metrics and histories.
 *
 * Promise: well-formed output (commas and nesting tracked for you, strings escaped, non-finite numbers
 * written as null since JSON has no NaN), numbers with enough digits to round-trip a double. Errors are
 * sticky: check json_error() (or the FILE) at the end. */
#ifndef AUDIOCNN_JSON_H
#define AUDIOCNN_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct JsonWriter {
    FILE *f;
    int depth;
    int count[JSON_MAX_DEPTH]; /* items written at each level */
    int after_key;
    int indent;                /* spaces per level; 0 = compact */
    int error;
} JsonWriter;

void json_init(JsonWriter *w, FILE *f, int indent);
void json_object_begin(JsonWriter *w);
void json_object_end(JsonWriter *w);
void json_array_begin(JsonWriter *w);
void json_array_end(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s);
void json_number(JsonWriter *w, double v);
void json_int(JsonWriter *w, int64_t v);
void json_bool(JsonWriter *w, int v);
void json_null(JsonWriter *w);
int json_error(const JsonWriter *w); /* nonzero if nesting was misused or a write failed */

#endif
