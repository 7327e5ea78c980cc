"""Embedding and k-means benchmarks: `python benchmarks/run.py --out benchmarks/results`.

Embedding throughput on real texts (WordNet glosses, BBC news articles):
  (a) sentence-transformers `encode` with its defaults (fp32): the baseline,
  (b) the same `encode` under `torch.autocast("cpu", dtype=torch.bfloat16)`,
  (c) curate `TextEncoder(precision="fp32")`, (d) curate `TextEncoder(precision="auto")`,
with cosine similarities of every method's vectors to (a)'s.

k-means: faiss (curate.index.fit_centroids + nearest) vs scikit-learn KMeans (Lloyd, one
init, the same k and iteration count) on a seeded, L2-normalised Gaussian mixture; inertia
is recomputed the same way for both (squared L2 to the nearest returned centroid).

Writes embedding.json, kmeans.json and README.md under --out. Every timing also records how
many cores other processes kept busy meanwhile (from /proc/stat), so contention is visible.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_VS_ST = 3.0  # curate auto vs sentence-transformers fp32 default
GOAL_VS_AUTOCAST = 1.1  # curate auto vs sentence-transformers under bf16 autocast
GOAL_COSINE = 0.999


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def _busy_seconds() -> float | None:
    """CPU seconds all processes spent busy (not idle or iowait), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timer:
    """Wall time, this process's CPU time and the cores other processes kept busy."""

    def __enter__(self) -> Timer:
        self._busy, self._cpu, self._t = _busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t
        self.cpu_seconds = _own_cpu_seconds() - self._cpu
        busy = _busy_seconds()
        self.other_cores = (None if busy is None or self._busy is None else
                            max(0.0, (busy - self._busy - self.cpu_seconds) / self.seconds))

    def record(self) -> dict:
        return {"seconds": round(self.seconds, 3), "cpu_seconds": round(self.cpu_seconds, 2),
                "other_processes_busy_cores": None if self.other_cores is None
                else round(self.other_cores, 2)}


# --------------------------------------------------------------------------- machine


def machine() -> dict:
    import torch

    from curate.embed.device import cpu_has_bf16

    cpu_model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers", "faiss-cpu",
                "scikit-learn", "numpy", "curate"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or None
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    return {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu_model": cpu_model, "logical_cpus": os.cpu_count(),
            "cpu_bf16": cpu_has_bf16(), "torch_threads": torch.get_num_threads(),
            "memory_gib": mem, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions, "git_commit": commit,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- embedding


def load_texts(args) -> dict[str, list[str]]:
    from curate.config import DataConfig
    from curate.data import load_pool

    workloads = {}
    if args.glosses:
        workloads["wordnet-glosses"] = load_pool(
            DataConfig(source="builtin:wordnet", sample=args.glosses), seed=args.seed).texts()
    if args.articles:
        workloads["bbc-news"] = load_pool(
            DataConfig(source="builtin:bbc-news", sample=args.articles), seed=args.seed).texts()
    return workloads


def embedding_methods(args) -> dict:
    """name -> (description, encode(texts) -> (N, d) float32)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from curate.embed.text import TextEncoder, resolve_model

    st = SentenceTransformer(resolve_model(args.model), device="cpu")
    st.max_seq_length = args.max_length

    def st_autocast(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return st.encode(texts)

    fp32 = TextEncoder(args.model, max_length=args.max_length, batch_size=args.batch_size,
                       precision="fp32", device="cpu").load()
    auto = TextEncoder(args.model, max_length=args.max_length, batch_size=args.batch_size,
                       precision="auto", device="cpu").load()
    return {
        "st_fp32": ("(a) sentence-transformers encode(), defaults (fp32)", st.encode),
        "st_autocast_bf16": ("(b) sentence-transformers encode() under bf16 autocast",
                             st_autocast),
        "curate_fp32": ('(c) curate TextEncoder(precision="fp32")', fp32.encode),
        "curate_auto": (f'(d) curate TextEncoder(precision="auto") -> {auto.dtype_}',
                        auto.encode),
    }


def bench_embedding(args) -> dict:
    import torch

    log("embedding: loading texts")
    workloads = load_texts(args)
    methods = embedding_methods(args)
    from transformers import AutoTokenizer

    from curate.embed.text import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model))
    result = {"settings": {"model": args.model, "max_length": args.max_length,
                           "curate_batch_size": args.batch_size,
                           "st_batch_size": "encode() default (32)",
                           "warmup_texts": args.warmup, "repeats": args.repeats,
                           "timing": "best of repeats; methods interleaved within a repeat",
                           "torch_threads": torch.get_num_threads()},
              "methods": {k: d for k, (d, _) in methods.items()}, "workloads": {}}
    for name, texts in workloads.items():
        tokens = [len(t) for t in tokenizer(texts, truncation=True,
                                             max_length=args.max_length)["input_ids"]]
        log(f"embedding {name}: {len(texts)} texts, {np.mean(tokens):.1f} tokens on average")
        runs: dict[str, list[dict]] = {k: [] for k in methods}
        vectors = {}
        for key, (_, encode) in methods.items():
            encode(texts[:args.warmup])
        for repeat in range(args.repeats):
            for key, (_, encode) in methods.items():
                with Timer() as timer:
                    vectors[key] = np.asarray(encode(texts), dtype=np.float32)
                runs[key].append(timer.record())
                log(f"  {name} {key} repeat {repeat + 1}: {len(texts) / timer.seconds:8.1f} "
                    f"texts/s ({timer.seconds:.1f} s, other processes busy "
                    f"{timer.other_cores or 0:.2f} cores)")
        ref = vectors["st_fp32"] / np.linalg.norm(vectors["st_fp32"], axis=1, keepdims=True)
        rows = {}
        for key in methods:
            best = min(r["seconds"] for r in runs[key])
            unit = vectors[key] / np.linalg.norm(vectors[key], axis=1, keepdims=True)
            cosine = np.sum(unit * ref, axis=1)
            rows[key] = {"texts_per_s": round(len(texts) / best, 1), "best_seconds": best,
                         "runs": runs[key], "cosine_to_st_fp32_min": float(cosine.min()),
                         "cosine_to_st_fp32_mean": float(cosine.mean())}
        auto = rows["curate_auto"]["texts_per_s"]
        result["workloads"][name] = {
            "texts": len(texts), "mean_tokens": round(float(np.mean(tokens)), 1),
            "max_tokens": int(max(tokens)), "methods": rows,
            "ratios": {"curate_auto_vs_st_fp32": round(auto / rows["st_fp32"]["texts_per_s"], 2),
                       "curate_auto_vs_st_autocast_bf16":
                           round(auto / rows["st_autocast_bf16"]["texts_per_s"], 2),
                       "curate_fp32_vs_st_fp32": round(
                           rows["curate_fp32"]["texts_per_s"] / rows["st_fp32"]["texts_per_s"],
                           2)},
            "peak_rss_mib_so_far": round(peak_rss_mib(), 1)}
    return result


# --------------------------------------------------------------------------- k-means


def mixture(n: int, dim: int, components: int, seed: int) -> np.ndarray:
    """L2-normalised Gaussian mixture with uneven component sizes (a stand-in for sentence
    vectors): unit-norm centres, noise about as large as the centre, shared offset so the
    points sit in a cone as MiniLM vectors do."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    offset = rng.standard_normal(dim, dtype=np.float32)
    centres += 0.5 * offset / np.linalg.norm(offset)
    weights = rng.dirichlet(np.full(components, 0.5))
    labels = rng.choice(components, size=n, p=weights)
    x = centres[labels]
    x += rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    """Sum over points of the squared L2 distance to the nearest centroid (faiss flat L2)."""
    from curate.index import nearest

    _, dist = nearest(x, centroids, inner_product=False)
    return float(np.sum(dist[:, 0], dtype=np.float64))


def bench_kmeans(args) -> dict:
    from sklearn import __version__ as sklearn_version
    from sklearn.cluster import KMeans

    from curate.index import fit_centroids, nearest

    n, k, iters = args.kmeans_n, args.k, args.kmeans_iter
    log(f"k-means: generating {n} x {args.dim} mixture ({args.components} components)")
    x = mixture(n, args.dim, args.components, args.seed)
    # every point takes part in training: faiss subsamples to k * max_points_per_centroid
    all_points = -(-n // k) + 1
    result = {"settings": {"n": n, "dim": args.dim, "k": k, "iterations": iters,
                           "data": f"L2-normalised Gaussian mixture, {args.components} "
                                   f"components, seed {args.seed}", "seed": args.seed,
                           "inertia": "sum of squared L2 distances of every point to its "
                                      "nearest returned centroid, float64 sum, computed "
                                      "identically for all rows",
                           "sklearn": f"KMeans(n_clusters={k}, init=<row>, n_init=1, "
                                      f"max_iter={iters}, tol=0, algorithm='lloyd') "
                                      f"scikit-learn {sklearn_version}",
                           "faiss": f"fit_centroids(niter={iters}, nredo=1, "
                                    f"max_points_per_centroid={all_points}) then nearest()"},
              "rows": {}}

    def faiss_row(spherical: bool) -> dict:
        with Timer() as fit:
            centroids, _ = fit_centroids(x, k, niter=iters, nredo=1, seed=args.seed,
                                         spherical=spherical, max_points_per_centroid=all_points)
        with Timer() as assign:
            nearest(x, centroids, inner_product=spherical)
        return {"fit": fit.record(), "assign": assign.record(),
                "seconds": round(fit.seconds + assign.seconds, 3),
                "inertia": inertia(x, centroids)}

    def sklearn_row(init: str) -> dict:
        model = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0,
                       algorithm="lloyd", random_state=args.seed)
        with Timer() as fit:
            model.fit(x)  # labels_ come with the fit
        return {"fit": fit.record(), "seconds": round(fit.seconds, 3),
                "iterations_run": int(model.n_iter_), "sklearn_inertia": float(model.inertia_),
                "inertia": inertia(x, model.cluster_centers_.astype(np.float32))}

    rows = {"faiss_l2": ("faiss k-means (L2, spherical=False)", lambda: faiss_row(False)),
            "faiss_spherical": ("faiss spherical k-means (curate's default mode)",
                                lambda: faiss_row(True)),
            "sklearn_random": ("scikit-learn KMeans, init='random' (as faiss)",
                               lambda: sklearn_row("random"))}
    if args.sklearn_kmeanspp:
        rows["sklearn_kmeanspp"] = ("scikit-learn KMeans, init='k-means++' (its default)",
                                    lambda: sklearn_row("k-means++"))
    for key, (desc, run) in rows.items():
        log(f"k-means: {desc}")
        row = {"description": desc} | run()
        row["peak_rss_mib_so_far"] = round(peak_rss_mib(), 1)
        result["rows"][key] = row
        log(f"  {row['seconds']:.1f} s, inertia {row['inertia']:.1f}")
    base = result["rows"]["faiss_l2"]
    result["ratios"] = {f"{key}_vs_faiss_l2": {
        "time": round(row["seconds"] / base["seconds"], 2),
        "inertia": round(row["inertia"] / base["inertia"], 5)}
        for key, row in result["rows"].items() if key != "faiss_l2"}
    return result


# --------------------------------------------------------------------------- report


def readme(info: dict, emb: dict | None, km: dict | None, args, total_s: float) -> str:
    v = info["versions"]
    lines = ["# Benchmarks", "",
             f"`python benchmarks/run.py {' '.join(sys.argv[1:])}` on {info['date']} "
             f"took {total_s / 60:.1f} min.", "",
             "## Machine", "",
             f"- CPU: {info['cpu_model']}, {info['logical_cpus']} logical CPUs, "
             f"bf16 units (avx512_bf16/amx): {'yes' if info['cpu_bf16'] else 'no'}; "
             f"torch threads {info['torch_threads']}; memory {info['memory_gib']} GiB",
             f"- {info['platform']}, Python {info['python']}",
             "- " + ", ".join(f"{k} {val}" for k, val in v.items()),
             f"- git commit {info['git_commit']}; load average at start "
             f"{info['load_average_at_start']}", "",
             "`other busy cores` is how many cores other processes kept busy during a timing "
             "(from /proc/stat); anything well above 0 means the numbers are slowed by "
             "contention.", ""]
    if emb:
        s = emb["settings"]
        lines += ["## Embedding throughput", "",
                  f"Model `{s['model']}` (all-MiniLM-L6-v2), max_length {s['max_length']} for all "
                  f"methods, curate batch_size {s['curate_batch_size']}, sentence-transformers "
                  f"batch size {s['st_batch_size']}. Each method warmed up on "
                  f"{s['warmup_texts']} texts; {s['timing']} ({s['repeats']} repeat(s)). "
                  "Cosine: per row, against (a)'s vectors.", ""]
        for name, w in emb["workloads"].items():
            lines += [f"### {name}: {w['texts']} texts, {w['mean_tokens']} tokens on average "
                      f"(max {w['max_tokens']})", "",
                      "| method | texts/s | best s | other busy cores | cosine min | "
                      "cosine mean |", "|---|---:|---:|---:|---:|---:|"]
            for key, row in w["methods"].items():
                best = min(row["runs"], key=lambda r: r["seconds"])
                lines.append(f"| {emb['methods'][key]} | {row['texts_per_s']:.1f} | "
                             f"{row['best_seconds']:.1f} | "
                             f"{best['other_processes_busy_cores']} | "
                             f"{row['cosine_to_st_fp32_min']:.6f} | "
                             f"{row['cosine_to_st_fp32_mean']:.6f} |")
            r = w["ratios"]
            cos = w["methods"]["curate_auto"]["cosine_to_st_fp32_min"]
            ok = (r["curate_auto_vs_st_fp32"] >= GOAL_VS_ST
                  and r["curate_auto_vs_st_autocast_bf16"] >= GOAL_VS_AUTOCAST
                  and cos >= GOAL_COSINE)
            lines += ["", f"(d)/(a) = **{r['curate_auto_vs_st_fp32']}x** (goal "
                          f">= {GOAL_VS_ST}x), (d)/(b) = **{r['curate_auto_vs_st_autocast_bf16']}x**"
                          f" (goal >= {GOAL_VS_AUTOCAST}x), (c)/(a) = "
                          f"{r['curate_fp32_vs_st_fp32']}x; (d) min cosine {cos:.6f} (goal >= "
                          f"{GOAL_COSINE}). Goal met: **{'yes' if ok else 'no'}**. "
                          f"Peak RSS so far {w['peak_rss_mib_so_far']:.0f} MiB.", ""]
    if km:
        s = km["settings"]
        lines += ["## k-means", "",
                  f"{s['n']:,} x {s['dim']} float32, {s['data']}; k = {s['k']}, "
                  f"{s['iterations']} Lloyd iterations for every row, one initialisation.", "",
                  f"- faiss: `{s['faiss']}` (every point is a training point; assignment "
                  "time included)",
                  f"- scikit-learn: `{s['sklearn']}`", f"- inertia: {s['inertia']}", "",
                  "| method | seconds | other busy cores | inertia | time / faiss L2 | "
                  "inertia / faiss L2 |", "|---|---:|---:|---:|---:|---:|"]
        for key, row in km["rows"].items():
            ratio = km["ratios"].get(f"{key}_vs_faiss_l2", {"time": 1.0, "inertia": 1.0})
            lines.append(f"| {row['description']} | {row['seconds']:.1f} | "
                         f"{row['fit']['other_processes_busy_cores']} | {row['inertia']:.1f} | "
                         f"{ratio['time']} | {ratio['inertia']} |")
        lines += ["", f"Peak RSS after k-means {peak_rss_mib():.0f} MiB.", ""]
    lines += ["Raw numbers: `embedding.json`, `kmeans.json`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run (few texts, small k-means); results go to --out/quick")
    p.add_argument("--glosses", type=int, default=20000, help="WordNet glosses (0: skip)")
    p.add_argument("--articles", type=int, default=2225, help="BBC news articles (0: skip)")
    p.add_argument("--model", default="builtin:minilm")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64, help="curate batch size "
                   "(EmbedConfig's default)")
    p.add_argument("--warmup", type=int, default=256, help="texts encoded before timing")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per method; best kept")
    p.add_argument("--kmeans-n", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--components", type=int, default=1000, help="mixture components")
    p.add_argument("--k", type=int, default=512)
    p.add_argument("--kmeans-iter", type=int, default=20)
    p.add_argument("--sklearn-kmeanspp", action=argparse.BooleanOptionalAction, default=False,
                   help="also run scikit-learn with its default k-means++ init")
    p.add_argument("--skip-embedding", action="store_true")
    p.add_argument("--skip-kmeans", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.glosses, args.articles, args.warmup = min(args.glosses, 200), \
            min(args.articles, 20), min(args.warmup, 16)
        args.kmeans_n, args.k, args.components, args.kmeans_iter = 5000, 16, 50, 5
        args.out = args.out / "quick"
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    info = machine()
    log(f"{info['cpu_model']}, {info['logical_cpus']} CPUs, bf16 {info['cpu_bf16']}, "
        f"load {info['load_average_at_start']}")
    emb = km = None
    if not args.skip_embedding:
        emb = {"machine": info} | bench_embedding(args)
        (args.out / "embedding.json").write_text(json.dumps(emb, indent=2) + "\n")
    if not args.skip_kmeans:
        km = {"machine": info} | bench_kmeans(args)
        (args.out / "kmeans.json").write_text(json.dumps(km, indent=2) + "\n")
    total = time.perf_counter() - start
    (args.out / "README.md").write_text(readme(info, emb, km, args, total))
    log(f"done in {total / 60:.1f} min; wrote {args.out}")


if __name__ == "__main__":
    main()
