"""Render benchmarks/results/README.md from the JSON files a run wrote."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import (
    driver_memory,
    embedding,
    lm_scores,
    run_overhead,
    scale,
    selection_speed,
    semdedup_speed,
    training,
)
from benchmarks.embedding import PRECISIONS


def _embedding(data: dict) -> list[str]:
    lines = [f"## Embedding throughput (all-MiniLM-L6-v2, max length {data['max_length']})", ""]
    if "curate_batch_size" in data:
        lines += [f"curate batch size {data['curate_batch_size']} (the pipeline default), "
                  f"sentence-transformers encode() defaults (batch {data['st_batch_size']}); "
                  f"each method warmed up on {data['warmup_texts']} texts, best of "
                  f"{data['repeats']} timed run(s); {data['torch_threads']} torch threads. "
                  "*Other busy cores*: cores that other processes kept busy during the timing "
                  "(contention); *load*: the 1-minute load average after it.", ""]
    auto = data.get("auto", {})
    if auto:
        lines += [f"CPU: {data['cpu_model']}; flags: {', '.join(data['cpu_flags']) or 'none'}. "
                  f"`precision: auto` chose **{auto['precision']}** "
                  f"({auto['rule']}).", ""]
    lines += ["| workload | method | texts/s | vs ST fp32 | other busy cores | load | "
              "cos min / mean to ST fp32 |", "|---|---|---|---|---|---|---|"]
    for workload, rows in data["workloads"].items():
        st = rows["sentence-transformers encode (fp32, default)"]["texts_per_s"]
        order = embedding.ORDER if "best_precision" in rows["ratios"] else sorted(rows)
        for method in (m for m in order if m in rows and m != "ratios"):
            row = rows[method]
            cos = (f"{row['cos_min']:.4f} / {row['cos_mean']:.4f}" if "cos_min" in row
                   else "other space")
            load = row.get("load_average", [""])[0] if row.get("load_average") else ""
            lines.append(f"| {workload} | {method} | {row['texts_per_s']} | "
                         f"{row['texts_per_s'] / st:.2f}x | {row.get('other_busy_cores', '')} | "
                         f"{load} | {cos} |")
        r = rows["ratios"]
        if "best_precision" in r:
            best = r["best_precision"]
            lines.append(f"| {workload} | **best precision at cos >= 0.99: {best} "
                         f"({r[PRECISIONS[best] + '_vs_st_fp32']}x ST fp32); auto: "
                         f"{r['auto_vs_best']}x the best; static: "
                         f"{r['static_vs_curate_bf16']}x curate bf16 "
                         f"({r.get('static_cold_vs_curate_bf16', '?')}x with every word new)** "
                         "| | | | | |")
        else:  # results written before issue 15
            lines.append(f"| {workload} | **curate auto / ST default; / ST autocast** | "
                         f"**{r['auto_vs_st_default']}x; {r['auto_vs_st_autocast']}x** | | | | |")
    if data.get("per_thread"):
        lines += ["", "One thread each (torch, ONNX Runtime, tokenizer), best of 3 interleaved "
                  "rounds: speed per core, less disturbed by other processes.", "",
                  "| workload | " + " | ".join(embedding.ORDER[2:5]) + f" | {embedding.STATIC} "
                  "| static / bf16 |", "|---" * 6 + "|"]
        for workload, row in data["per_thread"].items():
            names = [*embedding.ORDER[2:5], embedding.STATIC]
            lines.append(f"| {workload} | " + " | ".join(str(row[n]) for n in names)
                         + f" | {row[embedding.STATIC] / row[PRECISIONS['bf16']]:.0f}x |")
    return [*lines, ""]


def _kmeans(d: dict) -> list[str]:
    return [f"## k-means: faiss vs scikit-learn ({d['n']:,} x {d['d']}, k={d['k']}, "
            f"{d['iterations']} Lloyd iterations, {d['init']})", "",
            "faiss: `curate.index.fit_centroids(spherical=False, nredo=1, "
            "max_points_per_centroid=n)` (every point trains) then `nearest()`; scikit-learn: "
            "`KMeans(init='random', n_init=1, tol=0, algorithm='lloyd')`. Inertia: squared L2 "
            "distance of every point to its nearest returned centroid, computed the same way "
            "for both. Data: seeded, L2-normalised Gaussian mixture with 1,000 components.", "",
            "| | faiss (curate.index) | scikit-learn KMeans | ratio |", "|---|---|---|---|",
            f"| seconds (fit + assign), {d['iterations']} iterations requested | "
            f"{d['faiss_s']} | {d['sklearn_s']} ({d.get('sklearn_iterations_run', '?')} run) | |",
            f"| faiss at scikit-learn's iteration count | "
            f"{d.get('faiss_s_at_sklearn_iterations', d['faiss_s'])} | {d['sklearn_s']} | "
            f"{d['speedup_faiss_vs_sklearn']}x faster |",
            f"| other busy cores (contention) | {d.get('faiss_other_busy_cores', '')} | "
            f"{d.get('sklearn_other_busy_cores', '')} | |",
            f"| inertia | {d['faiss_inertia']:.6g} | {d['sklearn_inertia']:.6g} | "
            f"{d['inertia_ratio_faiss_over_sklearn']} |", "", *_torch_kmeans(d)]


def _torch_kmeans(d: dict) -> list[str]:
    if "torch_s" not in d:
        return []
    return [f"`cluster.backend: torch` (Lloyd in torch on {d['torch_device']}, the same "
            f"{d['iterations']} iterations, every point trains): {d['torch_s']} s, "
            f"{d['torch_over_faiss_time']}x faiss's time; inertia {d['torch_inertia']:.6g}, "
            f"{d['inertia_ratio_torch_over_faiss']}x faiss's (other busy cores: "
            f"{d['torch_other_busy_cores']}).", ""]


def _scoring(d: dict) -> list[str]:
    return [f"## Influence and effort (MLP surrogate, {d['parameters']:,} parameters, "
            f"{d['rows']:,} x {d['dim']}, {d['classes']} classes)", "",
            "| | curate | per-sample backward loop | ratio |", "|---|---|---|---|",
            f"| influence rows/s | {d['influence_rows_per_s']:,} | "
            f"{d['loop_influence_rows_per_s']:,} | {d['speedup_influence_vs_loop']}x |",
            f"| effort rows/s | {d['effort_rows_per_s']:,} | {d['loop_effort_rows_per_s']:,} | "
            f"{d['speedup_effort_vs_loop']}x |",
            f"| influence + effort, all rows | {d['influence_and_effort_s']} s | | |",
            f"| surrogate training (3 epochs) | {d['surrogate_train_s']} s | | |",
            "", f"The loop was timed on {d['loop_rows_measured']:,} rows.", ""]


def _ot(d: dict) -> list[str]:
    overlap = ", ".join(f"top-{k}: {v:.1%}" for k, v in d["topk_overlap_anchored_vs_full"].items())
    return [f"## GOT-D optimal transport ({d['candidates']:,} candidates x {d['targets']:,} "
            f"targets, {d['dim']}-d, eps {d['eps']})", "",
            f"Target: {d['target']}." if "target" in d else "", "",
            f"- wall time {d['wall_s']} s, peak RSS {d['peak_rss_mb']:,} MB (anchored "
            f"approximation, anchor sample {d['anchor_size']:,})",
            f"- anchored vs full solve on {d['agreement_candidates']:,} candidates "
            f"({d['full_solve_iterations']} Sinkhorn iterations): {overlap}", ""]


RENDER = {"embedding": _embedding, "kmeans": _kmeans, "scoring": _scoring,
          "lm_scores": lm_scores.render, "ot": _ot,
          "semdedup": semdedup_speed.render, "run_overhead": run_overhead.render,
          "selection": selection_speed.render, "scale": scale.render,
          "driver_memory": driver_memory.render, "training": training.render}


def write_readme(folder: Path) -> None:
    lines = ["# Speed benchmarks", "", "Written by `make bench` (`python benchmarks/run.py`)."]
    machine = None
    for name, render in RENDER.items():
        path = folder / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            machine = machine or data["machine"]
            lines += ["", *render(data)]
    if machine:
        lines[3:3] = ["", f"Machine: {machine['cpu']}, {machine['cores']} cores, bf16 units: "
                          f"{machine['bf16']}; {machine['date']}; torch "
                          f"{machine['versions'].get('torch')}, faiss "
                          f"{machine['versions'].get('faiss-cpu')}."]
    (folder / "README.md").write_text("\n".join(lines) + "\n")
