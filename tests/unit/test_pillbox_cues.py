"""The dose tracker's cue on a cabinet: which commands take it from what it shows to what is due."""

from services.common import protocol as p
from services.common.devices import accepts
from services.pillbox import cues
from services.pillbox.cues import NONE, Cue


def slots(*numbers: int) -> Cue:
    return Cue(slots=frozenset(numbers))


def test_the_prototypes_board_gets_the_shelf_light_ours_the_items_slot():
    assert cues.for_item(3, ours=False) == Cue(whole=True)
    assert cues.for_item(3, ours=True) == slots(3)
    # no known place (the item is not in its inventory), or beyond ls99: the shelf light
    assert cues.for_item(None, ours=True) == Cue(whole=True)
    assert cues.for_item(p.MAX_SLOT + 1, ours=True) == Cue(whole=True)


def test_commands_light_what_is_due_and_only_lof_turns_off():
    assert cues.commands(None, NONE) == []  # never lit by us: left alone
    assert cues.commands(None, Cue(whole=True)) == ["lon"]
    assert cues.commands(Cue(whole=True), Cue(whole=True)) == []
    assert cues.commands(Cue(whole=True), NONE) == ["lof"]
    assert cues.commands(NONE, slots(2, 0)) == ["ls00", "ls02"]
    assert cues.commands(slots(2), slots(2, 5)) == ["ls05"]
    # one of two slots taken: lof, then what is still due
    assert cues.commands(slots(2, 5), slots(5)) == ["lof", "ls05"]
    assert cues.commands(slots(2) | Cue(whole=True), slots(2)) == ["lof", "ls02"]
    assert cues.commands(Cue(whole=True), slots(1)) == ["lof", "ls01"]


def test_a_reconnected_board_is_sent_its_cue_again():
    assert cues.commands(slots(1), slots(1), resend=True) == ["ls01"]
    assert cues.commands(Cue(whole=True), Cue(whole=True), resend=True) == ["lon"]
    assert cues.commands(slots(1, 4), slots(4), resend=True) == ["lof", "ls04"]
    assert cues.commands(NONE, NONE, resend=True) == []


def test_the_cue_is_kept_as_the_database_stores_it():
    cue = Cue(True, frozenset({7, 3}))
    assert cue.encode() == "3,7" and Cue.decode(True, cue.encode()) == cue
    assert Cue.decode(False, "") == NONE and not NONE.lit


def test_only_cabinets_take_the_slot_command():
    assert accepts("cabinet", "ls04") and accepts("cabinet", "lon")
    assert not accepts("cabinet", "ls4") and not accepts("cabinet", "bpm")
    assert not accepts("watch", "ls04") and not accepts(None, "ls04")
