"""The reranking stage over the seed index: the real cross-encoder, entities and fitted weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from service.api.app import build_answerer
from service.qa.answer import Answerer
from service.qa.rerank import AnswerModel, Reading, Reranker, is_heading, read_in_turn
from service.schemas import AskRequest
from service.settings import Settings


@pytest.fixture(scope="module")
def answerer(served_answerer: Answerer) -> Answerer:
    return served_answerer


def ask(answerer: Answerer, question: str, top_k: int = 5):  # type: ignore[no-untyped-def]
    return answerer.ask(AskRequest(question=question, top_k=top_k))


class Counting:
    """The real cross-encoder, recording how many texts each call scores."""

    name = "counting"

    def __init__(self, cross_encoder) -> None:  # type: ignore[no-untyped-def]
        self.cross_encoder = cross_encoder
        self.calls: list[int] = []

    def score(self, question: str, texts: list[str]):  # type: ignore[no-untyped-def]
        self.calls.append(len(texts))
        return self.cross_encoder.score(question, texts)


def document_text(answerer: Answerer, doc_id: str) -> str:
    row = answerer.retriever.reader.document(doc_id)
    assert row is not None
    return str(row["text"])


def test_the_quickstart_question_is_answered_with_the_reason(answerer: Answerer) -> None:
    answer = ask(answerer, "Why did Jerry Tworek leave OpenAI?").answer
    assert answer is not None
    reasons = ("continuous learning", "hard to do at OpenAI", "resources", "computing power")
    assert any(r in answer.text for r in reasons), answer.text
    assert "end of an era" not in answer.text


def test_a_who_question_gets_the_person_as_its_short_answer(answerer: Answerer) -> None:
    answer = ask(answerer, "Who is OpenAI's chief research officer?").answer
    assert answer is not None and answer.short is not None
    assert answer.short.text == "Mark Chen"
    text = document_text(answerer, answer.short.doc_id)
    assert text[answer.short.start : answer.short.end] == "Mark Chen"
    assert any(c.start <= answer.short.start < c.end for c in answer.citations)


def test_a_year_question_gets_the_sentence_with_the_year(answerer: Answerer) -> None:
    answer = ask(answerer, "What year did Jerry Tworek join OpenAI?").answer
    assert answer is not None and "2019" in answer.text, answer
    assert answer.short is not None and "2019" in answer.short.text


def test_the_whole_quote_answers_what_someone_said(answerer: Answerer) -> None:
    answer = ask(answerer, "What did Jenny Xiao say about OpenAI's moat?").answer
    assert answer is not None
    assert "That’s the wrong question." in answer.text
    assert answer.text.rstrip().endswith("stickier advantage.”"), answer.text


def test_each_part_of_a_multi_part_question_is_answered(answerer: Answerer) -> None:
    answer = ask(
        answerer,
        "Who is OpenAI's chief research officer, and what share of the enterprise AI market "
        "does Anthropic hold?",
    ).answer
    assert answer is not None and answer.parts is not None and len(answer.parts) == 2
    first, second = answer.parts
    assert first.text is not None and "Mark Chen" in first.text
    assert second.text is not None and "40%" in second.text
    assert first.question.startswith("Who is OpenAI") and second.question.startswith("What share")
    for part in answer.parts:
        for c in part.citations:
            assert document_text(answerer, c.doc_id)[c.start : c.end] in answer.text


def test_a_part_the_corpus_cannot_answer_is_not_found(answerer: Answerer) -> None:
    answer = ask(
        answerer, "Who is OpenAI's chief research officer, and how tall is Mount Everest?"
    ).answer
    assert answer is not None and answer.parts is not None
    assert answer.parts[0].text is not None and "Mark Chen" in answer.parts[0].text
    assert answer.parts[1].text is None and answer.parts[1].citations == []
    assert "Everest" not in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "How old is Jerry Tworek?",
        "What salary did Tworek earn at OpenAI?",
    ],
)
def test_questions_the_corpus_cannot_answer_get_no_answer(
    answerer: Answerer, question: str
) -> None:
    response = ask(answerer, question)
    assert response.answer is None, response.answer
    assert response.passages  # still shown, for the reader to judge


def test_headlines_and_title_lines_never_answer(answerer: Answerer) -> None:
    assert is_heading("The four simple stages of Plan & Grow BIG")
    assert is_heading("TERROR LEVEL 100")
    assert not is_heading("In the PLAN stage, make these your business focus:")
    assert not is_heading("Instead, they lost 24-17.")
    for question in (
        "Why did Jerry Tworek leave OpenAI?",
        "What is the departure of Jerry Tworek?",
        "OpenAI senior talent exodus",
    ):
        answer = ask(answerer, question).answer
        if answer is None:
            continue
        titles = {p.title for p in ask(answerer, question).passages}
        assert answer.text not in titles


def test_off_is_the_pipeline_without_the_reranker(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    off = build_answerer(Settings(index_dir=seed_index, reranker=False), embedder)
    assert off.reranker is None
    plain = Answerer(off.retriever)
    for question in (
        "Why did Jerry Tworek leave OpenAI?",
        "Who is OpenAI's chief research officer?",
    ):
        a, b = ask(off, question), ask(plain, question)
        assert a.model_dump(exclude={"took_ms"}) == b.model_dump(exclude={"took_ms"})
        assert a.answer is None or (a.answer.short is None and a.answer.parts is None)


def test_the_parameter_files_threshold_decides_abstention(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    """Without ``RAGQA_RERANKER_THRESHOLD`` the threshold is the answer model's, read at each
    question: a model swapped in later abstains by its own; a configured one overrides it."""
    question = "Who is OpenAI's chief research officer?"
    answerer = build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=cross_encoder)
    assert answerer.reranker is not None
    fitted = answerer.reranker.model
    assert ask(answerer, question).answer is not None
    answerer.reranker.model = replace(fitted, threshold=1.01)  # above any probability
    assert ask(answerer, question).answer is None
    forced = build_answerer(
        Settings(index_dir=seed_index, reranker_threshold=0.0),
        embedder,
        cross_encoder=cross_encoder,
    )
    assert forced.reranker is not None
    forced.reranker.model = replace(fitted, threshold=1.01)
    assert ask(forced, question).answer is not None


def test_the_cross_encoder_reads_only_the_configured_windows(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    counting = Counting(cross_encoder)
    seen = counting.calls
    settings = Settings(index_dir=seed_index, reranker_windows=3)
    answerer = build_answerer(settings, embedder, cross_encoder=counting)  # type: ignore[arg-type]
    least = answerer.reranker.model.min_windows  # type: ignore[union-attr]
    assert ask(answerer, "Who is OpenAI's chief research officer?").answer is not None
    assert least <= seen[0] <= 3 and all(n == 1 for n in seen[1:]) and len(seen) <= 2


def test_fewer_windows_are_read_where_stage_1_is_sure(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    """Of the five best candidates, those far below the best by stage 1 are not read."""
    from service.eval.evaluate import load_questions
    from tests.conftest import QUESTIONS

    counting = Counting(cross_encoder)
    read = counting.calls
    answerer = build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=counting)  # type: ignore[arg-type]
    model = answerer.reranker.model  # type: ignore[union-attr]
    assert model.window_gap is not None and model.min_windows >= 1
    windows = []
    for q in load_questions(QUESTIONS):
        read.clear()
        ask(answerer, q.question)
        windows.append(read[0])  # the first call reads the windows; the others, a pair each
    assert all(model.min_windows <= n <= 5 for n in windows), windows
    assert min(windows) < 5 and max(windows) == 5, windows


def test_more_windows_are_read_when_none_scores_well(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    """When no window read scores ``read_more_below``, the next ``read_more`` candidates by
    stage 1 are read too, in one more call, and compete as answers; otherwise not."""
    counting = Counting(cross_encoder)
    answerer = build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=counting)  # type: ignore[arg-type]
    reranker = answerer.reranker
    assert reranker is not None
    fitted = reranker.model
    assert fitted.read_more_below is not None and fitted.read_more > 0
    question = "Who is OpenAI's chief research officer?"
    retrieval = answerer.retriever.retrieve(question, 15)
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits)

    def windows(read_more_below: float, read_more: int = 2):  # type: ignore[no-untyped-def]
        reranker.model = replace(fitted, read_more_below=read_more_below, read_more=read_more)
        counting.calls.clear()
        pool = reranker.candidates(question, hits, scored)
        return pool, reranker.score_windows(question, pool)

    pool, some = windows(-100.0)
    first = counting.calls[0]
    assert counting.calls == [first] and len(some) == first
    # The question is answered well (its best logit clears the fitted bar): nothing more is read.
    assert max(c.cross or 0.0 for c in some) >= fitted.read_more_below
    windows(fitted.read_more_below)
    assert counting.calls == [first]
    pool, more = windows(100.0)
    assert counting.calls == [first, 2] and len(more) == first + 2
    read = {c.sentence.sentence_id for c in some}
    expected = [c.sentence.sentence_id for c in pool if c.sentence.sentence_id not in read][:2]
    assert {c.sentence.sentence_id for c in more} == read | set(expected)
    assert all(c.cross is not None and c.score is not None for c in more)


def test_only_the_pool_the_fit_read_is_read(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    """The fit has logits for the first ``read_pool`` candidates by bi-encoder evidence only;
    the service reads none beyond them, even when stage 1 ranks one first or it reads more."""
    answerer = build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=cross_encoder)
    reranker = answerer.reranker
    assert reranker is not None and reranker.model.read_pool == 24
    question = "Why did Jerry Tworek leave OpenAI?"
    retrieval = answerer.retriever.retrieve(question, 15)
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits)
    pool = reranker.candidates(question, hits, scored)
    assert [c.rank for c in sorted(pool, key=lambda c: c.rank)] == list(range(len(pool)))
    # Stage 1's best candidates, of which some lie beyond a pool of 3; read them all and more.
    assert any(c.rank >= 3 for c in pool[:5])
    reranker.model = replace(reranker.model, read_pool=3, read_more_below=100.0, read_more=5)
    read = reranker.score_windows(question, pool)
    assert sorted(c.rank for c in read) == [0, 1, 2]
    reranker.model = replace(reranker.model, read_pool=None)
    assert len(reranker.score_windows(question, pool)) > 3


def test_reading_in_turn_is_the_rule_the_fit_runs() -> None:
    """``read_in_turn`` (the service's and eval/fit_answer_model.py's) over stage-1 scores: the
    first ``least``, then those within ``gap`` of the best, of the ``most`` best; the next
    ``more`` in a second call only when no logit reaches ``more_below``."""
    stage1 = [9.0, 8.0, 5.0, 4.5, 4.0, 3.0, 2.0]
    calls: list[list[int]] = []

    def logits(score: float):  # type: ignore[no-untyped-def]
        def read(positions: list[int]) -> list[float]:
            calls.append(positions)
            return [score - n for n in positions]

        return read

    gap = Reading(most=5, least=2, gap=2.5, more_below=1.0, more=2)
    assert read_in_turn(stage1, logits(9.0), gap) == ([0, 1], [9.0, 8.0])
    assert calls == [[0, 1]]
    calls.clear()
    # None of [0, 1] scores 1.0: positions 2 and 3 (beyond the gap, not beyond ``most``) next.
    assert read_in_turn(stage1, logits(0.5), gap) == ([0, 1, 2, 3], [0.5, -0.5, -1.5, -2.5])
    assert calls == [[0, 1], [2, 3]]
    calls.clear()
    assert read_in_turn(stage1, logits(0.5), Reading(most=3))[0] == [0, 1, 2]
    assert read_in_turn(stage1[:2], logits(0.5), gap)[0] == [0, 1]  # nothing more to read
    assert calls == [[0, 1, 2], [0, 1]]
    assert read_in_turn([], logits(0.5), gap) == ([], [])


def test_the_pair_check_is_the_rule_the_fit_runs() -> None:
    """``PairCheck`` (the service's and eval/fit_answer_model.py's): the pair is read only for a
    sentence with a logit below ``below`` and wins only by more than ``margin``; the pair that
    wins carries on to the end of a quotation it opens, as the fit's labels count it."""
    from service.qa.compose import pair_span
    from service.qa.extract import ScoredSentence
    from service.qa.rerank import PairCheck

    check = PairCheck(margin=1.0, below=6.0)
    assert [check.reads(x) for x in (None, 5.9, 6.0, 9.0)] == [False, True, False, False]
    assert PairCheck(1.0).reads(9.0) and not PairCheck(1.0).reads(None)
    assert not check.joins(3.0, 4.0) and check.joins(3.0, 4.01) and not check.joins(3.0, 2.0)

    texts = [
        "The board met on Monday.",
        "“We will not sell,” the chair said.",
        "“The offer is too low.",
        "We told them so.”",
        "Shares fell.",
    ]
    sentences, start = [], 0
    for i, text in enumerate(texts):
        sentences.append(ScoredSentence(i, 0, "d", start, start + len(text), text, 0, 0, 0))
        start += len(text) + 1
    question = "Will the board sell?"
    assert [s.text for s in pair_span(question, sentences, 1, 0)] == texts[:2]
    assert [s.text for s in pair_span(question, sentences, 1, 2)] == texts[1:4]  # quote closes
    assert [s.text for s in pair_span(question, sentences, 3, 4)] == texts[3:]
    # Asked what the chair said: the quote the speaker goes on with is the answer too.
    said = pair_span("What did the chair say about the offer?", sentences, 1, 0)
    assert [s.text for s in said] == texts[:4]


def test_the_pair_is_read_only_below_its_logit(
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    """An answer sentence the model scores near its ceiling is not read again with its
    neighbour: there a pair seldom scores ``span_margin`` more, and the call costs a window."""
    from service.qa.compose import compose

    counting = Counting(cross_encoder)
    answerer = build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=counting)  # type: ignore[arg-type]
    reranker = answerer.reranker
    assert reranker is not None and reranker.model.pair_below is not None
    below = reranker.model.pair_below
    question = "Who is OpenAI's chief research officer?"
    retrieval = answerer.retriever.retrieve(question, 15)
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits)
    best = reranker.rerank(question, hits, scored).windows[0]
    sentences = scored[best.hit.chunk.id]
    for cross, calls in ((below - 0.5, [1]), (below + 0.5, [])):
        counting.calls.clear()
        compose(reranker, question, replace(best, cross=cross), sentences, 1.0)
        assert counting.calls == calls, cross
    reranker.model = replace(reranker.model, pair_below=None)
    counting.calls.clear()
    compose(reranker, question, replace(best, cross=below + 0.5), sentences, 1.0)
    assert counting.calls == [1]


def test_a_passage_with_an_entity_of_the_asked_type_scores_higher(answerer: Answerer) -> None:
    question = "What year did Jerry Tworek join OpenAI?"
    reranker = answerer.reranker
    assert reranker is not None
    retrieval = answerer.retriever.retrieve(question, 15)
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits)
    pool = reranker.candidates(question, hits, scored)
    windows = reranker.score_windows(question, pool)
    typed = {c.sentence.sentence_id for c in pool if c.features["type_match"]}
    untyped = [replace(c, features=c.features | {"type_match": 0.0}) for c in pool]
    scores = {h.chunk.id: h.score for h in reranker.order(hits, scored, windows, pool)}
    without = {h.chunk.id: h.score for h in reranker.order(hits, scored, windows, untyped)}
    passages = reranker.model.passages
    weight = dict(zip(passages.features, passages.weights, strict=True))
    assert weight["type_any"] > 0
    holding = {h.chunk.id for h in hits if any(s.sentence_id in typed for s in scored[h.chunk.id])}
    assert holding and len(holding) < len(hits)
    for chunk_id, score in scores.items():
        expected = weight["type_any"] if chunk_id in holding else 0.0
        assert score - without[chunk_id] == pytest.approx(expected)


def test_stage_1_reads_how_near_each_sentences_headline_is_to_the_question(
    answerer: Answerer,
) -> None:
    question = "Why did Jerry Tworek leave OpenAI?"
    reranker = answerer.reranker
    assert reranker is not None and "headline" in reranker.model.stage1.features
    retrieval = answerer.retriever.retrieve(question, 15)
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits)
    pool = reranker.pool(question, hits, scored)
    titles = {c.hit.chunk.doc_id: c.hit.chunk.title for c in pool}
    assert len(titles) > 1
    # The index's stored headline vectors: the title as the query encoder embeds it, to float16.
    near = answerer.retriever.embedder.encode(list(titles.values())) @ retrieval.query
    expected = dict(zip(titles, near.tolist(), strict=True))
    assert len({round(v, 3) for v in expected.values()}) == len(expected)
    for c in pool:
        assert c.features["headline"] == pytest.approx(expected[c.hit.chunk.doc_id], abs=0.01)


def test_the_parameter_file_names_the_command_that_refits_it() -> None:
    model = AnswerModel.load()
    assert "eval/fit_answer_model.py" in model.fitted["command"]
    assert 0.0 < model.threshold < 1.0
    assert set(model.stage2.features) >= {"cross", "stage1"}
    assert isinstance(Reranker, type)


def test_chat_and_mcp_give_one_cited_line_per_part(answerer: Answerer) -> None:
    from service.chat.engine import ChatEngine, Grounding
    from service.render import PART_NOT_FOUND, render_answer

    question = "Who is OpenAI's chief research officer, and how tall is Mount Everest?"
    response = ask(answerer, question)
    reply = ChatEngine(answerer, "ragqa").extractive(Grounding(question, question, response))
    first, second = reply.text.split("\n\n")[:2]
    assert "Mark Chen" in first and first.rstrip().endswith("[1]")
    assert second.endswith(PART_NOT_FOUND) and "[" not in second
    assert len(reply.citations) == 1
    cited = reply.citations[0]
    assert document_text(answerer, cited.doc_id)[cited.start : cited.end] in first
    detailed = render_answer(response, answerer.retriever.reader.document, detail=True)
    assert detailed.text.startswith(f"{first}\n\n{second}\n\nSources:\n[1] ")
    assert detailed.citations == reply.citations


def test_an_amount_asked_in_a_currency_is_short_answered_in_it(
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    entities,  # type: ignore[no-untyped-def]
    cross_encoder,  # type: ignore[no-untyped-def]
) -> None:
    from indexer.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "deal.txt").write_text(
        "Siemens sells its rail signalling unit\n\n"
        "Siemens has agreed to sell its rail signalling unit to Alstom. The deal is worth "
        "$5.9 billion (€5.3 billion), the companies said on Tuesday. The unit employs 9,000 "
        "people in 30 countries and had sales of $2.1 billion last year.\n",
        "utf-8",
    )
    index = tmp_path / "index"
    build_index(corpus, index, embedder, entities=entities)
    answerer = build_answerer(
        Settings(index_dir=index, reranker_threshold=0.0), embedder, cross_encoder=cross_encoder
    )
    shorts = {}
    for currency in ("euros", "dollars"):
        answer = ask(
            answerer, f"How much is the Siemens signalling deal worth in {currency}?"
        ).answer
        assert answer is not None and answer.short is not None, answer
        assert "$5.9 billion" in answer.text and "€5.3 billion" in answer.text
        shorts[currency] = answer.short.text
    assert "€" in shorts["euros"] and "5.3" in shorts["euros"], shorts
    assert "$" in shorts["dollars"] and "5.9" in shorts["dollars"], shorts
