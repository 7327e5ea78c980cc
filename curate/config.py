"""The YAML config as pydantic models. Unknown keys are errors that name the closest valid key."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from curate.errors import CurateError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Section):
    """Where the pool comes from and which columns mean what."""

    path: Path | None = Field(None, description="local parquet, jsonl, csv or a datasets "
                              "folder; a relative path is relative to the config file's folder")
    source: str | None = Field(None, description="builtin:NAME or a Hugging Face dataset id")
    split: str = "train"
    id_column: str | None = None
    text_column: str | None = None
    prompt_column: str | None = None
    response_column: str | None = None
    image_column: str | None = None
    vector_column: str | None = Field(None, description="precomputed feature vectors, used as is")
    label_column: str | None = None
    sample: int | None = Field(None, gt=0, description="keep a seeded random sample of N rows")
    keep_empty: bool = Field(False, description="keep rows whose text is null, empty or "
                                                "whitespace (dropped and counted by default)")
    keep_unlabelled: bool = Field(
        False, description="keep rows without a label as candidates (by default they are "
        "dropped and listed in dropped.parquet): they form one group of their own, named '' "
        "in the budget, which a stratified budget gives the share of the rows it is of the "
        "pool (and 'N per label' N rows), and inside which the selector picks label-blind; "
        "their label stays null in the subset")

    @model_validator(mode="after")
    def _one_origin(self) -> DataConfig:
        section = "target" if isinstance(self, TargetConfig) else "data"
        if (self.path is None) == (self.source is None):
            raise ValueError(f"set exactly one of {section}.path (a local file) or "
                             f"{section}.source")
        return self


class TargetConfig(DataConfig):
    """A small sample of the task the fine-tune is for (distribution-shift selectors).

    Any source the pool accepts; `labels` keeps only rows with those labels."""

    labels: list[str] | None = None


class EmbedConfig(Section):
    model: str = Field("builtin:minilm", description="builtin:minilm, builtin:minilm-static "
                       "(static embeddings distilled from it), a local folder (relative: to "
                       "the config file's folder) or a Hub id (transformers or model2vec)")
    pooling: Literal["auto", "mean", "cls", "max", "mean_sqrt_len", "weightedmean",
                     "lasttoken"] = Field("auto", description="auto: the model's "
                                          "sentence-transformers pooling, else mean")
    max_length: int | None = Field(None, gt=0, description="tokens per text; unset: the "
                                   "model's max_seq_length, else 256")
    prompt: str | None = Field(None, description="a prefix for every row, or the name of one "
                               "of the model's prompts (e.g. passage); unset: its default")
    batch_size: int = Field(64, gt=0)
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto", description="auto: by the CPU's measured rules (curate.embed.device); int8: "
        "ONNX Runtime with int8 MatMuls, CPU only")
    image_features: Literal["pixels", "efficientnet-lite0"] = "pixels"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    shard_size: int = Field(16384, gt=0)


class DedupConfig(Section):
    """Stage 2b, before selection: exact duplicates (normalised content) and, with `near`,
    near duplicates (embedding cosine above it). One row per group stays, by `keep`."""

    exact: bool = True
    near: float | None = Field(None, gt=0, le=1, description="cosine similarity above which "
                               "two rows are near duplicates (e.g. 0.95); unset: off")
    keep: str = Field("first", description="which row of a group stays: first (smallest id) "
                      "or a numeric column's name (highest value)")


class ClusterConfig(Section):
    # Official Diversify-and-Conquer settings: K=512, niter=300, nredo=5.
    k: int = Field(512, gt=0)
    niter: int = Field(300, gt=0)
    nredo: int = Field(5, gt=0)
    spherical: bool = True
    max_points_per_centroid: int = Field(256, gt=0)
    backend: Literal["auto", "faiss", "faiss-gpu", "torch"] = Field(
        "auto", description="auto: faiss on the GPU when its GPU build loads, else torch's "
        "Lloyd on CUDA when a GPU is visible, else faiss on the CPU")


class SelectConfig(Section):
    selector: str = Field("auto", description="a name from `curate selectors`, or "
                          "package.module:Class for your own Selector subclass")
    budget: str | int | float = "2%"
    params: dict[str, Any] = Field(default_factory=dict)
    allow_smaller: bool = False

    @field_validator("budget", mode="before")
    @classmethod
    def _no_bool_or_inf(cls, value: Any) -> Any:
        # Checked before pydantic turns `true` into 1 (a 1-row selection).
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"{value!r} is not a budget: write a count (1000), a fraction "
                             "(0.02 or 2%) or N per label")
        return value
    stratify: Literal["auto"] | bool = Field(
        "auto", description="split a count or fraction budget across labels in proportion to "
        "their frequency and select inside each label (auto: when the pool has labels)")


class ScoringConfig(Section):
    """Scores for DEALRec-style selectors. Without `effort_model`, influence and effort both
    come from a small surrogate classifier on the embeddings (it stands in for the target
    model); with it, prompt/response pools get effort from that causal LM's last-layer
    LoRA B gradient norms."""

    effort_model: str | None = None
    effort_batch_size: int = Field(8, gt=0)
    effort_max_length: int = Field(256, gt=0)
    # LM scores of prompt/response rows (curate.scoring.lm_scores): computed when a selector
    # parameter names one (kmq quality: ifd; longest reads response_tokens) or when asked.
    lm_scores: bool = Field(False, description="compute lm_loss, lm_loss_alone, ifd and "
                            "response_tokens for prompt/response pools even when no selector "
                            "asks (they reach scores.parquet and the report)")
    lm_model: str = Field("builtin:smollm2", description="causal LM of the LM scores: "
                          "builtin:smollm2, a local folder or a Hub id")
    lm_batch_size: int = Field(16, gt=0)
    lm_max_length: int = Field(512, gt=0, description="tokens per row, prompt and response")


class SynthConfig(Section):
    """Synthetic augmentation (stage 6): `generator` makes `per_label` rows per label from the
    selected rows (and the whole pool with `use_pool`); `budget` caps how many of them the
    assemble stage lets into the subset (a count, a fraction of those generated, or N per
    label); `balance` keeps the same number per label."""

    generator: str | None = Field(None, description="mh-gan, bob-text, bob-diffusion; unset: none")
    per_label: int = Field(10, gt=0)
    params: dict[str, Any] = Field(default_factory=dict)
    budget: str | int | float | None = None
    balance: bool = True
    use_pool: bool = False


# A folder name is at most 255 bytes on common filesystems; the lock file adds a suffix and
# a name this long is already unreadable in a listing.
MAX_RUN_NAME_BYTES = 200


def run_name_problem(name: str) -> str | None:
    """Why `name` cannot name the run folder output.dir/<name>, or None: a separator or `..`
    would write elsewhere, a NUL is no path, a long name fails with ENAMETOOLONG."""
    if not name.strip(". ") or "/" in name or "\\" in name or ".." in name or "\0" in name:
        return f"{name!r} must be a plain folder name (no '/', '\\', '..' or NUL)"
    if (size := len(name.encode())) > MAX_RUN_NAME_BYTES:
        return (f"{name[:40]!r}... is {size} bytes long (UTF-8); a run name is a folder "
                f"name of at most {MAX_RUN_NAME_BYTES} bytes")
    return None


class OutputConfig(Section):
    """Relative paths written in a config file are relative to that file's folder, as every
    path in it is; unset, they are these folders of the working directory (a config given
    as a dict in Python: relative to the working directory)."""

    dir: Path = Field(Path("runs"), description="run folders go to <dir>/<run name>/<time>; "
                      "relative: to the config file's folder")
    cache_dir: Path = Field(Path(".curate-cache"), description="the cache every stage reuses; "
                            "relative: to the config file's folder")


class RunConfig(Section):
    name: str | None = None
    seed: int = 0
    lock_timeout: float = Field(600, ge=0, description="seconds a run waits for another run "
                                "of the same name to finish before failing")
    executor: Literal["local", "ray"] = Field(
        "local", description="local: this process; ray: embedding shards over a Ray actor "
        "pool and selector plans as Ray tasks over the pool's shards (pip install "
        "'curate[ray]'); results are identical")
    address: str | None = Field(None, description="Ray cluster: unset starts a local one; "
                                "'auto' or ray://host:port joins one; RAY_ADDRESS wins")
    workers: int | None = Field(None, gt=0, description="Ray actors (unset: the cluster's "
                                "CPUs / cpus_per_worker)")
    cpus_per_worker: int = Field(1, gt=0, description="CPUs, and torch threads, per actor")
    gpus_per_worker: float | Literal["auto"] = Field(
        "auto", description="GPUs per actor; auto: 1 when the cluster has GPUs, else 0")
    gather_limit_gb: float = Field(4.0, gt=0, description="with executor ray, GiB of vectors "
                                   "a selector without a sharded plan may gather on the driver")
    keep_last: int | None = Field(None, gt=0, description="keep the newest N run folders of "
                                  "this run name and delete older ones curate wrote (unset: "
                                  "keep all)")

    @field_validator("name")
    @classmethod
    def _one_folder(cls, name: str | None) -> str | None:
        if name is not None and (problem := run_name_problem(name)):
            raise ValueError(problem)
        return name


class LoraConfig(Section):
    """LoRA fine-tuning of a causal LM (the `lora` bench evaluator and training hand-off)."""

    model: str = "builtin:smollm2"
    rank: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    epochs: int = Field(1, gt=0)
    batch_size: int = Field(8, gt=0)
    max_length: int = Field(256, gt=0)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    max_test_rows: int = Field(200, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 mixed precision on a GPU with bf16 support, else fp32 "
        "(on a CPU bf16 trained no faster: benchmarks/training.md)")
    group_by_length: bool = Field(False, description="batches of rows of like length "
                                  "(transformers' LengthGroupedSampler): less padding, so "
                                  "fewer tokens computed; another row order than plain "
                                  "shuffling (benchmarks/training.md)")


class SFTConfig(LoraConfig):
    """`train.mode: lora`: LoRA supervised fine-tuning with TRL's SFTTrainer (the keys of
    `bench.lora` plus the trainer's schedule, accumulation and checkpoints)."""

    max_steps: int | None = Field(None, gt=0, description="optimiser steps; overrides epochs")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="fraction of steps with a linear "
                                "warm-up, then cosine decay")
    grad_accum: int = Field(1, gt=0, description="batches per optimiser step")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    eval_steps: int = Field(50, gt=0, description="held-out loss every this many steps")
    save_steps: int = Field(50, gt=0, description="checkpoint every this many steps; an "
                            "interrupted run resumes from the latest")
    gradient_checkpointing: bool = False


class FinetuneConfig(Section):
    """Fine-tuning a text encoder with a linear head on mean pooling (the `finetune` bench
    evaluator). `full` trains every weight; `lora` trains LoRA adapters and the head."""

    model: str = Field("builtin:minilm", description="builtin:minilm, a local folder or a Hub id")
    mode: Literal["full", "lora"] = "full"
    epochs: int = Field(3, gt=0)
    min_steps: int = Field(50, ge=0, description="more epochs until this many optimiser steps "
                           "(small selections would otherwise barely move the head)")
    learning_rate: float | None = Field(None, gt=0, description="encoder (or adapter) rate; "
                                        "unset: 5e-5 for full, 5e-4 for lora")
    head_learning_rate: float = Field(1e-3, gt=0, description="the randomly initialised head")
    batch_size: int = Field(16, gt=0)
    max_length: int = Field(128, gt=0)
    warmup: float = Field(0.1, ge=0, lt=1, description="fraction of steps with a linear warm-up")
    weight_decay: float = Field(0.01, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1, description="on the pooled vector, before the head")
    lora_rank: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    lora_target_modules: list[str] | None = Field(None, description="unset: peft's default "
                                                  "for the architecture (query, value for BERT)")
    max_test_rows: int = Field(1000, gt=0, description="a seeded sample of the test part")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class BenchConfig(Section):
    """`curate bench`: which selectors, budgets and seeds to compare, and how to score them."""

    selectors: list[str] = ["random", "kmq"]
    budgets: list[str | int | float] = ["1%", "2%", "5%", "10 per label"]
    seeds: int = Field(5, gt=0)
    first_seed: int = Field(0, ge=0, description="seeds run are first_seed .. first_seed + "
                            "seeds - 1: add seeds to an earlier grid without rerunning it")
    evaluator: Literal["probe", "lora", "finetune"] = "probe"
    probe_embed: EmbedConfig | None = Field(
        None, description="embeddings the probe trains and scores on; unset: the selection's "
        "(embed:). Set to compare selections made on other embeddings with one probe")
    probe_cs: list[float] = Field([], description="probe evaluator: also score with C chosen "
                                  "among these by cross-validation on the picked rows "
                                  "(accuracy_tuned_c, macro_f1_tuned_c), beside the fixed C=10")
    test_size: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0
    resplit: bool = Field(True, description="each seed draws its own train/test split "
                          "(split_seed + seed), so the interval over seeds also counts which "
                          "rows the test part holds; false: every seed shares split_seed's")
    out: Path = Field(Path("bench-results"), description="results folder; relative: to the "
                      "config file's folder")
    lora: SFTConfig = Field(SFTConfig(), description="the lora evaluator's fine-tune: the "
                            "trainer of train.mode lora (TRL), one per selection")
    generate_rows: int = Field(100, ge=0, description="lora evaluator: test prompts answered "
                               "greedily and scored by ROUGE-L against the reference (0: off)")
    finetune: FinetuneConfig = FinetuneConfig()
    ceiling: bool = Field(True, description="also train on all train rows (the 'full' row, "
                          "'all train rows' in the results: a reference, not always a "
                          "ceiling), once per split (with resplit, once per seed); hours "
                          "under the finetune evaluator on a CPU")
    target_labels: list[str] | None = Field(
        None, description="target-shift bench: the target is a sample of these labels' train "
        "rows (removed from the pool) and the test part keeps only these labels")
    target_size: int = Field(200, gt=0, description="rows in the --target-labels target")
    synth: int | None = Field(None, gt=0, description="also score each selection plus this "
                              "many synthetic rows per label from synth.generator (default "
                              "mh-gan), with and without the generator's filter")


class TrainConfig(Section):
    """The hand-off after selection: `spec` writes handoff.json for an outside trainer
    (TRL, axolotl); `lora` fine-tunes a causal LM on prompt/response or text rows;
    `classifier` fits a logistic-regression probe on the run's embeddings (labelled rows)."""

    mode: Literal["spec", "lora", "classifier"] = "spec"
    eval_fraction: float = Field(0.1, gt=0, lt=1, description="subset rows held out for eval")
    lora: SFTConfig = SFTConfig()


class ExportConfig(Section):
    """`curate export`: where and how the subset goes to the Hub (flags override these)."""

    repo: str | None = Field(None, description="USER/NAME of a Hub dataset repo")
    private: bool = False
    license: str | None = Field(None, description="a Hub license id, e.g. cc-by-4.0")
    max_shard_size: str = Field("500MB", description="largest parquet shard, as in datasets: "
                                "a positive whole number and a unit (500MB, 1GB, 512MiB)")

    @field_validator("max_shard_size")
    @classmethod
    def _a_size(cls, size: str) -> str:
        # Checked here: export is often days after the run that wrote this config.
        match = re.fullmatch(r"\s*(\d+)\s*([KMGTP]i?B)\s*", size, re.IGNORECASE)
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{size!r} is not a shard size: write a positive whole number "
                             "and a unit, e.g. 500MB, 1GB or 512MiB")
        return size


class Config(Section):
    data: DataConfig
    target: TargetConfig | None = None
    embed: EmbedConfig = EmbedConfig()
    dedup: DedupConfig = DedupConfig()
    cluster: ClusterConfig = ClusterConfig()
    select: SelectConfig = SelectConfig()
    scoring: ScoringConfig = ScoringConfig()
    synth: SynthConfig = SynthConfig()
    output: OutputConfig = OutputConfig()
    run: RunConfig = RunConfig()
    bench: BenchConfig = BenchConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()

    def run_name(self) -> str:
        """run.name, else a name derived from the pool's file, folder or dataset id, checked
        like run.name (a file `...jsonl` has the stem `..`)."""
        if self.run.name:
            return self.run.name
        origin = self.data.source or Path(self.data.path).stem
        if self.data.source and (origin.startswith(("/", ".", "~")) or origin.count("/") > 1):
            origin = Path(origin).name  # a local folder: the run name is public (the card)
        name = origin.replace("builtin:", "").replace("/", "-")
        if problem := run_name_problem(name):
            raise CurateError(f"the run name taken from the pool's name: {problem}",
                              "set run.name to a plain folder name")
        return name
