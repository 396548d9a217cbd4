"""Frames of a video as upright RGB pictures: which times to take, a seek to each (PyAV),
the display rotation applied, the declared frame size checked against the pixel cap first."""

from __future__ import annotations

import math

from PIL import Image

from photoanalyzer.formats.video import (
    VideoUndecodable,
    decoding,
    display_rotation,
    stream_duration,
    video_stream,
)


def frame_times(duration: float | None, interval: float, max_frames: int) -> list[float]:
    """Seconds of the frames to analyze: one per `interval` seconds (at least 1, at most
    `max_frames`), each in the middle of its share of the video."""
    if not duration or duration <= 0:
        return [0.0]
    count = max(1, min(max_frames, math.ceil(duration / interval)))
    return [round((i + 0.5) * duration / count, 3) for i in range(count)]


class VideoTooLarge(ValueError):
    """The stream's header declares frames of more pixels than the configured cap."""


def extract_frames(
    path: str, interval: float, max_frames: int, longest_side: int, max_pixels: int | None = None
) -> list[tuple[float, Image.Image]]:
    """(seconds, upright RGB picture at most `longest_side`) for each frame to analyze. Seeks
    to each time instead of decoding the whole video, so memory does not grow with length.
    The frame size the stream declares is checked against `max_pixels` before any frame is
    decoded (the decoder allocates what the header says)."""
    import av

    with av.open(path, metadata_errors="ignore") as container:
        stream = video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if max_pixels is not None and width * height > max_pixels:
            raise VideoTooLarge(
                f"video declares {width}x{height} pixels a frame, over the cap of"
                f" {max_pixels / 1e6:.0f} MP (content.max_pixels); not decoded"
            )
        stream.thread_type = "AUTO"
        duration = stream_duration(container, stream)
        frames = []
        for when in frame_times(duration, interval, max_frames):
            frame = _frame_at(container, stream, when)
            if frame is not None:
                with decoding("convert a frame to RGB"):
                    picture = _upright_picture(frame, longest_side)
                frames.append((round(frame.time if frame.time is not None else when, 3), picture))
        if not frames:
            raise ValueError("no frame could be decoded")
        return frames


def _frame_at(container, stream, seconds: float):
    """The first frame at or after `seconds` (seek to the keyframe before, decode forward)."""
    if not stream.time_base:
        raise VideoUndecodable("its video stream has no time base to seek by")
    start = stream.start_time or 0
    target = start + int(seconds / stream.time_base)
    with decoding(f"seek to {seconds:.3f} s"):
        container.seek(target, stream=stream, backward=True, any_frame=False)
    last = None
    with decoding(f"decode the frame at {seconds:.3f} s"):
        for frame in container.decode(stream):
            last = frame
            if frame.pts is None or frame.pts >= target:
                return frame
    return last  # past the end: the last frame there is


def _upright_picture(frame, longest_side: int) -> Image.Image:
    scale = min(1.0, longest_side / max(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    picture = frame.reformat(width=width, height=height, format="rgb24").to_image()
    rotation = frame.rotation % 360  # counter-clockwise degrees, as PIL's rotate takes them
    return picture.rotate(rotation, expand=True) if rotation else picture


def display_size(path: str) -> tuple[int, int]:
    """The displayed (width, height) of the video's pictures, from its headers (the display
    rotation may need one decoded frame)."""
    import av

    with av.open(path, metadata_errors="ignore") as container:
        stream = video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        turned = display_rotation(container, stream) in (90, 270)
    return (height, width) if turned else (width, height)
