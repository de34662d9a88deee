"""Sphinx configuration of the skae documentation.

Build (warnings as errors, gallery executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Set SKAE_DOCS_PLOT_GALLERY=0 to build without running the examples.
"""

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The checkout's skae, not whichever one happens to be installed.
sys.path.insert(0, str(DOCS.parent))
# sphinxext_skae, named by string below so that the config stays picklable.
sys.path.insert(0, str(DOCS))

import skae  # noqa: E402
import skae.cli  # noqa: E402
import skae.losses  # noqa: E402
import skae.metrics  # noqa: E402

project = "skae"
author = "the skae developers"
copyright = "the skae developers"
release = skae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
html_static_path = []
exclude_patterns = ["_build", "**.ipynb_checkpoints", "generated/*.examples"]
default_role = "literal"

autosummary_generate = True
autodoc_default_options = {"member-order": "groupwise"}
# Members come from the autosummary class template; numpydoc would list them a
# second time and want a page per inherited scikit-learn method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Types become cross-reference roles, so names such as ``n_features_in_`` in
# "ndarray of shape (n_features_in_,)" are not read as reST link targets.
numpydoc_xref_param_type = True
# No intersphinx (the build must work offline), so plain names, not links to Python's docs.
numpydoc_xref_aliases = {
    name: name.replace("-", "_")
    for name in [
        "bool",
        "dict",
        "list",
        "tuple",
        "callable",
        "iterable",
        "sequence",
        "scalar",
        "array-like",
        "array_like",
    ]
}
numpydoc_xref_ignore = {
    "of", "shape", "or", "and", "default", "optional", "instance", "like", "to", "by", "from", "a", "an", "the",
}  # fmt: skip

html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "getting_started": [], "cli": []}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": os.environ.get("SKAE_DOCS_PLOT_GALLERY", "True"),
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "generated",
    "doc_module": ("skae",),
    "reference_url": {"skae": None},
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "min_reported_time": 1,
    "reset_modules": (
        "matplotlib",
        "sphinxext_skae.silence_convergence_warnings",
        "sphinxext_skae.one_thread_per_example",
    ),
}


def write_cli_help(app):
    """The command line's help texts, included verbatim by cli.rst."""
    generated = DOCS / "generated"
    generated.mkdir(exist_ok=True)
    # argparse wraps to the terminal's width; the page should not depend on it.
    os.environ["COLUMNS"] = "80"
    parser = skae.cli.build_parser()
    texts = {"cli_help.txt": parser.format_help()}
    subparsers = next(action for action in parser._actions if action.dest == "command")
    for name, subparser in subparsers.choices.items():
        texts[f"cli_{name}_help.txt"] = subparser.format_help()
    for filename, text in texts.items():
        path = generated / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def importable_module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def public_modules():
    """skae's public submodules that import here (optional dependencies may be missing)."""
    modules = [skae]
    for info in pkgutil.iter_modules(skae.__path__):
        if not info.name.startswith("_") and info.name != "cli":
            module = importable_module(f"skae.{info.name}")
            if module is not None:
                modules.append(module)
    return modules


OPTIONAL_BLOCK = re.compile(
    r"^\.\. skae-optional-module: (?P<module>[\w.]+)\n(?P<body>.*?)^\.\. skae-end-optional-module\n",
    re.MULTILINE | re.DOTALL,
)


def drop_unavailable_modules(app, docname, source):
    """Keep api.rst's blocks for optional modules only where the module exists and imports."""
    if docname != "api":
        return
    source[0] = OPTIONAL_BLOCK.sub(
        lambda match: match["body"] if importable_module(match["module"]) is not None else "", source[0]
    )


def check_api_coverage(app):
    """Warn (an error under -W) for any public name missing from api.rst."""
    from sphinx.util import logging

    api_text = (DOCS / "api.rst").read_text()
    for module in public_modules():
        for name in getattr(module, "__all__", []):
            attribute = getattr(module, name, None)
            if inspect.ismodule(attribute):
                continue  # documented through its own __all__
            if name not in api_text:
                logging.getLogger(__name__).warning(f"{module.__name__}.{name} is public but missing from docs/api.rst")


# "name : ndarray of shape (n_features_in_,)": reST reads "n_features_in_" as a
# link target. In such declaration lines, quote fitted-attribute names.
DECLARATION = re.compile(r"^\s*\w[\w, ]* : ")
TRAILING_UNDERSCORE_NAME = re.compile(r"(?<![\w`])([A-Za-z]\w*_)(?=[,)\]])")


def quote_attribute_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if DECLARATION.match(line):
            head, sep, declared_type = line.partition(" : ")
            lines[i] = head + sep + TRAILING_UNDERSCORE_NAME.sub(r"`\1`", declared_type)


# scikit-learn generates set_fit_request and its kin from fit's signature;
# their docstrings link into scikit-learn's own glossary and user guide, which
# an offline build cannot resolve. The user guide's page on callbacks and
# sample weights shows how to use them.
METADATA_REQUEST_METHOD = re.compile(r"^set_\w+_request$")


def skip_metadata_requests(app, what, name, obj, skip, options):
    return True if METADATA_REQUEST_METHOD.match(name) else None


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_requests)
    # Before numpydoc (priority 500) parses the sections.
    app.connect("autodoc-process-docstring", quote_attribute_names, priority=400)
    app.connect("source-read", drop_unavailable_modules)
    app.connect("builder-inited", write_cli_help)
    app.connect("builder-inited", check_api_coverage)
