"""What kind of entity answers a question, and which of a sentence's entities are candidates.

A question's wh-phrase says what answers it: "Who" a person (or an organisation), "When" a date,
"How many" a count, "How much … cost" an amount of money, "What percentage" a percentage, "How
long" a duration, "Where" a place. "Which X" and "What is the name of the X" are typed by their
head noun X from small word lists (a lawyer is a person, an agency an organisation, a hotel a
place). Each type is a set of the entity labels spaCy's English model gives (OntoNotes: PERSON,
ORG, GPE, DATE, MONEY, ...). An entity is a candidate answer when the question does not already
name it: "When did Tworek join OpenAI?" is not answered by OpenAI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.qa.answer_types import TIME_UNIT

_PERSON_NOUNS = frozenset(
    """person people man woman men women lawyer attorney designer publicist passenger agent
    analyst professor ceo executive founder president director officer chairman chairwoman chair
    spokesman spokeswoman spokesperson writer author reporter journalist editor scientist
    researcher economist doctor physician surgeon nurse teacher coach player athlete singer actor
    actress artist musician producer husband wife son daughter mother father brother sister victim
    suspect official minister secretary governor senator mayor judge commissioner superintendent
    billionaire shareholder investor student driver pilot manager engineer biologist historian
    philosopher poet novelist composer king queen prince princess pope general captain leader
    member candidate astronaut commander host presenter star rapper comedian owner entrepreneur
    inventor architect expert""".split()
)
_ORG_NOUNS = frozenset(
    """company firm agency organization organisation bank team university college school group
    party network newspaper magazine publication outlet brand retailer startup manufacturer
    carrier airline automaker maker studio label club league union charity foundation institute
    department ministry government court council committee publisher broadcaster channel website
    platform exchange fund corporation business operator provider""".split()
)
_PLACE_NOUNS = frozenset(
    """city country state place town region continent county location area province island river
    hotel restaurant stadium venue park street neighborhood neighbourhood village district capital
    airport theater theatre hospital prison building mountain lake sea ocean border""".split()
)
_AUXILIARIES = frozenset(
    "did does do is was were are has had have will would can could should may might".split()
)
_MONEY_VERBS = (
    r"(?:cost|costs|pay|paid|paying|spend|spent|spending|earn|earned|earns|raise|raised|raising"
    r"|price|priced|worth|fee|fees|charge|charged|sell|sold|fine|fined|salary|budget|revenue"
    r"|profit|value|valued|offer|offered|invest|invested|donate|donated|buy|bought|owe|owed)"
)
_CURRENCY = r"(?:pounds|dollars|euros?|yen|sterling|won|rupees|yuan|francs)"


@dataclass(frozen=True)
class AnswerType:
    name: str  # person, organisation, place, date, year, number, money, percent, duration, age, who
    labels: frozenset[str]


def _type(name: str, labels: str) -> AnswerType:
    return AnswerType(name, frozenset(labels.split()))


_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(p), t)
    for p, t in [
        (r"\b(?:how old|what age|at what age)\b", _type("age", "DATE CARDINAL")),
        (
            r"\bwhat (?:percentage|percent|proportion|share|fraction)\b|\bby what percent"
            r"|\bhow much of\b",
            _type("percent", "PERCENT"),
        ),
        (
            rf"\b(?:in|into) {_CURRENCY}\b|\bhow much money\b|\bhow much\b.*\b{_MONEY_VERBS}\b"
            r"|\b(?:what|which) (?:\w+ )?(?:price|cost|fee|salary|sum|budget)\b"
            r"|\bwhat (?:was|is|will be) the (?:cost|price|budget|salary|fee|value|revenue)\b"
            r"|\bwhat\b.*\b(?:cost|price|revenue|salary|valuation|budget|fee)s?\b"
            r"|\bvalued at\b|\bwhat is .* worth\b",
            _type("money", "MONEY"),
        ),
        (
            r"\bhow long\b|\bhow many (?:years|months|weeks|days|hours|minutes|seconds|decades)\b",
            _type("duration", "DATE TIME"),
        ),
        (r"\b(?:what|which) year\b|\bsince what year\b", _type("year", "DATE")),
        (
            r"\b(?:what|which) (?:date|day|month|decade|century|time|season)\b|^when\b"
            r"|\bwhen (?:did|does|do|is|was|were|will|has|had)\b|\bsince when\b|\bon what date\b",
            _type("date", "DATE TIME"),
        ),
        (
            r"\bhow (?:many|much|far|tall|high|deep|wide|fast|big|large|heavy)\b"
            r"|\bwhat (?:number|rate|score|size|speed|distance)\b|\bby how much\b",
            _type("number", "CARDINAL QUANTITY MONEY PERCENT"),
        ),
        (r"^where\b|\bwhere (?:did|does|do|is|was|were|will|can|could)\b",
         _type("place", "GPE LOC FAC ORG")),
        (
            r"^(?:who|whom|whose)\b|\b(?:by|to|with|from|for) whom\b"
            r"|\bwho (?:is|was|were|are|did|has|had|said|says)\b",
            _type("who", "PERSON ORG NORP GPE"),
        ),
    ]
]  # fmt: skip
_HEAD = re.compile(
    r"\b(?:which|what)\b(?:\s+(?:is|are|was|were) the names? of)?((?:\s+[\w&.'’-]+){1,6})"
)
# Words after "Which"/"What" that may hold the head noun.
HEAD_WORDS = 4
_PERSON = _type("person", "PERSON")
_ORG = _type("organisation", "ORG NORP GPE")
_PLACE = _type("place", "GPE LOC FAC ORG")
_NOUN_TYPES = (
    dict.fromkeys(_PLACE_NOUNS, _PLACE)
    | dict.fromkeys(_ORG_NOUNS, _ORG)
    | dict.fromkeys(_PERSON_NOUNS, _PERSON)
)


def answer_type(question: str) -> AnswerType | None:
    """The entity type that answers ``question``, or None when its form does not say."""
    q = question.casefold()
    for pattern, kind in _RULES:
        if pattern.search(q):
            return kind
    head = _HEAD.search(q)
    if head is None:
        return None
    # The head noun ends the wh-phrase: the last listed noun of its first words ("Which NYU
    # business school professor" is a professor), before any auxiliary.
    found = None
    for word in head.group(1).split()[:HEAD_WORDS]:
        if word in _AUXILIARIES:
            break
        for noun in (word, word.removesuffix("s"), word.removesuffix("es")):
            typed = _NOUN_TYPES.get(noun)
            if typed is not None:
                found = typed
                break
    return found


_TOKEN = re.compile(r"\w+")
# An age is a number of years ("42", "in his forties"); never "this week", "one of" or
# "the 21st century".
_AGE = re.compile(
    r"\b\d{1,3}\b|\b(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|\w+ties)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
_TIME_UNIT = re.compile(rf"\b{TIME_UNIT}\b", re.IGNORECASE)


# What marks an amount in each currency a question may ask for ("How much … in euros?").
_CURRENCY_MARKS = {
    "euro": ("€", "euro", "eur"),
    "pound": ("£", "pound", "sterling", "gbp"),
    "sterling": ("£", "pound", "sterling", "gbp"),
    "dollar": ("$", "dollar", "usd"),
    "yen": ("¥", "yen", "jpy"),
    "yuan": ("yuan", "renminbi", "rmb", "cny"),
    "rupee": ("₹", "rupee", "rs", "inr"),
    "franc": ("franc", "chf"),
    "won": ("₩", "won", "krw"),
}
# The money rule's own "in euros" pattern, with the currency captured.
_ASKED_CURRENCY = re.compile(rf"\b(?:in|into) ({_CURRENCY})\b")


def asked_currency(question: str) -> tuple[str, ...] | None:
    """The marks of the currency a question asks an amount in ("… in euros?"), or None."""
    m = _ASKED_CURRENCY.search(question.casefold())
    return _CURRENCY_MARKS[m.group(1).removesuffix("s")] if m else None


def in_currency(entity: str, marks: tuple[str, ...]) -> bool:
    """Whether an amount is written in the currency with these ``marks``."""
    words = set(_TOKEN.findall(entity.casefold()))
    return any(m in entity if not m.isalpha() else m in words or m + "s" in words for m in marks)


def is_new(entity: str, question: str) -> bool:
    """Whether the question does not already name ``entity`` (most of its words are new)."""
    words = _TOKEN.findall(entity.casefold())
    asked = set(_TOKEN.findall(question.casefold()))
    return bool(words) and sum(w in asked for w in words) / len(words) < 0.5


def matches(kind: AnswerType, label: str, entity: str, question: str) -> bool:
    """Whether an entity (its label and text) is a candidate answer of ``kind`` to ``question``."""
    if label not in kind.labels or not is_new(entity, question):
        return False
    if kind.name == "year":
        return bool(_YEAR.search(entity))
    if kind.name == "duration":
        return bool(_TIME_UNIT.search(entity))
    if kind.name == "age":
        return bool(_AGE.search(entity))
    return True
