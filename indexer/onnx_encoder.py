"""ONNX Runtime query encoder: the bundled model exported once, checked against PyTorch at load."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.errors import ModelLoadError

log = logging.getLogger("ragqa")

# Sentences of the kinds the encoder sees (questions, statements, names, numbers, long text).
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
MIN_COSINE = 0.99


class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


def export_onnx(embedder: Any, path: Path, int8: bool = False) -> Path:
    """Export the embedder's transformer to ONNX (dynamic batch and length); optionally INT8."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    transformer = embedder._model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = embedder._model.tokenizer(["an example", "another example text"], padding=True,
                                       return_tensors="pt")  # fmt: skip
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = path.with_suffix(".fp32.onnx") if int8 else path
    # The tracer warns about shape-dependent branches that do not vary for this encoder; the
    # agreement check on load is what guards the export.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(transformer),
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
        fp32.unlink()
    return path


class OnnxEncoder:
    """Mean-pooled, normalised sentence embeddings from an ONNX export of the model."""

    def __init__(self, onnx_path: Path, model_dir: Path, max_tokens: int, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load ONNX model {onnx_path}: {e}") from e
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        ids = np.asarray([b.ids for b in batch], dtype=np.int64)
        mask = np.asarray([b.attention_mask for b in batch], dtype=np.int64)
        types = np.asarray([b.type_ids for b in batch], dtype=np.int64)
        hidden = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled, dtype=np.float32)


def agreement(encoder: TextEncoder, reference: TextEncoder) -> float:
    """The lowest cosine between the two encoders' embeddings of the probe sentences."""
    return float(np.min(np.sum(encoder.encode(PROBES) * reference.encode(PROBES), axis=1)))


def load_onnx_encoder(
    embedder: Any, cache_dir: Path, int8: bool = False, threads: int = 1
) -> OnnxEncoder:
    """Export (once per cache directory) and load; refuse an encoder that disagrees with PyTorch."""
    name = f"{embedder.path.name}-{embedder.fingerprint()}{'-int8' if int8 else ''}.onnx"
    path = cache_dir / name
    if not path.is_file():
        tmp = cache_dir / f".tmp-{name}"
        export_onnx(embedder, tmp, int8=int8)
        tmp.rename(path)
    encoder = OnnxEncoder(path, embedder.path, embedder.max_seq_length, threads)
    cosine = agreement(encoder, embedder)
    if cosine < MIN_COSINE:
        raise ModelLoadError(
            f"ONNX encoder {path.name} disagrees with PyTorch (lowest cosine {cosine:.4f} < "
            f"{MIN_COSINE}); use RAGQA_QUERY_ENCODER=torch or onnx"
        )
    log.info("ONNX query encoder %s agrees with PyTorch (lowest cosine %.4f)", path.name, cosine)
    return encoder
