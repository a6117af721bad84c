import pytest

from curator.errors import ConfigError
from curator.params import load_params, params_from_dict

REPO_PARAMS = __import__("tests.conftest", fromlist=["REPO"]).REPO / "params.yaml"


def test_repo_params_load():
    params = load_params(REPO_PARAMS)
    assert params.balance.subgroups == ("site", "device")
    assert params.ingest.splits == ("train", "val", "test")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"ingest": {"workerz": 2}}, "params: ingest.workerz is not a known key"),
        (
            {"duplicates": {"min_edge_correlation": 0.978}},
            "replaced by duplicates.max_distance_ratio",
        ),
        ({"balanse": {}}, "params: section 'balanse' is not known"),
        ({"ingest": {"workers": "two"}}, "params: ingest.workers must be an integer, got 'two'"),
        ({"ingest": {"workers": -1}}, "params: ingest.workers must be >= 0"),
        ({"ingest": {"layout": "tree"}}, "params: ingest.layout must be one of"),
        ({"ingest": {"layout": "manifest"}}, "params: ingest.manifest is required"),
        ({"balance": {"chi2_alpha": 2}}, "params: balance.chi2_alpha must be in (0, 1)"),
        ({"balance": {"subgroups": "site"}}, "params: balance.subgroups must be a list"),
        ({"ingest": {"extensions": ["png"]}}, "entries must start with a dot"),
    ],
)
def test_bad_params_name_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        params_from_dict(raw)
    assert message in str(err.value)


def test_types_are_coerced():
    p = params_from_dict(
        {
            "balance": {"chi2_alpha": 0.05, "min_cell_count": 3, "subgroups": ["a"]},
            "ingest": {"manifest": None},
        }
    )
    assert p.balance.subgroups == ("a",) and p.ingest.manifest is None
    # a class named by a folder "1", written unquoted: YAML reads an int, the class is "1"
    assert params_from_dict({"evaluate": {"positive_class": 1}}).evaluate.positive_class == "1"
    with pytest.raises(ConfigError, match="positive_class must be str"):
        params_from_dict({"evaluate": {"positive_class": True}})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: create it or pass --params"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ingest: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_params(bad)


def test_yaml_11_booleans_are_read_as_the_choice_they_spell(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("agreement:\n  image_evidence: off\n")  # PyYAML and `dvc exp run -S` read False
    assert load_params(path).agreement.image_evidence == "off"
    with pytest.raises(ConfigError, match=r"embed.download must be one of .*got True"):
        params_from_dict({"embed": {"download": True}})  # no choice spells 'yes'
