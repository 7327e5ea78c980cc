"""LM scores of prompt/response rows from a causal LM: loss, loss without the prompt, IFD, length.

Per row:
- `lm_loss`: mean cross-entropy of the response tokens given the prompt, the row rendered
  as training renders it (`curate.models.lora.render_row`: the tokenizer's chat template
  when it has one).
- `lm_loss_alone`: the same response tokens after the same template with an empty prompt
  (Cherry LLM's "direct answer" pass likewise keeps only its template's response header).
- `ifd` = lm_loss / lm_loss_alone, Cherry LLM's instruction-following difficulty (its
  data_by_IFD.py divides the two mean token losses). Above 1 the prompt makes its response
  less likely; Cherry drops such rows.
- `response_tokens`: the response's length in the model's tokens, not truncated.

Truncation: a row longer than `max_length` tokens keeps the end of its prompt (at most half
of `max_length`, less when the response is short) and the start of its response, so every
row keeps response tokens; both passes score the same response tokens. A sequence whose
first token would be scored starts with the tokenizer's BOS token (else its EOS token).

Batches: the sequences of both passes are sorted by length together and left-padded per
batch with explicit position ids, so every response ends in the batch's last column and the
model computes logits for the last columns only (`logits_to_keep`). One forward per batch
under `torch.inference_mode`, in fp32, the loader's precision (no bf16 autocast: the scores
are cached by row and must not depend on which machine or device computed them), on CUDA
when present.

Cache: by row content. `<cache>/lm-scores/<key of model and settings>/` holds parquet
shards (`key`: blake2b of prompt and response; the four scores), each written atomically
and named by its keys' hash, so a grown pool scores only the rows no shard holds and an
interrupted run resumes after its last shard. The batch size is not part of the key.

References:
    Li et al. "From Quantity to Quality: Boosting LLM Performance with Self-Guided Data
    Selection for Instruction Tuning." NAACL 2024 (Cherry LLM,
    github.com/tianyi-lab/Cherry_LLM).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.embed.models import folder_digest
from curate.models.lora import render_row
from curate.progress import progress_bar
from curate.store import ArtifactCache, atomic_path, hash_json

log = logging.getLogger(__name__)
LM_SCORES = ("lm_loss", "lm_loss_alone", "ifd", "response_tokens")
STAGE = "lm-scores"
SHARD_ROWS = 2048  # rows per cache shard: the unit a crash loses
VERSION = 1


@dataclass(frozen=True)
class Sequence:
    """Token ids of one pass over one row; its last `scored` tokens are scored."""

    ids: list[int]
    scored: int


def lm_scores_named(params: dict) -> list[str]:
    """The LM scores a selector's parameters name (kmq's quality: ifd), sorted."""
    return sorted({v for v in params.values() if isinstance(v, str) and v in LM_SCORES})


def content_keys(prompts: list[str], responses: list[str]) -> list[str]:
    """One hash per row of its prompt and response (32 hex digits)."""
    return [hashlib.blake2b(f"{len(p)}:{p}{r}".encode(), digest_size=16).hexdigest()
            for p, r in zip(prompts, responses, strict=True)]


def _split(keep: int, head: list[int], response: list[int], start: int | None,
           ) -> Sequence:
    """The sequence of `head` then the first `keep` response tokens, scoring those."""
    if not head and start is not None:
        head = [start]
    return Sequence(head + response[:keep], min(keep, len(head) + keep - 1))


def tokenise(tokenizer, prompts: list[str], responses: list[str], max_length: int,
             ) -> tuple[list[Sequence], list[Sequence], np.ndarray]:
    """(sequences with the prompt, sequences without it, response_tokens), one per row."""

    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None \
        else tokenizer.eos_token_id
    rendered = [render_row(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    alone_head, _ = render_row(tokenizer, "", "")
    n_alone = len(encode([alone_head])[0])
    alone_fulls = encode([render_row(tokenizer, "", r)[1] for r in responses])
    with_prompt, alone = [], []
    for n_head, full, alone_full in zip(map(len, encode([h for h, _ in rendered])),
                                        encode([f for _, f in rendered]), alone_fulls,
                                        strict=True):
        head, response = full[:n_head], full[n_head:]
        kept_head = n_head if n_head + len(response) <= max_length else min(
            n_head, max(max_length - len(response), max_length // 2))
        keep = min(len(response), max_length - kept_head)
        with_prompt.append(_split(keep, head[n_head - kept_head:], response, start))
        alone.append(_split(min(keep, len(alone_full) - n_alone), alone_full[:n_alone],
                            alone_full[n_alone:], start))
    lengths = np.array([len(ids) for ids in encode(list(responses))], dtype=np.int64)
    return with_prompt, alone, lengths


def _batch_losses(model, batch: list[Sequence], pad_id: int, device, keeps_logits: bool,
                  ) -> np.ndarray:
    """Mean cross-entropy over each sequence's scored tokens (NaN where none), one forward."""
    import torch

    width = max(len(s.ids) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, s in enumerate(batch):  # left padding: every sequence ends in the last column
        ids[row, width - len(s.ids):] = torch.tensor(s.ids, dtype=torch.long)
        mask[row, width - len(s.ids):] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    keep = min(width, max(s.scored for s in batch) + 1)
    extra = {"logits_to_keep": keep} if keeps_logits else {}
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                   use_cache=False, **extra).logits[:, -keep:-1]
    scored = torch.tensor([s.scored for s in batch], device=device)
    wanted = torch.arange(keep - 1, device=device)[None, :] >= (keep - 1 - scored)[:, None]
    token_loss = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), ids[:, width - keep + 1:], reduction="none")
    total = torch.where(wanted, token_loss, torch.zeros_like(token_loss)).sum(1)
    mean = (total / scored.clamp(min=1)).double().cpu().numpy()
    return np.where(scored.cpu().numpy() > 0, mean, np.nan)


def sequence_losses(model, sequences: list[Sequence], batch_size: int, pad_id: int, device,
                    advance=lambda n: None) -> np.ndarray:
    """Mean cross-entropy of each sequence's scored tokens: batches of similar length."""
    import torch

    losses = np.full(len(sequences), np.nan)
    order = np.argsort([len(s.ids) for s in sequences], kind="stable")
    keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            losses[rows] = _batch_losses(model, [sequences[i] for i in rows], pad_id, device,
                                         keeps_logits)
            advance(len(rows))
    return losses


def score_rows(model, tokenizer, prompts: list[str], responses: list[str], batch_size: int,
               max_length: int, device, advance=lambda n: None) -> dict[str, np.ndarray]:
    """The four LM scores of each row (no cache): both passes batched together."""
    with_prompt, alone, lengths = tokenise(tokenizer, prompts, responses, max_length)
    losses = sequence_losses(model, with_prompt + alone, batch_size, tokenizer.pad_token_id,
                             device, advance)
    lm_loss, lm_loss_alone = losses[:len(prompts)], losses[len(prompts):]
    with np.errstate(divide="ignore", invalid="ignore"):
        ifd = lm_loss / lm_loss_alone
    return {"lm_loss": lm_loss, "lm_loss_alone": lm_loss_alone, "ifd": ifd,
            "response_tokens": lengths}


def model_identity(name: str) -> str:
    """What names the model in the cache key: a local folder by its content, so weights
    saved over the old ones are scored again; a builtin or a Hub id by its name."""
    path = Path(name).expanduser()
    if name.startswith("builtin:") or not path.is_dir():
        return name
    return f"{name}@{folder_digest(path)}"


def _read_shards(folder: Path) -> pl.DataFrame:
    """Every shard's rows; a shard that cannot be read is deleted (its rows are scored again)."""
    frames = []
    for path in sorted(folder.glob("*.parquet")):
        try:
            frames.append(pl.read_parquet(path))
        except (OSError, pl.exceptions.PolarsError) as err:
            log.warning("LM score cache: %s unreadable (%s); its rows are scored again", path,
                        type(err).__name__)
            path.unlink(missing_ok=True)
    schema = {"key": pl.Utf8, **{name: pl.Float64 for name in LM_SCORES[:-1]},
              "response_tokens": pl.Int64}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _score_missing(todo: list[int], prompts: list[str], responses: list[str], keys: list[str],
                   model_name: str, cache: ArtifactCache, folder: Path, batch_size: int,
                   max_length: int) -> None:
    """Score rows `todo` (longest text last) and write them shard by shard."""
    import torch

    from curate.models.causal_lm import load_causal_lm

    model, tokenizer = load_causal_lm(model_name, cache.root)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    todo = sorted(todo, key=lambda i: len(prompts[i]) + len(responses[i]))
    with progress_bar(f"LM scores ({model_name}, two passes a row)", 2 * len(todo),
                      unit="sequences") as advance:
        for begin in range(0, len(todo), SHARD_ROWS):
            rows = todo[begin:begin + SHARD_ROWS]
            scores = score_rows(model, tokenizer, [prompts[i] for i in rows],
                                [responses[i] for i in rows], batch_size, max_length, device,
                                advance)
            shard_keys = [keys[i] for i in rows]
            name = hashlib.blake2b("\n".join(shard_keys).encode(), digest_size=16).hexdigest()
            with atomic_path(folder / f"{name}.parquet") as tmp:
                pl.DataFrame({"key": shard_keys, **scores}).write_parquet(tmp)


def lm_scores(prompts: list[str], responses: list[str], model_name: str, cache: ArtifactCache,
              batch_size: int = 16, max_length: int = 512, refresh: bool = False,
              ) -> dict[str, np.ndarray]:
    """The LM scores (`LM_SCORES`) of every row, scoring only the rows whose content no
    shard of this model and `max_length` holds (every row with `refresh`)."""
    settings = {"model": model_identity(model_name), "max_length": max_length,
                "version": VERSION}
    key = hash_json(settings)
    folder = cache.entry(STAGE, key)
    if not cache.is_complete(STAGE, key):  # the manifest names the folder's settings
        cache.finish(STAGE, key, {"settings": settings})
    keys = content_keys(prompts, responses)
    if refresh:  # scored again: no older shard may answer for a row
        for path in folder.glob("*.parquet"):
            path.unlink(missing_ok=True)
    known = set(_read_shards(folder)["key"].to_list())
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    todo = [i for k, i in first.items() if k not in known]
    if todo:
        _score_missing(todo, prompts, responses, keys, model_name, cache, folder, batch_size,
                       max_length)
    table = _read_shards(folder).unique(subset="key", keep="any")
    rows = pl.DataFrame({"key": keys}).with_row_index("row").join(table, on="key", how="left")
    rows = rows.sort("row")
    return {name: rows[name].to_numpy() for name in LM_SCORES}
