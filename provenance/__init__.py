"""Marking what vidflow made: invisible watermark, visible label, C2PA signing, `verify`."""
