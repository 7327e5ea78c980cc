"""Influence and effort for 100k rows with the MLP surrogate vs a per-sample backward loop."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import mixture
from curate.scoring.effort import surrogate_effort
from curate.scoring.influence import LissaSettings, influence_scores, last_linear
from curate.scoring.surrogate import SurrogateSettings, train_surrogate


def loop_rates(model, x: np.ndarray, y: np.ndarray, h) -> tuple[float, float]:
    """Rows/s of the official-style loop: one backward per row, for influence and effort."""
    import torch

    layer = last_linear(model)[1]
    features, labels = torch.as_tensor(x), torch.as_tensor(y)
    started = time.perf_counter()
    influence = []
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(features[i:i + 1]), labels[i:i + 1]).backward()
        influence.append(float((layer.weight.grad * h).sum()))
    influence_rate = len(x) / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(features[i:i + 1]), labels[i:i + 1]).backward()
        float((layer.weight.grad.pow(2).sum() + layer.bias.grad.pow(2).sum()).sqrt())
    return influence_rate, len(x) / (time.perf_counter() - started)


def run(n: int = 100_000, d: int = 384, classes: int = 45, loop_rows: int = 2000) -> dict:
    import torch

    x = mixture(n, d, components=classes * 4)
    y = np.random.default_rng(1).integers(classes, size=n)
    y = (np.argmax(x[:, :classes], axis=1) + (y % 7 == 0)) % classes  # learnable, some noise
    timings = {}
    started = time.perf_counter()
    model = train_surrogate(x, y, classes, SurrogateSettings(hidden=256, epochs=3))
    timings["surrogate_train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    influence_scores(model, x, y, LissaSettings())
    timings["influence_s"] = time.perf_counter() - started
    started = time.perf_counter()
    surrogate_effort(model, x, y)
    timings["effort_s"] = time.perf_counter() - started
    h = torch.randn_like(last_linear(model)[1].weight)
    loop_influence, loop_effort = loop_rates(model, x[:loop_rows], y[:loop_rows], h)
    both = timings["influence_s"] + timings["effort_s"]
    result = {"rows": n, "dim": d, "classes": classes,
              "parameters": sum(p.numel() for p in model.parameters()),
              **{k: round(v, 2) for k, v in timings.items()},
              "influence_and_effort_s": round(both, 2),
              "influence_rows_per_s": round(n / timings["influence_s"]),
              "effort_rows_per_s": round(n / timings["effort_s"]),
              "loop_influence_rows_per_s": round(loop_influence),
              "loop_effort_rows_per_s": round(loop_effort),
              "loop_rows_measured": loop_rows}
    result["speedup_influence_vs_loop"] = round(result["influence_rows_per_s"] / loop_influence,
                                                1)
    result["speedup_effort_vs_loop"] = round(result["effort_rows_per_s"] / loop_effort, 1)
    print(f"  influence+effort for {n} rows: {both:.1f} s; loop: "
          f"{loop_influence:.0f} / {loop_effort:.0f} rows/s")
    return result
