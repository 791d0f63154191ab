"""How the demo combines its judges' readings (demo/judging.py) and how a card states the verdict
(demo/panels.py), with stand-in judges that agree, disagree or are unsure: a digit is named only
where every judge names it at or above its own threshold. The shipped judges are read in
tests/test_demo.py."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from core.denoising import judge
from demo import judging, panels
from demo.judging import JudgeReading, Judging, combine

CONVNET, MLP = judge.NAMES


class Reads:
    """A stand-in judge: image i as digits[i] at confidences[i] (cycled over the batch)."""

    def __init__(self, digits, confidences):
        self.digits, self.confidences = list(digits), list(confidences)
        self.calls = 0

    def read(self, x):
        self.calls += 1
        n = len(x)
        return (torch.tensor([self.digits[i % len(self.digits)] for i in range(n)]),
                torch.tensor([self.confidences[i % len(self.confidences)] for i in range(n)]))


def one(name, digit, confidence, threshold=0.5):
    return JudgeReading(name, digit, confidence, confidence >= threshold)


# --- the combined verdict ---------------------------------------------------------------------------

def test_both_judges_sure_of_one_digit_name_it():
    r = combine([one(CONVNET, 7, 0.99), one(MLP, 7, 0.8)])
    assert (r.digit, r.sure, r.verdict, r.agree) == (7, True, "sure", True)
    assert r.confidence == 0.8 and r[0] == 7   # the least confident judge; indexable as before


def test_judges_naming_different_digits_disagree_however_sure():
    r = combine([one(CONVNET, 5, 0.99), one(MLP, 3, 0.98)])
    assert (r.sure, r.verdict, r.agree) == (False, "disagree", False)
    assert r.digit == 5   # the first judge's guess, never stated as the digit
    assert combine([one(CONVNET, 5, 0.2), one(MLP, 3, 0.3)]).verdict == "disagree"


def test_one_judge_below_its_threshold_makes_the_reading_unsure():
    r = combine([one(CONVNET, 4, 0.99), one(MLP, 4, 0.45)])
    assert (r.digit, r.sure, r.verdict) == (4, False, "unsure")
    assert combine([one(CONVNET, 4, 0.45), one(MLP, 4, 0.99)]).verdict == "unsure"
    with pytest.raises(ValueError, match="no judge"):
        combine([])


def test_each_judge_is_held_to_its_own_threshold():
    """0.5 is sure for a judge calibrated at 0.4, unsure for one at 0.6: one batch, one call each."""
    convnet, mlp = Reads([2, 2, 2], [0.5, 0.5, 0.7]), Reads([2, 2, 2], [0.5, 0.7, 0.5])
    readings = Judging({CONVNET: convnet, MLP: mlp}, {CONVNET: 0.4, MLP: 0.6}).read(torch.zeros(3, 1, 28, 28))
    assert [r.verdict for r in readings] == ["unsure", "sure", "unsure"]
    assert [[j.sure for j in r.judges] for r in readings] == [[True, False], [True, True], [True, False]]
    assert all(tuple(j.name for j in r.judges) == (CONVNET, MLP) for r in readings)
    assert convnet.calls == mlp.calls == 1
    swapped = Judging({CONVNET: convnet, MLP: mlp}, {CONVNET: 0.6, MLP: 0.4}).read(torch.zeros(3, 1, 28, 28))
    assert [r.verdict for r in swapped] == ["unsure", "unsure", "sure"]


def test_every_judge_needs_its_threshold():
    with pytest.raises(ValueError, match="one threshold per judge"):
        Judging({CONVNET: Reads([1], [1.0]), MLP: Reads([1], [1.0])}, {CONVNET: 0.4})
    with pytest.raises(ValueError, match="one threshold per judge"):
        Judging({}, {})


def test_a_missing_judge_means_no_readings_at_all(monkeypatch):
    """A verdict must hold under every judge: with one of them not shipped, none is stated."""
    from demo import references

    monkeypatch.setattr(references, "load_judge", lambda directory=None, name=None: None if name == MLP else Reads([1], [1.0]))
    monkeypatch.setattr(judging, "unsure_threshold", lambda conf, right: 0.5)
    assert Judging.load() is None


def test_each_judge_has_its_own_calibration_entry():
    jobs = [judging.calibration_job(Reads([0], [0.5]), name) for name in judge.NAMES]
    assert len({j["tag"] for j in jobs}) == len(judge.NAMES)
    assert [j["depends_on"] for j in jobs] == [[name] for name in judge.NAMES]   # keyed by that judge's weights
    assert jobs[0]["tag"] == "demo-judge-calibration"   # the first judge's readings keep their shipped name


# --- what a card says -------------------------------------------------------------------------------

def card(clean, output):
    """The reading line of an output card whose clean drawing reads `clean`."""
    c = SimpleNamespace(clean_reading=clean, unsure_below={CONVNET: 0.4, MLP: 0.42},
                        results={"map": SimpleNamespace(reading=output)})
    from demo.engine import Comparison

    c.differs = lambda key: Comparison.differs(c, key)
    return c, panels.reading_line(c, "map", output)


def test_a_card_marks_another_digit_only_where_both_judges_agree():
    seven = combine([one(CONVNET, 7, 0.99), one(MLP, 7, 0.97)])
    three = combine([one(CONVNET, 3, 0.9), one(MLP, 3, 0.8)])
    c, line = card(seven, three)
    assert c.differs("map") and "reads <b>3</b>" in line and "≠ your 7" in line
    assert "convnet 90 %, MLP 80 %" in line   # each judge's confidence, by its short name
    assert "convnet from 40 %, MLP from 42 %" in line   # the hover text: each judge's threshold
    split = combine([one(CONVNET, 3, 0.9), one(MLP, 7, 0.8)])
    c, line = card(seven, split)
    assert not c.differs("map") and "≠" not in line and 'class="differs"' not in line
    assert f"{panels.DISAGREE}: convnet 3, MLP 7" in line
    doubtful = combine([one(CONVNET, 3, 0.9), one(MLP, 3, 0.41, threshold=0.42)])
    c, line = card(seven, doubtful)
    assert not c.differs("map") and "≠" not in line and "unsure (best guess <b>3</b>" in line


def test_a_drawing_the_judges_disagree_on_names_no_digit_to_differ_from():
    split = combine([one(CONVNET, 7, 0.99), one(MLP, 1, 0.9)])
    three = combine([one(CONVNET, 3, 0.9), one(MLP, 3, 0.8)])
    c, line = card(split, three)
    assert not c.differs("map") and "≠" not in line and "reads <b>3</b>" in line
    clean_line = panels.reading_line(c, None, split)
    assert f"{panels.DISAGREE}: convnet 7, MLP 1" in clean_line and "reads" not in clean_line
    unsure = combine([one(CONVNET, 7, 0.3), one(MLP, 7, 0.9)])
    assert panels.UNSURE in panels.reading_line(c, None, unsure)


def test_the_posterior_digits_say_whose_they_are():
    assert panels.POSTERIOR_JUDGE == judge.SHORT[judge.NAME]
    p = SimpleNamespace(std=torch.zeros(1, 28, 28), draws=torch.zeros(2, 1, 28, 28), label_probs={"7": 0.9, "1": 0.1},
                        flagged=False, warning="")
    html = panels.posterior_lines(p)
    assert f"the {judge.SHORT[judge.NAME]} judge on the draws" in html
