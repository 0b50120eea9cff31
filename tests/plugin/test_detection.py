"""Which module is on the bench: the dialect detected from ATI for every model of a family, the model and firmware
named in the report, and a warning where the model is not the one its dialect's manual is written for."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers.modules import ScriptedModule

from conformance import dialects

PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
    """


def run_against(pytester: pytest.Pytester, module: ScriptedModule, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    path = pytester.path / "cases" / "bg96" / "a.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(PASSING), encoding="utf-8")
    return pytester.runpytest(f"--modem={module.path}", "--results-dir", str(pytester.path / "out"), "--run-name",
                              "r1", "-p", "no:cacheprovider", *args)


@pytest.mark.parametrize(("model", "revision"), [
    (b"EC25", b"EC25EFAR06A03M4G"),
    (b"BG95-M3", b"BG95M3LAR02A03"),
    (b"BG77", b"BG77LAR02A04"),
    (b"EC21", b"EC21EFAR06A01M4G"),
    (b"EG25-G", b"EG25GGBR07A08M2G"),
    (b"EC200U", b"EC200UCNAAR02A01M08"),
    (b"UC200T", b"UC200TEMAAR01A04M16"),
    (b"RM500Q-GL", b"RM500QGLABR11A06M4G"),
])
def test_a_model_of_the_bg96_family_is_detected_and_held_to_the_bg96_manual_with_a_warning(
        pytester: pytest.Pytester, model: bytes, revision: bytes) -> None:
    with ScriptedModule(model=model, revision=revision) as module:
        result = run_against(pytester, module, f"--alluredir={pytester.path / 'allure'}")
    result.assert_outcomes(passed=1, warnings=1)
    name, rev = model.decode(), revision.decode()
    note = f"{name} is of the BG96 family; the suite holds it to the BG96 TCP/IP AT Commands Manual V1.0"
    result.stdout.fnmatch_lines([
        "*warnings summary*", f"*FamilyModelWarning: {note}",
        "*conformance*",
        f"real bg96 module at *: model={name}, revision={rev}, firmware={rev}_01.016.01.016",
        f"note: {note}",
    ])
    env = (pytester.path / "allure" / "environment.properties").read_text()
    assert f"bg96.model={name}" in env and f"bg96.firmware={rev}_01.016.01.016" in env


def test_the_manuals_own_model_has_no_warning(pytester: pytest.Pytester) -> None:
    with ScriptedModule() as module:
        result = run_against(pytester, module)
    result.assert_outcomes(passed=1)
    assert "FamilyModelWarning" not in result.stdout.str() and "note:" not in result.stdout.str()


@pytest.mark.parametrize(("model", "revision", "dialect"), [
    (b"M95", b"M95FAR02A08", "m95"),
    (b"Quectel_BC660K-GL", b"BC660KGLAAR01A05", "bc660k"),
])
def test_every_registered_dialect_is_tried(pytester: pytest.Pytester, model: bytes, revision: bytes,
                                           dialect: str) -> None:
    if dialect not in dialects.names():
        pytest.skip(f"the {dialect} dialect is not registered here")
    with ScriptedModule(model=model, revision=revision) as module:
        result = run_against(pytester, module)
    result.assert_outcomes(skipped=1)  # the case is for bg96; the module speaks another dialect
    result.stdout.fnmatch_lines([f"real {dialect} module at *: model={model.decode()}, revision={revision.decode()}*"])


def test_a_firmware_revision_missing_from_ati_is_read_from_at_gmr(pytester: pytest.Pytester) -> None:
    with ScriptedModule() as module:
        module.on(b"ATI", b"\r\nQuectel\r\nBG96\r\n\r\nOK\r\n")  # no Revision: line
        module.on(b"AT+QGMR", b"\r\nERROR\r\n")  # and no extended version
        result = run_against(pytester, module)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["real bg96 module at *: model=BG96, revision=BG96MAR02A07M1G"])
    env = json.dumps(result.stdout.str())
    assert "firmware=" not in env
