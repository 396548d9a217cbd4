"""Machine learning for the ML phase: which backend to run on, which weights to load, the
CLIP and YOLO models, and GPU monitoring. Nothing here is imported unless the ML phase runs
(torch alone costs seconds to import)."""
