"""Answer types: what kind of thing a question asks for, and whether a sentence holds one.

A question is classified by its wh-phrase ("What year", "How many", "Who", "Why", "… in pounds?");
a sentence holds the type when it mentions one that the question does not already contain (a
"When did X join?" is not answered by the year the question names). Recognition is by patterns
over the sentence, cached by text: it runs on a few dozen candidate sentences per question.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache


class Kind(StrEnum):
    DATE = "date"  # a year, a date, a decade or century, a weekday
    NUMBER = "number"  # a count or quantity
    MONEY = "money"  # an amount in a currency
    PERCENT = "percent"
    DURATION = "duration"  # a length of time: "seven years", "since 2019"
    AGE = "age"  # "aged 45", "a 45-year-old"
    NAME = "name"  # a person or an organisation: a proper name
    PLACE = "place"
    REASON = "reason"
    ROLE = "role"  # a position held: "vice-president of research", "chief executive"


_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety|hundred|thousand|million|billion|trillion|dozen|dozens|hundreds"
    r"|thousands|millions|billions|half|several|a few)"
)
_NUM = rf"(?:\d[\d,.]*(?:\s?(?:bn|mn|m|k))?|{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*)"
TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)"
_CURRENCY_WORD = (
    r"(?:dollars?|pounds?|sterling|euros?|yen|yuan|francs?|marks?|rupees?|pesos?|guineas?"
    r"|shillings?|pence|cents?|USD|GBP|EUR)"
)

_PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.DATE: re.compile(
        rf"\b(?:{_MONTH}\s+\d{{1,2}}\b|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+\d{{4}}"
        r"|(?:1[0-9]|20)\d{2}s?\b|\d{1,2}(?:st|nd|rd|th)\s+century|(?:first|second|third|fourth"
        r"|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth"
        r"|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-first)\s+century"
        r"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))"
        rf"|\b{_MONTH}\b(?=\s+(?:of|last|this|next|\d))",
        re.IGNORECASE,
    ),
    Kind.NUMBER: re.compile(rf"(?<![\w.])(?:\d[\d,.]*|{_NUMBER_WORD})\b", re.IGNORECASE),
    Kind.MONEY: re.compile(
        rf"[$£€¥₹]\s?\d|\b{_NUM}\s+{_CURRENCY_WORD}\b|\b(?:US|A|C|HK)\$\s?\d", re.IGNORECASE
    ),
    Kind.PERCENT: re.compile(rf"\d\s?%|\b{_NUM}\s+(?:percent|per\s?cent)\b", re.IGNORECASE),
    Kind.DURATION: re.compile(
        rf"\b(?:{_NUM}|a|an|several|many|few)[\s-]+{TIME_UNIT}\b|\bsince\s+(?:\d{{4}}|{_MONTH})"
        rf"|\b(?:for|over)\s+(?:a|the\s+past|the\s+last)\s+{TIME_UNIT}",
        re.IGNORECASE,
    ),
    Kind.AGE: re.compile(
        rf"\b(?:aged|age of|at age)\s+{_NUM}|\b{_NUM}[\s-]+years?[\s-]+old\b|,\s?\d{{2}},",
        re.IGNORECASE,
    ),
    # A run of capitalised words that does not open the sentence, or an acronym.
    Kind.NAME: re.compile(
        r"(?<=[\w,;:()\"“”'’]\s)(?:[A-Z][\w'’.-]*[a-z][\w'’.-]*|[A-Z]{2,})(?:\s+(?:(?:of|de|van"
        r"|von|the|and|&|for)\s+)?(?:[A-Z][\w'’.-]*|[A-Z]{2,}))*"
    ),
    Kind.PLACE: re.compile(
        r"\b(?:in|at|from|near|to|across|throughout|into|outside|inside|of)\s+(?:the\s+)?"
        r"[A-Z][a-z][\w'’.-]*(?:,?\s+[A-Z][a-z][\w'’.-]*)*"
    ),
    Kind.ROLE: re.compile(
        r"\b(?:(?:vice[\s-])?president|chair(?:man|woman|person)?|chief\s+\w+\s+officer|chief"
        r"|officer|director|head|CEO|CTO|CFO|COO|founder|co-founder|manager|leader|lead|editor"
        r"|minister|secretary|governor|mayor|senator|professor|partner|principal|fellow"
        r"|researcher|scientist|engineer|analyst|spokes(?:man|woman|person)|adviser|advisor"
        r"|commander|general|captain|coach|member|owner|king|queen|emperor|(?:arch)?bishop|cardinal"
        r"|pope|duke|earl|lord|prince|princess|quarterback|linebacker|kicker|punter|receiver"
        r"|running back|cornerback|safety|tackle|defensive end|tight end|guard|center|pitcher"
        r"|goalkeeper|striker|defender|midfielder)s?\b",
        re.IGNORECASE,
    ),
    Kind.REASON: re.compile(
        r"\b(?:because|due to|owing to|as a result|result of|reasons?|so that|in order to|since"
        r"|led to|lead to|leads to|caused|causes?|cited|citing|wanted|wants|felt|believes?"
        r"|believed|argued|argues|after|denied|refused|rejected|frustrat\w*|disagree\w*"
        r"|concerns?|motivat\w*|aims?\s+to|hoped|sought|seeks?|to\s+(?:pursue|focus|explore))\b",
        re.IGNORECASE,
    ),
}

# Question openings, most specific first: (pattern over the case-folded question, the kind).
_QUESTION_KINDS: list[tuple[re.Pattern[str], Kind]] = [
    (re.compile("|".join(alternatives)), kind)
    for alternatives, kind in [
        ([r"\bhow old\b", r"\bwhat age\b"], Kind.AGE),
        ([r"\bwhat (?:percentage|percent|proportion|share)\b", r"\bhow much of\b"], Kind.PERCENT),
        (
            [
                r"\bhow much (?:money|did .* (?:cost|pay|raise|earn|spend)|does .* (?:cost|pay))",
                r"\b(?:in|into) (?:pounds|dollars|euros|yen|sterling)\b",
                r"\bhow much .* (?:worth|cost|paid|valued|price)",
                r"\bvalued at\b",
                r"\bwhat is .* worth\b",
                r"\bwhat (?:was|is) the (?:cost|price|budget|salary|fee|value)\b",
            ],
            Kind.MONEY,
        ),
        ([r"\bwhat (?:position|positions|job|post|office)\b"], Kind.ROLE),
        (
            [r"\bhow long\b", r"\bhow many (?:years|months|weeks|days|hours)\b"],
            Kind.DURATION,
        ),
        (
            [
                r"\b(?:what|which) (?:year|years|date|day|month|decade|century|era|time period)\b",
                r"\bwhen\b",
            ],
            Kind.DATE,
        ),
        (
            [r"\bhow (?:many|much|large|big|far|tall|high|deep|wide|fast)\b", r"\bwhat number\b"],
            Kind.NUMBER,
        ),
        (
            [
                r"\bwhy\b",
                r"\bwhat (?:was|were|is|are) the (?:reasons?|causes?|motivations?)\b",
                r"\bwhat (?:caused|led|prompted|motivated|drove)\b",
                r"\bfor what reason\b",
            ],
            Kind.REASON,
        ),
        (
            [
                r"\bwhere\b",
                r"\b(?:what|which) (?:city|country|state|place|town|region|continent|county"
                r"|location|area|province|island|river)\b",
            ],
            Kind.PLACE,
        ),
        (
            [
                r"^(?:who|whom|whose)\b",
                r"\b(?:by|to|with|from) whom\b",
                r"\bwho (?:is|was|were|are|did|has|had|led|leads|founded|said)\b",
                r"\b(?:what|which) (?:company|companies|firm|organi[sz]ation|person|people|group"
                r"|team|agency|university|lab|startup|party|leaders?|executives?|researchers?)\b",
            ],
            Kind.NAME,
        ),
    ]
]


@lru_cache(maxsize=1024)  # asked once per candidate sentence of a question
def expected_kind(question: str) -> Kind | None:
    """The kind of thing that answers ``question``, or None when its form does not say."""
    q = question.casefold()
    return next((kind for pattern, kind in _QUESTION_KINDS if pattern.search(q)), None)


@lru_cache(maxsize=16384)
def mentions(text: str, kind: Kind) -> tuple[str, ...]:
    """The mentions of ``kind`` in ``text``, case-folded and stripped."""
    return tuple(m.group().casefold().strip(" ,") for m in _PATTERNS[kind].finditer(text))


def holds(text: str, kind: Kind, question: str) -> bool:
    """Whether ``text`` mentions a ``kind`` that ``question`` does not already contain."""
    asked = question.casefold()
    return any(m and m not in asked for m in mentions(text, kind))


# A yes-no question opens with an auxiliary ("Did the agency confirm …?"), maybe after a source
# ("According to his attorney, did …?"). The sentence that settles one usually says so in words
# of polarity: a negation, a denial or refusal, a confirmation ("never intended to", "declined to
# comment", "denied that it had settled").
_YES_NO = re.compile(
    r"^(?:(?:according to|in|on|after|before|as of|per)\b[^,]{0,60},\s*)?"
    r"(?:is|are|was|were|am|do|does|did|has|have|had|will|would|can|could|should|shall|may|might"
    r"|must)(?:n[’']t)?\s"
)
_POLARITY = re.compile(
    r"\b(?:not|no|never|none|nor|neither|without|denied|denies|deny|declined|declines|refused"
    r"|refuses|rejected|rejects|confirmed|confirms|admitted|admits|acknowledged|acknowledges"
    r"|agreed|agrees|conceded|cannot)\b|n[’']t\b",
    re.IGNORECASE,
)


# Words that give a reason or a motive: the sentence that answers a why-question often has one
# ("…, saying he wanted to explore …", "due to federal regulations") where a sentence that only
# restates the event ("X has left OpenAI after seven years") does not.
_REASON_CUE = re.compile(
    r"\b(?:because|due to|since|as a result|so that|in order to|citing|cited|blamed|blame"
    r"|reasons?|caused|causes|led to|thanks to|amid|driven by|attributed|result of|stems? from"
    r"|wanted to|wants to|saying)\b",
    re.IGNORECASE,
)


def gives_reason(text: str) -> bool:
    """Whether ``text`` has a word that gives a reason or a motive."""
    return bool(_REASON_CUE.search(text))


@lru_cache(maxsize=1024)  # asked once per candidate sentence of a question
def is_yes_no(question: str) -> bool:
    """Whether ``question`` asks for a yes or a no."""
    return bool(_YES_NO.match(question.casefold().lstrip()))


def settles(text: str) -> bool:
    """Whether ``text`` has a word of polarity that may settle a yes-no question."""
    return bool(_POLARITY.search(text))


# Kinds an answer cannot do without: a sentence with no amount of money does not say what
# something cost, nor one naming no position what someone's was. The others (a "When" answered
# by "after the war", a "Who" by "the Huguenots") are too often answered in words the patterns
# do not recognise to require them.
REQUIRED = frozenset({Kind.MONEY, Kind.AGE, Kind.ROLE})
