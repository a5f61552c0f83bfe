"""Headless OpenGL selection for MuJoCo's offscreen renderer.

MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, so the choice has to be made
before that import. Nothing here runs at import time: callers (the CLI, the MuJoCo
environments) call :func:`select_gl_backend` just before they need mujoco.
"""

from __future__ import annotations

import os
import sys

_PACKAGES_HINT = (
    "install an OpenGL backend for headless rendering, e.g. on Debian/Ubuntu "
    "`apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri` (EGL) or `apt-get install "
    "libosmesa6` (OSMesa, then set MUJOCO_GL=osmesa)"
)


class RenderingUnavailableError(RuntimeError):
    """No OpenGL backend can create an offscreen context."""


def _headless() -> bool:
    """Linux with no X display: GLFW cannot open a context here."""
    return sys.platform.startswith("linux") and not os.environ.get("DISPLAY")


def select_gl_backend() -> str:
    """Choose ``MUJOCO_GL`` when the user has not: EGL when there is no display.

    Returns the backend in force. Must run before ``import mujoco`` to have an effect;
    when mujoco is already imported the current choice is returned unchanged.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if not chosen and "mujoco" not in sys.modules and _headless():
        chosen = os.environ["MUJOCO_GL"] = "egl"
        # PyOpenGL picks its platform from this variable; keep the two consistent.
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if chosen in ("egl", "osmesa"):
        # Mesa's software rasteriser splits a frame over threads; at 64x64 the hand-offs
        # cost more than the drawing (1.6x more frames/s in one thread, measured here), and
        # parallel environments use the cores instead.
        os.environ.setdefault("LP_NUM_THREADS", "0")
    return chosen or "glfw"


def make_renderer(model, height: int, width: int):
    """A ``mujoco.Renderer`` for ``model`` or one clear error naming what to install."""
    backend = select_gl_backend()
    if backend == "glfw" and _headless():
        # GLFW with no display aborts the whole process inside mujoco: say why first.
        raise RenderingUnavailableError(
            "mujoco was imported before an offscreen backend was chosen, so it renders with "
            "GLFW, which needs a display. Set MUJOCO_GL=egl (or osmesa) before starting "
            "Python, or build a worldmodel environment before importing mujoco or a package "
            "that imports it (gymnasium-robotics does)"
        )
    import mujoco

    try:
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as err:  # mujoco raises several types depending on the backend
        raise RenderingUnavailableError(
            f"MuJoCo cannot render offscreen with MUJOCO_GL={backend!r} ({err}); "
            f"{_PACKAGES_HINT}"
        ) from err


def lower_mesh_detail(model, slices: int = 8, stacks: int = 6, samples: int = 0) -> None:
    """Coarser tessellation for small images: at 64x64 mesh detail, not pixels, costs time.

    ``samples`` is the multisample anti-aliasing count (0: off). Thin parts a pixel or two
    wide (Reacher's arm, its target) then shade by how much of each pixel they cover, so
    their position shows finer than the pixel grid; 4 samples cost 2x the time of none.
    """
    model.vis.quality.numslices = slices
    model.vis.quality.numstacks = stacks
    model.vis.quality.offsamples = samples
    model.vis.quality.shadowsize = 0
