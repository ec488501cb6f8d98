/* test_list_options.c: list-valued and stored layer options (kernel = [3, 3], padding = same,
 * stored scalars) on a probe type: parsing, the messages for bad values, where the values are
 * kept, their written form, the cache digest and the documentation row. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option probe_kernel = {
    .name = "kernel", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = 1 << 20, .defs = {1, 1}, .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_REPARAMS,
    .doc = "the kernel"};
static const layer_option probe_groups = {
    .name = "groups", .kind = LOPT_INTEGER, .lo = 1, .hi = 1 << 20, .def = 1,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_REPARAMS, .doc = "groups"};
static const layer_option probe_padding = {
    .name = "padding", .kind = LOPT_PADDING, .hi = 1 << 20, .defs = {PAD_VALID},
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_RESHAPES, .doc = "the padding"};
static const layer_option *const probe_options[] = {
    &layer_opt_n_out, &probe_kernel, &probe_groups, &probe_padding, NULL};
static const layer_type probe = {.name = "probe", .options = probe_options};

static char *said;
static size_t said_len;
static FILE *said_fp;
static diag_ctx *d;

static void open_diag(void)
{
    said_fp = open_memstream(&said, &said_len);
    cr_assert(said_fp);
    d = diag_new(said_fp, DIAG_COLOR_NEVER);
}

static void close_diag(void)
{
    diag_free(d);
    fclose(said_fp);
    free(said);
}

/* Sets key to the script value text; returns layer_set_option's result. */
static int set_text(layer *L, const char *key, const char *text)
{
    conf_value *v = conf_parse_text(text, loc_none(), NULL);
    cr_assert(v, "%s does not parse", text);
    int rc = layer_set_option(L, key, loc_none(), v, d);
    conf_value_free(v);
    fflush(said_fp);
    return rc;
}

static const char *formatted(const layer_option *o, const layer *L, char *buf, size_t n)
{
    double v[LOPT_MAX_VALUES];
    layer_option_get_values(o, L, v);
    return layer_option_format(o, v, buf, n);
}

TestSuite(list_options, .init = open_diag, .fini = close_diag);

Test(list_options, values_are_kept_apart_in_the_storage)
{
    layer *L = layer_new(&probe, "p");
    cr_assert(L);
    char buf[64];
    cr_assert_str_eq(formatted(&probe_kernel, L, buf, sizeof buf), "[1, 1]");
    cr_assert_str_eq(formatted(&probe_padding, L, buf, sizeof buf), "valid");
    cr_assert_eq(layer_option_slot(&probe, &probe_kernel), 0);
    cr_assert_eq(layer_option_slot(&probe, &probe_groups), 2);
    cr_assert_eq(layer_option_slot(&probe, &probe_padding), 3);
    cr_assert_eq(set_text(L, "kernel", "[3, 5]"), 0);
    cr_assert_eq(set_text(L, "groups", "4"), 0);
    cr_assert_eq(set_text(L, "padding", "[1, 2]"), 0);
    cr_assert_eq(set_text(L, "n_out", "7"), 0);
    cr_assert_eq(L->n_out, 7);
    cr_assert_str_eq(formatted(&probe_kernel, L, buf, sizeof buf), "[3, 5]");
    cr_assert_str_eq(formatted(&probe_groups, L, buf, sizeof buf), "4");
    cr_assert_str_eq(formatted(&probe_padding, L, buf, sizeof buf), "[1, 2, 1, 2]");
    cr_assert(!layer_option_is_default(&probe_kernel, L));
    cr_assert(layer_option_written(&probe_padding, L));
    int64_t items[LOPT_MAX_VALUES];
    double v[LOPT_MAX_VALUES];
    layer_option_get_values(&probe_padding, L, v);
    cr_assert_eq(layer_option_list_items(&probe_padding, v, items), 4);
    cr_assert_eq(items[0], 1);
    cr_assert_eq(items[1], 2);
    cr_assert_eq(set_text(L, "kernel", "2"), 0);
    cr_assert_str_eq(formatted(&probe_kernel, L, buf, sizeof buf), "[2, 2]");
    cr_assert_eq(set_text(L, "padding", "same"), 0);
    cr_assert_str_eq(formatted(&probe_padding, L, buf, sizeof buf), "same");
    layer_option_get_values(&probe_padding, L, v);
    cr_assert_eq(layer_option_list_items(&probe_padding, v, items), 0);
    cr_assert_eq(set_text(L, "padding", "[0, 1, 2, 3]"), 0);
    cr_assert_str_eq(formatted(&probe_padding, L, buf, sizeof buf), "[0, 1, 2, 3]");
    char digest[128];
    layer_options_digest(L, digest, sizeof digest);
    cr_assert_str_eq(digest, "probe|0|7|0|0|1|kernel=2,2|groups=4|padding=2,0,1,2,3");
    layer *C = layer_clone(L);
    cr_assert(C);
    cr_assert_str_eq(formatted(&probe_padding, C, buf, sizeof buf), "[0, 1, 2, 3]");
    layer_free(C);
    layer_free(L);
}

Test(list_options, bad_values_are_reported_with_what_they_take)
{
    static const struct {
        const char *key, *text, *message;
    } cases[] = {
        {"kernel", "[3]", "'kernel' takes 2 whole numbers [height, width], got 1"},
        {"kernel", "[3, 0]", "'kernel' must be >= 1, got 0"},
        {"kernel", "[3, 1.5]", "'kernel' must be a whole number, got 1.5"},
        {"kernel", "relu", "'kernel' takes a list of 2 whole numbers [height, width], got a name"},
        {"padding", "sme", "unknown padding 'sme' (did you mean 'same'?)"},
        {"padding", "full", "unknown padding 'full' (same, valid or [top, left, bottom, right])"},
        {"padding", "[1, 2, 3]", "'padding' takes [top, left, bottom, right] or [height, width], "
                                 "got a list of 3"},
        {"padding", "[1, -1]", "'padding' must be >= 0, got -1"},
        {"padding", "true", "'padding' takes same, valid or [top, left, bottom, right], got "
                            "true/false"},
        {"kernal", "3", "unknown option 'kernal' for a probe layer (did you mean 'kernel'?)"},
    };
    layer *L = layer_new(&probe, "p");
    cr_assert(L);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(set_text(L, cases[i].key, cases[i].text), -1, "%s = %s accepted",
                     cases[i].key, cases[i].text);
        cr_expect(strstr(said, cases[i].message), "%s = %s: expected \"%s\", said:\n%s",
                  cases[i].key, cases[i].text, cases[i].message, said);
    }
    char buf[64];
    cr_assert_str_eq(formatted(&probe_kernel, L, buf, sizeof buf), "[1, 1]", "left unchanged");
    cr_assert_str_eq(formatted(&probe_padding, L, buf, sizeof buf), "valid");
    layer_free(L);
}

Test(list_options, documentation_rows_describe_lists)
{
    char *md = layer_options_markdown(&probe);
    cr_assert(md);
    cr_expect(strstr(md, "| `kernel` | 2 integers >= 1, [height, width] (one number: all 2) | "
                         "`[1, 1]` | the kernel |"), "%s", md);
    cr_expect(strstr(md, "| `padding` | `same`, `valid`, [top, left, bottom, right] or [h, w] | "
                         "`valid` | the padding |"), "%s", md);
    free(md);
}
