"""The joint bootstrap is calibrated: simulated studies with a known γ (issue 6, item 5).

300 studies at the designed seeds (3 per arm, 9 for `none`), 4 sizes, tasks shaped like both benchmarks,
γ = 0, 1000 replicates each; γ is checked for both confirmatory arms (600 intervals, correlated through
the shared `none` arm: Monte-Carlo SE of the coverage about 1 point), the slopes (truth -0.5 points per
decade) over 1200 intervals, and the bootstrap SE against the spread of the estimates across studies.
The seed of the simulation is fixed; it was not chosen by looking at the outcome.
"""

import numpy as np

from xstilts.analysis.calibration import coverage_study, summarise
from xstilts.analysis.simulate import small_design

N_SIMS, N_BOOT = 300, 1000


def test_joint_bootstrap_coverage_and_type_one_error():
    df = coverage_study(small_design(n_examples=60), N_SIMS, N_BOOT, gamma=0.0, seed=0, progress=False)
    gamma = df[df.estimand == "interaction"]
    assert len(gamma) == 2 * N_SIMS
    assert np.allclose(gamma.truth, 0.0)
    assert 0.93 <= gamma.covered.mean() <= 0.97, gamma.covered.mean()
    assert 0.03 <= gamma.rejected.mean() <= 0.07, gamma.rejected.mean()
    slopes = df[df.estimand.str.startswith("slope_")]
    assert np.allclose(slopes.truth, -0.5)
    assert 0.93 <= slopes.covered.mean() <= 0.97, slopes.covered.mean()
    s = summarise(df)
    ratio = s[s.estimand == "interaction"].se_ratio
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio.tolist()
