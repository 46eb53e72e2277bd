"""Query syntax: negative and weighted terms on top of plain text.

- ``cat -dog``: pictures close to "cat", pushed away from "dog" (the term's vector is
  subtracted from the query vector).
- ``2:sunset beach``: "sunset" counts twice as much as "beach".
- ``-0.5:people``, ``-"hot dog"``, ``3:"red dress"``: weights on negative terms, quoted
  phrases.

Plain words next to each other stay one phrase ("red dress -long" → "red dress" minus
"long"), because the text encoder understands phrases better than single words. Text that
uses no syntax is encoded exactly as written, so plain queries behave as before. Things that
only look like syntax stay text: "T-shirt", "-5 degrees", "2:30 pm", "http://…".

The query vector is ``Σ wᵢ·v(positiveᵢ) − Σ wⱼ·v(negativeⱼ)``, L2-normalised (negative
terms weigh ``NEGATIVE_WEIGHT`` unless given a weight).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from search.encoders import l2_normalise

NEGATIVE_WEIGHT = 1.0
MAX_WEIGHT = 10.0

# -?  weight:?  "quoted phrase" | word
_TOKEN = re.compile(
    r'(?P<neg>-)?(?:(?P<weight>\d+(?:\.\d+)?):)?(?:"(?P<phrase>[^"]+)"|(?P<word>\S+))'
)


@dataclass(frozen=True)
class Term:
    text: str
    weight: float  # negative for terms to move away from


def parse_query(text: str) -> list[Term]:
    """Terms of a query; a query without syntax is one term with weight 1."""
    terms: list[Term] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            terms.append(Term(" ".join(plain), 1.0))
            plain.clear()

    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        body = match.group("phrase") or match.group("word") or ""
        negative = bool(match.group("neg"))
        weight_text = match.group("weight")
        is_syntax = (negative or weight_text is not None) and _looks_like_term(body)
        if weight_text is not None and float(weight_text) > MAX_WEIGHT:
            is_syntax = False
        if not is_syntax:
            plain.append(raw)
            continue
        flush()
        weight = float(weight_text) if weight_text is not None else 1.0
        if negative:
            weight = -(float(weight_text) if weight_text is not None else NEGATIVE_WEIGHT)
        if weight != 0:
            terms.append(Term(body, weight))
    flush()
    if not any(t.weight > 0 for t in terms):
        # Only negative terms ("-dog"): nothing to look for; search the words as written.
        return [Term(text.strip(), 1.0)]
    return terms


def _looks_like_term(body: str) -> bool:
    """A term starts with a letter (any script) or an emoji, not a digit or punctuation."""
    return bool(body) and (body[0].isalpha() or ord(body[0]) > 0x2000)


def query_vectors(texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """One vector per query text, with a single ``encode`` call for all their terms."""
    parsed = [parse_query(text) for text in texts]
    flat = [term.text for terms in parsed for term in terms]
    encoded = encode(flat)
    out = np.zeros((len(texts), encoded.shape[1]), dtype=np.float32)
    row = 0
    for index, terms in enumerate(parsed):
        for term in terms:
            out[index] += term.weight * encoded[row]
            row += 1
    return l2_normalise(out)
