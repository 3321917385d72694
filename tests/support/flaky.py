"""An operation that fails a scripted number of times, for tests of retry loops."""

from __future__ import annotations

from collections.abc import Callable, Iterable


class Flaky:
    """Fails with each of ``errors`` in turn, then returns ``result``; ``on_call`` is told
    the number of each call before it fails or returns."""

    def __init__(self, errors: Iterable[Exception], result: object = "done") -> None:
        self._errors = iter(errors)
        self.result = result
        self.calls = 0
        self.on_call: Callable[[int], object] = lambda call: None

    def __call__(self) -> object:
        self.calls += 1
        self.on_call(self.calls)
        error = next(self._errors, None)
        if error is not None:
            raise error
        return self.result
