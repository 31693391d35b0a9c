"""The text space of drift_gym's environments, and its shared-memory layout for vector envs.

Gymnasium stores a ``Text`` observation in shared memory as one int32 index into the space's
charset per character, so any character outside the charset (an em dash in a system prompt,
a non-UTF-8 file name decoded as ``'\\udcff'``) raises ``KeyError`` in an ``AsyncVectorEnv``
worker. Observations here are arbitrary Unicode, so an ``AnyText`` slot holds the string's
UTF-8 bytes instead (lone surrogates kept with ``surrogatepass``, so every ``str`` round-trips
exactly) after an 8-byte little-endian length. A slot is 4 bytes per character of
`max_length` — the most UTF-8 needs per code point — plus the header: the same size as
Gymnasium's int32 layout, and only the bytes in use are copied on each step.

``AsyncVectorEnv`` reads its shared memory once, at construction, and relies on the result
being a *view* that later writes show through (true of NumPy arrays). A tuple of ``str``
cannot be one — Gymnasium's own ``Text`` handler returns a snapshot that never changes — so
reading gives a `SharedTexts`: a read-only sequence that decodes a slot when indexed and
deep-copies (what ``AsyncVectorEnv`` does with its default ``copy=True``) to a plain tuple.

The handlers are registered on Gymnasium's ``singledispatch`` functions when this module is
imported, which happens wherever an ``AnyText`` exists (the class lives here), so
``gymnasium.make_vec(id, vectorization_mode="async")`` works without extra arguments.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from types import ModuleType
from typing import Any, overload

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

_HEADER = 8  # bytes of the little-endian length before each slot's UTF-8 data
_MAX_UTF8 = 4  # bytes per code point, at most (a surrogate takes 3 with surrogatepass)


def encode_text(text: str) -> bytes:
    """UTF-8 that never raises: lone surrogates are kept as their 3-byte forms."""
    return text.encode("utf-8", "surrogatepass")


def decode_text(data: bytes) -> str:
    """The inverse of `encode_text`."""
    return data.decode("utf-8", "surrogatepass")


class AnyText(spaces.Text):
    """A text space that contains any string up to `max_length` (real observations hold any
    Unicode); `sample()` still draws from the charset (printable ASCII in drift_gym's envs)."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    @property
    def slot_bytes(self) -> int:
        """Bytes of shared memory one value needs (header + worst-case UTF-8)."""
        return _HEADER + _MAX_UTF8 * self.max_length


def _slots(space: AnyText, shared_memory: Any) -> np.ndarray:
    return np.frombuffer(shared_memory.get_obj(), dtype=np.uint8).reshape(-1, space.slot_bytes)


@create_shared_memory.register(AnyText)
def _create_any_text_shared_memory(space: AnyText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.uint8).char, n * space.slot_bytes)


@write_to_shared_memory.register(AnyText)
def _write_any_text_to_shared_memory(space: AnyText, index: int, values: str,
                                     shared_memory: Any) -> None:
    if not space.contains(values):
        raise ValueError(f"{space!r} does not contain a {type(values).__name__} of length "
                         f"{len(values) if isinstance(values, str) else '?'}")
    data = encode_text(values)
    slot = _slots(space, shared_memory)[index]
    slot[:_HEADER] = np.frombuffer(len(data).to_bytes(_HEADER, "little"), dtype=np.uint8)
    slot[_HEADER:_HEADER + len(data)] = np.frombuffer(data, dtype=np.uint8)


class SharedTexts(Sequence[str]):
    """The `n` strings in an ``AnyText`` shared-memory buffer, decoded when read (a live view,
    like the NumPy views ``AsyncVectorEnv`` keeps for array spaces); copies and pickles are
    plain tuples."""

    def __init__(self, space: AnyText, shared_memory: Any, n: int) -> None:
        self._slots = _slots(space, shared_memory)[:n]

    def __len__(self) -> int:
        return len(self._slots)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        slot = self._slots[index]
        length = int.from_bytes(slot[:_HEADER].tobytes(), "little")
        return decode_text(slot[_HEADER:_HEADER + length].tobytes())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SharedTexts | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable through the buffer

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return tuple, (tuple(self),)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@read_from_shared_memory.register(AnyText)
def _read_any_text_from_shared_memory(space: AnyText, shared_memory: Any,
                                      n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)
