"""Evidence tables stored by their inputs (idsd.memo): computed once, read back to the bit."""

import numpy as np
import pandas as pd

from idsd import memo


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"system": ["mfcc", "", "NA", "none"], "eer": rng.random(4) / 3,
                         "lo": [np.nan, 0.1, 1e-17, 0.2], "significant": [True, False, True, False],
                         "n": [1, 2, 3, 4]})


def test_a_table_is_computed_once_and_read_back_unchanged(tmp_path):
    calls = []
    scores = _frame(1)

    def compute():
        calls.append(1)
        return _frame(2)

    first = memo.cached(tmp_path, "cells", scores, {"n_boot": 10}, compute)
    again = memo.cached(tmp_path, "cells", scores, {"n_boot": 10}, compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, _frame(2), check_dtype=False)
    assert again.equals(first) and (again["eer"].to_numpy() == _frame(2)["eer"].to_numpy()).all()  # bit-identical
    assert again["system"].tolist() == ["mfcc", "", "NA", "none"] and np.isnan(again["lo"].iloc[0])


def test_other_inputs_or_parameters_recompute(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _frame(3)

    memo.cached(tmp_path, "cells", _frame(1), {"n_boot": 10}, compute)
    memo.cached(tmp_path, "cells", _frame(1), {"n_boot": 20}, compute)
    changed = _frame(1)
    changed.loc[2, "eer"] += 1e-12  # one score moved by one ulp-scale step
    memo.cached(tmp_path, "cells", changed, {"n_boot": 10}, compute)
    memo.cached(None, "cells", _frame(1), {"n_boot": 10}, compute)  # no folder: always computed
    assert len(calls) == 4


def test_dicts_and_indexes_survive(tmp_path):
    t = {"by_feature": _frame(4).set_index("system"), "pairs": _frame(5)}
    back = memo.cached(tmp_path, "cross", _frame(0), {}, lambda: t)
    assert set(back) == {"by_feature", "pairs"} and back["by_feature"].index.name == "system"
    assert back["by_feature"].equals(t["by_feature"]) and back["pairs"].equals(t["pairs"])
