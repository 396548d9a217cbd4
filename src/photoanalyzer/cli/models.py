"""`photoanalyze models` and `doctor`: weights, backends and decoders."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    ConfigOption,
    app,
    load_checked_config,
)
from photoanalyzer.errors import (
    FatalError,
)

models_app = typer.Typer(
    help="Manage the model weights cache, so a machine without network can be given files "
    "fetched elsewhere.",
    short_help="Manage the model weights cache (list, fetch, import).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


class WeightsKind(StrEnum):
    clip = "clip"
    yolo = "yolo"


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show where each configured model's weights are, or what is missing."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import models_report

    cfg = load_checked_config(config)
    typer.echo(models_report(cfg, resolve_models_dir(cfg)))


@models_app.command("fetch")
def models_fetch(config: ConfigOption = None) -> None:
    """Download the configured weights into the cache (needs network)."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import fetch
    from photoanalyzer.ml.weights import WeightsUnavailable

    cfg = load_checked_config(config)
    try:
        typer.echo(fetch(cfg, resolve_models_dir(cfg)))
    except WeightsUnavailable as exc:
        raise FatalError(str(exc)) from exc


@models_app.command("import")
def models_import(
    path: Annotated[Path, typer.Argument(help="A weights file fetched elsewhere.")],
    kind: Annotated[
        WeightsKind,
        typer.Option(
            "--for",
            help="Which model the file is for: clip "
            "(stored for the configured ml.clip model and tag) or yolo.",
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Copy a weights file into the model cache, where runs will find it."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.weights import WeightsUnavailable, import_file

    cfg = load_checked_config(config)
    clip = cfg.ml.clip
    try:
        target = import_file(path, kind.value, resolve_models_dir(cfg), clip.model, clip.pretrained)
    except WeightsUnavailable as exc:
        raise FatalError(str(exc)) from exc
    typer.echo(f"Imported {path} as {target}")


@app.command(short_help="Check the decoders, torch, the GPU, backends and weights.")
def doctor(config: ConfigOption = None) -> None:
    """Check the setup: the content phase's decoders (JPEG, HEIC, GPU, and why not), torch
    and CUDA versions, the GPU, TensorRT (and why not), the backend auto would pick and why,
    and whether each model's weights are available."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import doctor as report

    cfg = load_checked_config(config)
    typer.echo(report(cfg, resolve_models_dir(cfg)))
