"""The questionnaire page: the patient drafts and submits answers; their doctors read them."""

from flask import g, redirect, render_template, request, url_for

from .. import questionnaire as answers
from ..db import get_db
from ..errors import ValidationError
from . import PATIENT, PatientPages

bp = PatientPages("questionnaire", __name__)


def _page(error: str | None = None) -> str:
    own = g.user.id == g.patient.id
    return render_template(
        "questionnaire.html",
        patient=g.patient,
        state=answers.state(get_db(), g.patient.id, drafts=own),
        error=error,
        can_edit=own,
    )


bp.show_errors(_page, ValidationError)


@bp.route("/p/<username>/questionnaire")
def questionnaire():
    return _page()


@bp.route("/p/<username>/questionnaire", methods=["POST"], roles=PATIENT)
def questionnaire_save():
    if request.form.get("action") == "submit":
        answers.submit(get_db(), g.patient.id, request.form)
        done = "submitted"
    else:
        answers.save_draft(get_db(), g.patient.id, request.form)
        done = "draft"
    return redirect(url_for(".questionnaire", username=g.patient.username, saved=done))
