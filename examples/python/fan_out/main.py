# SPDX-License-Identifier: Apache-2.0
# Fan-out: `main` scores a batch of customer reviews by sending each one to the `score` task,
# which runs in a fresh sandbox of its own with its own limits (LOW compute, 32MB, 5s, bounded
# by main's), then aggregates. A review that makes its scorer fail (here: an empty one) is
# reported as failed; the others are unaffected. `capsule ps` shows the tree of runs.
#
#   build/release/capsule run examples/python/fan_out/main.py
#   build/release/capsule run examples/python/fan_out/main.py "Great value, works well" "Broke after a day"
from capsule import TaskError, log, task

REVIEWS = [
    "Great little kettle, boils fast and looks lovely. Very happy!",
    "Stopped working after two weeks. Terrible support, never again.",
    "It is fine. Does the job.",
    "Not bad at all, but the lid is flimsy.",
    "",
    "Absolutely love it: excellent build quality and really quiet.",
    "Arrived broken and the refund was slow. Disappointed.",
]

POSITIVE = {"great": 2, "lovely": 2, "happy": 2, "love": 3, "excellent": 3, "quiet": 1,
            "fast": 1, "good": 1, "fine": 1, "works": 1, "value": 1, "bad": -2}
NEGATIVE = {"terrible": -3, "broken": -2, "broke": -2, "slow": -1, "flimsy": -1, "never": -1,
            "disappointed": -2, "stopped": -1, "refund": -1}
LEXICON = {**POSITIVE, **NEGATIVE}
NEGATIONS = {"not", "no", "never", "hardly"}
INTENSIFIERS = {"very": 2, "really": 2, "absolutely": 2, "extremely": 3}


@task(name="score", compute="LOW", ram="32MB", timeout="5s")
def score(text: str) -> dict:
    """Lexicon sentiment of one review: negations flip the next scored word, intensifiers
    multiply it."""
    words = [w.strip(".,!?:;\"'()").lower() for w in text.split()]
    words = [w for w in words if w]
    if not words:
        raise ValueError("empty review")
    total, factor, negate = 0, 1, 0
    for w in words:
        if w in NEGATIONS and w not in LEXICON:
            negate = 2  # the next two words
            continue
        if w in INTENSIFIERS:
            factor = INTENSIFIERS[w]
            continue
        value = LEXICON.get(w, 0)
        if value:
            total += -value * factor if negate else value * factor
            factor = 1
        negate = max(negate - 1, 0)
    label = "positive" if total > 0 else "negative" if total < 0 else "neutral"
    return {"score": total, "label": label, "words": len(words)}


@task(name="main", compute="MEDIUM", ram="128MB", timeout="60s")
def main(*reviews: str) -> dict:
    reviews = list(reviews) or REVIEWS
    scored, failed = [], []
    for i, text in enumerate(reviews):
        try:
            r = score(text)  # a sub-task: a fresh sandbox per review
        except TaskError as e:
            failed.append({"index": i, "error_type": e.error_type, "message": e.message})
            continue
        scored.append({"index": i, **r})
    log(f"scored {len(scored)} of {len(reviews)} reviews")
    labels = {"positive": 0, "neutral": 0, "negative": 0}
    for r in scored:
        labels[r["label"]] += 1
    out = {"reviews": len(reviews), "scored": len(scored), "failed": failed, "labels": labels,
           "scores": [r["score"] for r in scored]}
    if scored:
        best = max(scored, key=lambda r: r["score"])
        worst = min(scored, key=lambda r: r["score"])
        out["average_score"] = round(sum(r["score"] for r in scored) / len(scored), 2)
        out["most_positive"] = {"index": best["index"], "score": best["score"],
                                "text": reviews[best["index"]]}
        out["most_negative"] = {"index": worst["index"], "score": worst["score"],
                                "text": reviews[worst["index"]]}
    return out
