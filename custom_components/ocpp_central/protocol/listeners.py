"""Listeners: the one way the integration keeps callbacks to call when something changed.

`add` returns the function that removes the listener again (calling it twice is harmless);
calling the `Listeners` calls each listener in the order added, on a copy, so a listener may
remove itself or add another while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib


class Listeners[**P]:
    """Callbacks taking the arguments `P`."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        """No listener yet."""
        self._items: list[Callable[P, None]] = []

    def add(self, listener: Callable[P, None]) -> Callable[[], None]:
        """Call `listener` from now on; return the function that stops it."""
        self._items.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._items.remove(listener)

        return remove

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every listener."""
        for listener in tuple(self._items):
            listener(*args, **kwargs)

    def __iter__(self) -> Iterator[Callable[P, None]]:
        """The listeners, on a copy (for a caller that isolates them from each other)."""
        return iter(tuple(self._items))

    def __len__(self) -> int:
        """How many listeners there are."""
        return len(self._items)
