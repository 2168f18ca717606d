"""scanpath.analysis: experiment-level analyses (search-asymmetry RT slopes and asymmetry index)."""

from scanpath.analysis.asymmetry import (
    EXPERIMENT_PAIRS,
    asymmetry_index,
    human_slopes,
    read_human_rt,
    rt_from_fixations,
    rt_slope,
    slope_correlation,
)

__all__ = [
    "EXPERIMENT_PAIRS",
    "asymmetry_index",
    "human_slopes",
    "read_human_rt",
    "rt_from_fixations",
    "rt_slope",
    "slope_correlation",
]
