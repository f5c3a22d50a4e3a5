"""Irregular verb forms: a question says "Why did Tworek leave?", the article "Tworek left".

Questions put the verb in its base form after "did"/"does" while news is written in the past
tense; stemming joins "joined" to "join" but not "left" to "leave" or "paid" to "pay". Each
question word that is a form of a common irregular verb also matches the verb's other forms, in
BM25 and in the coverage of a sentence's words.
"""

from __future__ import annotations

from functools import cache

# Base form, then its past tense and past participle (when different), for common verbs of news;
# the auxiliaries (be, do, have) are stop words already.
_VERBS = """
arise arose arisen; awake awoke awoken; bear bore borne; beat beat beaten;
become became; begin began begun; bend bent; bet; bid; bind bound; bite bit bitten; bleed bled;
blow blew blown; break broke broken; breed bred; bring brought; build built; burn burnt;
burst; buy bought; cast; catch caught; choose chose chosen; cling clung; come came; cost; creep
crept; cut; deal dealt; dig dug; draw drew drawn; drink drank drunk; drive drove
driven; eat ate eaten; fall fell fallen; feed fed; feel felt; fight fought; find found; flee
fled; fling flung; fly flew flown; forbid forbade forbidden; forecast; forget forgot forgotten;
forgive forgave forgiven; freeze froze frozen; get got gotten; give gave given; go went gone;
grind ground; grow grew grown; hang hung; hear heard; hide hid hidden; hit; hold held;
hurt; keep kept; kneel knelt; know knew known; lay laid; lead led; leave left; lend lent; let;
lie lay lain; light lit; lose lost; make made; mean meant; meet met; mislead misled; overcome
overcame; overtake overtook overtaken; pay paid; prove proven; put; quit; read; rid; ride rode
ridden; ring rang rung; rise rose risen; run ran; say said; see saw seen; seek sought; sell
sold; send sent; set; shake shook shaken; shed; shine shone; shoot shot; show showed shown;
shrink shrank shrunk; shut; sing sang sung; sink sank sunk; sit sat; sleep slept; slide slid;
speak spoke spoken; spend spent; spin spun; split; spread; spring sprang sprung; stand stood;
steal stole stolen; stick stuck; sting stung; strike struck; strive strove striven; swear swore
sworn; sweep swept; swim swam swum; swing swung; take took taken; teach taught; tear tore torn;
tell told; think thought; throw threw thrown; undergo underwent undergone; understand
understood; undertake undertook undertaken; upset; wake woke woken; wear wore worn; win won;
withdraw withdrew withdrawn; write wrote written
"""


@cache
def _table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for entry in _VERBS.split(";"):
        words = tuple(dict.fromkeys(entry.split()))
        for word in words:
            table[word] = tuple(dict.fromkeys([*table.get(word, ()), *words]))
    return table


def forms(word: str) -> tuple[str, ...]:
    """The other forms of ``word`` when it is a form of an irregular verb, else none."""
    return tuple(w for w in _table().get(word, ()) if w != word)


def expand(terms: list[str], stopwords: frozenset[str] = frozenset()) -> list[str]:
    """``terms`` followed by the other forms of the irregular verbs among them."""
    out = list(terms)
    for term in terms:
        out += [f for f in forms(term) if f not in out and f not in stopwords]
    return out
