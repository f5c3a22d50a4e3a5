"""Cross-encoders: a model that reads the question and a piece of text together and scores how
well the text answers it.

Two backends behind one protocol: an ONNX export with its ``tokenizer.json`` (the bundled
ms-marco-MiniLM-L-12-v2, INT8), run by ONNX Runtime without PyTorch; and a sentence-transformers
cross-encoder folder (``config.json``), run by PyTorch. ``load_cross_encoder`` picks by the
folder's files.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.errors import ModelLoadError

log = logging.getLogger("ragqa")

# Longest (question, text) input in model tokens: windows are a sentence or two, and a longer
# one is cut rather than scored at a cost that grows with its length.
MAX_TOKENS = 160
# Microseconds ONNX Runtime's threads busy-wait for work before they sleep: enough to bridge the
# gaps between one call's operations, not to hold the cores after it (docs/answers.md).
SPIN_US = 20


class CrossEncoder(Protocol):
    name: str

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        """One relevance logit per text, higher is better; float32."""
        ...


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxCrossEncoder:
    """An ONNX cross-encoder (inputs ``input_ids``, ``attention_mask``, ``token_type_ids``;
    output ``logits`` [batch, 1]) and its Hugging Face ``tokenizer.json``.

    Each text runs on its own: the INT8 model quantises its activations with one scale per input
    tensor, so in a batch a text's score moved with its batch mates (by up to 0.26 logits here)
    and a padded batch costs no less. ``spin`` lets ONNX Runtime's threads busy-wait for work
    as long as it likes (its default), which holds the cores after a call too; otherwise they
    wait ``spin_us`` microseconds (0: none) before they sleep, enough to bridge the gaps between
    one call's operations but not to keep the cores from the rest of the request and from other
    requests. Measurements: docs/answers.md.
    """

    def __init__(
        self,
        folder: Path,
        threads: int = 1,
        spin: bool = False,
        spin_us: int = SPIN_US,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
        for path in (model, tokenizer):
            if not path.is_file():
                raise ModelLoadError(f"cross-encoder folder {folder} has no {path.name}")
        self.name = folder.name
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spin or spin_us > 0 else "0"
        )
        if not spin and spin_us > 0:
            options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
        try:
            self.session = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(tokenizer))
        except Exception as e:  # onnxruntime and tokenizers raise their own exception types
            raise ModelLoadError(f"cannot load cross-encoder {folder}: {e}") from e
        inputs = {i.name for i in self.session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ModelLoadError(
                f"cross-encoder {model} has inputs {sorted(inputs)}; expected input_ids, "
                "attention_mask (and token_type_ids)"
            )
        self._types = "token_type_ids" in inputs
        # tokenizer.json may pad every input to 512 tokens: pad per batch instead.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float32)
        for row, e in enumerate(self.tokenizer.encode_batch([(question, t) for t in texts])):
            feed = {
                "input_ids": np.asarray([e.ids], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask], dtype=np.int64),
            }
            if self._types:
                feed["token_type_ids"] = np.asarray([e.type_ids], dtype=np.int64)
            out[row] = np.asarray(self.session.run(None, feed)[0]).reshape(-1)[0]
        return out


class TorchCrossEncoder:
    """A sentence-transformers cross-encoder folder, run by PyTorch."""

    def __init__(self, folder: Path, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        try:
            import torch
            from sentence_transformers import CrossEncoder as StCrossEncoder

            torch.set_num_threads(threads)
            self.model = StCrossEncoder(str(folder), device="cpu", max_length=max_tokens)
        except Exception as e:  # transformers raises many types for a bad folder
            raise ModelLoadError(f"cannot load cross-encoder {folder}: {e}") from e
        self.name = folder.name

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        scores = self.model.predict(
            [(question, t) for t in texts], batch_size=len(texts), activation_fn=None
        )
        return np.asarray(scores, dtype=np.float32).reshape(len(texts))


def load_cross_encoder(
    folder: Path,
    threads: int = 1,
    spin: bool = False,
    spin_us: int = SPIN_US,
    sha256_pin: str | None = None,
) -> CrossEncoder:
    """The cross-encoder in ``folder``: ONNX when it holds ``model.onnx``, else a
    sentence-transformers folder (``config.json``). ``sha256_pin`` is checked against
    ``model.onnx`` when given (the bundled model's files come out of a package)."""
    if not folder.is_dir():
        raise ModelLoadError(
            f"cross-encoder folder {folder} does not exist; run `make install` for the bundled "
            "one, point RAGQA_RERANKER_MODEL at a cross-encoder folder, or set RAGQA_RERANKER=off"
        )
    if (folder / "model.onnx").is_file():
        if sha256_pin is not None and (found := sha256(folder / "model.onnx")) != sha256_pin:
            raise ModelLoadError(
                f"cross-encoder {folder / 'model.onnx'} has sha256 {found}, expected "
                f"{sha256_pin}; run `make install` again to restore it"
            )
        return OnnxCrossEncoder(folder, threads, spin, spin_us)
    if (folder / "config.json").is_file():
        return TorchCrossEncoder(folder, threads)
    raise ModelLoadError(
        f"{folder} is not a cross-encoder folder: it needs model.onnx and tokenizer.json, or a "
        "sentence-transformers cross-encoder (config.json)"
    )
