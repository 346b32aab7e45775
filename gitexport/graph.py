"""Graph analysis: the chain from the dataset node to the exported model node.

The canvas graph may hold experiments the user left lying around; only the chain from the
single ``dataset`` node to the chosen model node (plus an ``evaluate_model`` node hanging off
the model) is exported. Everything else is reported as skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitexport.catalog import MODEL_TYPES
from gitexport.document import Document, Node
from gitexport.errors import DocumentError, Problem, node_where

MAX_CHAIN_NODES = 1_000  # nodes on the exported chain; a real pipeline has a few dozen


@dataclass(frozen=True)
class Chain:
    """The exported part of the graph, in execution order."""

    nodes: tuple[Node, ...]  # dataset first, model last; disabled nodes included
    evaluate: Node | None
    skipped: tuple[tuple[str, str], ...]  # (node id, reason)

    @property
    def dataset(self) -> Node:
        return self.nodes[0]

    @property
    def model(self) -> Node:
        return self.nodes[-1]


def _where(node: Node, field: str | None = None) -> str:
    return node_where(node.id, node.data.label, field)


def analyse_graph(document: Document) -> Chain:
    """Find the exported chain; raise :class:`DocumentError` naming every offending node."""
    graph = document.graph
    nodes = {n.id: n for n in graph.nodes}
    problems: list[Problem] = []

    incoming: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    outgoing: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for edge in graph.edges:
        missing = [end for end in (edge.source, edge.target) if end not in nodes]
        if missing:
            problems.append(
                Problem(
                    f"edge {edge.id!r}" if edge.id else f"edge {edge.source}->{edge.target}",
                    f"points to missing node {missing[0]!r}",
                )
            )
            continue
        if edge.source == edge.target:
            problems.append(Problem(_where(nodes[edge.source]), "has an edge to itself"))
            continue
        incoming[edge.target].append(edge.source)
        outgoing[edge.source].append(edge.target)

    for node_id, sources in incoming.items():
        if len(set(sources)) > 1:
            problems.append(
                Problem(
                    _where(nodes[node_id]),
                    f"has {len(set(sources))} incoming edges (from {', '.join(sorted(set(sources)))});"
                    " a node takes one input",
                )
            )

    cycle = _find_cycle(nodes, outgoing)
    if cycle:
        problems.append(Problem("graph", f"cycle through nodes {' -> '.join(cycle)}"))

    datasets = [n for n in graph.nodes if n.type == "dataset"]
    if not datasets:
        problems.append(Problem("graph", "no dataset node"))
    elif len(datasets) > 1:
        problems.append(
            Problem(
                "graph",
                f"{len(datasets)} dataset nodes ({', '.join(n.id for n in datasets)}); one is allowed",
            )
        )
    for ds in datasets:
        source_id = ds.data.config.get("source_id")
        if isinstance(source_id, str) and source_id not in {s.id for s in document.data_sources}:
            problems.append(
                Problem(_where(ds, "config.source_id"), f"no data source with id {source_id!r}")
            )

    model = _choose_model(document, nodes, problems)
    if problems or model is None:
        raise DocumentError(problems)

    # Walk back from the model to the dataset: every node has at most one input now.
    chain = [model]
    seen = {model.id}
    while chain[-1].type != "dataset":
        sources = incoming[chain[-1].id]
        if not sources:
            raise DocumentError(
                Problem(
                    _where(chain[-1]),
                    f"the chain to model node {model.id!r} does not reach the dataset node "
                    f"(nothing feeds {chain[-1].id!r})",
                )
            )
        previous = nodes[sources[0]]
        if previous.id in seen:  # cycle already reported above; defensive
            raise DocumentError(Problem("graph", f"cycle through node {previous.id!r}"))
        seen.add(previous.id)
        chain.append(previous)
    chain.reverse()
    if len(chain) > MAX_CHAIN_NODES:
        # each becomes a step of the generated pipeline, rendered, trained and tested
        raise DocumentError(
            Problem(
                _where(model),
                f"the chain from the dataset to the model has {len(chain):,} nodes; at most "
                f"{MAX_CHAIN_NODES:,} are exported (MAX_CHAIN_NODES)",
            )
        )

    problems = _check_chain(chain, model)
    if chain[0].data.disabled:
        problems.append(Problem(_where(chain[0]), "the dataset node is disabled"))

    evaluate, eval_skipped = _choose_evaluate(model, nodes, outgoing)
    if problems:
        raise DocumentError(problems)

    exported = {n.id for n in chain} | ({evaluate.id} if evaluate else set())
    skipped = []
    for node in graph.nodes:
        if node.id in eval_skipped:
            skipped.append((node.id, eval_skipped[node.id]))
        elif node.id not in exported:
            reason = "off the chain from the dataset to the model"
            skipped.append((node.id, f"disabled, and {reason}" if node.data.disabled else reason))
        elif node.data.disabled and node.type not in ("dataset",) + MODEL_TYPES:
            skipped.append((node.id, "disabled (the chain passes through it unchanged)"))
    return Chain(nodes=tuple(chain), evaluate=evaluate, skipped=tuple(skipped))


def _find_cycle(nodes: dict[str, Node], outgoing: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    for start in nodes:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node_id, i = stack.pop()
            if i == 0:
                state[node_id] = 1
                path.append(node_id)
            targets = outgoing[node_id]
            if i < len(targets):
                stack.append((node_id, i + 1))
                nxt = targets[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node_id] = 2
                path.pop()
    return None


def _choose_model(
    document: Document, nodes: dict[str, Node], problems: list[Problem]
) -> Node | None:
    wanted = document.export.model_node
    if wanted is not None:
        node = nodes.get(wanted)
        if node is None:
            problems.append(Problem("export.model_node", f"no node with id {wanted!r}"))
            return None
        if node.type not in MODEL_TYPES:
            problems.append(
                Problem("export.model_node", f"node {wanted!r} is a {node.type}, not a model node")
            )
            return None
        if node.data.disabled:
            problems.append(Problem(_where(node), "the chosen model node is disabled"))
            return None
        return node
    models = [n for n in document.graph.nodes if n.type in MODEL_TYPES and not n.data.disabled]
    if not models:
        problems.append(Problem("graph", "no model node (train_model or hyperparameter_tuning)"))
        return None
    if len(models) > 1:
        problems.append(
            Problem(
                "export.model_node",
                f"the graph has {len(models)} model nodes ({', '.join(n.id for n in models)}); "
                "name the one to export in export.model_node",
            )
        )
        return None
    return models[0]


def _check_chain(chain: list[Node], model: Node) -> list[Problem]:
    problems = []
    splits = [n for n in chain if n.type == "feature_target_split" and not n.data.disabled]
    if not splits:
        problems.append(
            Problem(
                _where(model), "no enabled feature_target_split node before the model on its chain"
            )
        )
    elif len(splits) > 1:
        problems.append(
            Problem(
                _where(splits[1]),
                f"a second feature_target_split on the chain (first: {splits[0].id!r})",
            )
        )
    for node in chain[1:-1]:
        if node.type in ("dataset", "evaluate_model") + MODEL_TYPES:
            problems.append(
                Problem(
                    _where(node), f"a {node.type} node cannot sit between the dataset and the model"
                )
            )
    return problems


def _choose_evaluate(
    model: Node, nodes: dict[str, Node], outgoing: dict[str, list[str]]
) -> tuple[Node | None, dict[str, str]]:
    candidates = [
        nodes[t]
        for t in outgoing[model.id]
        if nodes[t].type == "evaluate_model" and not nodes[t].data.disabled
    ]
    skipped = {
        n.id: f"a second evaluate_model on the model (using {candidates[0].id!r})"
        for n in candidates[1:]
    }
    return (candidates[0] if candidates else None), skipped
