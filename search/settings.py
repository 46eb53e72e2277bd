"""All configuration, from the environment (prefix ``T2I_``) and ``.env``.

One ``Settings`` object is built at the edge (CLI, bot) and passed in; nothing reads the
environment elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_IMAGE_MODEL = "sentence-transformers/clip-ViT-B-32"
DEFAULT_TEXT_MODEL = "sentence-transformers/clip-ViT-B-32-multilingual-v1"

IdList = Annotated[list[int], NoDecode]


class Settings(BaseSettings):
    """Settings for the indexer and the bot; see ``.env.example`` for every name."""

    model_config = SettingsConfigDict(
        env_prefix="T2I_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- catalog and models -------------------------------------------------------------
    data_dir: Path = Path("./data")
    image_model: str = DEFAULT_IMAGE_MODEL
    text_model: str = DEFAULT_TEXT_MODEL
    model_cache_dir: Path | None = None  # None: the Hugging Face default (HF_HOME)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"

    # --- indexing -----------------------------------------------------------------------
    batch_size: int = Field(32, ge=1, le=1024)
    decode_workers: int = Field(2, ge=1, le=64)
    # Images are decoded at reduced size (JPEG draft mode) when their short side is at
    # least this big; CLIP looks at 224 px anyway.
    decode_min_side: int = Field(256, ge=32)
    max_image_pixels: int = Field(100_000_000, ge=1)  # decompression-bomb limit

    # --- vector index -------------------------------------------------------------------
    exact_search_max: int = Field(50_000, ge=0)  # above this, an approximate index is used
    index_factory: str = "auto"  # "auto" (IVF sized to the catalog) or a FAISS factory string
    ivf_nprobe: int = Field(32, ge=1)
    hnsw_ef_search: int = Field(128, ge=1)

    # --- bot ----------------------------------------------------------------------------
    bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_file_url: str | None = None
    results_per_album: int = Field(6, ge=1, le=10)
    allowed_user_ids: IdList = []
    allowed_chat_ids: IdList = []
    concurrent_updates: int = Field(4, ge=1, le=256)
    state_dir: Path | None = None  # bot state (file ids, "More" pages); None: data_dir
    reload_interval_s: float = Field(20.0, gt=0)
    heartbeat_file: Path = Path("/tmp/t2i-bot.heartbeat")
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(8443, ge=1, le=65535)
    batch_window_ms: float = Field(5.0, ge=0)
    batch_max: int = Field(32, ge=1)
    log_level: str = "INFO"

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept ``"1, 2,-100"`` as well as a JSON list."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
        return value

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"
