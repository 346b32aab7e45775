"""Column lineage: the columns of the training frame as it flows through the chain.

Planning replays every node's effect on the *schema* (names, coarse types, missing values),
starting from the data source's header and dtypes and the training split's profile. That is
enough to name every export error the spec lists before anything is trained, to compute the
serving input schema, and to describe each step. Data-dependent choices (skewness, which
columns have missing values after earlier nodes) are estimated here and made exactly at fit
time by the generated code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

NUMERIC = ("integer", "float")


@dataclass(frozen=True)
class Col:
    name: str
    kind: str  # integer | float | bool | datetime | string | unknown
    origin: frozenset[str]  # raw columns whose values this column derives from
    raw: bool  # still exactly the raw column's values
    train_missing: bool  # may hold missing values in training data here
    null_from: frozenset[str]  # raw columns whose null at serving time would be null here
    categories: tuple[str, ...] | None = None  # training categories, when known
    # False once a row filter ran: whether missing values remain is then only known at fit time
    missing_certain: bool = True

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


@dataclass
class Frame:
    """An ordered schema of the feature frame (the target is never in it).

    Lookups go through a name -> position index, rebuilt when the column list changed, so
    planning stays linear in nodes × columns (wide data made a list search quadratic).
    """

    cols: list[Col] = field(default_factory=list)
    _index: dict[str, list[int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _indexed: tuple = field(default=(), init=False, repr=False, compare=False)

    def _positions(self) -> dict[str, list[int]]:
        # `cols` is a public list: re-index when it is another list or another length
        if self._indexed != (id(self.cols), len(self.cols)):
            self._index = {}
            for i, col in enumerate(self.cols):
                self._index.setdefault(col.name, []).append(i)
            self._indexed = (id(self.cols), len(self.cols))
        return self._index

    def names(self) -> list[str]:
        return [c.name for c in self.cols]

    def get(self, name: str) -> Col | None:
        positions = self._positions().get(name)
        return self.cols[positions[0]] if positions else None

    def replace_col(self, name: str, **changes) -> None:
        for i in self._positions().get(name, []):
            self.cols[i] = replace(self.cols[i], **changes)
        if "name" in changes:
            self._indexed = ()

    def remove(self, names) -> None:
        names = set(names)
        self.cols = [c for c in self.cols if c.name not in names]

    def append(self, col: Col) -> None:
        self.cols.append(col)

    def copy(self) -> Frame:
        return Frame(list(self.cols))
