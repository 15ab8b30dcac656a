"""Is the domain's vocabulary special? Word rarity against general English and tokenizer fragmentation.

General-English frequencies come from ``wordfreq`` (Zipf scale: 7 ≈ "the", 3 ≈ once per million words).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["VocabularyReport", "analyse_vocabulary"]

_WORD = re.compile(r"[a-z][a-z0-9'_-]*[a-z0-9]")


@dataclass
class VocabularyReport:
    """Rarity and fragmentation figures of a corpus."""

    types: int
    tokens: int
    rare_type_share: float  # share of distinct words rarer than ``rare_zipf`` in general English
    rare_token_share: float  # the same, weighted by occurrences
    pieces_domain: float  # tokenizer pieces per word, top domain terms
    pieces_general: float  # tokenizer pieces per word, frequent general words of the corpus
    terms: list[dict] = field(default_factory=list)  # top domain-specific terms

    @property
    def special(self) -> bool:
        """A rule of thumb: over 10 % of tokens are rare words, or domain terms fragment 1.5× more."""
        return self.rare_token_share > 0.10 or self.pieces_domain > 1.5 * self.pieces_general

    def summary(self) -> dict[str, float | int | bool]:
        return {
            "word types": self.types,
            "word tokens": self.tokens,
            "rare types (share)": round(self.rare_type_share, 3),
            "rare tokens (share)": round(self.rare_token_share, 3),
            "tokenizer pieces per domain term": round(self.pieces_domain, 2),
            "tokenizer pieces per general word": round(self.pieces_general, 2),
            "special vocabulary": self.special,
        }


def _pieces(tokenizer, words: list[str]) -> float:
    if not words or tokenizer is None:
        return float("nan")
    return sum(len(tokenizer.tokenize(w)) for w in words) / len(words)


def analyse_vocabulary(
    texts, tokenizer=None, rare_zipf: float = 3.0, top: int = 25, min_count: int = 5
) -> VocabularyReport:
    """Count word rarity and how the model's tokenizer splits the most domain-specific terms.

    Specificity of a word is its Zipf frequency in the corpus minus its Zipf frequency in general
    English; the top terms are the most specific words occurring at least ``min_count`` times.
    """
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise ImportError("vocabulary analysis needs wordfreq: pip install wordfreq") from None
    counts = Counter(w for t in texts for w in _WORD.findall(t.lower()))
    total = sum(counts.values()) or 1
    general = {w: zipf_frequency(w, "en") for w in counts}
    rare = [w for w in counts if general[w] < rare_zipf]
    corpus_zipf = {w: math.log10(c / total * 1e9) for w, c in counts.items()}
    ranked = sorted((w for w in counts if counts[w] >= min_count), key=lambda w: general[w] - corpus_zipf[w])
    terms = [
        {"term": w, "count": counts[w], "corpus zipf": round(corpus_zipf[w], 2), "general zipf": general[w]}
        for w in ranked[:top]
    ]
    common = [w for w, _ in counts.most_common(400) if general[w] >= 5.0][:top]
    return VocabularyReport(
        types=len(counts),
        tokens=total,
        rare_type_share=len(rare) / max(1, len(counts)),
        rare_token_share=sum(counts[w] for w in rare) / total,
        pieces_domain=_pieces(tokenizer, [t["term"] for t in terms]),
        pieces_general=_pieces(tokenizer, common),
        terms=terms,
    )
