"""Which threshold of the best run to take, measured on thresholds chosen out of fold.

    FIT_DUMP=/tmp/oof.pickle python eval/fit_answer_model.py ...   # the fit's flags
    python eval/threshold_rules.py /tmp/oof.pickle --repeats 40

The fit's out-of-fold predictions (``FIT_DUMP``) are split again, articles assigned to five folds
at random ``--repeats`` times; each fold's threshold is chosen on the other four by each rule (the
lowest, middle or highest threshold of the run that handles the most questions well) and applied
to it. Printed: per rule, the mean and standard deviation over the repeats of each set's answer
accuracy and share of unanswerable questions abstained.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_answer_model import RULES, PairCheck, threshold_out_of_fold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("preds", type=Path, help="the fit's FIT_DUMP pickle")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--margin", type=float, default=1.0, help="the pair margin (span_margin)")
    ap.add_argument("--pair-below", type=float, default=6.0)
    args = ap.parse_args()
    preds = pickle.loads(args.preds.read_bytes())
    pair = PairCheck(args.margin, args.pair_below)
    groups = sorted({p["q"]["group"] for p in preds})
    totals: dict[str, dict[str, list[float]]] = {r: collections.defaultdict(list) for r in RULES}
    for repeat in range(args.repeats):
        rng = np.random.default_rng(repeat)
        fold = {g: int(rng.integers(args.folds)) for g in groups}
        at = np.array([fold[p["q"]["group"]] for p in preds])
        splits = [
            (np.flatnonzero(at != k), np.flatnonzero(at == k))
            for k in range(args.folds)
            if (at != k).any()
        ]
        for rule in RULES:
            for name, cells in threshold_out_of_fold(preds, splits, pair, rule=rule).items():
                for measure, value in cells.items():
                    key = f"{name} {'answer' if measure == 'answer_accuracy' else measure}"
                    totals[rule][key].append(value)
    for rule, cells in totals.items():
        shown = ", ".join(
            f"{key} {np.mean(v):.3f} (s.d. {np.std(v):.3f})" for key, v in sorted(cells.items())
        )
        print(f"{rule}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
