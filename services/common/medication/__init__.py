"""Medications: each patient's list, when doses fall due, and the doses seen and missed.

Shared by the web (the list, the mark-taken button, the week view), the dose tracker
(``services.pillbox``) and the reporter. ``schedule`` is pure time arithmetic,
``store`` the SQL on the app database, ``adherence`` the views made of both.
"""

from services.common.errors import SmartcabError


class MedicationError(SmartcabError):
    """A medication or dose that cannot be accepted; the message is safe to show people."""
