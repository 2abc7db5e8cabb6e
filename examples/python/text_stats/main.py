# SPDX-License-Identifier: Apache-2.0
# Text statistics: word and sentence counts, the most frequent words (stop words left out),
# lexical diversity, a readability score and the reading time, for text given as arguments or
# read from a granted file:
#
#   build/release/capsule run examples/python/text_stats/main.py "Some text. Another sentence!"
#   build/release/capsule run --mount examples/python/text_stats/texts::/texts \
#       examples/python/text_stats/main.py /texts/report.txt
import os
import re
from collections import Counter

from capsule import task

WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
STOP_WORDS = frozenset("""a an and are as at be but by do does for from has have i if in is it its
of on or so that the their then there these they this to was were what when where which who why
will with you your not no nothing else""".split())
TOP = 5


def syllables(word: str) -> int:
    """A rough English syllable count: groups of vowels, less a silent final e."""
    w = word.lower()
    groups = len(re.findall(r"[aeiouy]+", w))
    if w.endswith("e") and not w.endswith(("le", "ee")) and groups > 1:
        groups -= 1
    return max(groups, 1)


def analyse(text: str) -> dict:
    words = WORD.findall(text)
    if not words:
        raise ValueError("no words in the input")
    sentences = [s for s in SENTENCE_END.split(text.strip()) if WORD.search(s)]
    lengths = [len(WORD.findall(s)) for s in sentences]
    lower = [w.lower() for w in words]
    counts = Counter(w for w in lower if w not in STOP_WORDS)
    # Most frequent first, ties in alphabetical order, so the output is stable.
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    longest = max(range(len(sentences)), key=lambda i: lengths[i])
    n_syll = sum(syllables(w) for w in words)
    flesch = 206.835 - 1.015 * (len(words) / len(sentences)) - 84.6 * (n_syll / len(words))
    return {
        "characters": len(text),
        "words": len(words),
        "unique_words": len(set(lower)),
        "sentences": len(sentences),
        "paragraphs": len([p for p in re.split(r"\n\s*\n", text) if p.strip()]),
        "avg_words_per_sentence": round(len(words) / len(sentences), 1),
        "avg_word_length": round(sum(map(len, words)) / len(words), 2),
        "lexical_diversity": round(len(set(lower)) / len(words), 3),
        "longest_sentence": {"words": lengths[longest], "text": " ".join(sentences[longest].split())},
        "top_words": [[w, c] for w, c in top],
        "flesch_reading_ease": round(flesch, 1),
        "reading_time_s": round(len(words) / 200 * 60),
    }


@task(name="main", compute="LOW", ram="64MB", timeout="10s")
def main(*parts: str) -> dict:
    if not parts:
        raise ValueError('give the text as arguments, or the path of a granted file')
    if len(parts) == 1 and parts[0].startswith("/") and "\n" not in parts[0]:
        if not os.path.isfile(parts[0]):
            raise FileNotFoundError(f"{parts[0]} is not a file this task can read: grant its "
                                    f"directory with --mount HOST_DIR::/texts")
        with open(parts[0], encoding="utf-8") as f:
            stats = analyse(f.read())
        return {"source": parts[0], **stats}
    return {"source": "arguments", **analyse(" ".join(parts))}
