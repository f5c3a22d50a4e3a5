"""Turn a chat history into the question to answer and the query to retrieve with."""

from __future__ import annotations

import re

from service.chat.schemas import ChatMessage
from service.qa.search.lexical import STOPWORDS
from service.schemas import MAX_QUESTION_CHARS

# Words that lean on an earlier turn for their meaning ("When did he join?").
_ANAPHORA = frozenset(
    "he she him her his hers they them their theirs it its this that these those there "
    "former latter same".split()
)
_NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*")
_WORD = re.compile(r"[\w’']+")


class ConversationError(ValueError):
    """The messages do not contain a question to answer."""


def latest_question(messages: list[ChatMessage]) -> tuple[str, list[str]]:
    """The latest user message, and the earlier user messages (most recent first)."""
    users = [m.text.strip() for m in messages if m.role == "user"]
    users = [u for u in users if u]
    if not users:
        raise ConversationError("messages must include a user message with text")
    question = users[-1]
    if len(question) > MAX_QUESTION_CHARS:
        raise ConversationError(
            f"the latest user message is {len(question)} characters; questions are limited to "
            f"{MAX_QUESTION_CHARS}"
        )
    return question, users[-2::-1]


def refers_back(question: str) -> bool:
    """Uses a pronoun or demonstrative for something named earlier."""
    return any(w.casefold() in _ANAPHORA for w in _WORD.findall(question))


def is_elliptical(question: str) -> bool:
    """Too short to stand alone: "And Anthropic?", "Why?"."""
    return len([w for w in _WORD.findall(question) if w.casefold() not in STOPWORDS]) <= 1


def names(text: str) -> list[str]:
    """Capitalised names in ``text``, skipping a sentence-initial question word."""
    found = []
    for m in _NAME.finditer(text):
        name = m.group().strip(" .")
        first, _, rest = name.partition(" ")
        opens_sentence = m.start() == 0 or text[max(0, m.start() - 2) : m.start()].strip() in {
            ".",
            "?",
            "!",
        }
        if opens_sentence and first.casefold() in STOPWORDS:  # "What", "Who", "The" ...
            name = rest
        if name and name.casefold() not in STOPWORDS and name not in found:
            found.append(name)
    return found


def retrieval_query(question: str, earlier: list[str]) -> str:
    """The question, completed from the previous question when it cannot stand alone.

    An elliptical question ("And Anthropic?") borrows the whole previous question; one that refers
    back ("When did he join?") borrows the names the previous question mentioned.
    """
    if not earlier:
        return question
    previous = earlier[0]
    if refers_back(question):
        context = " ".join(names(previous)) or previous
    elif is_elliptical(question):
        context = previous
    else:
        return question
    return f"{question} ({context})"[:MAX_QUESTION_CHARS]
