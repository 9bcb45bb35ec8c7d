"""The report page's style sheet (kept apart from the sections, which only mark up content)."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;
 padding:0 1em;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 7px;
 text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}img{max-width:100%}
.note{color:#555;font-size:.9em}.ok{color:#17692b;font-weight:600}.bad{color:#a11;font-weight:600}
.warnings{border-left:4px solid #a11;padding:.1em .8em;background:#fff5f5;margin:.6em 0}
.gallery{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1em}.gallery figure{margin:0}
figcaption{font-size:.85em;color:#444}p.lead{font-size:1.15em;margin:.5em 0}
"""
