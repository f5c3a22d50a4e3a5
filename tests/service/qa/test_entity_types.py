"""Answer types from a question's form, and which entities can answer it."""

from __future__ import annotations

import pytest

from service.qa.entity_types import answer_type, is_new, matches
from service.qa.parts import split_parts, with_context


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is OpenAI's chief research officer?", "who"),
        ("Which NYU business school professor likened import duties to a tax?", "person"),
        ("What is the name of the lawyer representing the woman?", "person"),
        ("Which advertising agency came up with the slogan?", "organisation"),
        ("At which hotel did he hold the girl?", "place"),
        ("Where is Meta's headquarters located?", "place"),
        ("What year did he join the company?", "year"),
        ("When did Apple launch its repair program?", "date"),
        ("How long did the jury deliberate?", "duration"),
        ("How much did South Dakota pay for its ad campaign?", "money"),
        ("What will the Audi e-tron Sportback cost in Europe?", "money"),
        ("What was OpenAI's revenue in 2024?", "money"),
        ("What share of U.S. imports from China are computers?", "percent"),
        ("How many people were put under quarantine?", "number"),
        ("How old is Jerry Tworek?", "age"),
        ("Why did Jerry Tworek leave OpenAI?", None),
        ("What is continuous learning?", None),
    ],
)
def test_answer_type_from_the_question_form(question: str, kind: str | None) -> None:
    found = answer_type(question)
    assert (found.name if found else None) == kind


def test_an_entity_the_question_names_is_not_an_answer() -> None:
    question = "When did Jerry Tworek join OpenAI?"
    kind = answer_type(question)
    assert kind is not None
    assert not is_new("Jerry Tworek", question)
    assert not matches(kind, "DATE", "Tworek", question)
    assert matches(kind, "DATE", "2019", question)
    assert not matches(kind, "PERSON", "Mark Chen", question)


def test_a_year_question_wants_a_year_and_a_duration_a_unit() -> None:
    year, duration = answer_type("What year did he join?"), answer_type("How long did it last?")
    assert year is not None and duration is not None
    assert matches(year, "DATE", "in 2019", "What year did he join?")
    assert not matches(year, "DATE", "last week", "What year did he join?")
    assert matches(duration, "DATE", "12 weeks", "How long did it last?")
    assert not matches(duration, "DATE", "Monday", "How long did it last?")


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("Why did Jerry Tworek leave OpenAI?", ["Why did Jerry Tworek leave OpenAI?"]),
        (
            "What is the longest prison term Carlineo faces, and when will he be sentenced?",
            ["What is the longest prison term Carlineo faces?", "When will he be sentenced?"],
        ),
        (
            "How many people and how many counties were affected by the shutoff?",
            [
                "How many people were affected by the shutoff?",
                "How many counties were affected by the shutoff?",
            ],
        ),
        ("What did he say and why did he leave?", ["What did he say?", "Why did he leave?"]),
        # "and" inside one question does not split it.
        ("Who founded Anthropic and OpenAI?", ["Who founded Anthropic and OpenAI?"]),
    ],
)
def test_multi_part_questions_split_into_questions(question: str, parts: list[str]) -> None:
    assert split_parts(question) == parts


def test_a_later_part_is_searched_with_the_names_it_refers_to() -> None:
    first = "What is the longest prison term Patrick Carlineo faces?"
    assert with_context("When will he be sentenced?", first) == (
        "When will he be sentenced? (Patrick Carlineo)"
    )
    assert with_context("When will Carlineo be sentenced?", "What did Carlineo say?") == (
        "When will Carlineo be sentenced?"
    )
