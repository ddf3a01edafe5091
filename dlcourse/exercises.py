"""What the exercises' check cells use beyond plain asserts: catching an answer that calls the course's helper.

An exercise that asks for a strided convolution "without `cv.conv2d`" cannot trust the result alone: the
package's own function gives the right numbers. Its check runs the student's function under
:func:`calls_to`, which records every call to the named functions, however they were reached (an alias, a
lambda, a helper in between):

    with dlcourse.calls_to(cv.conv2d) as used:
        strided_conv2d(image, kernel, 2)
    assert not used, f"the exercise asks for your own convolution: strided_conv2d calls {used}"
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator


def _resolve(name: str) -> Callable:
    """A function from its dotted name ("dlcourse.convolution.conv_parameters"), so that a check can watch a
    module its notebook does not import."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            break
        return target
    raise ValueError(f"calls_to: {name!r} names no function (give a module path and a function in it)")


def _display_name(target: Callable) -> str:
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)}"
    for method in (".__new__", ".__init__"):  # watching a class's constructor: a call is "uses the class"
        name = name.removesuffix(method)
    return name


@contextlib.contextmanager
def calls_to(*functions: Callable | str) -> Iterator[list[str]]:
    """Record the calls to `functions` (Python functions, or their dotted names) made inside the block: yields
    the sorted list of the names of those called, which fills as they are called (empty at the end: none was
    called). A class's ``__new__`` or ``__init__`` (``keras.layers.Layer.__new__``) watches its instances
    being made."""
    codes = {}
    for function in functions:
        if isinstance(function, str):
            function = _resolve(function)
        # the function itself, under its decorators (TensorFlow's ops, scikit-learn's metrics and NumPy's array
        # functions share one wrapper's code; inspect.unwrap reaches the code that is theirs alone)
        target = inspect.unwrap(getattr(function, "__func__", function))
        code = getattr(target, "__code__", None)
        if code is None:
            raise TypeError(f"calls_to takes Python functions; {function!r} has no code to watch")
        codes[code] = _display_name(target)
    used: list[str] = []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in used:
            used.append(codes[frame.f_code])
            used.sort()

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        yield used
    finally:
        sys.setprofile(previous)
