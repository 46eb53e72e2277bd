"""Random-weight stand-ins for the two production models, saved in their hub layouts.

Production loads ``sentence-transformers/clip-ViT-B-32`` (images and English text) and
``sentence-transformers/clip-ViT-B-32-multilingual-v1`` (text in 50+ languages, projected into
the same 512-dim space). This machine and CI cannot reach the Hugging Face hub, so tests and
benchmarks build look-alikes here instead:

* same on-disk layout and metadata style as the hub repos (``modules.json`` with the legacy
  ``sentence_transformers.models.*`` type names, ``0_CLIPModel/`` with ``vocab.json`` +
  ``merges.txt`` + a ``CLIPFeatureExtractor`` preprocessor config, ``1_Pooling``/``2_Dense``
  with the old config keys), so ``SentenceTransformer(str(path))`` exercises the same
  backward-compatibility loading path that the real downloads go through;
* random weights from a fixed seed, so builds are deterministic but embeddings carry **no
  meaning**: tests may check shapes, dtypes, norms, determinism and plumbing, never that
  "a red dress" finds the red dress;
* real tokenizer classes (``CLIPTokenizer``, ``DistilBertTokenizer``) with small vocabularies
  learned from ``CORPUS`` (English, Russian, German, French, Spanish, Japanese, Chinese,
  emoji) through the ``tokenizers`` library's own CLIP/BERT normalizers and pre-tokenizers,
  so Cyrillic, German, CJK and emoji text takes the production code paths and real words
  stay whole. The vocabularies are derived by small deterministic routines here because the
  ``tokenizers`` trainers break ties in hash order and would change the ids on every run.

The tiny builders (``build_tiny_*``) take well under a second and suit unit tests. The
full-size builders keep the real architectures (ViT-B/32 + 12-layer text tower, 6-layer
multilingual DistilBERT with its 119547-token embedding table): compute per image or query is
the same as with real weights, so benchmarks measured on them hold for production.

Every builder writes into a sibling temp folder, writes a marker file last and then renames
the folder into place, so an interrupted build never looks complete. Calling a builder again
with the same arguments on a complete folder returns it without rebuilding.

This module has no pytest dependency so benchmarks and scripts can import it too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import torch
from tokenizers import Regex, normalizers, pre_tokenizers
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPTokenizer,
    DistilBertConfig,
    DistilBertModel,
    DistilBertTokenizer,
)

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

MARKER_NAME = ".tiny_models_complete.json"

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CLIP_MAX_TOKENS = 77
CLIP_MERGES = 1000  # more than the corpus has pairs for: every corpus word ends up whole
BICUBIC = 3  # PIL.Image.BICUBIC, as stored in the hub's preprocessor_config.json

_CLIP_SPECIALS = ("<|startoftext|>", "<|endoftext|>")
_CLIP_SPLIT = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Enough text in each script that ordinary words tokenize into a few pieces, not [UNK].
CORPUS: tuple[str, ...] = (
    "a red dress on a white background",
    "a dog running on the beach at sunset",
    "two cats sleeping on a sofa",
    "a photo of a mountain lake in winter",
    "black leather shoes, size 42!",
    "a bowl of fresh fruit: apples, bananas and grapes?",
    "красное платье на белом фоне",
    "собака бежит по пляжу на закате",
    "две кошки спят на диване",
    "горное озеро зимой, фотография",
    "ein rotes Kleid auf weißem Hintergrund",
    "ein Hund läuft bei Sonnenuntergang am Strand",
    "zwei Katzen schlafen auf dem Sofa; größer, schöner",
    "une robe rouge sur fond blanc",
    "un perro corriendo en la playa",
    "赤いドレス、白い背景",
    "日没時にビーチを走る犬",
    "白色背景上的红色连衣裙",
    "在日落时分在海滩上奔跑的狗",
    "🐶 🐱 🌅 👗 ❤️ 😀",
    "0 1 2 3 4 5 6 7 8 9 . , ; : ! ? ' \" ( ) - + / & % # @",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ äöüß éèàç ñ",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
)

_LEGACY_ST_VERSION = {
    "__version__": {"sentence_transformers": "2.0.0", "transformers": "4.7.0", "pytorch": "1.9.0"}
}


# --------------------------------------------------------------------------- public builders


def build_tiny_clip(dest: Path, dim: int = 16, seed: int = 0) -> Path:
    """Tiny CLIP (32px images, 8px patches, 2 layers, width 32) projecting to ``dim``."""
    params = {"dim": dim, "seed": seed}
    return _build_once(
        Path(dest),
        "tiny_clip",
        params,
        lambda out: _write_clip(out, _tiny_clip_config, dim=dim, seed=seed),
    )


def build_tiny_multilingual_text(dest: Path, dim: int = 16, seed: int = 0) -> Path:
    """Tiny DistilBERT (2 layers, width 32) + mean pooling + Dense(32 -> ``dim``)."""
    params = {"dim": dim, "seed": seed}
    return _build_once(
        Path(dest),
        "tiny_multilingual_text",
        params,
        lambda out: _write_multilingual(out, _tiny_bert_config, dim=dim, seed=seed),
    )


def build_full_size_clip(dest: Path) -> Path:
    """ViT-B/32 CLIP with random weights: real compute cost, meaningless embeddings (512-dim)."""
    return _build_once(
        Path(dest),
        "full_size_clip",
        {},
        lambda out: _write_clip(out, _full_clip_config, dim=512, seed=0),
    )


def build_full_size_multilingual_text(dest: Path) -> Path:
    """Multilingual DistilBERT (119547 vocab, 6 layers, 768 wide) + mean + Dense 768 -> 512."""
    return _build_once(
        Path(dest),
        "full_size_multilingual_text",
        {},
        lambda out: _write_multilingual(out, _full_bert_config, dim=512, seed=0),
    )


# --------------------------------------------------------------------------- cache + atomicity


def _build_once(
    dest: Path, builder: str, params: dict[str, Any], write: Callable[[Path], None]
) -> Path:
    """Build into a temp sibling, mark it complete, rename into place; reuse a complete ``dest``.

    A non-empty ``dest`` without our marker, or one built with other arguments, is refused
    rather than deleted: it may be somebody's real data.
    """
    stamp = {"builder": builder, "params": params}
    if _is_complete(dest, stamp):
        return dest
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty and is not a {builder} build with {params}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        write(partial)
        (partial / MARKER_NAME).write_text(json.dumps(stamp, sort_keys=True), encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty, checked above
        partial.rename(dest)
    except OSError:
        if _is_complete(dest, stamp):  # a concurrent builder won the race: use its result
            return dest
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return dest


def _is_complete(dest: Path, stamp: dict[str, Any]) -> bool:
    marker = dest / MARKER_NAME
    if not marker.is_file():
        return False
    found = json.loads(marker.read_text(encoding="utf-8"))
    if found != stamp:
        raise FileExistsError(f"{dest} holds a {found} build, not the requested {stamp}")
    return True


def _seeded_init(seed: int, factory: Callable[[], ModuleT]) -> ModuleT:
    """Create a module from ``seed`` without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- CLIP


def _tiny_clip_config(vocab_size: int, bos: int, eos: int, dim: int) -> CLIPConfig:
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": CLIP_MAX_TOKENS,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=dim)


def _full_clip_config(vocab_size: int, bos: int, eos: int, dim: int) -> CLIPConfig:
    # vocab_size is the real one: the small trained tokenizer only uses the first ids.
    text = {
        "vocab_size": 49408,
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "max_position_embeddings": CLIP_MAX_TOKENS,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }
    vision = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": 32,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=dim)


def _word_counts(normalizer: Any, pre_tokenizer: Any) -> Counter[str]:
    """Count CORPUS words exactly as the production tokenizer will split them."""
    counts: Counter[str] = Counter()
    for line in CORPUS:
        pieces = pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))
        counts.update(piece for piece, _ in pieces)
    return counts


@cache
def _train_clip_bpe(num_merges: int) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Byte-level BPE with CLIP's normalizer, split regex and ``</w>`` suffix.

    Trained here rather than with ``tokenizers.trainers.BpeTrainer`` because that trainer
    breaks count ties in hash order, so merges (and thus embeddings) change from run to run.
    Ties here go to the lexicographically smallest pair. The vocab is laid out like OpenAI's:
    256 byte symbols, the same with ``</w>``, the merges, then the two special tokens.
    """
    normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    counts = _word_counts(normalizer, pre_tokenizer)
    words = {w: (*w[:-1], w[-1] + "</w>") for w in counts}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, symbols in words.items():
            for pair in pairwise(symbols):
                pairs[pair] += counts[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        words = {word: _merge_pair(symbols, best) for word, symbols in words.items()}
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # == GPT-2 bytes_to_unicode order
    tokens = [*alphabet, *(c + "</w>" for c in alphabet), *("".join(m) for m in merges)]
    return tuple(dict.fromkeys([*tokens, *_CLIP_SPECIALS])), tuple(merges)


def _merge_pair(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def _write_clip(out: Path, make_config: Callable[..., CLIPConfig], *, dim: int, seed: int) -> None:
    """Write ``sentence-transformers/clip-ViT-B-32``'s layout: ``modules.json`` + ``0_CLIPModel``.

    The tokenizer and preprocessor files use the legacy formats that repo ships
    (``vocab.json``/``merges.txt``, ``CLIPFeatureExtractor`` with integer sizes), not what a
    current ``save_pretrained`` writes, so the loader's compatibility path is what gets tested.
    """
    tokens, merges = _train_clip_bpe(CLIP_MERGES)
    vocab = {token: i for i, token in enumerate(tokens)}
    bos, eos = (vocab[t] for t in _CLIP_SPECIALS)
    config = make_config(len(vocab), bos, eos, dim)
    model = _seeded_init(seed, lambda: CLIPModel(config))
    vision: Any = config.vision_config
    image_size = vision.image_size

    sub = out / "0_CLIPModel"
    model.save_pretrained(sub)
    _write_json(sub / "vocab.json", vocab)
    merges_text = "".join(f"{a} {b}\n" for a, b in merges)
    (sub / "merges.txt").write_text("#version: 0.2\n" + merges_text, encoding="utf-8")
    specials = {
        "bos_token": _CLIP_SPECIALS[0],
        "eos_token": _CLIP_SPECIALS[1],
        "unk_token": _CLIP_SPECIALS[1],
        "pad_token": _CLIP_SPECIALS[1],
    }
    _write_json(sub / "special_tokens_map.json", specials)
    _write_json(
        sub / "tokenizer_config.json",
        {
            **specials,
            "add_prefix_space": False,
            "errors": "replace",
            "do_lower_case": True,
            "model_max_length": CLIP_MAX_TOKENS,
            "tokenizer_class": "CLIPTokenizer",
        },
    )
    _write_json(
        sub / "preprocessor_config.json",
        {
            "crop_size": image_size,
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
            "resample": BICUBIC,
            "size": image_size,
        },
    )
    _write_json(
        out / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "0_CLIPModel",
                "type": "sentence_transformers.models.CLIPModel",
            }
        ],
    )
    _write_json(out / "config_sentence_transformers.json", _LEGACY_ST_VERSION)
    # Fail at build time, not in a test far away, if the files do not round-trip.
    CLIPTokenizer.from_pretrained(str(sub))


# --------------------------------------------------------------------------- multilingual text


def _tiny_bert_config(vocab_size: int) -> DistilBertConfig:
    return DistilBertConfig(
        vocab_size=vocab_size,
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=128,
        pad_token_id=0,
    )


def _full_bert_config(vocab_size: int) -> DistilBertConfig:
    # distilbert-base-multilingual-cased; the small trained tokenizer only uses the first ids.
    return DistilBertConfig(
        vocab_size=119547,
        dim=768,
        n_layers=6,
        n_heads=12,
        hidden_dim=3072,
        max_position_embeddings=512,
        pad_token_id=0,
    )


@cache
def _wordpiece_tokens() -> tuple[str, ...]:
    """Cased WordPiece vocab with BERT's normalizer (CJK split per character), as in mBERT.

    Every CORPUS word is a whole token and every character also exists alone and as ``##c``,
    so known words stay whole and unknown ones fall back to characters instead of ``[UNK]``.
    Built directly (not with ``WordPieceTrainer``, whose ties and ids vary between runs).
    """
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=False
    )
    words = sorted(_word_counts(normalizer, pre_tokenizers.BertPreTokenizer()))
    chars = sorted({c for word in words for c in word})
    tokens = [*_BERT_SPECIALS, *chars, *("##" + c for c in chars), *words]
    return tuple(dict.fromkeys(tokens))


def _write_multilingual(
    out: Path,
    make_config: Callable[[int], DistilBertConfig],
    *,
    dim: int,
    seed: int,
) -> None:
    """Write ``clip-ViT-B-32-multilingual-v1``'s layout: root Transformer, 1_Pooling, 2_Dense.

    Saved by SentenceTransformer itself, then the metadata files are rewritten in the legacy
    form that hub repo ships (legacy type names, old pooling keys, two-key sbert config).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    vocab = {token: i for i, token in enumerate(_wordpiece_tokens())}
    config = make_config(len(vocab))
    tokenizer = DistilBertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=128)
    hidden = config.dim

    def make() -> SentenceTransformer:
        hf_dir = out / ".hf-staging"
        DistilBertModel(config).save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        modules = [
            Transformer(str(hf_dir), max_seq_length=128),
            Pooling(hidden, "mean"),
            Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity()),
        ]
        st = SentenceTransformer(modules=modules, device="cpu")
        st.save(str(out), create_model_card=False)
        shutil.rmtree(hf_dir)
        return st

    _seeded_init(seed, make)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Dense",
                "type": "sentence_transformers.models.Dense",
            },
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 128, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    _write_json(
        out / "2_Dense" / "config.json",
        {
            "in_features": hidden,
            "out_features": dim,
            "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity",
        },
    )
    _write_json(out / "config_sentence_transformers.json", _LEGACY_ST_VERSION)
