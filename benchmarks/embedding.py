"""Embedding throughput: curate's precisions and static embeddings vs sentence-transformers.

Every curate method is timed against sentence-transformers fp32 on the same texts in the
same run: fp32 and bf16 weights (torch), int8 (ONNX Runtime, `curate.embed.int8`), and
static embeddings distilled from the same MiniLM (`builtin:minilm-static`). Cosines are to
sentence-transformers fp32 (none for static: another vector space). The best precision is
the fastest of fp32 / bf16 / int8 whose mean cosine is >= 0.99; `auto` should pick it. A
second, 1-thread comparison gives the speed per core. A third times static embeddings
against bf16 over all WordNet glosses (`full_wordnet`), where a fresh static encoder sees
~113k distinct words.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import measured
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed.device import choose_precision, cpu_info
from curate.embed.models import resolve_model
from curate.embed.text import TextEncoder

ST_FP32 = "sentence-transformers encode (fp32, default)"
ST_AUTOCAST = "sentence-transformers encode under bf16 autocast"
PRECISIONS = {"fp32": "curate precision=fp32", "bf16": "curate precision=bf16",
              "int8": "curate precision=int8"}
AUTO = "curate precision=auto"
STATIC = "curate builtin:minilm-static"
STATIC_COLD = "curate builtin:minilm-static, every word new"
STATIC_FRESH = "curate builtin:minilm-static, fresh encoder (loads the table, every word new)"
ORDER = (ST_FP32, ST_AUTOCAST, *PRECISIONS.values(), AUTO, STATIC, STATIC_COLD, STATIC_FRESH)
# The flags the precision rules (curate.embed.device) look at.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
         "amx_tile")


def workloads(n_glosses: int, n_articles: int) -> dict[str, list[str]]:
    glosses = load_pool(DataConfig(source="builtin:wordnet", sample=n_glosses)).texts()
    articles = load_pool(DataConfig(source="builtin:bbc-news")).texts()[:n_articles]
    return {f"wordnet glosses ({len(glosses)})": glosses,
            f"bbc articles ({len(articles)})": articles}


def _timed(methods: dict, texts: list[str], repeats: int,
           once: tuple[str, ...] = ()) -> dict[str, tuple[dict, np.ndarray]]:
    """Per method the best of `repeats` timed runs (one for the methods in `once`), taken
    in interleaved rounds (every method once per round, so a burst of load elsewhere hits
    all of them), and how busy other processes kept the CPU during the best one."""
    best: dict[str, tuple[dict, np.ndarray]] = {}
    for round_ in range(repeats):
        for name, encode in methods.items():
            if round_ and name in once:
                continue
            with measured({}) as timing:
                vectors = encode(texts)
            timing["load_average"] = _load_average()
            if name not in best or timing["seconds"] < best[name][0]["seconds"]:
                best[name] = timing, np.asarray(vectors, dtype=np.float32)
    for timing, _ in best.values():
        timing["texts_per_s"] = round(len(texts) / timing["seconds"], 1)
    return best


def _load_average() -> list[float]:
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return []


def _static_cold() -> tuple:
    """A loaded static encoder that forgets its words before every call (every word new,
    the table loaded, as the torch paths have their model loaded), and a fresh
    `TextEncoder` per call (loading the table too); the load's best time of 5."""
    encoder = TextEncoder("builtin:minilm-static").load()

    def cold(texts):
        encoder.static_.forget_words()
        return encoder.encode(texts)

    def fresh(texts):
        return TextEncoder("builtin:minilm-static").encode(texts)

    loads = []
    for _ in range(5):
        with measured({}) as timing:
            TextEncoder("builtin:minilm-static").load()
        loads.append(timing["seconds"])
    return cold, fresh, min(loads)


def run(n_glosses: int = 2000, n_articles: int = 300, max_length: int = 256,
        batch_size: int = EmbedConfig().batch_size, warmup: int = 256,
        repeats: int = 3, full_wordnet: int = 1, full_wordnet_bf16: int = 1) -> dict:
    """curate runs with the pipeline's batch size; sentence-transformers with its
    encode() defaults (batch 32). Every method is warmed up on `warmup` texts (which also
    exports the int8 model and distils the static one, when not cached yet).
    `full_wordnet`: 1 also times static (`repeats` rounds) and, with `full_wordnet_bf16`,
    bf16 (one round, ~2 minutes on a quiet 2-core machine) over all WordNet glosses; without
    it static is compared to bf16's rate on the gloss sample; 0 skips it."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model("builtin:minilm"), device="cpu")
    model.max_seq_length = max_length

    def st_default(texts):
        return model.encode(texts, normalize_embeddings=True)

    def st_autocast(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model.encode(texts, normalize_embeddings=True)

    methods = {ST_FP32: st_default, ST_AUTOCAST: st_autocast}
    for precision, name in {**PRECISIONS, "auto": AUTO}.items():
        methods[name] = TextEncoder(precision=precision, max_length=max_length,
                                    batch_size=batch_size).load().encode
    # A static encoder tokenizes each word once (BERT tokenizers): timed with the words of
    # the texts seen (a large pool's steady state), with every word new, and with a fresh
    # encoder per call (its load too).
    methods[STATIC] = TextEncoder("builtin:minilm-static").load().encode
    methods[STATIC_COLD], methods[STATIC_FRESH], static_load_s = _static_cold()
    auto = choose_precision("auto", torch.device("cpu"))
    results = {}
    for workload, texts in workloads(n_glosses, n_articles).items():
        rows, reference = {}, None
        for encode in methods.values():
            encode(texts[:warmup])
        for name, (timing, vectors) in _timed(methods, texts, repeats).items():
            reference = vectors if reference is None else reference
            if vectors.shape == reference.shape:
                cosine = np.sum(vectors * reference, axis=1)
                timing |= {"cos_min": float(cosine.min()), "cos_mean": float(cosine.mean())}
            rows[name] = timing
            print(f"  {workload}: {name}: {timing['texts_per_s']:.0f} texts/s, cos mean "
                  f"{timing.get('cos_mean', float('nan')):.4f} (other processes busy: "
                  f"{timing['other_busy_cores']} cores, load {timing['load_average']})",
                  flush=True)
        rows["ratios"] = _ratios(rows, auto.precision)
        results[workload] = rows
    one_thread = per_thread()
    timed = (STATIC, STATIC_COLD, STATIC_FRESH)
    sample_bf16 = next(iter(results.values()))[PRECISIONS["bf16"]]["texts_per_s"]
    full = (all_glosses({name: methods[name] for name in
                         ((PRECISIONS["bf16"], *timed) if full_wordnet_bf16 else timed)},
                        repeats, sample_bf16) if full_wordnet else None)
    return {"max_length": max_length, "curate_batch_size": batch_size, "per_thread": one_thread,
            "st_batch_size": 32, "warmup_texts": warmup, "repeats": repeats,
            "torch_threads": torch.get_num_threads(), "cpu_model": cpu_info().model,
            "cpu_flags": [f for f in FLAGS if f in cpu_info().flags],
            "static_load_s": static_load_s, "auto": auto.record(), "workloads": results,
            **({"all_wordnet_glosses": full} if full else {})}


def all_glosses(methods: dict, repeats: int, sample_bf16: float) -> dict:
    """Static (and bf16, one round, when in `methods`) over all WordNet glosses: the static
    encoder with every word new meets each of ~113k distinct words once. Without bf16 here
    the ratios are to `sample_bf16`, bf16's rate on the gloss sample in the same run."""
    texts = load_pool(DataConfig(source="builtin:wordnet")).texts()
    bf16 = PRECISIONS["bf16"]
    rows = {name: timing for name, (timing, _) in
            _timed(methods, texts, repeats, once=(bf16,)).items()}
    for name, timing in rows.items():
        print(f"  all {len(texts)} WordNet glosses: {name}: {timing['texts_per_s']:.0f} texts/s "
              f"(other processes busy: {timing['other_busy_cores']} cores, load "
              f"{timing['load_average']})", flush=True)
    speed = {name: rows[name]["texts_per_s"] for name in rows}
    if bf16 not in speed:
        speed[bf16] = sample_bf16
    distinct = len({w for text in texts for w in text.split()})
    return {"texts": len(texts), "distinct_words": distinct,
            "bf16": "timed here, 1 round" if bf16 in rows else
            f"the gloss sample's rate in this run ({sample_bf16}/s)",
            "static_rounds": repeats, "methods": rows,
            "ratios": {"static_vs_curate_bf16": round(speed[STATIC] / speed[bf16], 1),
                       "static_cold_vs_curate_bf16": round(speed[STATIC_COLD] / speed[bf16], 1),
                       "static_fresh_vs_curate_bf16": round(speed[STATIC_FRESH] / speed[bf16],
                                                            1)}}


def per_thread(n_glosses: int = 1000, n_articles: int = 60, repeats: int = 3) -> dict:
    """fp32, bf16, int8 and static (words seen, and every word new) with one thread each
    (torch, ONNX Runtime and the tokenizer), best of `repeats` interleaved rounds: kernel
    speed per core, less sensitive than the 2-thread runs to other processes on a shared
    machine (torch's threads wait on each other when one is descheduled)."""
    import os

    import torch

    threads, parallel = torch.get_num_threads(), os.environ.get("TOKENIZERS_PARALLELISM")
    torch.set_num_threads(1)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        methods = {name: TextEncoder(precision=p).load().encode for p, name in PRECISIONS.items()}
        methods[STATIC] = TextEncoder("builtin:minilm-static").load().encode
        methods[STATIC_COLD] = _static_cold()[0]
        out = {}
        for workload, texts in workloads(n_glosses, n_articles).items():
            for encode in methods.values():
                encode(texts[:32])
            out[workload] = {name: timing["texts_per_s"]
                             for name, (timing, _) in _timed(methods, texts, repeats).items()}
            print(f"  1 thread, {workload}: {out[workload]}", flush=True)
        return out
    finally:
        torch.set_num_threads(threads)
        if parallel is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = parallel


def _ratios(rows: dict, auto: str) -> dict:
    """Each curate method over ST fp32; the best precision at mean cos >= 0.99; static over
    curate's bf16 path."""
    st = rows[ST_FP32]["texts_per_s"]
    ratios = {f"{name}_vs_st_fp32": round(rows[name]["texts_per_s"] / st, 2)
              for name in ORDER[1:]}
    eligible = [p for p, name in PRECISIONS.items() if rows[name].get("cos_mean", 0) >= 0.99]
    best = max(eligible, key=lambda p: rows[PRECISIONS[p]]["texts_per_s"])
    speed = {name: rows[name]["texts_per_s"] for name in ORDER}
    return ratios | {"best_precision": best, "auto_precision": auto,
                     "auto_vs_best": round(speed[AUTO] / speed[PRECISIONS[best]], 2),
                     "static_vs_curate_bf16": round(speed[STATIC] / speed[PRECISIONS["bf16"]], 1),
                     "static_cold_vs_curate_bf16": round(speed[STATIC_COLD]
                                                         / speed[PRECISIONS["bf16"]], 1),
                     "static_fresh_vs_curate_bf16": round(speed[STATIC_FRESH]
                                                          / speed[PRECISIONS["bf16"]], 1)}
