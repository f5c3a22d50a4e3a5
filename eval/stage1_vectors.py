"""Whether stage 1 chooses better windows with more of the bi-encoder than its cosines, as a probe.

    python eval/stage1_vectors.py --cache /tmp/fitcache \\
        --set news=/tmp/news-index:../shared/eval/news-dev/questions.jsonl ...   # the fit's sets

Stage 1 sees the bi-encoder through two cosines: of the question and the bare sentence, and of
the question and the sentence's headline (the ``headline`` feature, which this script probed
before the index stored headline vectors; docs/answers.md). The probe over the fit's collection
(the same ``--set`` flags and cache): the 384 products of the question's and the sentence's
dimensions (their sum is the cosine) as features, so that fitted weights can say which dimensions
matter, for a few L2 penalties.

Printed, with five folds grouped by article, per set: the share of answerable questions with a
right sentence first and among the first 3 and 5 by stage 1 alone (the windows the
cross-encoder reads are among the first 5).
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

from fit_answer_model import READ, STAGE1, Softmax, collected, matrix, weights_for

PENALTIES = (1.0, 10.0, 100.0, 1000.0)
FIRST = (1, 3, 5)


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


def main() -> int:
    from indexer.reader import IndexReader
    from service.cli.common import make_embedder
    from service.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", action="append", required=True, help="NAME=INDEX:QUESTIONS[:SAMPLE]")
    ap.add_argument("--cache", type=Path, default=None, help="The fit's collection cache.")
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
    questions = collected(args.set, READ, "title", args.cache)
    served, products = [], []
    for q in questions:
        query = embedder.encode([asked[(q["set"], q["id"])]])[0]
        read = [c for c in q["candidates"] if c["cross"] is not None]
        if not read:
            continue
        vectors = readers[q["set"]].sentence_vectors[[c["sentence"] for c in read]]
        features = matrix([c["features"] for c in read], STAGE1)
        labels = np.array([c["label"] for c in read], bool)
        served.append((q, features, labels))
        inter = np.asarray(vectors, dtype=np.float64) * query
        products.append((q, np.hstack([features, inter]), labels))

    print(f"{'':30}first 1/3/5 by stage 1, answerable questions, out of fold")
    show("stage 1 (served features)", stage1_first(served, 1.0))
    for l2 in PENALTIES:
        show(f"with the products, L2 {l2:g}", stage1_first(products, l2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
