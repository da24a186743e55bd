"""Where a radiology report's text is, and what of it could not be read.

A red flag may be stated only in the full report, so the text is gathered from DiagnosticReport.conclusion,
conclusionCode (text and display) and presentedForm, and from a DocumentReference's attachments. Attachments are
untrusted: a 10 MB report is read up to MAX_ATTACHMENT_BYTES (only that much base64 is decoded), binary, a PDF or a
URL is not read, and each part not read is said in `unread` so that the caller can count it and tell the clinician.
Nothing here raises on malformed input, and nothing is fetched.

    >>> report_text({"resourceType": "DiagnosticReport", "conclusion": "No fracture."}).text
    'No fracture.'
"""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final

from service.screening.report_reading import MAX_CHARS

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "RADIOLOGY_NOTE_CODES",
    "ReportText",
    "is_radiology_note",
    "report_text",
    "text_size",
    "unread_counts",
    "unread_reason",
    "unread_words",
]

MAX_ATTACHMENT_BYTES: Final = 64 * 1024
# LOINC document codes of a radiology report: Diagnostic imaging study, Radiology studies (set), Radiology
# Diagnostic study note.
RADIOLOGY_NOTE_CODES: Final = frozenset({"18748-4", "18726-0", "68604-8"})
_LOINC: Final = "http://loinc.org"
# Base64 carries 3 bytes in 4 characters: this many characters decode to just over MAX_ATTACHMENT_BYTES.
_MAX_BASE64_CHARS: Final = math.ceil(MAX_ATTACHMENT_BYTES / 3) * 4
# Above this share of control or undecodable characters, decoded bytes are not text.
_MAX_NOT_TEXT_SHARE: Final = 0.1
# A media type as RFC 6838 spells one (type/subtype, at most 127 characters each): anything else is not said back.
_MEDIA_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


@dataclass(frozen=True)
class ReportText:
    text: str  # everything readable, joined by "\n"
    unread: tuple[str, ...]  # why a part was not read, in plain words


def report_text(resource: Mapping[str, Any]) -> ReportText:
    """The readable text of a DiagnosticReport or a DocumentReference, the conclusion first."""
    if not isinstance(resource, Mapping):
        return ReportText("", ("resource: not a JSON object",))
    parts: list[str] = []
    unread: list[str] = []
    if resource.get("resourceType") != "DocumentReference":
        conclusion = resource.get("conclusion")
        if isinstance(conclusion, str):
            parts.append(conclusion)
        elif conclusion is not None:
            unread.append("conclusion: not text")
        for concept in _list(resource.get("conclusionCode")):
            parts.extend(_concept_words(concept))
    for label, attachment in _attachments(resource):
        _read_attachment(label, attachment, parts, unread)
    text = "\n".join(part.strip() for part in _unique(parts) if part.strip())
    if len(text) > MAX_CHARS:
        unread.append(f"report text: read up to {MAX_CHARS:,} of {len(text):,} characters")
    return ReportText(text, tuple(unread))


_REASONS: Final = (
    ("the record's reading budget", "budget"),
    ("the reading time bound", "time"),
    ("no finding recognised", "unrecognised"),
    ("cut at", "too-large"),
    ("read up to", "too-large"),
    ("not fetched", "url-only"),
    ("not valid base64", "invalid-base64"),
    ("not text (binary)", "binary"),
    ("not in English", "language"),
)


def unread_reason(line: str) -> str:
    """The /metrics label of an `unread` line, from a short fixed set: budget, time, unrecognised, too-large,
    url-only, invalid-base64, binary, language, content-type, malformed."""
    what = line.partition(": ")[2]
    for words, reason in _REASONS:
        if words in what:
            return reason
    return "content-type" if what.endswith(" not read") else "malformed"


def text_size(resource: Mapping[str, Any]) -> int:
    """About how much report text a resource carries (its conclusion and attachments, base64 undecoded), without
    reading it: enough to tell a short conclusion from a full report."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") not in (
        "DiagnosticReport",
        "DocumentReference",
    ):
        return 0
    conclusion = resource.get("conclusion")
    size = len(conclusion) if isinstance(conclusion, str) else 0
    for _, attachment in _attachments(resource):
        data = attachment.get("data") if isinstance(attachment, Mapping) else None
        size += len(data) if isinstance(data, str) else 0
    return size


def _attachments(resource: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, attachment) of each attachment of a report: a DocumentReference's content, a DiagnosticReport's
    presentedForm."""
    if resource.get("resourceType") == "DocumentReference":
        contents = _list(resource.get("content"))
        return [(f"content {n}", c.get("attachment") if isinstance(c, Mapping) else None) for n, c in enumerate(contents, 1)]  # fmt: skip
    return [(f"presentedForm {n}", attachment) for n, attachment in enumerate(_list(resource.get("presentedForm")), 1)]


# What a card says of a report with a part not read for each reason (engine._unread_said).
_REASON_WORDS: Final = {
    "too-large": "only partly read (too long)",
    "url-only": "not read (a link only)",
    "language": "not read (not in English)",
    "budget": "not read (too many reports in the record)",
    "time": "only partly read (too slow to read)",
    "unrecognised": "read, but nothing in it recognised",
    "content-type": "not read (not a text document)",
}


def unread_words(line: str) -> str:
    """An `unread` line in a clinician's words."""
    return _REASON_WORDS.get(unread_reason(line), "not readable")


def unread_counts(unread: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Reason -> reports with a part not read for it: each report counts once per reason, however many parts."""
    reasons = {(reference, unread_reason(line)) for reference, line in unread}
    counts: dict[str, int] = {}
    for _, reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def is_radiology_note(resource: Mapping[str, Any]) -> bool:
    """Whether a DocumentReference's type or category says it is a radiology or imaging report."""
    if not isinstance(resource, Mapping):
        return False
    concepts = [*_list(resource.get("type")), *_list(resource.get("category"))]
    for concept in concepts:
        if not isinstance(concept, Mapping):
            continue
        for coding in _list(concept.get("coding")):
            if not isinstance(coding, Mapping):
                continue
            system = coding.get("system")
            if coding.get("code") in RADIOLOGY_NOTE_CODES and system in (None, _LOINC):
                return True
        if any(_names_imaging(words) for words in _concept_words(concept)):
            return True
    return False


def _names_imaging(words: str) -> bool:
    lowered = words.lower()
    return "radiology" in lowered or "imaging" in lowered


def _list(value: Any) -> list[Any]:
    """A FHIR repeating element as a list; a lone object (a common producer slip) as a list of one."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value]
    return []


def _concept_words(concept: Any) -> list[str]:
    if not isinstance(concept, Mapping):
        return []
    words = [concept.get("text")]
    words.extend(coding.get("display") for coding in _list(concept.get("coding")) if isinstance(coding, Mapping))
    return [w for w in words if isinstance(w, str)]


def _unique(parts: list[str]) -> list[str]:
    return list(dict.fromkeys(parts))


def _read_attachment(label: str, attachment: Any, parts: list[str], unread: list[str]) -> None:
    if not isinstance(attachment, Mapping):
        unread.append(f"{label}: not an attachment")
        return
    content_type = attachment.get("contentType")
    media_type, charset = _media_type(content_type if isinstance(content_type, str) else "")
    # An attachment that does not say what it is is read as plain text if it decodes as text.
    if media_type not in ("", "text/plain", "text/html", "application/xhtml+xml"):
        unread.append(f"{label}: {media_type} not read")
        return
    data = attachment.get("data")
    if not isinstance(data, str):
        if isinstance(attachment.get("url"), str):
            unread.append(f"{label}: not fetched (url only)")
        elif data is not None:
            unread.append(f"{label}: data not text")
        return
    decoded, cut = _decode_base64(data)
    if decoded is None:
        unread.append(f"{label}: not valid base64")
        return
    try:
        text = decoded.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):  # not a text encoding ("charset=base64"), or one that raises
        text = decoded.decode("utf-8", errors="replace")  # whatever `errors` says ("charset=idna")
    if _not_text(text):
        unread.append(f"{label}: not text (binary)")
        return
    if media_type in ("text/html", "application/xhtml+xml"):
        text = _html_text(text)
    if cut:
        unread.append(f"{label}: cut at {MAX_ATTACHMENT_BYTES:,} bytes")
    parts.append(text)


def _media_type(content_type: str) -> tuple[str, str]:
    """('text/plain', 'utf-8') from 'text/plain; charset=UTF-8'; an unknown charset is read as UTF-8."""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type and not _MEDIA_TYPE.fullmatch(
        media_type
    ):  # said in the evidence trail: a media type, never free text
        media_type = "an unrecognised content type"
    charset = "utf-8"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                charset = codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                pass
    return media_type, charset


def _decode_base64(data: str) -> tuple[bytes | None, bool]:
    """The first MAX_ATTACHMENT_BYTES of base64 `data`, and whether there was more; only that much is decoded."""
    window = data[: 2 * _MAX_BASE64_CHARS]  # room for line breaks (MIME base64 wraps at 76 characters)
    compact = "".join(window.split())
    head = compact[:_MAX_BASE64_CHARS]
    cut = len(compact) > _MAX_BASE64_CHARS or len(data) > len(window)
    try:
        decoded = base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        return None, False
    if len(decoded) > MAX_ATTACHMENT_BYTES:
        decoded, cut = decoded[:MAX_ATTACHMENT_BYTES], True
    return decoded, cut


def _not_text(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isprintable():
        return False
    odd = sum(1 for c in text if c == "\ufffd" or (not c.isprintable() and c not in "\n\r\t\f\v"))
    return odd > _MAX_NOT_TEXT_SHARE * len(text)


_BLOCKS: Final = frozenset({"p", "br", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "table"})


class _TextOfHtml(HTMLParser):
    """The words of an HTML report, a line per block so that sentences stay apart; no script or style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; whatever it still rejects, keep the words read so far
        pass
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    return "\n".join(line for line in lines if line)
