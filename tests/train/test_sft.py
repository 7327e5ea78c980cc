"""LoRA fine-tuning on TRL's SFTTrainer with a tiny random Llama: it learns, masks the
prompt, and resumes from a checkpoint after an interruption."""

import pytest

from curate.config import SFTConfig
from curate.models.causal_lm import load_causal_lm
from curate.train.sft import (
    latest_checkpoint,
    make_trainer,
    prompt_completion_rows,
    text_rows,
    train_sft,
)

pytest.importorskip("trl")
pytestmark = pytest.mark.usefixtures("one_thread")

TARGETS = ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]


def settings(**changes) -> SFTConfig:
    base = {"rank": 8, "learning_rate": 2e-2, "batch_size": 16, "max_length": 64,
            "target_modules": TARGETS, "save_steps": 1000, "eval_steps": 1000}
    return SFTConfig(**{**base, **changes})


def rows(tokenizer, chat_rows, part: slice):
    return prompt_completion_rows(tokenizer, chat_rows[0][part], chat_rows[1][part])


def test_trl_training_lowers_heldout_loss_and_trains_only_adapters(tmp_path, tiny_lm, chat_rows):
    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train_sft(model, tokenizer, rows(tokenizer, chat_rows, slice(0, -60)),
                       rows(tokenizer, chat_rows, slice(-60, None)),
                       settings(max_steps=20, eval_steps=10), 0, tmp_path)
    loss = result.eval_loss
    assert loss["after"] < loss["before"] - 0.5, loss
    assert result.steps == len(result.losses) == 20 and result.resumed_from == 0
    assert [step for step, _ in result.eval_curve] == [10, 20]
    assert result.eval_curve[-1][1] < result.eval_curve[0][1]
    assert (result.train_rows, result.eval_rows) == (101, 60)
    base = result.model.get_base_model()
    for name, weight in base.named_parameters():
        if "lora_" not in name:
            assert weight.equal(frozen[name.replace(".base_layer", "")]), name


def test_prompt_tokens_get_label_minus_100(tmp_path, tiny_lm, chat_rows):
    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    prompts, responses = chat_rows[0][:2], chat_rows[1][:2]
    data = prompt_completion_rows(tokenizer, prompts, responses)
    trainer = make_trainer(model, tokenizer, data, data, settings(), 0, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for row, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        head = tokenizer(f"{prompt}\n")["input_ids"]
        tail = [*tokenizer(response)["input_ids"], tokenizer.eos_token_id]
        n = len(head) + len(tail)
        assert batch["input_ids"][row, :n].tolist() == head + tail
        assert batch["labels"][row, :n].tolist() == [-100] * len(head) + tail
        assert (batch["labels"][row, n:] == -100).all()  # padding
        assert batch["attention_mask"][row].sum() == n


def test_chat_template_prompt_is_masked_up_to_the_generation_prompt(tmp_path, tiny_lm,
                                                                     chat_rows):
    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} "
                               "</s> {% endfor %}{% if add_generation_prompt %}assistant :"
                               "{% endif %}")
    prompt, response = chat_rows[0][0], chat_rows[1][0]
    data = prompt_completion_rows(tokenizer, [prompt], [response])
    assert data[0]["prompt"] == [{"role": "user", "content": prompt}]
    trainer = make_trainer(model, tokenizer, data, data, settings(), 0, tmp_path)
    example = trainer.train_dataset[0]
    head = tokenizer.apply_chat_template(data[0]["prompt"], add_generation_prompt=True,
                                         return_dict=True)["input_ids"]
    assert example["input_ids"][:len(head)] == head
    assert example["labels"][:len(head)] == [-100] * len(head)
    assert example["labels"][len(head):] == example["input_ids"][len(head):]
    # the template's end of turn after the response is a target too
    assert example["labels"][len(head):] == tokenizer(f"{response} </s>")["input_ids"]


def test_text_rows_train_on_every_token(tmp_path, tiny_lm):
    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    trainer = make_trainer(model, tokenizer, text_rows(["hello there friend"]),
                           text_rows(["hi"]), settings(), 0, tmp_path)
    example = trainer.train_dataset[0]
    assert example["labels"] == example["input_ids"]
    assert example["input_ids"][-1] == tokenizer.eos_token_id


class Interrupted(Exception):
    pass


def interrupt_after_saving(step: int):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Interrupted

    return Interrupt()


def record_steps(seen: list):
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            seen.append(state.global_step)

    return Record()


def test_an_interrupted_run_resumes_from_its_latest_checkpoint(tmp_path, tiny_lm, chat_rows):
    def run(folder, *callbacks):
        model, tokenizer = load_causal_lm(tiny_lm, "unused")
        return train_sft(model, tokenizer, rows(tokenizer, chat_rows, slice(0, 64)),
                         rows(tokenizer, chat_rows, slice(-20, None)),
                         settings(max_steps=8, save_steps=3), 0, folder, callbacks)

    first: list[int] = []
    with pytest.raises(Interrupted):
        run(tmp_path / "ckpt", record_steps(first), interrupt_after_saving(6))
    assert first == [1, 2, 3, 4, 5, 6]
    assert latest_checkpoint(tmp_path / "ckpt").name == "checkpoint-6"

    second: list[int] = []
    resumed = run(tmp_path / "ckpt", record_steps(second))
    assert resumed.resumed_from == 6 and second == [7, 8] and resumed.steps == 8
    assert len(resumed.losses) == 8  # the log history before the interruption comes back

    # Optimiser, schedule, data order and RNG come back too: the same run without the
    # interruption ends with the same losses.
    straight = run(tmp_path / "straight")
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-4)
    assert resumed.eval_loss == pytest.approx(straight.eval_loss, rel=1e-4)


def test_a_checkpoint_cut_short_is_not_resumed_from(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-8").mkdir()  # the save was interrupted before its state file
    (tmp_path / "checkpoint-10-old").mkdir()
    assert latest_checkpoint(tmp_path).name == "checkpoint-4"
    assert not (tmp_path / "checkpoint-8").exists()
    assert latest_checkpoint(tmp_path / "checkpoint-4") is None
