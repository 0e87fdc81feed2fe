"""Measurement of delivered energy: meter cubes, baselines, payments, benefits."""

from coflex.domain.measurement.baselines import (
    BaselineResult,
    DayMatchingRule,
    caiso_10_in_10,
    delivered_kwh,
    nyiso_average_day,
    pge_power_saver_5_of_10,
    pjm_high_4_of_5,
    uk_dfs,
)
from coflex.domain.measurement.benefits import (
    BenefitShares,
    capacity_value_per_kw_event,
    share_benefits,
)
from coflex.domain.measurement.cube import (
    CubeResult,
    DayCalendar,
    Finding,
    build_cube,
    make_calendar,
)
from coflex.domain.measurement.model_baselines import (
    control_group_did,
    weather_regression,
)
from coflex.domain.measurement.settlement import (
    PaymentRates,
    Settlement,
    round_lines_to_cents,
    settle,
)
from coflex.domain.measurement.uncertainty import (
    PlaceboResult,
    placebo_uncertainty,
    within_noise,
)

BASELINE_METHODS = {
    "caiso_10_in_10": caiso_10_in_10,
    "pge_power_saver_5_of_10": pge_power_saver_5_of_10,
    "pjm_high_4_of_5_saa": pjm_high_4_of_5,
    "nyiso_average_day_cbl": nyiso_average_day,
    "uk_dfs_10_weekdays": uk_dfs,
    "weather_regression_degree_hours": weather_regression,
    "control_group_did": control_group_did,
}

__all__ = [
    "BASELINE_METHODS",
    "BaselineResult",
    "BenefitShares",
    "CubeResult",
    "DayCalendar",
    "DayMatchingRule",
    "Finding",
    "PaymentRates",
    "PlaceboResult",
    "Settlement",
    "build_cube",
    "caiso_10_in_10",
    "capacity_value_per_kw_event",
    "control_group_did",
    "delivered_kwh",
    "make_calendar",
    "nyiso_average_day",
    "pge_power_saver_5_of_10",
    "pjm_high_4_of_5",
    "placebo_uncertainty",
    "round_lines_to_cents",
    "settle",
    "share_benefits",
    "uk_dfs",
    "weather_regression",
    "within_noise",
]
