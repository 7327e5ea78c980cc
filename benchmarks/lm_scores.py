"""LM scores (lm_loss, lm_loss_alone, ifd, response_tokens) of builtin:dictionaries rows with
builtin:smollm2: rows/s of `curate.scoring.lm_scores` (length-sorted, left-padded batches,
logits for the response columns only) against a per-row loop (one unpadded forward per
row and pass with every logit, as Cherry LLM's official code runs), on the same sequences,
and of a rerun answered by the cache.

    python benchmarks/lm_scores.py --n 300       # writes benchmarks/results/lm_scores.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, measured
from curate.store import ArtifactCache, write_json

MODEL = "builtin:smollm2"


def dictionary_rows(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` prompt/response rows drawn from builtin:dictionaries (every source)."""
    from curate.config import DataConfig
    from curate.data import load_pool

    frame = load_pool(DataConfig(source="builtin:dictionaries")).frame.sample(n, seed=seed)
    return frame["prompt"].to_list(), frame["response"].to_list()


def loop_ifd(model, tokenizer, prompts: list[str], responses: list[str],
             max_length: int) -> np.ndarray:
    """IFD row by row: one forward per row and pass, no padding, every position's logits."""
    import torch

    from curate.scoring.lm_scores import tokenise

    with_prompt, alone, _ = tokenise(tokenizer, prompts, responses, max_length)

    def loss(s) -> float:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([s.ids])).logits[0, -s.scored - 1:-1]
        return float(torch.nn.functional.cross_entropy(logits, torch.tensor(s.ids[-s.scored:])))

    return np.array([loss(a) / loss(b) for a, b in zip(with_prompt, alone, strict=True)])


def run(n: int = 300, loop_rows: int = 30, batch_size: int = 16, max_length: int = 512,
        models_dir: str = ".curate-cache") -> dict:
    """`models_dir`: the cache whose models/ holds (or receives) the converted model."""
    import torch

    from curate.models.causal_lm import load_causal_lm, resolve_causal_lm
    from curate.scoring.lm_scores import lm_scores, tokenise

    prompts, responses = dictionary_rows(n)
    started = time.perf_counter()
    resolve_causal_lm(MODEL, Path(models_dir))  # converts the GGUF once
    convert_s = time.perf_counter() - started
    model, tokenizer = load_causal_lm(MODEL, Path(models_dir))
    with_prompt, alone, lengths = tokenise(tokenizer, prompts, responses, max_length)
    result = {"rows": n, "model": MODEL, "batch_size": batch_size, "max_length": max_length,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "precision": "fp32",
              "torch_threads": torch.get_num_threads(),
              "convert_or_find_model_s": round(convert_s, 2),
              "tokens_per_row_both_passes": round(
                  sum(len(s.ids) for s in with_prompt + alone) / n, 1),
              "response_tokens_mean": round(float(lengths.mean()), 1)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "models").symlink_to(Path(models_dir).resolve() / "models")
        cache = ArtifactCache(Path(tmp))
        with measured({}) as cold:  # the model load included
            scores = lm_scores(prompts, responses, MODEL, cache, batch_size, max_length)
        started = time.perf_counter()
        lm_scores(prompts, responses, MODEL, cache, batch_size, max_length)
        warm_s = time.perf_counter() - started
    with measured({}) as loop:
        ifd = loop_ifd(model, tokenizer, prompts[:loop_rows], responses[:loop_rows], max_length)
    result |= {"rows_per_s": round(n / cold["seconds"], 2), "seconds": cold["seconds"],
               "other_busy_cores": cold["other_busy_cores"],
               "loop_rows": loop_rows, "loop_rows_per_s": round(loop_rows / loop["seconds"], 2),
               "loop_other_busy_cores": loop["other_busy_cores"],
               "cached_rows_per_s": round(n / warm_s),
               "max_abs_ifd_difference_to_loop": float(np.abs(ifd - scores["ifd"][:loop_rows])
                                                       .max()),
               "ifd_above_1": int((scores["ifd"] > 1).sum())}
    result["speedup_vs_loop"] = round(result["rows_per_s"] / result["loop_rows_per_s"], 2)
    print(f"  lm_scores: {result['rows_per_s']} rows/s ({n} rows), loop "
          f"{result['loop_rows_per_s']} rows/s, cached {result['cached_rows_per_s']} rows/s",
          flush=True)
    return result


def render(d: dict) -> list[str]:
    return [f"## LM scores ({d['model']}, {d['rows']:,} builtin:dictionaries rows, "
            f"{d['device']}, {d['precision']})", "",
            f"{d['machine']['cpu']}, {d['machine']['cores']} cores, {d['torch_threads']} "
            f"torch threads; batch size {d['batch_size']}, max length {d['max_length']}; "
            f"{d['tokens_per_row_both_passes']} tokens a row over both passes. The first run "
            "includes loading the model; the loop was timed on "
            f"{d['loop_rows']} rows. *Other busy cores*: contention.", "",
            "| | rows/s | other busy cores |", "|---|---|---|",
            f"| curate (batched, cold cache) | {d['rows_per_s']} | {d['other_busy_cores']} |",
            f"| per-row loop | {d['loop_rows_per_s']} | {d['loop_other_busy_cores']} |",
            f"| rerun from the cache | {d['cached_rows_per_s']:,} | |", "",
            f"IFD of the loop and of curate differ by at most "
            f"{d['max_abs_ifd_difference_to_loop']:.1e}.", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--loop-rows", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    result = run(args.n, args.loop_rows, args.batch_size, args.max_length)
    write_json(args.out / "lm_scores.json", {"machine": machine(), **result})
    print(f"wrote {args.out / 'lm_scores.json'}")


if __name__ == "__main__":
    main()
