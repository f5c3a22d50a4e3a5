"""Whether contrasting a why-question with its bare event finds the reason, as a probe.

    python eval/why_contrast.py --set news=/tmp/news-index:../shared/eval/news-dev/questions.jsonl \\
        --set squad=/tmp/squad-index:../shared/eval/squad-dev-half/questions.jsonl

The cross-encoder scores a sentence that restates a why-question's event ("The departure of
Jerry Tworek marks the end of an era for OpenAI") above the one that gives the reason. The probe:
score each candidate both against the question and against its event with the wh-words taken
off ("Jerry Tworek leave OpenAI"), and choose by ``logit(question) - a * logit(event)``, so that
a sentence gains only for what the "why" adds. And the question asked in other words: the event
after "reason" or before "because", or "What was the reason …?", alone and added to the logit of
the question as asked (weight 0.5 or 1). Over the reason questions (by
``answer_types.expected_kind``) with a right sentence among the first 24 candidates the service
pools (as the fit collects them), printed per set and rule: how many are chosen right.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_answer_model import READ, is_hit, pooled

WH = re.compile(
    r"^(?:why|how come|what (?:made|prompted|caused|drove|led)|what reason)\s+(?:(?:did|does|do"
    r"|was|were|is|are|has|have|had|would|could|might|may|can|will|won't|doesn't|didn't)\s+)?",
    re.IGNORECASE,
)
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
REPHRASED = {
    "reason EVENT": "reason {event}",
    "EVENT because": "{event} because",
    "What was the reason EVENT?": "What was the reason {event}?",
}
ADDED = (0.5, 1.0)


def main() -> int:
    from service.api.app import build_answerer, load_reranker_model
    from service.cli.common import make_embedder
    from service.qa.answer_types import Kind, expected_kind
    from service.qa.rerank import window_text
    from service.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", action="append", required=True, help="NAME=INDEX:QUESTIONS")
    args = ap.parse_args()
    cross = load_reranker_model(Settings())
    chosen: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    counted: collections.Counter[str] = collections.Counter()
    for spec in args.set:
        name, rest = spec.split("=", 1)
        index, path = rest.split(":", 1)
        answerer = build_answerer(
            Settings(index_dir=Path(index)), make_embedder(Settings()), cross_encoder=cross
        )
        for line in Path(path).read_text("utf-8").splitlines():
            q = json.loads(line) if line.strip() else {}
            if not q.get("answers") or expected_kind(q["question"]) != Kind.REASON:
                continue
            q.setdefault("docs", [])
            asked, _, _, pool = pooled(answerer, q["question"])
            pool = pool[:READ]
            labels = [is_hit(q, c.sentence.doc_id, c.sentence.text) for c in pool]
            if not any(labels):
                continue
            # One window per call, as the service reads them (a batch's quantisation moves logits).
            texts = [window_text("title", c.hit.chunk.title, [c.sentence.text]) for c in pool]
            event = WH.sub("", asked).rstrip("?")
            asked_logits = np.array([float(cross.score(asked, [t])[0]) for t in texts])
            event_logits = np.array([float(cross.score(event, [t])[0]) for t in texts])
            counted[name] += 1
            for a in SHARES:
                chosen[name][f"a={a}"] += labels[int(np.argmax(asked_logits - a * event_logits))]
            for rule, form in REPHRASED.items():
                said = form.format(event=event)
                logits = np.array([float(cross.score(said, [t])[0]) for t in texts])
                chosen[name][rule] += labels[int(np.argmax(logits))]
                for b in ADDED:
                    both = asked_logits + b * logits
                    chosen[name][f"asked + {b}·{rule}"] += labels[int(np.argmax(both))]
        answerer.retriever.reader.close()
    rules = [f"a={a}" for a in SHARES] + [
        r for rule in REPHRASED for r in (rule, *(f"asked + {b}·{rule}" for b in ADDED))
    ]
    for rule in rules:
        print(f"{rule:42}" + "  ".join(f"{n} {chosen[n][rule]}/{counted[n]}" for n in counted))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
