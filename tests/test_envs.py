"""The environment contract: check_env, seeding, success test, goal rendering, walls."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import worldmodel.envs  # noqa: F401
from gymnasium.utils.env_checker import check_env
from worldmodel.envs import TwoRoomsLayout
from worldmodel.envs.goal_pixels import GoalPixelEnv

from worldmodel.data.policies import make_policy

IDS = ["worldmodel/TwoRooms-v0", "worldmodel/PointRoom-v0", "worldmodel/Reacher-v0",
       "worldmodel/PointMaze-v0", "worldmodel/PointMazeMedium-v0"]


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_and_contract(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=3)
    assert obs["pixels"].shape == (3, 64, 64) and obs["pixels"].dtype == np.uint8
    assert obs["goal"].shape == (3, 64, 64)
    assert {"state", "goal_state", "is_success"} <= set(info)
    assert obs["pixels"].std() > 0  # something is drawn
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_seeding_is_reproducible(env_id):
    def run(seed):
        env = gym.make(env_id)
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        states = [info["state"]]
        for _ in range(5):
            obs, _, _, _, info = env.step(env.action_space.sample())
            states.append(info["state"])
        env.close()
        return np.stack(states), obs["pixels"], obs["goal"]

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("env_id", IDS)
def test_goal_image_is_the_scene_with_agent_at_goal(env_id):
    env = gym.make(env_id).unwrapped
    obs, info = env.reset(seed=0)
    assert not info["is_success"]
    assert not np.array_equal(obs["pixels"], obs["goal"])
    # The state posed at the goal passes the success test and draws as the goal image.
    if env_id.endswith("Reacher-v0"):
        at_goal = env.spec_goal.pose_at(info["state"], info["goal_state"])
    else:
        at_goal = np.zeros_like(info["state"])
        at_goal[:2] = info["goal_state"]
    assert env.is_success(at_goal, info["goal_state"])
    np.testing.assert_array_equal(env.draw(at_goal).transpose(2, 0, 1), obs["goal"])
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_expert_reaches_goal_and_episode_terminates(env_id):
    env = gym.make(env_id)
    policy = make_policy("expert", env_id, 2)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=11)
    for _ in range(150):
        action = policy({k: np.asarray(v)[None] for k, v in info.items()}, rng)[0]
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert terminated and info["is_success"] and -reward < env.unwrapped.success_radius
    env.close()


def test_wall_blocks_and_door_lets_through():
    lay = TwoRoomsLayout(door_y=0.5, door_width=0.2)
    right = np.array([[0.05, 0.0]])
    blocked = lay.move(np.array([[0.40, 0.2]]), right)
    for _ in range(10):
        blocked = lay.move(blocked, right)
    assert blocked[0, 0] < lay.wall_x  # stopped at the wall
    through = np.array([[0.40, 0.5]])
    for _ in range(10):
        through = lay.move(through, right)
    assert through[0, 0] > lay.wall_x  # went through the door


def test_random_door_moves_the_gap():
    env = gym.make("worldmodel/TwoRooms-v0", random_door=True).unwrapped
    doors = {round(float(env.reset(seed=s)[1]["door_y"]), 3) for s in range(5)}
    assert len(doors) > 1
    env.close()


def test_actions_are_checked():
    env = gym.make("worldmodel/TwoRooms-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0], np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))


def test_wrapper_works_by_id_on_a_goal_convention_task():
    robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(robotics)
    env = GoalPixelEnv("PointMaze_UMaze-v3", success_radius=0.45)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (3, 64, 64)
    assert info["goal_state"].shape == (2,)
    np.testing.assert_allclose(env.achieved_goal(info["state"]), info["state"][:2])
    env.close()


def test_antialiasing_shades_partly_covered_pixels():
    # Anti-aliased, the arm's edges take shades between arm and floor that the aliased frame
    # of the same scene never shows: that is what places a two-pixel fingertip finely.
    def pixels(antialias):
        env = GoalPixelEnv("Reacher-v5", antialias=antialias)
        obs, _ = env.reset(seed=3)
        env.close()
        return obs["pixels"].reshape(3, -1).T

    aliased = set(map(tuple, pixels(0)))
    mixed = sum(tuple(c) not in aliased for c in pixels(4))
    assert mixed > 30
    with pytest.raises(ValueError, match="antialias"):
        GoalPixelEnv("Reacher-v5", antialias=-1)


def test_hidden_markers_leave_only_the_agent_moving():
    # Without its marker, Reacher's frame is the same scene less the target: the pixels that
    # differ are a few, side by side, and reddish on average (the target's colour).
    def frames(show):
        env = GoalPixelEnv("Reacher-v5", show_markers=show)
        obs, info = env.reset(seed=3)
        env.close()
        return obs["pixels"].astype(int), obs["goal"].astype(int)

    (shown, _), (hidden, goal_hidden) = frames(True), frames(False)
    changed = np.abs(shown - hidden).sum(0) > 30
    assert 0 < changed.sum() < 12
    rows, cols = np.nonzero(changed)
    assert np.ptp(rows) <= 3 and np.ptp(cols) <= 3
    assert shown[0][changed].mean() > shown[1][changed].mean()
    assert goal_hidden.shape == hidden.shape
    from worldmodel.envs.goal_pixels import hide_markers

    env = GoalPixelEnv("Reacher-v5")
    with pytest.raises(ValueError, match="no geom or site named 'nothing'"):
        hide_markers(env._sim.model, ("nothing",))
    env.close()


def test_unknown_and_unwrappable_ids_are_clear_errors():
    with pytest.raises(ValueError, match="registered"):
        GoalPixelEnv("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="not a MuJoCo task"):
        GoalPixelEnv("CartPole-v1")


def test_renderer_failure_names_the_packages(monkeypatch):
    import mujoco

    from worldmodel import rendering

    def broken(*args, **kwargs):
        raise RuntimeError("gladLoadGL error")

    monkeypatch.setattr(mujoco, "Renderer", broken)
    with pytest.raises(rendering.RenderingUnavailableError, match="libegl1"):
        rendering.make_renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8)


def test_glfw_with_no_display_is_a_clear_error_not_an_abort(monkeypatch):
    # mujoco imported before the backend was chosen falls back to GLFW, which aborts the
    # process with no display; the renderer refuses first and names the fix.
    import mujoco

    from worldmodel import rendering

    monkeypatch.setattr(rendering.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    with pytest.raises(rendering.RenderingUnavailableError, match="MUJOCO_GL=egl"):
        rendering.make_renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8)


def test_point_room_motor_gear_scales_the_push():
    """A weaker motor: the same room and frames, the agent pushed less by each action."""
    moved = {}
    for gear in (5.0, 2.5):
        env = gym.make("worldmodel/PointRoom-v0", motor_gear=gear)
        _, info = env.reset(seed=0)
        start = info["state"].copy()
        for _ in range(3):
            _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        moved[gear] = info["state"][0] - start[0]
        env.close()
    assert moved[2.5] == pytest.approx(0.5 * moved[5.0], rel=0.02)
