"""What random model weights make meaningless, model by model, and the words that say so.

Random weights exist for tests and speed measurements (`pretrained: random`, `weights:
random`). The ML phase records them per model (`clip_random_weights`, `yolo_random_weights`),
since one model can have real weights and the other random ones: CLIP's make the scenes, the
embeddings and every score computed from them (search, duplicates by embedding); YOLO's make
the objects. Every warning names only what the random model made."""

from __future__ import annotations

from collections.abc import Iterable

MODELS = ("clip", "yolo")
_NAMES = {"clip": "CLIP", "yolo": "YOLO"}
_MADE = {"clip": ("scenes", "embeddings", "search scores"), "yolo": ("objects",)}


def random_models(clip: bool, yolo: bool) -> tuple[str, ...]:
    """The models (in MODELS order) whose weights were random."""
    return tuple(model for model, random in zip(MODELS, (clip, yolo), strict=True) if random)


def meaningless(models: Iterable[str]) -> str:
    """'scenes, embeddings and search scores' for CLIP, 'objects' for YOLO, all for both."""
    chosen = set(models)
    things = [thing for model in MODELS if model in chosen for thing in _MADE[model]]
    return things[0] if len(things) == 1 else f"{', '.join(things[:-1])} and {things[-1]}"


def weights_named(models: Iterable[str]) -> str:
    """'RANDOM CLIP weights', 'RANDOM CLIP and YOLO weights'."""
    chosen = set(models)
    return f"RANDOM {' and '.join(_NAMES[m] for m in MODELS if m in chosen)} weights"


def warning(models: Iterable[str]) -> str:
    """The one-line warning for results made with these models' random weights."""
    models = tuple(models)
    return (
        f"WARNING: made with {weights_named(models)} (configured for testing): the "
        f"{meaningless(models)} are meaningless"
    )
