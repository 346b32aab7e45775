"""Tests of the generated project's custom transformers (templates/project/src/features/transformers).

The transformers are plain Python modules, one per catalog category, copied verbatim into a
project; these tests import them straight from the template tree and check every class against
the node table of the canvas SPEC.md. Expected values are computed by hand from the SPEC (or,
where the SPEC names a scikit-learn class, from that class).
"""

import ast
import importlib
import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from ruff.__main__ import find_ruff_bin
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction import FeatureHasher
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    PowerTransformer,
    StandardScaler,
    TargetEncoder,
)

from gitexport.render import transformer_catalog

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "templates" / "project" / "src" / "features" / "transformers"
# The template tree ships inside gitexport (gitexport.templates); the transformers' directory
# is a namespace package there, so its modules import as they are.
PACKAGE = "gitexport.templates.project.src.features.transformers"
CATEGORY_MODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "_base")
CATALOG = json.loads((ROOT / "gitexport" / "catalog" / "node_catalog.json").read_text())

FRAME_CLASSES = [
    "TextNormalizer",
    "DateFeatures",
    "RegexReplace",
    "LabelEncoderColumns",
    "OrdinalEncoderColumns",
    "OneHotEncoderColumns",
    "HashEncoderColumns",
    "TargetEncoderColumns",
    "ColumnScaler",
    "Binner",
    "SkewnessTransformer",
    "OutlierClipper",
    "ColumnImputer",
    "DropMissingColumns",
    "MissingIndicatorColumns",
    "CastColumns",
    "DropColumns",
]
FILTER_CLASSES = ["OutlierRowFilter", "DropMissingRows", "DropDuplicateRows"]
ALL_CLASSES = FRAME_CLASSES + FILTER_CLASSES


def import_category(module):
    return importlib.import_module(f"{PACKAGE}.{module}")


@pytest.fixture(scope="module")
def tr():
    """Every transformer class, as the generated package re-exports them."""
    classes = {}
    for module in CATEGORY_MODULES:
        imported = import_category(module)
        classes.update({name: getattr(imported, name) for name in imported.__all__})
    return SimpleNamespace(**classes)


def frame(**columns):
    """A DataFrame with a non-default index, to catch index mix-ups."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=[10 * i + 7 for i in range(n)])


def column_list(df):
    return list(df.columns)


# ---------------------------------------------------------------------------- modules


def _ruff(*args, cwd):
    return subprocess.run(
        [find_ruff_bin(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_modules_pass_ruff():
    # Clean both under ruff's defaults (line length 88) plus import sorting and under the
    # generated project's settings (templates/project/pyproject.toml.j2), whatever the
    # configuration around the test run says: the files are copied verbatim.
    paths = sorted(str(p) for p in PACKAGE_DIR.glob("*.py"))
    for line_length, rules in ((88, ["--extend-select", "I"]), (100, ["--select", "E,F,W,I,UP,B"])):
        width = ["--line-length", str(line_length)]
        check = _ruff("check", "--isolated", *width, *rules, *paths, cwd=PACKAGE_DIR)
        assert check.returncode == 0, check.stdout + check.stderr
        fmt = _ruff("format", "--isolated", *width, "--check", "--diff", *paths, cwd=PACKAGE_DIR)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_catalog_of_classes_is_every_modules_all():
    catalog = transformer_catalog()
    assert sorted(catalog) == sorted(ALL_CLASSES)
    for module in CATEGORY_MODULES:
        imported = import_category(module)
        defined = sorted(
            name
            for name, value in vars(imported).items()
            if isinstance(value, type)
            and value.__module__ == imported.__name__
            and not name.startswith("_")
        )
        assert sorted(imported.__all__) == defined, module
        assert all(catalog[name] == module for name in defined)


def test_one_module_per_catalog_category():
    categories = {node["category"] for node in CATALOG["nodes"]}
    assert set(CATEGORY_MODULES) <= categories


@pytest.mark.parametrize("module", CATEGORY_MODULES)
def test_category_module_imports_only_the_base(module):
    """A category module stands alone beside _base: a project copies only the ones it uses."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text())
    relative = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert relative <= {"_base"}
    source = (PACKAGE_DIR / f"{module}.py").read_text()
    assert "gitexport" not in source and "src." not in source


# --------------------------------------------------------------- shared conventions


def _convention_cases(tr):
    """(transformer, X) pairs covering every frame transformer."""
    mixed = frame(
        city=["Paris", " rome", None, "Oslo", "Paris", "rome"],
        size=[1.0, 2.0, np.nan, 4.0, 50.0, 3.0],
        count=[1, 2, 3, 4, 5, 6],
        day=["2024-01-01", "2024-02-29", "bad", None, "2023-12-31", "2024-03-04"],
    )
    return [
        (tr.TextNormalizer(), mixed),
        (tr.DateFeatures(columns=["day"]), mixed),
        (tr.RegexReplace(columns=["city"], pattern="a"), mixed),
        (tr.LabelEncoderColumns(suffix="_code"), mixed),
        (tr.OrdinalEncoderColumns(), mixed),
        (tr.OneHotEncoderColumns(max_categories=3), mixed),
        (tr.HashEncoderColumns(n_features=3), mixed),
        (tr.ColumnScaler(StandardScaler()), mixed),
        (tr.Binner(columns=["count"], n_bins=2), mixed),
        (tr.SkewnessTransformer(method="log1p"), mixed),
        (tr.OutlierClipper(), mixed),
        (tr.ColumnImputer(strategy="most_frequent"), mixed),
        (tr.DropMissingColumns(missing_threshold=10.0), mixed),
        (tr.MissingIndicatorColumns(), mixed),
        (tr.CastColumns({"count": "float", "size": "str"}), mixed),
        (tr.DropColumns(["size"]), mixed),
        (tr.TargetEncoderColumns(cv=2), mixed),
    ]


def test_conventions_of_every_frame_transformer(tr):
    cases = _convention_cases(tr)
    assert {type(t).__name__ for t, _ in cases} == set(FRAME_CLASSES)
    for transformer, X in cases:
        name = type(transformer).__name__
        y = pd.Series([0, 1, 0, 1, 1, 0], index=X.index)
        params = transformer.get_params()
        before = X.copy()
        out = clone(transformer).fit(X, y).transform(X)
        pd.testing.assert_frame_equal(X, before)  # input untouched
        assert isinstance(out, pd.DataFrame), name
        assert list(out.index) == list(X.index), name
        fitted = clone(transformer).fit(X, y)
        assert list(fitted.get_feature_names_out()) == column_list(out), name
        cross_fitted = fitted.fit_transform(X, y)
        pd.testing.assert_frame_equal(X, before)
        assert list(cross_fitted.columns) == column_list(out), name
        assert list(cross_fitted.index) == list(X.index), name
        assert transformer.get_params() == params, name  # fit never touches params
        assert not hasattr(transformer, "feature_names_out_"), name


def test_transform_before_fit_is_not_fitted_error(tr):
    # scikit-learn's own error, not an AttributeError on some fitted attribute.
    for transformer, X in _convention_cases(tr):
        with pytest.raises(NotFittedError):
            transformer.transform(X)
        with pytest.raises(NotFittedError):
            transformer.get_feature_names_out()


def test_constructors_store_parameters_unchanged(tr):
    t = tr.OneHotEncoderColumns(columns=("a", "b"), drop_first=True, max_categories=4)
    assert t.get_params() == {
        "columns": ("a", "b"),
        "drop_first": True,
        "handle_unknown": "ignore",
        "max_categories": 4,
    }
    scaler = tr.ColumnScaler(StandardScaler(with_mean=False), columns=["x"])
    assert scaler.get_params()["scaler__with_mean"] is False
    assert clone(scaler).scaler is not scaler.scaler


@pytest.mark.parametrize(
    "make",
    [
        lambda tr: tr.TextNormalizer(columns=["nope"]),
        lambda tr: tr.DateFeatures(columns=["nope"]),
        lambda tr: tr.RegexReplace(columns=["nope"], pattern="x"),
        lambda tr: tr.LabelEncoderColumns(columns=["nope"]),
        lambda tr: tr.OrdinalEncoderColumns(columns=["nope"]),
        lambda tr: tr.OneHotEncoderColumns(columns=["nope"]),
        lambda tr: tr.HashEncoderColumns(columns=["nope"]),
        lambda tr: tr.ColumnScaler(StandardScaler(), columns=["nope"]),
        lambda tr: tr.Binner(columns=["nope"]),
        lambda tr: tr.SkewnessTransformer(columns=["nope"]),
        lambda tr: tr.OutlierClipper(columns=["nope"]),
        lambda tr: tr.ColumnImputer(columns=["nope"]),
        lambda tr: tr.MissingIndicatorColumns(columns=["nope"]),
        lambda tr: tr.CastColumns({"nope": "int"}),
        lambda tr: tr.DropColumns(["nope"]),
        lambda tr: tr.OutlierRowFilter(columns=["nope"]),
        lambda tr: tr.DropMissingRows(columns=["nope"]),
        lambda tr: tr.DropDuplicateRows(columns=["nope"]),
    ],
)
def test_unknown_explicit_column_is_named(tr, make):
    X = frame(x=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="nope"):
        make(tr).fit(X, pd.Series([0, 1, 0], index=X.index))


def test_target_encoder_unknown_column_is_named(tr):
    X = frame(x=["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="nope"):
        tr.TargetEncoderColumns(columns=["nope"]).fit(X, pd.Series([0, 1, 0, 1]))


def test_transform_names_columns_missing_at_serving_time(tr):
    X = frame(a=["x", "y"], b=[1.0, 2.0])
    fitted = tr.TextNormalizer().fit(X)
    with pytest.raises(ValueError, match="'a'"):
        fitted.transform(X[["b"]])


def test_automatic_choices_finding_nothing_are_no_ops(tr):
    numbers_only = frame(a=[1.0, 2.0, 3.0, 4.0], b=[4, 3, 2, 1])
    text_only = frame(t=["x", "y", "x", "y"], u=["a", "b", "c", "d"])
    y = pd.Series([0, 1, 0, 1], index=numbers_only.index)
    cases = [
        (tr.TextNormalizer(), numbers_only),
        (tr.LabelEncoderColumns(), numbers_only),
        (tr.OrdinalEncoderColumns(), numbers_only),
        (tr.OneHotEncoderColumns(), numbers_only),
        (tr.HashEncoderColumns(), numbers_only),
        (tr.TargetEncoderColumns(), numbers_only),
        (tr.ColumnScaler(StandardScaler()), text_only),
        (tr.SkewnessTransformer(), numbers_only),  # symmetric: skew 0
        (tr.OutlierClipper(), text_only),
        (tr.ColumnImputer(), numbers_only),
        (tr.MissingIndicatorColumns(), numbers_only),
    ]
    for transformer, X in cases:
        fitted = transformer.fit(X, y)
        assert fitted.columns_ == [], type(transformer).__name__
        pd.testing.assert_frame_equal(fitted.transform(X), X)
        pd.testing.assert_frame_equal(clone(transformer).fit_transform(X, y), X)
    X_out, _ = tr.OutlierRowFilter().fit_resample(text_only, y)
    pd.testing.assert_frame_equal(X_out, text_only)


def test_bool_and_datetime_are_not_numeric(tr):
    X = frame(
        flag=[True, False, True],
        when=pd.to_datetime(["2020-01-01", "2021-01-01", "2022-01-01"]),
        n=[1, 2, 3],
        f=pd.array([1, None, 3], dtype="Int64"),
    )
    assert tr.ColumnScaler(StandardScaler()).fit(X).columns_ == ["n", "f"]
    assert tr.LabelEncoderColumns().fit(X).columns_ == ["flag", "when"]


def test_new_column_name_clash_is_an_error(tr):
    X = frame(c=["a", "b"], c_a=[1, 2], d=["x", None], d_missing=[0, 0])
    with pytest.raises(ValueError, match="c_a"):
        tr.OneHotEncoderColumns(columns=["c"]).fit(X)
    with pytest.raises(ValueError, match="d_missing"):
        tr.MissingIndicatorColumns().fit(X)
    with pytest.raises(ValueError, match="c_a"):
        tr.LabelEncoderColumns(columns=["c"], suffix="_a").fit(X)
    with pytest.raises(ValueError, match="c_hash_0"):
        tr.HashEncoderColumns(columns=["c"]).fit(X.assign(c_hash_0=1))
    with pytest.raises(ValueError, match="c_year"):
        tr.DateFeatures(columns=["c"]).fit(X.assign(c_year=1))
    with pytest.raises(ValueError, match="c_a_bin"):
        tr.Binner(columns=["c_a"]).fit(X.assign(c_a_bin=1))


# ------------------------------------------------------------------- TextNormalizer


def test_text_normalizer_default_steps_in_spec_order(tr):
    X = frame(
        t=["  Ｈｅｌｌｏ,\t\n  World!  ", "ﬁNE  Print", None, "a - b"],
        n=[1.0, 2.0, 3.0, 4.0],
    )
    out = tr.TextNormalizer().fit_transform(X)
    # NFKC turns full-width letters and the "ﬁ" ligature into ASCII.
    assert out["t"].iloc[:2].tolist() == ["hello, world!", "fine print"]
    assert pd.isna(out["t"].iloc[2])
    assert out["t"].iloc[3] == "a - b"
    pd.testing.assert_series_equal(out["n"], X["n"])


def test_text_normalizer_punctuation_removed_after_collapsing(tr):
    X = frame(t=["a - b", "It's  OK!"])
    out = tr.TextNormalizer(remove_punctuation=True).fit_transform(X)
    # Removal comes last, so the spaces around "-" are already collapsed to one
    # each and stay two.
    assert out["t"].tolist() == ["a  b", "its ok"]


def test_text_normalizer_switches(tr):
    X = frame(t=["  ﬁ  A  "])
    out = tr.TextNormalizer(
        lowercase=False, strip=False, collapse_whitespace=True, unicode_form="none"
    ).fit_transform(X)
    assert out["t"].tolist() == [" ﬁ A "]
    out = tr.TextNormalizer(unicode_form="NFC").fit_transform(X)
    assert out["t"].tolist() == ["ﬁ a"]  # NFC keeps the ligature


def test_text_normalizer_auto_and_explicit_columns(tr):
    X = frame(s=["A"], flag=[True], n=[1.5])
    fitted = tr.TextNormalizer().fit(X)
    assert fitted.columns_ == ["s", "flag"]  # bool is non-numeric
    assert fitted.transform(X)["flag"].tolist() == ["true"]
    out = tr.TextNormalizer(columns=["n"]).fit_transform(X)
    assert out["n"].tolist() == ["1.5"]  # str(value)
    assert out["s"].tolist() == ["A"]


# --------------------------------------------------------------------- DateFeatures


def test_date_features_parts_and_order(tr):
    X = frame(
        d=["2024-03-15 13:30", "1970-01-02 00:00", "1969-12-31 23:00", "garbage", None],
        x=[1, 2, 3, 4, 5],
    )
    t = tr.DateFeatures(
        columns=["d"], extract=["year", "month", "day", "dayofweek", "hour", "epoch_days"]
    )
    out = t.fit_transform(X)
    assert column_list(out) == [
        "x",
        "d_year",
        "d_month",
        "d_day",
        "d_dayofweek",
        "d_hour",
        "d_epoch_days",
    ]
    assert all(out[c].dtype == "float64" for c in column_list(out)[1:])
    # 2024-03-15 is a Friday (Monday=0 -> 4); 2024-03-15 is day 19797 since 1970.
    assert out.iloc[0, 1:].tolist() == [2024.0, 3.0, 15.0, 4.0, 13.0, 19797.0]
    assert out["d_epoch_days"].iloc[1] == 1.0
    assert out["d_epoch_days"].iloc[2] == -1.0  # whole days, floored
    assert out.iloc[3:, 1:].isna().all().all()  # unparseable and missing


def test_date_features_format_keep_original_and_default_parts(tr):
    X = frame(a=["15/03/2024", "01/02/2023"], b=["2020-01-06", "2020-01-07"])
    out = tr.DateFeatures(
        columns=["a", "b"], input_format="%d/%m/%Y", drop_original=False
    ).fit_transform(X)
    assert column_list(out) == [
        "a",
        "b",
        *[f"a_{p}" for p in ("year", "month", "day", "dayofweek")],
        *[f"b_{p}" for p in ("year", "month", "day", "dayofweek")],
    ]
    assert out["a_month"].tolist() == [3.0, 2.0]
    # b does not match the format: coerced to missing.
    assert out["b_year"].isna().all()


def test_date_features_unknown_part(tr):
    with pytest.raises(ValueError, match="week"):
        tr.DateFeatures(columns=["a"], extract=["week"]).fit(frame(a=["2020-01-01"]))


# --------------------------------------------------------------------- RegexReplace


def test_regex_replace(tr):
    X = frame(t=["Tel 123-456", "ABC abc", None], n=[1, 2, 3])
    out = tr.RegexReplace(columns=["t"], pattern=r"\d+").fit_transform(X)
    assert out["t"].tolist()[:2] == ["Tel -", "ABC abc"]
    assert pd.isna(out["t"].iloc[2])
    out = tr.RegexReplace(
        columns=["t"], pattern="abc", replacement="x", case_sensitive=False
    ).fit_transform(X)
    assert out["t"].tolist()[:2] == ["Tel 123-456", "x x"]
    out = tr.RegexReplace(
        columns=["t", "n"], pattern=r"(\d)(\d)", replacement=r"\2\1"
    ).fit_transform(frame(t=["12"], n=[34]))
    assert out.iloc[0].tolist() == ["21", "43"]


def test_regex_replace_invalid_pattern(tr):
    with pytest.raises(ValueError, match="Invalid regex"):
        tr.RegexReplace(columns=["t"], pattern="(unclosed").fit(frame(t=["a"]))


# -------------------------------------------------------------- LabelEncoderColumns


def test_label_encoder_sorted_string_codes_missing_and_unseen(tr):
    X = frame(c=["b", "a", "c", "a", None], n=[10, 9, 2, 9, 10])
    t = tr.LabelEncoderColumns(columns=["c", "n"]).fit(X)
    out = t.transform(X)
    assert column_list(out) == ["c", "n"]
    assert out["c"].tolist() == [1, 0, 2, 0, -1]
    # Numbers are sorted as strings: "10" < "2" < "9".
    assert out["n"].tolist() == [0, 2, 1, 2, 0]
    assert out["c"].dtype == "int64"
    test = frame(c=["z", "a", None], n=[2, 3, 9])
    assert t.transform(test)["c"].tolist() == [-1, 0, -1]
    assert t.transform(test)["n"].tolist() == [1, -1, 2]


def test_label_encoder_suffix_and_unknown_value(tr):
    X = frame(c=["y", "x"], k=["p", "q"], n=[1.0, 2.0])
    out = (
        tr.LabelEncoderColumns(suffix="_code", unknown_value=99)
        .fit(X)
        .transform(frame(c=["x", "new"], k=["q", None], n=[1.0, 2.0]))
    )
    assert column_list(out) == ["c", "k", "n", "c_code", "k_code"]
    assert out["c"].tolist() == ["x", "new"]
    assert out["c_code"].tolist() == [0, 99]
    assert out["k_code"].tolist() == [1, 99]


# ------------------------------------------------------------ OrdinalEncoderColumns


def test_ordinal_encoder_given_order(tr):
    X = frame(size=["M", "S", "L", None], color=["red", "blue", "red", "green"])
    t = tr.OrdinalEncoderColumns(categories={"size": ["S", "M", "L", "XL"]}).fit(X)
    assert t.columns_ == ["size", "color"]
    out = t.transform(frame(size=["XL", "S", "XXL", None], color=["red", "pink", "blue", None]))
    assert out["size"].tolist() == [3, 0, -1, -1]
    # No order given: sorted training values blue, green, red.
    assert out["color"].tolist() == [2, -1, 0, -1]


def test_ordinal_encoder_value_outside_given_order(tr):
    X = frame(size=["M", "S", "XL"])
    with pytest.raises(ValueError, match="XL"):
        tr.OrdinalEncoderColumns(categories={"size": ["S", "M"]}).fit(X)


def test_ordinal_encoder_categories_for_unencoded_column(tr):
    X = frame(size=["M"], n=[1])
    with pytest.raises(ValueError, match="'n'"):
        tr.OrdinalEncoderColumns(categories={"n": [1]}).fit(X)


def test_ordinal_encoder_numeric_sorted_numerically_and_suffix(tr):
    X = frame(n=[10, 9, 2, 9], grade=[3, 1, 2, 1])
    t = tr.OrdinalEncoderColumns(
        columns=["n", "grade"], categories={"grade": [3, 2, 1]}, suffix="_ord", unknown_value=-5
    ).fit(X)
    out = t.transform(frame(n=[2, 10, 11], grade=[1, 3, np.nan]))
    assert column_list(out) == ["n", "grade", "n_ord", "grade_ord"]
    assert out["n_ord"].tolist() == [0, 2, -5]
    assert out["grade_ord"].tolist() == [2, 0, -5]


# ------------------------------------------------------------- OneHotEncoderColumns


def test_one_hot_basic(tr):
    X = frame(c=["b", "a", "c", None], n=[1, 2, 3, 4], d=["x", "y", "x", "x"])
    t = tr.OneHotEncoderColumns().fit(X)
    out = t.transform(X)
    assert column_list(out) == ["n", "c_a", "c_b", "c_c", "d_x", "d_y"]
    assert out[["c_a", "c_b", "c_c"]].values.tolist() == [
        [0, 1, 0],
        [1, 0, 0],
        [0, 0, 1],
        [0, 0, 0],  # missing -> all zeros
    ]
    assert (out.dtypes.iloc[1:] == "int64").all()
    unseen = t.transform(frame(c=["zzz"], n=[1], d=["x"]))
    assert unseen[["c_a", "c_b", "c_c"]].values.tolist() == [[0, 0, 0]]


def test_one_hot_drop_first_and_string_sorted_categories(tr):
    X = frame(n=[10, 9, 2])
    out = tr.OneHotEncoderColumns(columns=["n"], drop_first=True).fit_transform(X)
    # Categories sorted as strings: "10", "2", "9"; the first one is dropped.
    assert column_list(out) == ["n_2", "n_9"]
    assert out.values.tolist() == [[0, 0], [0, 1], [1, 0]]


def test_one_hot_handle_unknown_error(tr):
    X = frame(c=["a", "b", None])
    t = tr.OneHotEncoderColumns(handle_unknown="error").fit(X)
    assert t.transform(frame(c=["a", None])).values.tolist() == [[1, 0], [0, 0]]
    with pytest.raises(ValueError, match="zzz"):
        t.transform(frame(c=["a", "zzz"]))


def test_one_hot_max_categories_grouping(tr):
    # counts: a 3, b 2, c 2, d 1; max 3 keeps 2: a, then the b/c tie -> b.
    X = frame(c=["a", "a", "a", "b", "b", "c", "c", "d"])
    t = tr.OneHotEncoderColumns(max_categories=3).fit(X)
    assert t.categories_ == {"c": ["a", "b"]}
    assert t.infrequent_categories_ == {"c": ["c", "d"]}
    out = t.transform(frame(c=["b", "d", "c", "new", None]))
    assert column_list(out) == ["c_a", "c_b", "c_infrequent"]
    assert out.values.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    # Not more than max_categories: no grouping.
    out = tr.OneHotEncoderColumns(max_categories=4).fit_transform(X)
    assert column_list(out) == ["c_a", "c_b", "c_c", "c_d"]
    # drop_first drops the first kept category.
    out = tr.OneHotEncoderColumns(max_categories=3, drop_first=True).fit_transform(X)
    assert column_list(out) == ["c_b", "c_infrequent"]


def test_one_hot_as_dummy_encoding(tr):
    X = frame(c=["b", "a", "c"])
    t = tr.OneHotEncoderColumns(handle_unknown="ignore", drop_first=True).fit(X)
    assert t.transform(frame(c=["a", "c", "q"])).values.tolist() == [
        [0, 0],
        [0, 1],
        [0, 0],
    ]


# --------------------------------------------------------------- HashEncoderColumns


def test_hash_encoder_matches_feature_hasher_and_hashes_missing_as_empty(tr):
    X = frame(c=["apple", None, "pear"], n=[1.0, 2.0, 3.0])
    out = tr.HashEncoderColumns(n_features=4).fit_transform(X)
    assert column_list(out) == ["n", "c_hash_0", "c_hash_1", "c_hash_2", "c_hash_3"]
    hasher = FeatureHasher(n_features=4, input_type="string", alternate_sign=False)
    expected = hasher.transform([["apple"], [""], ["pear"]]).toarray()
    np.testing.assert_array_equal(out.iloc[:, 1:].to_numpy(), expected)
    # One token per row, no sign flipping: each row has a single 1.
    assert out.iloc[:, 1:].sum(axis=1).tolist() == [1.0, 1.0, 1.0]


def test_hash_encoder_value_as_string(tr):
    out = tr.HashEncoderColumns(columns=["n"], n_features=8).fit_transform(frame(n=[12]))
    hasher = FeatureHasher(n_features=8, input_type="string", alternate_sign=False)
    np.testing.assert_array_equal(out.to_numpy(), hasher.transform([["12"]]).toarray())


# ------------------------------------------------------------- TargetEncoderColumns


def _target_frame():
    X = frame(c=["a", "b", None, "a", "b", "a"], n=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = pd.Series(["yes", "no", "yes", "yes", "no", "no"], index=X.index)
    return X, y


def test_target_encoder_transform_hand_computed(tr):
    X, y = _target_frame()
    t = tr.TargetEncoderColumns(smooth=0.0, cv=2).fit(X, y)
    out = t.transform(frame(c=["a", "b", None, "zzz"], n=[0.0, 0.0, 0.0, 0.0]))
    # Positive class "yes" (second in sorted order). a: yes, yes, no -> 2/3;
    # b: no, no -> 0; missing and unseen: training mean 3/6.
    np.testing.assert_allclose(out["c"], [2 / 3, 0.0, 0.5, 0.5])
    assert out["n"].tolist() == [0.0, 0.0, 0.0, 0.0]


# The SPEC names TargetEncoder(shuffle=True, random_state), deprecated in 1.9.
@pytest.mark.filterwarnings("ignore:`TargetEncoder.shuffle`:FutureWarning")
@pytest.mark.parametrize("target_type", ["binary", "continuous"])
def test_target_encoder_fit_transform_is_sklearn_cross_fitting(tr, target_type):
    X, y = _target_frame()
    X = pd.concat([X] * 5)
    y = pd.concat([y] * 5)
    if target_type == "continuous":
        y = pd.Series(np.linspace(0.0, 3.0, len(y)) ** 2, index=y.index)
    t = tr.TargetEncoderColumns(cv=3, random_state=7)
    out = t.fit_transform(X, y)
    reference = TargetEncoder(
        smooth="auto", cv=3, shuffle=True, random_state=7, target_type=target_type
    )
    values = X[["c"]].astype(object).where(X[["c"]].notna(), np.nan)
    expected = reference.fit_transform(values, y).ravel()
    missing = X["c"].isna().to_numpy()
    np.testing.assert_allclose(out["c"].to_numpy()[~missing], expected[~missing])
    mean = 0.5 if target_type == "binary" else y.mean()
    np.testing.assert_allclose(out["c"].to_numpy()[missing], mean)
    assert column_list(out) == ["c", "n"]
    # transform (serving) uses the encoder fitted on all rows, not the folds.
    np.testing.assert_allclose(
        t.transform(X)["c"].to_numpy()[~missing], reference.transform(values).ravel()[~missing]
    )


def test_target_encoder_continuous_for_float_target(tr):
    X = frame(c=["a", "b", "a", "b"])
    y = pd.Series([1.0, 2.0, 3.0, 4.0], index=X.index)
    t = tr.TargetEncoderColumns(smooth=0.0, cv=2).fit(X, y)
    assert t.encoder_.target_type_ == "continuous"
    np.testing.assert_allclose(t.transform(frame(c=["a", "b", None]))["c"], [2.0, 3.0, 2.5])


def test_target_encoder_multiclass_is_an_error(tr):
    X = frame(c=["a", "b", "c"])
    with pytest.raises(ValueError, match="multiclass target encoding"):
        tr.TargetEncoderColumns().fit(X, pd.Series([0, 1, 2], index=X.index))


def test_target_encoder_pipeline_uses_fit_transform(tr):
    class Recorder(BaseEstimator):
        def fit(self, X, y):
            self.seen_ = X
            return self

        def predict(self, X):
            return np.zeros(len(X))

    X, y = _target_frame()
    X = pd.concat([X] * 5)
    y = pd.concat([y] * 5)
    pipe = Pipeline([("te", tr.TargetEncoderColumns(cv=3)), ("model", Recorder())])
    pipe.fit(X, y)
    cross_fitted = clone(pipe.named_steps["te"]).fit_transform(X, y)
    pd.testing.assert_frame_equal(pipe.named_steps["model"].seen_, cross_fitted)
    assert not pipe.named_steps["model"].seen_.equals(pipe.named_steps["te"].transform(X))


# --------------------------------------------------------------------- ColumnScaler


def test_column_scaler_standard_in_place_with_nan(tr):
    X = frame(a=[1, 2, 3, None], s=["x", "y", "z", "w"], b=[5, 5, 5, 5], flag=[True] * 4)
    t = tr.ColumnScaler(StandardScaler()).fit(X)
    assert t.columns_ == ["a", "b"]
    out = t.transform(X)
    assert column_list(out) == ["a", "s", "b", "flag"]
    z = 1 / math.sqrt(2 / 3)  # population std of 1, 2, 3
    np.testing.assert_allclose(out["a"].to_numpy()[:3], [-z, 0.0, z])
    assert np.isnan(out["a"].iloc[3])
    assert out["b"].tolist() == [0.0] * 4  # constant column: scale 1
    assert out["s"].tolist() == X["s"].tolist()


def test_column_scaler_minmax_explicit_columns(tr):
    X = frame(a=[0.0, 5.0, 10.0], b=[1.0, 2.0, 3.0])
    t = tr.ColumnScaler(MinMaxScaler(feature_range=(-1, 1)), columns=["a"]).fit(X)
    out = t.transform(frame(a=[5.0, 20.0], b=[7.0, 8.0]))
    assert out["a"].tolist() == [0.0, 3.0]
    assert out["b"].tolist() == [7.0, 8.0]


# --------------------------------------------------------------------------- Binner


def test_binner_quantile(tr):
    X = frame(x=[float(v) for v in range(1, 11)] + [np.nan], k=list(range(11)))
    t = tr.Binner(columns=["x"], n_bins=2).fit(X)
    # averaged_inverted_cdf median of 1..10 is 5.5; bins [1, 5.5), [5.5, 10].
    np.testing.assert_allclose(t.discretizers_["x"].bin_edges_[0], [1.0, 5.5, 10.0])
    out = t.transform(frame(x=[5.0, 5.5, 6.0, -100.0, 100.0, np.nan], k=[0] * 6))
    assert column_list(out) == ["x", "k", "x_bin"]
    np.testing.assert_array_equal(out["x_bin"], [0.0, 1.0, 1.0, 0.0, 1.0, np.nan])
    assert out["x_bin"].dtype == "float64"


def test_binner_uniform_and_drop_original(tr):
    X = frame(a=[0.0, 10.0, 4.0], b=[1, 2, 3], c=[0, 6, 9])
    t = tr.Binner(columns=["a", "c"], n_bins=2, strategy="uniform", suffix="_b", drop_original=True)
    out = t.fit_transform(X)
    assert column_list(out) == ["b", "a_b", "c_b"]
    assert out["a_b"].tolist() == [0.0, 1.0, 0.0]  # edges 0, 5, 10
    assert out["c_b"].tolist() == [0.0, 1.0, 1.0]  # edges 0, 4.5, 9


def test_binner_custom_edges(tr):
    X = frame(x=[-5.0, 0.0, 10.0, 10.5, 20.0, 25.0, np.nan])
    t = tr.Binner(columns=["x"], strategy="custom", edges={"x": [0, 10, 20]}).fit(X)
    out = t.transform(X)
    # pd.cut: [0, 10], (10, 20]; outside values go to the first / last bin.
    np.testing.assert_array_equal(out["x_bin"], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, np.nan])


def test_binner_custom_needs_valid_edges(tr):
    X = frame(x=[1.0], y=[2.0])
    with pytest.raises(ValueError, match="'y'"):
        tr.Binner(columns=["x", "y"], strategy="custom", edges={"x": [0, 1]}).fit(X)
    with pytest.raises(ValueError, match="increasing"):
        tr.Binner(columns=["x"], strategy="custom", edges={"x": [1, 0]}).fit(X)


def test_binner_all_missing_serving_row(tr):
    t = tr.Binner(columns=["x"], n_bins=2).fit(frame(x=[1.0, 2.0, 3.0, 4.0]))
    assert np.isnan(t.transform(frame(x=[np.nan]))["x_bin"].iloc[0])


# -------------------------------------------------------------- SkewnessTransformer


def test_skewness_auto_choice(tr):
    X = frame(
        skewed=[1.0, 1.0, 1.0, 1.0, 10.0],  # pandas skew ~2.24
        flat=[1.0, 2.0, 3.0, 4.0, 5.0],  # skew 0
        neg=[10.0, 10.0, 10.0, 10.0, 1.0],  # skew ~ -2.24: |skew| counts
        flag=[True, False, False, False, False],
        s=["a", "b", "c", "d", "e"],
    )
    assert tr.SkewnessTransformer().fit(X).columns_ == ["skewed", "neg"]
    assert tr.SkewnessTransformer(threshold=3.0).fit(X).columns_ == []


def test_skewness_log1p_and_sqrt_on_clipped_values(tr):
    X = frame(x=[-1.0, 0.0, math.e - 1, np.nan], y=[-4.0, 4.0, 9.0, 16.0])
    out = tr.SkewnessTransformer(columns=["x"], method="log1p").fit_transform(X)
    np.testing.assert_allclose(out["x"], [0.0, 0.0, 1.0, np.nan])
    assert out["y"].tolist() == X["y"].tolist()
    out = tr.SkewnessTransformer(columns=["y"], method="sqrt").fit_transform(X)
    assert out["y"].tolist() == [0.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_skewness_power_transform(tr, method):
    X = frame(x=[1.0, 2.0, 3.0, 50.0, 100.0, np.nan], n=[1, 2, 3, 4, 5, 6])
    out = tr.SkewnessTransformer(columns=["x"], method=method).fit_transform(X)
    reference = PowerTransformer(method=method, standardize=False).fit(X[["x"]])
    np.testing.assert_allclose(out["x"], reference.transform(X[["x"]]).ravel())
    assert np.isnan(out["x"].iloc[5])
    assert out["n"].tolist() == X["n"].tolist()


def test_skewness_box_cox_non_positive(tr):
    X = frame(x=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="'x'"):
        tr.SkewnessTransformer(columns=["x"], method="box-cox").fit(X)


# ------------------------------------------------------------------- OutlierClipper


def test_outlier_clipper_iqr(tr):
    X = frame(x=[1, 2, 3, 4, 100], s=["a"] * 5)
    t = tr.OutlierClipper().fit(X)
    # q1 2, q3 4, iqr 2 -> [-1, 7]
    assert t.bounds_ == {"x": (-1.0, 7.0)}
    out = t.transform(frame(x=[-5, 3, 100, None], s=["a"] * 4))
    np.testing.assert_array_equal(out["x"], [-1.0, 3.0, 7.0, np.nan])
    assert out["x"].dtype == "float64"
    assert t.transform(X)["x"].dtype == "float64"


def test_outlier_clipper_zscore_and_threshold(tr):
    X = frame(x=[1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    t = tr.OutlierClipper(method="zscore", threshold=1.0).fit(X)
    std = math.sqrt(2.5)  # ddof=1
    np.testing.assert_allclose(t.bounds_["x"], (3 - std, 3 + std))
    np.testing.assert_allclose(t.transform(X)["x"], [3 - std, 2.0, 3.0, 4.0, 3 + std, np.nan])
    t = tr.OutlierClipper(method="iqr", threshold=0.5).fit(frame(x=[1, 2, 3, 4, 100]))
    assert t.bounds_ == {"x": (1.0, 5.0)}
    zs = tr.OutlierClipper(method="zscore").fit(frame(x=[1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_allclose(zs.bounds_["x"], (3 - 3 * std, 3 + 3 * std))


def test_outlier_unknown_method(tr):
    with pytest.raises(ValueError, match="mad"):
        tr.OutlierClipper(method="mad").fit(frame(x=[1.0]))


# -------------------------------------------------------------------- ColumnImputer


def test_imputer_median_auto_numeric_with_missing_only(tr):
    X = frame(
        a=[1.0, np.nan, 3.0, 10.0],
        b=[1.0, 2.0, 3.0, 4.0],
        s=["x", None, "x", "y"],
        i=pd.array([1, None, 2, 2], dtype="Int64"),
    )
    t = tr.ColumnImputer().fit(X)
    assert t.columns_ == ["a", "i"]
    out = t.transform(frame(a=[np.nan, 5.0], b=[np.nan, 1.0], s=[None, "q"], i=[None, 7]))
    assert out["a"].tolist() == [3.0, 5.0]
    assert out["i"].tolist() == [2.0, 7.0]
    assert np.isnan(out["b"].iloc[0])  # not chosen: no missing in training
    assert pd.isna(out["s"].iloc[0])


def test_imputer_mean(tr):
    X = frame(a=[1.0, np.nan, 3.0, 8.0])
    assert tr.ColumnImputer(strategy="mean").fit_transform(X)["a"].tolist() == [
        1.0,
        4.0,
        3.0,
        8.0,
    ]


def test_imputer_most_frequent_includes_text(tr):
    X = frame(s=["b", "a", "a", None, "b", "a"], n=[2.0, 1.0, 1.0, np.nan, 5.0, 9.0])
    t = tr.ColumnImputer(strategy="most_frequent").fit(X)
    assert t.columns_ == ["s", "n"]
    out = t.transform(X)
    assert out["s"].tolist() == ["b", "a", "a", "a", "b", "a"]
    assert out["n"].tolist() == [2.0, 1.0, 1.0, 1.0, 5.0, 9.0]
    assert not pd.api.types.is_numeric_dtype(out["s"])


def test_imputer_constant_defaults_and_given(tr):
    X = frame(s=["b", None], n=[np.nan, 5.0], k=[1, 2])
    out = tr.ColumnImputer(strategy="constant").fit_transform(X)
    assert out["s"].tolist() == ["b", "missing"]
    assert out["n"].tolist() == [0.0, 5.0]
    assert out["k"].tolist() == [1, 2]
    out = tr.ColumnImputer(columns=["n"], strategy="constant", fill_value=-1).fit_transform(X)
    assert out["n"].tolist() == [-1.0, 5.0]
    assert pd.isna(out["s"].iloc[1])


def test_imputer_knn_uses_columns_together(tr):
    X = frame(a=[1.0, 2.0, 3.0, np.nan], b=[10.0, 20.0, 30.0, 21.0])
    out = tr.ColumnImputer(columns=["a", "b"], strategy="knn", n_neighbors=1).fit_transform(X)
    assert out["a"].tolist() == [1.0, 2.0, 3.0, 2.0]  # nearest on b: row with b=20


def test_imputer_numeric_strategy_on_text_is_an_error(tr):
    with pytest.raises(ValueError, match="'s'"):
        tr.ColumnImputer(columns=["s"], strategy="median").fit(frame(s=["a", None]))


# --------------------------------------------------------------- DropMissingColumns


def test_drop_missing_columns_strictly_above_threshold(tr):
    X = frame(
        forty=[1.0, np.nan, np.nan, 4.0, 5.0],  # 40 % missing: kept
        sixty=[np.nan, np.nan, np.nan, 4.0, 5.0],  # 60 %: dropped
        s=[None, None, None, None, "x"],  # 80 %: dropped
        full=[1, 2, 3, 4, 5],
    )
    t = tr.DropMissingColumns().fit(X)
    assert t.dropped_columns_ == ["sixty", "s"]
    out = t.transform(frame(forty=[1.0], sixty=[1.0], s=["a"], full=[1]))
    assert column_list(out) == ["forty", "full"]
    assert tr.DropMissingColumns(missing_threshold=30.0).fit(X).dropped_columns_ == [
        "forty",
        "sixty",
        "s",
    ]


# ---------------------------------------------------------- MissingIndicatorColumns


def test_missing_indicator(tr):
    X = frame(a=[1.0, np.nan], s=[None, "x"], full=[1, 2])
    t = tr.MissingIndicatorColumns().fit(X)
    assert t.columns_ == ["a", "s"]
    out = t.transform(frame(a=[np.nan, 2.0], s=["y", "z"], full=[None, 1]))
    assert column_list(out) == ["a", "s", "full", "a_missing", "s_missing"]
    assert out["a_missing"].tolist() == [1, 0]
    assert out["s_missing"].tolist() == [0, 0]
    assert out["a_missing"].dtype == "int64"
    out = tr.MissingIndicatorColumns(columns=["full"], suffix="_na").fit_transform(X)
    assert out["full_na"].tolist() == [0, 0]


# --------------------------------------------------------------------- CastColumns


def test_cast_columns(tr):
    X = frame(
        i=["1", "2", None, "4", "5", "6", "7"],
        f=["1.5", "x", None, "2", "3", "4", "5"],
        s=[1.5, None, 2.0, 3.0, 4.0, 5.0, 6.0],
        c=["a", "b", None, "a", "b", "a", "b"],
        b=["Yes", "no", None, "TRUE", "0", "1", "maybe"],
        bn=[1.0, 0.0, np.nan, 1.0, 0.0, 1.0, 2.0],
        d=["2024-01-02", "nope", None, "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"],
    )
    casts = {
        "i": "int",
        "f": "float",
        "s": "str",
        "c": "category",
        "b": "bool",
        "bn": "bool",
        "d": "datetime",
    }
    out = tr.CastColumns(casts).fit_transform(X)
    assert column_list(out) == column_list(X)
    assert out["i"].dtype == "Int64"
    assert out["i"].tolist()[:2] == [1, 2] and out["i"].isna().tolist()[2]
    assert out["f"].dtype == "float64"
    np.testing.assert_array_equal(out["f"], [1.5, np.nan, np.nan, 2, 3, 4, 5])
    assert pd.api.types.is_string_dtype(out["s"])
    assert out["s"].iloc[0] == "1.5" and pd.isna(out["s"].iloc[1])
    assert pd.api.types.is_string_dtype(out["c"]) and out["c"].iloc[0] == "a"
    assert out["b"].dtype == "boolean"
    assert out["b"].tolist() == [True, False, pd.NA, True, False, True, pd.NA]
    assert out["bn"].tolist() == [True, False, pd.NA, True, False, True, pd.NA]
    assert pd.api.types.is_datetime64_any_dtype(out["d"])
    assert out["d"].iloc[0] == pd.Timestamp("2024-01-02")
    assert out["d"].isna().tolist()[1:3] == [True, True]


def test_cast_unknown_type(tr):
    with pytest.raises(ValueError, match="decimal"):
        tr.CastColumns({"a": "decimal"}).fit(frame(a=[1]))


# --------------------------------------------------------------------- DropColumns


def test_drop_columns(tr):
    X = frame(a=[1], b=[2], c=[3])
    t = tr.DropColumns(["c", "a"]).fit(X)
    assert column_list(t.transform(X)) == ["b"]
    assert list(t.get_feature_names_out()) == ["b"]


# --------------------------------------------------------------------- row filters


class _Recorder(BaseEstimator):
    """Final step that remembers what it saw and predicts one value per row."""

    def fit(self, X, y):
        self.X_ = X
        self.y_ = y
        return self

    def predict(self, X):
        return np.arange(len(X))


def test_row_filters_follow_the_sampler_protocol(tr):
    for name in FILTER_CLASSES:
        cls = getattr(tr, name)
        assert hasattr(cls, "fit_resample") and hasattr(cls, "fit"), name
        assert not hasattr(cls, "transform"), name


def test_outlier_row_filter(tr):
    from imblearn.pipeline import Pipeline as ImbPipeline

    X = frame(x=[1, 2, 3, 4, 100, None], z=[5.0, 5.0, 5.0, 5.0, 5.0, -1000.0])
    y = pd.Series(["a", "b", "a", "b", "a", "b"], index=X.index)
    f = tr.OutlierRowFilter(columns=["x"])
    X_out, y_out = f.fit_resample(X, y)
    # q1 2, q3 4 -> [-1, 7]: 100 goes, the missing value stays.
    assert list(X_out.index) == [7, 17, 27, 37, 57]
    assert list(f.kept_index_) == [7, 17, 27, 37, 57]
    assert y_out.tolist() == ["a", "b", "a", "b", "b"]
    assert list(y_out.index) == list(X_out.index)
    # All numeric columns by default: z's -1000 goes too (iqr of z is 0).
    X_auto, _ = tr.OutlierRowFilter().fit_resample(X, y)
    assert list(X_auto.index) == [7, 17, 27, 37]
    zs = tr.OutlierRowFilter(columns=["x"], method="zscore", threshold=1.0)
    assert list(zs.fit_resample(X, y)[0].index) == [7, 17, 27, 37, 57]

    pipe = ImbPipeline([("filter", tr.OutlierRowFilter()), ("model", _Recorder())])
    pipe.fit(X, y)
    assert list(pipe.named_steps["model"].X_.index) == [7, 17, 27, 37]
    # Serving: the filter is skipped, every row gets a prediction.
    assert len(pipe.predict(X)) == len(X)


def test_drop_missing_rows(tr):
    X = frame(a=[1.0, np.nan, 3.0, np.nan, 5.0], b=["x", None, "z", "w", "v"])
    y = pd.Series([0, 1, np.nan, 1, 0], index=X.index)
    X_out, y_out = tr.DropMissingRows().fit_resample(X, y)
    assert list(X_out.index) == [7, 47]  # target included by default
    assert y_out.tolist() == [0.0, 0.0]
    X_out, _ = tr.DropMissingRows(columns=["a"]).fit_resample(X, y)
    assert list(X_out.index) == [7, 27, 47]
    X_out, _ = tr.DropMissingRows(columns=["a", "b"], how="all").fit_resample(X, y)
    assert list(X_out.index) == [7, 27, 37, 47]
    with pytest.raises(ValueError, match="sometimes"):
        tr.DropMissingRows(how="sometimes").fit(X, y)


def test_drop_duplicate_rows(tr):
    X = frame(a=[1, 1, 1, 2, 1], b=["x", "x", "x", "y", "q"])
    y = pd.Series([0, 0, 1, 0, 0], index=X.index)
    f = tr.DropDuplicateRows()
    X_out, y_out = f.fit_resample(X, y)
    # Row 2 repeats row 1 in features and target; row 3 differs in the target.
    assert list(X_out.index) == [7, 27, 37, 47]
    assert y_out.tolist() == [0, 1, 0, 0]
    X_out, _ = tr.DropDuplicateRows(keep="last").fit_resample(X, y)
    assert list(X_out.index) == [17, 27, 37, 47]
    X_out, _ = tr.DropDuplicateRows(columns=["a"]).fit_resample(X, y)
    assert list(X_out.index) == [7, 37]
    # A feature named like anything cannot clash with the target.
    X_named = X.rename(columns={"a": 0, "b": 1})
    assert len(tr.DropDuplicateRows().fit_resample(X_named, y)[0]) == 4


def test_row_filters_may_name_the_target(tr):
    """Row filters are the only nodes that touch the target; an explicit list may name it."""
    X = frame(a=[1, 1, 1, 2, 1], b=["x", "x", "x", "y", "q"])
    y = pd.Series([0, 0, 1, 0, None], index=X.index, name="label")
    # Duplicates on (a, label): rows 0 and 1 repeat; row 4 has a missing label.
    X_out, _ = tr.DropDuplicateRows(columns=["a", "label"]).fit_resample(X, y)
    assert list(X_out.index) == [7, 27, 37, 47]
    X_out, y_out = tr.DropMissingRows(columns=["label"]).fit_resample(X, y)
    assert list(X_out.index) == [7, 17, 27, 37]
    assert y_out.notna().all()


# --------------------------------------------------------------------- integration


def _churn_frame():
    rng = np.random.default_rng(0)
    n = 80
    X = pd.DataFrame(
        {
            "plan": rng.choice([" Basic", "premium ", "PREMIUM", "family"], size=n),
            "region": rng.choice(["north", "south", None], size=n),
            "tenure": rng.integers(1, 60, size=n),
            "charges": np.round(rng.normal(70, 20, size=n), 2),
        },
        index=np.arange(1000, 1000 + n),
    )
    X.loc[X.index[::9], "charges"] = np.nan
    y = pd.Series(np.where(rng.random(n) < 0.2, "yes", "no"), index=X.index, name="churn")
    return X, y


def test_imblearn_pipeline_with_smote(tr):
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline as ImbPipeline
    from sklearn.ensemble import RandomForestClassifier

    X, y = _churn_frame()
    steps = [
        ("dedupe", tr.DropDuplicateRows()),
        ("text", tr.TextNormalizer()),
        ("impute_text", tr.ColumnImputer(strategy="most_frequent", columns=["region"])),
        ("indicator", tr.MissingIndicatorColumns()),
        ("impute", tr.ColumnImputer()),
        ("outliers", tr.OutlierRowFilter(columns=["charges"])),
        ("onehot", tr.OneHotEncoderColumns(drop_first=True)),
        ("scale", tr.ColumnScaler(StandardScaler(), columns=["charges"])),
        ("smote", SMOTE(random_state=42)),
        ("model", RandomForestClassifier(n_estimators=20, random_state=42)),
    ]
    pipe = ImbPipeline(steps).fit(X, y)
    serving = X.head(5).copy()
    serving.loc[serving.index[0], "plan"] = "enterprise"  # unseen category
    predictions = pipe.predict(serving)
    assert len(predictions) == 5 and set(predictions) <= {"yes", "no"}
    assert pipe.predict_proba(serving).shape == (5, 2)

    resampled_X, resampled_y = ImbPipeline(steps[:-1]).fit_resample(X, y)
    assert isinstance(resampled_X, pd.DataFrame)
    assert resampled_y.value_counts()["yes"] == resampled_y.value_counts()["no"]
    assert resampled_X["tenure"].dtype == "int64"  # synthetic values stay integer
    assert resampled_X["plan_premium"].dtype == "int64"
    assert set(resampled_X["plan_premium"]) <= {0, 1}
    assert resampled_X["charges_missing"].dtype == "int64"
    assert list(resampled_X.columns) == list(pipe[:-2].get_feature_names_out())
