"""Exports the CLIP text tower to ONNX once per model and weights, so that text queries run in
ONNX Runtime without importing torch (ml/text_onnx.py runs it). Needs torch and open_clip;
imported only when an export is built.

The exported graph is open_clip's `CLIP.encode_text(tokens, normalize=True)` with one change:
its length is the input's, not the context length. The attention is causal and the output is
pooled at the end token, so the positions after the longest end token of a batch change
nothing; a query of five words then costs a tenth of the 77 positions' work. Two pieces are
swapped for the export only, since the TorchScript exporter (`dynamo=False`, seconds, where
the dynamo exporter takes a minute) would freeze the traced length into them:
`nn.MultiheadAttention` (its reshapes use Python integers) becomes `_TraceableAttention` (the
same weights and arithmetic), and the positional embedding and causal mask are sliced to the
input's length.

An export is kept only if it agrees with open_clip on probe texts (cosine at least
AGREEMENT): any model whose text tower or tokenizer this does not cover (another tokenizer,
another text encoder) is refused with a reason, and search keeps using torch for it."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from photoanalyzer.ml.clip_tokenizer import ClipTokenizer, write_tokenizer
from photoanalyzer.ml.text_onnx import GRAPH

OPSET = 17
AGREEMENT = 0.9999  # the least cosine between ONNX and torch on the probe texts
PROBES = (
    "a dog",
    "a photo of a cat sleeping on a red sofa in the afternoon sun",
    "Beach at SUNSET, with   friends & family!",
    "Tromsø in winter: northern lights över the fjord",
    "夜の東京タワー",
    "two people riding bicycles " * 12,  # longer than the context: truncated
)


class ExportRefused(RuntimeError):
    """This model's text tower or tokenizer is not one the export covers; the message says
    why. Search then encodes texts with torch."""


@dataclass(frozen=True)
class ExportReport:
    seconds: float
    least_cosine: float


class _TraceableAttention(torch.nn.Module):
    """nn.MultiheadAttention's self-attention (batch first, additive mask, no weights
    returned) with reshapes the tracer keeps symbolic: only the head split is a constant."""

    def __init__(self, attention: torch.nn.MultiheadAttention):
        super().__init__()
        if not attention._qkv_same_embed_dim or attention.in_proj_bias is None:
            raise ExportRefused("its attention has separate q/k/v weights or no bias")
        self.inner = attention
        self.heads = attention.num_heads
        self.batch_first = attention.batch_first

    def forward(self, q_x, k_x=None, v_x=None, need_weights=False, attn_mask=None):
        inner = self.inner
        x = q_x if self.batch_first else q_x.transpose(0, 1)
        q, k, v = F.linear(x, inner.in_proj_weight, inner.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) * (q.shape[-1] ** -0.5)
        if attn_mask is not None:
            scores = scores + attn_mask
        out = (scores.softmax(dim=-1) @ v).transpose(1, 2).flatten(2)
        out = inner.out_proj(out)
        return (out if self.batch_first else out.transpose(0, 1)), None


class _TextTower(torch.nn.Module):
    """open_clip CLIP.encode_text(normalize=True) at the input's length."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        clip, length = self.clip, tokens.shape[1]
        cast = clip.transformer.get_cast_dtype()
        x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = clip.ln_final(x)
        eos = getattr(clip, "text_eos_id", None)
        x = text_global_pool(x, tokens, clip.text_pool_type, eos_token_id=eos)
        if isinstance(clip.text_projection, torch.nn.Linear):
            x = clip.text_projection(x)
        elif clip.text_projection is not None:
            x = x @ clip.text_projection
        return F.normalize(x, dim=-1)


def export_text_tower(model, tokenizer, folder: Path) -> ExportReport:
    """Writes text.onnx (and its weights, text.onnx.data) and tokenizer.json into `folder`
    (made here, it must not exist), checked against `model.encode_text` on PROBES. On any
    failure nothing is left behind."""
    started = time.perf_counter()
    _check_supported(model, tokenizer)
    folder.mkdir(parents=True)
    try:
        write_tokenizer(tokenizer, folder)
        _export_graph(model, tokenizer, folder / "traced.onnx")
        _save_for_loading(folder / "traced.onnx", folder / GRAPH)
        least = _agreement(model, tokenizer, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if least < AGREEMENT:
        shutil.rmtree(folder, ignore_errors=True)
        raise ExportRefused(f"the ONNX text tower agrees with torch only to cosine {least:.6f}")
    return ExportReport(time.perf_counter() - started, least)


def _check_supported(model, tokenizer) -> None:
    from open_clip import CLIP
    from open_clip.tokenizer import SimpleTokenizer

    if not isinstance(model, CLIP):
        raise ExportRefused(f"its text encoder is a {type(model).__name__}, not open_clip's CLIP")
    if not isinstance(tokenizer, SimpleTokenizer):
        raise ExportRefused(f"its tokenizer is a {type(tokenizer).__name__}, not CLIP's BPE")
    if tokenizer.reduction_fn is not None or tokenizer.clean_fn.__name__ != "_clean_lower":
        raise ExportRefused("its tokenizer cleans or reduces texts in another way")
    mask = model.attn_mask
    if mask is None or not bool(torch.equal(torch.isinf(mask), torch.ones_like(mask).triu(1) > 0)):
        raise ExportRefused("its text attention is not causal")


def _export_graph(model, tokenizer, path: Path) -> None:
    tower = _TextTower(model).eval()
    saved = {}
    for index, block in enumerate(model.transformer.resblocks):
        saved[index] = block.attn
        block.attn = _TraceableAttention(block.attn)
    example = tokenizer(["a photo of a dog", "a cat"])[:, :8]
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
            torch.onnx.export(
                tower,
                (example,),
                str(partial),
                input_names=["tokens"],
                output_names=["text_embedding"],
                dynamic_axes={"tokens": {0: "batch", 1: "length"}, "text_embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        for index, block in enumerate(model.transformer.resblocks):
            block.attn = saved[index]
    os.replace(partial, path)


def _save_for_loading(traced: Path, graph: Path) -> None:
    """ONNX Runtime's basic optimizations (constant folding, redundant nodes: standard ONNX
    operators, any hardware) done once and saved, with the weights in a separate file that
    ONNX Runtime memory-maps: loading then takes milliseconds instead of a second."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(graph)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", f"{graph.name}.data"
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    onnxruntime.InferenceSession(str(traced), options, providers=["CPUExecutionProvider"])
    traced.unlink()


def _agreement(model, tokenizer, folder: Path) -> float:
    """The least cosine, over PROBES, between the exported tower (through our tokenizer) and
    open_clip's encode_text (through its tokenizer, padded to the context length)."""
    from photoanalyzer.ml.text_onnx import open_session

    ours = ClipTokenizer(folder)
    if ours.ids(PROBES) != open_clip_ids(tokenizer, PROBES):
        raise ExportRefused("the tokenizer file gives other token ids than open_clip's")
    vectors = open_session(folder / GRAPH).run(None, {"tokens": ours(PROBES)})[0]
    with torch.no_grad():
        reference = model.encode_text(tokenizer(list(PROBES)), normalize=True).float().numpy()
    return float(np.min(np.sum(vectors * reference, axis=1)))


def open_clip_ids(tokenizer, texts) -> list[list[int]]:
    """open_clip's token ids of each text, up to its last end token (without the padding:
    every row ends with one, and the text itself may hold one)."""
    rows = tokenizer(list(texts)).tolist()
    return [row[: len(row) - row[::-1].index(tokenizer.eot_token_id)] for row in rows]


class _quiet_exporter:
    """The TorchScript exporter warns that it is deprecated and about traced shapes; the
    agreement check is what tells whether the graph is right."""

    def __enter__(self):
        import warnings

        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.root.manager.disable
        logging.disable(logging.WARNING)

    def __exit__(self, *exc):
        logging.disable(self._level)
        self._warnings.__exit__(*exc)
