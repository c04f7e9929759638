/* The tokenizer against sentencepiece's own output: the golden cases (tests/data/cases/tokenizer.json) and
 * the extra vectors of tests/text/gen_tokenizer_extra.py (tests/data/tokenizer_extra.json: four models,
 * Unicode, malformed UTF-8, byte fallback, merged unknowns, user-defined and UNUSED pieces, a custom charsmap,
 * whitespace as suffix; Wan-level cases with html.unescape and truncation). Ids must match exactly, and so
 * must the pieces and the normalized text. */
#include <jansson.h>
#include <string.h>

#include "base/mem.h"
#include "test_util.h"
#include "text/prompt_clean.h"
#include "text/spm.h"
#include "text/t5_tokenize.h"

static json_t *load_json(const char *rel) {
    char path[1024];
    json_error_t e;
    json_t *j = json_load_file(rad_test_path(path, sizeof path, rel), 0, &e);
    if (!j) fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
    return j;
}

static rad_spm *load_model(const char *rel) {
    char path[1024];
    rad_spm *spm = NULL;
    CHECK_OK(rad_spm_load(rad_test_path(path, sizeof path, rel), &spm));
    return spm;
}

/* Decodes a hex string into buf (which must hold strlen/2 bytes). */
static size_t unhex(const char *hex, char *buf) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (char)v;
    }
    return n;
}

/* The case's text: "text" (UTF-8) or "text_hex" (any bytes). buf holds 64 KiB. */
static size_t case_text(const json_t *c, char *buf) {
    const json_t *t = json_object_get(c, "text");
    if (t) {
        size_t n = json_string_length(t);
        memcpy(buf, json_string_value(t), n);
        return n;
    }
    return unhex(json_string_value(json_object_get(c, "text_hex")), buf);
}

static int ids_equal(const int32_t *ids, size_t n, const json_t *expect, const char *what, size_t index) {
    int ok = n == json_array_size(expect);
    for (size_t i = 0; ok && i < n; i++) ok = ids[i] == json_integer_value(json_array_get(expect, i));
    if (!ok) {
        fprintf(stderr, "%s case %zu: got %zu ids:", what, index, n);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n  expected %zu:", json_array_size(expect));
        for (size_t i = 0; i < json_array_size(expect); i++)
            fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(expect, i)));
        fprintf(stderr, "\n");
    }
    return ok;
}

/* Pieces of known ids must equal the id's piece; merged <unk> pieces carry their surface instead. */
static int pieces_equal(const rad_spm *spm, const int32_t *ids, size_t n, const json_t *pieces) {
    if (json_array_size(pieces) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == rad_spm_unk_id(spm)) continue;
        size_t len;
        const char *p = rad_spm_piece(spm, ids[i], &len);
        const json_t *e = json_array_get(pieces, i);
        if (!p || len != json_string_length(e) || memcmp(p, json_string_value(e), len)) {
            fprintf(stderr, "piece %zu: '%.*s', expected '%s'\n", i, (int)len, p ? p : "", json_string_value(e));
            return 0;
        }
    }
    return 1;
}

static void check_golden(void) {
    json_t *doc = load_json("cases/tokenizer.json");
    CHECK(doc);
    if (!doc) return;
    rad_spm *spm = load_model("tiny-wan/tokenizer");
    if (spm) {
        CHECK(rad_spm_byte_fallback(spm) == json_is_true(json_object_get(doc, "byte_fallback")));
        CHECK(rad_spm_eos_id(spm) == 1 && rad_spm_pad_id(spm) == 0 && rad_spm_bos_id(spm) == 2 &&
              rad_spm_unk_id(spm) == 3);
        CHECK(rad_spm_size(spm) == 1000);
        const json_t *cases = json_object_get(doc, "cases");
        CHECK(json_array_size(cases) >= 8);
        for (size_t i = 0; i < json_array_size(cases); i++) {
            const json_t *c = json_array_get(cases, i);
            const char *prompt = json_string_value(json_object_get(c, "prompt"));
            int32_t *ids;
            size_t n;
            CHECK_OK(rad_spm_encode(spm, prompt, &ids, &n));
            CHECK(ids_equal(ids, n, json_object_get(c, "spm_ids"), "golden spm_ids", i));
            CHECK(pieces_equal(spm, ids, n, json_object_get(c, "pieces")));
            rad_free(ids);
            CHECK_OK(rad_t5_tokenize(spm, prompt, RAD_T5_TEXT_LEN, &ids, &n));
            CHECK(ids_equal(ids, n, json_object_get(c, "ids"), "golden ids", i));
            rad_free(ids);
        }
        rad_spm_free(spm);
    }
    json_decref(doc);
}

static void check_extra_model(const char *name, const json_t *model) {
    rad_spm *spm = load_model(json_string_value(json_object_get(model, "path")));
    if (!spm) return;
    CHECK(rad_spm_byte_fallback(spm) == json_is_true(json_object_get(model, "byte_fallback")));
    static char text[1 << 16], norm_expect[1 << 16];
    const json_t *cases = json_object_get(model, "cases");
    CHECK(json_array_size(cases) > 0);
    int failed = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        size_t len = case_text(c, text);
        int32_t *ids;
        size_t n;
        CHECK_OK(rad_spm_encode_bytes(spm, text, len, &ids, &n));
        int ok = ids_equal(ids, n, json_object_get(c, "ids"), name, i);
        ok = ok && pieces_equal(spm, ids, n, json_object_get(c, "pieces"));
        rad_free(ids);

        char *norm;
        size_t norm_len;
        size_t expect_len = unhex(json_string_value(json_object_get(c, "normalized_hex")), norm_expect);
        CHECK_OK(rad_spm_normalize(spm, text, len, &norm, &norm_len));
        if (norm_len != expect_len || memcmp(norm, norm_expect, norm_len)) {
            fprintf(stderr, "%s case %zu: normalized '%s', expected '%.*s'\n", name, i, norm, (int)expect_len,
                    norm_expect);
            ok = 0;
        }
        rad_free(norm);
        if (!ok) {
            fprintf(stderr, "  text: '%.*s'\n", (int)len, text);
            failed++;
        }
    }
    CHECK(failed == 0);
    printf("%s: %zu cases\n", name, json_array_size(cases));
    rad_spm_free(spm);
}

static void check_extra(void) {
    json_t *doc = load_json("tokenizer_extra.json");
    CHECK(doc);
    if (!doc) return;
    const char *name;
    json_t *model;
    size_t n_models = 0;
    json_object_foreach(json_object_get(doc, "models"), name, model) {
        check_extra_model(name, model);
        n_models++;
    }
    CHECK(n_models == 4);

    rad_spm *spm = load_model(json_string_value(json_object_get(doc, "t5_model")));
    const json_t *cases = json_object_get(doc, "t5_cases");
    CHECK(json_array_size(cases) > 10);
    int saw_truncation = 0;
    for (size_t i = 0; spm && i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(c, "text"));
        const json_t *ml = json_object_get(c, "max_len");
        size_t max_len = ml ? (size_t)json_integer_value(ml) : RAD_T5_TEXT_LEN;
        char *clean;
        size_t clean_len;
        CHECK_OK(rad_prompt_clean(text, strlen(text), &clean, &clean_len));
        const char *expect = json_string_value(json_object_get(c, "clean"));
        if (strcmp(clean, expect)) {
            fprintf(stderr, "t5 case %zu: cleaned '%s', expected '%s'\n", i, clean, expect);
            CHECK(0);
        }
        rad_free(clean);
        int32_t *ids;
        size_t n;
        CHECK_OK(rad_t5_tokenize(spm, text, max_len, &ids, &n));
        CHECK(ids_equal(ids, n, json_object_get(c, "ids"), "t5", i));
        if (n == max_len) saw_truncation++;
        rad_free(ids);
    }
    CHECK(saw_truncation == 2); /* at 512 and at 16 */
    rad_spm_free(spm);
    json_decref(doc);
}

/* The folder layouts rad_spm_load accepts all reach the same model. */
static void check_paths(void) {
    const char *paths[] = {"tiny-wan", "tiny-wan/tokenizer", "tiny-wan/tokenizer/spiece.model"};
    for (size_t i = 0; i < 3; i++) {
        rad_spm *spm = load_model(paths[i]);
        CHECK(spm && rad_spm_size(spm) == 1000);
        rad_spm_free(spm);
    }
}

int main(void) {
    check_golden();
    check_extra();
    check_paths();
    TEST_MAIN_END();
}
