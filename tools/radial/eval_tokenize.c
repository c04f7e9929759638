/* radial eval tokenize --model PATH --text STRING [--max-len N] [--raw]
 * Prints the token ids, space-separated. By default these are the ids Wan feeds to umT5: the prompt cleaned,
 * encoded, truncated to max-len - 1 tokens and closed with eos. --raw prints what spm_encode --output_format=id
 * prints: the sentencepiece ids of the text as given, without cleaning, truncation or eos. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli_args.h"
#include "eval.h"
#include "text/spm.h"
#include "text/t5_tokenize.h"

static int usage(void) {
    fprintf(stderr,
            "usage: radial eval tokenize --model PATH --text STRING [--max-len N] [--raw]\n"
            "  PATH: spiece.model, a folder holding it (tokenizer/, a diffusers or Wan root), or a .safetensors\n"
            "        file with a uint8 tensor spiece_model\n");
    return 2;
}

int eval_tokenize(int argc, char **argv) {
    const char *cmd = "eval tokenize", *model = NULL, *text = NULL;
    long long max_len = RAD_T5_TEXT_LEN;
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--model")) {
            if (!(model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--text")) {
            if (!(text = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--max-len")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_int(cmd, "--max-len", v, 1, 1 << 20, &max_len)) return 2;
        } else if (!strcmp(argv[i], "--raw")) {
            raw = 1;
        } else {
            fprintf(stderr, "radial %s: unknown option '%s'\n", cmd, argv[i]);
            return usage();
        }
    }
    if (!model || !text) return usage();

    rad_spm *spm;
    if (rad_spm_load(model, &spm) != RAD_OK) {
        fprintf(stderr, "radial %s: %s\n", cmd, rad_last_error());
        return 1;
    }
    int32_t *ids;
    size_t n;
    rad_status s = raw ? rad_spm_encode(spm, text, &ids, &n) : rad_t5_tokenize(spm, text, (size_t)max_len, &ids, &n);
    rad_spm_free(spm);
    if (s != RAD_OK) {
        fprintf(stderr, "radial %s: %s\n", cmd, rad_last_error());
        return 1;
    }
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    rad_free(ids);
    return 0;
}
