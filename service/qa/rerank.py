"""The reranking stage: a cross-encoder reads the question with the best candidate sentences.

A cross-encoder costs about 20 ms per sentence here (0.2-0.3 ms per token), so it reads only a
few sentences:

1. *Stage 1* ranks the sentences of the top passages by what is already known about them
   (bi-encoder cosine, coverage of the question's words, the passage's retrieval score, whether
   the sentence holds an entity of the asked type, its shape), with no model call.
2. The cross-encoder scores the ``windows`` best of them (of those, only the first
   ``min_windows`` and the ones within ``window_gap`` of the best stage-1 score), each after its
   article's headline when the fitted model says so (``context``); when none of them scores
   ``read_more_below``, the ``read_more`` next ones too. Only the ``read_pool`` best sentences by
   bi-encoder evidence may be read: the fit has the logits of those.
3. *Stage 2* scores those sentences as answers from the cross-encoder's logit and the stage-1
   features; the best one is the answer candidate.
4. Passages are reordered from their retrieval score, their best sentence score, the stage-2
   score of their best scored sentence and whether one of their sentences holds the asked type.
5. The answer's *confidence* is a probability that the corpus answers the question at all, from
   the candidate's scores and the type evidence; below a threshold the answer is withheld.

Every scorer is linear, its weights in ``answer_model.json`` with the command that refits them
(``eval/fit_answer_model.py``); the measurements that chose this design: docs/answers.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

from indexer.reader import IndexReader
from service.qa.answer_types import Kind, expected_kind, gives_reason, holds, is_yes_no, settles
from service.qa.cross_encoder import CrossEncoder
from service.qa.entity_types import AnswerType, answer_type, matches
from service.qa.extract import ScoredSentence, rank_priors
from service.qa.retrieval import Hit

# Sentences of this many top passages compete.
POOL_PASSAGES = 10
MODEL_FILE = "answer_model.json"
# Stand-in for "no sentence of this passage was read by the cross-encoder" in gap features.
UNSCORED_GAP = -10.0

_QUOTE = re.compile(r"[“”\"]")
_FINAL = re.compile(r"[.!?…\"”’)\]]\s*$")


def is_heading(text: str) -> bool:
    """A headline or section title line: short, no closing punctuation, not a lead-in."""
    stripped = text.strip()
    return (
        not _FINAL.search(stripped) and not stripped.endswith(":") and len(stripped.split()) <= 12
    )


@dataclass(frozen=True)
class Linear:
    """``bias + sum(weight * feature)`` over named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def __call__(self, values: dict[str, float]) -> float:
        pairs = zip(self.features, self.weights, strict=True)
        return self.bias + sum(w * values[f] for f, w in pairs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Linear:
        weights = d["weights"]
        return cls(tuple(weights), tuple(float(v) for v in weights.values()), float(d["bias"]))


@dataclass(frozen=True)
class AnswerModel:
    """The fitted parameters of the reranking stage (``answer_model.json``)."""

    stage1: Linear
    stage2: Linear
    passages: Linear
    confidence: Linear
    threshold: float  # abstain when the confidence is below this
    span_margin: float  # a neighbour joins the answer when the pair scores this much higher
    fitted: dict[str, Any] = field(default_factory=dict)  # how and on what it was fitted
    # What the cross-encoder reads before each window: "title" (the article's headline, which
    # names what "the company" or "he" is) or "none". The weights were fitted with it.
    context: str = "none"
    # Of the ``windows`` best candidates, those after the first ``min_windows`` whose stage-1
    # score is more than ``window_gap`` below the best are not read (None: all are read).
    min_windows: int = 1
    window_gap: float | None = None
    # The pair is read only for an answer sentence whose logit is below this (None: always):
    # above it the model's logits are near their ceiling and a pair rarely scores
    # ``span_margin`` more, so the call is saved.
    pair_below: float | None = None
    # When no window read scores ``read_more_below`` or more (None: never), the ``read_more``
    # next candidates by stage 1 are read too: stage 1 may have missed the answer, and a question
    # whose windows all score low either finds it there or is more surely one the corpus cannot
    # answer.
    read_more_below: float | None = None
    read_more: int = 0
    # Only the first ``read_pool`` candidates by bi-encoder evidence (``Candidate.rank``) are ever
    # read (None: any): the fit has the logits of those only, so beyond them the service would
    # read what its parameters were never fitted on.
    read_pool: int | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> AnswerModel:
        text = (
            path.read_text("utf-8")
            if path
            else files("service.qa").joinpath(MODEL_FILE).read_text("utf-8")
        )
        d = json.loads(text)
        return cls(
            stage1=Linear.from_dict(d["stage1"]),
            stage2=Linear.from_dict(d["stage2"]),
            passages=Linear.from_dict(d["passages"]),
            confidence=Linear.from_dict(d["confidence"]),
            threshold=float(d["threshold"]),
            span_margin=float(d["span_margin"]),
            fitted=d.get("fitted", {}),
            context=str(d.get("context", "none")),
            min_windows=int(d.get("min_windows", 1)),
            window_gap=None if d.get("window_gap") is None else float(d["window_gap"]),
            pair_below=None if d.get("pair_below") is None else float(d["pair_below"]),
            read_more_below=(
                None if d.get("read_more_below") is None else float(d["read_more_below"])
            ),
            read_more=int(d.get("read_more", 0)),
            read_pool=None if d.get("read_pool") is None else int(d["read_pool"]),
        )

    def reading(self, windows: int) -> Reading:
        """Which of the ``windows`` best candidates the cross-encoder reads (``read_in_turn``)."""
        return Reading(
            windows, self.min_windows, self.window_gap, self.read_more_below, self.read_more
        )

    @property
    def pair(self) -> PairCheck:
        """When the answer sentence grows to the pair with its neighbour."""
        return PairCheck(self.span_margin, self.pair_below)


@dataclass
class Candidate:
    """A sentence of the top passages, with what is known of it before any model call."""

    sentence: ScoredSentence
    hit: Hit  # the passage it is taken from (of two overlapping ones, the better-scored)
    position: int  # its index among that passage's sentences
    features: dict[str, float]
    entities: list[tuple[str, int, int]]  # (label, start, end) in document offsets
    rank: int = 0  # its place in the pool, by bi-encoder evidence
    stage1: float = 0.0
    cross: float | None = None
    score: float | None = None  # stage 2


@dataclass
class Reranked:
    hits: list[Hit]  # the new passage order
    windows: list[Candidate]  # the cross-encoded candidates, best answer first
    confidence: float  # that the corpus answers the question (windows[0] the best answer)


def stage1_features(
    question: str,
    atype: AnswerType | None,
    sentence: ScoredSentence,
    entities: list[tuple[str, int, int]],
    pre: float,
    rank: int,
    passage_rank: int,
    retrieval: float,
    named: str | None = None,
) -> dict[str, float]:
    """``named``: the question whose entities are not answers (by default ``question``)."""
    named = named or question
    text = sentence.text
    kind = expected_kind(question)
    found = [(label, text[a - sentence.start : b - sentence.start]) for label, a, b in entities]
    typed = atype is not None
    return {
        "pre": pre,
        "cosine": sentence.dense,
        "headline": sentence.headline,
        "coverage": sentence.coverage,
        "retrieval": retrieval,
        "pre_rank": math.log1p(rank),
        "passage_rank": math.log1p(passage_rank),
        "log_words": math.log(max(1, len(text.split()))),
        "typed": float(typed),
        "type_match": float(typed and any(matches(atype, lb, t, named) for lb, t in found)),  # type: ignore[arg-type]
        "person_match": float(
            atype is not None
            and atype.name in ("who", "person")
            and any(matches(atype, lb, t, named) for lb, t in found if lb == "PERSON")
        ),
        "kind_pattern": float(kind is not None and holds(text, kind, question)),
        "lead_in": float(text.rstrip().endswith(":")),
        "quote": float(bool(_QUOTE.search(text))),
        "heading": float(is_heading(text)),
        "settles": float(is_yes_no(question) and settles(text)),
        "reason_cue": float(kind == Kind.REASON and gives_reason(text)),
    }


class Reranker:
    def __init__(
        self,
        cross_encoder: CrossEncoder,
        reader: IndexReader,
        model: AnswerModel | None = None,
        windows: int = 5,
    ) -> None:
        self.cross_encoder = cross_encoder
        self.reader = reader
        self.model = model or default_model()
        self.windows = windows

    def candidates(
        self,
        question: str,
        hits: list[Hit],
        scored: dict[int, list[ScoredSentence]],
        asked: str | None = None,
    ) -> list[Candidate]:
        """The sentences of the top passages, each once, best by stage 1 first."""
        out = self.pool(question, hits, scored, asked)
        for c in out:
            c.stage1 = self.model.stage1(c.features)
        out.sort(key=lambda c: -c.stage1)
        return out

    def pool(
        self,
        question: str,
        hits: list[Hit],
        scored: dict[int, list[ScoredSentence]],
        asked: str | None = None,
    ) -> list[Candidate]:
        """The sentences (headlines aside) of the top passages, each once, with their stage-1
        features, by bi-encoder evidence (sentence score plus the passage's rank prior).

        ``question`` is what is searched for; ``asked``, the question as asked when it differs
        (it names what it rules out: "besides Tworek"), decides which entities are new.
        """
        top = hits[:POOL_PASSAGES]
        if not top:
            return []
        retrieved = [h.score if h.retrieval is None else h.retrieval for h in top]
        best = max(retrieved) or 1.0
        seen: dict[int, tuple[float, int, int, ScoredSentence]] = {}
        for i, (hit, prior) in enumerate(zip(top, rank_priors(retrieved), strict=True)):
            sentences = scored.get(hit.chunk.id, [])
            # A passage that is nothing but its title line (a one-line record whose text is its
            # title) keeps it: there is nothing else to read.
            only_title = all(x.is_title for x in sentences)
            for j, s in enumerate(sentences):
                if s.is_title and not only_title:
                    continue
                pre = s.score + prior
                if s.sentence_id not in seen or seen[s.sentence_id][0] < pre:
                    seen[s.sentence_id] = (pre, i, j, s)
        ordered = sorted(seen.values(), key=lambda v: -v[0])
        entities = (
            self.reader.entities(s.sentence_id for *_, s in ordered)
            if self.reader.has_entities
            else {}
        )
        atype = answer_type(question)
        out = []
        for rank, (pre, i, j, s) in enumerate(ordered):
            found = entities.get(s.sentence_id, [])
            features = stage1_features(
                question,
                atype,
                s,
                found,
                pre,
                rank,
                i,
                retrieved[i] / best if best else 0.0,
                named=asked or question,
            )
            out.append(Candidate(s, top[i], j, features, found, rank))
        return out

    def score_windows(self, question: str, pool: list[Candidate]) -> list[Candidate]:
        """Cross-encode the candidates ``read_in_turn`` chooses (of the ``read_pool`` best by
        bi-encoder evidence); stage-2 scores, best first."""
        model = self.model
        if model.read_pool is not None:
            pool = [c for c in pool if c.rank < model.read_pool]
        read, logits = read_in_turn(
            [c.stage1 for c in pool],
            lambda at: self.logits(question, [(pool[n].hit, [pool[n].sentence.text]) for n in at]),
            model.reading(self.windows),
        )
        if not read:
            return []
        chosen = [pool[n] for n in read]
        top_cross, top_stage1 = max(logits), max(c.stage1 for c in chosen)
        for c, logit in zip(chosen, logits, strict=True):
            c.cross = logit
            c.features |= stage2_features(logit, top_cross, c.stage1, top_stage1)
            c.score = model.stage2(c.features)
        return sorted(chosen, key=lambda c: -(c.score or 0.0))

    def rerank(
        self,
        question: str,
        hits: list[Hit],
        scored: dict[int, list[ScoredSentence]],
        asked: str | None = None,
    ) -> Reranked:
        pool = self.candidates(question, hits, scored, asked)
        windows = self.score_windows(question, pool)
        return Reranked(self.order(hits, scored, windows, pool), windows, self.confidence(windows))

    def order(
        self,
        hits: list[Hit],
        scored: dict[int, list[ScoredSentence]],
        windows: list[Candidate],
        pool: list[Candidate],
    ) -> list[Hit]:
        """Passages by the passage scorer: retrieval, evidence, their best read sentence, and
        whether any of their sentences in ``pool`` holds an entity of the asked type."""
        if not windows or not hits:
            return hits
        by_sentence = {c.sentence.sentence_id: c for c in windows}
        typed = {c.sentence.sentence_id: c.features["type_match"] for c in pool}
        top_answer = max(c.score or 0.0 for c in windows)
        top_cross = max(c.cross or 0.0 for c in windows)
        top = max(h.score for h in hits) or 1.0
        keyed = []
        for rank, hit in enumerate(hits):
            sentences = scored.get(hit.chunk.id, [])
            read = [by_sentence[s.sentence_id] for s in sentences if s.sentence_id in by_sentence]
            type_any = max((typed.get(s.sentence_id, 0.0) for s in sentences), default=0.0)
            values = passage_features(
                hit, sentences, read, rank, top, top_answer, top_cross, type_any
            )
            keyed.append((self.model.passages(values), rank, hit))
        keyed.sort(key=lambda k: (-k[0], k[1]))
        # The served score is the passage scorer's: it orders them. The retrieval score stays.
        return [
            replace(h, score=value, retrieval=h.score if h.retrieval is None else h.retrieval)
            for value, _, h in keyed
        ]

    def confidence(self, windows: list[Candidate]) -> float:
        """The probability that the best window holds the answer, from its scores."""
        if not windows:
            return 0.0
        return sigmoid(self.model.confidence(confidence_features(windows)))

    def logits(self, question: str, windows: list[tuple[Hit, list[str]]]) -> list[float]:
        """The cross-encoder's logit of each window (consecutive sentences of a hit: a
        candidate alone, or with its neighbour), in one call."""
        if not windows:
            return []
        texts = [self.window_text(hit, sentences) for hit, sentences in windows]
        return [float(x) for x in self.cross_encoder.score(question, texts)]

    def window_text(self, hit: Hit, texts: list[str]) -> str:
        """What the cross-encoder reads for sentences of ``hit``: with the model's context."""
        return window_text(self.model.context, hit.chunk.title, texts)


class Reading(NamedTuple):
    """Which candidates the cross-encoder reads (``read_in_turn``): of the ``most`` best by
    stage 1, the first ``least`` and those within ``gap`` of the best (all when None); then, when
    none of them scores ``more_below`` or more (never when None), the next ``more`` by stage 1."""

    most: int
    least: int = 1
    gap: float | None = None
    more_below: float | None = None
    more: int = 0


class PairCheck(NamedTuple):
    """When the answer sentence grows to the pair with its neighbour (``compose``): the pair is
    read only for a sentence whose logit is below ``below`` (always when None), and replaces the
    sentence when it scores ``margin`` more. (The fit runs the same checks over cached logits.)"""

    margin: float
    below: float | None = None

    def reads(self, logit: float | None) -> bool:
        """Whether the pair is read (one more model call) for a sentence with this logit."""
        return logit is not None and (self.below is None or logit < self.below)

    def joins(self, logit: float, together: float) -> bool:
        """Whether the pair, scoring ``together``, replaces the sentence scoring ``logit``."""
        return together > logit + self.margin


def read_in_turn(
    stage1: Sequence[float], logits: Callable[[list[int]], list[float]], reading: Reading
) -> tuple[list[int], list[float]]:
    """The positions of the candidates read and their logits. ``stage1``: the candidates'
    stage-1 scores, best first; ``logits``: the logits of the candidates at the positions given,
    in one model call. Where stage 1 is sure, fewer are read: each costs about 17 ms here. (The
    fit, eval/fit_answer_model.py, runs this over its cached logits.)"""
    first = list(range(min(reading.most, len(stage1))))
    if reading.gap is not None and first:
        first = [n for n in first if n < reading.least or stage1[0] - stage1[n] <= reading.gap]
    if not first:
        return [], []
    read = logits(first)
    if reading.more_below is not None and max(read) < reading.more_below:
        taken = set(first)
        more = [n for n in range(len(stage1)) if n not in taken][: reading.more]
        if more:
            first, read = first + more, read + logits(more)
    return first, read


def window_text(context: str, title: str | None, texts: list[str]) -> str:
    body = " ".join(texts)
    if context == "title" and title and title.strip():
        return f"{title.strip().rstrip('.')}. {body}"
    return body


def stage2_features(
    logit: float, top_cross: float, stage1: float, top_stage1: float
) -> dict[str, float]:
    """What stage 2 adds to a read window's stage-1 features (the service's and the fit's):
    its logit, its stage-1 score, each as it is and below the best of the windows read, and
    whether the cross-encoder scores it best (alone and times its logit: the model's first
    choice counts for more than a linear use of its logit gives it)."""
    top = float(logit >= top_cross)
    return {
        "cross": logit,
        "cross_gap": logit - top_cross,
        "cross_top": top,
        "cross_top_logit": top * logit,
        "stage1": stage1,
        "stage1_gap": stage1 - top_stage1,
    }


def passage_features(
    hit: Hit,
    sentences: list[ScoredSentence],
    read: list[Candidate],
    rank: int,
    top: float,
    top_answer: float,
    top_cross: float,
    type_any: float = 0.0,
) -> dict[str, float]:
    """``type_any``: 1 when a sentence of the passage among the candidates holds an entity of
    the asked type that the question does not name."""
    evidence = max((s.score for s in sentences if not s.is_title), default=0.0)
    return {
        "served": hit.score / top,
        "retrieval": hit.score / top if hit.retrieval is None else hit.retrieval,
        "evidence": evidence,
        "rank": math.log1p(rank),
        "read": float(bool(read)),
        "answer_gap": max((c.score or 0.0) for c in read) - top_answer if read else UNSCORED_GAP,
        "cross_gap": max((c.cross or 0.0) for c in read) - top_cross if read else UNSCORED_GAP,
        "type_any": type_any,
    }


def confidence_features(windows: list[Candidate]) -> dict[str, float]:
    best = windows[0]
    second = windows[1].score if len(windows) > 1 else None
    typed = best.features["typed"]
    return {
        "cross": best.cross or 0.0,
        "answer": best.score or 0.0,
        "margin": (best.score or 0.0) - (second if second is not None else (best.score or 0.0) - 5),
        "typed": typed,
        "type_match": best.features["type_match"],
        "type_missing": typed * (1.0 - best.features["type_match"]),
        "type_absent": typed * (1.0 - max(c.features["type_match"] for c in windows)),
        "stage1": best.stage1,
    }


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@cache
def default_model() -> AnswerModel:
    return AnswerModel.load()
