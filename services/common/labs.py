"""The standard blood-test panel: one record per test, read by the dashboard and the reporter.

Each test has the unit results are stored in (SI, as most laboratories outside the US
report them), its common adult reference interval (orientation only), the decimals a
laboratory prints (HbA1c 6.0, ALT 30), and, where one is in use, the conventional US
unit with its factor: conventional = SI x factor. The factors are the usual ones
(cholesterol 38.67 mg/dL per mmol/L, triglycerides 88.57, glucose 18.02, creatinine
1/88.4 mg/dL per µmol/L, bilirubin 1/17.1, proteins 1/10 g/dL per g/L). Potassium's
mmol/L is also its mEq/L, and HbA1c's % is the same everywhere, so they have none.
"""

from dataclasses import dataclass

from .metrics import range_text

SI, CONVENTIONAL = "si", "conventional"


@dataclass(frozen=True)
class Conventional:
    unit: str
    factor: float
    decimals: int


@dataclass(frozen=True)
class TestKind:
    """One blood test of the standard list, with the unit and adult range used by default."""

    key: str
    name: str
    unit: str
    low: float | None
    high: float | None
    decimals: int = 1
    conventional: Conventional | None = None

    @property
    def range_text(self) -> str:
        return range_text(self.low, self.high)

    def format(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"

    def shown(self, units: str) -> "Shown":
        """How the test reads in ``units`` (``si`` or ``conventional``)."""
        conv = self.conventional if units == CONVENTIONAL else None
        if conv is None:
            return Shown(self, self.unit, 1.0, self.decimals)
        return Shown(self, conv.unit, conv.factor, conv.decimals)


@dataclass(frozen=True)
class Shown:
    """A test in the units one person reads: values, ranges and typed-in values converted."""

    kind: TestKind
    unit: str
    factor: float
    decimals: int

    def value(self, si_value: float) -> float:
        return si_value * self.factor

    def format(self, si_value: float) -> str:
        return f"{self.value(si_value):.{self.decimals}f}"

    def bound(self, si_value: float | None) -> float | None:
        return None if si_value is None else round(si_value * self.factor, self.decimals)

    def range_text(self, low: float | None, high: float | None) -> str:
        return range_text(self.bound(low), self.bound(high))

    def to_si(self, typed: float) -> float:
        """A value typed in these units, as it is stored."""
        return typed / self.factor


def _conv(unit: str, factor: float, decimals: int = 0) -> Conventional:
    return Conventional(unit, factor, decimals)


_CHOL = _conv("mg/dL", 38.67)
TESTS: tuple[TestKind, ...] = (
    TestKind("total_chol", "Total Cholesterol", "mmol/L", None, 5.2, 1, _CHOL),
    TestKind("triglyceride", "Triglyceride", "mmol/L", None, 1.7, 1, _conv("mg/dL", 88.57)),
    TestKind("hdl", "HDL-C", "mmol/L", 1.0, None, 1, _CHOL),
    TestKind("ldl", "LDL", "mmol/L", None, 3.4, 1, _CHOL),
    TestKind("chol_hdl", "Chol/HDL", "ratio", None, 5.0, 1),
    TestKind("bilirubin", "Bilirubin", "µmol/L", 3, 21, 0, _conv("mg/dL", 1 / 17.1, 1)),
    TestKind("alt", "ALT", "U/L", 7, 56, 0),
    TestKind("ast", "AST", "U/L", 8, 48, 0),
    TestKind("alp", "ALP", "U/L", 40, 130, 0),
    TestKind("glucose", "Glucose", "mmol/L", 3.9, 5.6, 1, _conv("mg/dL", 18.016)),
    TestKind("protein", "Protein", "g/L", 60, 83, 0, _conv("g/dL", 0.1, 1)),
    TestKind("albumin", "Albumin", "g/L", 35, 50, 0, _conv("g/dL", 0.1, 1)),
    TestKind("creatinine", "Creatinine", "µmol/L", 60, 110, 0, _conv("mg/dL", 1 / 88.4, 2)),
    TestKind("potassium", "Potassium", "mmol/L", 3.5, 5.1, 1),
    TestKind("egfr", "eGFR", "mL/min/1.73m²", 90, None, 0),
    TestKind("hba1c", "HbA1c", "%", 4.0, 5.6, 1),
)
BY_KEY: dict[str, TestKind] = {t.key: t for t in TESTS}
BY_NAME: dict[str, TestKind] = {t.name: t for t in TESTS}


def format_result(test: str, value: float) -> str:
    """A stored result as laboratories print it; ``%g`` for a test not on the list."""
    kind = BY_NAME.get(test)
    return kind.format(value) if kind else f"{value:g}"
