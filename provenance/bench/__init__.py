"""Benchmarks of the provenance marks (robustness to platform attacks, CPU cost)."""
