"""``jepa train``: one run of the action-conditioned world model (``net.WorldModelNet``):
build, resume, step, log, checkpoint, report."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from worldmodel.data.dataset import DatasetError, EpisodeDataset
from worldmodel.data.loaders import EncodedTransitions, StepBatchSampler, Transitions
from worldmodel.distributed import Processes, all_finite, setup, teardown
from worldmodel.jepa.checkpoint import load, load_matching
from worldmodel.jepa.objectives import rankme
from worldmodel.jepa.schedules import Progress, WarmupCosine
from worldmodel.precision import resolve_bf16
from worldmodel.run_log import RunLog, plot_log, warn_if_collapsing
from worldmodel.train_loop import RunCheckpoint, TrainingError, run_steps

from .net import build_net
from .train_config import TrainConfig

# What a resumed run must share with its checkpoint (the rest, e.g. save_every, may change).
RESUME_KEYS = ("recipe", "predictor", "latent_dim", "frames", "frameskip", "z_dim",
               "hidden", "horizon", "batch_size", "steps", "schedule", "seed", "held_out")


class Trainer:
    """One `jepa train` run: build, resume, step, log, checkpoint, report."""

    def __init__(self, cfg: TrainConfig, procs: Processes) -> None:
        # what ran is what the checkpoint records: a resume on other hardware keeps it
        cfg.bf16 = resolve_bf16(cfg.bf16, procs.device)
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
        self.bar, self.log, self.last_rank = None, None, None  # this run's (set by ``run``)

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
        lr = self.lr(self.clock.at(self.step, self.clock.seconds)[0])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            total, parts = self.module(self.frames(batch), batch["action"].to(dev),
                                       encoded=cfg.recipe == "frozen")
        if not all_finite(total):
            raise TrainingError(f"the loss became {total.item()} at step {self.step}; the last "
                                f"good checkpoint {self.last} is intact. Lower lr, then "
                                "resume=true")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.step += 1
        return {"loss": total.item(), "lr": lr, **parts}

    def frames(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """A batch's training windows on the device: pixels [B, T, C, H, W], or for the
        frozen recipe their latents [B, T, D]."""
        if self.cfg.recipe == "frozen":
            return batch["latent"].to(self.procs.device)
        return torch.cat([batch["pixels"][:, None], batch["next_pixels"]], dim=1).to(
            self.procs.device)

    @torch.no_grad()
    def latents(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Every latent of a batch's windows [B * T', D] (for RankMe)."""
        frames = self.frames(batch)
        z = frames if self.cfg.recipe == "frozen" else self.net.encode(frames)
        return z.float().flatten(0, 1)

    def after_step(self, batch, metrics: dict[str, float], log_row: bool) -> None:
        """Progress bar; with ``log_row``, RankMe of the batch's latents and a row of the log
        (log.jsonl, TensorBoard)."""
        self.bar.update(1)
        if not log_row:
            return
        self.last_rank = rankme(self.latents(batch))
        warn_if_collapsing(self.last_rank, self.cfg.rankme_warn, self.step, "latents")
        if self.log is not None:
            self.log.write({"step": self.step, **metrics, "rankme": self.last_rank,
                            "seconds": self.clock.this_run})
        self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", rankme=f"{self.last_rank:.1f}")

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
                self.log = stack.enter_context(RunLog(self.out / "log.jsonl"))
            stopped_by = run_steps(self, cfg.log_every, cfg.save_every)
        summary = {"checkpoint": str(self.last), "steps": self.step,
                   "seconds": round(time.perf_counter() - begun, 1), "rankme": self.last_rank}
        if self.procs.main:
            summary["plot"] = str(plot_log(self.out / "log.jsonl", self.out / "training.png"))
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
