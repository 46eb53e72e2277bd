"""Image and text encoders: L2-normalised float32 vectors out, models loaded lazily.

Real models go through sentence-transformers (hub name or local path; the usual
``HF_HOME`` / ``HF_HUB_OFFLINE`` variables apply, so a pre-baked cache works offline).
Other encoders (deterministic fakes for tests, experiments) are registered by name prefix
and are used exactly like real ones.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from search.errors import ModelLoadError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)


class Encoder(Protocol):
    """What the catalog and the searcher need from a model."""

    name: str

    @property
    def dim(self) -> int: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


EncoderFactory = Callable[[str], Encoder]
_REGISTRY: dict[str, EncoderFactory] = {}


def register_encoder(prefix: str, factory: EncoderFactory) -> None:
    """Make ``load_encoder("prefix:...")`` build an encoder with ``factory(name)``."""
    _REGISTRY[prefix] = factory


def unregister_encoder(prefix: str) -> None:
    _REGISTRY.pop(prefix, None)


def load_encoder(
    name: str,
    device: str = "auto",
    precision: str = "auto",
    cache_dir: Path | None = None,
) -> Encoder:
    """An encoder for ``name``; nothing heavy happens until it first encodes."""
    prefix, sep, _ = name.partition(":")
    if sep and prefix in _REGISTRY:
        return _REGISTRY[prefix](name)
    return SentenceTransformerEncoder(name, device=device, precision=precision, cache_dir=cache_dir)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32, C-contiguous (what FAISS expects)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out[None, :]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(out / norms, dtype=np.float32)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX: there bf16 autocast roughly doubles speed.

    Elsewhere bf16 is emulated and slower than fp32, so ``auto`` keeps fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    if device == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    import torch

    return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def _quantize_linear_layers(model: Any, device: str) -> Any:
    """Dynamic int8 quantisation of every Linear layer (weights int8, activations fp32).

    On CPUs without native bf16 this is the fast option (measured in
    benchmarks/index_throughput.py); vectors stay within ~0.999 cosine of fp32.
    """
    import torch

    if device != "cpu":
        raise ModelLoadError("T2I_PRECISION=int8 is supported on the CPU only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        # In place: a quantised copy would hold the fp32 and int8 models at once (peak RSS).
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, torch.qint8, inplace=True
        )


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded on first use (thread-safe)."""

    def __init__(
        self,
        name: str,
        device: str = "auto",
        precision: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self._device_setting = device
        self._precision_setting = precision
        self._cache_dir = cache_dir
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.device = ""
        self.precision = ""

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(self._device_setting)
        self.precision = resolve_precision(self._precision_setting, self.device)
        log.info("loading model %s on %s (%s)", self.name, self.device, self.precision)
        try:
            model = SentenceTransformer(
                self.name,
                device=self.device,
                cache_folder=str(self._cache_dir) if self._cache_dir else None,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelLoadError(
                f"cannot load model {self.name!r}: {first_line} "
                "(check the name or path; offline, run `python -m indexer download-models` first)"
            ) from exc
        model.eval()
        from search.presets import tune_loaded_model

        tune_loaded_model(model)  # e.g. SigLIP's fixed text padding
        if self.precision == "int8":
            model = _quantize_linear_layers(model, self.device)
        return model

    @property
    def dim(self) -> int:
        model = self.model
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:  # some multimodal stacks do not declare it: ask the model
            dim = int(self.encode_texts(["dimension probe"]).shape[1])
        return int(dim)

    @contextlib.contextmanager
    def _precision_context(self) -> Iterator[None]:
        import torch

        with torch.inference_mode():
            if self.precision == "bf16":
                device_type = "cuda" if self.device.startswith("cuda") else "cpu"
                with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                    yield
            else:
                yield

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        model = self.model
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._precision_context():
            vectors = model.encode(
                list(items),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return l2_normalise(np.asarray(vectors, dtype=np.float32))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._encode(images)
