"""Frozen features, linear probes, metrics with patient-level bootstrap intervals, Grad-CAM."""
