"""The cost of face regions in XMP (docs/performance.md, issue 26): reading a sidecar with a
few named regions, reading one of 20,000 (capped at 1,000 kept), and merging our regions
into a sidecar, each the median of --repeat timings in this process.

    python benchmarks/mwg_regions.py [--repeat 7]

The sidecars are generated here (the RDF form exiftool writes), nothing is read from disk."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from photoanalyzer.formats import mwg_regions
from photoanalyzer.formats.mwg_regions import Box, FaceRegion, People

HEAD = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    ' xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
    ' xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"'
    ' xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">'
    '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:AppliedToDimensions'
    ' rdf:parseType="Resource"><stDim:w>4000</stDim:w><stDim:h>3000</stDim:h>'
    "<stDim:unit>pixel</stDim:unit></mwg-rs:AppliedToDimensions><mwg-rs:RegionList><rdf:Bag>"
)
TAIL = "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>"


def sidecar(regions: int) -> bytes:
    item = (
        '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>Person {i}</mwg-rs:Name>'
        '<mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Area rdf:parseType="Resource">'
        "<stArea:x>0.5</stArea:x><stArea:y>0.4</stArea:y><stArea:w>0.05</stArea:w>"
        "<stArea:h>0.07</stArea:h><stArea:unit>normalized</stArea:unit></mwg-rs:Area></rdf:li>"
    )
    return (HEAD + "".join(item.format(i=i) for i in range(regions)) + TAIL).encode()


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def read_and_turn(data: bytes) -> None:
    facts = mwg_regions.read_people(data)
    mwg_regions.to_upright(facts.regions or (), 6, (4000, 3000), facts.applied_to)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    small, huge = sidecar(3), sidecar(20_000)
    ours = People((FaceRegion("Cleo", Box(0.1, 0.1, 0.05, 0.07)),), (4000, 3000), 6, ("Cleo",))
    rows = [
        ("read 3 regions (+ orientation 6)", 1000, lambda: read_and_turn(small)),
        ("read 20,000 regions (1,000 kept)", 1, lambda: read_and_turn(huge)),
        (
            "merge 1 region into a 3-region sidecar",
            100,
            lambda: mwg_regions.merge_people(small, ours),
        ),
        ("a packet without regions (fast path)", 1000, lambda: mwg_regions.read_people(TAIL_ONLY)),
    ]
    print(f"sizes: 3 regions {len(small):,} bytes, 20,000 regions {len(huge):,} bytes")
    for what, loops, work in rows:
        seconds = median_seconds(lambda w=work, n=loops: [w() for _ in range(n)], args.repeat)
        print(f"{what:42s} {seconds / loops * 1e3:10.3f} ms")


TAIL_ONLY = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    b' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/></rdf:RDF></x:xmpmeta>'
)

if __name__ == "__main__":
    main()
