"""JSON written atomically: a reader, or a run killed mid-write, sees the old file or the
new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """``json.dumps(data)`` to a temporary file beside ``path``, then renamed onto it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path
