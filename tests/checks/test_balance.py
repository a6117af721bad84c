"""Balance statistics against values worked out by hand (see the comments)."""

import math

import pandas as pd
import pytest

from curator.checks import CheckInputs, balance
from curator.errors import ConfigError, DataError
from curator.params import BalanceParams


def small_manifest() -> pd.DataFrame:
    # train: a x6, b x2, c x4 ; test: a x1, b x3, c x2 ; site y = three train 'a' images.
    rows = [("train", "a")] * 6 + [("train", "b")] * 2 + [("train", "c")] * 4
    rows += [("test", "a")] * 1 + [("test", "b")] * 3 + [("test", "c")] * 2
    df = pd.DataFrame(rows, columns=["split", "label"])
    df["path"] = [f"img{i}.png" for i in range(len(df))]
    df["sample_id"] = [f"{i:064x}" for i in range(len(df))]
    df["readable"] = True
    df["site"] = ["y"] * 3 + ["x"] * (len(df) - 3)
    return df


PARAMS = BalanceParams(
    subgroups=("site",),
    minority_class_ratio=0.9,
    min_cell_count=1,
    min_representation_ratio=0.5,
    effective_number_beta=0.5,
)


def test_entropy_and_ratio_by_hand():
    # p = (.75, .25): H = .75 ln(4/3) + .25 ln 4 = 0.562335 nats; / ln 2 = 0.811278
    assert balance.normalized_entropy([6, 2]) == pytest.approx(0.811278, abs=1e-6)
    assert balance.normalized_entropy([5, 5, 5]) == pytest.approx(1.0)
    assert balance.imbalance_ratio([6, 2, 4]) == 3.0
    assert balance.imbalance_ratio([6, 0]) == math.inf


def test_effective_number_and_weights_by_hand():
    # beta = 0.5: E(6) = (1 - 1/64) / 0.5 = 1.96875 ; E(2) = (1 - 1/4) / 0.5 = 1.5
    assert balance.effective_number([6, 2], 0.5).tolist() == pytest.approx([1.96875, 1.5])
    # 1/E = (0.507937, 0.666667), scaled to sum to 2 -> (0.864865, 1.135135)
    assert balance.class_balanced_weights([6, 2], 0.5).tolist() == pytest.approx(
        [0.864865, 1.135135], abs=1e-6
    )
    assert balance.class_balanced_weights([3, 3], 0.9).tolist() == pytest.approx([1.0, 1.0])


def test_check_on_small_case():
    result = balance.run(CheckInputs(manifest=small_manifest()), PARAMS)
    s = result.summary
    assert s["class_counts"]["train"] == {"a": 6, "b": 2, "c": 4}
    assert s["per_split"]["train"]["imbalance_ratio"] == 3.0
    assert s["overall"]["imbalance_ratio"] == pytest.approx(7 / 5)
    # Expected train row 12*(7,5,6)/18 = (4.667, 3.333, 4); test row (2.333, 1.667, 2).
    # Pearson chi2 = 0.380952 + 0.533333 + 0 + 0.761905 + 1.066667 + 0 = 2.742857, dof 2,
    # p = exp(-chi2 / 2) = 0.253744 ; Cramer's V = sqrt(2.742857 / 18) = 0.390360
    test = s["split_label_homogeneity"]
    assert test["chi2"] == pytest.approx(2.742857, abs=1e-6)
    assert test["dof"] == 2
    assert test["p_value"] == pytest.approx(0.253744, abs=1e-6)
    assert test["cramers_v"] == pytest.approx(0.390360, abs=1e-6)
    assert test["same_distribution"] is True  # p >= alpha 0.01
    # shares (7, 5, 6)/18; minority threshold 0.9 / 3 = 0.3 -> class b (0.2778)
    assert s["minority_classes"] == ["b"]
    site = s["subgroups"]["site"]
    assert site["underrepresented_values"] == ["y"]  # 3/18 < 0.5 * 1/2
    cells = {(c["value"], c["class"]) for c in site["underrepresented_cells"]}
    assert cells == {("y", "b"), ("y", "c")}  # 0 observed vs 0.833 and 1.0 expected
    flags = result.flags
    minority = flags[flags["issue"] == "minority_class"]
    assert len(minority) == 5
    assert minority["score"].iloc[0] == pytest.approx(1 - 5 / 18 * 3)
    group = flags[flags["issue"] == "underrepresented_group"]
    assert sorted(group["path"]) == ["img0.png", "img1.png", "img2.png"]
    assert group["score"].iloc[0] == pytest.approx(1 - (3 / 18) / 0.5)
    assert result.metrics["minority"] == 1


def test_a_class_only_in_test_is_more_than_a_minority():
    df = small_manifest()
    extra = df.iloc[:2].copy()
    extra["split"], extra["label"] = "test", "d"
    extra["path"] = ["d0.png", "d1.png"]
    extra["sample_id"] = ["d" * 64, "e" * 64]
    result = balance.run(CheckInputs(manifest=pd.concat([df, extra], ignore_index=True)), PARAMS)
    assert result.summary["classes_absent_from_train"] == {"d": {"test": 2}}
    absent = result.flags[result.flags["issue"] == "class_absent_from_train"]
    assert sorted(absent["path"]) == ["d0.png", "d1.png"] and (absent["score"] == 1.0).all()
    assert "class d has no train image (2 in test)" in absent["detail"].iloc[0]
    assert balance.run(CheckInputs(manifest=df), PARAMS).summary["classes_absent_from_train"] == {}


def test_min_cell_count_flags_small_cells():
    params = BalanceParams(subgroups=("site",), min_cell_count=4, min_representation_ratio=0.01)
    s = balance.run(CheckInputs(manifest=small_manifest()), params).summary
    cells = {(c["value"], c["class"]) for c in s["subgroups"]["site"]["underrepresented_cells"]}
    assert cells == {("y", "a"), ("y", "b"), ("y", "c")}  # 3, 0, 0 < 4; x cells hold 4, 5, 6


def test_unknown_subgroup_names_the_key():
    with pytest.raises(ConfigError, match=r"balance.subgroups names 'age'.*metadata columns: site"):
        balance.run(CheckInputs(manifest=small_manifest()), BalanceParams(subgroups=("age",)))


def test_unreadable_rows_are_not_counted():
    df = small_manifest()
    df.loc[0, "readable"] = False
    s = balance.run(CheckInputs(manifest=df), PARAMS).summary
    assert s["class_counts"]["train"]["a"] == 5


def test_no_readable_images_is_a_clear_error():
    df = small_manifest()
    df["readable"] = False
    with pytest.raises(DataError, match="no readable images"):
        balance.run(CheckInputs(manifest=df), PARAMS)


def test_intersections_flag_a_combination_rarer_than_its_attributes_predict():
    """site and device are each half and half, but site y is almost never on a phone: 20 x/phone,
    20 x/scanner, 19 y/scanner, 1 y/phone. Independence predicts 21 x 20 / 60 = 7 y/phone
    images; 1 is a ratio of 0.14."""
    df = pd.DataFrame({"split": "train", "label": ["a", "b"] * 30, "readable": True})
    df["site"] = ["x"] * 40 + ["y"] * 20
    df["device"] = ["phone"] * 20 + ["scanner"] * 20 + ["scanner"] * 19 + ["phone"]
    df["path"] = [f"img{i}.png" for i in range(len(df))]
    df["sample_id"] = [f"{i:064x}" for i in range(len(df))]
    params = BalanceParams(subgroups=("site", "device"), min_cell_count=0)
    result = balance.run(CheckInputs(manifest=df), params)
    cross = result.summary["intersections"]["site x device"]
    assert cross["counts"]["y"] == {"phone": 1, "scanner": 19}
    (cell,) = cross["underrepresented_cells"]
    assert (cell["site"], cell["device"], cell["count"]) == ("y", "phone", 1)
    assert cell["expected"] == pytest.approx(20 * 21 / 60)
    flagged = result.flags[result.flags["issue"] == "underrepresented_group"]
    assert list(flagged["path"]) == ["img59.png"]
    assert "site=y x device=phone: 1 images (expected 7.0" in flagged["detail"].iloc[0]
    assert cross["dependence"]["p_value"] < 0.01


def test_unknown_values_are_counted_once_and_never_compete_as_a_group():
    """Three of eighteen images have no site (missing or blank): x and y are the only groups,
    the uniform share is 1/2, and nothing is flagged for the unknown ones."""
    df = small_manifest()
    df.loc[[0, 5, 9], "site"] = [None, "", "  "]
    s = balance.run(CheckInputs(manifest=df), PARAMS).summary["subgroups"]["site"]
    assert s["n_unknown"] == 3
    assert s["counts"] == {"x": 13, "y": 2} and set(s["by_class"]) == {"x", "y"}
    assert s["shares"]["y"] == pytest.approx(2 / 15)  # of the known ones
    flags = balance.run(CheckInputs(manifest=df), PARAMS).flags
    groups = flags[flags["issue"] == "underrepresented_group"]
    assert not set(groups["path"]) & {"img0.png", "img5.png", "img9.png"}
