"""Evaluators: train on the selected rows, score on the held-out test rows.

`probe` (`curate.models.probe`) fits a logistic regression on the frozen embeddings (the
standard CPU proxy for selection quality); `lora` (`curate.bench.lora`) fine-tunes a small
causal LM with LoRA on prompt/response rows; `finetune` (`curate.bench.finetune`) trains a
text encoder with a linear head.
"""

from __future__ import annotations

from curate.models.probe import ProbeEvaluator

__all__ = ["METRIC_DIRECTION", "ProbeEvaluator", "metric_direction"]

# +1: higher is better; -1: lower is better.
METRIC_DIRECTION = {"accuracy": 1, "macro_f1": 1, "accuracy_tuned_c": 1, "macro_f1_tuned_c": 1,
                    "loss": -1, "perplexity": -1, "rouge_l": 1, "tv_distance": -1,
                    "ot_cost": -1}


def metric_direction(metric: str) -> int:
    """+1 or -1 for `metric`; a per-label metric (`loss[gcide]`) goes as its base metric;
    an unknown one counts as higher-is-better."""
    return METRIC_DIRECTION.get(metric.split("[", 1)[0], 1)
