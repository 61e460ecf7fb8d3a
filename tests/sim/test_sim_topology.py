"""Backbone topology: latency model against published RTTs, routing invariants, failures."""

import itertools
import math

import networkx as nx
import pytest

from msgfleet.schema import Network, Plan, Site
from sim.errors import SimError
from sim.geography import great_circle_km
from sim.topology import backbone, link_latency_ms, one_way_ms, rtt_matrix_ms, without_links

# Published ping RTTs (ms, mean of both directions) between WonderProxy servers, from
# P. Reinheimer, "Miles per Millisecond", WonderProxy blog, 2011 (docs/SOURCES.md). The four
# pairs farthest apart over land/one coast; docs/SIM.md lists every pair and the model's error.
MEASURED = [
    ("New York", (40.71, -74.01), "Fremont", (37.55, -121.99), 77.96),
    ("Baltimore", (39.29, -76.61), "Fremont", (37.55, -121.99), 79.5),
    ("Moscow", (55.76, 37.62), "Paris", (48.86, 2.35), 56.4),
    ("Dallas", (32.78, -96.80), "Fremont", (37.55, -121.99), 44.3),
]


@pytest.mark.parametrize(("a", "pa", "b", "pb", "rtt"), MEASURED, ids=[f"{m[0]}-{m[2]}" for m in MEASURED])
def test_rtt_model_within_25_percent_of_measured(a: str, pa: tuple, b: str, pb: tuple, rtt: float) -> None:
    distance = float(great_circle_km(*pa, *pb))
    model = 2 * float(link_latency_ms(distance, Network()))
    assert model == pytest.approx(rtt, rel=0.25), f"{a}-{b}: model {model:.1f} ms vs measured {rtt} ms"


@pytest.fixture(scope="module")
def ru_plan() -> Plan:
    return Plan(name="t", country="RU", sites=[Site(state="RU-MOW")])


@pytest.fixture(scope="module")
def graph(ru_plan: Plan) -> nx.Graph:
    return backbone(ru_plan)


def test_graph_is_connected_and_edges_follow_the_model(graph: nx.Graph, ru_plan: Plan) -> None:
    assert graph.number_of_nodes() == 83
    assert nx.is_connected(graph)
    for _, _, data in graph.edges(data=True):
        assert data["latency_ms"] == pytest.approx(
            float(link_latency_ms(data["distance_km"], ru_plan.network))
        )


def test_shortest_path_cost_equals_the_sum_of_its_edges(graph: nx.Graph) -> None:
    path = nx.shortest_path(graph, "RU-KGD", "RU-PRI", weight="latency_ms")
    cost = sum(graph.edges[u, v]["latency_ms"] for u, v in itertools.pairwise(path))
    assert one_way_ms(graph, "RU-KGD", "RU-PRI") == pytest.approx(cost)


def test_link_failure_reroutes_at_no_lower_latency(graph: nx.Graph) -> None:
    before = one_way_ms(graph, "RU-MOW", "RU-SPE")
    path = nx.shortest_path(graph, "RU-MOW", "RU-SPE", weight="latency_ms")
    damaged, partition = without_links(graph, [(path[0], path[1])])
    assert partition is None
    after = one_way_ms(damaged, "RU-MOW", "RU-SPE")
    assert before < after < math.inf
    assert graph.has_edge(path[0], path[1]), "the original graph must not change"


def test_partition_is_reported_not_crashed_on(graph: nx.Graph) -> None:
    cut = [(u, v) for u, v in graph.edges("RU-KGD")]
    damaged, partition = without_links(graph, cut)
    assert partition is not None and ["RU-KGD"] in partition.components
    assert "2 islands" in str(partition)
    assert one_way_ms(damaged, "RU-KGD", "RU-MOW") == math.inf
    order = tuple(sorted(damaged.nodes))
    rtt = rtt_matrix_ms(damaged, order, 10.0)
    assert math.isinf(rtt[order.index("RU-KGD"), order.index("RU-MOW")])
    assert rtt[order.index("RU-KGD"), order.index("RU-KGD")] == 10.0


def test_failing_a_missing_link_is_a_clear_error(graph: nx.Graph) -> None:
    with pytest.raises(SimError, match="no backbone link"):
        without_links(graph, [("RU-KGD", "RU-PRI")])


def test_links_form_a_gabriel_graph(graph: nx.Graph) -> None:
    """No third state lies inside the circle whose diameter is a link: no link jumps over a state."""
    pos = {n: (d["lat"], d["lon"]) for n, d in graph.nodes(data=True)}
    for a, b, data in graph.edges(data=True):
        ab = data["distance_km"] ** 2
        for c in graph.nodes:
            if c in (a, b):
                continue
            ac = float(great_circle_km(*pos[a], *pos[c])) ** 2
            bc = float(great_circle_km(*pos[b], *pos[c])) ** 2
            assert ac + bc >= ab - 1e-6, f"{c} lies inside the Gabriel circle of {a}-{b}"


@pytest.mark.parametrize(
    ("country", "a", "b"),
    [("RU", "RU-DA", "RU-PRI"), ("US", "US-FL", "US-HI"), ("US", "US-AK", "US-ME")],
)
def test_links_that_do_not_exist_are_gone(country: str, a: str, b: str) -> None:
    plan = Plan(name="t", country=country, sites=[Site(state=a)])
    assert not backbone(plan).has_edge(a, b)
