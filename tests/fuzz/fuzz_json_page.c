/* fuzz_json_page.c - libFuzzer target for what an HTTP stream does with a
 * page (adapter/pull.c): parse the body with jansson, find the items array by
 * the stream's dotted path (json_path), read each item's key and mapped paths,
 * and measure each item against max_field / max_record (item_over_limits).
 * The first input byte picks the items path and the limits; the rest is the
 * body. Seeds: tests/fuzz/corpus/json_page/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_internal.h"

static const char *const items_paths[] = {"items", "data.list", "result.rows.items", "", "a..b", "items.0"};
static const char *const cols[] = {"id", "name", "id_no", "person.id_no", "a.b.c.d", ".", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    unsigned sel = data[0];
    const char *ipath = items_paths[sel % (sizeof items_paths / sizeof items_paths[0])];
    json_error_t je;
    json_t *doc = json_loadb((const char *)data + 1, size - 1, 0, &je);
    if (doc == NULL) return 0;
    pull_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.max_field = (sel & 0x40) ? 8 : 4096;
    pc.max_record = (sel & 0x80) ? 32 : 65536;
    json_t *items = ipath[0] ? json_path(doc, ipath) : doc;
    if (json_is_array(items)) {
        size_t n = json_array_size(items);
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_array_get(items, i);
            if (!json_is_object(it)) continue;
            for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
                json_t *v = json_path(it, cols[c]);
                if (json_is_string(v) && strlen(json_string_value(v)) > json_string_length(v)) abort();
            }
            char reason[300];
            if (item_over_limits(&pc, it, reason, sizeof reason) != 0 && reason[0] == '\0') abort();
        }
    }
    json_decref(doc);
    return 0;
}
