"""ArviZ-based summaries, exact-answer checks and the sampler comparison table."""

from .summary import COMPARE_COLUMNS, Moments, compare, flat_draws, moments, z_scores

__all__ = ["COMPARE_COLUMNS", "Moments", "compare", "flat_draws", "moments", "z_scores"]
