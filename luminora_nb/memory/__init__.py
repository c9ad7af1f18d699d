"""v1.1 memory: what a persona learns from a conversation, and how it recalls it.

Design:

* **Learning** (pure, no I/O): :class:`MemoryPipeline` (:mod:`._pipeline`) runs, for one
  user message, the sentiment scorer (:mod:`.sentiment`, an offline lexicon), the fact
  extractor (:mod:`.facts`: the offline rules, or :mod:`.llm_extractor` with validated
  JSON), the episode detector (:mod:`.episodes`), the interaction classifier and affinity
  scheme (:mod:`luminora_nb.relationship`) and the mood step (:mod:`.mood`), and returns
  what was learned; :mod:`.ranking` picks what reaches the next prompt. Storing it and
  publishing events is the v1.1 client's turn extension (:mod:`luminora_nb.client_v11`).

* **Embedders** (:mod:`.embeddings`) turn texts into L2-normalised float32 vectors
  behind one small protocol, :class:`Embedder` (``model_id``, ``dimension``,
  ``embed(texts)``). The default, :class:`StaticEmbedder`, is a static model2vec model
  distilled from all-MiniLM-L6-v2 (``scripts/distill_embeddings.py``) that ships in
  ``memory/model/``: it runs offline with model2vec and numpy only (no torch, nothing
  fetched from a model hub) and embeds a thousand sentences in hundredths of a second.
  :class:`SentenceTransformerEmbedder` takes any sentence-transformers model where torch
  is installed; :mod:`.remote` has async HTTP embedders for OpenAI, Cohere, Gemini and
  Ollama that share the chat providers' keys, retries and error mapping.
* **Search** (:mod:`.search`) is pure: given a query and candidate memories (id, kind,
  text, stored vector, importance, time) it ranks them by cosine similarity blended with
  a small BM25 score, importance and recency. Storage stays out of it: a storage backend
  keeps the vectors (with the ``model_id`` and ``dimension`` that made them), this
  package compares them. Vectors from another model are refused or re-embedded, never
  compared.
* **Cost**: nothing heavy is imported with ``luminora_nb`` or with this package: numpy
  and model2vec load on first use (the names below resolve lazily), and the model is
  loaded once per process (:func:`default_embedder`).

Example:
    >>> from luminora_nb.memory import MemoryCandidate, search_memories
    >>> memories = [MemoryCandidate("f1", "fact", "I'm allergic to peanuts."),
    ...             MemoryCandidate("f2", "fact", "My favourite band is Radiohead.")]
    >>> search_memories("which musicians do I like?", memories, limit=1)[0].text
    'My favourite band is Radiohead.'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from ._pipeline import LearningState, MemoryPipeline, TurnLearning
    from .embeddings import (
        Embedder,
        EmbeddingError,
        EmbeddingMismatchError,
        SentenceTransformerEmbedder,
        StaticEmbedder,
        default_embedder,
        embedding_metadata,
        pack_vector,
        unpack_vector,
    )
    from .episodes import EpisodeDetector, detect_episode
    from .facts import ExtractionResult, FactExtractor, RulesFactExtractor, extract_facts, merge_fact
    from .llm_extractor import LLMFactExtractor
    from .mood import MoodStep, next_mood
    from .ranking import MemorySelection, rank_memories
    from .remote import CohereEmbedder, GeminiEmbedder, HTTPEmbedder, OllamaEmbedder, OpenAIEmbedder
    from .search import MemoryCandidate, MemoryIndex, SearchHit, SearchWeights, search_memories
    from .sentiment import LexiconSentimentScorer, SentimentResult, score_sentiment

_LAZY: dict[str, str] = {
    "LearningState": "_pipeline",
    "MemoryPipeline": "_pipeline",
    "TurnLearning": "_pipeline",
    "EpisodeDetector": "episodes",
    "detect_episode": "episodes",
    "ExtractionResult": "facts",
    "FactExtractor": "facts",
    "RulesFactExtractor": "facts",
    "extract_facts": "facts",
    "merge_fact": "facts",
    "LLMFactExtractor": "llm_extractor",
    "MoodStep": "mood",
    "next_mood": "mood",
    "MemorySelection": "ranking",
    "rank_memories": "ranking",
    "LexiconSentimentScorer": "sentiment",
    "SentimentResult": "sentiment",
    "score_sentiment": "sentiment",
    "Embedder": "embeddings",
    "EmbeddingError": "embeddings",
    "EmbeddingMismatchError": "embeddings",
    "SentenceTransformerEmbedder": "embeddings",
    "StaticEmbedder": "embeddings",
    "default_embedder": "embeddings",
    "embedding_metadata": "embeddings",
    "pack_vector": "embeddings",
    "unpack_vector": "embeddings",
    "HTTPEmbedder": "remote",
    "OpenAIEmbedder": "remote",
    "CohereEmbedder": "remote",
    "GeminiEmbedder": "remote",
    "OllamaEmbedder": "remote",
    "MemoryCandidate": "search",
    "MemoryIndex": "search",
    "SearchHit": "search",
    "SearchWeights": "search",
    "search_memories": "search",
}

__all__ = [
    "CohereEmbedder",
    "Embedder",
    "EmbeddingError",
    "EmbeddingMismatchError",
    "EpisodeDetector",
    "ExtractionResult",
    "FactExtractor",
    "GeminiEmbedder",
    "HTTPEmbedder",
    "LLMFactExtractor",
    "LearningState",
    "LexiconSentimentScorer",
    "MemoryCandidate",
    "MemoryIndex",
    "MemoryPipeline",
    "MemorySelection",
    "MoodStep",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "RulesFactExtractor",
    "SearchHit",
    "SearchWeights",
    "SentenceTransformerEmbedder",
    "SentimentResult",
    "StaticEmbedder",
    "TurnLearning",
    "default_embedder",
    "detect_episode",
    "embedding_metadata",
    "extract_facts",
    "merge_fact",
    "next_mood",
    "pack_vector",
    "rank_memories",
    "score_sentiment",
    "search_memories",
    "unpack_vector",
]

# Names load on first access (the package's one lazy-export helper); every lazy name is
# in __all__, so __dir__ lists them before they load.
__getattr__, __dir__ = _lazy_exports(
    globals(), {name: f"{__name__}.{module}" for name, module in _LAZY.items()}
)
