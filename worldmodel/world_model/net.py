"""What ``jepa train`` learns: an encoder and an action-conditioned predictor, with the
loss of either recipe.

* ``end_to_end`` (PLDM / EB-JEPA): a conv encoder and the predictor trained together;
  multi-step latent prediction, plus variance-covariance (VICReg), time-similarity and
  inverse-dynamics terms that keep the latents from collapsing and make them about what
  the actions change.
* ``frozen`` (V-JEPA 2-AC): the encoder of a ``jepa pretrain`` checkpoint, frozen and
  pooled (``FrozenPooledEncoder``); teacher-forced plus autoregressive rollout L1 in latent
  space.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.data.dataset import EpisodeDataset
from worldmodel.distributed import gather_batch
from worldmodel.jepa.checkpoint import CheckpointError, expect_kind, load, load_matching
from worldmodel.perception.cnn import ConvEncoder
from worldmodel.perception.frozen_vit import FrozenPooledEncoder
from worldmodel.perception.history import stack_frames

from .base import chunk_actions
from .predictors import ACTransformer, MLPPredictor
from .train_config import TrainConfig


class WorldModelNet(nn.Module):
    """Encoder + predictor (+ inverse-dynamics head): everything `jepa train` learns."""

    def __init__(self, cfg: TrainConfig, image_size: int, action_dim: int,
                 encoder: nn.Module | None = None, predictor: nn.Module | None = None) -> None:
        super().__init__()
        self.frameskip = cfg.frameskip
        action_dim = cfg.model_action_dim(action_dim)
        self.encoder = encoder or ConvEncoder(image_size, tuple(cfg.channels), cfg.latent_dim,
                                              cfg.frames)
        D = self.encoder.latent_dim
        if predictor is not None:
            self.predictor = predictor
        elif cfg.predictor == "mlp":
            self.predictor = MLPPredictor(D, action_dim, hidden=cfg.hidden, z_dim=cfg.z_dim)
        elif cfg.predictor == "transformer":
            self.predictor = ACTransformer(D, action_dim, max_frames=cfg.max_frames)
        else:
            raise ValueError(f"predictor must be mlp or transformer, got {cfg.predictor!r}")
        self.inverse = nn.Sequential(nn.Linear(2 * D, 256), nn.GELU(), nn.Linear(256, action_dim))
        if cfg.z_dim:
            if not isinstance(self.predictor, MLPPredictor):
                raise ValueError("z_dim > 0 needs predictor=mlp")
            # Infers z_t from (s_t, s_{t+1}): what the action does not explain.
            self.posterior = nn.Sequential(nn.Linear(2 * D, 128), nn.GELU(),
                                           nn.Linear(128, cfg.z_dim))
        self.cfg = cfg

    def encode(self, pixels: torch.Tensor, pad: bool = False, every: int = 1) -> torch.Tensor:
        """Frame sequences [B, T, C, H, W] uint8 -> latents [B, T-k+1, D] for a history of
        k frames, or [B, T, D] with ``pad`` (the first frame repeated before the start);
        ``every`` s encodes only every s-th of them (what a frameskip-s model steps to)."""
        stacked = stack_frames(pixels, self.encoder.frames, pad, every)
        lead = stacked.shape[:-3]
        return self.encoder(stacked.reshape(-1, *stacked.shape[-3:])).reshape(*lead, -1)

    def chunk(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions [B, s*H, A] -> model actions [B, H, s*A] for a frameskip of s."""
        return chunk_actions(actions, self.frameskip)

    def forward(self, frames: torch.Tensor, actions: torch.Tensor,
                encoded: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss and its parts. frames: pixels [B, s*H+k, C, H, W], or with
        ``encoded`` their latents [B, s*H+k, D] (a frozen encoder's, computed once); actions
        [B, s*H+k-1, A] for a history of k frames (the first k-1 steps only fill the
        history) and a frameskip of s (the model sees every s-th frame). The forward pass,
        so DDP syncs gradients."""
        cfg = self.cfg
        k, s = self.encoder.frames, self.frameskip
        z = frames[:, k - 1::s] if encoded else self.encode(frames, every=s)  # [B, H+1, D]
        actions = self.chunk(actions[:, k - 1:])
        parts: dict[str, torch.Tensor] = {}
        latent = None
        if cfg.z_dim:
            latent = self.posterior(torch.cat([z[:, :-1], z[:, 1:]], dim=-1))  # [B, H, Z]
            parts["latent_z"] = cfg.z_weight * latent.pow(2).mean()
            rollout = self.predictor.rollout(z[:, 0], actions, latent)
        else:
            rollout = self.predictor.rollout(z[:, 0], actions)
        if cfg.recipe == "frozen":
            parts["rollout"] = (rollout - z[:, 1:]).abs().mean()
            if isinstance(self.predictor, ACTransformer):
                teacher = self.predictor(z[:, :-1], actions)
            else:
                teacher = self.predictor.step(
                    z[:, :-1].flatten(0, 1), actions.flatten(0, 1),
                    None if latent is None else latent.flatten(0, 1)).reshape_as(z[:, 1:])
            parts["teacher"] = cfg.teacher_weight * (teacher - z[:, 1:]).abs().mean()
        else:
            parts["prediction"] = F.mse_loss(rollout, z[:, 1:])
            flat = gather_batch(z).transpose(0, 1)  # [H+1, B, D]: each step over the batch
            zc = flat - flat.mean(1, keepdim=True)
            std = (zc.var(1) + 1e-4).sqrt()
            parts["variance"] = cfg.variance_weight * F.relu(1 - std).mean()
            cov = zc.transpose(1, 2) @ zc / (zc.shape[1] - 1)
            off = cov - torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2))
            off_sq = off.pow(2).sum((1, 2)).mean() / z.shape[-1]
            parts["covariance"] = cfg.covariance_weight * off_sq
            parts["time"] = cfg.time_weight * (z[:, 1:] - z[:, :-1]).pow(2).mean()
            guess = self.inverse(torch.cat([z[:, :-1], z[:, 1:]], dim=-1))
            parts["inverse"] = cfg.inverse_weight * F.mse_loss(guess, actions)
        total = sum(parts.values())
        return total, {k: v.item() for k, v in parts.items()}


def build_net(cfg: TrainConfig, data: EpisodeDataset) -> WorldModelNet:
    """The network a training config asks for, checked against the dataset."""
    if cfg.recipe not in ("end_to_end", "frozen"):
        raise ValueError(f"recipe must be end_to_end or frozen, got {cfg.recipe!r}")
    encoder = None
    if cfg.recipe == "frozen":
        if not cfg.perception_checkpoint:
            raise ValueError("recipe=frozen needs perception_checkpoint=<jepa pretrain last.pt>")
        from worldmodel.jepa.pretrain import model_from_checkpoint

        jepa, ckpt = model_from_checkpoint(cfg.perception_checkpoint)
        if ckpt["image_size"] != data.meta.image_size:
            raise CheckpointError(
                f"the perception checkpoint was trained on {ckpt['image_size']}px frames, "
                f"the dataset has {data.meta.image_size}px; pretrain on matching frames"
            )
        encoder = FrozenPooledEncoder(jepa.encoder, cfg.pooling)
        if cfg.frames != encoder.frames:
            raise ValueError(f"this encoder reads {encoder.frames}-frame inputs (its clip "
                             f"length); set frames={encoder.frames}")
        if cfg.pretrained_predictor:
            if cfg.predictor != "transformer":
                raise ValueError("pretrained_predictor=true needs predictor=transformer")
            if cfg.pooling != "mean":
                raise ValueError("pretrained_predictor=true predicts the encoder's pooled "
                                 "features: it needs pooling=mean")
            if jepa.predictor is None:
                raise ValueError(f"{cfg.perception_checkpoint} is a LeJEPA run, which trains "
                                 "no predictor: leave pretrained_predictor out, or pretrain "
                                 "with method=ijepa or vjepa")
            predictor = ACTransformer.from_jepa_predictor(
                jepa.predictor, cfg.model_action_dim(data.meta.action_dim),
                max_frames=cfg.max_frames)
            return WorldModelNet(cfg, data.meta.image_size, data.meta.action_dim, encoder,
                                 predictor)
    elif cfg.pretrained_predictor:
        raise ValueError("pretrained_predictor=true needs recipe=frozen (a pretrained run)")
    elif cfg.pooling != "mean":
        raise ValueError(f"pooling={cfg.pooling} applies to a pretrained ViT's tokens: it "
                         "needs recipe=frozen and perception_checkpoint=<jepa pretrain last.pt>")
    return WorldModelNet(cfg, data.meta.image_size, data.meta.action_dim, encoder)


def net_from_checkpoint(path: str | Path) -> tuple[WorldModelNet, dict]:
    """A trained world model (encoder + predictor) and its checkpoint dict."""
    ckpt = load(path)
    expect_kind(ckpt, path, "train")
    cfg = TrainConfig(**ckpt["train_config"])
    encoder = predictor = None
    if cfg.recipe == "frozen":  # rebuild the ViT; its weights are in ckpt["model"]
        from worldmodel.jepa.pretrain import PretrainConfig, jepa_config
        from worldmodel.jepa.vit import VisionTransformer

        pretrain_cfg = PretrainConfig(**ckpt["perception_config"])
        vit = VisionTransformer(jepa_config(pretrain_cfg, ckpt["image_size"]).encoder)
        encoder = FrozenPooledEncoder(vit, cfg.pooling)
        if cfg.pretrained_predictor:  # shaped like the JEPA predictor it started from
            predictor = ACTransformer(
                encoder.latent_dim, cfg.model_action_dim(ckpt["action_dim"]),
                dim=pretrain_cfg.predictor_dim,
                depth=pretrain_cfg.predictor_depth, heads=pretrain_cfg.predictor_heads,
                max_frames=cfg.max_frames)
    net = WorldModelNet(cfg, ckpt["image_size"], ckpt["action_dim"], encoder, predictor)
    load_matching(net, ckpt["model"], f"checkpoint {path}")
    return net.eval(), ckpt
