"""Customer payments for one event, with statement lines that add up exactly.

Amounts are computed in exact cents, then rounded with the largest-remainder
rule. Every line is first rounded down, and the site total is the exact total
rounded half up. The cents still missing go one each to the lines with the
largest fractional parts (ties to the earlier component).
So every line is within one cent of its exact value and the lines of a
statement always add up to its total. The event total is the sum of the site
totals, which is what is paid out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from coflex.errors import InputError

COMPONENTS = ("energy", "event", "capacity", "sign_up", "seasonal", "override_penalty")


@dataclass(frozen=True)
class PaymentRates:
    """Payment terms of a program, in currency units.

    Attributes
    ----------
    energy_per_kwh : float
        Paid per kWh delivered below the baseline [currency/kWh]. The default
        is PG&E Power Saver Rewards' $2/kWh of 2022-23.
    net_negative_performance : bool
        False (the default) pays only positive delivered energy; True nets
        negative performance, as UK DFS 2023/24 offered as an option.
    per_event : float
        Paid to each site that took part in the event [currency].
    capacity_per_kw_month : float
        Paid per kW of capacity per month [currency/kW-month].
    sign_up : float
        One-off payment on the first settlement after enrollment [currency].
    seasonal : float
        Paid once when a site completes the season [currency].
    override_penalty : float
        Charged per overridden event [currency]. The default is 0, so an
        override costs nothing unless the contract sets a penalty.
    currency : str
        ISO 4217 code.
    """

    energy_per_kwh: float = 2.00
    net_negative_performance: bool = False
    per_event: float = 0.0
    capacity_per_kw_month: float = 0.0
    sign_up: float = 0.0
    seasonal: float = 0.0
    override_penalty: float = 0.0
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, float | int) and not isinstance(value, bool):
                if not np.isfinite(value) or value < 0:
                    raise InputError(
                        f"{name}={value} is invalid; rates are finite and >= 0 "
                        "(a penalty is a positive override_penalty)",
                        value=value,
                        field=name,
                    )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Settlement:
    """Payment statements for every site of one event.

    Attributes
    ----------
    components : tuple of str
        Names of the statement lines, in column order.
    lines_cents : np.ndarray
        int64 [site, component], each line in cents (a penalty is negative).
    total_cents : np.ndarray
        int64 [site], the sum of the site's lines.
    event_total_cents : int
        Sum of all site totals.
    paid_kwh : np.ndarray
        float64 [site], the energy the energy line pays for [kWh].
    unmeasured : np.ndarray
        bool [site], True when delivered energy was NaN (missing readings); the
        energy line is then 0 and the site needs a fallback measurement.
    currency : str
    """

    components: tuple[str, ...]
    lines_cents: np.ndarray
    total_cents: np.ndarray
    event_total_cents: int
    paid_kwh: np.ndarray
    unmeasured: np.ndarray
    currency: str

    @property
    def payments(self) -> np.ndarray:
        """Site totals in currency units [currency]."""
        return self.total_cents / 100.0

    def line(self, component: str) -> np.ndarray:
        """Return one statement line for every site, in cents."""
        return self.lines_cents[:, self.components.index(component)]


def round_lines_to_cents(exact_cents: np.ndarray) -> np.ndarray:
    """Round [row, line] amounts to whole cents so each row keeps its total.

    Parameters
    ----------
    exact_cents : np.ndarray
        float [row, line] amounts [cents].

    Returns
    -------
    np.ndarray
        int64 [row, line]. Each row sums to its exact total rounded half up,
        and each entry is within one cent of its exact value.
    """
    # Drop float noise such as 230.00000000000003 before taking floors.
    exact = np.round(np.asarray(exact_cents, dtype=np.float64), 6)
    floors = np.floor(exact)
    target = np.floor(exact.sum(axis=1) + 0.5)
    short = (target - floors.sum(axis=1)).astype(np.int64)

    fraction = exact - floors
    order = np.argsort(-fraction, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(exact.shape[1])[np.newaxis, :], axis=1)
    bump = rank < short[:, np.newaxis]
    return floors.astype(np.int64) + bump


def settle(
    delivered_kwh: np.ndarray,
    rates: PaymentRates,
    *,
    participated: np.ndarray | None = None,
    capacity_kw: np.ndarray | None = None,
    capacity_months: float = 0.0,
    signed_up: np.ndarray | None = None,
    season_completed: np.ndarray | None = None,
    overridden: np.ndarray | None = None,
) -> Settlement:
    """Compute each site's payment for one event.

    Parameters
    ----------
    delivered_kwh : np.ndarray
        float [site], delivered energy [kWh]; NaN where it could not be measured.
    rates : PaymentRates
        The program's payment terms.
    participated : np.ndarray, optional
        bool [site], sites paid ``per_event`` (default: every site).
    capacity_kw : np.ndarray, optional
        float [site], capacity paid for [kW] (default: none).
    capacity_months : float
        Months of capacity covered by this settlement [month].
    signed_up, season_completed, overridden : np.ndarray, optional
        bool [site] masks for the sign-up, seasonal and override lines.

    Returns
    -------
    Settlement
    """
    delivered = np.asarray(delivered_kwh, dtype=np.float64)
    n_sites = delivered.shape[0]
    unmeasured = np.isnan(delivered)
    measured = np.where(unmeasured, 0.0, delivered)
    paid_kwh = measured if rates.net_negative_performance else np.maximum(measured, 0.0)

    def mask(values: np.ndarray | None, default: bool, name: str) -> np.ndarray:
        if values is None:
            return np.full(n_sites, default)
        return _site_array(values, n_sites, name).astype(bool)

    capacity = (
        np.zeros(n_sites)
        if capacity_kw is None
        else _site_array(capacity_kw, n_sites, "capacity_kw")
    )
    exact = np.column_stack(
        [
            rates.energy_per_kwh * paid_kwh,
            rates.per_event * mask(participated, True, "participated"),
            rates.capacity_per_kw_month * capacity * capacity_months,
            rates.sign_up * mask(signed_up, False, "signed_up"),
            rates.seasonal * mask(season_completed, False, "season_completed"),
            -rates.override_penalty * mask(overridden, False, "overridden"),
        ]
    )
    lines = round_lines_to_cents(exact * 100.0)
    totals = lines.sum(axis=1)
    return Settlement(
        components=COMPONENTS,
        lines_cents=lines,
        total_cents=totals,
        event_total_cents=int(totals.sum()),
        paid_kwh=paid_kwh,
        unmeasured=unmeasured,
        currency=rates.currency,
    )


def _site_array(values: np.ndarray, n_sites: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n_sites,):
        raise InputError(
            f"{name} has shape {array.shape}; give one value per site ({n_sites},)",
            value=array.shape,
            field=name,
        )
    if not np.isfinite(array).all():
        raise InputError(
            f"{name} contains NaN or infinite values; give finite values",
            value=name,
            field=name,
        )
    return array
