"""PointMaze (gymnasium-robotics' U-maze) from pixels: the maze's geometry, the task as the
project sees it, its scripted expert and its oracle."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest
import torch
import worldmodel.envs  # noqa: F401  (registers the tasks)
from worldmodel.envs.goal_pixels import GoalPixelEnv
from worldmodel.envs.maze import MazeLayout

from worldmodel.data.policies import make_policy
from worldmodel.world_model import MujocoOracle

# Not importorskip: importing gymnasium-robotics imports mujoco, which must come after the
# project has chosen the headless GL backend (at the first environment built), not at
# test collection.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("gymnasium_robotics") is None,
                                reason="gymnasium-robotics is not installed")

U_MAZE = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]


def test_waypoints_follow_the_corridor_round_the_wall():
    maze = MazeLayout.of(U_MAZE)
    np.testing.assert_allclose(maze.centre(np.array([1, 1])), [-1.0, 1.0])
    np.testing.assert_array_equal(maze.cell(np.array([[-1.2, 0.8]])), [[1, 1]])
    # From the top-left cell to the bottom-left one the wall is in the way: the path heads
    # right along the top corridor, down the right side, then left along the bottom.
    pos, goal = np.array([[-1.0, 1.0]]), np.array([[-1.1, -0.9]])
    visited = []
    for _ in range(10):
        pos = maze.waypoint(pos, goal)
        visited.append(tuple(maze.cell(pos)[0]))
        if np.allclose(pos, goal):
            break
    # The goal's cell is entered at its centre; from there the waypoint is the goal itself.
    assert visited == [(1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1), (3, 1)]
    np.testing.assert_allclose(pos, goal)
    with pytest.raises(ValueError, match="free cell"):
        MazeLayout.of([[1, 1], [1, 1]])


def test_point_maze_frames_show_the_ball_and_hide_the_goal_marker():
    env = gym.make("worldmodel/PointMaze-v0")
    obs, info = env.reset(seed=0)
    frame, goal = obs["pixels"].astype(int), obs["goal"].astype(int)
    assert frame.shape == (3, 64, 64)
    # The two frames differ only where the ball is and where it will be: two small blobs.
    # A drawn goal marker would show in both frames at the same place and not differ.
    changed = np.abs(frame - goal).sum(0) > 60
    assert 10 < changed.sum() < 120
    assert not info["is_success"]
    assert set(info) >= {"state", "goal_state", "waypoint"}
    # Seen from above and framed on the free cells: the ball's two positions are far apart
    # in pixels (cells are about 18 pixels wide).
    rows, cols = np.nonzero(changed)
    assert max(np.ptp(rows), np.ptp(cols)) > 10
    env.close()


def test_each_action_is_held_for_action_repeat_task_steps():
    def run(repeat, actions):
        env = GoalPixelEnv("PointMaze_UMaze-v3", action_repeat=repeat, success_radius=0.45,
                           terminate_on_success=False)
        env.reset(seed=4)
        for a in actions:
            _, _, _, _, info = env.step(np.asarray(a, np.float32))
        env.close()
        return info["state"]

    push = [0.7, -0.4]
    np.testing.assert_allclose(run(5, [push]), run(1, [push] * 5), atol=1e-6)
    assert not np.allclose(run(5, [push]), run(1, [push]), atol=1e-3)
    with pytest.raises(ValueError, match="action_repeat"):
        GoalPixelEnv("PointMaze_UMaze-v3", action_repeat=0)


def test_the_scripted_expert_reaches_every_goal():
    env = gym.make("worldmodel/PointMaze-v0")
    expert = make_policy("expert", "worldmodel/PointMaze-v0", action_dim=2)
    rng = np.random.default_rng(0)
    steps = []
    for seed in range(6):
        _, info = env.reset(seed=seed)
        for t in range(100):
            batch = {k: np.asarray(v)[None] for k, v in info.items()}
            _, _, done, _, info = env.step(expert(batch, rng)[0])
            if done:
                steps.append(t + 1)
                break
    env.close()
    assert len(steps) == 6, "the expert failed to reach a goal within 100 steps"


def test_the_oracle_clips_speed_as_the_task_does():
    # Sustained pushes drive the ball past the task's 5 m/s limit, which the task enforces
    # before each of its steps: the oracle must agree with the task step for step.
    env = gym.make("worldmodel/PointMaze-v0", terminate_on_success=False)
    _, info = env.reset(seed=1)
    oracle = MujocoOracle.from_env(env)
    assert (oracle.action_repeat, oracle.velocity_limit) == (5, 5.0)
    actions = np.clip(np.random.default_rng(0).normal(0.0, 1.0, (12, 2)) + [0.0, 0.8], -1, 1)
    actions = actions.astype(np.float32)
    predicted = oracle.rollout(torch.as_tensor(info["state"])[None],
                               torch.as_tensor(actions)[None])[0].numpy()
    true = np.stack([env.step(a)[4]["state"] for a in actions])
    assert np.abs(true[:, 2:]).max() >= 5.0  # the limit was reached
    np.testing.assert_allclose(predicted, true, atol=1e-4)
    env.close()


def test_motor_scale_weakens_the_push_and_leaves_the_frames():
    def first_step(scale):
        env = GoalPixelEnv("PointMaze_UMaze-v3", motor_scale=scale, success_radius=0.45,
                           terminate_on_success=False)
        obs, _ = env.reset(seed=2)
        _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        env.close()
        return obs["pixels"], info["state"][2:]

    frame, velocity = first_step(1.0)
    weak_frame, weak_velocity = first_step(0.5)
    np.testing.assert_array_equal(frame, weak_frame)
    # From rest, with linear damping and no contact, the speed gained is proportional to
    # the force.
    np.testing.assert_allclose(weak_velocity, 0.5 * velocity, atol=1e-6)
    assert velocity[0] > 0.2  # one 10 ms step from rest at full push: 0.24 m/s
    with pytest.raises(ValueError, match="motor_scale"):
        GoalPixelEnv("PointMaze_UMaze-v3", motor_scale=0.0)
