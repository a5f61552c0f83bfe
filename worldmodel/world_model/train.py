"""``jepa train``: the action-conditioned world model.

Two recipes:

* ``end_to_end`` (PLDM / EB-JEPA): a conv encoder and the predictor trained together;
  multi-step latent prediction, plus variance-covariance (VICReg), time-similarity and
  inverse-dynamics terms that keep the latents from collapsing and make them about what
  the actions change.
* ``frozen`` (V-JEPA 2-AC): the encoder of a ``jepa pretrain`` checkpoint, frozen and
  pooled (average, or keypoints of what moves); teacher-forced plus autoregressive rollout
  L1 in latent space.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from worldmodel.config import check_ranges
from worldmodel.data.dataset import DatasetError, EpisodeDataset
from worldmodel.data.loaders import EncodedTransitions, StepBatchSampler, Transitions
from worldmodel.distributed import (
    Processes,
    all_finite,
    gather_batch,
    setup,
    teardown,
)
from worldmodel.jepa.checkpoint import (
    CheckpointError,
    expect_kind,
    load,
    load_matching,
)
from worldmodel.jepa.schedules import Progress, WarmupCosine
from worldmodel.perception.cnn import ConvEncoder
from worldmodel.perception.history import stack_frames
from worldmodel.train_loop import RunCheckpoint, TrainingError, run_steps

from .base import chunk_actions
from .predictors import ACTransformer, MLPPredictor


@dataclass
class TrainConfig:
    """``jepa train``: data, recipe, model, optimisation, outputs."""

    data: str = "data/two_rooms"
    recipe: str = "end_to_end"  # end_to_end | frozen
    perception_checkpoint: str | None = None  # a `jepa pretrain` checkpoint (frozen recipe)
    pretrained_predictor: bool = False  # frozen + transformer: start from its JEPA predictor
    pooling: str = "mean"  # frozen recipe: mean | keypoints (centre of mass of what moves)
    predictor: str = "mlp"  # mlp | transformer
    channels: list[int] = field(default_factory=lambda: [8, 16, 16])  # conv encoder widths
    latent_dim: int = 64
    frames: int = 1  # frame history the encoder reads (2 makes velocity observable)
    frameskip: int = 1  # env steps per model step; the predictor takes their k actions as one
    z_dim: int = 0  # latent variable of the MLP predictor (0: deterministic)
    z_weight: float = 0.1  # penalty on the inferred latent's size
    hidden: int = 512
    horizon: int = 8  # steps of multi-step prediction per sample
    batch_size: int = 64
    steps: int = 3000
    max_minutes: float = 0.0
    schedule: str = "steps"  # steps | minutes: the learning rate spans max_minutes of training
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    variance_weight: float = 1.0
    covariance_weight: float = 0.04
    time_weight: float = 0.1
    inverse_weight: float = 1.0
    teacher_weight: float = 1.0  # frozen recipe: teacher-forced term
    bf16: bool = True
    held_out: float = 0.1
    seed: int = 0
    out: str = "runs/train"
    resume: bool = False
    init: str | None = None  # start from this `jepa train` checkpoint's weights (fine-tuning)
    save_every: int = 500
    log_every: int = 50
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, positive=("latent_dim", "frames", "frameskip", "hidden", "horizon",
                                     "batch_size", "steps", "save_every", "log_every"),
                     non_negative=("z_dim", "z_weight", "max_minutes", "lr", "warmup",
                                   "weight_decay", "variance_weight", "covariance_weight",
                                   "time_weight", "inverse_weight", "teacher_weight"))
        if not 0 < self.held_out < 1:
            raise ValueError(f"held_out is the fraction of episodes kept out of training, "
                             f"between 0 and 1, got {self.held_out}")

    def model_action_dim(self, action_dim: int) -> int:
        """The predictor's action size for env actions of ``action_dim``: one model step
        takes the ``frameskip`` env actions it spans."""
        return action_dim * self.frameskip

    @property
    def max_frames(self) -> int:
        """Frames the transformer predictor's time embedding covers (a training window)."""
        return max(32, self.horizon + 1)


KEYPOINT_POWERS = (1, 2, 4)  # of a patch's departure from the scene, for its weight


class FrozenPooledEncoder(nn.Module):
    """A pretrained ViT, frozen, pooled and standardised: frames [B, 3, H, W] -> [B, D'].
    A video (V-JEPA) encoder of T-frame clips reads a frame history of T frames
    [B, T*3, H, W].

    ``pooling="mean"``: the average of the patch tokens, D' = D. ``pooling="keypoints"``
    (image encoders): a spatial centre of mass of where the frame departs from the static
    scene. Each patch token less its position's mean over training frames (``fit_scene``)
    gives a residual norm per patch; its excess over the frame's median norm, raised to
    each of ``KEYPOINT_POWERS`` and normalised, weighs the patch grid's coordinates, and
    the weighted mean (x, y) and second moments (x^2, y^2, xy) are the state, D' = 5 per
    power (the low powers interpolate between the patches an object straddles, the high
    ones find its main patch). A small object that moves sub-patch distances changes the
    mean-pooled features like a hash (latent step ratio 1.2 on Two Rooms); its keypoints
    move smoothly (0.13). It presumes a static scene with a few moving things, as the
    tasks here are.

    Standardised per dimension with the training frames' statistics (``fit``): on a scene
    that barely changes, the pooled features move by about 1e-3 while their mean is of
    order 1, and an L1 loss or a planning cost on the raw features sees almost nothing of
    what moves."""

    def __init__(self, vit: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "keypoints"):
            raise ValueError(f"pooling must be mean or keypoints, got {pooling!r}")
        self.vit = vit.requires_grad_(False).eval()
        self.pooling = pooling
        self.image_size = vit.cfg.image_size
        self.frames = vit.cfg.frames if vit.cfg.tubelet > 1 else 1
        self.latent_dim = vit.cfg.dim
        if pooling == "keypoints":
            if len(vit.cfg.grid) != 2:
                raise ValueError("pooling=keypoints reads an image encoder's 2-D patch grid; "
                                 "use pooling=mean for a clip (V-JEPA) encoder")
            rows, cols = vit.cfg.grid
            y, x = torch.meshgrid(torch.linspace(0, 1, rows), torch.linspace(0, 1, cols),
                                  indexing="ij")
            x, y = x.flatten(), y.flatten()
            self.register_buffer("moments", torch.stack([x, y, x * x, y * y, x * y], -1))
            self.register_buffer("scene", torch.zeros(rows * cols, vit.cfg.dim))
            self.latent_dim = 5 * len(KEYPOINT_POWERS)
        self.register_buffer("mean", torch.zeros(self.latent_dim))
        self.register_buffer("std", torch.ones(self.latent_dim))

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames > 1:  # the stacked history is the clip
            x = x.reshape(x.shape[0], self.frames, -1, *x.shape[-2:])
        return self.vit.tokens_fp32(x)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self._tokens(x)
        if self.pooling == "mean":
            return self.scale(tokens.mean(1))
        residual = (tokens - self.scene).norm(dim=-1)  # [B, N]
        excess = (residual - residual.median(-1, keepdim=True).values).clamp_min(0)
        weights = [excess ** p for p in KEYPOINT_POWERS]
        return self.scale(torch.cat([w / w.sum(-1, keepdim=True).clamp_min(1e-12)
                                     @ self.moments for w in weights], -1))

    @torch.no_grad()
    def fit_scene(self, frames: torch.Tensor, batch: int = 256) -> None:
        """Keypoints: the static scene, each patch's mean token over training frames
        [M, 3, H, W] (a few thousand suffice: a small object rarely covers any one patch)."""
        total = torch.zeros_like(self.scene)
        for i in range(0, len(frames), batch):
            total += self._tokens(frames[i:i + batch].to(self.scene.device)).sum(0)
        self.scene.copy_(total / len(frames))

    def scale(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw pooled features [..., D'] -> standardised."""
        return (raw - self.mean.to(raw.device)) / self.std.to(raw.device)

    @torch.no_grad()
    def fit(self, raw: torch.Tensor) -> None:
        """Take the per-dimension statistics of raw pooled features [..., D']."""
        flat = raw.reshape(-1, raw.shape[-1])
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-6))

    @torch.no_grad()
    def reset(self) -> None:
        """Identity statistics: the encoder returns raw pooled features until ``fit``."""
        self.mean.zero_()
        self.std.fill_(1.0)


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


# What a resumed run must share with its checkpoint (the rest, e.g. save_every, may change).
RESUME_KEYS = ("recipe", "predictor", "latent_dim", "frames", "frameskip", "z_dim",
               "hidden", "horizon", "batch_size", "steps", "schedule", "seed", "held_out")


class Trainer:
    """One `jepa train` run: build, resume, step, log, checkpoint, report."""

    def __init__(self, cfg: TrainConfig, procs: Processes) -> None:
        self.cfg, self.procs = cfg, procs
        self.out = Path(cfg.out)
        self.data = EpisodeDataset.open(cfg.data)
        # Env steps a sample spans, history included.
        self.window = cfg.horizon * cfg.frameskip + cfg.frames - 1
        if self.data.meta.episode_length < self.window:
            raise DatasetError(f"{cfg.data} has episodes of {self.data.meta.episode_length} "
                               f"steps, shorter than horizon x frameskip + frames - 1 = "
                               f"{self.window}; lower the horizon or the frameskip")
        torch.manual_seed(cfg.seed)
        self.net = build_net(cfg, self.data).to(procs.device)
        self.module = self.net
        if procs.world > 1:
            # The frozen recipe leaves the inverse-dynamics head unused.
            self.module = torch.nn.parallel.DistributedDataParallel(
                self.net, find_unused_parameters=cfg.recipe == "frozen")
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)
        self.clock = Progress.of(cfg.schedule, cfg.steps, cfg.warmup, cfg.max_minutes)
        self.lr = WarmupCosine(cfg.lr, self.clock.total, cfg.warmup, end=cfg.lr * 0.01)
        self.step = 0
        self.checkpoint = RunCheckpoint(self.out / "last.pt", self.net, self.optimizer,
                                        self.clock, "train_config", RESUME_KEYS)
        self.train_eps, self.test_eps = self.data.split(cfg.held_out, cfg.seed)
        self.perception_config = (load(cfg.perception_checkpoint)["config"]
                                  if cfg.recipe == "frozen" else None)
        self.bar, self.log_file = None, None  # this run's (set up by ``run``)

    # -- checkpoints --------------------------------------------------------------------
    @property
    def last(self) -> Path:
        return self.checkpoint.path

    def save(self) -> None:
        if self.procs.main:
            meta = self.data.meta
            self.checkpoint.save(self.step, asdict(self.cfg), {
                "perception_config": self.perception_config, "image_size": meta.image_size,
                "action_dim": meta.action_dim, "env_id": meta.env_id,
                "env_kwargs": meta.env_kwargs})

    def start(self) -> None:
        """Resume from ``last.pt``, or start afresh (from ``init``'s weights if given)."""
        cfg, dev = self.cfg, self.procs.device
        self.step = self.checkpoint.start(cfg.resume, asdict(cfg), dev)
        if not cfg.resume and cfg.init:
            # New data, same architecture: the weights carry over, the optimiser starts afresh.
            load_matching(self.net, load(cfg.init, map_location=dev)["model"],
                          f"init checkpoint {cfg.init}")

    # -- data ---------------------------------------------------------------------------
    def dataset(self) -> torch.utils.data.Dataset:
        """Training windows; for the frozen recipe, of frames encoded once up front (the
        encoder is frozen: not once per step a frame is drawn)."""
        cfg, data, train_eps = self.cfg, self.data, self.train_eps
        if cfg.recipe != "frozen":
            return Transitions(data, self.window, episodes=train_eps)
        from .report import encode_episodes

        encoder = self.net.encoder
        encoder.reset()
        if cfg.pooling == "keypoints":  # the scene from 4,096 random training frames
            pixels = data.episodes["pixels"]
            T = pixels.shape[1]
            gen = torch.Generator().manual_seed(cfg.seed)
            pick = torch.randperm(len(train_eps) * T, generator=gen)[:4096]
            encoder.fit_scene(pixels[torch.tensor(train_eps)[pick // T], pick % T])
        raw = encode_episodes(self.net, data.episodes["pixels"])
        encoder.fit(raw[train_eps])
        return EncodedTransitions(data, encoder.scale(raw), self.window, episodes=train_eps)

    def loader(self) -> torch.utils.data.DataLoader:
        dataset = self.dataset()
        sampler = StepBatchSampler(len(dataset), self.cfg.batch_size, self.clock.last_step,
                                   self.step, self.procs.rank, self.procs.world, self.cfg.seed)
        return torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                           collate_fn=lambda b: b)

    # -- training -----------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimiser step -> the loss and its parts."""
        cfg, dev = self.cfg, self.procs.device
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(self.clock.at(self.step, self.clock.seconds)[0])
        encoded = cfg.recipe == "frozen"
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            frames = batch["latent"] if encoded else torch.cat(
                [batch["pixels"][:, None], batch["next_pixels"]], dim=1)
            total, parts = self.module(frames.to(dev), batch["action"].to(dev),
                                       encoded=encoded)
        if not all_finite(total):
            raise TrainingError(f"the loss became {total.item()} at step {self.step}; the last "
                                f"good checkpoint {self.last} is intact. Lower lr, then "
                                "resume=true")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.step += 1
        return {"loss": total.item(), **parts}

    def after_step(self, batch, metrics: dict[str, float], log_row: bool) -> None:
        """Progress bar; with ``log_row``, a line of log.jsonl."""
        self.bar.update(1)
        if log_row:
            if self.log_file:
                row = {"step": self.step, **metrics, "seconds": self.clock.this_run}
                self.log_file.write(json.dumps(row) + "\n")
                self.log_file.flush()  # a run killed outright keeps its log
            self.bar.set_postfix(loss=f"{metrics['loss']:.4f}")

    def run(self) -> dict:
        cfg = self.cfg
        self.start()
        self.out.mkdir(parents=True, exist_ok=True)
        begun = time.perf_counter()
        with contextlib.ExitStack() as stack:
            self.bar = stack.enter_context(tqdm(
                total=cfg.steps if self.clock.by_steps else None, initial=self.step,
                desc=f"train {cfg.recipe}", disable=not (cfg.progress and self.procs.main)))
            if self.procs.main:
                self.log_file = stack.enter_context((self.out / "log.jsonl").open("a"))
            stopped_by = run_steps(self, cfg.log_every, cfg.save_every)
        summary = {"checkpoint": str(self.last), "steps": self.step,
                   "seconds": round(time.perf_counter() - begun, 1)}
        if stopped_by is not None:
            # A scheduler's grace period is short: the report waits for the finished run.
            summary["stopped_by"] = stopped_by
        elif self.procs.main:
            from .report import evaluate_world_model

            summary["report"] = evaluate_world_model(self.net.eval(), self.data,
                                                     self.test_eps, self.train_eps, self.out)
        return summary


def train(cfg: TrainConfig) -> dict:
    """Run ``jepa train``; returns a summary with the evaluation report."""
    procs = setup(cfg.device)
    try:
        return Trainer(cfg, procs).run()
    finally:
        teardown()
