"""A typed face for ``sortedcontainers.SortedList`` (the package ships no type hints).

Why a sorted list rather than heaps: the router must remove arbitrary entries (a
conversation taken from the Inbox, an agent whose load changed) and walk past the head
(agents or conversations in a re-offer cooldown), both O(log n) here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

T = TypeVar("T")

if TYPE_CHECKING:

    class SortedList(Generic[T]):
        def __init__(self, iterable: Iterable[T] = ...) -> None: ...
        def add(self, value: T) -> None: ...
        def remove(self, value: T) -> None: ...
        def discard(self, value: T) -> None: ...
        def __iter__(self) -> Iterator[T]: ...
        def __len__(self) -> int: ...
        def __getitem__(self, index: int) -> T: ...
        def __contains__(self, value: object) -> bool: ...

else:
    from sortedcontainers import SortedList

__all__ = ["SortedList"]
