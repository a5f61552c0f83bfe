"""iCEM: CEM with temporally coloured noise, elite reuse and a shrinking population
(Pinneri et al., 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.config import check_ranges

from .planner import BestSoFar, Objective, PlanResult, evaluate, top_k


def colored_noise(shape: tuple[int, ...], beta: float, horizon_dim: int = -2,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Unit-variance Gaussian noise whose power spectrum along ``horizon_dim`` falls as
    1/f^beta (beta 0: white; 2: smooth, like Brownian motion)."""
    shape = list(shape)
    H = shape[horizon_dim]
    shape[horizon_dim] = H // 2 + 1
    freqs = torch.fft.rfftfreq(H)
    freqs[0] = freqs[1] if H > 1 else 1.0
    scale = freqs.pow(-beta / 2)
    view = [1] * len(shape)
    view[horizon_dim] = len(freqs)
    scale = scale.reshape(view)
    spectrum = torch.complex(torch.randn(shape, generator=generator),
                             torch.randn(shape, generator=generator)) * scale
    noise = torch.fft.irfft(spectrum, n=H, dim=horizon_dim)
    # irfft drops the imaginary parts of the DC (and, for even H, Nyquist) bins and doubles
    # the others: the stationary variance of every step follows, so divide by it exactly.
    power = scale.flatten().pow(2)
    var = power[0] + 4 * power[1:].sum()
    if H % 2 == 0 and H > 1:
        var = var - 3 * power[-1]  # the Nyquist bin is real: it counts once, not four times
    return noise / (var.sqrt() / H)


@dataclass
class ICEM:
    """iCEM over action sequences; keeps its elites between calls for warm starts."""

    samples: int = 300
    iterations: int = 5
    elites: int = 30
    beta: float = 2.0
    population_decay: float = 1.25
    keep_elites: float = 0.3
    init_std: float = 0.5
    min_std: float = 0.05
    momentum: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_ranges(self, positive=("samples", "iterations", "elites", "init_std"),
                     non_negative=("beta", "min_std"), unit=("keep_elites", "momentum"))
        if self.elites > self.samples:
            raise ValueError(f"elites must be in 1..samples={self.samples}, got {self.elites}")
        if self.population_decay < 1:
            raise ValueError(f"population_decay divides the population each iteration: at "
                             f"least 1, got {self.population_decay}")
        self._gen = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        self._kept: torch.Tensor | None = None  # [E, k, H, A] elites of the last call

    def shift(self, steps: int) -> None:
        """Advance the kept elites by ``steps`` executed actions (pad with zeros)."""
        if self._kept is not None and steps > 0:
            pad = torch.zeros_like(self._kept[:, :, :steps])
            self._kept = torch.cat([self._kept[:, :, steps:], pad], dim=2)

    def reset(self) -> None:
        self._kept = None

    def select(self, rows: torch.Tensor) -> None:
        """Keep the elites of environments ``rows`` [E'] (indices) only."""
        if self._kept is not None:
            self._kept = self._kept[rows.to(self._kept.device)]

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        E = init.shape[0]
        mean = init.clone()
        std = torch.full_like(init, self.init_std)
        best = BestSoFar(init)
        kept = self._kept if self._kept is not None and self._kept.shape[0] == E else None
        n_keep = max(1, int(self.keep_elites * self.elites))
        for i in range(self.iterations):
            n = max(int(self.samples * self.population_decay ** -i), 2 * self.elites)
            noise = colored_noise((E, n, *init.shape[1:]), self.beta, generator=self._gen)
            actions = (mean[:, None] + std[:, None] * noise).clamp(-1.0, 1.0)
            extra = [kept[:, :n_keep]] if kept is not None else []
            if i == 0 and kept is None:
                # The warm start itself, when no elites of a previous call carry it: the
                # momentum moves the mean off it for good after this iteration.
                extra.append(init[:, None].clamp(-1, 1))
            elif i == self.iterations - 1:
                extra.append(mean[:, None].clamp(-1, 1))
            actions = torch.cat([actions, *extra], dim=1)
            cost = evaluate(objective, actions)
            best.update(actions, cost)
            elite, _ = top_k(actions, cost, min(self.elites, actions.shape[1]))
            kept = elite
            m = self.momentum
            mean = m * mean + (1 - m) * elite.mean(1)
            std = (m * std + (1 - m) * elite.std(1)).clamp_min(self.min_std)
        self._kept = kept
        return best.result()
