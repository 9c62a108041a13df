"""Power of a paired comparison over blocks (normal approximation; pure functions).

For per-block log ratios d_i with standard deviation sd over n blocks, a two-sided test at
level α has power 1 − β against a true mean effect δ when δ = (z_{1−α/2} + z_{1−β}) · sd / √n
(the paired-sample normal approximation; Chow, Shao & Wang 2008, *Sample Size Calculations in
Clinical Research*, 2nd ed., §3.1.1 / eq. 3.1.2 with one sample of differences). Hence

* minimum detectable effect  MDE = (z_{1−α/2} + z_{1−β}) · sd / √n   (on the log scale), and
* blocks needed for an effect δ  n = ((z_{1−α/2} + z_{1−β}) · sd / δ)², rounded up.

Both are shown in % of the error, 100 · (exp(x) − 1). The approximation treats blocks as
independent; blocks sharing a dataset are not, so the real MDE is larger (said in the report).
"""

from __future__ import annotations

import math

from scipy import stats as ss

ALPHA = 0.05
POWER = 0.8


def _z(alpha: float, power: float) -> float:
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    return float(ss.norm.ppf(1.0 - alpha / 2.0) + ss.norm.ppf(power))


def mde_log(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable mean log ratio: (z_{1−α/2} + z_power) · sd / √n (NaN for n < 2)."""
    if n < 2 or not math.isfinite(sd):
        return float("nan")
    return _z(alpha, power) * sd / math.sqrt(n)


def blocks_needed(sd: float, effect: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Independent blocks needed to detect the mean log ratio ``effect``:
    ceil(((z_{1−α/2} + z_power) · sd / effect)²); inf for a zero effect, NaN if unknown."""
    if not (math.isfinite(sd) and math.isfinite(effect)):
        return float("nan")
    if effect == 0.0:
        return float("inf")
    return float(math.ceil((_z(alpha, power) * sd / abs(effect)) ** 2))


def pct(log_value: float) -> float:
    """A log ratio as a % change of the error: 100 · (exp(x) − 1)."""
    return 100.0 * math.expm1(log_value) if math.isfinite(log_value) else float("nan")
