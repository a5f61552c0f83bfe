"""Multirun sweeps: ``jepa plan -m actor=cem,mppi actor.params.samples=100,300`` runs the
stage once for every combination of the comma-separated values (Hydra's override grammar:
``a,b``, ``range(1,4)``, ``choice(...)``, ``glob(...)``), one after the other, each into
its own folder under the ``out`` its configuration resolves to.
"""

from __future__ import annotations

import itertools
import re


def expand(overrides: list[str]) -> list[tuple[str, list[str]]]:
    """Command-line overrides -> one (tag, overrides) per combination of the sweeps.

    The tag names the job by its swept values (``actor=cem,samples=100`` style, safe as a
    folder name); overrides that sweep nothing go to every job unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if not sweeps:
        return [("", fixed)]
    choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
               for o in sweeps]
    return [(folder_name(combo), fixed + list(combo)) for combo in itertools.product(*choices)]


def folder_name(choices: tuple[str, ...]) -> str:
    """``("actor=cem", "actor.params.samples=100")`` -> ``actor=cem,actor.params.samples=100``
    with anything a folder name should not hold replaced by ``_``."""
    return re.sub(r"[^\w.=,+-]", "_", ",".join(c.lstrip("+~") for c in choices))
