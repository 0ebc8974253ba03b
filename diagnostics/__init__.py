"""ArviZ-based summaries, exact-answer checks, the sampler comparison table and verdicts."""

from .summary import (
    COMPARE_COLUMNS,
    ESS_MIN,
    RHAT_MAX,
    Z_MAX,
    Moments,
    Verdict,
    compare,
    flat_draws,
    moments,
    verdict,
    z_scores,
)

__all__ = [
    "COMPARE_COLUMNS",
    "ESS_MIN",
    "RHAT_MAX",
    "Z_MAX",
    "Moments",
    "Verdict",
    "compare",
    "flat_draws",
    "moments",
    "verdict",
    "z_scores",
]
