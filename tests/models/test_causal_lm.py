import pytest

from curate.errors import CurateError
from curate.models.causal_lm import load_causal_lm, resolve_causal_lm


@pytest.mark.slow
def test_builtin_smollm2_converts_once_and_scores_text(tmp_path):
    pytest.importorskip("gguf")
    import torch

    model, tokenizer = load_causal_lm("builtin:smollm2", tmp_path)
    folder = tmp_path / "models" / "smollm2-fp32"
    assert (folder / "config.json").exists() and next(folder.glob("*.safetensors"))
    mtime = (folder / "config.json").stat().st_mtime_ns
    assert resolve_causal_lm("builtin:smollm2", tmp_path) == str(folder)
    assert (folder / "config.json").stat().st_mtime_ns == mtime  # not converted again
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    batch = tokenizer(["The capital of France is Paris."], return_tensors="pt")
    with torch.inference_mode():
        loss = model(**batch, labels=batch["input_ids"]).loss
    assert float(loss) < 5.0  # a real instruct model, not random weights (ln 49152 = 10.8)


def test_model_names_are_checked(tmp_path):
    with pytest.raises(CurateError, match="unknown builtin model"):
        resolve_causal_lm("builtin:gpt5", tmp_path)
    with pytest.raises(CurateError, match="model path does not exist"):
        resolve_causal_lm(str(tmp_path / "nope"), tmp_path)
