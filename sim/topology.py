"""The backbone: a networkx graph of states with latency-weighted links, and routing over it.

Links: the Gabriel graph of the state centroids (two states are linked when no third state lies
inside the circle whose diameter joins them: a planar subgraph of the Delaunay triangulation that
joins neighbours and never jumps over a state, so no Dagestan-Primorsky or Florida-Hawaii links),
plus the plan's explicit links (long-haul corridors, measured latencies). One-way link latency
(ms) is the great-circle distance × route inflation × fibre delay per km, plus a per-hop cost
(``Plan.network``; sources in
docs/SOURCES.md). Routing is networkx's Dijkstra on the ``latency_ms`` weight.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.spatial import Delaunay

from msgfleet.schema import Network, Plan
from sim.errors import SimError
from sim.geography import StateTable, great_circle_km, states_of

__all__ = [
    "Partition",
    "backbone",
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
    ``distance_km`` and ``latency_ms`` (one way)."""
    states = states or states_of(plan)
    graph = nx.Graph(country=plan.country)
    for i, state in enumerate(states.ids):
        graph.add_node(
            state, population=float(states.population[i]), lat=float(states.lat[i]), lon=float(states.lon[i])
        )
    for i, j in sorted(_candidate_edges(states)):
        distance = float(great_circle_km(states.lat[i], states.lon[i], states.lat[j], states.lon[j]))
        graph.add_edge(
            states.ids[i],
            states.ids[j],
            distance_km=distance,
            latency_ms=float(link_latency_ms(distance, plan.network)),
        )
    for link in plan.links:
        for end in (link.a, link.b):
            if end not in graph:
                raise SimError(f"link {link.a}-{link.b}: {end} has no populated places in the data")
        i, j = states.index(link.a), states.index(link.b)
        distance = float(great_circle_km(states.lat[i], states.lon[i], states.lat[j], states.lon[j]))
        latency = (
            link.latency_ms if link.latency_ms is not None else float(link_latency_ms(distance, plan.network))
        )
        graph.add_edge(link.a, link.b, distance_km=distance, latency_ms=latency)
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
