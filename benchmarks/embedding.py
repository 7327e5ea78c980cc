"""Embedding throughput: curate's TextEncoder vs sentence-transformers on the same texts."""

from __future__ import annotations

import numpy as np

from benchmarks.common import measured
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed.text import TextEncoder, resolve_model


def workloads(n_glosses: int, n_articles: int) -> dict[str, list[str]]:
    glosses = load_pool(DataConfig(source="builtin:wordnet", sample=n_glosses)).texts()
    articles = load_pool(DataConfig(source="builtin:bbc-news")).texts()[:n_articles]
    return {f"wordnet glosses ({len(glosses)})": glosses,
            f"bbc articles ({len(articles)})": articles}


def _timed(encode, texts: list[str], repeats: int) -> tuple[dict, np.ndarray]:
    """Best of `repeats` timed runs, and how busy other processes kept the CPU meanwhile."""
    best = None
    for _ in range(repeats):
        with measured({}) as timing:
            vectors = encode(texts)
        if best is None or timing["seconds"] < best["seconds"]:
            best = timing
    best["texts_per_s"] = round(len(texts) / best["seconds"], 1)
    return best, np.asarray(vectors, dtype=np.float32)


def run(n_glosses: int = 20000, n_articles: int = 2225, max_length: int = 256,
        batch_size: int = EmbedConfig().batch_size, warmup: int = 256,
        repeats: int = 1) -> dict:
    """curate runs with the pipeline's batch size; sentence-transformers with its
    encode() defaults (batch 32). Every method is warmed up on `warmup` texts."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model("builtin:minilm"), device="cpu")
    model.max_seq_length = max_length

    def st_default(texts):
        return model.encode(texts, normalize_embeddings=True)

    def st_autocast(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model.encode(texts, normalize_embeddings=True)

    curate_fp32 = TextEncoder(precision="fp32", max_length=max_length,
                              batch_size=batch_size).load()
    curate_auto = TextEncoder(precision="auto", max_length=max_length,
                              batch_size=batch_size).load()
    methods = {"sentence-transformers encode (fp32, default)": st_default,
               "sentence-transformers encode under bf16 autocast": st_autocast,
               "curate TextEncoder precision=fp32": curate_fp32.encode,
               "curate TextEncoder precision=auto": curate_auto.encode}
    results = {}
    for workload, texts in workloads(n_glosses, n_articles).items():
        rows, reference = {}, None
        for encode in methods.values():
            encode(texts[:warmup])
        for name, encode in methods.items():
            timing, vectors = _timed(encode, texts, repeats)
            reference = vectors if reference is None else reference
            cosine = np.sum(vectors * reference, axis=1)
            rows[name] = {**timing, "cos_min": float(cosine.min()),
                          "cos_mean": float(cosine.mean())}
            print(f"  {workload}: {name}: {timing['texts_per_s']:.0f} texts/s, cos min "
                  f"{cosine.min():.6f} (other processes busy: {timing['other_busy_cores']} "
                  "cores)", flush=True)
        auto = rows["curate TextEncoder precision=auto"]["texts_per_s"]
        rows["ratios"] = {
            "auto_vs_st_default": round(auto / rows[next(iter(methods))]["texts_per_s"], 2),
            "auto_vs_st_autocast": round(
                auto / rows["sentence-transformers encode under bf16 autocast"]["texts_per_s"],
                2)}
        results[workload] = rows
    return {"max_length": max_length, "curate_batch_size": batch_size,
            "st_batch_size": 32, "warmup_texts": warmup, "repeats": repeats,
            "torch_threads": torch.get_num_threads(), "curate_auto_dtype": str(curate_auto.dtype_),
            "workloads": results}
