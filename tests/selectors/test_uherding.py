"""uherding: maxherding at blend 0, boundary rows as the blend grows."""

import numpy as np

from curate.budget import Budget
from curate.selectors import make_selector
from tests.selectors.test_ccs import digits_view


def ids(table):
    return table["id"].to_list()


def test_blend_zero_is_maxherding():
    view, _ = digits_view()
    herding = make_selector("maxherding").select(view, Budget(total=40), 0)
    uherding = make_selector("uherding", {"blend": 0.0}).select(view, Budget(total=40), 0)
    assert ids(herding) == ids(uherding)


def test_a_full_blend_picks_rows_the_probe_is_less_sure_of():
    view, _ = digits_view()
    uncertainty = view.score("uncertainty")
    mean = {}
    for blend in (0.0, 1.0):
        table = make_selector("uherding", {"blend": blend}).select(view, Budget(total=100), 0)
        mean[blend] = uncertainty[[int(i[1:]) for i in table["id"]]].mean()
    assert mean[1.0] > mean[0.0] + 0.05


def test_the_default_blend_follows_the_budget_share():
    view, _ = digits_view()
    small = make_selector("uherding").select(view, Budget(total=8), 0)
    large = make_selector("uherding").select(view, Budget(total=400), 0)
    assert "(blend 0.02)" in small["reason"][0] and "(blend 1.00)" in large["reason"][0]
    assert np.isfinite(large["score"].to_numpy()).all()
