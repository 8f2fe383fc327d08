"""``make run``'s demo: its accounts, its simulated devices and a month of believable history.

A newcomer's first page load shows the product at work, not empty boxes. The demo
patient wears one watch, has a camera looking into her cabinet and takes two
medications from it; her doctor has seen her twice. The history is made up once
(``plan``, pure and the same on every machine) and written the way the product
writes it (``backfill`` through the broker and the recorder, ``record`` with the
web's and the medication store's own functions). Every part looks for what it would
add first, so a second ``make run`` adds nothing.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Medication:
    """One of the demo's medications: its name, the cabinet item holding it, its times."""

    name: str
    item: str
    times: str  # HH:MM[,HH:MM] in the deployment's time zone
    stock: int


PATIENT = ("demo", "demo@example.com")
DOCTOR = ("DR-DEMO", "Dr Demo", "IC-DEMO")
ADMIN = ("admin", "admin@example.com")
# the simulated fleet's ids (firmware/sim names a single device of a kind by its prefix)
WATCH, CAMERA, CABINET = "wch", "img", "cab"
DEVICES = (WATCH, CAMERA, CABINET)
# what the simulated cabinet holds: (item, positions); one position is a box taken out
# and put back, several are packs used up and restocked
CABINET_ITEMS = (("Aspirin", 1), ("Vitamin C", 1), ("Oat bars", 3))
MEDICATIONS = (
    Medication("Aspirin 75 mg", "Aspirin", "08:00", 28),
    Medication("Vitamin C 500 mg", "Vitamin C", "08:00,20:00", 56),
)
