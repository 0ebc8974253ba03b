"""ArviZ-based summaries, exact-answer checks, reference posteriors, the sampler comparison
table and verdicts."""

from .reference import (
    REFERENCE_ESS_MIN,
    BadReference,
    Reference,
    load_reference,
    reference,
    reference_from_idata,
)
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
    "REFERENCE_ESS_MIN",
    "RHAT_MAX",
    "Z_MAX",
    "BadReference",
    "Moments",
    "Reference",
    "Verdict",
    "compare",
    "flat_draws",
    "load_reference",
    "moments",
    "reference",
    "reference_from_idata",
    "verdict",
    "z_scores",
]
