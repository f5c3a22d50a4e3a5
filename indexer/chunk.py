"""Split cleaned documents into sentence-aligned passages packed to a token budget."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Protocol

from indexer.models import Chunk, Document


class Tokenizer(Protocol):
    """What the chunker needs from the embedding model's tokenizer."""

    def count(self, texts: list[str]) -> list[int]:
        """Number of tokens in each text, special tokens excluded."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token in ``text``."""
        ...


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 192
    overlap_sentences: int = 1
    min_tokens: int = 40

    def check(self, model_max_tokens: int) -> None:
        """Fail fast on settings the model cannot honour."""
        if not 16 <= self.max_tokens <= model_max_tokens:
            raise ValueError(
                f"chunk max_tokens must be between 16 and {model_max_tokens} "
                f"(the model's limit), got {self.max_tokens}"
            )
        if not 0 <= self.overlap_sentences <= 5:
            raise ValueError(
                f"chunk overlap_sentences must be between 0 and 5, got {self.overlap_sentences}"
            )
        if not 0 <= self.min_tokens < self.max_tokens:
            raise ValueError(
                f"chunk min_tokens must be between 0 and max_tokens-1, got {self.min_tokens}"
            )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


class Chunker:
    """Packs whole sentences into passages of at most ``max_tokens`` model tokens."""

    def __init__(self, tokenizer: Tokenizer, settings: ChunkerSettings | None = None) -> None:
        import pysbd

        self.tokenizer = tokenizer
        self.settings = settings or ChunkerSettings()
        self._segmenter = pysbd.Segmenter(language="en", clean=False)

    def split(self, doc: Document) -> list[Chunk]:
        return self.split_with_sentences(doc)[0]

    def split_with_sentences(self, doc: Document) -> tuple[list[Chunk], list[tuple[int, int]]]:
        """Chunks, and the sentence spans they are made of (over-long sentences cut in pieces)."""
        units = self._units(doc.text)
        spans = self._pack(units)
        chunks = [
            Chunk(
                doc_id=doc.doc_id,
                position=i,
                start=start,
                end=end,
                text=doc.text[start:end],
                n_tokens=tokens,
            )
            for i, (start, end, tokens) in enumerate(spans)
        ]
        return chunks, [(u.start, u.end) for u in units]

    def sentences(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the sentences of ``text``; each line is split on its own."""
        spans: list[tuple[int, int]] = []
        for line in re.finditer(r"[^\n]+", text):
            cursor = line.start()
            for sentence in self._segmenter.segment(line.group()):
                sentence = sentence.strip()
                if not sentence:
                    continue
                start = text.find(sentence, cursor, line.end())
                if start < 0:  # the segmenter altered the text; keep the rest of the line whole
                    rest = text[cursor : line.end()].strip()
                    if rest:
                        start = text.find(rest, cursor)
                        spans.append((start, start + len(rest)))
                    break
                spans.append((start, start + len(sentence)))
                cursor = start + len(sentence)
        return spans

    def _units(self, text: str) -> list[_Unit]:
        spans = self.sentences(text)
        counts = self.tokenizer.count([text[s:e] for s, e in spans])
        units: list[_Unit] = []
        limit = self.settings.max_tokens
        for (start, end), tokens in zip(spans, counts, strict=True):
            if tokens <= limit:
                units.append(_Unit(start, end, tokens))
            else:
                units.extend(self._split_long(text, start, end))
        return units

    def _split_long(self, text: str, start: int, end: int) -> list[_Unit]:
        """Cut a sentence longer than the budget at token boundaries, preferring spaces."""
        limit = self.settings.max_tokens
        tokens = self.tokenizer.token_spans(text[start:end])
        out: list[_Unit] = []
        i = 0
        while i < len(tokens):
            j = min(i + limit, len(tokens))
            if j < len(tokens):
                # Back off to a token that starts a new word so words are not cut in half.
                k = j
                while k > i + limit // 2 and tokens[k][0] == tokens[k - 1][1]:
                    k -= 1
                j = k if k > i + limit // 2 else j
            s, e = start + tokens[i][0], start + tokens[j - 1][1]
            out.append(_Unit(s, e, j - i))
            i = j
        return out

    def _pack(self, units: list[_Unit]) -> list[tuple[int, int, int]]:
        limit, overlap = self.settings.max_tokens, self.settings.overlap_sentences
        packed: list[tuple[int, int]] = []  # unit index ranges [i, j)
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + units[j].tokens <= limit):
                total += units[j].tokens
                j += 1
            packed.append((i, j))
            if j >= len(units):
                break
            # Carry the last sentences over for context, never more than half the budget.
            k = max(j - overlap, i + 1)
            while k < j and sum(u.tokens for u in units[k:j]) > limit // 2:
                k += 1
            i = k
        if len(packed) >= 2:
            (pi, _), (li, lj) = packed[-2], packed[-1]
            tail = sum(u.tokens for u in units[li:lj])
            merged = sum(u.tokens for u in units[pi:lj])
            if tail < self.settings.min_tokens and merged <= limit:
                packed[-2:] = [(pi, lj)]
        return [
            (units[i].start, units[j - 1].end, sum(u.tokens for u in units[i:j])) for i, j in packed
        ]
