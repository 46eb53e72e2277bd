"""Query language detection: is this query English, and how sure are we?

Only one decision hangs on it: whether an English query may go through CLIP's own text
tower (see ``search.routing``). A non-English query sent there is garbage to that tower, an
English query sent to the multilingual model is merely a little worse, so the detector is
asked for a *confident* "English" and anything else falls back to the multilingual model.

The detector is py3langid (a naive-Bayes byte-n-gram model, 4.6 MB, shipped inside the
wheel, ~0.1 ms per short query). It is restricted to the languages the multilingual text
model was trained on: a two-word query otherwise drifts to Shona or Maori, which helps no
one. docs/quality.md has the comparison with lingua that led to this choice.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

# The languages of sentence-transformers/clip-ViT-B-32-multilingual-v1 (its model card),
# as ISO 639-1 codes; Norwegian Bokmål is "no" in py3langid.
MODEL_LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "gl", "gu",
    "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ka", "ko", "ku", "lt", "lv", "mk", "mn",
    "mr", "ms", "my", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sq", "sr", "sv", "th",
    "tr", "uk", "ur", "vi", "zh",
)  # fmt: skip

ENGLISH = "en"


@dataclass(frozen=True)
class Detection:
    """The most likely language, its probability, and the probability of English."""

    language: str
    confidence: float
    english: float


def has_non_latin_letters(text: str) -> bool:
    """True if any letter is outside the Latin script (Cyrillic, CJK, Greek, Arabic …).

    CLIP's English tokenizer has almost no vocabulary for such letters, so a query holding
    any (a mixed "red платье" too) always goes to the multilingual model, whatever the
    statistics say.
    """
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in text)


class LanguageDetector:
    """py3langid restricted to ``languages``; the model loads on first use (thread-safe)."""

    def __init__(self, languages: tuple[str, ...] = MODEL_LANGUAGES) -> None:
        self._languages = languages
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages([c for c in self._languages if c in identifier.labels])
        return identifier

    @property
    def identifier(self) -> Any:
        if self._identifier is None:
            with self._lock:
                if self._identifier is None:
                    self._identifier = self._load()
        return self._identifier

    def detect(self, text: str) -> Detection:
        ranked = self.identifier.rank(text)
        language, confidence = ranked[0]
        english = next((float(p) for code, p in ranked if code == ENGLISH), 0.0)
        return Detection(str(language), float(confidence), english)

    def english_confidence(self, text: str) -> float:
        """Probability that ``text`` is English; 0 when it holds non-Latin letters."""
        if has_non_latin_letters(text):
            return 0.0
        return self.detect(text).english

    def is_english(self, text: str, min_confidence: float) -> bool:
        return self.english_confidence(text) >= min_confidence


@functools.cache
def default_detector() -> LanguageDetector:
    """One shared detector per process: its tables take ~85 MB once loaded."""
    return LanguageDetector()
