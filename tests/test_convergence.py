"""The convergence rule every shipped model is held to (core.training.convergence)."""
import math

import pytest

from core.training import convergence


def test_relative_improvement_over_the_last_epochs():
    assert convergence.relative_improvement([1.0, 0.5, 0.4, 0.3, 0.2]) == pytest.approx(0.6)  # 0.5 -> 0.2
    assert convergence.relative_improvement([99.0, 99.0, 99.5, 99.0], higher_is_better=True) == 0.0
    assert convergence.relative_improvement([90.0, 95.0, 96.0, 99.0], higher_is_better=True) == pytest.approx(0.1)
    assert convergence.relative_improvement([1.0, 1.1, 1.2, 1.3]) < 0  # got worse
    assert math.isnan(convergence.relative_improvement([1.0, 0.9, 0.8]))  # too few epochs to judge


def test_check_reads_the_validation_curve_when_recorded_else_the_test_curve():
    still_falling = [0.10, 0.08, 0.06, 0.05]
    flat = [0.05, 0.0499, 0.0498, 0.0497]
    with_val = {"metric_name": "mse", "history": {"test": {"mse": still_falling}, "val": {"mse": flat}}}
    c = convergence.check(with_val)
    assert c["split"] == "val" and c["converged"] and c["improvement"] == pytest.approx(0.006)
    test_only = {"metric_name": "mse", "history": {"test": {"mse": still_falling}}}
    c = convergence.check(test_only)
    assert c["split"] == "test" and not c["converged"] and c["improvement"] == pytest.approx(0.5)
    short = {"metric_name": "mse", "history": {"test": {"mse": [0.1, 0.05]}}}
    assert not convergence.check(short)["converged"]  # unknown is not converged
    with pytest.raises(KeyError, match="no validation or test curve"):
        convergence.check({"metric_name": "accuracy", "history": {"test": {"mse": flat}}})
