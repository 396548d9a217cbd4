"""photoanalyze benchmark: baseline against optimized, with their agreement.

runner.py     both configurations on the same photos in temporary catalogs
agreement.py  how far two ML runs agree (top-1, cosine, detections)
synthetic.py  deterministic synthetic photos with EXIF (also used by the tests)
"""
