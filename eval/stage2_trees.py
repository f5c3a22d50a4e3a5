"""Whether boosted trees choose the answer better than stage 2's linear softmax, out of fold.

    FIT_DUMP=/tmp/oof.pickle python eval/fit_answer_model.py ...   # the fit's flags
    python eval/stage2_trees.py /tmp/oof.pickle

The fit's out-of-fold predictions (``FIT_DUMP``) hold, per question, the windows stage 1 handed
stage 2 and their stage-2 features. With five folds grouped by article, each fold's windows are
ordered by models fitted on the other four: the linear softmax the service uses (as the fit
fits it) and a few gradient-boosted tree classifiers (scikit-learn's
``HistGradientBoostingClassifier``, one window at a time, sets weighed as in the fit). Printed:
per set, the share of answerable questions whose first window's composed answer holds the fact.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_answer_model import STAGE2, PairCheck, Softmax, composed, matrix, weights_for

TREES = {"trees d2x100": (2, 100), "trees d3x100": (3, 100), "trees d2x300": (2, 300)}


def first_holds(p: dict[str, Any], order: list[int], pair: PairCheck) -> bool:
    stages = p["stages"] | {"windows": [p["stages"]["windows"][k] for k in order]}
    return composed(p["q"], stages, pair)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("preds", type=Path, help="the fit's FIT_DUMP pickle")
    ap.add_argument("--margin", type=float, default=1.0, help="the pair margin (span_margin)")
    ap.add_argument("--pair-below", type=float, default=6.0)
    ap.add_argument("--balance", type=float, default=0.5)
    args = ap.parse_args()
    pair = PairCheck(args.margin, args.pair_below)
    preds = [p for p in pickle.loads(args.preds.read_bytes()) if p["stages"]["windows"]]
    groups = [p["q"]["group"] for p in preds]
    right: dict[str, dict[str, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for train_at, test_at in GroupKFold(5).split(preds, groups=groups):
        train = [preds[i] for i in train_at]
        xs = [matrix(p["stages"]["rows"], STAGE2) for p in train]
        ys = [
            np.array([p["q"]["candidates"][i]["label"] for i in p["stages"]["windows"]], bool)
            for p in train
        ]
        w = weights_for([p["q"] for p in train], args.balance)
        linear = Softmax(STAGE2).fit(list(zip(xs, ys, strict=True)), w)
        scorers: dict[str, Any] = {"linear (served)": linear}
        per_row = np.concatenate([[wi] * len(x) for wi, x in zip(w, xs, strict=True)])
        for name, (depth, rounds) in TREES.items():
            trees = HistGradientBoostingClassifier(
                max_depth=depth,
                max_iter=rounds,
                learning_rate=0.05,
                min_samples_leaf=40,
                l2_regularization=1.0,
                random_state=0,
            ).fit(np.vstack(xs), np.concatenate(ys), sample_weight=per_row)
            scorers[name] = lambda x, t=trees: t.predict_proba(x)[:, 1]
        for i in test_at:
            p = preds[i]
            if not p["q"]["answerable"]:
                continue
            x = matrix(p["stages"]["rows"], STAGE2)
            for name, score in scorers.items():
                order = list(np.argsort(-score(x), kind="stable"))
                right[p["q"]["set"]][name].append(first_holds(p, order, pair))
    for name in ["linear (served)", *TREES]:
        cells = [f"{s} {np.mean(r[name]):.3f}" for s, r in sorted(right.items())]
        print(f"{name:16} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
