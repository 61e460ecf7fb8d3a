"""Backbone topology: latency model against published RTTs, routing invariants, failures."""

import csv
import itertools
import math

import networkx as nx
import pytest

from msgfleet.schema import Network, Plan, Site
from sim.errors import SimError
from sim.geography import DATA, great_circle_km
from sim.topology import backbone, corridors_of, link_latency_ms, one_way_ms, rtt_matrix_ms, without_links

# Measured RTTs between states (sim/data/rtt_measured.csv, one source per row; docs/SIM.md has the
# table). The model is computed over the backbone the simulator routes on, from the shipped data.
with (DATA / "rtt_measured.csv").open(encoding="utf-8") as _handle:
    MEASURED = list(csv.DictReader(_handle))


@pytest.fixture(scope="module")
def graphs() -> dict[str, nx.Graph]:
    first = {"RU": "RU-MOW", "US": "US-NY"}
    return {cc: backbone(Plan(name="t", country=cc, sites=[Site(state=s)])) for cc, s in first.items()}


def _row(r: dict):
    """A row the model is known to miss (``model_miss`` says why) is a strict xfail: if the model
    comes within the bar, the test fails until the row's note is removed."""
    marks = [pytest.mark.xfail(strict=True, reason=r["model_miss"])] if r["model_miss"] else []
    return pytest.param(r, marks=marks, id=f"{r['a']}-{r['b']}-{r['rtt_ms']}")


@pytest.mark.parametrize("row", [_row(r) for r in MEASURED])
def test_backbone_rtt_within_25_percent_of_measured(row: dict, graphs: dict[str, nx.Graph]) -> None:
    measured = float(row["rtt_ms"])
    model = 2 * one_way_ms(graphs[row["country"]], row["a"], row["b"])
    assert model == pytest.approx(measured, rel=0.25), (
        f"{row['place_a']}-{row['place_b']}: model {model:.1f} ms vs measured {measured} ms ({row['source']})"
    )


def test_every_measured_row_names_its_source() -> None:
    assert len(MEASURED) >= 12 and {r["country"] for r in MEASURED} == {"RU", "US"}
    assert sum(bool(r["model_miss"]) for r in MEASURED) == 1  # Murmansk-Moscow; docs/SIM.md
    assert all(r["source"].startswith("https://") and r["method"] for r in MEASURED)


@pytest.fixture(scope="module")
def ru_plan() -> Plan:
    return Plan(name="t", country="RU", sites=[Site(state="RU-MOW")])


@pytest.fixture(scope="module")
def graph(ru_plan: Plan) -> nx.Graph:
    return backbone(ru_plan)


def test_graph_is_connected_and_edges_follow_the_model(graph: nx.Graph, ru_plan: Plan) -> None:
    assert graph.number_of_nodes() == 83
    assert nx.is_connected(graph)
    net = ru_plan.network
    for _, _, data in graph.edges(data=True):
        if data["kind"] == "gabriel":
            expected = float(link_latency_ms(data["distance_km"], net))
        elif data["kind"] == "satellite":
            expected = 270.0
        else:  # fibre, submarine: the route length at the corridor inflation
            fibre = data["distance_km"] * net.corridor_inflation * net.fiber_us_per_km / 1000
            expected = fibre + net.per_hop_ms
        assert data["latency_ms"] == pytest.approx(expected)


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


def test_proximity_links_form_a_gabriel_graph(graph: nx.Graph) -> None:
    """No third state lies inside the circle whose diameter is a proximity link: none jumps over a state."""
    pos = {n: (d["lat"], d["lon"]) for n, d in graph.nodes(data=True)}
    for a, b, data in graph.edges(data=True):
        if data["kind"] != "gabriel":
            continue
        ab = data["distance_km"] ** 2
        for c in graph.nodes:
            if c in (a, b):
                continue
            ac = float(great_circle_km(*pos[a], *pos[c])) ** 2
            bc = float(great_circle_km(*pos[b], *pos[c])) ** 2
            assert ac + bc >= ab - 1e-6, f"{c} lies inside the Gabriel circle of {a}-{b}"


@pytest.mark.parametrize(
    ("country", "a", "b"),
    [
        ("RU", "RU-DA", "RU-PRI"),
        ("RU", "RU-KAM", "RU-MAG"),
        ("RU", "RU-ARK", "RU-MUR"),
        ("US", "US-FL", "US-HI"),
        ("US", "US-AK", "US-ME"),
        ("US", "US-AK", "US-HI"),
        ("US", "US-CA", "US-HI"),
    ],
)
def test_links_that_do_not_exist_are_gone(country: str, a: str, b: str) -> None:
    plan = Plan(name="t", country=country, sites=[Site(state=a)])
    assert not backbone(plan).has_edge(a, b)


def test_us_oceans_are_crossed_only_by_documented_cables(graphs: dict[str, nx.Graph]) -> None:
    us = graphs["US"]
    assert nx.is_connected(us) and us.number_of_nodes() == 51
    for state in ("US-AK", "US-HI"):
        assert {us.edges[state, n]["kind"] for n in us[state]} == {"submarine"}, state
    assert set(us["US-HI"]) == {"US-OR"} and set(us["US-AK"]) == {"US-WA"}
    assert max(d["distance_km"] for *_, d in us.edges(data=True) if d["kind"] == "gabriel") <= 2000


def test_long_links_are_dropped_but_the_graph_stays_connected() -> None:
    """Without the corridors (DE has none) a max_link_km below the longest link still leaves one graph:
    the shortest removed links rejoin the pieces."""
    plan = Plan(name="t", country="DE", sites=[Site(state="DE-BE")], network=Network(max_link_km=150))
    graph = backbone(plan)
    assert nx.is_connected(graph)
    long = [d["distance_km"] for *_, d in graph.edges(data=True) if d["distance_km"] > 150]
    assert long and len(long) < graph.number_of_nodes() - 1  # only the joins, not every long link


def test_ru_corridors_carry_the_trunk_routes(graph: nx.Graph) -> None:
    path = nx.shortest_path(graph, "RU-MOW", "RU-PRI", weight="latency_ms")
    kinds = {graph.edges[u, v]["kind"] for u, v in itertools.pairwise(path)}
    assert "fibre" in kinds
    assert graph.edges["RU-CHU", "RU-MAG"]["kind"] == "satellite"
    assert {graph.edges["RU-SAK", n]["kind"] for n in ("RU-MAG", "RU-KAM")} == {"submarine"}
    assert len(corridors_of("RU")) >= 30 and corridors_of("DE") == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("RU-MOW,RU-SPE,cable,650,,spb_rail", "unknown medium"),
        ("RU-MOW,RU-SPE,fibre,,,spb_rail", "fibre needs route_km"),
        ("RU-CHU,RU-MAG,satellite,1441,,geo", "satellite needs one_way_ms"),
        ("RU-MOW,RU-SPE,fibre,650,,nowhere", "unknown medium 'fibre' or source 'nowhere'"),
    ],
)
def test_a_bad_corridor_row_is_named_by_file_and_line(tmp_path, row: str, message: str) -> None:
    sources = (DATA / "corridor_sources.csv").read_text(encoding="utf-8")
    (tmp_path / "corridor_sources.csv").write_text(sources)
    (tmp_path / "corridors_RU.csv").write_text(f"a,b,medium,route_km,one_way_ms,source\n{row}\n")
    with pytest.raises(SimError, match=f"corridors_RU.csv:2: {message}"):
        corridors_of("RU", tmp_path)
