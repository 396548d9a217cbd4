"""The library on disk as files: what is there, what changed, what moved.

scan.py         the walk: photos and videos by extension, links followed once, problems
sidecars.py     where a file's XMP sidecar is, and its signature
fingerprint.py  size + head and tail hash; the full-content hash
reconcile.py    the walk against the catalog: new, changed, gone, moved
pairs.py        RAW+JPEG pairs, and which half the pixel phases leave out
locking.py      one run per catalog (flock)
ownpaths.py     what photoanalyzer writes for a catalog, which no walk indexes
"""
