"""What a cabinet shows for the doses due, and the commands that get it there: pure.

A board on the prototype's firmware has one light for the whole shelf (``lon`` /
``lof``). A board that announced our firmware (``~v=`` in its hello) also takes the
slot command ``ls<NN>``, which lights only the LEDs of its NN-th item (the item's
place in the cabinet's inventory, counted from 00); ``lof`` clears those too.
"""

from dataclasses import dataclass

from services.common.wire import MAX_SLOT, slot_command

ON, OFF = "lon", "lof"


@dataclass(frozen=True)
class Cue:
    """The shelf light and the slots lit on one cabinet."""

    whole: bool = False
    slots: frozenset[int] = frozenset()

    def __or__(self, other: "Cue") -> "Cue":
        return Cue(self.whole or other.whole, self.slots | other.slots)

    @property
    def lit(self) -> bool:
        return self.whole or bool(self.slots)

    def encode(self) -> str:
        """The slots as the database keeps them: ``3,7``."""
        return ",".join(str(s) for s in sorted(self.slots))

    @classmethod
    def decode(cls, whole: bool, slots: str) -> "Cue":
        return cls(whole, frozenset(int(s) for s in slots.split(",") if s.strip()))


NONE = Cue()


def for_item(position: int | None, ours: bool) -> Cue:
    """The cue for one due item: its slot on our firmware, else the whole shelf."""
    if ours and position is not None and 0 <= position <= MAX_SLOT:
        return Cue(slots=frozenset({position}))
    return Cue(whole=True)


def commands(shown: Cue | None, wanted: Cue, resend: bool = False) -> list[str]:
    """The commands that take a cabinet from ``shown`` to ``wanted``.

    ``shown`` None: we never lit it, so with nothing wanted it is left alone.
    Only ``lof`` turns anything off, so a slot no longer wanted means ``lof`` and
    lighting again what still is. ``resend``: the board reconnected and may have
    lost what it showed, so all that is wanted is sent again.
    """
    if shown is None and not wanted.lit:
        return []
    base = shown or NONE
    out = []
    if (base.whole and not wanted.whole) or (base.slots - wanted.slots):
        out.append(OFF)
        base = NONE
    elif resend:
        base = NONE
    if wanted.whole and not base.whole:
        out.append(ON)
    out += [slot_command(s).decode() for s in sorted(wanted.slots - base.slots)]
    return out
