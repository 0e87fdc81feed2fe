"""Dispatch planning: which devices curtail, and how far, to meet a target.

The planner chooses a fraction in [0, 1] of each device's flexibility so that
the fleet delivers ``target_kw * (1 + margin)`` at the least customer impact.
Each device's flexibility arrives already bounded by its health-and-safety
limits, so every fraction in [0, 1] is a safe command.

The model, solved as a mixed-integer program with HiGHS or by a greedy fill:

* decision ``x_i`` per device, continuous for divisible devices (thermostat
  offset, battery power, EV charge limit) and binary for on/off devices
  (water heaters);
* cost per kW of device ``i``:
  ``DISPATCH_COST_PER_KW + impact_i + rotation_weight * events_i / cap_i``,
  so the cost grows with the share of its season cap that the site has used
  (rotation). A site at or past its cap is never dispatched;
* one row ``sum(flex_i * x_i) >= required_kw``. A fleet whose eligible
  flexibility does not reach ``required_kw`` dispatches every eligible device
  in full and reports the gap as ``shortfall_kw``, without a solve;
* one row per site that could carry more than ``max_site_share`` of the
  required kW. The overflow above that share is penalised above the cost of
  any device, so the plan spreads the load across sites first and
  concentrates it only when the target needs it. An override or a lost
  connection at one site then costs at most a small share of the event.

The season caps come from the program terms (see ``ProgramTerms`` in
:mod:`coflex.domain.programs`). The MIP and LP solver is HiGHS 1.15.1
(https://highs.dev) through its Python interface, highspy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import highspy
import numpy as np

from coflex.errors import InputError, PlanningError, RequestError

logger = logging.getLogger(__name__)

# Cost of each dispatched kW on top of customer impact, so that a device with
# no comfort impact (a battery) stays in reserve when it is not needed.
DISPATCH_COST_PER_KW = 0.01
DEFAULT_ROTATION_WEIGHT = 0.5
DEFAULT_MAX_SITE_SHARE = 0.05
DEFAULT_MARGIN = 0.10
# Relative MIP gap at which HiGHS stops (0.1 %), well inside the 1 % goal.
MIP_REL_GAP = 1e-3
METHODS = ("highs", "greedy")

_ARRAY_FIELDS = (
    "device_id",
    "site_id",
    "flex_kw",
    "divisible",
    "impact",
    "events_this_season",
    "max_events_per_season",
)


@dataclass(frozen=True)
class Candidates:
    """Devices eligible for one event, one array element per device.

    Attributes
    ----------
    device_id, site_id : np.ndarray of int64
        Device and site of each candidate. Device ids are unique.
    flex_kw : np.ndarray of float64
        Average reduction over the event at full allowed control [kW], >= 0,
        already within the device's health-and-safety limits.
    divisible : np.ndarray of bool
        True if any fraction of ``flex_kw`` can be commanded, False for
        on/off devices.
    impact : np.ndarray of float64
        Customer impact per kW at full control [1/kW], >= 0.
    events_this_season, max_events_per_season : np.ndarray of int64
        The site's events so far this season and its season cap.

    Raises
    ------
    InputError
        If the arrays differ in length, are not one-dimensional, contain NaN
        or negative values, or repeat a device id.
    """

    device_id: np.ndarray
    site_id: np.ndarray
    flex_kw: np.ndarray
    divisible: np.ndarray
    impact: np.ndarray
    events_this_season: np.ndarray
    max_events_per_season: np.ndarray

    def __post_init__(self) -> None:
        dtypes = (np.int64, np.int64, np.float64, bool, np.float64, np.int64, np.int64)
        for name, dtype in zip(_ARRAY_FIELDS, dtypes, strict=True):
            object.__setattr__(self, name, _as_array(name, getattr(self, name), dtype))
        _validate_candidates(self)

    def __len__(self) -> int:
        return int(self.device_id.shape[0])


@dataclass(frozen=True)
class Plan:
    """The dispatch chosen for one event.

    Attributes
    ----------
    fraction : np.ndarray of float64
        Share of each candidate's ``flex_kw`` to dispatch, in [0, 1]; 0 keeps
        the device in reserve. On/off devices get exactly 0 or 1.
    planned_kw : float
        ``sum(flex_kw * fraction)`` [kW].
    target_kw : float
        Requested reduction [kW].
    margin : float
        Planned share above the target, covering devices that drop out.
    shortfall_kw : float
        ``max(0, target_kw * (1 + margin) - planned_kw)`` [kW].
    objective : float
        Minimised cost: impact and rotation cost of the dispatched kW plus the
        penalty on kW above a site's share.
    method : str
        "highs" or "greedy"; "greedy" also when HiGHS was requested and failed.
    solve_seconds : float
        Wall time of the planning call [s].
    fallback_reason : str or None
        Why HiGHS was not used although requested, else None.
    """

    fraction: np.ndarray
    planned_kw: float
    target_kw: float
    margin: float
    shortfall_kw: float
    objective: float
    method: str
    solve_seconds: float
    fallback_reason: str | None = None

    @property
    def required_kw(self) -> float:
        """Target including the margin [kW]."""
        return self.target_kw * (1.0 + self.margin)


@dataclass(frozen=True)
class _Problem:
    """The decision devices of one planning call and the rows around them."""

    index: np.ndarray  # candidate positions of the decision devices
    flex_kw: np.ndarray
    cost_per_kw: np.ndarray
    binary: np.ndarray
    site_code: np.ndarray  # position of each device's site in site_room_kw
    site_room_kw: np.ndarray  # kW each site takes before the overflow penalty
    required_kw: float  # kW still to plan on top of any fixed dispatch
    overflow_penalty_per_kw: float

    @property
    def tolerance_kw(self) -> float:
        return 1e-9 * max(1.0, self.required_kw)


@dataclass(frozen=True)
class _Weights:
    rotation_weight: float
    max_site_share: float


def plan(
    c: Candidates,
    target_kw: float,
    *,
    margin: float = DEFAULT_MARGIN,
    method: str = "highs",
    rotation_weight: float = DEFAULT_ROTATION_WEIGHT,
    max_site_share: float = DEFAULT_MAX_SITE_SHARE,
    time_limit_s: float = 2.0,
) -> Plan:
    """Plan the dispatch that meets ``target_kw * (1 + margin)`` at least cost.

    Parameters
    ----------
    c : Candidates
        Eligible devices with their flexibility within safety limits.
    target_kw : float
        Requested reduction [kW], > 0.
    margin : float
        Extra share planned above the target, >= 0 (0.10 plans 110 %).
    method : {"highs", "greedy"}
        Mixed-integer program solved by HiGHS, or the greedy fill by cost per
        kW. HiGHS falls back to greedy if it fails or finds no solution in
        ``time_limit_s``.
    rotation_weight : float
        Cost per kW added for a site that has used its whole season cap,
        scaled by the share used, >= 0.
    max_site_share : float
        Share of the required kW that one site carries before the overflow
        penalty applies, in (0, 1].
    time_limit_s : float
        HiGHS time limit [s], > 0.

    Returns
    -------
    Plan
        The fractions, with the shortfall reported if the fleet cannot meet
        the target.

    Raises
    ------
    RequestError
        If the target, margin or a setting is out of range.
    """
    started = time.perf_counter()
    weights = _validate_settings(
        target_kw, margin, method, rotation_weight, max_site_share, time_limit_s
    )
    required_kw = target_kw * (1.0 + margin)
    everyone = np.ones(len(c), dtype=bool)
    problem = _build_problem(
        c, weights, required_kw, everyone, np.zeros(len(c)), required_kw
    )
    x, used, reason = _solve(problem, method, time_limit_s)

    fraction = np.zeros(len(c))
    fraction[problem.index] = x
    return _finish(c, fraction, target_kw, margin, weights, used, reason, started)


def cover_shortfall(
    c: Candidates,
    current: Plan,
    released: np.ndarray,
    *,
    method: str = "greedy",
    rotation_weight: float = DEFAULT_ROTATION_WEIGHT,
    max_site_share: float = DEFAULT_MAX_SITE_SHARE,
    time_limit_s: float = 2.0,
) -> Plan:
    """Replace released devices with reserve devices during an event.

    Released devices (overridden, released for safety, out of contact) go to
    0 and are never picked again in this event. Devices still dispatched keep
    their fraction, so no command already sent changes. Reserve devices
    (fraction 0) are added, cheapest first, until the target with its margin
    is met again or the reserve runs out. A remaining gap is reported in
    ``shortfall_kw``.

    Parameters
    ----------
    c : Candidates
        The candidates that ``current`` was planned over.
    current : Plan
        The plan in force.
    released : np.ndarray of bool
        True for each candidate released from the event.
    method, rotation_weight, max_site_share, time_limit_s
        As for :func:`plan`; pass the settings used for ``current``.

    Returns
    -------
    Plan
        The updated plan over the same candidates.

    Raises
    ------
    InputError
        If ``current`` or ``released`` do not match the candidates.
    """
    started = time.perf_counter()
    released = _validate_cover(c, current, released)
    weights = _validate_settings(
        current.target_kw,
        current.margin,
        method,
        rotation_weight,
        max_site_share,
        time_limit_s,
    )

    still_dispatched = np.where(released, 0.0, current.fraction)
    reserve = (still_dispatched == 0.0) & ~released
    missing_kw = current.required_kw - float(np.dot(c.flex_kw, still_dispatched))
    problem = _build_problem(
        c, weights, max(0.0, missing_kw), reserve, still_dispatched, current.required_kw
    )
    x, used, reason = _solve(problem, method, time_limit_s)

    fraction = still_dispatched.copy()
    fraction[problem.index] = x
    return _finish(
        c, fraction, current.target_kw, current.margin, weights, used, reason, started
    )


def relaxation_bound(
    c: Candidates,
    target_kw: float,
    *,
    margin: float = DEFAULT_MARGIN,
    rotation_weight: float = DEFAULT_ROTATION_WEIGHT,
    max_site_share: float = DEFAULT_MAX_SITE_SHARE,
) -> float:
    """Solve the LP relaxation of :func:`plan` and return its optimal objective.

    With on/off devices relaxed to [0, 1], the value is a lower bound on the
    objective of any plan, so ``plan.objective / bound - 1`` bounds its gap to
    the optimum. A fleet that cannot meet the target has one plan, every
    eligible device in full, and the bound is its objective.

    Raises
    ------
    PlanningError
        If HiGHS does not return an optimal LP solution.
    """
    weights = _validate_settings(
        target_kw, margin, "highs", rotation_weight, max_site_share, 1.0
    )
    required_kw = target_kw * (1.0 + margin)
    everyone = np.ones(len(c), dtype=bool)
    problem = _build_problem(
        c, weights, required_kw, everyone, np.zeros(len(c)), required_kw
    )
    if problem.flex_kw.sum() <= required_kw + problem.tolerance_kw:
        return _problem_objective(problem, np.ones(len(problem.index)))

    highs = _highs_model(problem, relax=True, time_limit_s=float("inf"))
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise PlanningError(
            f"HiGHS returned {highs.modelStatusToString(status)!r} for the LP "
            "relaxation; the bound is undefined, so check the candidates.",
            value=str(status),
        )
    return float(highs.getInfo().objective_function_value)


# -- validation --


def _as_array(name: str, values: object, dtype: type) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(
            f"Candidates.{name} has shape {array.shape}; pass a one-dimensional "
            "array with one element per device.",
            value=array.shape,
            field=name,
        )
    if dtype is not bool and array.dtype.kind == "f" and np.isnan(array).any():
        first = int(np.flatnonzero(np.isnan(array))[0])
        raise InputError(
            f"Candidates.{name} is NaN at position {first}; every device needs "
            "a number, so drop the device or compute the value first.",
            value=first,
            field=name,
        )
    if dtype is not np.float64 and array.size and array.dtype.kind == "f":
        if not np.array_equal(array, np.round(array)):
            raise InputError(
                f"Candidates.{name} has non-integer values; pass integers.",
                value=array[array != np.round(array)][:3].tolist(),
                field=name,
            )
    return array.astype(dtype)


def _validate_candidates(c: Candidates) -> None:
    lengths = {name: getattr(c, name).shape[0] for name in _ARRAY_FIELDS}
    if len(set(lengths.values())) > 1:
        raise InputError(
            f"Candidates arrays differ in length: {lengths}; pass one element "
            "per device in every array.",
            value=lengths,
        )
    for name in ("flex_kw", "impact"):
        values = getattr(c, name)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"Candidates.{name} is {values[first]!r} for device "
                f"{int(c.device_id[first])}; it must be finite and >= 0, so clip "
                "or drop the device before planning.",
                value=float(values[first]),
                field=name,
            )
    for name in ("events_this_season", "max_events_per_season"):
        values = getattr(c, name)
        if (values < 0).any():
            first = int(np.flatnonzero(values < 0)[0])
            raise InputError(
                f"Candidates.{name} is {int(values[first])} for device "
                f"{int(c.device_id[first])}; event counts must be >= 0.",
                value=int(values[first]),
                field=name,
            )
    if np.unique(c.device_id).shape[0] != c.device_id.shape[0]:
        raise InputError(
            "Candidates.device_id repeats a device; list each device once.",
            field="device_id",
        )


def _validate_settings(
    target_kw: float,
    margin: float,
    method: str,
    rotation_weight: float,
    max_site_share: float,
    time_limit_s: float,
) -> _Weights:
    checks = (
        ("target_kw", target_kw, np.isfinite(target_kw) and target_kw > 0, "> 0 kW"),
        ("margin", margin, np.isfinite(margin) and margin >= 0, ">= 0"),
        (
            "rotation_weight",
            rotation_weight,
            np.isfinite(rotation_weight) and rotation_weight >= 0,
            ">= 0",
        ),
        ("max_site_share", max_site_share, 0 < max_site_share <= 1, "in (0, 1]"),
        ("time_limit_s", time_limit_s, time_limit_s > 0, "> 0 s"),
    )
    for name, value, valid, allowed in checks:
        if not valid:
            raise RequestError(
                f"{name} is {value!r}; it must be {allowed}. Correct the request "
                "or the planner settings.",
                value=value,
                field=name,
            )
    if method not in METHODS:
        raise RequestError(
            f"method is {method!r}; use one of {', '.join(METHODS)}.",
            value=method,
            field="method",
        )
    return _Weights(float(rotation_weight), float(max_site_share))


def _validate_cover(c: Candidates, current: Plan, released: np.ndarray) -> np.ndarray:
    released = np.asarray(released)
    if released.dtype != bool or released.shape != (len(c),):
        raise InputError(
            f"released has dtype {released.dtype} and shape {released.shape}; "
            f"pass a bool array with one element per candidate ({len(c)}).",
            value=released.shape,
            field="released",
        )
    if current.fraction.shape != (len(c),):
        raise InputError(
            f"current plan covers {current.fraction.shape[0]} devices but there "
            f"are {len(c)} candidates; pass the candidates the plan was made for.",
            value=current.fraction.shape[0],
            field="current",
        )
    return released


# -- model --


def cost_per_kw(c: Candidates, rotation_weight: float) -> np.ndarray:
    """Return each candidate's cost per dispatched kW.

    The cost is ``DISPATCH_COST_PER_KW + impact + rotation_weight * used``,
    where ``used`` is the share of the site's season cap already taken, so a
    site that took part more often is asked later.
    """
    caps = np.maximum(c.max_events_per_season, 1)
    used = np.minimum(c.events_this_season / caps, 1.0)
    return DISPATCH_COST_PER_KW + c.impact + rotation_weight * used


def _overflow_penalty(cost: np.ndarray) -> float:
    # Moving a kW to a dearer device costs less than the dearest device, so a
    # penalty above that makes the optimum spread across sites first.
    max_cost = float(cost.max()) if len(cost) else DISPATCH_COST_PER_KW
    return 2.0 * max_cost + 1.0


def _build_problem(
    c: Candidates,
    weights: _Weights,
    required_kw: float,
    allowed: np.ndarray,
    fixed_fraction: np.ndarray,
    total_required_kw: float,
) -> _Problem:
    cost = cost_per_kw(c, weights.rotation_weight)
    under_cap = c.events_this_season < c.max_events_per_season
    index = np.flatnonzero(allowed & under_cap & (c.flex_kw > 0))

    sites, site_code = np.unique(c.site_id[index], return_inverse=True)
    fixed_kw = c.flex_kw * fixed_fraction
    fixed_by_site = _site_sums(c.site_id, fixed_kw, sites)
    room = np.maximum(weights.max_site_share * total_required_kw - fixed_by_site, 0.0)

    return _Problem(
        index=index,
        flex_kw=c.flex_kw[index],
        cost_per_kw=cost[index],
        binary=~c.divisible[index],
        site_code=site_code.astype(np.int64),
        site_room_kw=room,
        required_kw=required_kw,
        overflow_penalty_per_kw=_overflow_penalty(cost),
    )


def _site_sums(
    site_id: np.ndarray, values: np.ndarray, sites: np.ndarray
) -> np.ndarray:
    """Sum ``values`` per site for each site in the sorted array ``sites``."""
    if len(sites) == 0:
        return np.zeros(0)
    position = np.minimum(np.searchsorted(sites, site_id), len(sites) - 1)
    known = sites[position] == site_id
    return np.bincount(position[known], weights=values[known], minlength=len(sites))


def _objective(
    c: Candidates, fraction: np.ndarray, required_kw: float, weights: _Weights
) -> float:
    cost = cost_per_kw(c, weights.rotation_weight)
    dispatched_kw = c.flex_kw * fraction
    sites, site_code = np.unique(c.site_id, return_inverse=True)
    load_kw = np.bincount(site_code, weights=dispatched_kw, minlength=len(sites))
    overflow_kw = np.maximum(load_kw - weights.max_site_share * required_kw, 0.0)
    return float(
        np.dot(cost, dispatched_kw) + _overflow_penalty(cost) * overflow_kw.sum()
    )


def _finish(
    c: Candidates,
    fraction: np.ndarray,
    target_kw: float,
    margin: float,
    weights: _Weights,
    method: str,
    fallback_reason: str | None,
    started: float,
) -> Plan:
    required_kw = target_kw * (1.0 + margin)
    planned_kw = float(np.dot(c.flex_kw, fraction))
    shortfall_kw = max(0.0, required_kw - planned_kw)
    if shortfall_kw <= 1e-9 * required_kw:
        shortfall_kw = 0.0
    return Plan(
        fraction=fraction,
        planned_kw=planned_kw,
        target_kw=float(target_kw),
        margin=float(margin),
        shortfall_kw=shortfall_kw,
        objective=_objective(c, fraction, required_kw, weights),
        method=method,
        solve_seconds=time.perf_counter() - started,
        fallback_reason=fallback_reason,
    )


def _problem_objective(p: _Problem, x: np.ndarray) -> float:
    dispatched_kw = p.flex_kw * x
    load_kw = np.bincount(
        p.site_code, weights=dispatched_kw, minlength=len(p.site_room_kw)
    )
    overflow_kw = np.maximum(load_kw - p.site_room_kw, 0.0).sum()
    return float(
        np.dot(p.cost_per_kw, dispatched_kw) + p.overflow_penalty_per_kw * overflow_kw
    )


# -- solving --


def _solve(
    p: _Problem, method: str, time_limit_s: float
) -> tuple[np.ndarray, str, str | None]:
    """Return the fractions of the decision devices, the method used and why."""
    if len(p.index) == 0 or p.required_kw <= p.tolerance_kw:
        return np.zeros(len(p.index)), method, None
    if p.flex_kw.sum() <= p.required_kw + p.tolerance_kw:
        # Every eligible kW is needed, so there is nothing to choose.
        return np.ones(len(p.index)), method, None
    greedy_x = _greedy(p)
    if method == "greedy":
        return greedy_x, "greedy", None

    try:
        highs_x, reason = _solve_highs(p, time_limit_s, greedy_x)
    except RuntimeError as error:  # highspy raises RuntimeError from C++ errors
        highs_x, reason = None, f"HiGHS failed: {error}"
    if highs_x is None:
        logger.warning("Planning with greedy instead of HiGHS: %s", reason)
        return greedy_x, "greedy", reason
    highs_cost = _problem_objective(p, highs_x)
    greedy_cost = _problem_objective(p, greedy_x)
    # After a time limit the incumbent may be the greedy start itself, which
    # is then reported as greedy.
    slack = 1e-9 * abs(greedy_cost)
    stopped_early = reason is not None
    if highs_cost > greedy_cost + slack or (
        stopped_early and highs_cost > greedy_cost - slack
    ):
        return greedy_x, "greedy", reason
    return highs_x, "highs", reason


def _solve_highs(
    p: _Problem, time_limit_s: float, start_x: np.ndarray
) -> tuple[np.ndarray | None, str | None]:
    """Solve the MIP, starting from ``start_x``.

    Returns the fractions, or None when HiGHS has no feasible solution, and a
    note when HiGHS stopped before proving its gap.
    """
    highs = _highs_model(p, relax=False, time_limit_s=time_limit_s)
    if p.binary.any():
        start = _columns_for(p, start_x)
        highs.setSolution(len(start), np.arange(len(start), dtype=np.int32), start)
    highs.run()

    status = highs.getModelStatus()
    info = highs.getInfo()
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, f"HiGHS ended with {highs.modelStatusToString(status)!r}"
    values = np.asarray(highs.getSolution().col_value[: len(p.index)])
    x = np.clip(values, 0.0, 1.0)
    x[p.binary] = np.round(x[p.binary])
    x = _top_up(p, x)
    if status == highspy.HighsModelStatus.kOptimal:
        return x, None
    gap = info.mip_gap
    return (
        x,
        f"HiGHS stopped with {highs.modelStatusToString(status)!r} at gap {gap:.4f}",
    )


def _crowded_sites(p: _Problem) -> np.ndarray:
    """Return the codes of the sites whose devices could exceed their room."""
    site_total_kw = np.bincount(
        p.site_code, weights=p.flex_kw, minlength=len(p.site_room_kw)
    )
    return np.flatnonzero(site_total_kw > p.site_room_kw + p.tolerance_kw)


def _highs_model(p: _Problem, *, relax: bool, time_limit_s: float) -> highspy.Highs:
    """Build the HiGHS model: device columns, then site overflow columns."""
    n = len(p.index)
    crowded = _crowded_sites(p)
    site_row = np.full(len(p.site_room_kw), -1, dtype=np.int64)
    site_row[crowded] = 1 + np.arange(len(crowded))
    m = len(crowded)

    cost = np.concatenate(
        [p.flex_kw * p.cost_per_kw, np.full(m, p.overflow_penalty_per_kw)]
    )
    upper = np.concatenate([np.ones(n), np.full(m, highspy.kHighsInf)])
    row_lower = np.concatenate([[p.required_kw], np.full(m, -highspy.kHighsInf)])
    row_upper = np.concatenate([[highspy.kHighsInf], p.site_room_kw[crowded]])
    start, row_index, value = _constraint_matrix(p, site_row, m)
    integrality = np.zeros(n + m, dtype=np.int32)
    if not relax:
        integrality[:n][p.binary] = int(highspy.HighsVarType.kInteger)

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit_s))
    highs.setOptionValue("mip_rel_gap", MIP_REL_GAP)
    # NOTE: HiGHS 1.15.1 MIP presolve took 1.5 s at 10,000 devices and over
    # 5 minutes at 100,000 on this model, past a 2 s time_limit, so it is off.
    # The model has one row per crowded site only, so presolve has little to
    # remove.
    highs.setOptionValue("presolve", "off")
    highs.passModel(
        n + m,
        m + 1,
        len(value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        np.zeros(n + m),
        upper,
        row_lower,
        row_upper,
        start,
        row_index,
        value,
        integrality,
    )
    return highs


def _constraint_matrix(
    p: _Problem, site_row: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the column-wise matrix (starts, row indices, values)."""
    n = len(p.index)
    device_row = site_row[p.site_code]
    in_site_row = device_row >= 0
    per_column = np.concatenate([1 + in_site_row, np.ones(m, dtype=np.int64)])
    start = np.concatenate([[0], np.cumsum(per_column)]).astype(np.int32)

    row_index = np.empty(start[-1], dtype=np.int32)
    value = np.empty(start[-1])
    device_start = start[:n]
    row_index[device_start] = 0
    value[device_start] = p.flex_kw
    second = device_start[in_site_row] + 1
    row_index[second] = device_row[in_site_row]
    value[second] = p.flex_kw[in_site_row]

    row_index[start[n : n + m]] = 1 + np.arange(m)
    value[start[n : n + m]] = -1.0
    return start, row_index, value


def _columns_for(p: _Problem, x: np.ndarray) -> np.ndarray:
    """Return the full column vector of the HiGHS model for device fractions x."""
    crowded = _crowded_sites(p)
    load_kw = np.bincount(
        p.site_code, weights=p.flex_kw * x, minlength=len(p.site_room_kw)
    )
    overflow_kw = np.maximum(load_kw[crowded] - p.site_room_kw[crowded], 0.0)
    return np.concatenate([x, overflow_kw])


def _top_up(p: _Problem, x: np.ndarray) -> np.ndarray:
    """Cover a deficit left by solver tolerances with divisible headroom."""
    deficit_kw = p.required_kw - float(np.dot(p.flex_kw, x))
    if deficit_kw <= 0:
        return x
    headroom_kw = np.where(p.binary, 0.0, (1.0 - x) * p.flex_kw)
    order = np.argsort(p.cost_per_kw, kind="stable")
    added_kw = _take_in_order(headroom_kw[order], deficit_kw)
    x = x.copy()
    x[order] += added_kw / p.flex_kw[order]
    return np.minimum(x, 1.0)


def _take_in_order(available_kw: np.ndarray, required_kw: float) -> np.ndarray:
    """Return how much of each amount to take, in order, to reach required_kw."""
    before_kw = np.cumsum(available_kw) - available_kw
    return np.clip(required_kw - before_kw, 0.0, available_kw)


# -- greedy --


@dataclass(frozen=True)
class _Pieces:
    """Blocks of flexibility sorted by cost per kW.

    A divisible device gives one block within its site's room and one block
    of overflow at the overflow penalty. An on/off device gives one block
    whose cost per kW carries its share of overflow.
    """

    device: np.ndarray
    kw: np.ndarray
    cost_per_kw: np.ndarray
    binary: np.ndarray


def _greedy(p: _Problem) -> np.ndarray:
    """Fill the required kW with the cheapest blocks, then trim the surplus."""
    pieces = _pieces(p)
    taken_kw = _fill(pieces, p.required_kw, p.tolerance_kw)
    _trim_surplus(pieces, taken_kw, p.required_kw, p.tolerance_kw)

    dispatched_kw = np.bincount(pieces.device, weights=taken_kw, minlength=len(p.index))
    x = np.minimum(dispatched_kw / p.flex_kw, 1.0)
    x[p.binary] = np.round(x[p.binary])
    return x


def _pieces(p: _Problem) -> _Pieces:
    n = len(p.index)
    order = np.lexsort((np.arange(n), p.cost_per_kw))
    within_kw, binary_overflow_kw = _split_at_site_room(p, order)

    devices = np.arange(n)
    overflow_kw = np.where(p.binary, 0.0, p.flex_kw - within_kw)
    binary_extra = p.overflow_penalty_per_kw * binary_overflow_kw / p.flex_kw
    kw = np.concatenate([np.where(p.binary, p.flex_kw, within_kw), overflow_kw])
    cost = np.concatenate(
        [
            p.cost_per_kw + binary_extra,
            p.cost_per_kw + p.overflow_penalty_per_kw,
        ]
    )
    device = np.concatenate([devices, devices])
    binary = np.concatenate([p.binary, np.zeros(n, dtype=bool)])

    keep = kw > 0
    order = np.lexsort((device[keep], cost[keep]))
    return _Pieces(
        device[keep][order], kw[keep][order], cost[keep][order], binary[keep][order]
    )


def _split_at_site_room(
    p: _Problem, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split each device's kW into the part within its site's room and overflow.

    Devices of a crowded site take its room in cost order. Returns the kW
    within the room per device and, for on/off devices, the kW beyond it.
    """
    within_kw = p.flex_kw.copy()
    binary_overflow_kw = np.zeros(len(p.index))
    crowded = np.zeros(len(p.site_room_kw), dtype=bool)
    crowded[_crowded_sites(p)] = True
    room_kw = p.site_room_kw.copy()

    # NOTE: the room is split once, as if every device of the site were
    # dispatched, so on/off devices left out still block it. Where the site
    # share binds at many sites the greedy objective can be twice the optimum
    # or worse; use HiGHS there. The loop runs over crowded sites only.
    for i in order[crowded[p.site_code[order]]]:
        site = p.site_code[i]
        if p.binary[i]:
            binary_overflow_kw[i] = max(0.0, p.flex_kw[i] - room_kw[site])
        else:
            within_kw[i] = min(p.flex_kw[i], room_kw[site])
        room_kw[site] = max(0.0, room_kw[site] - p.flex_kw[i])
    return within_kw, binary_overflow_kw


def _fill(pieces: _Pieces, required_kw: float, tolerance_kw: float) -> np.ndarray:
    """Take blocks in cost order until required_kw is met.

    An on/off block at the break is resolved by the cheaper of one on/off
    block that covers the rest (backing off divisible kW it overshoots) and
    divisible blocks further down the order.
    """
    taken_kw = np.zeros(len(pieces.kw))
    residual_kw = required_kw
    position = 0
    while residual_kw > tolerance_kw and position < len(pieces.kw):
        cumulative_kw = np.cumsum(pieces.kw[position:])
        if cumulative_kw[-1] <= residual_kw + tolerance_kw:
            taken_kw[position:] = pieces.kw[position:]
            break
        step = int(np.searchsorted(cumulative_kw, residual_kw - tolerance_kw))
        break_index = position + step
        taken_kw[position:break_index] = pieces.kw[position:break_index]
        residual_kw -= float(pieces.kw[position:break_index].sum())
        if not pieces.binary[break_index]:
            taken_kw[break_index] = min(residual_kw, pieces.kw[break_index])
            break
        done = _complete_at_binary(pieces, taken_kw, break_index, residual_kw)
        if done:
            break
        taken_kw[break_index] = pieces.kw[break_index]
        residual_kw -= float(pieces.kw[break_index])
        position = break_index + 1
    return taken_kw


def _complete_at_binary(
    pieces: _Pieces, taken_kw: np.ndarray, break_index: int, residual_kw: float
) -> bool:
    """Cover residual_kw from block break_index on; return False if nothing can."""
    tail = np.arange(break_index, len(pieces.kw))
    tail_cost = pieces.cost_per_kw[tail] * pieces.kw[tail]

    single = tail[pieces.binary[tail] & (pieces.kw[tail] >= residual_kw)]
    single_cost = np.full(0, np.inf)
    if len(single):
        refund_kw, refund_cost = _refund_curve(pieces, taken_kw)
        overshoot_kw = pieces.kw[single] - residual_kw
        single_cost = pieces.cost_per_kw[single] * pieces.kw[single] - np.interp(
            overshoot_kw, refund_kw, refund_cost
        )

    divisible = ~pieces.binary[tail]
    divisible_kw = np.concatenate([[0.0], np.cumsum(pieces.kw[tail][divisible])])
    divisible_cost = np.concatenate([[0.0], np.cumsum(tail_cost[divisible])])
    spread_cost = np.inf
    if divisible_kw[-1] >= residual_kw:
        spread_cost = float(np.interp(residual_kw, divisible_kw, divisible_cost))

    if not len(single) and np.isinf(spread_cost):
        return False
    if len(single) and single_cost.min() < spread_cost:
        best = single[int(np.argmin(single_cost))]
        taken_kw[best] = pieces.kw[best]
        return True
    spread = tail[divisible]
    taken_kw[spread] = _take_in_order(pieces.kw[spread], residual_kw)
    return True


def _refund_curve(
    pieces: _Pieces, taken_kw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the cost saved by backing off taken divisible kW, dearest first.

    The two arrays are the breakpoints [kW] and the saving at each, for
    ``np.interp``; the saving stays flat beyond the last breakpoint.
    """
    taken = np.flatnonzero((taken_kw > 0) & ~pieces.binary)[::-1]
    kw = np.concatenate([[0.0], np.cumsum(taken_kw[taken])])
    cost = np.concatenate(
        [[0.0], np.cumsum(taken_kw[taken] * pieces.cost_per_kw[taken])]
    )
    return kw, cost


def _trim_surplus(
    pieces: _Pieces, taken_kw: np.ndarray, required_kw: float, tolerance_kw: float
) -> None:
    """Drop on/off blocks and back off divisible kW that the target does not need."""
    while True:
        surplus_kw = float(taken_kw.sum()) - required_kw
        if surplus_kw <= tolerance_kw:
            return
        refund_kw, refund_cost = _refund_curve(pieces, taken_kw)
        keep_saving = float(np.interp(surplus_kw, refund_kw, refund_cost))
        droppable = np.flatnonzero(
            pieces.binary & (taken_kw > 0) & (pieces.kw <= surplus_kw + tolerance_kw)
        )
        saving = pieces.cost_per_kw[droppable] * pieces.kw[droppable] + np.interp(
            surplus_kw - pieces.kw[droppable], refund_kw, refund_cost
        )
        if not len(droppable) or saving.max() <= keep_saving:
            break
        taken_kw[droppable[int(np.argmax(saving))]] = 0.0

    backed_off = np.flatnonzero((taken_kw > 0) & ~pieces.binary)[::-1]
    taken_kw[backed_off] -= _take_in_order(taken_kw[backed_off], surplus_kw)
