"""BM25 over passage text: a Tantivy index inside each version.

Tantivy scores with Lucene's BM25 (idf log(1 + (N - df + 0.5) / (df + 0.5)), k1 1.2, b 0.75), the
BM25 of Elasticsearch and Pyserini, and finds the top k with block-max WAND: a query term in half
of a million passages costs a few skipped blocks, not half a million postings. It replaced FTS5,
which scored every posting of every term (docs/performance.md has the comparison).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from indexer.errors import IndexCorruptError

TOKENIZER = "ragqa_en"
_ID, _TEXT = "id", "text"
# Extra hits fetched past k, to break ties at the cut by row id.
TIE_MARGIN = 16


def analyzer() -> Any:
    """Words split at non-alphanumerics, lower-cased, accents folded, Snowball English stems."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field(_ID, indexed=True, fast=True)  # the chunk's row id
    builder.add_text_field(_TEXT, tokenizer_name=TOKENIZER, index_option="freq")
    return builder.build()


def write_lexical(path: Path, texts: Iterable[str], threads: int = 2) -> None:
    """Index ``texts`` (row id = position) into a new Tantivy index at ``path``."""
    import tantivy

    path.mkdir()
    index = tantivy.Index(_schema(), path=str(path))
    index.register_tokenizer(TOKENIZER, analyzer())
    writer = index.writer(heap_size=256_000_000 * threads, num_threads=threads)
    for i, text in enumerate(texts):
        doc = tantivy.Document()
        doc.add_unsigned(_ID, i)
        doc.add_text(_TEXT, text)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    # Tantivy writes its files owner-only (0600), and a reader takes a lock by opening a lock file
    # for writing: a server running as another user than the build needs both opened up.
    for file in path.iterdir():
        file.chmod(0o666 if file.suffix == ".lock" else 0o644)


class LexicalIndex:
    """Read access to one version's Tantivy index; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        import tantivy

        try:
            self._index = tantivy.Index.open(str(path))
        except (ValueError, OSError) as e:
            raise IndexCorruptError(f"cannot read the lexical index {path}: {e}") from e
        self._index.register_tokenizer(TOKENIZER, analyzer())
        self._schema = self._index.schema
        self._searcher = self._index.searcher()  # the index never changes: one searcher serves
        self._analyzer = analyzer()
        self.passages = int(self._searcher.num_docs)

    def tokens(self, words: Iterable[str]) -> list[str]:
        """The indexed terms ``words`` analyse to, de-duplicated in order."""
        out: list[str] = []
        for word in words:
            out.extend(t for t in self._analyzer.analyze(word) if t not in out)
        return out

    def doc_freq(self, token: str) -> int:
        """How many passages hold ``token`` (an analysed term)."""
        return int(self._searcher.doc_freq(_TEXT, token))

    def search(
        self, tokens: list[str], k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """(row id, BM25 score) of the ``k`` best passages holding any of ``tokens``, best first.

        ``allowed`` restricts the search to those row ids (a filter: it adds nothing to scores).
        """
        import tantivy

        if not tokens or k <= 0 or (allowed is not None and not allowed):
            return []
        should = tantivy.Occur.Should
        query = tantivy.Query.boolean_query(
            [(should, tantivy.Query.term_query(self._schema, _TEXT, t)) for t in tokens]
        )
        if allowed is not None:
            only = tantivy.Query.term_set_query(self._schema, _ID, sorted(allowed))
            must = tantivy.Occur.Must
            query = tantivy.Query.boolean_query(
                [(must, query), (must, tantivy.Query.const_score_query(only, 0.0))]
            )
        # count=False: counting every match would turn the top-k pruning off. A few more than k
        # are fetched so that passages tied at the cut are chosen by row id, not by where the
        # segments happen to put them (an incremental build ranks as a full one does).
        hits = self._searcher.search(query, k + TIE_MARGIN, count=False).hits
        ids = self._searcher.fast_field_values(_ID, [address for _, address in hits])
        ranked = [
            (int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True) if i is not None
        ]
        return sorted(ranked, key=lambda r: (-r[1], r[0]))[:k]
