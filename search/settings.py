"""All configuration, from the environment (prefix ``T2I_``) and ``.env``.

One ``Settings`` object is built at the edge (CLI, bot) and passed in; nothing reads the
environment elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_IMAGE_MODEL = "sentence-transformers/clip-ViT-B-32"
DEFAULT_TEXT_MODEL = "sentence-transformers/clip-ViT-B-32-multilingual-v1"

IdList = Annotated[list[int], NoDecode]


def default_decode_workers() -> int:
    """CPU cores this process may use (its affinity, e.g. a container's cpuset), 1..16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(16, cores))


class Settings(BaseSettings):
    """Settings for the indexer and the bot; see ``.env.example`` for every name."""

    model_config = SettingsConfigDict(
        env_prefix="T2I_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- catalog and models -------------------------------------------------------------
    data_dir: Path = Path("./data")
    # Issue 7: a named model set (search/presets.py) fills image_model/text_model; declared
    # before them so their validators see it. "custom" or unset: the two settings below.
    model_preset: str | None = None
    image_model: str = DEFAULT_IMAGE_MODEL
    text_model: str = DEFAULT_TEXT_MODEL
    model_cache_dir: Path | None = None  # None: the Hugging Face default (HF_HOME)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    # The multilingual text model's precision; unset: the same as ``precision``. int8 makes
    # one query's encoding ~3.5x faster on a CPU (benchmarks/search_latency.py).
    text_precision: Literal["auto", "fp32", "bf16", "int8"] | None = None

    # --- indexing -----------------------------------------------------------------------
    batch_size: int = Field(32, ge=1, le=1024)
    # Default: one per CPU core available to us (at most 16). On a GPU machine decoding is the
    # limit: 2 threads fed an H100 139 images/s, 16 threads 327 (benchmarks/index_throughput.py).
    decode_workers: int = Field(default_factory=default_decode_workers, ge=1, le=64)
    # Images are decoded at reduced size (JPEG draft mode) when their short side is at
    # least this big; CLIP looks at 224 px anyway.
    decode_min_side: int = Field(256, ge=32)
    max_image_pixels: int = Field(100_000_000, ge=1)  # decompression-bomb limit

    # --- vector index -------------------------------------------------------------------
    exact_search_max: int = Field(50_000, ge=0)  # above this, an approximate index is used
    index_factory: str = "auto"  # "auto" (IVF sized to the catalog) or a FAISS factory string
    ivf_nprobe: int = Field(32, ge=1)
    hnsw_ef_search: int = Field(128, ge=1)
    # Results closer than this (cosine) to a better result are near-duplicates and hidden;
    # identical files (same content hash) always are. 1.0: only identical files.
    duplicate_threshold: float = Field(0.97, gt=0.0, le=1.0)

    # --- bot ----------------------------------------------------------------------------
    bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_file_url: str | None = None
    results_per_album: int = Field(6, ge=1, le=10)
    allowed_user_ids: IdList = []
    allowed_chat_ids: IdList = []
    # Also the largest batch the text encoder sees: 32 answered 22-25 q/s against 14.5 q/s
    # with 4 (benchmarks/bot_load.py, N=32 users, 2 cores).
    concurrent_updates: int = Field(32, ge=1, le=256)
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
    # Added for the bot (issue 3): per-user flood control, outgoing pacing, "More" expiry.
    user_burst: int = Field(3, ge=1, le=100)  # queries one user may send in quick succession
    user_queries_per_minute: float = Field(20.0, gt=0)  # sustained per-user query rate
    telegram_rate_limit_per_s: float = Field(30.0, ge=0)  # outgoing requests/s; 0: unpaced
    more_ttl_hours: float = Field(168.0, gt=0)  # how long a "More" button keeps working

    # --- inline mode and search by photo (issue 4) ------------------------------------------
    # Inline results need a Telegram file_id (uploaded once to this chat: a private channel
    # or group the bot can post to) or a public HTTPS URL the bot's image server sits behind.
    storage_chat_id: int | None = None
    warmup_per_minute: float = Field(20.0, gt=0)  # storage-chat uploads per minute
    public_base_url: str | None = None  # e.g. https://img.example.org (a proxy to the server)
    image_server_listen: str = "0.0.0.0"
    image_server_port: int = Field(8081, ge=1, le=65535)
    inline_cache_time_s: int = Field(300, ge=0)  # how long Telegram may reuse an answer
    inline_max_results: int = Field(200, ge=1, le=1000)  # how deep inline paging goes
    max_query_image_mb: float = Field(20.0, gt=0, le=20.0)  # getFile downloads ≤ 20 MB

    # --- query routing (issue 7) ------------------------------------------------------------
    # English queries go through the image model's own text tower where it shares the text
    # model's space (the default pair); the detector must be at least this sure.
    route_english: bool = True
    english_min_confidence: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("model_preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        """An unknown preset name is refused with the list of known ones."""
        from search.errors import UserError
        from search.presets import get_preset, preset_names

        if value is not None:
            try:
                get_preset(value)
            except UserError:
                known = ", ".join(preset_names())
                raise ValueError(f"unknown preset {value!r}; known: {known}") from None
        return value

    @field_validator("image_model", "text_model")
    @classmethod
    def _no_conflict_with_preset(cls, value: str, info: ValidationInfo) -> str:
        """An explicit model that contradicts the preset is refused."""
        from search.presets import PRESETS

        preset = PRESETS.get(info.data.get("model_preset") or "")
        if preset is not None and value != getattr(preset, str(info.field_name)):
            raise ValueError(
                f"{value!r} conflicts with T2I_MODEL_PRESET={preset.name} (which uses "
                f"{getattr(preset, str(info.field_name))!r}): unset one of the two, or use "
                "T2I_MODEL_PRESET=custom"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        """The preset fills the models not given explicitly (explicit ones are checked above)."""
        from search.presets import PRESETS

        if isinstance(data, dict):
            preset = PRESETS.get(str(data.get("model_preset") or ""))
            if preset is not None:
                data.setdefault("image_model", preset.image_model)
                data.setdefault("text_model", preset.text_model)
        return data

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        """An http(s) URL without the trailing slash; empty means unset."""
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (Telegram fetches the images from it)")
        return value

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept ``"1, 2,-100"`` as well as a JSON list."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
        return value

    @property
    def resolved_text_precision(self) -> str:
        """The text model's precision setting (``text_precision``, else ``precision``)."""
        return self.text_precision or self.precision

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"
