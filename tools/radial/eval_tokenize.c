/* radial eval tokenize: prints the token ids, space-separated. By default these are the ids Wan feeds to umT5:
 * the prompt cleaned, encoded, truncated to max-len - 1 tokens and closed with eos. --raw prints what spm_encode
 * --output_format=id prints: the sentencepiece ids of the text as given, without cleaning, truncation or eos. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli_args.h"
#include "eval.h"
#include "text/spm.h"
#include "text/t5_tokenize.h"

static const char *CMD = "eval tokenize";

static const cli_usage usage = {
    .synopsis = "radial eval tokenize --model PATH --text STRING [options]",
    .about = "Prints the token ids, space-separated: by default the ids Wan feeds to umT5 (the prompt cleaned, "
             "encoded, truncated to max-len - 1 tokens and closed with eos).",
};

int eval_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    int max_len = RAD_T5_TEXT_LEN;
    bool raw = false;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "PATH",
         .help = "spiece.model, a folder holding it (tokenizer/, a diffusers or Wan root), or a .safetensors file "
                 "with a uint8 tensor spiece_model"},
        {"--text", NULL, CLI_TEXT, .value = &text, .arg = "STRING", .help = "the text to tokenize"},
        {"--max-len", NULL, CLI_INT, .value = &max_len, .min = 1, .max = 1 << 20,
         .help = "the encoder's length: at most N - 1 tokens, then eos"},
        {"--raw", NULL, CLI_SWITCH, .value = &raw,
         .help = "what spm_encode --output_format=id prints: the sentencepiece ids of the text as given, without "
                 "cleaning, truncation or eos"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (!model || !text) return cli_usage_error(CMD, "--model and --text are required");

    rad_spm *spm;
    if (rad_spm_load(model, &spm) != RAD_OK) return cli_error(CMD);
    int32_t *ids;
    size_t n;
    rad_status s = raw ? rad_spm_encode(spm, text, &ids, &n) : rad_t5_tokenize(spm, text, (size_t)max_len, &ids, &n);
    rad_spm_free(spm);
    if (s != RAD_OK) return cli_error(CMD);
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    rad_free(ids);
    return 0;
}
