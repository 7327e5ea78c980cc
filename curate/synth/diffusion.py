"""BOB's image backend: a diffusers text-to-image model fine-tuned with LoRA on the selected
rows, then prompted with each target class and a marginalised context (see `curate.synth.bob`).

As the official code (github.com/princetonvisualai/BeyondObjects): LoRA of rank 16 on the UNet
attention projections (to_q, to_k, to_v, to_out.0) and the CLIP text encoder's (q_proj,
k_proj, v_proj, out_proj), trained with the standard diffusers text-to-image loss (the noise,
or the velocity for v-prediction models, regressed by MSE at random timesteps) on prompts
that name each real row's class and its own context, AdamW with a cosine learning rate.

The context bank comes from the selected rows: captions by the image-to-text model named in
`captioner` (`curate.synth.captions`), or the `context_columns` the user gives. Needs the
`diffusion` extra (`pip install 'curate[diffusion]'`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.data.pool import Pool
from curate.errors import CurateError, missing_package
from curate.params import Interval, Options, Text, TextList, constraints
from curate.synth.base import Generator, Services, single_thread, vector_column
from curate.synth.bob import bank_from_columns, marginal_plan
from curate.synth.captions import caption_bank, load_captioner, rgb_images
from curate.synth.registry import register

IMAGE_TEMPLATE = "a photo of a {label}, {context}"
UNET_LORA_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_LORA_MODULES = ["q_proj", "k_proj", "v_proj", "out_proj"]


def load_pipeline(path: str):
    try:
        from diffusers import StableDiffusionPipeline
    except ImportError:
        raise missing_package("bob-diffusion", "diffusers", "'curate[diffusion]'") from None
    try:
        pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None,
                                                       requires_safety_checker=False)
    except (OSError, ValueError) as err:
        raise CurateError(f"cannot load diffusers model {path}: {str(err).splitlines()[0]}",
                          "give a Stable Diffusion pipeline folder or Hub id, pre-downloaded "
                          "when HF_HUB_OFFLINE is set") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def add_lora(pipe, rank: int, seed: int) -> list:
    """LoRA adapters on the UNet and the text encoder, everything else frozen; returns the
    trainable parameters."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    for module in (pipe.unet, pipe.text_encoder, pipe.vae):
        module.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):  # the adapters' random init repeats under a seed
        torch.manual_seed(seed)
        for module, targets in ((pipe.unet, UNET_LORA_MODULES),
                                (pipe.text_encoder, TEXT_LORA_MODULES)):
            # peft directly rather than the models' add_adapter: transformers' wrapper demands
            # a newer peft than the rest of curate needs, and both inject the same layers
            inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets,
                                               init_lora_weights="gaussian"), module)
    return [p for m in (pipe.unet, pipe.text_encoder) for p in m.parameters() if p.requires_grad]


def pixel_batch(images: np.ndarray, size: int):
    """(N, H, W, 3) uint8 -> (N, 3, size, size) floats in [-1, 1], as the VAE expects."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1.0
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def fine_tune(pipe, images: np.ndarray, prompts: list[str], steps: int, batch_size: int,
              lr: float, resolution: int, seed: int, params: list) -> None:
    """The diffusers text-to-image LoRA training loop, on shuffled batches of the rows."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    device = pipe.device
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    optimizer = torch.optim.AdamW(params, lr=lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    g = torch.Generator(device).manual_seed(seed)
    order = np.random.default_rng(seed)
    pixels = pixel_batch(images, resolution)
    pipe.unet.train()
    pipe.text_encoder.train()
    for _ in range(steps):
        pick = order.choice(len(images), min(batch_size, len(images)), replace=False)
        with torch.no_grad():
            latents = pipe.vae.encode(pixels[pick].to(device)).latent_dist.sample(generator=g)
            latents = latents * pipe.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=g, device=device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(pick),),
                          generator=g, device=device)
        tokens = pipe.tokenizer([prompts[i] for i in pick], padding="max_length",
                                truncation=True, max_length=pipe.tokenizer.model_max_length,
                                return_tensors="pt").input_ids.to(device)
        hidden = pipe.text_encoder(tokens, return_dict=False)[0]
        predicted = pipe.unet(noise_scheduler.add_noise(latents, noise, t), t, hidden,
                              return_dict=False)[0]
        if noise_scheduler.config.prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, t)
        else:
            target = noise
        loss = F.mse_loss(predicted.float(), target.float())
        loss.backward()
        optimizer.step()
        cosine.step()
        optimizer.zero_grad()
    pipe.unet.eval()
    pipe.text_encoder.eval()


@register
class BobDiffusionGenerator(Generator):
    """Image rows from a LoRA fine-tuned diffusers text-to-image model, conditioned on a
    class and a marginalised context.

    Args:
        model: Stable Diffusion pipeline (folder or Hub id).
        captioner: image-to-text model whose captions form the context bank.
        context_columns: pool columns holding each row's context (instead of a captioner);
            the template may name them, as in the official "a photo of a {label} in the
            {background} background with the {pose} pose".
        template: the prompt, with `{label}`, `{context}` and any context column.
        steps: LoRA training steps.
        batch_size: rows per training step and prompts per generation batch.
        lr: AdamW learning rate (cosine decay to 0 over the steps).
        rank: LoRA rank.
        resolution: side of the square images the model trains on and generates; generated
            images are resized to the pool's image shape.
        inference_steps: denoising steps per generated image.
        guidance_scale: classifier-free guidance.
        caption_tokens: longest caption.
        device: auto, cpu or cuda.
    """

    name = "bob-diffusion"
    modalities = ("image",)

    parameter_constraints = constraints(
        model=[None, Text()],  # None: refused by fit, with the setting to fill in
        captioner=[None, Text()],
        context_columns=[None, TextList()],
        template=Text(),
        steps=Interval(int, 0, None),
        batch_size=Interval(int, 1, None),
        lr=Interval(float, 0, None, closed="neither"),
        rank=Interval(int, 1, None),
        resolution=Interval(int, 1, None),
        inference_steps=Interval(int, 1, None),
        guidance_scale=Interval(float, 0, None),
        caption_tokens=Interval(int, 1, None),
        device=Options("auto", "cpu", "cuda"),
    )

    def __init__(self, model: str | None = None, captioner: str | None = None,
                 context_columns: list[str] | None = None, template: str = IMAGE_TEMPLATE,
                 steps: int = 500, batch_size: int = 4, lr: float = 1e-4, rank: int = 16,
                 resolution: int = 512, inference_steps: int = 30, guidance_scale: float = 7.5,
                 caption_tokens: int = 30, device: str = "auto"):
        self.model = model
        self.captioner = captioner
        self.context_columns = context_columns
        self.template = template
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.rank = rank
        self.resolution = resolution
        self.inference_steps = inference_steps
        self.guidance_scale = guidance_scale
        self.caption_tokens = caption_tokens
        self.device = device

    def _fit(self, real: Pool, pool: Pool | None, seed: int, services: Services) -> None:
        from curate.embed.device import resolve_device

        if self.model is None:
            raise CurateError("bob-diffusion needs a text-to-image model",
                              "set synth.params.model to a Stable Diffusion pipeline path")
        if bool(self.captioner) == bool(self.context_columns):
            raise CurateError("bob-diffusion takes its context from a captioner or from "
                              "columns, exactly one", "set synth.params.captioner or "
                              "synth.params.context_columns")
        images = rgb_images(real)
        if self.captioner:
            bank = caption_bank(real, load_captioner(self.captioner), self.labels_,
                                self.caption_tokens)
        else:
            bank = bank_from_columns(real, self.context_columns).scrubbed(self.labels_)
        self.bank_ = bank
        prompts = [self._prompt(label, row) for row, label in enumerate(real.labels())]
        self.pipe_ = load_pipeline(self.model).to(resolve_device(self.device))
        with single_thread():
            params = add_lora(self.pipe_, self.rank, seed)
            fine_tune(self.pipe_, images, prompts, self.steps, self.batch_size, self.lr,
                      self.resolution, seed, params)

    def _prompt(self, label: str, row: int) -> str:
        fields = self.bank_.contexts.row(row, named=True)
        try:
            return self.template.format(label=label, context=self.bank_.describe(row), **fields)
        except (KeyError, IndexError) as err:
            raise CurateError(f"the bob-diffusion template names an unknown field {err}",
                              "use {label}, {context} or a context column") from None

    def _generate_all(self, per_label: dict[str, int], rng: np.random.Generator,
                      filtered: bool) -> list[pl.DataFrame]:
        """All labels in shared batches, each batch seeded from `rng`. Nothing is filtered:
        BOB keeps every image it generates."""
        plan = marginal_plan(self.bank_, per_label, rng)
        if not plan:
            return []
        prompts = [self._prompt(label, row) for label, row in plan]
        images = [self._render(prompts[start:start + self.batch_size],
                               int(rng.integers(2**31)))
                  for start in range(0, len(plan), self.batch_size)]
        schema = self.schema_
        return [pl.DataFrame({
            schema.image: vector_column(np.concatenate(images), "image"),
            schema.label: [label for label, _ in plan],
            "parent_id": [str(self.bank_.ids[row]) for _, row in plan],
            "reason": [f"context of row {self.bank_.ids[row]} ({self.bank_.describe(row)})"
                       for _, row in plan]})]

    def _render(self, prompts: list[str], seed: int) -> np.ndarray:
        """Images for the prompts as flat [0, 1] floats in the pool's image shape."""
        import torch
        import torch.nn.functional as F

        shape = self.schema_.image_shape
        with torch.inference_mode(), single_thread():
            out = self.pipe_(prompts, height=self.resolution, width=self.resolution,
                             num_inference_steps=self.inference_steps,
                             guidance_scale=self.guidance_scale, output_type="pt",
                             generator=torch.Generator(self.pipe_.device).manual_seed(seed))
            x = F.interpolate(out.images.float().cpu(), size=shape[:2], mode="bilinear",
                              antialias=True)
        if len(shape) == 2:
            x = x.mean(dim=1, keepdim=True)
        return x.permute(0, 2, 3, 1).reshape(len(prompts), -1).clamp(0, 1).numpy()
