/*
 * fuzz_config.c - the main.cf-syntax parser (config_load_string) and the
 * $name expansion of every parameter it set, on arbitrary text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scand/config.h"
#include "util/msg.h"

static void visit(void *ctx, const char *name, const char *raw_value, int line)
{
    struct config *config = ctx;
    const char *value;
    char err[256];

    (void)raw_value;
    (void)line;
    (void)config_lookup(config, name, &value, err, sizeof(err));
    (void)config_line(config, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char err[512];
    struct config *config;

    memcpy(text, data, size);
    text[size] = '\0';
    config = config_load_string(text, "fuzz.cf", err, sizeof(err));
    if (config != NULL) {
        config_set(config, "myhostname", "$mydomain.$myhostname");
        config_walk(config, visit, config);
        (void)config_get(config, "myhostname");
        config_free(config);
    }
    free(text);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    msg_open("fuzz_config", 1);
    return 0;
}
