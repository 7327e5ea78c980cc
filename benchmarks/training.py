"""One LoRA fine-tune as the bench's `lora` evaluator runs it: SmolLM2-135M (builtin:smollm2)
on `n` builtin:dictionaries rows, then the held-out loss on `test_rows` rows, in bf16 mixed
precision, in fp32, and in fp32 with batches grouped by length (`group_by_length`), on the
same rows and seed. Reports the seconds of each (fine-tune
plus held-out loss, no generation) and both losses, so bf16's speed-up and its cost in
loss sit side by side (issue 24's goal: under 5 minutes on 2 cores, loss within 1%).

    python benchmarks/training.py --n 500      # writes benchmarks/results/training.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, measured
from curate.store import ArtifactCache, write_json

MODEL = "builtin:smollm2"
VARIANTS = {"bf16": "bf16 autocast", "fp32": "fp32", "grouped": "fp32, batches grouped by length"}


def run(n: int = 500, test_rows: int = 200, max_length: int = 128, batch_size: int = 8,
        models_dir: str = ".curate-cache") -> dict:
    """`models_dir`: the cache whose models/ holds (or receives) the converted model."""
    import torch

    from curate.bench.lora import LoraEvaluator
    from curate.config import DataConfig, SFTConfig
    from curate.data import load_pool
    from curate.models.causal_lm import resolve_causal_lm

    pool = load_pool(DataConfig(source="builtin:dictionaries", sample=n + test_rows), seed=0)
    order = np.random.default_rng(0).permutation(len(pool))
    test, train = order[:test_rows], order[test_rows:]
    resolve_causal_lm(MODEL, Path(models_dir))  # converts the GGUF once
    result = {"rows": len(train), "test_rows": len(test), "model": MODEL,
              "max_length": max_length, "batch_size": batch_size, "epochs": 1,
              "torch_threads": torch.get_num_threads()}
    for variant, precision, grouped in (("bf16", "bf16", False), ("fp32", "fp32", False),
                                        ("grouped", "fp32", True)):
        settings = SFTConfig(model=MODEL, max_length=max_length, batch_size=batch_size,
                             precision=precision, max_test_rows=test_rows,
                             group_by_length=grouped)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "models").symlink_to(Path(models_dir).resolve() / "models")
            evaluator = LoraEvaluator(pool, test, settings, ArtifactCache(Path(tmp)),
                                      generate_rows=0)
            with measured({}) as timing:
                metrics = evaluator.score(train, seed=0)
        result[variant] = {"seconds": timing["seconds"],
                             "other_busy_cores": timing["other_busy_cores"],
                             "heldout_loss": round(metrics["loss"], 4)}
    result["bf16_speedup_vs_fp32"] = round(result["fp32"]["seconds"]
                                           / result["bf16"]["seconds"], 2)
    result["bf16_loss_vs_fp32"] = round(result["bf16"]["heldout_loss"]
                                        / result["fp32"]["heldout_loss"] - 1, 4)
    result["grouped_speedup_vs_fp32"] = round(result["fp32"]["seconds"]
                                              / result["grouped"]["seconds"], 2)
    result["grouped_loss_vs_fp32"] = round(result["grouped"]["heldout_loss"]
                                           / result["fp32"]["heldout_loss"] - 1, 4)
    return result


def render(d: dict) -> list[str]:
    return [f"## One LoRA fine-tune ({d['model']}, {d['rows']:,} builtin:dictionaries rows, "
            f"1 epoch, then held-out loss on {d['test_rows']} rows)", "",
            f"Batch size {d['batch_size']}, max length {d['max_length']}, "
            f"{d['torch_threads']} torch threads, as the bench's `lora` evaluator runs it "
            "(no generation). *Other busy cores*: contention.", "",
            "| variant | seconds | held-out loss | other busy cores |", "|---|---|---|---|",
            *(f"| {name} | {d[p]['seconds']} | {d[p]['heldout_loss']} | "
              f"{d[p]['other_busy_cores']} |" for p, name in VARIANTS.items() if p in d), "",
            f"bf16 is {d['bf16_speedup_vs_fp32']}x fp32's speed; its held-out loss differs "
            f"from fp32's by {d['bf16_loss_vs_fp32']:+.2%}."
            + (f" Grouped by length, fp32 runs at {d['grouped_speedup_vs_fp32']}x, its loss "
               f"{d['grouped_loss_vs_fp32']:+.2%} from the shuffled order's."
               if "grouped" in d else ""), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    result = run(n=args.n)
    write_json(args.out / "training.json", {"machine": machine(), **result})
    print(result)


if __name__ == "__main__":
    main()
