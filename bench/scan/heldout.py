#!/usr/bin/env python3
"""A held-out column corpus: values the recognisers were not tuned on, in the format of
the Presidio harness's column_corpus.jsonl, so that its score.py scores them.

    python3 -m venv /tmp/faker-venv && /tmp/faker-venv/bin/pip install Faker==40.54.0
    /tmp/faker-venv/bin/python bench/scan/heldout.py > heldout.jsonl

Faker 40.54.0 with seed 4242 (the harness's corpus uses 20261122) and ten European and
American locales, for the formats of their phone numbers, IBANs, names, cities and dates;
negatives are plain numbers of every length, EAN-13 codes, UUIDs and words. Written to
measure the recognisers on data that did not shape them; bench/scan.sh scores it when
the harness's virtual environment has Faker.
"""
import json
import random
import sys

from faker import Faker

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "da_DK", "nl_NL", "sv_SE", "it_IT", "es_ES", "pl_PL"]
PER = 40


def main():
    rows = []
    rnd = random.Random(4242)
    for loc in LOCALES:
        fake = Faker(loc)
        fake.seed_instance(4242)
        for _ in range(PER):
            rows.append((fake.phone_number(), "PHONE", f"{loc}.phone"))
            rows.append((fake.email(), "EMAIL", f"{loc}.email"))
            rows.append((fake.name(), "PERSON", f"{loc}.name"))
            rows.append((fake.city(), "LOCATION", f"{loc}.city"))
            rows.append((fake.date(), "DATE", f"{loc}.date"))
        for _ in range(PER // 2):
            try:
                rows.append((fake.iban(), "IBAN", f"{loc}.iban"))
            except AttributeError:
                pass
    fake = Faker("en_US")
    fake.seed_instance(4242)
    for _ in range(200):
        rows.append((fake.credit_card_number(), "CREDIT_CARD", "card"))
        rows.append((fake.ssn(), "US_SSN", "ssn"))
        rows.append((fake.ipv4() if rnd.random() < 0.6 else fake.ipv6(), "IP", "ip"))
        rows.append((fake.uri(), "URL", "url"))
    for _ in range(400):
        n = rnd.randint(1, 16)
        rows.append((str(rnd.randint(10 ** (n - 1), 10 ** n - 1)), "NONE", f"number{n}"))
    for _ in range(100):
        rows.append((fake.ean13(), "NONE", "ean13"))
        rows.append((fake.uuid4(), "NONE", "uuid"))
        rows.append((fake.word(), "NONE", "word"))
        rows.append((fake.catch_phrase(), "NONE", "catch_phrase"))
    for i, (value, label, column) in enumerate(rows):
        sys.stdout.write(json.dumps({"id": f"h{i:05d}", "value": value, "label": label,
                                     "source": "faker-heldout", "column": column},
                                    ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
