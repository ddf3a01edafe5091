"""Sphinx configuration of the course website (`make site`; dlcourse.tools.site assembles the pages).

Sphinx with MyST-NB and the book theme: pure Python from PyPI, so `make site` builds offline from a fresh
clone with what `make test` installs (Jupyter Book 2 fetches its theme from the web when it builds).
Notebooks are rendered from their committed outputs, never re-executed. Every warning fails the build:
a broken internal link, a missing image, an unknown cross-reference.
"""

import importlib.util
from pathlib import Path

project = "dlcourse"
author = "the dlcourse authors"
copyright = "2026, the dlcourse authors"
html_title = "dlcourse · deep learning × big data"

extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](notebooks/13_….ipynb#serving-the-model) links to a section, checked
nb_execution_mode = "off"  # the committed outputs are the course's results
nb_merge_streams = True

html_theme = "sphinx_book_theme"
# MathJax 3.2.2 from the sphinx-mathjax-offline wheel, copied into _static/mathjax/: math renders offline, no CDN
_mathjax = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static"
html_static_path = ["_static", str(_mathjax)]
mathjax_path = "mathjax/tex-chtml.js"
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"  # else every page asks the server for /favicon.ico and logs a 404
html_last_updated_fmt = None
html_show_sourcelink = False
html_context = {"default_mode": "light"}  # else the theme logs "invalid theme mode" on a first visit
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
