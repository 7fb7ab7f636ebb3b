"""vidflow: prompt files in git become moderated, watermarked, signed AI videos."""

__version__ = "0.1.0"
