"""Training on a subset: LoRA fine-tunes of causal LMs (peft) and linear probes."""
