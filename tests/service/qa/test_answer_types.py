"""Answer types of questions and sentences, and the neighbour rules of the answer span."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from service.qa.answer_types import Kind, expected_kind, gives_reason, holds, is_yes_no, settles
from service.qa.spans import answer_span


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What year did Tworek join OpenAI?", Kind.DATE),
        ("On what date was the exit announced?", Kind.DATE),
        ("When did the memo go out?", Kind.DATE),
        ("How many people use ChatGPT?", Kind.NUMBER),
        ("How much money did SoftBank put in?", Kind.MONEY),
        ("What is OpenAI valued at?", Kind.MONEY),
        ("How much did the stadium cost in pounds?", Kind.MONEY),
        ("What percentage of the market does Anthropic hold?", Kind.PERCENT),
        ("How long was Tworek at OpenAI?", Kind.DURATION),
        ("How old is Jerry Tworek?", Kind.AGE),
        ("Who leads Meta's Superintelligence Lab?", Kind.NAME),
        ("Which company did Vallone join?", Kind.NAME),
        ("Where is Meta's headquarters located?", Kind.PLACE),
        ("In which country was the game played?", Kind.PLACE),
        ("Why did Jerry Tworek leave OpenAI?", Kind.REASON),
        ("What caused the exits?", Kind.REASON),
        ("What position did Tworek hold at OpenAI?", Kind.ROLE),
        ("What is continuous learning?", None),
        ("Is OpenAI still hiring?", None),
    ],
)
def test_the_question_says_what_kind_of_thing_answers_it(question: str, kind: Kind | None) -> None:
    assert expected_kind(question) == kind


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (Kind.DATE, "The exit was announced on January 5, 2026."),
        (Kind.DATE, "The city grew quickly in the 1950s."),
        (Kind.DATE, "The abbey was rebuilt in the 12th century."),
        (Kind.NUMBER, "An estimated 390 billion trees grow there."),
        (Kind.NUMBER, "Eleven officials were indicted."),
        (Kind.MONEY, "The stadium cost $1.2 billion to build."),
        (Kind.MONEY, "Tickets were sold for 40 pounds each."),
        (Kind.MONEY, "OpenAI is valued at $500bn."),
        (Kind.PERCENT, "Anthropic holds 40% of the enterprise market."),
        (Kind.PERCENT, "Turnout rose by twelve per cent."),
        (Kind.DURATION, "He spent seven years at the company."),
        (Kind.DURATION, "She has led the team since 2019."),
        (Kind.AGE, "The founder, aged 45, stepped down."),
        (Kind.AGE, "A 29-year-old researcher joined the lab."),
        (Kind.NAME, "The lab is led by Mark Zuckerberg himself."),
        (Kind.PLACE, "The game was played at Levi's Stadium in Santa Clara."),
        (Kind.REASON, "He left because the requests for compute were denied."),
        (Kind.ROLE, "Tworek was vice-president of research."),
    ],
)
def test_a_sentence_holds_a_kind_it_mentions(kind: Kind, text: str) -> None:
    assert holds(text, kind, "What is it?")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (Kind.DATE, "The exit surprised the whole company."),
        (Kind.NUMBER, "The researchers left for a rival lab."),
        (Kind.MONEY, "The company must prove it will earn the revenues it needs."),
        (Kind.MONEY, "Some 40 researchers left the company."),
        (Kind.PERCENT, "Some 40 researchers left the company."),
        (Kind.DURATION, "He joined the company in 2019."),
        (Kind.AGE, "He joined the company in 2019."),
        (Kind.NAME, "the researchers left for a rival lab."),
        (Kind.ROLE, "The departure marks the end of an era."),
    ],
)
def test_a_sentence_without_the_kind_does_not_hold_it(kind: Kind, text: str) -> None:
    assert not holds(text, kind, "What is it?")


def test_what_the_question_already_names_does_not_count() -> None:
    question = "What happened to Tworek in 2026?"
    assert not holds("In 2026, Tworek left.", Kind.DATE, question)
    assert holds("In 2026, Tworek left; he had joined in 2019.", Kind.DATE, question)
    assert not holds("It was Tworek who left.", Kind.NAME, "Why did Tworek leave?")


@dataclass(frozen=True)
class S:
    text: str
    is_title: bool = False


def span(texts: list[str], best: int, question: str) -> list[str]:
    sentences = [S(t) for t in texts]
    return [s.text for s in answer_span(sentences, best, expected_kind(question), question)]


@pytest.mark.parametrize(
    ("question", "yes_no"),
    [
        ("Did McClatchy and Tribune confirm that merger talks had restarted?", True),
        ("According to his attorney, did Patrick Carlineo mean to hurt Ilhan Omar?", True),
        ("Can the Nintendo Switch Lite be docked so you can play on a TV?", True),
        ("Isn’t OpenAI valued at $500 billion?", True),
        ("Why did Jerry Tworek leave OpenAI?", False),
        ("Who did Tworek work with?", False),
        ("Island hopping: where did they go?", False),
    ],
)
def test_a_yes_no_question_opens_with_an_auxiliary(question: str, yes_no: bool) -> None:
    assert is_yes_no(question) is yes_no


@pytest.mark.parametrize(
    ("text", "polar"),
    [
        ("The Attorney General’s office had no comment.", True),
        ("Carlineo never intended to harm anyone, his attorney said.", True),
        ("Dick Clark Productions denied that it had settled.", True),
        ("The Lite can’t slide into a dock.", True),
        ("Big Machine Records released her first six albums.", False),
        ("Notably, the console is smaller.", False),
    ],
)
def test_words_of_polarity_may_settle_a_yes_no_question(text: str, polar: bool) -> None:
    assert settles(text) is polar


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Tworek left OpenAI, saying he wanted to explore other research.", True),
        ("US versions will have the regular mirrors due to federal regulations.", True),
        ("Oil fell because Russia is unlikely to cut its output.", True),
        ("Jerry Tworek has left OpenAI after seven years.", False),
        ("The departure of Jerry Tworek marks the end of an era for OpenAI.", False),
    ],
)
def test_words_that_give_a_reason(text: str, reason: bool) -> None:
    assert gives_reason(text) is reason


def test_one_sentence_when_it_answers_alone() -> None:
    texts = ["He joined in 2019.", "Tworek left in January 2026.", "Nobody commented."]
    assert span(texts, 1, "When did Tworek leave?") == ["Tworek left in January 2026."]


def test_a_neighbour_with_the_asked_for_kind_joins_the_answer() -> None:
    texts = ["The memo paused side projects at the lab.", "It went out on March 3, 2026."]
    assert span(texts, 0, "When did the memo pause side projects?") == texts
    texts = ["It cost $40 million to build.", "The stadium opened to great acclaim."]
    assert span(texts, 1, "How much did the stadium cost?") == texts


def test_a_list_joins_its_lead_in() -> None:
    texts = ["The memo paused side projects.", "These included Sora and Atlas.", "Then more."]
    assert span(texts, 0, "Which projects did the memo pause?") == texts[:2]


def test_a_quote_joins_its_attribution() -> None:
    texts = [
        "Jane Doe, a partner at Acme Ventures, believes the race is costly.",
        "“Companies are spending an unbelievable amount,” she said.",
    ]
    assert span(texts, 0, "What does Jane Doe believe about the race?") == texts


def test_a_sentence_that_refers_back_brings_its_antecedent() -> None:
    texts = ["Andrea Vallone led model policy research.", "She was given a mental health mission."]
    assert span(texts, 1, "What mission was Vallone given?") == texts


def test_a_lead_in_with_a_colon_brings_what_it_introduces() -> None:
    texts = ["There are three paths:", "one.", "two.", "three.", "four."]
    assert span(texts, 0, "What are the paths?") == texts[:4]


def test_a_headline_is_not_an_antecedent() -> None:
    sentences = [S("Tworek leaves OpenAI", is_title=True), S("He left in January.")]
    assert [s.text for s in answer_span(sentences, 1, None, "Why?")] == ["He left in January."]
