"""ONNX Runtime query encoder: the model exported once, checked against PyTorch at every load.

The export (``ragqa index`` makes it, or the server on first start) writes ``<name>.onnx`` and a
sidecar ``<name>.json`` holding PyTorch's own embeddings of a probe set. Loading needs neither
PyTorch nor sentence-transformers: the server encodes the probes with ONNX Runtime and refuses the
export unless every one matches PyTorch's (cosine >= MIN_COSINE). A server that never imports
PyTorch uses about 250 MB instead of 650 MB.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.embed import PROBE_TEXT, PROBES, SentenceTransformerEmbedder, resolve_model
from indexer.errors import ModelLoadError

log = logging.getLogger("ragqa")

MIN_COSINE = 0.99


class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


class QueryEncoder(TextEncoder, Protocol):
    """A text encoder that also says which model it is, so an index can be checked against it."""

    name: str
    dimension: int
    probe: np.ndarray


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit-length float32 means of each text's token vectors, padding (mask 0) left out."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.ascontiguousarray(pooled, dtype=np.float32)


def model_key(model_dir: Path) -> str:
    """Identifies a model directory's files (names, sizes, mtimes) without reading the weights.

    Modification times count in whole seconds: an image layer (a tar) keeps only those, and an
    export made while building the image must still be found when the image runs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(
            f"{path.relative_to(model_dir)}:{stat.st_size}:{int(stat.st_mtime)}\n".encode()
        )
    return digest.hexdigest()[:16]


def export_path(model: str | None, cache_dir: Path, int8: bool = False) -> Path:
    """Where the export of ``model`` (a RAGQA_MODEL value) lives in ``cache_dir``."""
    return _export_path(resolve_model(model)[1], cache_dir, int8)


# Names the INT8 recipe in the export's file name, so a changed recipe is exported afresh.
INT8_RECIPE = "int8-r2"


def _export_path(model_dir: Path, cache_dir: Path, int8: bool) -> Path:
    suffix = f"-{INT8_RECIPE}" if int8 else ""
    return cache_dir / f"{model_dir.name}-{model_key(model_dir)}{suffix}.onnx"


def export_onnx(embedder: Any, path: Path, int8: bool = False) -> Path:
    """Export the embedder's transformer to ONNX (dynamic batch and length), optionally INT8, with
    the sidecar of PyTorch reference embeddings.

    Written under temporary names unique to this call, then renamed: several processes may export
    into one index root at once (a build and servers starting beside it), and none may ever read
    another's half-written file. The sidecar is renamed first, so a present ``.onnx`` always has
    its sidecar."""
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
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    fp32 = tmp.with_suffix(".fp32.onnx") if int8 else tmp
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
    try:
        if int8:
            quantize_int8(fp32, tmp)
        sidecar = {
            "name": embedder.name,
            "dimension": embedder.dimension,
            "max_seq_length": embedder.max_seq_length,
            "reference": embedder.probe_vectors.tolist(),
        }
        tmp.with_suffix(".json").write_text(json.dumps(sidecar))
        tmp.with_suffix(".json").replace(path.with_suffix(".json"))
        tmp.replace(path)
    finally:
        for leftover in {fp32, tmp, tmp.with_suffix(".json")}:
            leftover.unlink(missing_ok=True)
    return path


@contextmanager
def export_lock(path: Path) -> Iterator[None]:
    """Held while ``path`` is exported, so processes sharing an index root export it once: the
    others wait, then load the finished file. (An advisory ``flock``; where a filesystem does not
    honour it, the unique temporary names still keep every reader off partial files.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic INT8 quantisation of the matrix multiplications, per output channel.

    A single query's encoding is bound by reading the weights, so INT8 (a quarter of the bytes) is
    faster on one core. Quantising every MatMul moves some probe embeddings below cosine 0.99
    against PyTorch. The attention value projections are the most sensitive; with ONNX Runtime
    1.32 keeping only those six in float32 gave 0.988 (every server fell back to float32), and
    keeping the attention output projections too gives 0.991 at 2.7 ms against 2.5 ms, and 4.2 ms
    for float32 (p50, one thread, all-MiniLM-L6-v2, this machine). Per-tensor weight scales
    instead of per-channel ones give 0.936.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    sensitive = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and ("/value/" in n.name or "/attention/output/" in n.name)
    ]
    # The quantiser advises pre-processing through the root logger (configuring it if nobody
    # has); the agreement check at load is what judges the result, so keep that advice quiet.
    root = logging.getLogger()
    level, quiet = root.level, logging.NullHandler()
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=sensitive,
            )
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)


class OnnxEncoder:
    """Mean-pooled, normalised sentence embeddings from an ONNX export of the model."""

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            info = json.loads(onnx_path.with_suffix(".json").read_text())
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"ONNX export {onnx_path} has no readable sidecar: {e}") from e
        self.name: str = info["name"]
        # What /readyz reports as the query encoder.
        self.backend = "onnx-int8" if "-int8" in onnx_path.stem else "onnx"
        self.path = model_dir
        self.dimension: int = info["dimension"]
        self.max_seq_length: int = info["max_seq_length"]
        self.reference = np.asarray(info["reference"], dtype=np.float32)
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
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.enable_padding()
        self.probe = self.encode([PROBE_TEXT])[0]

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        ids = np.asarray([b.ids for b in batch], dtype=np.int64)
        mask = np.asarray([b.attention_mask for b in batch], dtype=np.int64)
        types = np.asarray([b.type_ids for b in batch], dtype=np.int64)
        hidden = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )[0]
        return mean_pool(hidden, mask)

    def agreement(self) -> float:
        """The lowest cosine between this encoder's and PyTorch's embeddings of the probes."""
        return _lowest_cosine(self.encode(PROBES), self.reference)


def agreement(encoder: TextEncoder, reference: SentenceTransformerEmbedder) -> float:
    """The lowest cosine between ``encoder``'s embeddings of the probe sentences and the model's."""
    return _lowest_cosine(encoder.encode(PROBES), reference.probe_vectors)


def _lowest_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def open_onnx_encoder(
    model: str | None, cache_dir: Path, int8: bool = False, threads: int = 1
) -> OnnxEncoder | None:
    """Load the export of ``model`` without PyTorch; None when there is none yet.

    Raises ModelLoadError when the export cannot be loaded or disagrees with PyTorch.
    """
    model_dir = resolve_model(model)[1]
    path = _export_path(model_dir, cache_dir, int8)
    if not path.is_file():
        return None
    encoder = OnnxEncoder(path, model_dir, threads)
    cosine = encoder.agreement()
    if cosine < MIN_COSINE:
        raise ModelLoadError(
            f"ONNX encoder {path.name} disagrees with PyTorch (lowest cosine {cosine:.4f} < "
            f"{MIN_COSINE}); use RAGQA_QUERY_ENCODER=torch or onnx"
        )
    log.info("ONNX query encoder %s agrees with PyTorch (lowest cosine %.4f)", path.name, cosine)
    return encoder


def load_onnx_encoder(
    embedder: Any, cache_dir: Path, int8: bool = False, threads: int = 1
) -> OnnxEncoder:
    """Export ``embedder``'s model (once per cache directory) and load it, checked."""
    model = str(embedder.path)
    path = export_path(model, cache_dir, int8)
    with export_lock(path):
        if not path.is_file():
            export_onnx(embedder, path, int8=int8)
    encoder = open_onnx_encoder(model, cache_dir, int8, threads)
    assert encoder is not None  # just exported
    return encoder
