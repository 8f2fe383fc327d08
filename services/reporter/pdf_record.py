"""The report's health record: blood tests, advice, notes, questionnaire, habits, snacks."""

from services.common import labs
from services.common.metrics import range_text

from .model import Report
from .pdfpage import BRAND, MUTED, ReportPDF


def record_sections(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Blood test results")
    if not report.blood_tests:
        pdf.no_data("Blood test results")
    else:
        tests = report.blood_tests
        pdf.grid(
            ["Test", "Result", "Unit", "Reference range", "Flag", "Taken"],
            [
                [
                    t.test,
                    labs.format_result(t.test, t.value),
                    t.unit,
                    range_text(t.ref_low, t.ref_high),
                    t.flag,
                    pdf.when(t.taken_ms, "%d %b %Y"),
                ]
                for t in tests
            ],
            [44, 18, 28, 34, 22, 32],
            align=["LEFT", "RIGHT", "LEFT", "CENTER", "CENTER", "LEFT"],
            emphasis=[t.flag in ("low", "high") for t in tests],
        )
    pdf.heading("Doctor's advice")
    if not report.advice:
        pdf.no_data("Doctor's advice")
    for advice in report.advice or ():
        pdf.para(advice.area, size=10, bold=True, color=BRAND)
        pdf.para(advice.text, size=9.5)
        who = f"{advice.doctor}, " if advice.doctor else ""
        pdf.para(f"{who}{pdf.when(advice.updated_ms, '%d %b %Y')}", size=7.5, color=MUTED)
        pdf.ln(1.5)
    pdf.heading("Doctor's note", need=25)
    if not report.notes:
        pdf.no_data("Doctor's note")
    for note in report.notes or ():
        pdf.para(note.text, size=9.5)
        who = f"{note.doctor}, " if note.doctor else ""
        pdf.para(f"{who}{pdf.when(note.created_ms)}", size=7.5, color=MUTED)
        pdf.ln(1.5)
    pdf.heading("Questionnaire")
    if not report.questionnaire:
        pdf.no_data("Questionnaire")
    for answer in report.questionnaire or ():
        pdf.para(answer.question, size=9.5, bold=True)
        pdf.para(answer.answer, size=9.5)
        pdf.para(f"answered {pdf.when(answer.answered_ms, '%d %b %Y')}", size=7.5, color=MUTED)
        pdf.ln(1)


def habits_section(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Habits")
    if not report.habits:
        pdf.no_data("Habits")
    else:
        pdf.grid(
            ["Habit", "Days recorded", "Average a day", "Total"],
            [
                [h.habit, str(h.days), f"{h.mean:.1f} {h.unit}", f"{h.total:g} {h.unit}"]
                for h in report.habits
            ],
            [70, 30, 40, 38],
            align=["LEFT", "RIGHT", "RIGHT", "RIGHT"],
        )
    pdf.subheading("Snacks taken from the cabinet")
    if not report.snacks:
        pdf.no_data("Snacks taken from the cabinet")
        return
    items = sorted({item for day in report.snacks for item in day.taken})
    rows = [
        [
            pdf.when(day.day_ms, "%a %d %b"),
            *(str(day.taken.get(i, 0)) for i in items),
            str(sum(day.taken.values())),
        ]
        for day in report.snacks
    ]
    totals = [sum(day.taken.get(i, 0) for day in report.snacks) for i in items]
    rows.append(["Total", *map(str, totals), str(sum(totals))])
    width = (pdf.epw - 40) / (len(items) + 1)
    pdf.grid(
        ["Day", *items, "All"],
        rows,
        [40] + [width] * (len(items) + 1),
        align=["LEFT"] + ["RIGHT"] * (len(items) + 1),
        emphasis=[False] * (len(rows) - 1) + [True],
    )
