"""The profiler's two looks at a pair (sequential testing), as pure statistics: no sandbox, no Ray."""
import itertools
import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from hydra_ray.config import ConfigError
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.metrics.stats import Look, compare_samples, decide_two_looks


def test_the_two_levels_add_up_to_alpha_and_no_second_look_means_no_split():
    """alpha1 = (1 - s) * alpha, alpha2 = s * alpha, so alpha1 + alpha2 = alpha (s = extra_alpha_share)."""
    first, second = ProfileConfig().look_alphas()
    assert first == pytest.approx(0.04) and second == pytest.approx(0.01)
    assert first + second == pytest.approx(ProfileConfig().significance_alpha)
    assert ProfileConfig(extra_repeats=0).look_alphas() == (0.05, 0.0)
    assert ProfileConfig(significance_alpha=0.1, extra_alpha_share=0.5).look_alphas() == pytest.approx((0.05, 0.05))


def test_at_five_rounds_the_first_level_decides_exactly_as_alpha_would():
    """Two-sided exact Mann-Whitney, 5 against 5 without ties: p = 2 * #{arrangements with U <= u} / C(10, 5).
    U = 0, 1, 2, 3 give p = 2/252, 4/252, 8/252, 14/252 = 0.0079, 0.0159, 0.0317, 0.0556: no p lies in
    [0.04, 0.05), so spending 0.01 of 0.05 on a second look changes no first-look verdict at 5 rounds."""
    ps = set()
    for left in itertools.combinations(range(10), 5):
        a = [float(r) for r in left]
        b = [float(r) for r in range(10) if r not in left]
        ps.add(round(float(mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue), 6))
    assert sorted(ps)[:4] == pytest.approx([2 / 252, 4 / 252, 8 / 252, 14 / 252], abs=1e-6)
    assert not [p for p in ps if 0.04 <= p < 0.05]


def two_look_verdicts(a, b, alpha1, alpha2, n1):
    first = compare_samples(a[:n1], b[:n1], alpha=alpha1, min_effect=0.0)
    if first.significant:
        return True, False
    return compare_samples(a, b, alpha=alpha2, min_effect=0.0).significant, True


def test_under_no_difference_two_looks_claim_no_more_than_alpha_and_naive_looks_would():
    """Union bound: P(false claim) <= P(p1 < alpha1) + P(p2 < alpha2) <= alpha1 + alpha2 = alpha, whatever
    the dependence between the looks (the second reuses the first's samples). Simulated with 3,000 pairs of
    identical lognormal samples, 5 then 15 per side. Looking twice at the full alpha is the mistake this
    split avoids: that rule claims more than alpha (optional stopping)."""
    rng = np.random.default_rng(7)
    trials, split, naive = 3000, 0, 0
    for _ in range(trials):
        a, b = rng.lognormal(0, 0.1, 15), rng.lognormal(0, 0.1, 15)
        split += two_look_verdicts(a, b, 0.04, 0.01, 5)[0]
        naive += two_look_verdicts(a, b, 0.05, 0.05, 5)[0]
    assert split / trials <= 0.05
    assert naive / trials > 0.05 + 2 * math.sqrt(0.05 * 0.95 / trials)


def test_a_small_real_difference_is_found_more_often_with_a_second_look():
    """An 8% slower program with a 5% CV: 5 rounds separate it in under half the tries, a second look after
    10 more rounds in most of them (at the lower level 0.01)."""
    rng = np.random.default_rng(3)
    one = two = 0
    for _ in range(400):
        a, b = rng.lognormal(np.log(1.08), 0.05, 15), rng.lognormal(0, 0.05, 15)
        one += compare_samples(a[:5], b[:5], alpha=0.05, min_effect=0.02).significant
        first = compare_samples(a[:5], b[:5], alpha=0.04, min_effect=0.02)
        two += first.significant or compare_samples(a, b, alpha=0.01, min_effect=0.02).significant
    assert one / 400 < 0.5 and two / 400 > 0.8, (one, two)


def test_a_first_look_difference_stands_only_while_every_sample_points_the_same_way():
    yes, no = Look(True, 0.01, -2.0), Look(False, 0.3, -1.0)
    assert decide_two_looks(yes, None) is yes
    assert decide_two_looks(yes, no) is yes                       # the same direction over all samples
    flipped = Look(False, 0.6, +0.5)
    assert decide_two_looks(yes, flipped) is flipped              # more rounds reversed it: not claimed
    found = Look(True, 0.002, -1.5)
    assert decide_two_looks(Look(False, 0.2, -1.0), found) is found


def test_each_look_must_be_able_to_reach_its_level():
    """Checked where a comparison is planned (enrich, serve: test_profile_one_program.py for the CLI), not
    on constructing a ProfileConfig, which ``hydra-ray profile`` uses for one program."""
    from hydra_ray.enrich.config import EnrichConfig, OneProgramConfig

    (problem,) = ProfileConfig(repeats=4, extra_repeats=1, extra_alpha_share=0.1).comparison_problems()
    assert problem.startswith("extra_repeats: with repeats + extra_repeats = 5 samples")  # min p 0.0079 >= 0.005
    (problem,) = ProfileConfig(repeats=3).comparison_problems()
    assert problem.startswith("repeats: with 3 samples per candidate")
    with pytest.raises(ConfigError, match="EnrichConfig.profile.repeats: with 3 samples per candidate"):
        EnrichConfig(profile=ProfileConfig(repeats=3))
    assert OneProgramConfig(profile=ProfileConfig(repeats=3)).profile.repeats == 3
    with pytest.raises(ConfigError, match="extra_alpha_share: expected a number in"):
        ProfileConfig(extra_alpha_share=1.0)
    with pytest.raises(ConfigError, match="extra_repeats: expected >= 0"):
        ProfileConfig(extra_repeats=-2)
    assert ProfileConfig(repeats=4, extra_repeats=0).comparison_problems() == []   # one look at 0.05: 0.029
