"""Backbones and self-supervised methods (one small module per method)."""
