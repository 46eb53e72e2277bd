"""Tiny random stand-ins for the single-model presets, saved as plain Hugging Face checkpoints.

The real checkpoints (``google/siglip2-base-patch16-224``, ``BAAI/AltCLIP-m18``) are plain
transformers repositories without sentence-transformers metadata; ``SentenceTransformer(path)``
recognises the architecture and encodes texts and images with ``get_text_features`` /
``get_image_features``. These builders save the same model and processor classes with tiny
dimensions (and tokenizers trained in milliseconds on a small multilingual corpus), so tests
exercise exactly that loading path. Random weights: the vectors carry no meaning.

SigLIP 2 at fixed resolution is ``SiglipModel`` with a Gemma tokenizer (model_type
``siglip``); AltCLIP is ``AltCLIPModel`` with an XLM-RoBERTa tokenizer. (In transformers 5
the tokenizer classes are the fast, ``tokenizers``-backed ones.)
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AltCLIPConfig,
    AltCLIPModel,
    AltCLIPProcessor,
    CLIPImageProcessor,
    GemmaTokenizer,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
    SiglipProcessor,
    XLMRobertaTokenizer,
)

from tests.fakes.tiny_models import CORPUS

SIGLIP_TEXT_LENGTH = 64
_TINY_LAYERS = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                "num_attention_heads": 2}
_TINY_VISION = {**_TINY_LAYERS, "image_size": 32, "patch_size": 8}


def build_tiny_siglip(dest: Path, seed: int = 0) -> Path:
    """SiglipModel + Gemma tokenizer (byte-fallback BPE) + SiglipImageProcessor, 32-dim."""
    if (dest / "config.json").is_file():
        return dest
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
    fast = GemmaTokenizer(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
        unk_token="<unk>", model_max_length=SIGLIP_TEXT_LENGTH, add_bos_token=False,
        add_eos_token=True,
    )
    config = SiglipConfig(
        text_config={**_TINY_LAYERS, "vocab_size": len(fast),
                     "max_position_embeddings": SIGLIP_TEXT_LENGTH, "projection_size": 32},
        vision_config=_TINY_VISION,
    )
    torch.manual_seed(seed)
    SiglipModel(config).save_pretrained(dest)
    processor = SiglipProcessor(
        image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}), tokenizer=fast
    )
    processor.save_pretrained(dest)
    return dest


def build_tiny_altclip(dest: Path, seed: int = 0) -> Path:
    """AltCLIPModel + XLM-R tokenizer (unigram) + CLIPImageProcessor, 16-dim."""
    if (dest / "config.json").is_file():
        return dest
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(CORPUS, trainers.UnigramTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        unk_token="<unk>"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tokenizer.token_to_id("<s>")),
                        ("</s>", tokenizer.token_to_id("</s>"))],
    )
    fast = XLMRobertaTokenizer(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=77,
    )
    config = AltCLIPConfig(
        text_config={**_TINY_LAYERS, "vocab_size": len(fast), "max_position_embeddings": 80,
                     "project_dim": 16, "pad_token_id": fast.pad_token_id},
        vision_config={**_TINY_VISION, "projection_dim": 16},
        projection_dim=16,
    )
    torch.manual_seed(seed)
    AltCLIPModel(config).save_pretrained(dest)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32},
                                         crop_size={"height": 32, "width": 32})
    AltCLIPProcessor(image_processor=image_processor, tokenizer=fast).save_pretrained(dest)
    return dest
