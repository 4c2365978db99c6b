"""An attack's restarts default to the attack's own (its registry entry), not to one number for
every attack: APGD, C&W and the peers run once, the paper's Adam attacks five times; a spec value
still overrides, and the limits on samples x restarts apply to the filled-in default too."""
from __future__ import annotations

import pytest

from raysweep.config.schema import DatasetSpec, EvaluateSpec, GridSpec, StrategySpec, SweepSpec
from raysweep._core.errors import UserError
from raysweep.resolve.validate import validate_and_resolve


def resolved_attacks(*attacks: dict):
    spec = SweepSpec(name="t", dataset=DatasetSpec(name="fonts"), grid=GridSpec(n=[10], seed=[1]),
                     strategies=[StrategySpec(name="normal")], evaluate=EvaluateSpec(attacks=list(attacks)))
    return validate_and_resolve(spec, "test", with_data=False)[1][0].evaluate.attacks


@pytest.mark.parametrize("name, restarts", [("linf", 5), ("l2", 5), ("onmanifold_true", 5), ("apgd_ce", 1),
                                            ("apgd_t", 1), ("cw", 1)])
def test_restarts_default_to_the_attacks_own(name, restarts):
    assert resolved_attacks({"name": name, "samples": 10})[0].restarts == restarts


def test_a_spec_value_overrides_the_default():
    assert [a.restarts for a in resolved_attacks({"name": "apgd_ce", "restarts": 3},
                                                 {"name": "linf", "label": "l1x", "restarts": 1})] == [3, 1]


def test_a_default_left_out_and_written_out_give_one_trial():
    """Control for trial identity: leaving the default out must not make a new trial."""
    def trial_id(attack):
        spec = SweepSpec(name="t", dataset=DatasetSpec(name="fonts"), grid=GridSpec(n=[10], seed=[1]),
                         strategies=[StrategySpec(name="normal")], evaluate=EvaluateSpec(attacks=[attack]))
        return validate_and_resolve(spec, "test", with_data=False)[1][0].trial_id

    assert trial_id({"name": "linf"}) == trial_id({"name": "linf", "restarts": 5})
    assert trial_id({"name": "linf"}) != trial_id({"name": "linf", "restarts": 1})


def test_the_row_limit_applies_to_the_filled_in_default():
    with pytest.raises(UserError, match=r"evaluate.attacks\[0\]: samples x restarts"):
        resolved_attacks({"name": "linf", "samples": 100_000})  # 5 restarts: 500,000 rows
    resolved_attacks({"name": "apgd_ce", "samples": 100_000})  # its default is 1 restart
