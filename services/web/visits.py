"""The patient's "Who viewed my data": the audit log in people's words, one line per visit.

A page load makes several audited requests (the page, its data, its live stream), and a
doctor reading through a record opens page after page: a run of requests by one person,
each within ``VISIT_GAP`` of the one before, is one line (a visit) naming what they
changed first (a share, a result, an admin's assignment), then what they looked at.
"""

from services.common.database import Connection
from services.common.metrics import GROUP_BY_KEY

from .access import ACTIONS, is_read
from .accounts import doctor_name

VISIT_GAP = 15 * 60  # seconds between two requests of one visit, at most
READ_DATA = "Read your data"  # a visit of data requests only (a script, a live tab)
_CIRCLE = {
    "contact.add": "Added {} to your care circle",
    "contact.edit": "Changed {} in your care circle",
    "contact.remove": "Removed {} from your care circle",
    "carer.invite": "Invited {} to a carer account",
}


class Names:
    """Doctors' names by Dr_ID, so a share reads "Dr. Grace Tan (D100)", not "D100"."""

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute("SELECT dr_id, display_name FROM users WHERE role = 'doctor'")
        self._by_id = {r["dr_id"]: r["display_name"] for r in rows}

    def viewer(self, label: str) -> str:
        """A share's viewer (a Dr_ID, or ``carer <user name>``) in words."""
        if label.startswith("carer "):
            return label
        name = self._by_id.get(label)
        return f"{doctor_name(name)} ({label})" if name else label


def _admin(action: str, detail: str, names: Names) -> str:
    """An administrator's change that touched the patient."""
    if action == "share.grant":
        return f"Gave {names.viewer(detail.split(' / ')[-1])} access to your data"
    if action == "share.revoke":
        return f"Removed the access of {names.viewer(detail.split(' / ')[-1])}"
    if action == "device.assign":
        return f"Assigned the device {detail.split(' -> ')[0]} to you"
    return f"Changed your account ({action})"


def describe(action: str, names: Names) -> str:
    """One audited action as the patient reads it."""
    if action in ACTIONS:
        return ACTIONS[action]
    verb, _, rest = action.partition(" ")
    if rest == "refused" and verb in ACTIONS:
        return f"{ACTIONS[verb]}: refused, nothing saved"
    if verb.startswith("report."):
        fmt = verb.split(".", 1)[1]
        return f"Report service: {'doses CSV' if fmt == 'doses' else fmt.upper()} {rest}"
    if is_read(verb):
        return READ_DATA
    if verb == "share.grant":
        return f"Shared your data with {names.viewer(rest)}"
    if verb == "share.revoke":
        return f"Removed access for {names.viewer(rest)}"
    if verb.startswith("admin."):
        return _admin(verb.removeprefix("admin."), rest, names)
    if verb in _CIRCLE:
        return _CIRCLE[verb].format(rest)
    if verb == "alert_ack":
        return ACTIONS["alert_ack"]
    if verb == "reading_ack":
        title = GROUP_BY_KEY[rest].title if rest in GROUP_BY_KEY else rest
        return f"Marked a {title[:1].lower() + title[1:]} reading outside the usual range as seen"
    return action


def _in_words(changes: list[str], reads: list[str]) -> str:
    """A visit, oldest first, each thing once: what was changed, then what was looked at."""
    reads = [w for w in reads if w != READ_DATA] or ([READ_DATA] if not changes else [])
    said = [w for i, w in enumerate(changes + reads) if w not in (changes + reads)[:i]]
    if len(said) == 1:
        return said[0]
    words = [said[0]] + [w[:1].lower() + w[1:] for w in said[1:]]
    return ", ".join(words[:-1]) + " and " + words[-1]


def log(conn: Connection, patient_id: int, limit: int = 200) -> list[dict]:
    """Who opened or changed what of this patient's, newest first, visits grouped."""
    names = Names(conn)
    rows = conn.execute(
        "SELECT a.at, a.action, u.id AS actor_id, u.display_name AS actor, u.role, u.dr_id"
        " FROM audit a JOIN users u ON u.id = a.actor_id WHERE a.patient_id = ?"
        " ORDER BY a.id DESC LIMIT ?",
        (patient_id, limit * 20),
    )
    out: list[dict] = []
    for r in rows:
        last = out[-1] if out else None
        what = describe(r["action"], names)
        side = "reads" if is_read(r["action"].partition(" ")[0]) else "changes"
        # The report service's own word on a request stands on its own line.
        alone = r["action"].startswith("report.") or (
            last and last["actions"][0].startswith("report.")
        )
        if (
            not alone
            and last
            and last["actor_id"] == r["actor_id"]
            and last["at"] - r["at"] <= VISIT_GAP
        ):
            last["at"] = r["at"]  # the visit began earlier
            last[side].insert(0, what)
            last["actions"].insert(0, r["action"])
            continue
        if len(out) == limit:
            break
        entry = {k: r[k] for k in ("at", "actor_id", "actor", "role", "dr_id")}
        out.append(entry | {"until": r["at"], "reads": [], "changes": [], "actions": [r["action"]]})
        out[-1][side].append(what)
    for entry in out:
        entry["what"] = _in_words(entry.pop("changes"), entry.pop("reads"))
        entry["actor"] = (
            doctor_name(entry["actor"]) if entry["role"] == "doctor" else entry["actor"]
        )
    return out
