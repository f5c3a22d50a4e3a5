"""Fit the reranking stage's parameters (service/qa/answer_model.json), cross-validated.

    python eval/fit_answer_model.py \\
        --set news=/tmp/news-index:../shared/eval/news-dev/questions.jsonl \\
        --set squad=/tmp/squad-index:../shared/eval/squad-dev-half/questions.jsonl:1500 \\
        --set seed=index:eval/seed-questions.jsonl --set seed=index:eval/holdout-questions.jsonl \\
        --out service/qa/answer_model.json

Each ``--set NAME=INDEX:QUESTIONS[:SAMPLE]`` is a question file (the format of
eval/seed-questions.jsonl, with an optional ``kind``) over an index built from its corpus; SAMPLE
takes every n-th question to keep about that many. Every question goes through the served
pipeline without the reranker (hybrid, 15 passages); its candidate sentences are collected with
the production code's stage-1 features (``service.qa.rerank``), the cross-encoder's logits of the
first ``--read`` of them, and of each read sentence with its partner (the pair the answer may
grow to). Collecting is the slow part (a few minutes per thousand questions); ``--cache``
keeps it, under a name that changes with the index build and with the code that collects
(``collection_stamp``), so a change to either collects afresh instead of reusing stale labels.

Then, with folds grouped by article (a SQuAD article, a news article, one of the seed documents),
each fold fits on the others: stage 1 and stage 2 (softmax over a question's candidates: the
probability of the right one), the passage order (the same, over passages), the confidence
(logistic regression on whether the corpus answers the question) and, from the out-of-fold
predictions, the abstention threshold and the pair margin. The printed figures are those
out-of-fold figures, per set and per kind; the parameters written are fitted on everything.
``--repeats`` more random assignments of articles to folds are cross-validated again with those
choices, and the mean and spread of their figures printed and written: how far the figures move
with the split alone.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import inspect
import json
import math
import os
import pickle
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from service.qa.rerank import (  # noqa: E402  (after the path)
    PairCheck,
    Reading,
    read_in_turn,
    stage2_features,
)

STAGE1 = (
    "pre cosine headline coverage retrieval pre_rank passage_rank log_words typed type_match "
    "person_match kind_pattern lead_in quote heading settles"
).split()
# A reason cue helps only once the cross-encoder has read the windows (stage 1 with it chose
# slightly worse windows); the headline's cosine helps choose them, and stage 2 with it answered
# worse (docs/answers.md).
STAGE2 = [
    *(f for f in STAGE1 if f != "headline"),
    *"reason_cue cross cross_gap cross_top cross_top_logit stage1 stage1_gap".split(),
]
PASSAGES = "served retrieval evidence rank read answer_gap cross_gap type_any".split()
CONFIDENCE = "cross answer margin typed type_match type_missing type_absent stage1".split()
HITS = 15
# Candidates (by bi-encoder evidence) whose logits are collected.
READ = 24
MARGINS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
# Answers the pair margin may grow to: the median, in words, of each set's answers. (The bar is
# 35 on answers given; this counts every question's best candidate, answered or not.)
MAX_MEDIAN_WORDS = 33


def is_hit(q: dict[str, Any], doc_id: str, text: str) -> bool:
    if q["docs"] and doc_id not in q["docs"]:
        return False
    return any(a.casefold() in text.casefold() for a in q["answers"])


def group_of(name: str, q: dict[str, Any]) -> str:
    """The article a question is about: folds never split one."""
    if q["docs"]:
        doc = q["docs"][0]
        return f"{name}:{doc.rsplit('-', 1)[0] if name == 'squad' else doc}"
    return f"{name}:{q['id'].rsplit('-q', 1)[0]}"


def pooled(answerer: Any, question: str) -> tuple[str, list[Any], dict[int, Any], list[Any]]:
    """The question as searched, its passages, their scored sentences and the pooled candidates
    (best by bi-encoder evidence first): what the service has before its reranking stage."""
    from service.qa.search.rewrite import drop_exclusions

    asked = drop_exclusions(question)
    retrieval = answerer.retriever.retrieve(asked, HITS)
    hits, scored = answerer.order(asked, retrieval.query, retrieval.hits)
    return asked, hits, scored, answerer.reranker.pool(asked, hits, scored, question)


def collect(
    name: str, index: Path, path: Path, sample: int, read: int, context: str
) -> list[dict[str, Any]]:
    """Candidates, features, cross-encoder logits and labels of every question of one set."""
    from service.api.app import build_answerer, load_reranker_model
    from service.cli.common import make_embedder
    from service.qa.compose import pair_span, partner, rule_span
    from service.qa.rerank import passage_features, window_text
    from service.settings import Settings

    cross = load_reranker_model(Settings())
    answerer = build_answerer(
        Settings(index_dir=index), make_embedder(Settings()), cross_encoder=cross
    )
    assert answerer.reranker is not None
    questions = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if sample and len(questions) > sample:
        questions = questions[:: math.ceil(len(questions) / sample)]
    out = []
    for n, q in enumerate(questions):
        q.setdefault("docs", [])
        q.setdefault("answers", [])
        asked, hits, scored, pool = pooled(answerer, q["question"])
        logits = cross.score(
            asked, [window_text(context, c.hit.chunk.title, [c.sentence.text]) for c in pool[:read]]
        ).tolist()
        candidates = []
        pairs, pair_index = [], []
        for i, c in enumerate(pool):
            sentences = scored[c.hit.chunk.id]
            span = rule_span(asked, sentences, c.position)
            text = " ".join(s.text for s in span)
            entry = {
                "features": c.features,
                "label": is_hit(q, c.sentence.doc_id, c.sentence.text) if q["answers"] else False,
                "cross": logits[i] if i < read else None,
                "hit": next(k for k, h in enumerate(hits) if h.chunk.id == c.hit.chunk.id),
                "sentence": c.sentence.sentence_id,
                "span_label": bool(q["answers"]) and is_hit(q, c.sentence.doc_id, text),
                "span_words": len(text.split()),
                "pair_cross": None,
            }
            k = partner(sentences, c.position) if len(span) == 1 and i < read else None
            if k is not None:
                two = [sentences[x].text for x in sorted([c.position, k])]
                grown = " ".join(s.text for s in pair_span(asked, sentences, c.position, k))
                entry["pair_label"] = bool(q["answers"]) and is_hit(q, c.sentence.doc_id, grown)
                entry["pair_words"] = len(grown.split())
                pairs.append(window_text(context, c.hit.chunk.title, two))
                pair_index.append(i)
            candidates.append(entry)
        for i, logit in zip(pair_index, cross.score(asked, pairs).tolist(), strict=True):
            candidates[i]["pair_cross"] = logit
        top = max((h.score for h in hits), default=1.0) or 1.0
        passages = []
        for rank, hit in enumerate(hits):
            sentences = scored.get(hit.chunk.id, [])
            base = passage_features(hit, sentences, [], rank, top, 0.0, 0.0)
            ids = {s.sentence_id for s in sentences}
            passages.append(
                {
                    "features": {k: base[k] for k in ("served", "retrieval", "evidence", "rank")},
                    "label": bool(q["answers"]) and is_hit(q, hit.chunk.doc_id, hit.chunk.text),
                    "members": [i for i, c in enumerate(candidates) if c["sentence"] in ids],
                }
            )
        out.append(
            {
                "set": name,
                "id": str(q["id"]),
                "kind": q.get("kind", "-"),
                "group": group_of(name, q),
                "answerable": bool(q["answers"]),
                "candidates": candidates,
                "passages": passages,
            }
        )
        if n % 100 == 0:
            print(f"{name}: {n}/{len(questions)}", file=sys.stderr, flush=True)
    answerer.retriever.reader.close()
    return out


def collection_stamp(index: Path) -> str:
    """What a collection depends on besides its flags: the index build (``current``'s target)
    and the code that retrieves, features and labels the candidates (service/qa, the settings,
    how service/api/app.py builds the answerer and loads the cross-encoder, and this file's
    ``pooled``, ``collect`` and ``is_hit``)."""
    from service.api.app import build_answerer, load_reranker_model

    digest = hashlib.sha256((index / "current").resolve().name.encode())
    sources = sorted((ROOT / "service" / "qa").rglob("*.py"))
    for path in [*sources, ROOT / "service" / "settings.py"]:
        digest.update(path.read_bytes())
    for function in (build_answerer, load_reranker_model, pooled, collect, is_hit):
        digest.update(inspect.getsource(function).encode())
    return digest.hexdigest()[:10]


def collected(
    specs: list[str], read: int, context: str, cache: Path | None
) -> list[dict[str, Any]]:
    """The questions of every ``NAME=INDEX:QUESTIONS[:SAMPLE]`` set, collected, or taken from
    ``cache`` when collected before with the same index build and code."""
    questions: list[dict[str, Any]] = []
    for spec in specs:
        name, rest = spec.split("=", 1)
        index, path, *sample = rest.split(":")
        key = (
            f"{name}-{Path(index).name}-{Path(path).stem}-{sample[0] if sample else 0}-{read}"
            + ("" if context == "none" else f"-{context}")
            + f"-{collection_stamp(Path(index))}"
        )
        cached = cache / f"{key}.pickle" if cache else None
        if cached and cached.is_file():
            questions += pickle.loads(cached.read_bytes())
            continue
        got = collect(name, Path(index), Path(path), int(sample[0]) if sample else 0, read, context)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(pickle.dumps(got))
        questions += got
    return questions


class Softmax:
    """Linear scores, fitted so that each question's softmax puts its mass on a right candidate
    (the log-likelihood of "one of the right ones"), with an L2 penalty on standardised weights."""

    def __init__(self, names: list[str], l2: float = 1.0) -> None:
        self.names, self.l2 = names, l2

    def fit(self, groups: list[tuple[np.ndarray, np.ndarray]], weights: list[float]) -> Softmax:
        kept = [
            (x, y, w) for (x, y), w in zip(groups, weights, strict=True) if y.any() and len(y) > 1
        ]
        stacked = np.vstack([x for x, _, _ in kept])
        self.mu, self.sd = stacked.mean(0), stacked.std(0) + 1e-6
        data = [((x - self.mu) / self.sd, y.astype(bool), w) for x, y, w in kept]

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = 0.5 * self.l2 * w @ w, self.l2 * w
            for x, y, weight in data:
                s = x @ w
                e = np.exp(s - s.max())
                p, right = e / e.sum(), e[y]
                value -= weight * math.log(right.sum() / e.sum())
                grad -= weight * (x[y].T @ (right / right.sum()) - x.T @ p)
            return value, grad

        self.w = minimize(loss, np.zeros(len(self.names)), jac=True, method="L-BFGS-B").x
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mu) / self.sd) @ self.w

    def export(self) -> dict[str, Any]:
        raw = self.w / self.sd
        return {
            "weights": {n: round(float(v), 6) for n, v in zip(self.names, raw, strict=True)},
            "bias": round(float(-(self.mu / self.sd) @ self.w), 6),
        }


def matrix(rows: list[dict[str, float]], names: list[str]) -> np.ndarray:
    return np.asarray([[r[n] for n in names] for r in rows], dtype=np.float64).reshape(
        -1, len(names)
    )


def run_stages(q: dict[str, Any], m1: Softmax, m2: Softmax, windows: Reading) -> dict[str, Any]:
    """Stage 1, the read windows and stage 2 for one question, as the service runs them."""
    cands = q["candidates"]
    if not cands:
        return {"windows": []}
    s1 = m1(matrix([c["features"] for c in cands], STAGE1))
    # Those the cache holds a logit for (the first --read of the pool), best by stage 1 first.
    ranked = [i for i in np.argsort(-s1, kind="stable") if cands[i]["cross"] is not None]
    read, logits = read_in_turn(
        [s1[i] for i in ranked], lambda at: [cands[ranked[n]]["cross"] for n in at], windows
    )
    if not read:
        return {"windows": []}
    order = [ranked[n] for n in read]
    top_cross, top_stage1 = max(logits), s1[order].max()
    rows = [
        cands[i]["features"] | stage2_features(x, top_cross, s1[i], top_stage1)
        for i, x in zip(order, logits, strict=True)
    ]
    s2 = m2(matrix(rows, STAGE2))
    best = np.argsort(-s2, kind="stable")
    return {
        "windows": [order[k] for k in best],
        "rows": [rows[k] for k in best],
        "s2": s2[best],
    }


def passage_rows(q: dict[str, Any], stages: dict[str, Any]) -> list[dict[str, float]]:
    score = dict(zip(stages.get("windows", []), stages.get("s2", []), strict=True))
    cross = {i: q["candidates"][i]["cross"] for i in score}
    top_s, top_c = max(score.values(), default=0.0), max(cross.values(), default=0.0)
    out = []
    for p in q["passages"]:
        read = [i for i in p["members"] if i in score]
        out.append(
            p["features"]
            | {
                "read": float(bool(read)),
                "answer_gap": max(score[i] for i in read) - top_s if read else -10.0,
                "cross_gap": max(cross[i] for i in read) - top_c if read else -10.0,
                "type_any": max(
                    (q["candidates"][i]["features"]["type_match"] for i in p["members"]),
                    default=0.0,
                ),
            }
        )
    return out


def confidence_row(stages: dict[str, Any]) -> dict[str, float]:
    best, s2 = stages["rows"][0], stages["s2"]
    margin = s2[0] - s2[1] if len(s2) > 1 else 5.0
    return {
        "cross": best["cross"],
        "answer": s2[0],
        "margin": margin,
        "typed": best["typed"],
        "type_match": best["type_match"],
        "type_missing": best["typed"] * (1.0 - best["type_match"]),
        "type_absent": best["typed"] * (1.0 - max(r["type_match"] for r in stages["rows"])),
        "stage1": best["stage1"],
    }


def reads_pair(q: dict[str, Any], stages: dict[str, Any], pair: PairCheck) -> bool:
    """Whether the service reads the best window with its neighbour (one more model call)."""
    c = q["candidates"][stages["windows"][0]]
    return c["pair_cross"] is not None and pair.reads(c["cross"])


def composed(q: dict[str, Any], stages: dict[str, Any], pair: PairCheck) -> tuple[bool, int]:
    """Whether the composed answer holds the fact, and its length in words."""
    c = q["candidates"][stages["windows"][0]]
    if reads_pair(q, stages, pair) and pair.joins(c["cross"], c["pair_cross"]):
        return c["pair_label"], c["pair_words"]
    return c["span_label"], c["span_words"]


def weights_for(questions: list[dict[str, Any]], balance: float) -> list[float]:
    """Each set weighs the same in total at ``balance`` 1, by its size at 0."""
    sizes = collections.Counter(q["set"] for q in questions)
    return [(len(questions) / len(sizes) / sizes[q["set"]]) ** balance for q in questions]


def fit_all(
    train: list[dict[str, Any]], windows: Reading, balance: float, unanswerable_weight: float = 3.0
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    w = weights_for(train, balance)
    m1 = Softmax(STAGE1).fit(
        [
            (
                matrix([c["features"] for c in q["candidates"]], STAGE1),
                np.array([c["label"] for c in q["candidates"]], bool),
            )
            for q in train
        ],
        w,
    )
    # Stage 2 learns from the windows stage 1 actually hands it.
    s1_runs = [run_stages(q, m1, _Identity(), windows) for q in train]
    groups2 = []
    for q, st in zip(train, s1_runs, strict=True):
        rows = st.get("rows", [])
        groups2.append(
            (
                matrix(rows, STAGE2),
                np.array([q["candidates"][i]["label"] for i in st.get("windows", [])], bool),
            )
        )
    m2 = Softmax(STAGE2).fit(groups2, w)
    runs = [run_stages(q, m1, m2, windows) for q in train]
    mp = Softmax(PASSAGES).fit(
        [
            (
                matrix(passage_rows(q, st), PASSAGES),
                np.array([p["label"] for p in q["passages"]], bool),
            )
            for q, st in zip(train, runs, strict=True)
        ],
        w,
    )
    # The confidence estimates whether the corpus answers the question at all: abstaining is for
    # those it does not, and withholding a wrong answer to an answerable question gains nothing in
    # answer accuracy (both count as wrong). Fitted on "the answer holds the fact" instead, it
    # withheld more right answers for fewer abstentions (docs/answers.md). It learns as much from
    # each set (balance 1) and three times as much from a question the corpus cannot answer:
    # those are few, and what abstention is for.
    xs, ys, ws = [], [], []
    for q, st, weight in zip(train, runs, weights_for(train, 1.0), strict=True):
        if st["windows"]:
            xs.append([confidence_row(st)[n] for n in CONFIDENCE])
            ys.append(q["answerable"])
            ws.append(weight * (1.0 if q["answerable"] else unanswerable_weight))
    conf = LogisticRegression(C=1.0, max_iter=2000).fit(
        np.array(xs), np.array(ys), sample_weight=np.array(ws)
    )
    return {"stage1": m1, "stage2": m2, "passages": mp, "confidence": conf}


class _Identity(Softmax):
    """Stage 2 before it is fitted: rows are only collected."""

    def __init__(self) -> None:
        pass

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


def predict(q: dict[str, Any], models: dict[str, Any], windows: Reading) -> dict[str, Any]:
    st = run_stages(q, models["stage1"], models["stage2"], windows)
    out: dict[str, Any] = {"q": q, "stages": st}
    if q["passages"]:
        ps = models["passages"](matrix(passage_rows(q, st), PASSAGES))
        out["passage_order"] = list(np.argsort(-ps, kind="stable"))
    else:
        out["passage_order"] = []
    if st["windows"]:
        x = np.array([[confidence_row(st)[n] for n in CONFIDENCE]])
        out["confidence"] = float(models["confidence"].predict_proba(x)[0, 1])
    else:
        out["confidence"] = 0.0
    return out


def out_of_fold(
    questions: list[dict[str, Any]],
    folds: list[tuple[np.ndarray, np.ndarray]],
    windows: Reading,
    balance: float,
    unanswerable_weight: float,
) -> list[dict[str, Any]]:
    """Every question's prediction by the models fitted on the other folds."""
    preds: list[dict[str, Any]] = [{}] * len(questions)
    for train_idx, test_idx in folds:
        models = fit_all([questions[i] for i in train_idx], windows, balance, unanswerable_weight)
        for i in test_idx:
            preds[i] = predict(questions[i], models, windows)
    return preds


def other_splits(
    questions: list[dict[str, Any]],
    repeats: int,
    n_folds: int,
    windows: Reading,
    pair: PairCheck,
    balance: float,
    unanswerable_weight: float,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Cross-validated again over ``repeats`` random assignments of articles to folds (seeds
    1..repeats): per set, the mean and s.d. of recall@1, first answers, and answer accuracy and
    abstention with each fold's threshold chosen on the other folds."""
    from sklearn.model_selection import GroupKFold

    groups = [q["group"] for q in questions]
    got: dict[str, dict[str, list[float]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for seed in range(1, repeats + 1):
        split = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        folds = list(split.split(questions, groups=groups))
        preds = out_of_fold(questions, folds, windows, balance, unanswerable_weight)
        # Recall does not depend on the threshold: any one gives it.
        recall, first = report(preds, 0.0, pair), ceiling(preds, pair)
        for name, values in threshold_out_of_fold(preds, folds, pair, unanswerable_weight).items():
            row = got[name]
            row["recall@1"].append(recall[name]["recall@1"])
            row["first"].append(first[name]["first"])
            for k, v in values.items():
                row[k].append(v)
    return {
        s: {k: (float(np.mean(v)), float(np.std(v))) for k, v in r.items()}
        for s, r in sorted(got.items())
    }


def answered(p: dict[str, Any], threshold: float) -> bool:
    """Whether the service answers a prediction's question at ``threshold`` (or abstains)."""
    return bool(p["stages"]["windows"]) and p["confidence"] >= threshold


def report(preds: list[dict[str, Any]], threshold: float, pair: PairCheck) -> dict[str, Any]:
    rows: dict[Any, dict[str, list[float]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for p in preds:
        q = p["q"]
        keys = [q["set"], (q["set"], q["kind"])]
        given = answered(p, threshold)
        for k in keys:
            rows[k]["windows_read"].append(len(p["stages"]["windows"]))
            rows[k]["pairs_read"].append(given and reads_pair(q, p["stages"], pair))
        if not q["answerable"]:
            for k in keys:
                rows[k]["abstained"].append(not given)
            continue
        labels = [q["passages"][i]["label"] for i in p["passage_order"]]
        ok, words = composed(q, p["stages"], pair) if given else (False, 0)
        for k in keys:
            rows[k]["recall@1"].append(bool(labels[:1] and labels[0]))
            rows[k]["recall@5"].append(any(labels[:5]))
            rows[k]["answer_accuracy"].append(ok)
            if given:
                rows[k]["words"].append(words)
    out = {}
    for k, v in rows.items():
        out[k] = {
            m: round(float(np.median(x) if m == "words" else np.mean(x)), 3)
            for m, x in v.items()
            if x
        } | {"n": max(len(x) for x in v.values())}
    return out


def ceiling(preds: list[dict[str, Any]], pair: PairCheck) -> dict[str, dict[str, float]]:
    """Where answers are lost, per set, over answerable questions (out of fold): a right span
    anywhere among the top passages' sentences, among those cross-encoded when collecting
    (``--read``), among the windows stage 1 hands stage 2, and first after stage 2."""
    rows: dict[str, dict[str, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for p in preds:
        q = p["q"]
        if not q["answerable"]:
            continue
        cands, windows = q["candidates"], p["stages"]["windows"]
        r = rows[q["set"]]
        r["pool"].append(any(c["span_label"] for c in cands))
        r["read"].append(any(c["span_label"] for c in cands if c["cross"] is not None))
        r["windows"].append(any(cands[i]["span_label"] for i in windows))
        r["first"].append(bool(windows) and composed(q, p["stages"], pair)[0])
    return {s: {k: round(float(np.mean(v)), 3) for k, v in r.items()} for s, r in rows.items()}


def handled_well(
    preds: list[dict[str, Any]], threshold: float, pair: PairCheck, unanswerable_weight: float = 3.0
) -> float:
    """Right answers plus abstentions on unanswerable questions, over all questions, a question
    the corpus cannot answer counting ``unanswerable_weight`` times (as in the confidence fit:
    they are few, and a confident wrong answer is the worse error): per set with both kinds,
    averaged."""
    by_set: dict[str, list[tuple[bool, float]]] = collections.defaultdict(list)
    for p in preds:
        q = p["q"]
        given = answered(p, threshold)
        good = (
            composed(q, p["stages"], pair)[0]
            if given and q["answerable"]
            else not (given or q["answerable"])
        )
        by_set[q["set"]].append((good, 1.0 if q["answerable"] else unanswerable_weight))
    mixed = [
        s for s in by_set if any(not p["q"]["answerable"] for p in preds if p["q"]["set"] == s)
    ]
    rates = [sum(w for good, w in by_set[s] if good) / sum(w for _, w in by_set[s]) for s in mixed]
    return float(np.mean(rates)) if rates else 0.0


def run_of_best(
    preds: list[dict[str, Any]], pair: PairCheck, unanswerable_weight: float = 3.0
) -> tuple[float, float]:
    """The lowest and highest thresholds under which the most questions are handled well
    (``handled_well``): every threshold between two neighbouring confidences scores the same."""
    candidates = sorted({round(p["confidence"], 3) for p in preds} | {0.0})
    values = [handled_well(preds, t, pair, unanswerable_weight) for t in candidates]
    best = max(values)
    first = next(i for i, v in enumerate(values) if v > best - 1e-9)
    last = first
    while last + 1 < len(values) and values[last + 1] > best - 1e-9:
        last += 1
    return candidates[first], candidates[last]


# Which threshold of the run of best ones to take (eval/threshold_rules.py compares them).
RULES: dict[str, Callable[[float, float], float]] = {
    "lowest": lambda low, high: low,
    "middle": lambda low, high: (low + high) / 2,
    "highest": lambda low, high: high,
}


def choose_threshold(
    preds: list[dict[str, Any]],
    pair: PairCheck,
    unanswerable_weight: float = 3.0,
    rule: str = "middle",
) -> float:
    """The abstention threshold: the middle of the run of best thresholds (``run_of_best``), not
    the lowest, which sits just above an unanswerable question's confidence: chosen on four folds
    it let the fifth's through (eval/threshold_rules.py, docs/answers.md)."""
    return round(RULES[rule](*run_of_best(preds, pair, unanswerable_weight)), 3)


def threshold_out_of_fold(
    preds: list[dict[str, Any]],
    folds: list[tuple[np.ndarray, np.ndarray]],
    pair: PairCheck,
    unanswerable_weight: float = 3.0,
    rule: str = "middle",
) -> dict[str, dict[str, float]]:
    """Answer accuracy and abstention per set when each fold's threshold is chosen (by ``rule``)
    on the other folds' predictions: the threshold, too, meets questions it was not chosen on."""
    rows: dict[str, dict[str, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for train_idx, test_idx in folds:
        t = choose_threshold([preds[i] for i in train_idx], pair, unanswerable_weight, rule)
        for i in test_idx:
            p, q = preds[i], preds[i]["q"]
            if q["answerable"]:
                rows[q["set"]]["answer_accuracy"].append(
                    answered(p, t) and composed(q, p["stages"], pair)[0]
                )
            else:
                rows[q["set"]]["abstained"].append(not answered(p, t))
    return {
        s: {k: float(np.mean(v)) for k, v in sorted(r.items())} for s, r in sorted(rows.items())
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", action="append", required=True, help="NAME=INDEX:QUESTIONS[:SAMPLE]")
    ap.add_argument(
        "--read",
        type=int,
        default=READ,
        help="Candidates cross-encoded when collecting: the service reads no others (read_pool).",
    )
    ap.add_argument(
        "--context",
        choices=["title", "none"],
        default="title",
        help="What the cross-encoder reads before each window (the article's headline, or nothing).",
    )
    ap.add_argument(
        "--windows", type=int, default=5, help="Most sentences the service cross-encodes."
    )
    ap.add_argument(
        "--min-windows", type=int, default=2, help="Sentences it cross-encodes in any case."
    )
    ap.add_argument(
        "--window-gap",
        type=float,
        default=2.5,
        help="It reads the others only within this much of the best stage-1 score (a negative "
        "value: all of them).",
    )
    ap.add_argument(
        "--pair-below",
        type=float,
        default=None,
        help="Read the answer sentence with its neighbour only when the sentence's logit is "
        "below this (default: always).",
    )
    ap.add_argument(
        "--read-more-below",
        type=float,
        default=None,
        help="When no window read scores this logit or more, read --read-more more (default: "
        "never).",
    )
    ap.add_argument(
        "--read-more", type=int, default=3, help="Candidates read next by stage 1 when it does."
    )
    ap.add_argument("--balance", type=float, default=0.5, help="0: sets weigh by size; 1: equally.")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="Other random assignments of articles to folds to cross-validate over again (the "
        "spread of the figures with the split alone).",
    )
    ap.add_argument("--cache", type=Path, default=None, help="Where collected candidates are kept.")
    ap.add_argument("--out", type=Path, default=None, help="Parameter file to write.")
    ap.add_argument(
        "--unanswerable-weight",
        type=float,
        default=3.0,
        help="Weight of a question the corpus cannot answer in the confidence fit and in the "
        "choice of threshold.",
    )
    args = ap.parse_args()
    questions = collected(args.set, args.read, args.context, args.cache)
    from sklearn.model_selection import GroupKFold

    reading = Reading(
        args.windows,
        args.min_windows,
        None if args.window_gap < 0 else args.window_gap,
        args.read_more_below,
        args.read_more if args.read_more_below is not None else 0,
    )

    groups = [q["group"] for q in questions]
    folds = list(GroupKFold(n_splits=args.folds).split(questions, groups=groups))
    preds = out_of_fold(questions, folds, reading, args.balance, args.unanswerable_weight)
    if os.environ.get("FIT_DUMP"):
        Path(os.environ["FIT_DUMP"]).write_bytes(pickle.dumps(preds))
    best_acc = -1.0
    best_pair = PairCheck(1.0, args.pair_below)
    # The pair margin: the most accurate one whose answers stay short (median at most
    # MAX_MEDIAN_WORDS in every set).
    for margin in MARGINS:
        pair = PairCheck(margin, args.pair_below)
        words: dict[str, list[int]] = collections.defaultdict(list)
        for p in preds:
            if p["stages"]["windows"]:
                words[p["q"]["set"]].append(composed(p["q"], p["stages"], pair)[1])
        if any(np.median(w) > MAX_MEDIAN_WORDS for w in words.values()):
            continue
        acc = np.mean(
            [
                composed(p["q"], p["stages"], pair)[0]
                for p in preds
                if p["q"]["answerable"] and p["stages"]["windows"]
            ]
        )
        if acc > best_acc:
            best_acc, best_pair = acc, pair
    best_t = choose_threshold(preds, best_pair, args.unanswerable_weight)
    print("threshold: answer accuracy / abstained, per set; handled well (cross-validated)")
    tradeoff = {}
    for t in [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]:
        r = report(preds, t, best_pair)
        names = sorted(x for x in r if isinstance(x, str))
        tradeoff[f"{t:.1f}"] = {
            k: [r[k].get("answer_accuracy"), r[k].get("abstained")] for k in names
        }
        cells = [
            f"{k} {r[k].get('answer_accuracy', '-')} / {r[k].get('abstained', '-')}" for k in names
        ]
        print(
            f"  {t:.1f}: "
            + "; ".join(cells)
            + f"; handled well {handled_well(preds, t, best_pair, args.unanswerable_weight):.3f}"
        )
    final = report(preds, best_t, best_pair)
    print(
        f"threshold {best_t:.3f}, pair margin {best_pair.margin}, read below {best_pair.below} "
        f"(cross-validated, {args.folds} folds by article)"
    )
    for k in sorted(final, key=str):
        print(k, final[k])
    nested = {
        s: {k: round(v, 3) for k, v in r.items()}
        for s, r in threshold_out_of_fold(preds, folds, best_pair, args.unanswerable_weight).items()
    }
    print(f"with the threshold chosen on the other folds: {nested}")
    limits = ceiling(preds, best_pair)
    print("ceiling: a right span in the pool / cross-encoded / windows / first (answerable)")
    for name, values in sorted(limits.items()):
        print(f"  {name}: {values}")
    # The figures above are one assignment of articles to folds, the one every choice was
    # measured on; other assignments say how far they move with the split alone.
    repeated = {
        s: {k: [round(m, 3), round(sd, 3)] for k, (m, sd) in r.items()}
        for s, r in other_splits(
            questions,
            args.repeats,
            args.folds,
            reading,
            best_pair,
            args.balance,
            args.unanswerable_weight,
        ).items()
    }
    if repeated:
        print(f"over {args.repeats} other assignments of articles to folds, mean [s.d.]:")
        for name, values in repeated.items():
            print(f"  {name}: " + ", ".join(f"{k} {m} [{sd}]" for k, (m, sd) in values.items()))
    models = fit_all(questions, reading, args.balance, args.unanswerable_weight)
    conf = models["confidence"]
    params = {
        "stage1": models["stage1"].export(),
        "stage2": models["stage2"].export(),
        "passages": models["passages"].export(),
        "confidence": {
            "weights": {
                n: round(float(v), 6) for n, v in zip(CONFIDENCE, conf.coef_[0], strict=True)
            },
            "bias": round(float(conf.intercept_[0]), 6),
        },
        "threshold": best_t,
        "span_margin": best_pair.margin,
        "pair_below": best_pair.below,
        "context": args.context,
        "min_windows": reading.least,
        "window_gap": reading.gap,
        "read_more_below": reading.more_below,
        "read_more": reading.more,
        "read_pool": args.read,
        "fitted": {
            "command": f"python eval/fit_answer_model.py --context {args.context} "
            + ("" if args.read == READ else f"--read {args.read} ")
            + f"--windows {args.windows} --min-windows {args.min_windows} "
            + f"--window-gap {args.window_gap} "
            + ("" if args.pair_below is None else f"--pair-below {args.pair_below} ")
            + (
                ""
                if args.read_more_below is None
                else f"--read-more-below {args.read_more_below} --read-more {args.read_more} "
            )
            + " ".join(f"--set {s}" for s in args.set),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "windows": args.windows,
            "balance": args.balance,
            "questions": dict(collections.Counter(q["set"] for q in questions)),
            "cross_validated": {k: v for k, v in final.items() if isinstance(k, str)},
            "threshold_out_of_fold": nested,
            "other_fold_assignments": {"repeats": args.repeats, "mean_sd": repeated},
            "threshold_tradeoff": tradeoff,
            "ceiling": limits,
        },
    }
    if args.out:
        args.out.write_text(json.dumps(params, indent=2) + "\n", "utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
