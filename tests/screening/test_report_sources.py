"""Report text from DiagnosticReport and DocumentReference: every readable part, and a reason for each unread one."""

from __future__ import annotations

import base64
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.screening import report_reading
from service.screening.report_reading import MAX_CHARS, read_report
from service.screening.report_sources import MAX_ATTACHMENT_BYTES, ReportText, is_radiology_note, report_text


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _report(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "DiagnosticReport", "status": "final", **fields}


def test_conclusion_codes_and_presented_forms_are_read_conclusion_first() -> None:
    report = _report(
        conclusion="Transient osteoporosis of the left hip.",
        conclusionCode=[
            {"text": "Bone marrow oedema", "coding": [{"display": "Bone marrow oedema"}, {"display": "Hip effusion"}]}
        ],
        presentedForm=[
            {"contentType": "text/plain; charset=utf-8", "data": _b64("FINDINGS: Subchondral fracture line.")},
            {
                "contentType": "text/html",
                "data": _b64(
                    "<html><head><style>p {color: red}</style><script>var fracture = 1;</script></head>"
                    "<body><p>No AVN.</p><p>Sacral insufficiency fracture &amp; oedema.</p></body></html>"
                ),
            },
        ],
    )
    read = report_text(report)
    assert read.text.splitlines() == [
        "Transient osteoporosis of the left hip.",
        "Bone marrow oedema",
        "Hip effusion",
        "FINDINGS: Subchondral fracture line.",
        "No AVN.",
        "Sacral insufficiency fracture & oedema.",
    ]
    assert read.unread == ()


def test_a_red_flag_only_in_the_full_report_is_read() -> None:
    report = _report(
        conclusion="Bone marrow oedema of the left femoral head.",
        presentedForm=[{"contentType": "text/plain", "data": _b64("Displaced left subcapital fracture.")}],
    )
    reading = read_report(report_text(report).text)
    assert [(f.site, f.side) for f in reading.asserted("fracture")] == [("femoral_neck", "left")]


def test_a_10_mb_report_is_read_up_to_the_bound_quickly() -> None:
    text = "Right femoral neck fracture. " + "Normal appearances. " * 500_000
    data = _b64(text)
    assert len(data) > 13_000_000
    started = time.perf_counter()
    read = report_text(_report(presentedForm=[{"contentType": "text/plain", "data": data}]))
    assert time.perf_counter() - started < 0.5
    assert read.text.startswith("Right femoral neck fracture.")
    assert MAX_ATTACHMENT_BYTES - 30 < len(read.text) <= MAX_ATTACHMENT_BYTES
    assert read.unread == (
        f"presentedForm 1: cut at {MAX_ATTACHMENT_BYTES:,} bytes",
        f"report text: read up to {MAX_CHARS:,} of {len(read.text):,} characters",
    )


def test_base64_wrapped_in_lines_is_read() -> None:
    data = _b64("Left hip effusion. " * 20)
    wrapped = "\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    read = report_text(_report(presentedForm=[{"contentType": "text/plain", "data": wrapped}]))
    assert read.text.startswith("Left hip effusion.") and read.unread == ()


def test_parts_that_are_not_read_say_why() -> None:
    report = _report(
        presentedForm=[
            {"contentType": "application/pdf", "data": _b64(b"%PDF-1.7 fracture")},
            {"contentType": "text/plain", "data": _b64(bytes(range(256)) * 4)},
            {"contentType": "text/plain", "data": "this is not base64!"},
            {"contentType": "text/plain", "url": "https://pacs.example.org/report/1"},
            {"contentType": "text/plain", "data": _b64("PK\x03\x04 zipped \x00\x00 bytes")},
            "not an attachment",
        ]
    )
    assert report_text(report) == ReportText(
        "",
        (
            "presentedForm 1: application/pdf not read",
            "presentedForm 2: not text (binary)",
            "presentedForm 3: not valid base64",
            "presentedForm 4: not fetched (url only)",
            "presentedForm 5: not text (binary)",
            "presentedForm 6: not an attachment",
        ),
    )


def test_a_declared_charset_is_honoured_and_an_unknown_one_is_read_as_utf_8() -> None:
    latin = {"contentType": "text/plain; charset=ISO-8859-1", "data": _b64("Ödème osseux.".encode("latin-1"))}
    unknown = {"contentType": "text/plain; charset=x-unknown", "data": _b64("Hip effusion.")}
    not_text_codec = {"contentType": "text/plain; charset=base64", "data": _b64("Knee effusion.")}
    read = report_text(_report(presentedForm=[latin, unknown, not_text_codec]))
    assert read.text.splitlines() == ["Ödème osseux.", "Hip effusion.", "Knee effusion."]


def test_a_document_reference_is_read_from_its_attachments() -> None:
    note = {
        "resourceType": "DocumentReference",
        "type": {"coding": [{"system": "http://loinc.org", "code": "68604-8"}]},
        "content": [
            {"attachment": {"contentType": "text/plain", "data": _b64("Left sacral ala insufficiency fracture.")}},
            {"attachment": {"contentType": "image/jpeg", "data": _b64(b"\xff\xd8\xff")}},
            {"attachment": {"url": "Binary/123"}},
            {"format": "no attachment here"},
        ],
    }
    read = report_text(note)
    assert read.text == "Left sacral ala insufficiency fracture."
    assert read.unread == (
        "content 2: image/jpeg not read",
        "content 3: not fetched (url only)",
        "content 4: not an attachment",
    )


def test_radiology_notes_are_told_by_loinc_code_or_by_name() -> None:
    def note(**fields: Any) -> dict[str, Any]:
        return {"resourceType": "DocumentReference", **fields}

    loinc = "http://loinc.org"
    assert is_radiology_note(note(type={"coding": [{"system": loinc, "code": "18748-4"}]}))
    assert is_radiology_note(note(type={"coding": [{"code": "18726-0"}]}))
    assert is_radiology_note(note(category=[{"coding": [{"system": loinc, "code": "68604-8"}]}]))
    assert is_radiology_note(note(type={"text": "MRI hip - Radiology report"}))
    assert is_radiology_note(note(category=[{"coding": [{"display": "Diagnostic IMAGING"}]}]))
    assert not is_radiology_note(note(type={"coding": [{"system": loinc, "code": "11506-3"}]}))
    assert not is_radiology_note(note(type={"coding": [{"system": "http://example.org", "code": "18748-4"}]}))
    assert not is_radiology_note(note(type="radiology"))
    assert not is_radiology_note(note())


def test_wrong_json_types_are_skipped_not_raised() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "conclusion": ["not", "a", "string"],
        "conclusionCode": [None, 3, {"text": 4, "coding": "nope"}, {"coding": [None, {"display": "Hip effusion"}]}],
        "presentedForm": {"contentType": 7, "data": 8},
    }
    read = report_text(report)
    assert read.text == "Hip effusion"
    assert read.unread == ("conclusion: not text", "presentedForm 1: data not text")
    assert report_text([1, 2]) == ReportText("", ("resource: not a JSON object",))  # type: ignore[arg-type]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_field = st.sampled_from(["conclusion", "conclusionCode", "presentedForm", "content", "type", "category"])
_attachment = st.fixed_dictionaries(
    {},
    optional={
        "contentType": st.sampled_from(["text/plain", "text/html", "text/plain; charset=latin-1", ""]) | _json,
        "data": st.binary(max_size=200).map(_b64) | st.text(max_size=60) | _json,
        "url": _json,
    },
)


@settings(max_examples=100, deadline=None)
@given(
    resource_type=st.sampled_from(["DiagnosticReport", "DocumentReference", None]),
    fields=st.dictionaries(_field, _json | st.lists(_attachment, max_size=3), max_size=4),
    attachments=st.lists(_attachment | _json, max_size=3),
)
def test_report_text_and_reading_never_raise(
    resource_type: str | None, fields: dict[str, Any], attachments: list[Any]
) -> None:
    resource = {"resourceType": resource_type, **fields}
    resource.setdefault("presentedForm", attachments)
    resource.setdefault("content", [{"attachment": a} for a in attachments])
    read = report_text(resource)
    assert isinstance(read.text, str) and all(isinstance(reason, str) for reason in read.unread)
    assert isinstance(is_radiology_note(resource), bool)
    read_report(read.text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_read_without_raising(text: str) -> None:
    assert all(isinstance(f.negated, bool) for f in read_report(text).findings)
    nlp = report_reading._pipeline()  # not only caught: the pipeline itself takes any text
    for piece in report_reading._pieces(report_reading._lines(text)):
        report_reading._findings(nlp(piece))
