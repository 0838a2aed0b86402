"""The fast path: step the Gymnasium environment's own MjModel/MjData directly.

Each class reproduces one Gymnasium MuJoCo v5 environment (``gymnasium/envs/mujoco/*_v5.py``):
the reset noise drawn from the same seeded generator, ``mujoco.mj_step(model, data,
nstep=frame_skip)``, and the observation, reward terms and termination computed with the same
floating-point operations in the same order, into preallocated buffers, without wrappers or
info dicts. ``tests/test_envs.py`` checks equality with Gymnasium bit for bit, step by step.

Gymnasium calls ``mujoco.mj_rnePostConstraint`` after every step (it fills ``cfrc_ext``,
``cacc``, ``cfrc_int``, which ``mj_step`` never reads). The fast path calls it only for the
environments that use ``cfrc_ext`` (Ant, Humanoid); the step-by-step tests confirm the
trajectories of the others are unchanged bit for bit.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from trustopt._validation import ValidationError
from trustopt.envs._base import EnvState, RolloutEnv, _clip
from trustopt.envs._registry import SURVIVAL_BONUS_FAMILIES, family

_mj_step = mujoco.mj_step
_mj_forward = mujoco.mj_forward
_mj_rne_post = mujoco.mj_rnePostConstraint
# np.sum(x) is np.add.reduce(x) behind two Python wrappers: same pairwise summation, same bits
_sum = np.add.reduce
_square = np.square
_isfinite = math.isfinite  # np.isfinite(x).all() == all(map(_isfinite, x.tolist()))
# _clip(x, lo, hi, out=o): the ufunc np.clip(x, lo, hi, out=o) calls, without its two Python wrappers


#: seed -> ``PCG64(SeedSequence(seed)).state``, the bit generator of
#: ``gymnasium.utils.seeding.np_random(seed)`` before any draw (a pure function of the seed; the
#: dicts are never mutated). Setting a cached state costs about a tenth of hashing the seed again,
#: and antithetic rollouts reset twice with each seed. Oldest entries go first beyond the bound.
_SEEDED_STATES: dict[int, dict] = {}
_SEEDED_STATES_MAX = 1024


class FastMujocoEnv(RolloutEnv):
    """Base of the fast-path environments (see module docstring). ``p`` holds the v5 keywords."""

    fast = True
    qvel_noise = "uniform"  # or "normal": qvel = init_qvel + scale * standard_normal(nv)

    def __init__(self, env_id: str, kwargs: dict, params: dict, gym_env, max_episode_steps: int):
        u = gym_env.unwrapped
        self.env_id = env_id
        self.kwargs = dict(kwargs)
        self.p = params
        self.removes_survival_bonus = family(env_id) in SURVIVAL_BONUS_FAMILIES
        self._gym_env = gym_env  # owns model/data (and rendering); its step is never called
        self.model, self.data = u.model, u.data
        self.frame_skip = int(u.frame_skip)
        self.dt = u.dt
        self.max_episode_steps = int(max_episode_steps)
        self.init_qpos = u.init_qpos.copy()
        self.init_qvel = u.init_qvel.copy()
        self.action_low = u.action_space.low.astype(np.float64)
        self.action_high = u.action_space.high.astype(np.float64)
        self.act_dim = int(self.model.nu)
        self.obs_dim = int(u.observation_space.shape[0])
        d = self.data
        self._qpos, self._qvel, self._ctrl = d.qpos, d.qvel, d.ctrl
        self._action_buf = d.ctrl  # actions are written straight into MjData.ctrl
        self._sq = np.zeros(self.act_dim)
        # one generator for the env's life, re-seeded in place by reset(seed=...)
        self._bitgen = np.random.PCG64()
        self._np_random = np.random.Generator(self._bitgen)
        self._seeded = False  # reset(seed=None) before any seed draws fresh entropy, as Gymnasium
        self._noise_scale = params["reset_noise_scale"]
        self._cw = params.get("ctrl_cost_weight")
        super().__init__()
        self._setup()

    def _setup(self) -> None:
        """Cache views into ``data`` and ``self._obs`` (subclasses)."""

    def close(self) -> None:
        self._gym_env.close()

    # --- state save / restore (TRPO's vine: many rollouts branching from one visited state) ---
    def get_state(self) -> EnvState:
        """A snapshot of the episode now: all of ``MjData`` (``mj_copyData``), the observation
        and the step count. :meth:`set_state` restores it so that stepping on with the same
        actions reproduces the original continuation bit for bit (derived quantities such as
        ``cfrc_ext`` or ``xipos`` included, which ``qpos``/``qvel`` alone would not restore)."""
        if self._elapsed is None:
            raise RuntimeError("get_state() called before reset()")
        snap = mujoco.MjData(self.model)
        mujoco.mj_copyData(snap, self.model, self.data)
        return EnvState(env_id=self.env_id, data=snap, obs=self._obs.copy(), elapsed=self._elapsed)

    def set_state(self, state: EnvState) -> np.ndarray:
        """Restore a :meth:`get_state` snapshot of this environment; returns its observation (a copy)."""
        self._restore(state)
        self._elapsed = state.elapsed
        return self._obs.copy()

    def _restore(self, state: EnvState) -> None:
        if not isinstance(state, EnvState) or state.env_id != self.env_id or state.obs.shape != self._obs.shape:
            raise ValidationError(f"state: not a snapshot of this {self.env_id} environment")
        mujoco.mj_copyData(self.data, self.model, state.data)
        self._obs[:] = state.obs

    # --- reset -------------------------------------------------------------------------------
    def _reset_obs(self, seed) -> None:
        # the generator of gymnasium.utils.seeding.np_random(seed): Generator(PCG64(SeedSequence(seed)))
        if seed is not None:
            seed = int(seed)
            state = _SEEDED_STATES.get(seed)
            if state is None:  # hash the seed; adopt that bit generator, remember its state
                bitgen = np.random.PCG64(np.random.SeedSequence(seed))
                if len(_SEEDED_STATES) >= _SEEDED_STATES_MAX:
                    del _SEEDED_STATES[next(iter(_SEEDED_STATES))]
                _SEEDED_STATES[seed] = bitgen.state
                self._bitgen = bitgen
                self._np_random = np.random.Generator(bitgen)
            else:
                self._bitgen.state = state
            self._seeded = True
        elif not self._seeded:
            self._bitgen.state = np.random.PCG64(np.random.SeedSequence(None)).state
            self._seeded = True
        rng = self._np_random
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        s = self._noise_scale
        # qpos = init_qpos + noise, written in place (same operation, no temporaries)
        np.add(self.init_qpos, rng.uniform(low=-s, high=s, size=m.nq), out=self._qpos)
        if self.qvel_noise == "uniform":
            np.add(self.init_qvel, rng.uniform(low=-s, high=s, size=m.nv), out=self._qvel)
        else:
            np.add(self.init_qvel, s * rng.standard_normal(m.nv), out=self._qvel)
        _mj_forward(m, d)
        self._write_obs()

    def _advance(self, action):
        self._ctrl[:] = action
        return self._advance_buf()

    def _write_obs(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _ctrl_cost(self, action: np.ndarray) -> float:
        """``ctrl_cost_weight * sum(action^2)`` (np.sum: the same pairwise sum as Gymnasium)."""
        return self._cw * _sum(_square(action, out=self._sq))


class _PlanarLocomotion(FastMujocoEnv):
    """Shared by Swimmer, HalfCheetah, Hopper, Walker2d: obs = (qpos[k:], f(qvel)).

    Its step is Swimmer's and HalfCheetah's: r = w_f * dx/dt - w_c * |a|^2, never terminates
    (dx/dt from qpos[0]); Hopper and Walker2d add the healthy reward (:class:`_HealthyPlanar`).
    """

    skip = 1  # leading qpos entries excluded from the observation
    clip_qvel = False  # Hopper and Walker2d clip qvel to [-10, 10] in the observation

    def _setup(self):
        k = self.skip if self.p["exclude_current_positions_from_observation"] else 0
        nq = self.model.nq
        self._qpos_obs = self._qpos[k:]
        self._obs_pos = self._obs[: nq - k]
        self._obs_vel = self._obs[nq - k :]
        self._fw = self.p["forward_reward_weight"]
        # the bounds of np.clip(qvel, -10, 10) as arrays (the same float64 values; no scalar conversion per call)
        self._vel_lo, self._vel_hi = np.full(self.model.nv, -10.0), np.full(self.model.nv, 10.0)

    def _write_obs(self):
        self._obs_pos[:] = self._qpos_obs
        if self.clip_qvel:
            _clip(self._qvel, self._vel_lo, self._vel_hi, out=self._obs_vel)
        else:
            self._obs_vel[:] = self._qvel

    def _forward_step(self) -> float:
        """``frame_skip`` MuJoCo steps with the action in ``ctrl``, then the observation;
        returns ``dx/dt`` of ``qpos[0]``."""
        qpos = self._qpos
        x0 = qpos[0]
        _mj_step(self.model, self.data, nstep=self.frame_skip)
        x_velocity = (qpos[0] - x0) / self.dt
        self._write_obs()
        return x_velocity

    def _advance_buf(self):
        action = self._ctrl  # the rollout loop (or _advance) wrote the action here
        x_velocity = self._forward_step()
        reward = self._fw * x_velocity - self._ctrl_cost(action)
        return reward, 0.0, False


class SwimmerV5(_PlanarLocomotion):
    """Swimmer-v5: r = w_f * dx/dt - w_c * |a|^2, never terminates (x-velocity of qpos[0])."""

    skip = 2


class HalfCheetahV5(_PlanarLocomotion):
    """HalfCheetah-v5: r = w_f * dx/dt - w_c * |a|^2, never terminates."""

    qvel_noise = "normal"


class _HealthyPlanar(_PlanarLocomotion):
    """Hopper, Walker2d: r = (w_f * dx/dt + healthy * h) - w_c * |a|^2, terminated = not healthy."""

    clip_qvel = True

    def _setup(self):
        super()._setup()
        p = self.p
        self._h = p["healthy_reward"]
        self._z_lo, self._z_hi = p["healthy_z_range"]
        self._ang_lo, self._ang_hi = p["healthy_angle_range"]
        self._terminate = bool(p["terminate_when_unhealthy"])

    def _advance_buf(self):
        action = self._ctrl  # the rollout loop (or _advance) wrote the action here
        x_velocity = self._forward_step()
        healthy = self._is_healthy()
        survive = healthy * self._h
        reward = (self._fw * x_velocity + survive) - self._ctrl_cost(action)
        return reward, survive, (not healthy) and self._terminate

    def _is_healthy(self) -> bool:
        qpos = self._qpos
        z, angle = qpos[1], qpos[2]
        return bool(self._z_lo < z < self._z_hi and self._ang_lo < angle < self._ang_hi)


class HopperV5(_HealthyPlanar):
    """Hopper-v5; healthy also needs every entry of (qpos[2:], qvel) strictly inside healthy_state_range."""

    def _setup(self):
        super()._setup()
        self._st_lo, self._st_hi = self.p["healthy_state_range"]
        self._qpos_state = self._qpos[2:]

    def _is_healthy(self) -> bool:
        if not super()._is_healthy():
            return False
        lo, hi = self._st_lo, self._st_hi
        # Gymnasium's np.all((lo < s) & (s < hi)) on Python floats: the same exact comparisons
        # (NaN fails them), without four array reductions
        for v in self._qpos_state.tolist():
            if not lo < v < hi:
                return False
        for v in self._qvel.tolist():
            if not lo < v < hi:
                return False
        return True


class Walker2dV5(_HealthyPlanar):
    """Walker2d-v5 (healthy: z and angle ranges)."""


class AntV5(FastMujocoEnv):
    """Ant-v5: r = (w_f * dx/dt + healthy * h) - (w_c |a|^2 + w_k |clip(cfrc_ext)|^2).

    dx/dt from the main body's xpos; obs = (qpos[2:], qvel, clip(cfrc_ext)[1:]);
    healthy = finite(qpos, qvel) and z_lo <= qpos[2] <= z_hi.
    """

    qvel_noise = "normal"

    def _setup(self):
        p, m, d = self.p, self.model, self.data
        body = p["main_body"]
        body_id = body if isinstance(body, (int, np.integer)) else mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body)
        self._main_xpos = d.xpos[int(body_id)]
        k = 2 if p["exclude_current_positions_from_observation"] else 0
        nq, nv = m.nq, m.nv
        self._qpos_obs = self._qpos[k:]
        self._obs_pos = self._obs[: nq - k]
        self._obs_vel = self._obs[nq - k : nq - k + nv]
        self._cfrc = d.cfrc_ext
        self._cf = np.zeros_like(self._cfrc)  # clipped contact forces, all bodies
        self._cf_sq = np.zeros_like(self._cfrc)
        self._with_cfrc = bool(p["include_cfrc_ext_in_observation"])
        self._obs_cf = self._obs[nq - k + nv :].reshape(-1, 6) if self._with_cfrc else None
        lo, hi = p["contact_force_range"]  # as arrays: the same float64 values as np.clip's scalars
        self._cf_lo, self._cf_hi = np.full(self._cfrc.shape, float(lo)), np.full(self._cfrc.shape, float(hi))
        self._fw, self._h, self._kw = p["forward_reward_weight"], p["healthy_reward"], p["contact_cost_weight"]
        self._z_lo, self._z_hi = p["healthy_z_range"]
        self._terminate = bool(p["terminate_when_unhealthy"])

    def _write_obs(self):
        self._obs_pos[:] = self._qpos_obs
        self._obs_vel[:] = self._qvel
        _clip(self._cfrc, self._cf_lo, self._cf_hi, out=self._cf)
        if self._with_cfrc:
            self._obs_cf[:] = self._cf[1:]

    def _advance_buf(self):
        action = self._ctrl  # the rollout loop (or _advance) wrote the action here
        xpos = self._main_xpos
        x0 = xpos[0]
        m, d = self.model, self.data
        _mj_step(m, d, nstep=self.frame_skip)
        _mj_rne_post(m, d)
        x_velocity = (xpos[0] - x0) / self.dt
        self._write_obs()
        qpos, qvel = self._qpos, self._qvel
        z = qpos[2]
        # np.isfinite(qpos).all() and np.isfinite(qvel).all(), on Python floats
        healthy = bool(all(map(_isfinite, qpos.tolist())) and all(map(_isfinite, qvel.tolist()))
                       and self._z_lo <= z <= self._z_hi)
        survive = healthy * self._h
        contact_cost = self._kw * _sum(_square(self._cf, out=self._cf_sq), axis=None)
        reward = (x_velocity * self._fw + survive) - (self._ctrl_cost(action) + contact_cost)
        return reward, survive, (not healthy) and self._terminate


class HumanoidV5(FastMujocoEnv):
    """Humanoid-v5: r = (w_f * dxc/dt + healthy * h) - (w_c |ctrl|^2 + clip(w_k |cfrc_ext|^2)).

    xc: the centre of mass ``sum_b m_b xipos_b / sum_b m_b`` (x, y); obs = (qpos[2:], qvel,
    cinert[1:], cvel[1:], qfrc_actuator[6:], cfrc_ext[1:]) (each part optional);
    healthy = z_lo < qpos[2] < z_hi.
    """

    def _setup(self):
        p, m, d = self.p, self.model, self.data
        k = 2 if p["exclude_current_positions_from_observation"] else 0
        self._mass = m.body_mass
        self._mass_sum = m.body_mass.sum()
        self._xipos = d.xipos
        parts = [(self._qpos[k:]), (self._qvel)]
        if p["include_cinert_in_observation"]:
            parts.append(d.cinert[1:])
        if p["include_cvel_in_observation"]:
            parts.append(d.cvel[1:])
        if p["include_qfrc_actuator_in_observation"]:
            parts.append(d.qfrc_actuator[6:])
        if p["include_cfrc_ext_in_observation"]:
            parts.append(d.cfrc_ext[1:])
        self._parts = []
        i = 0
        for src in parts:
            n = src.size
            self._parts.append((src, self._obs[i : i + n].reshape(src.shape)))
            i += n
        self._cfrc = d.cfrc_ext
        self._cf_sq = np.zeros_like(self._cfrc)
        self._fw, self._h, self._kw = p["forward_reward_weight"], p["healthy_reward"], p["contact_cost_weight"]
        self._cc_lo, self._cc_hi = p["contact_cost_range"]
        self._z_lo, self._z_hi = p["healthy_z_range"]
        self._terminate = bool(p["terminate_when_unhealthy"])

    def _write_obs(self):
        for src, dst in self._parts:
            dst[...] = src

    def _mass_center_x(self):
        return (np.einsum("b,bj->j", self._mass, self._xipos) / self._mass_sum)[0]

    def _advance_buf(self):
        x0 = self._mass_center_x()
        m, d = self.model, self.data
        _mj_step(m, d, nstep=self.frame_skip)
        _mj_rne_post(m, d)
        x_velocity = (self._mass_center_x() - x0) / self.dt
        self._write_obs()
        healthy = bool(self._z_lo < self._qpos[2] < self._z_hi)
        survive = healthy * self._h
        contact_cost = self._kw * _sum(_square(self._cfrc, out=self._cf_sq), axis=None)
        if contact_cost < self._cc_lo:  # np.clip(contact_cost, lo, hi) (NaN stays NaN)
            contact_cost = self._cc_lo
        elif contact_cost > self._cc_hi:
            contact_cost = self._cc_hi
        ctrl_cost = self._cw * _sum(_square(self._ctrl, out=self._sq))
        reward = (self._fw * x_velocity + survive) - (ctrl_cost + contact_cost)
        return reward, survive, (not healthy) and self._terminate


class InvertedPendulumV5(FastMujocoEnv):
    """InvertedPendulum-v5: obs = (qpos, qvel); terminated = not finite(obs) or |qpos[1]| > 0.2; r = 1 - terminated."""

    def _setup(self):
        nq = self.model.nq
        self._obs_pos = self._obs[:nq]
        self._obs_vel = self._obs[nq:]

    def _write_obs(self):
        self._obs_pos[:] = self._qpos
        self._obs_vel[:] = self._qvel

    def _advance_buf(self):
        _mj_step(self.model, self.data, nstep=self.frame_skip)
        self._write_obs()
        o = self._obs.tolist()  # Python floats: isfinite and abs as np.isfinite and np.abs
        terminated = not all(map(_isfinite, o)) or abs(o[1]) > 0.2
        reward = 0.0 if terminated else 1.0
        return reward, reward, terminated


class InvertedDoublePendulumV5(FastMujocoEnv):
    """InvertedDoublePendulum-v5: obs = (qpos[0], sin qpos[1:], cos qpos[1:], clip(qvel), clip(qfrc_constraint)[0]);
    (x, _, y) = site_xpos[0]; terminated = y <= 1;
    r = h (not terminated) - (0.01 x^2 + (y - 2)^2) - (1e-3 v1^2 + 5e-3 v2^2)."""

    qvel_noise = "normal"

    def _setup(self):
        d = self.data
        nq, nv = self.model.nq, self.model.nv
        o = self._obs
        self._o_x = o[:1]
        self._o_sin = o[1:nq]
        self._o_cos = o[nq : 2 * nq - 1]
        self._o_vel = o[2 * nq - 1 : 2 * nq - 1 + nv]
        self._o_qfrc = o[2 * nq - 1 + nv :]
        self._qpos0 = self._qpos[:1]
        self._qpos_ang = self._qpos[1:]
        self._qfrc0 = d.qfrc_constraint[:1]
        self._site0 = d.site_xpos[0]
        self._h = self.p["healthy_reward"]
        # the bounds of np.clip(., -10, 10) as arrays (the same float64 values)
        self._lo10, self._hi10 = np.full(nv, -10.0), np.full(nv, 10.0)
        self._lo10_1, self._hi10_1 = self._lo10[:1], self._hi10[:1]

    def _write_obs(self):
        self._o_x[:] = self._qpos0
        np.sin(self._qpos_ang, out=self._o_sin)
        np.cos(self._qpos_ang, out=self._o_cos)
        _clip(self._qvel, self._lo10, self._hi10, out=self._o_vel)
        _clip(self._qfrc0, self._lo10_1, self._hi10_1, out=self._o_qfrc)

    def _advance_buf(self):
        _mj_step(self.model, self.data, nstep=self.frame_skip)
        site = self._site0
        x, y = site[0], site[2]  # the np.float64 scalars of Gymnasium's ``x, _, y = site_xpos[0]``
        self._write_obs()
        terminated = bool(y <= 1)
        qvel = self._qvel
        v1, v2 = qvel[1], qvel[2]
        dist_penalty = 0.01 * x**2 + (y - 2) ** 2
        vel_penalty = 1e-3 * v1**2 + 5e-3 * v2**2
        alive_bonus = self._h * int(not terminated)
        reward = alive_bonus - dist_penalty - vel_penalty
        return reward, alive_bonus, terminated


FAST_CLASSES: dict[str, type[FastMujocoEnv]] = {
    "Swimmer-v5": SwimmerV5,
    "HalfCheetah-v5": HalfCheetahV5,
    "Hopper-v5": HopperV5,
    "Walker2d-v5": Walker2dV5,
    "Ant-v5": AntV5,
    "Humanoid-v5": HumanoidV5,
    "InvertedPendulum-v5": InvertedPendulumV5,
    "InvertedDoublePendulum-v5": InvertedDoublePendulumV5,
}
