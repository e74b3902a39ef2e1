/*
 * config.h - a configuration file in Postfix main.cf syntax (postconf(5)).
 *
 *  name = value          white space around '=' and at the ends is dropped
 *  # comment             a line whose first non-blank character is '#'
 *  <blank>continuation   a line starting with white space continues the
 *                        previous logical line (joined with one space)
 *  $name, ${name}, $(name)  expand another parameter, recursively, when the
 *                        value is looked up; $$ is a literal '$'.
 *                        ${name?text} and ${name:text} as in Postfix.
 *
 * Errors carry file and line: "scand.conf, line 12: missing '=' ...".
 * A later assignment of the same name replaces the earlier one.
 */
#ifndef SCAND_CONFIG_H
#define SCAND_CONFIG_H

#include <stddef.h>

struct config;

/* Parse a file. On error returns NULL and writes "FILE, line N: what" to err. */
struct config *config_load_file(const char *path, char *err, size_t errlen);
/* Parse text; name is used in error messages in place of a file name. */
struct config *config_load_string(const char *text, const char *name, char *err, size_t errlen);
void config_free(struct config *config);

/* Set (or replace) a parameter's raw value, e.g. built-in defaults. */
void config_set(struct config *config, const char *name, const char *raw_value);
/* The expanded value, or NULL when the name is not set. The string stays
 * valid until the config is freed. An undefined $name expands to "";
 * recursion deeper than 100 levels is an error (NULL and a warning). */
const char *config_get(struct config *config, const char *name);
/* The value as written, without $name expansion (NULL when unset): for
 * templates with names of their own, such as default_rbl_reply. */
const char *config_get_raw(const struct config *config, const char *name);
/* config_get with the error given to the caller: 1 and *value when set,
 * 0 and NULL when not set, -1 with "FILE, line N: parameter NAME: ..." in
 * err when the value cannot be expanded. */
int config_lookup(struct config *config, const char *name, const char **value, char *err,
                  size_t errlen);
/* The line a parameter was set on (0 when set by config_set). */
int config_line(const struct config *config, const char *name);
const char *config_file(const struct config *config);

/* Visit every parameter set in the file, in file order. */
void config_walk(const struct config *config,
                 void (*visit)(void *ctx, const char *name, const char *raw_value, int line),
                 void *ctx);

#endif
