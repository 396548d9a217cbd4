"""One indexing run: the pipeline and the engines that do a phase's work.

pipeline.py    the run lock, walk, reconcile, each phase's pending files, the batch writer
engines.py     the Engine seam: pending files in, (position, Outcome) pairs out
local.py       worker processes for per-file phases, batch phases in this process
ray_engine.py  the same on a Ray cluster (the ray extra)
"""
