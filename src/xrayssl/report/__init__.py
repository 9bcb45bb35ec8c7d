"""The study report: one self-contained HTML file (plots embedded as PNG data URIs)."""
