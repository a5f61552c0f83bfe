"""Actor module: Mode-2 planners behind ``optimize(objective, init)``, and Mode-1 policies."""

from .base import ActionError, Actor, checked_actions
from .cem import CEM
from .gradient import GradientPlanner
from .icem import ICEM
from .mpc import PlanningActor
from .mppi import MPPI
from .planner import Objective, Planner, PlanResult
from .policy import PolicyActor, PolicyNet, distill, distill_from_memory
from .shooting import RandomShooting

PLANNERS: dict[str, type] = {
    "cem": CEM, "icem": ICEM, "mppi": MPPI, "grad": GradientPlanner, "shooting": RandomShooting,
}

__all__ = [
    "CEM", "ICEM", "MPPI", "PLANNERS", "ActionError", "Actor", "GradientPlanner", "Objective",
    "PlanResult", "Planner", "PlanningActor", "PolicyActor", "PolicyNet", "RandomShooting",
    "checked_actions", "distill", "distill_from_memory",
]
