"""Audio in and out: decoding and probing files, clips, codecs and manipulations."""
