"""The statistics the figures stand on, against published examples and by simulation: intervals
that say 95% contain the true rate about 95% of the time."""

import random

import pytest

from feedback_loop.internal.statistics import (
    BETTER,
    CANT_TELL,
    WORSE,
    cohen_kappa,
    compare_rates,
    fleiss_kappa,
    wilson,
)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions", table II, method 10.
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_the_difference_interval_is_newcombes(a, b, low, high):
    difference = compare_rates(*a, *b)
    assert difference.low == pytest.approx(low, abs=1e-4)
    assert difference.high == pytest.approx(high, abs=1e-4)


def test_verdicts_say_better_or_worse_only_when_the_interval_is_on_one_side():
    assert compare_rates(60, 100, 40, 100).verdict == BETTER
    # An error rate: lower is better, so a higher one is worse.
    assert compare_rates(60, 100, 40, 100, higher_is_better=False).verdict == WORSE
    unsure = compare_rates(52, 100, 50, 100)
    assert unsure.verdict == CANT_TELL
    # 0.52 against 0.50 needs about 9,800 answers a side at 95% and 80% power.
    assert 9_000 < unsure.more_needed + 100 < 10_500
    assert compare_rates(5, 10, 5, 10).more_needed is None  # no difference to tell
    empty = compare_rates(0, 0, 3, 10)
    assert (empty.verdict, empty.low, empty.rate_b) == (CANT_TELL, None, 0.3)


def test_intervals_hold_their_level_over_many_draws():
    """Two releases with known satisfaction (0.62 and 0.55), 300 answers each, 2,000 draws: the
    95% intervals contain the true rate and the true difference about 95% of the time."""
    rng = random.Random(20261206)
    true_a, true_b, n, draws = 0.62, 0.55, 300, 2000
    single = both = 0
    for _ in range(draws):
        a = sum(rng.random() < true_a for _ in range(n))
        b = sum(rng.random() < true_b for _ in range(n))
        low, high = wilson(a, n)
        single += low <= true_a <= high
        difference = compare_rates(a, n, b, n)
        both += difference.low <= true_a - true_b <= difference.high
    assert 0.93 <= single / draws <= 0.97
    assert 0.93 <= both / draws <= 0.975


def test_kappa_for_more_than_two_labels():
    # Fleiss et al.'s style three-category check: perfect agreement is 1 whatever the labels.
    labels = ["format", "length", "refusal"] * 5
    assert cohen_kappa(zip(labels, labels, strict=True)) == 1
    # Systematic disagreement on every item is below 0.
    assert cohen_kappa(zip(labels, labels[1:] + labels[:1], strict=True)) < 0


def test_fleiss_kappa_matches_the_worked_example():
    # Fleiss' kappa's textbook example (as on Wikipedia's "Fleiss' kappa" page): 14 raters put
    # 10 subjects into 5 categories; P-bar 0.378, P_e 0.213, kappa 0.210.
    rows = [
        (0, 0, 0, 0, 14),
        (0, 2, 6, 4, 2),
        (0, 0, 3, 5, 6),
        (0, 3, 9, 2, 0),
        (2, 2, 8, 1, 1),
        (7, 7, 0, 0, 0),
        (3, 2, 6, 3, 0),
        (2, 5, 3, 2, 2),
        (6, 5, 2, 1, 0),
        (0, 2, 2, 3, 7),
    ]
    subjects = [dict(enumerate(row)) for row in rows]
    assert round(fleiss_kappa(subjects), 3) == 0.210


def test_fleiss_kappa_takes_subjects_rated_by_different_numbers_of_raters():
    # Perfect agreement is 1 whatever the number of raters; one rater alone says nothing.
    assert fleiss_kappa([{"bad": 3}, {"fine": 2}, {"bad": 2}, {"fine": 1}]) == 1
    assert fleiss_kappa([{"bad": 1}]) is None
    assert fleiss_kappa([{"bad": 2}, {"bad": 3}]) is None  # one label throughout
    # Two raters who always disagree on a balanced set: below 0.
    assert fleiss_kappa([{"bad": 1, "fine": 1}] * 4) < 0
