"""Models that several layers share (training, scoring, selection, the bench): the probe,
the causal-LM loader and the LoRA core. Nothing here imports a stage or a selector."""
