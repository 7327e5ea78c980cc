"""Embedding throughput: curate's TextEncoder vs sentence-transformers on the same texts."""

from __future__ import annotations

import time

import numpy as np

from curate.config import DataConfig
from curate.data import load_pool
from curate.embed.text import TextEncoder, resolve_model


def workloads(n_glosses: int, n_articles: int) -> dict[str, list[str]]:
    glosses = load_pool(DataConfig(source="builtin:wordnet", sample=n_glosses)).texts()
    articles = load_pool(DataConfig(source="builtin:bbc-news")).texts()[:n_articles]
    return {f"wordnet glosses ({len(glosses)})": glosses,
            f"bbc articles ({len(articles)})": articles}


def _timed(encode, texts: list[str]) -> tuple[float, np.ndarray]:
    encode(texts[:64])  # warm-up
    started = time.perf_counter()
    vectors = encode(texts)
    return len(texts) / (time.perf_counter() - started), np.asarray(vectors, dtype=np.float32)


def run(n_glosses: int = 20000, n_articles: int = 2225, max_length: int = 256) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model("builtin:minilm"), device="cpu")
    model.max_seq_length = max_length

    def st_default(texts):
        return model.encode(texts, normalize_embeddings=True)

    def st_autocast(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model.encode(texts, normalize_embeddings=True)

    curate_fp32 = TextEncoder(precision="fp32", max_length=max_length, batch_size=128).load()
    curate_auto = TextEncoder(precision="auto", max_length=max_length, batch_size=128).load()
    methods = {"sentence-transformers encode (fp32, default)": st_default,
               "sentence-transformers encode under bf16 autocast": st_autocast,
               "curate TextEncoder precision=fp32": curate_fp32.encode,
               "curate TextEncoder precision=auto": curate_auto.encode}
    results = {}
    for workload, texts in workloads(n_glosses, n_articles).items():
        rows, reference = {}, None
        for name, encode in methods.items():
            rate, vectors = _timed(encode, texts)
            reference = vectors if reference is None else reference
            cosine = np.sum(vectors * reference, axis=1)
            rows[name] = {"texts_per_s": round(rate, 1), "cos_min": float(cosine.min()),
                          "cos_mean": float(cosine.mean())}
            print(f"  {workload}: {name}: {rate:.0f} texts/s, cos min {cosine.min():.6f}")
        auto = rows["curate TextEncoder precision=auto"]["texts_per_s"]
        rows["ratios"] = {
            "auto_vs_st_default": round(auto / rows[next(iter(methods))]["texts_per_s"], 2),
            "auto_vs_st_autocast": round(
                auto / rows["sentence-transformers encode under bf16 autocast"]["texts_per_s"],
                2)}
        results[workload] = rows
    return {"max_length": max_length, "workloads": results}
