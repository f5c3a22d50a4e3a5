"""Whether stage 1 chooses better windows with more of the bi-encoder than one cosine, as probes.

    python eval/stage1_vectors.py --cache /tmp/fitcache \\
        --set news=/tmp/news-index:../shared/eval/news-dev/questions.jsonl ...   # the fit's sets

Stage 1 sees the bi-encoder only through the cosine of the question and the bare sentence. Two
probes over the fit's collection (the same ``--set`` flags and cache):

* **products**: the 384 products of the two vectors' dimensions (their sum is the cosine) as
  features, so that fitted weights can say which dimensions matter, for a few L2 penalties;
* **headline**: the cosine of the question and the sentence's article headline (encoded here;
  the index stores no headline vector), which the cross-encoder reads and stage 1 does not.

Printed first, with five folds grouped by article, per set: the share of answerable questions
with a right sentence first and among the first 3 and 5 by stage 1 alone (the windows the
cross-encoder reads are among the first 5). Then, for the headline feature, the whole stage run
as the fit runs it (stage 1, the windows read, stage 2, the confidence), over ``--repeats``
random assignments of articles to folds: the first answer holding the fact, and answer accuracy
and abstention with each fold's threshold chosen on the other folds (the parameter file's pair
rule and reading).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_answer_model as fit
from fit_answer_model import READ, STAGE1, Softmax, collected, matrix, weights_for

PENALTIES = (1.0, 10.0, 100.0, 1000.0)
FIRST = (1, 3, 5)
HEADLINE = "headline"


def stage1_first(
    rows: list[tuple[dict[str, Any], np.ndarray, np.ndarray]], l2: float
) -> dict[str, dict[int, float]]:
    """Out of fold, per set: a right sentence among stage 1's first 1, 3 and 5."""
    groups = [q["group"] for q, _, _ in rows]
    found: dict[str, dict[int, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for train, test in GroupKFold(5).split(rows, groups=groups):
        data = [(rows[i][1], rows[i][2]) for i in train]
        names = [str(n) for n in range(data[0][0].shape[1])]
        model = Softmax(names, l2).fit(data, weights_for([rows[i][0] for i in train], 0.5))
        for i in test:
            q, x, labels = rows[i]
            if q["answerable"]:
                order = np.argsort(-model(x), kind="stable")
                for k in FIRST:
                    found[q["set"]][k].append(bool(labels[order[:k]].any()))
    return {s: {k: float(np.mean(v)) for k, v in r.items()} for s, r in sorted(found.items())}


def show(label: str, shares: dict[str, dict[int, float]]) -> None:
    cells = (f"{s} " + "/".join(f"{r[k]:.3f}" for k in FIRST) for s, r in shares.items())
    print(f"{label:30}" + "  ".join(cells))


def whole_run(questions: list[dict[str, Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Mean over ``repeats`` random splits of first answers, answer accuracy and abstention."""
    from service.qa.rerank import AnswerModel

    model = AnswerModel.load()
    reading, pair = model.reading(model.fitted.get("windows", 5)), model.pair
    spread = fit.other_splits(questions, repeats, 5, reading, pair, 0.5, 3.0)
    return {s: {k: mean for k, (mean, _) in r.items()} for s, r in spread.items()}


def main() -> int:
    from indexer.reader import IndexReader
    from service.cli.common import make_embedder
    from service.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", action="append", required=True, help="NAME=INDEX:QUESTIONS[:SAMPLE]")
    ap.add_argument("--cache", type=Path, default=None, help="The fit's collection cache.")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    asked, readers = {}, {}
    for spec in args.set:
        name, rest = spec.split("=", 1)
        index, path, *_ = rest.split(":")
        readers.setdefault(name, IndexReader(Path(index)))
        for line in Path(path).read_text("utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                asked[(name, str(q["id"]))] = q["question"]
    embedder = make_embedder(Settings())
    headlines: dict[tuple[str, str], np.ndarray] = {}

    def headline(name: str, sentence: int) -> np.ndarray:
        db = readers[name].db()
        doc = db.execute("SELECT doc_id FROM sentences WHERE id = ?", (sentence,)).fetchone()[0]
        if (name, doc) not in headlines:
            row = db.execute("SELECT title FROM documents WHERE doc_id = ?", (doc,)).fetchone()
            headlines[(name, doc)] = embedder.encode([row[0] or ""])[0]
        return headlines[(name, doc)]

    questions = collected(args.set, READ, "title", args.cache)
    served, products, titled = [], [], []
    for q in questions:
        query = embedder.encode([asked[(q["set"], q["id"])]])[0]
        for c in q["candidates"]:
            c["features"][HEADLINE] = float(headline(q["set"], c["sentence"]) @ query)
        read = [c for c in q["candidates"] if c["cross"] is not None]
        if not read:
            continue
        vectors = readers[q["set"]].sentence_vectors[[c["sentence"] for c in read]]
        features = matrix([c["features"] for c in read], STAGE1)
        labels = np.array([c["label"] for c in read], bool)
        served.append((q, features, labels))
        inter = np.asarray(vectors, dtype=np.float64) * query
        products.append((q, np.hstack([features, inter]), labels))
        titled.append((q, matrix([c["features"] for c in read], [*STAGE1, HEADLINE]), labels))

    print(f"{'':30}first 1/3/5 by stage 1, answerable questions, out of fold")
    show("stage 1 (served features)", stage1_first(served, 1.0))
    for l2 in PENALTIES:
        show(f"with the products, L2 {l2:g}", stage1_first(products, l2))
    show("with the headline cosine", stage1_first(titled, 1.0))

    print(f"whole stage, mean over {args.repeats} splits: first / answer accuracy / abstained")
    for label, extra in (("served features", []), ("with the headline cosine", [HEADLINE])):
        fit.STAGE1[len(STAGE1) :] = extra  # the fit's stage-1 features, as the stages read them
        for name, r in whole_run(questions, args.repeats).items():
            cells = [f"{r[k]:.3f}" for k in ("first", "answer_accuracy", "abstained") if k in r]
            print(f"  {label:28} {name} " + " / ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
