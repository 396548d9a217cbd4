"""What pixels and positions mean, as pure functions over numbers.

signals.py    sharpness, exposure, contrast, colour, perceptual hashes
neardup.py    near-duplicate groups and the pick of each
places.py     the nearest named place and the time zone of a GPS position
timezones.py  UTC offsets of a zone at a time (tzdata)
"""
