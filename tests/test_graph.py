"""Graph analysis (``gitexport.graph``): the exported chain, skipped nodes, graph errors."""

from __future__ import annotations

import json

import pytest

from gitexport.document import Document
from gitexport.errors import DocumentError
from gitexport.graph import analyse_graph
from helpers import BASE_CHAIN, EXAMPLES, base_pipeline, chain, edge, find_node, make_document, node


def analyse(doc: dict):
    return analyse_graph(Document.model_validate(doc))


def graph_problems(doc: dict) -> list[str]:
    with pytest.raises(DocumentError) as info:
        analyse(doc)
    return [str(p) for p in info.value.problems]


def one_with(problems, *parts) -> bool:
    return any(all(p in line for p in parts) for line in problems)


def ids(nodes) -> list[str]:
    return [n.id for n in nodes]


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name / "pipeline.json").read_text())


# --- the chain -------------------------------------------------------------------------


def test_base_chain_in_order():
    result = analyse(base_pipeline())
    assert ids(result.nodes) == list(BASE_CHAIN[:-1])
    assert result.dataset.id == "n1"
    assert result.model.id == "n7"
    assert result.evaluate.id == "n8"
    assert result.skipped == ()


def test_chain_order_follows_edges_not_node_list_order():
    doc = base_pipeline()
    doc["graph"]["nodes"].reverse()
    doc["graph"]["edges"].reverse()
    assert ids(analyse(doc).nodes) == list(BASE_CHAIN[:-1])


def test_telco_skips_off_chain_and_disabled_nodes():
    result = analyse(example("telco_churn"))
    assert ids(result.nodes) == ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"]
    assert result.evaluate.id == "n10"
    skipped = dict(result.skipped)
    assert set(skipped) == {"n11", "n12"}
    assert "off the chain" in skipped["n11"]
    assert "disabled" in skipped["n12"]


@pytest.mark.parametrize(
    "name, model, evaluate", [("penguins", "n8", "n9"), ("diamonds", "n6", "n7")]
)
def test_other_examples(name, model, evaluate):
    result = analyse(example(name))
    assert result.model.id == model
    assert result.evaluate.id == evaluate
    assert result.skipped == ()


def test_disabled_node_on_the_chain_is_kept_in_the_chain_and_reported():
    doc = base_pipeline()
    find_node(doc, "n6")["data"]["disabled"] = True
    result = analyse(doc)
    assert "n6" in ids(result.nodes)
    skipped = dict(result.skipped)
    assert set(skipped) == {"n6"}
    assert "disabled" in skipped["n6"]


def test_without_evaluate_node():
    doc = base_pipeline()
    doc["graph"]["nodes"] = [n for n in doc["graph"]["nodes"] if n["id"] != "n8"]
    doc["graph"]["edges"] = chain(*BASE_CHAIN[:-1])
    assert analyse(doc).evaluate is None


def test_evaluate_not_on_the_model_is_skipped():
    doc = base_pipeline()
    doc["graph"]["edges"] = chain(*BASE_CHAIN[:-1]) + [edge("n6", "n8")]
    result = analyse(doc)
    assert result.evaluate is None
    assert "n8" in dict(result.skipped)


def test_second_evaluate_on_the_model_is_skipped():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("n9", "evaluate_model", "Second", metrics=["f1"]))
    doc["graph"]["edges"].append(edge("n7", "n9"))
    result = analyse(doc)
    assert result.evaluate.id == "n8"
    assert set(dict(result.skipped)) == {"n9"}


def test_export_model_node_chooses_among_several():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(
        node("x7", "train_model", "Forest", model_type="random_forest_classifier")
    )
    doc["graph"]["edges"].append(edge("n5", "x7"))
    doc["export"] = {"model_node": "x7"}
    result = analyse(doc)
    assert ids(result.nodes) == ["n1", "n2", "n3", "n4", "n5", "x7"]
    skipped = dict(result.skipped)
    assert set(skipped) == {"n6", "n7", "n8"}  # the other branch, its model and its evaluation


def test_disabled_second_model_needs_no_model_node():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("x7", "train_model", "Old", disabled=True, model_type="svc"))
    doc["graph"]["edges"].append(edge("n6", "x7"))
    result = analyse(doc)
    assert result.model.id == "n7"
    assert "x7" in dict(result.skipped)


def test_hyperparameter_tuning_is_a_model_node():
    doc = base_pipeline()
    n7 = find_node(doc, "n7")
    n7["type"] = "hyperparameter_tuning"
    n7["data"]["config"] = {"model_type": "logistic_regression", "param_grid": {"C": [0.1, 1.0]}}
    assert analyse(doc).model.id == "n7"


def test_split_may_stand_anywhere_before_the_model():
    doc = base_pipeline()
    doc["graph"]["edges"] = chain("n1", "n3", "n4", "n5", "n2", "n6", "n7", "n8")
    assert ids(analyse(doc).nodes) == ["n1", "n3", "n4", "n5", "n2", "n6", "n7"]


def test_duplicate_identical_edges_are_one_input():
    doc = base_pipeline()
    doc["graph"]["edges"].append(edge("n3", "n4", "e_again"))
    assert ids(analyse(doc).nodes) == list(BASE_CHAIN[:-1])


# --- graph errors ---------------------------------------------------------------------


def test_cycle_off_the_chain():
    doc = base_pipeline()
    doc["graph"]["nodes"] += [
        node("a", "minmax_scaler"),
        node("b", "robust_scaler"),
        node("c", "standard_scaler"),
    ]
    doc["graph"]["edges"] += [edge("a", "b"), edge("b", "c"), edge("c", "a")]
    problems = graph_problems(doc)
    assert one_with(problems, "cycle", "a", "b", "c")


def test_cycle_through_the_chain():
    doc = base_pipeline()
    doc["graph"]["edges"].append(edge("n6", "n5"))  # n5 now has two inputs and sits in a cycle
    problems = graph_problems(doc)
    assert one_with(problems, "cycle", "n5", "n6")
    assert one_with(problems, "'n5'", "incoming")


def test_self_loop():
    doc = base_pipeline()
    doc["graph"]["edges"].append(edge("n4", "n4"))
    assert one_with(graph_problems(doc), "'n4'", "itself")


def test_two_inputs_names_the_node_and_its_sources():
    doc = base_pipeline()
    doc["graph"]["edges"].append(edge("n2", "n4"))
    assert one_with(graph_problems(doc), "'n4'", "(Impute)", "n2", "n3", "incoming")


@pytest.mark.parametrize("source, target", [("n3", "ghost"), ("ghost", "n3")])
def test_dangling_edges(source, target):
    doc = base_pipeline()
    doc["graph"]["edges"].append(edge(source, target, "e_bad"))
    assert one_with(graph_problems(doc), "'e_bad'", "'ghost'")


def test_no_dataset():
    doc = base_pipeline()
    find_node(doc, "n1")["type"] = "drop_duplicates"
    find_node(doc, "n1")["data"]["config"] = {}
    assert one_with(graph_problems(doc), "no dataset node")


def test_two_datasets():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("d2", "dataset", "Other", source_id="ds_1"))
    assert one_with(graph_problems(doc), "n1", "d2")


def test_dataset_disabled():
    doc = base_pipeline()
    find_node(doc, "n1")["data"]["disabled"] = True
    assert one_with(graph_problems(doc), "'n1'", "disabled")


def test_no_model():
    doc = base_pipeline()
    doc["graph"]["nodes"] = [n for n in doc["graph"]["nodes"] if n["id"] not in ("n7", "n8")]
    doc["graph"]["edges"] = chain(*BASE_CHAIN[:-2])
    assert one_with(graph_problems(doc), "no model node")


def test_only_model_disabled_is_no_model():
    doc = base_pipeline()
    find_node(doc, "n7")["data"]["disabled"] = True
    assert graph_problems(doc)


def test_several_models_without_model_node():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(
        node("x7", "hyperparameter_tuning", model_type="svc", param_grid={"C": [1]})
    )
    doc["graph"]["edges"].append(edge("n6", "x7"))
    assert one_with(graph_problems(doc), "export.model_node", "n7", "x7")


@pytest.mark.parametrize(
    "model_node, parts",
    [
        ("nope", ("export.model_node", "'nope'")),
        ("n4", ("export.model_node", "'n4'", "not a model")),
    ],
)
def test_bad_model_node(model_node, parts):
    doc = base_pipeline()
    doc["export"] = {"model_node": model_node}
    assert one_with(graph_problems(doc), *parts)


def test_chosen_model_node_disabled():
    doc = base_pipeline()
    find_node(doc, "n7")["data"]["disabled"] = True
    doc["export"] = {"model_node": "n7"}
    assert one_with(graph_problems(doc), "'n7'", "disabled")


def test_no_split_on_the_chain():
    doc = base_pipeline()
    doc["graph"]["edges"] = chain("n1", "n3", "n4", "n5", "n6", "n7", "n8")
    assert one_with(graph_problems(doc), "'n7'", "feature_target_split")


def test_split_disabled_is_no_split():
    doc = base_pipeline()
    find_node(doc, "n2")["data"]["disabled"] = True
    assert one_with(graph_problems(doc), "'n7'", "feature_target_split")


def test_split_after_the_model_does_not_count():
    doc = base_pipeline()
    doc["graph"]["edges"] = chain("n1", "n3", "n4", "n5", "n6", "n7", "n8") + [edge("n7", "n2")]
    assert one_with(graph_problems(doc), "'n7'", "feature_target_split")


def test_two_splits_on_the_chain():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("s2", "feature_target_split", target="label"))
    doc["graph"]["edges"] = chain("n1", "n2", "n3", "s2", "n4", "n5", "n6", "n7", "n8")
    assert one_with(graph_problems(doc), "'s2'", "n2")


def test_chain_not_reaching_the_dataset():
    doc = base_pipeline()
    doc["graph"]["edges"] = [e for e in doc["graph"]["edges"] if e["target"] != "n3"]
    assert one_with(graph_problems(doc), "'n3'", "dataset")


def test_evaluate_between_dataset_and_model():
    doc = base_pipeline()
    doc["graph"]["nodes"].append(node("ev", "evaluate_model"))
    doc["graph"]["edges"] = chain("n1", "n2", "n3", "ev", "n4", "n5", "n6", "n7")
    assert one_with(graph_problems(doc), "'ev'", "between")


def test_dataset_source_must_exist():
    doc = base_pipeline()
    find_node(doc, "n1")["data"]["config"]["source_id"] = "ds_x"
    assert one_with(graph_problems(doc), "'n1'", "config.source_id", "'ds_x'")


def test_several_graph_problems_at_once():
    doc = make_document(
        [
            node("n1", "dataset", source_id="ds_1"),
            node("n2", "minmax_scaler"),
            node("n3", "minmax_scaler"),
        ],
        [edge("n1", "n2"), edge("n2", "n3"), edge("n3", "n2"), edge("n3", "zz", "e_zz")],
    )
    problems = graph_problems(doc)
    assert one_with(problems, "'zz'")
    assert one_with(problems, "cycle")
    assert one_with(problems, "'n2'", "incoming")
    assert one_with(problems, "no model node")
