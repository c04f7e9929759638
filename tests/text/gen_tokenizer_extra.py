#!/usr/bin/python3
"""Generates the extra sentencepiece reference vectors of tests/text: tests/data/tokenizer_extra.json and the
small models under tests/data/spm/.

Run from the repository root with Debian's python3-sentencepiece (0.1.97, the system python, not pyenv):
    /usr/bin/python3 tests/text/gen_tokenizer_extra.py
The expected ids come from sentencepiece itself (SentencePieceProcessor.encode on the exact bytes) and the
Wan-level cases from Python's html.unescape + re + str.strip (wan/modules/tokenizers.py without ftfy), so
none of them depends on our C code. What it writes:

  spm/ident.model   unigram, vocab 150, identity normalization (empty charsmap), no byte fallback,
                    add_dummy_prefix=false, remove_extra_whitespaces=false, user-defined [CAT] <mask> ab,
                    control <ctl>: raw spaces, merged <unk> runs, user-defined symbols.
  spm/unused.model  ident.model with some pieces retyped UNUSED (ModelProto rewritten here; spm_train has no
                    option for it): UNUSED pieces must be skipped by the Viterbi.
  spm/suffix.model  unigram, vocab 400, a custom charsmap compiled from RULES below (multi-character keys,
                    a deletion), treat_whitespace_as_suffix, byte fallback, split_digits, user-defined 'ｘ'
                    (which must bypass its own rule ｘ -> x).

Each case stores the text (or text_hex for bytes that are not UTF-8), the ids, the pieces, and the normalized
text as sentencepiece segmented it (the pieces joined, byte pieces turned back into bytes), hex-encoded.
"""
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import sentencepiece as spm

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
TINY = os.path.join(ROOT, "tiny-wan", "tokenizer", "spiece.model")

RULES = "41\t61\n42\t3B2\n42 43\t62 63 64\nFF21\t41\nFF58\t78\n2460\t31\n3000\t20\n9\t20\n200B\t\n"

WORDS = ("the a cat dog walks runs on in under over grass street city night rain sun moon astronaut dancing "
         "realistic cinematic lighting camera slow motion close up wide shot beautiful old young red blue green "
         "golden hour ocean waves forest mountain snow fire smoke robot car train bird fish").split()


def corpus(path):
    rnd = random.Random(1)
    lines = []
    for _ in range(3000):
        s = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12)))
        if rnd.random() < 0.3:
            s = s.capitalize()
        if rnd.random() < 0.2:
            s += ", " + str(rnd.randint(0, 2024))
        if rnd.random() < 0.1:
            s += " [CAT] " + rnd.choice(WORDS)
        lines.append(s)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# --- minimal protobuf, only to retype pieces (the python module here has no protobuf runtime) ---
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(b):
    i, out = 0, []
    while i < len(b):
        start = i
        key, i = varint(b, i)
        wt = key & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = varint(b, i)
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((key >> 3, b[start:i]))
    return out


def payload(raw):
    _, i = varint(raw, 0)
    _, j = varint(raw, i)
    return raw[j:]


def retype_unused(src, dst, pieces):
    data = open(src, "rb").read()
    out, index = bytearray(), 0
    for num, raw in fields(data):
        if num == 1:
            body = payload(raw)
            sub = fields(body)
            text = [payload(r) for n, r in sub if n == 1][0].decode()
            if text in pieces:
                body = b"".join(r for n, r in sub if n != 3) + b"\x18" + enc_varint(5)
                raw = b"\x0a" + enc_varint(len(body)) + body
            index += 1
        out += raw
    open(dst, "wb").write(bytes(out))


# --- cases ---
def normalized_of(sp, ids, pieces):
    out = bytearray()
    for i, p in zip(ids, pieces):
        if sp.is_byte(i):
            out.append(int(p[3:5], 16))
        else:
            out += p if isinstance(p, bytes) else p.encode()
    return out


def case(sp, text):
    data = text if isinstance(text, bytes) else text.encode()
    ids = sp.encode(data)
    pieces = sp.encode(data, out_type=str)
    c = {}
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL (jansson rejects \\u0000)")
        c["text"] = data.decode("utf-8")
    except UnicodeDecodeError:
        c["text_hex"] = data.hex()
    c["ids"] = ids
    c["pieces"] = [p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p in pieces]
    c["normalized_hex"] = normalized_of(sp, ids, pieces).hex()
    return c


TINY_TEXTS = [
    "東京タワーの夜景、雨上がりの街",
    "고양이가 잔디 위를 걷는다",
    "Кошка идёт по траве, реалистично",
    "قطة تمشي على العشب",
    "बिल्ली घास पर चलती है",
    "แมวเดินบนหญ้า",
    "Γάτα περπατά στο γρασίδι",
    "🐱🐶 cat dog 👩‍🚀 astronaut 🇯🇵 flag 👍🏽",
    "e\u0301 a\u0308 n\u0303 o\u0302 A\u030a",
    "Z\u0324\u0354\u0367\u0311\u0313algo",
    "ﬁne ﬂow ① ② ⅷ ㎏ ㍿ Ａｂｃ ＡＢＣ ｶﾀｶﾅ ² ½ ™ … Ǆ ǅ ǆ ẞ ㈱",
    "﷽ ﷺ",
    "a\tb\nc\r\nd\x0be\x0cf",
    "  lots   of\t\t spaces  ",
    "\u3000ideographic\u3000space\u3000",
    "\u00a0nbsp\u00a0\u2009thin\u202fnarrow\u2028line\u2029para\u0085nel",
    "zero\u200bwidth\u200cjoiner\u200dzwj\ufeffbom",
    "",
    "   ",
    "\t\n",
    "\x01\x02abc\x7f\x1b[31mred\u200e\u202e",
    b"\xff",
    b"abc\xc3(def",
    b"\xe2\x82 trailing",
    b"\xed\xa0\x80 surrogate",
    b"\xc0\xaf overlong",
    b"\xf4\x90\x80\x80 beyond",
    b"\xf0\x9f\x90 cut emoji",
    "\ufffd literal replacement",
    b"a\x00b",
    "<unk> </s> <s> <pad> <0x41> <0xZZ>",
    "1234567890 3.14159 $100 #hashtag @user email@example.com http://x.y/z?q=1&r=2",
    "ALL CAPS SHOUTING and lower, MiXeD",
    "a\u2581b \u2581\u2581 c\u2581",
    "a" * 300,
    " ".join(WORDS) * 3,
]

IDENT_TEXTS = [
    "the cat walks on the grass",
    "  two  spaces  and trailing  ",
    " leading",
    "the [CAT] sat<mask>on the mat",
    "abab ab a b [CAT][CAT]",
    "Ω≈ç√ unknown run ∫∫∫ here",
    "🐱🐶xyz",
    "ＡＢＣ full width stays",
    "tab\tand\nnewline",
    "",
    "<ctl> is control, not matched",
    b"\xff\xfe bad bytes",
]

UNUSED_TEXTS = IDENT_TEXTS[:4] + ["the the the", "walks running dancing"]

SUFFIX_TEXTS = [
    "the cat walks on the grass",
    "AB BC B C ABC BCBC",
    "Ａ ① x\u3000y\tz\u200bw",
    "ｘ x ｘｘ",
    "year 2024, 1999 and 42",
    "🐱 emoji byte fallback ∮",
    "  spaces   inside  ",
    "",
    b"\xff raw",
]

CLEAN_TEXTS = [
    "A cat walks on the grass, realistic",
    "  Two   astronauts\tdancing on the moon  ",
    "Tom &amp; Jerry &lt;3 &quot;classic&quot;",
    "&amp;lt;b&amp;gt; twice",
    "&amp;amp;lt; three times",
    "caf&eacute; na&iuml;ve &Eacute;cole &copy; 2024 &euro;5",
    "&#65;&#x42;&#X43;&#0067 &#x1F431; &#128054;",
    "&#0; &#13; &#x80; &#x9F; &#xD800; &#x110000; &#99999999999; &#1; &#x7F; &#xFFFE; &#x10FFFF;",
    "&notit; &not &notin; &ampx &amp &AMP; &Amp;",
    "& alone, &# no digits, &#x no hex, &; empty, &unknownentity;",
    "&ThisIsAVeryLongEntityNameThatGoesOnAndOnForeverMore;",
    "&nbsp;non&nbsp;breaking&#160;spaces &emsp;em",
    "line\nbreaks\r\nand\u2028separators\u00a0here",
    "\u3000\u3000ideographic\u3000",
    "&lt;div class=&quot;x&quot;&gt;tags&lt;/div&gt;",
    "",
    "   \t\n  ",
    "&NotEqualTilde; &fjlig; &ThickSpace;",
    ("A cat walks on the grass, realistic. " * 80).strip(),
]


def t5_case(sp, text, max_len=512):
    clean = html.unescape(html.unescape(text)).strip()
    clean = re.sub(r"\s+", " ", clean).strip()
    ids = sp.encode(clean)[: max_len - 1] + [sp.eos_id()]
    return {"text": text, "clean": clean, "ids": ids}


def main():
    out_dir = os.path.join(ROOT, "spm")
    os.makedirs(out_dir, exist_ok=True)
    out_dir = os.path.abspath(out_dir)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative names keep the temporary path out of the models' trainer_spec
        tmp = "."
        corpus(os.path.join(tmp, "corpus.txt"))
        with open(os.path.join(tmp, "rules.tsv"), "w") as f:
            f.write(RULES)
        common = dict(input=os.path.join(tmp, "corpus.txt"), model_type="unigram", hard_vocab_limit=False,
                      num_threads=1, minloglevel=2)
        spm.SentencePieceTrainer.train(model_prefix=os.path.join(tmp, "ident"), vocab_size=150,
                                       normalization_rule_name="identity", add_dummy_prefix=False,
                                       remove_extra_whitespaces=False, user_defined_symbols=["[CAT]", "<mask>", "ab"],
                                       control_symbols=["<ctl>"], **common)
        spm.SentencePieceTrainer.train(model_prefix=os.path.join(tmp, "suffix"), vocab_size=400,
                                       normalization_rule_tsv=os.path.join(tmp, "rules.tsv"),
                                       treat_whitespace_as_suffix=True, byte_fallback=True, split_digits=True,
                                       user_defined_symbols=["ｘ"], **common)
        for name in ("ident", "suffix"):
            with open(os.path.join(tmp, name + ".model"), "rb") as f:
                data = f.read()
            with open(os.path.join(out_dir, name + ".model"), "wb") as f:
                f.write(data)
        os.chdir(cwd)
    retype_unused(os.path.join(out_dir, "ident.model"), os.path.join(out_dir, "unused.model"),
                  {"▁the", "he", "k", "▁walk", "ing"})

    models = {}
    for name, path, texts in [("tiny", TINY, TINY_TEXTS), ("ident", "spm/ident.model", IDENT_TEXTS),
                              ("unused", "spm/unused.model", UNUSED_TEXTS),
                              ("suffix", "spm/suffix.model", SUFFIX_TEXTS)]:
        full = path if os.path.isabs(path) else os.path.join(ROOT, path)
        sp = spm.SentencePieceProcessor(model_file=full)
        rel = os.path.relpath(full, ROOT)
        models[name] = {"path": rel, "byte_fallback": name in ("tiny", "suffix"),
                        "cases": [case(sp, t) for t in texts]}
    sp = spm.SentencePieceProcessor(model_file=TINY)
    doc = {
        "generator": "tests/text/gen_tokenizer_extra.py with sentencepiece %s, Python %d.%d" %
                     ((spm.__version__,) + sys.version_info[:2]),
        "models": models,
        "t5_model": os.path.relpath(TINY, ROOT),
        "t5_cases": [t5_case(sp, t) for t in CLEAN_TEXTS] + [t5_case(sp, CLEAN_TEXTS[-1], 16)],
    }
    doc["t5_cases"][-1]["max_len"] = 16
    with open(os.path.join(ROOT, "tokenizer_extra.json"), "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    # spm_encode (the CLI) agrees with the module on a line-safe case; a guard against an API mismatch.
    line = "A cat walks on the grass, realistic"
    cli = subprocess.run(["spm_encode", "--model", TINY, "--output_format=id"], input=line.encode(),
                         capture_output=True, check=True).stdout.split()
    assert [int(x) for x in cli] == sp.encode(line)


if __name__ == "__main__":
    main()
