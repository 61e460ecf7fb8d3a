"""The backbone: a networkx graph of states with latency-weighted links, and routing over it.

Links, in order:

1. the Gabriel graph of the state centroids (two states are linked when no third state lies
   inside the circle whose diameter joins them: a planar subgraph of the Delaunay triangulation
   that joins neighbours and never jumps over a state, so no Dagestan-Primorsky links);
2. less every Gabriel link longer than ``Network.max_link_km``: such a gap is open water or
   empty land that no trunk crosses in a straight line (Alaska-Hawaii, Hawaii-California);
3. the country's documented corridors (``sim/data/corridors_<CC>.csv``, sources in
   ``corridor_sources.csv`` and docs/SOURCES.md): trunk fibre and submarine cables with their
   route length, satellite hops with their fixed delay, and ``none`` rows that remove a Gabriel
   link no cable follows (Kamchatka-Magadan over the Sea of Okhotsk). A corridor replaces the
   Gabriel link between the same states;
4. if the graph is still split, the shortest removed links that join the pieces (Kruskal), so
   every state stays reachable;
5. the plan's explicit ``links``.

One-way latency of a Gabriel link = great-circle km × ``route_inflation`` × fibre delay per km +
``per_hop_ms``; of a fibre or submarine corridor = route km × ``corridor_inflation`` × fibre
delay + ``per_hop_ms`` (``Plan.network``; calibration in docs/SIM.md). Routing is networkx's
Dijkstra on the ``latency_ms`` weight. Each edge carries its ``kind`` (gabriel, fibre,
submarine, satellite, plan).
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.spatial import Delaunay

from msgfleet.schema import Network, Plan
from sim.errors import SimError
from sim.geography import DATA, StateTable, great_circle_km, states_of

__all__ = [
    "Corridor",
    "Partition",
    "backbone",
    "corridors_of",
    "link_latency_ms",
    "one_way_ms",
    "rtt_matrix_ms",
    "without_links",
]


def link_latency_ms(distance_km: np.ndarray | float, network: Network) -> np.ndarray:
    """One-way latency of a backbone link of ``distance_km`` (great-circle)."""
    return (
        np.asarray(distance_km) * network.route_inflation * network.fiber_us_per_km / 1000
        + network.per_hop_ms
    )


@dataclass(frozen=True)
class Corridor:
    """A documented long-haul route between two states (one row of ``corridors_<CC>.csv``)."""

    a: str
    b: str
    medium: str  # fibre, submarine, satellite, or none (no such link)
    route_km: float | None  # fibre and submarine: length along the route
    one_way_ms: float | None  # satellite: fixed one-way delay
    source: str  # key into corridor_sources.csv

    def latency_ms(self, network: Network) -> float:
        if self.medium == "satellite":
            assert self.one_way_ms is not None
            return self.one_way_ms
        assert self.route_km is not None
        fibre_ms = self.route_km * network.corridor_inflation * network.fiber_us_per_km / 1000
        return fibre_ms + network.per_hop_ms


MEDIA = ("fibre", "submarine", "satellite", "none")


def corridors_of(country: str, data: Path = DATA) -> list[Corridor]:
    """The shipped corridors of ``country`` (none for a country without a table)."""
    path = data / f"corridors_{country}.csv"
    if not path.exists():
        return []
    with (data / "corridor_sources.csv").open(encoding="utf-8") as handle:
        sources = {row["source"] for row in csv.DictReader(handle)}
    corridors = []
    with path.open(encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}:{line}"
            medium, km, ms = row["medium"], row["route_km"], row["one_way_ms"]
            if medium not in MEDIA or row["source"] not in sources:
                raise SimError(f"{where}: unknown medium {medium!r} or source {row['source']!r}")
            needs_km, needs_ms = medium in ("fibre", "submarine"), medium == "satellite"
            if bool(km) != needs_km or bool(ms) != needs_ms:
                needs = "route_km" if needs_km else "one_way_ms" if needs_ms else "neither"
                raise SimError(f"{where}: {medium} needs {needs}")
            route_km, one_way = (float(km) if km else None), (float(ms) if ms else None)
            corridors.append(Corridor(row["a"], row["b"], medium, route_km, one_way, row["source"]))
    return corridors


def _xyz(states: StateTable) -> np.ndarray:
    phi, lam = np.radians(states.lat), np.radians(states.lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _delaunay_edges(states: StateTable) -> set[tuple[int, int]]:
    n = len(states)
    if n < 2:
        return set()
    if n < 4:
        return {(i, j) for i in range(n) for j in range(i + 1, n)}
    # Delaunay on an equal-distance-ish projection around the country's mean point.
    lat0 = np.radians(np.average(states.lat))
    lon = np.where(states.lon < 0, states.lon + 360, states.lon) if np.ptp(states.lon) > 180 else states.lon
    points = np.column_stack([np.radians(lon) * np.cos(lat0), np.radians(states.lat)])
    try:
        tri = Delaunay(points)
    except Exception:  # degenerate (collinear) layouts: link each state to the next along the line
        order = np.lexsort((points[:, 1], points[:, 0]))
        return {(min(int(a), int(b)), max(int(a), int(b))) for a, b in itertools.pairwise(order)}
    edges: set[tuple[int, int]] = set()
    for simplex in tri.simplices:
        for a in range(3):
            i, j = int(simplex[a]), int(simplex[(a + 1) % 3])
            edges.add((min(i, j), max(i, j)))
    return edges


def _candidate_edges(states: StateTable) -> set[tuple[int, int]]:
    """Gabriel edges: Delaunay edges (i, j) with d(i,k)² + d(j,k)² >= d(i,j)² for every other k.

    Distances are great-circle km, so the test is made on the sphere, not on the projection.
    Hand-written: networkx and scipy ship Delaunay but no Gabriel filter; it is these few lines.
    """
    dist = great_circle_km(states.lat[:, None], states.lon[:, None], states.lat[None, :], states.lon[None, :])
    sq = dist**2
    kept = set()
    for i, j in _delaunay_edges(states):
        others = np.ones(len(states), dtype=bool)
        others[[i, j]] = False
        if not np.any(sq[i, others] + sq[j, others] < sq[i, j]):
            kept.add((i, j))
    return kept


def backbone(plan: Plan, states: StateTable | None = None) -> nx.Graph:
    """The country's backbone graph: nodes are state ids (with population, lat, lon), edges carry
    ``distance_km`` (great-circle, or route length for a corridor), ``latency_ms`` (one way) and
    ``kind``."""
    states = states or states_of(plan)
    network = plan.network
    graph = nx.Graph(country=plan.country)
    for i, state in enumerate(states.ids):
        graph.add_node(
            state, population=float(states.population[i]), lat=float(states.lat[i]), lon=float(states.lon[i])
        )

    def gabriel(i: int, j: int) -> tuple[str, str, dict]:
        distance = float(great_circle_km(states.lat[i], states.lon[i], states.lat[j], states.lon[j]))
        latency = float(link_latency_ms(distance, network))
        return (
            states.ids[i],
            states.ids[j],
            {"distance_km": distance, "latency_ms": latency, "kind": "gabriel"},
        )

    removed = []
    for i, j in sorted(_candidate_edges(states)):
        a, b, data = gabriel(i, j)
        if data["distance_km"] > network.max_link_km:
            removed.append((a, b, data))
        else:
            graph.add_edge(a, b, **data)
    for corridor in corridors_of(plan.country):
        for end in (corridor.a, corridor.b):
            if end not in graph:
                raise SimError(f"corridor {corridor.a}-{corridor.b}: {end} is not a state of the table")
        if corridor.medium == "none":
            if graph.has_edge(corridor.a, corridor.b):
                removed.append((corridor.a, corridor.b, graph.edges[corridor.a, corridor.b]))
                graph.remove_edge(corridor.a, corridor.b)
            continue
        i, j = states.index(corridor.a), states.index(corridor.b)
        distance = corridor.route_km or float(
            great_circle_km(states.lat[i], states.lon[i], states.lat[j], states.lon[j])
        )
        latency = corridor.latency_ms(network)
        graph.add_edge(corridor.a, corridor.b, distance_km=distance, latency_ms=latency, kind=corridor.medium)
    # Kruskal over the removed links: join what the removals split, shortest first.
    pieces = nx.utils.UnionFind(graph.nodes)
    for component in nx.connected_components(graph):
        pieces.union(*component)
    for a, b, data in sorted(removed, key=lambda e: e[2]["distance_km"]):
        if pieces[a] != pieces[b]:
            graph.add_edge(a, b, **data)
            pieces.union(a, b)
    for link in plan.links:
        for end in (link.a, link.b):
            if end not in graph:
                raise SimError(f"link {link.a}-{link.b}: {end} has no populated places in the data")
        i, j = states.index(link.a), states.index(link.b)
        distance = float(great_circle_km(states.lat[i], states.lon[i], states.lat[j], states.lon[j]))
        measured = link.latency_ms
        latency = measured if measured is not None else float(link_latency_ms(distance, network))
        graph.add_edge(link.a, link.b, distance_km=distance, latency_ms=latency, kind="plan")
    return graph


@dataclass(frozen=True)
class Partition:
    """A backbone split into several islands after link failures."""

    components: list[list[str]]

    def __str__(self) -> str:
        sizes = ", ".join(str(len(c)) for c in self.components)
        return f"backbone partitioned into {len(self.components)} islands ({sizes} states)"


def without_links(graph: nx.Graph, failed: list[tuple[str, str]]) -> tuple[nx.Graph, Partition | None]:
    """A copy of ``graph`` without the ``failed`` links, and the partition that leaves (or None).

    Routing on the copy re-routes around the failures; unreachable pairs get ``inf`` latency.
    """
    damaged = graph.copy()
    for a, b in failed:
        if not damaged.has_edge(a, b):
            raise SimError(f"no backbone link {a}-{b} to fail")
        damaged.remove_edge(a, b)
    components = sorted((sorted(c) for c in nx.connected_components(damaged)), key=lambda c: (-len(c), c))
    return damaged, (Partition(components) if len(components) > 1 else None)


def one_way_ms(graph: nx.Graph, a: str, b: str) -> float:
    """Shortest-path one-way latency between states ``a`` and ``b`` (``inf`` if partitioned)."""
    try:
        return float(nx.shortest_path_length(graph, a, b, weight="latency_ms"))
    except nx.NetworkXNoPath:
        return float("inf")


def rtt_matrix_ms(graph: nx.Graph, order: tuple[str, ...], access_rtt_ms: float = 0.0) -> np.ndarray:
    """Round-trip times between all states in ``order`` over shortest paths, plus the access RTT.

    Unreachable pairs are ``inf``; a state to itself is the access RTT alone.
    """
    index = {s: i for i, s in enumerate(order)}
    rtt = np.full((len(order), len(order)), np.inf)
    for source, lengths in nx.all_pairs_dijkstra_path_length(graph, weight="latency_ms"):
        i = index[source]
        for target, one_way in lengths.items():
            rtt[i, index[target]] = 2 * one_way
    return rtt + access_rtt_ms
