"""Bounded byte parsers, no pixels: every length read from a file is checked first.

filetypes.py   file type from magic bytes; the HEIF rotation
bounded.py     reads and seeks checked against the file's size
bmff.py        the ISO-BMFF box reader (HEIF, AVIF, CR3)
tiffdir.py     TIFF directories (main chain, SubIFDs, Exif, GPS)
rawmeta.py     camera RAW containers: sizes, EXIF, preview spots
heif_boxes.py  HEIF items: grid, tiles, extents, transforms, colour
exif.py        EXIF tags -> fields
xmp.py         XMP packets: read, and merge our keywords into a sidecar
mwg_regions.py MWG face regions and PersonInImage names; boxes on the upright picture
iptc.py        IPTC-IIM keywords, caption and date
video.py       video metadata through PyAV
"""
