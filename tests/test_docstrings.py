"""numpydoc's validation of the public API's docstrings."""

import inspect

import pytest

pytest.importorskip("numpydoc")
from numpydoc.validate import validate  # noqa: E402

import skae  # noqa: E402
from skae import chunked, inspection, losses, metrics, persistence  # noqa: E402

# Checks left out: RT02 (numpydoc wants no name on a single return value,
# scikit-learn's convention names it), ES01 (an extended summary where the
# summary says it all).
IGNORED = {"RT02", "ES01"}
# Methods need neither See Also nor Examples: their class has them.
IGNORED_FOR_METHODS = IGNORED | {"SA01", "EX01"}


def _public_api():
    """(import path, ignored checks) of every public class, method and function skae defines."""
    items = []
    for module in (skae, losses, chunked, metrics, inspection, persistence):
        for name in getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")]):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not getattr(obj, "__module__", "").startswith("skae"):
                continue
            path = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                items.append((path, IGNORED))
                for method_name in dir(obj):
                    owners = [cls for cls in obj.__mro__ if method_name in vars(cls)]
                    owner = owners[0] if owners else None
                    if (
                        not method_name.startswith("_")
                        and owner.__module__.startswith("skae")
                        # An override is documented where the method is first defined
                        # (Loss.per_sample, say); its own docstring is one line.
                        and not any(cls.__module__.startswith("skae") for cls in owners[1:])
                        # classmethods too: the displays' from_estimator
                        and inspect.isfunction(getattr(vars(owner)[method_name], "__func__", vars(owner)[method_name]))
                    ):
                        items.append((f"{path}.{method_name}", IGNORED_FOR_METHODS))
            elif inspect.isfunction(obj):
                items.append((path, IGNORED_FOR_METHODS))
    return items


@pytest.mark.parametrize(("path", "ignored"), _public_api(), ids=lambda item: item if isinstance(item, str) else "")
def test_public_docstring_is_valid(path, ignored):
    errors = [f"{code}: {message}" for code, message in validate(path)["errors"] if code not in ignored]
    assert not errors, f"{path}:\n" + "\n".join(errors)
