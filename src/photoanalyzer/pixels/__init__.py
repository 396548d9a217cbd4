"""Bytes to an upright RGB picture, as small as the caller needs.

geometry.py    orientation, sizes, the one resize (reduce_to_fit), any mode to RGB
load.py        the dispatcher: load_upright_rgb, upright_size
heic.py        HEIC through FFmpeg's HEVC decoder
raw.py         camera RAW previews, else a half-size demosaic (rawpy)
gpu.py         nvJPEG and NVDEC on a GPU machine
plan.py        which decoders the content phase uses, given the ML device
thumbnails.py  thumbnails written atomically
"""
