"""How ``make run`` starts the simulated fleet for the demo: one of each board."""

from datetime import UTC, date, datetime

from services.common.medication import schedule

from . import CABINET_ITEMS, MEDICATIONS

# someone reaches into the cabinet for a pack every four hours or so, not every minute
PACKS_EVERY_S = 4 * 3600


def simulator_args(timezone: str, today: date | None = None) -> list[str]:
    """``firmware.sim`` options: the demo's cabinet, its medicine boxes taken at dose times."""
    today = today or datetime.now(UTC).date()
    items = ",".join(f"{name}:{positions}" for name, positions in CABINET_ITEMS)
    args = ["--watches", "1", "--cameras", "1", "--cabinets", "1", "--items", items]
    args += ["--shelf-every", str(PACKS_EVERY_S)]
    zone = schedule.zone(timezone)
    for med in MEDICATIONS:
        # the simulator keeps UTC; the medication's times are the patient's local ones
        times = [
            datetime.combine(today, t, tzinfo=zone).astimezone(UTC).strftime("%H:%M")
            for t in schedule.parse_times(med.times)
        ]
        args += ["--taken-at", f"{med.item}={','.join(times)}"]
    return args
