"""Findings in radiology report text, read as assertions rather than word matches.

A finding has a polarity, a certainty, a site and a side: "No fracture, effusion or marrow oedema" negates all
three; "Fracture cannot be excluded" is uncertain; oedema "about the left pubic ramus fracture" is at the pubic
ramus, not the hip. The vocabulary is medspaCy TargetRules, negation and hedging are medspaCy ConText (its default
rules plus the radiology phrasings below), on a blank spaCy pipeline: no model download.

Sentences are spaCy's rule sentencizer (full stop, line end) rather than PyRuSH, by measurement: both read the
phrase bank right once lines are joined where they go on in lower case, and PyRuSH costs 1.3 ms more on a one-line
report and 75 ms more on a 1,500-character MRI report (4 ms in all with the sentencizer).

    >>> reading = read_report("No fracture. L femoral head BME.")
    >>> [(f.kind, f.asserted, f.site, f.side) for f in reading.findings]
    [('fracture', False, None, None), ('bone_marrow_oedema', True, 'femoral_head', 'left')]
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc, Span

__all__ = ["MAX_CHARS", "READ_SECONDS", "Finding", "Kind", "Reading", "Side", "Site", "read_report", "warm"]

Kind = Literal[
    "bone_marrow_oedema",
    "effusion",
    "fracture",
    "subchondral_fracture",
    "insufficiency_fracture",
    "stress_reaction",
    "avascular_necrosis",
    "osteopenia",
    "transient_osteoporosis",
    "resolution",
    "persisting",
]
Site = Literal[
    "femoral_head",
    "femoral_neck",
    "proximal_femur",
    "hip",
    "sacrum",
    "pubic_ramus",
    "acetabulum",
    "knee",
    "spine",
    "other",
]
Side = Literal["left", "right", "bilateral"]

# A report's findings are in its first pages; past this the text is not read (the reading cost grows with length).
MAX_CHARS: Final = 20_000
_CACHE_SIZE: Final = 4096
# Most a report may take to read (a 20,000-character report of real sentences takes about 0.15 s here); the rest is
# said unread. A compute bound, the one clock the engine reads: only pathological text ever reaches it.
READ_SECONDS: Final = 0.5
_FOREIGN_LETTERS: Final = 6
_FOREIGN_WORDS: Final = 6


@dataclass(frozen=True)
class Finding:
    kind: Kind
    negated: bool
    uncertain: bool  # hedged: possible, cannot be excluded, ?, suspected, equivocal, may represent
    site: Site | None
    side: Side | None
    # Hypothetical (risk of, to prevent), historical (history of) or about family: no finding of this patient now,
    # neither certain nor hedged ("increased fracture risk" is no fracture to review).
    hypothetical: bool = False

    @property
    def asserted(self) -> bool:
        return not self.negated and not self.uncertain and not self.hypothetical


@dataclass(frozen=True)
class Reading:
    findings: tuple[Finding, ...]
    # A report in another language (see _foreign), which the caller must say was not read, not take for a study.
    not_english: bool = False
    # Whether a finding (asserted or negated) or a site of the vocabulary was found at all: a report of which
    # nothing was recognised is no normal study, and the caller says so.
    recognised: bool = True
    read_chars: int | None = None  # where reading stopped at READ_SECONDS, when it did

    def asserted(self, kind: Kind) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind and f.asserted)

    def uncertain(self, kind: Kind) -> tuple[Finding, ...]:
        return tuple(
            f for f in self.findings if f.kind == kind and f.uncertain and not f.negated and not f.hypothetical
        )


# --- Vocabulary: token patterns (LOWER) per kind. Labels are the kinds upper-cased. -------------------------------

_Pattern = list[dict[str, Any]]


def _words(*alternatives: str) -> dict[str, Any]:
    return {"LOWER": {"IN": list(alternatives)}}


def _optional(*alternatives: str) -> dict[str, Any]:
    return {"LOWER": {"IN": list(alternatives)}, "OP": "?"}


_OEDEMA = ("oedema", "edema", "oedematous", "edematous")
_FRACTURE = ("fracture", "fractures", "fx")

_TARGETS: Final[dict[str, tuple[_Pattern, ...]]] = {
    "BONE_MARROW_OEDEMA": (
        [_optional("bone"), _words("marrow"), _words(*_OEDEMA), _optional("pattern", "signal", "change", "changes")],
        [_words(*_OEDEMA), _optional("-"), _words("like"), _optional("marrow"), _optional("signal", "change")],
        [
            _words("marrow"),
            _words("signal"),
            _optional("abnormality", "abnormalities", "change", "changes", "alteration"),
        ],
        [_words("bme", "bmo", "bmes")],
        # Bare "oedema": at a bone it is marrow oedema ("oedema about the pubic ramus fracture").
        [_words(*_OEDEMA)],
    ),
    # Not a kind: soft-tissue oedema, so that the bare "oedema" inside it is not marrow oedema.
    "SOFT_TISSUE_OEDEMA": (
        [_words("soft"), _optional("-"), _words("tissue", "tissues"), _words(*_OEDEMA)],
        [_words("muscle", "muscular", "subcutaneous", "periarticular", "intramuscular"), _words(*_OEDEMA)],
    ),
    "EFFUSION": ([_optional("joint"), _words("effusion", "effusions")],),
    "FRACTURE": (
        [_words(*_FRACTURE), _optional("line", "lines")],
        [_words("fractured")],
        [{"ORTH": "#"}],  # "NOF #" (a token pattern also keeps spaCy's Matcher from warning that it has none)
    ),
    "SUBCHONDRAL_FRACTURE": (
        [
            _words("subchondral"),
            _optional("insufficiency", "stress", "fatigue"),
            _words(*_FRACTURE),
            _optional("line", "lines"),
        ],
    ),
    # A stress fracture is a fatigue or an insufficiency fracture; in pregnancy and lactation it is the latter.
    "INSUFFICIENCY_FRACTURE": (
        [_words("insufficiency", "stress", "fatigue", "fragility"), _words(*_FRACTURE), _optional("line", "lines")],
    ),
    "STRESS_REACTION": (
        [_words("stress"), _words("reaction", "reactions", "response", "injury")],
        [_words("bone"), _words("stress"), _words("injury", "injuries")],
    ),
    "AVASCULAR_NECROSIS": (
        [_words("avn", "osteonecrosis", "osteonecrotic")],
        [_words("avascular", "aseptic", "ischaemic", "ischemic"), _words("necrosis")],
        [_words("double"), _optional("-"), _words("line"), _optional("sign")],
        [_words("subchondral"), _words("collapse")],
        [_words("crescent"), _words("sign")],
    ),
    "OSTEOPENIA": (
        [_words("osteopenia", "osteopenic", "osteoporosis", "osteoporotic")],
        [_words("demineralisation", "demineralization", "demineralised", "demineralized")],
        [_words("decreased", "reduced", "low"), _optional("bone"), _optional("mineral"), _words("density")],
    ),
    "TRANSIENT_OSTEOPOROSIS": (
        [_words("transient"), _optional("regional"), _words("osteoporosis")],
        [_words("transient"), _words("osteoporosis"), _words("of"), _optional("the"), _words("hip", "hips")],
        [_words("toh")],
        [_words("transient"), _optional("bone"), _words("marrow"), _words(*_OEDEMA), _optional("syndrome")],
        [_optional("bone"), _words("marrow"), _words(*_OEDEMA), _words("syndrome")],
    ),
    "RESOLUTION": ([_words("resolution", "resolved", "resolving")],),
    # What has not resolved: "persists on the left", "residual oedema", "partial resolution" (2.8: only an MRI that
    # reports resolution closes the episode).
    "PERSISTING": (
        [_words("persists", "persist", "persisting", "persistent", "residual", "ongoing", "unchanged", "improving")],
        [_words("partial", "partially", "incomplete", "incompletely"), _words("resolution", "resolved", "resolving")],
        [
            _words("less", "reduced", "decreased", "decreasing"),
            _optional("extensive", "marked", "in"),
            _optional("extent"),
            _words(*_OEDEMA),
        ],
    ),
}

# --- Anatomy and side: token patterns per site, matched into their own span groups. ------------------------------

_LEVELS = [f"L{n}" for n in range(1, 6)] + [f"T{n}" for n in range(1, 13)]
_SITES: Final[dict[str, tuple[_Pattern, ...]]] = {
    "femoral_head": (
        [_words("femoral"), _words("head", "heads")],
        [_words("head"), _words("of"), _optional("the"), _optional("left", "right"), _words("femur")],
        [_words("capital"), _words("femoral"), _words("epiphysis")],
    ),
    "femoral_neck": (
        [_words("femoral"), _words("neck", "necks")],
        [_words("neck"), _words("of"), _optional("the"), _optional("left", "right"), _words("femur")],
        [_words("nof", "subcapital", "transcervical", "basicervical", "transcervical")],
    ),
    "proximal_femur": (
        [_words("proximal"), _words("femur", "femora", "femoral")],
        [_words("intertrochanteric", "pertrochanteric", "subtrochanteric", "trochanteric")],
        [_words("greater", "lesser"), _words("trochanter")],
    ),
    "hip": ([_words("hip", "hips"), _optional("joint", "joints")], [_words("coxofemoral")]),
    "sacrum": (
        [_words("sacrum", "sacral", "sacroiliac", "s1", "s2", "s3")],
        [_optional("sacral"), _words("ala", "alae")],
    ),
    "pubic_ramus": (
        [_optional("superior", "inferior"), _words("pubic"), _words("ramus", "rami")],
        [_words("ramus", "rami", "pubis", "pubic", "parasymphyseal")],
        [_words("symphysis"), _words("pubis")],
    ),
    "acetabulum": (
        [_optional("supra"), _optional("-"), _words("acetabulum", "acetabular", "acetabula", "supraacetabular")],
    ),
    "knee": (
        [_words("knee", "knees", "patella", "patellar")],
        [_words("distal"), _words("femur", "femoral")],
        [_words("tibial"), _words("plateau", "plateaus")],
        [_optional("medial", "lateral"), _optional("femoral"), _words("condyle", "condyles")],
    ),
    "spine": (
        [_words("vertebra", "vertebrae", "vertebral", "lumbar", "thoracic", "spine", "spinal")],
        [{"TEXT": {"IN": _LEVELS}}],
    ),
    "other": (
        [
            _words(
                "iliac",
                "ilium",
                "ischium",
                "ischial",
                "coccyx",
                "tibia",
                "fibula",
                "calcaneus",
                "calcaneal",
                "metatarsal",
                "rib",
                "ribs",
                "humerus",
                "radius",
                "wrist",
                "ankle",
            )
        ],
        [_words("femoral"), _words("shaft", "diaphysis")],
    ),
}
_SIDES: Final[dict[str, tuple[_Pattern, ...]]] = {
    "left": ([_words("left", "lt")], [{"ORTH": "L"}]),
    "right": ([_words("right", "rt")], [{"ORTH": "R"}]),
    "bilateral": (
        [_words("bilateral", "bilaterally")],
        [_words("both"), _words("hips", "femoral", "femora", "sides", "sacral", "pubic")],
    ),
}

# --- Negation and hedging the default ConText rules miss in radiology reports. ---------------------------------


_SEEN = ("seen", "identified", "demonstrated", "detected", "evident", "visible", "present", "appreciated", "shown")
_BE = ("is", "are", "was", "were", "been", "be")


def _context_rules() -> list[Any]:
    from medspacy.context import ConTextRule

    negated, possible, hypothetical = "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL"
    return [
        # After the finding: "Fracture: none", "AVN: absent", "fracture not identified", "oedema is not seen".
        ConTextRule("none", negated, direction="BACKWARD", pattern=[_words("none")], max_scope=4),
        ConTextRule("absent", negated, direction="BACKWARD", pattern=[_optional(*_BE), _words("absent")]),
        ConTextRule(
            "not seen", negated, direction="BACKWARD", pattern=[_optional(*_BE), _words("not", "n't"), _words(*_SEEN)]
        ),
        ConTextRule(
            "no longer seen", negated, direction="BACKWARD", pattern=[_words("no"), _words("longer"), _words(*_SEEN)]
        ),
        ConTextRule("excluded", negated, direction="BACKWARD", pattern=[_optional(*_BE), _words("excluded")]),
        ConTextRule("has resolved", negated, direction="BACKWARD", pattern=[_words("has", "have"), _words("resolved")]),
        ConTextRule("resolution of", negated, direction="FORWARD", pattern=[_words("resolution"), _words("of")]),
        ConTextRule(
            "is normal",
            negated,
            direction="BACKWARD",
            pattern=[_words(*_BE), _words("normal", "unremarkable", "preserved")],
            allowed_types={"BONE_MARROW_OEDEMA"},
        ),
        ConTextRule(
            "normal marrow",
            negated,
            direction="FORWARD",
            pattern=[_words("normal", "unremarkable", "preserved")],
            max_scope=3,
            allowed_types={"BONE_MARROW_OEDEMA"},
        ),
        # Hedged, after the finding: "fracture cannot be excluded", "AVN not entirely excluded", "TOH suspected".
        ConTextRule(
            "cannot be excluded",
            possible,
            direction="BACKWARD",
            pattern=[
                _optional("can", "could", "cannot", "may", *_BE),
                _words("not", "n't"),
                _optional("be"),
                _optional("entirely", "completely", "fully", "confidently", "definitely", "totally"),
                _words("excluded", "ruled"),
                _optional("out"),
            ],
        ),
        ConTextRule(
            "cannot exclude",
            possible,
            direction="FORWARD",
            pattern=[_words("can", "could", "cannot"), _words("not", "n't"), _words("exclude", "rule")],
        ),
        ConTextRule("?", possible, direction="BIDIRECTIONAL", pattern=[{"ORTH": "?"}], max_scope=4),
        ConTextRule(
            "equivocal",
            possible,
            direction="BIDIRECTIONAL",
            pattern=[_words("equivocal", "indeterminate", "uncertain", "unclear", "questionable", "doubtful")],
            max_scope=3,
        ),
        ConTextRule("suspected", possible, direction="BIDIRECTIONAL", pattern=[_words("suspected")], max_scope=3),
        ConTextRule(
            "versus", possible, direction="BIDIRECTIONAL", pattern=[_words("versus", "vs", "vs.")], max_scope=4
        ),
        # Hedged, before the finding.
        ConTextRule(
            "may represent",
            possible,
            direction="FORWARD",
            pattern=[_words("may", "might", "could", "can"), _words("represent", "reflect", "indicate", "be")],
        ),
        ConTextRule(
            "possibly",
            possible,
            direction="FORWARD",
            pattern=[
                _words("possibly", "probably", "probable", "likely", "presumed", "presumably", "query", "queried")
            ],
        ),
        ConTextRule(
            "suspicion of",
            possible,
            direction="FORWARD",
            pattern=[_words("suspicion", "suspicious", "concern", "concerning", "possibility"), _words("of", "for")],
        ),
        ConTextRule(
            "suggest",
            possible,
            direction="FORWARD",
            pattern=[_words("suggest", "suggests", "suggesting", "favour", "favours", "favor", "favors", "favoured")],
        ),
        ConTextRule(
            "differential",
            possible,
            direction="FORWARD",
            pattern=[_words("differential"), _optional("diagnosis", "diagnoses"), _optional("includes", "include")],
        ),
        ConTextRule("early", possible, direction="FORWARD", pattern=[_words("impending", "incipient")], max_scope=3),
        # Risk and prevention: "increased fracture risk", "to prevent fracture" is no fracture.
        ConTextRule(
            "risk of", hypothetical, direction="FORWARD", pattern=[_words("risk", "risks"), _words("of", "for")]
        ),
        ConTextRule(
            "fracture risk", hypothetical, direction="BACKWARD", pattern=[_words("risk", "risks")], max_scope=2
        ),
        # A comparison with an earlier study is history, not today's finding: "Comparison: prior MRI showed oedema".
        ConTextRule(
            "prior study",
            "HISTORICAL",
            direction="FORWARD",
            pattern=[_words("prior", "previous", "previously", "earlier", "comparison", "compared", "formerly")],
        ),
        ConTextRule(
            "prevent",
            hypothetical,
            direction="FORWARD",
            pattern=[_words("prevent", "prevents", "preventing", "prevention", "avoid", "predispose", "predisposes")],
        ),
        # A clause boundary ends every scope: "No fracture; small effusion", "no fracture, there is oedema".
        ConTextRule(";", negated, direction="TERMINATE", pattern=[{"ORTH": ";"}]),
        ConTextRule("there is", negated, direction="TERMINATE", pattern=[_words("there"), _words("is", "are")]),
        ConTextRule(", with", negated, direction="TERMINATE", pattern=[{"ORTH": ","}, _words("with")]),
    ]


def _phrases(pattern: _Pattern) -> list[str] | None:
    """The phrases a pattern of lower-case word alternatives matches; None for a pattern on other attributes.

    Phrases go to spaCy's PhraseMatcher, which costs a hash look-up per token; the same alternatives as Matcher
    `IN` predicates cost a set test per predicate per token (7 ms a report for these rules, measured)."""
    phrases = [""]
    for spec in pattern:
        lower = spec.get("LOWER")
        words = [lower] if isinstance(lower, str) else lower.get("IN") if isinstance(lower, dict) else None
        if words is None or set(spec) - {"LOWER", "OP"} or spec.get("OP", "?") != "?":
            return None
        choices = [*words, ""] if spec.get("OP") == "?" else list(words)
        phrases = [f"{phrase} {word}".strip() for phrase in phrases for word in choices]
    return [phrase for phrase in dict.fromkeys(phrases) if phrase]


def _rules(category_patterns: dict[str, tuple[_Pattern, ...]]) -> list[Any]:
    from medspacy.target_matcher import TargetRule

    rules = []
    for category, patterns in category_patterns.items():
        for n, pattern in enumerate(patterns):
            phrases = _phrases(pattern)
            if phrases is None:
                rules.append(TargetRule(f"{category} {n}", category, pattern=pattern))
            else:
                rules.extend(TargetRule(phrase, category) for phrase in phrases)
    return rules


def _as_phrases(rule: Any) -> list[Any]:
    """A ConTextRule on word alternatives as one ConTextRule per phrase (see `_phrases`)."""
    from medspacy.context import ConTextRule

    phrases = _phrases(rule.pattern) if isinstance(rule.pattern, list) else None
    if phrases is None:
        return [rule]
    options = {
        "direction": rule.direction,
        "allowed_types": rule.allowed_types,
        "excluded_types": rule.excluded_types,
        "max_scope": rule.max_scope,
        "max_targets": rule.max_targets,
        "terminated_by": rule.terminated_by,
        "on_modifies": rule.on_modifies,
        "metadata": rule.metadata,
    }
    return [ConTextRule(phrase, rule.category, **options) for phrase in phrases]


# Reports arrive hard-wrapped or with indented blank lines; a line is a sentence unless it goes on in lower case.
def _lines(text: str) -> str:
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if lines and line[0].islower():
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return "\n".join(lines)


@cache
def _pipeline() -> Language:
    # medspaCy pulls in modules that warn at import (pysbd's invalid escapes, under `-W error` a SyntaxError):
    # their warnings are theirs, not ours, and the load happens once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import medspacy

        nlp: Language = medspacy.load(medspacy_enable=["medspacy_tokenizer"], load_rules=False)
        # A sentence ends at a full stop or a line end; "?" is a hedge ("? early AVN"), not an end.
        nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "\n"]})
        _add_components(nlp)
    return nlp


def _add_components(nlp: Language) -> None:
    from medspacy.context import ConTextRule

    groups = {"findings": _TARGETS, "anatomy": _SITES, "side": _SIDES}
    for group, patterns in groups.items():
        matcher: Any = nlp.add_pipe(
            "medspacy_target_matcher",
            name=f"{group}_matcher",
            config={"result_type": "group", "span_group_name": group},
        )
        matcher.add(_rules(patterns))
    context: Any = nlp.add_pipe(
        "medspacy_context", config={"rules": None, "input_span_type": "group", "span_group_name": "findings"}
    )
    # medspaCy's default rules and ours, each as phrases where it can be. Its ": no" looks back only ("Fever: no"),
    # which in a report's "Impression: no fracture." leaves the fracture asserted: here it looks both ways, a few
    # words each (a wider scope back would reach an earlier finding of the same line).
    defaults = [rule for rule in ConTextRule.from_json(context.DEFAULT_RULES_FILEPATH) if rule.literal != ": no"]
    colon_no = ConTextRule(": no", "NEGATED_EXISTENCE", direction="BIDIRECTIONAL", pattern=[{"ORTH": ":"}, _words("no")], max_scope=6)  # fmt: skip
    rules = [*defaults, colon_no, *_context_rules()]
    # A comma ends what a cue after it can reach back to: "oedema of the left femoral head, fracture: none" negates
    # the fracture, not the oedema (forward scopes run on: "No fracture, effusion or oedema" negates all three).
    for rule in rules:
        if rule.direction in ("BACKWARD", "BIDIRECTIONAL"):
            rule.terminated_by = {*rule.terminated_by, "CLAUSE_BREAK"}
    rules.append(ConTextRule(",", "CLAUSE_BREAK", direction="PSEUDO", pattern=[{"ORTH": ","}]))
    context.add([phrase_rule for rule in rules for phrase_rule in _as_phrases(rule)])


# ConText relates every modifier of a document to every other, sentence or not (quadratic in their number): a long
# report is read in pieces of whole lines up to this many characters, and a longer line (no radiology sentence, but
# "no no no ...") in pieces cut after a full stop or a space.
_MAX_PIECE_CHARS: Final = 200


def _pieces(text: str) -> list[str]:
    pieces: list[str] = []
    for line in text.split("\n"):
        while len(line) > _MAX_PIECE_CHARS:
            cut = line.rfind(". ", 0, _MAX_PIECE_CHARS) + 1 or line.rfind(" ", 0, _MAX_PIECE_CHARS) + 1
            cut = cut or _MAX_PIECE_CHARS
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        if pieces and len(pieces[-1]) + 1 + len(line) <= _MAX_PIECE_CHARS:
            pieces[-1] = f"{pieces[-1]}\n{line}"
        else:
            pieces.append(line)
    return [piece for piece in pieces if piece.strip()]


_KINDS: Final[frozenset[str]] = frozenset(get_args(Kind))
# Words that may stand between a finding and the site it names: "oedema of the left femoral head", "oedema about the
# pubic ramus fracture".
_LINKING: Final = frozenset(
    "of in at the within involving through throughout across along to near about around surrounding adjacent "
    "abutting medial lateral superior inferior anterior posterior subchondral both".split()
)
_NEAR: Final = 4


def _site_of(finding: Span, sites: list[Span]) -> Span | None:
    """The site a finding names: inside it, then after it ("of the sacrum"), then before it ("sacral"), then the
    nearest one in the sentence."""
    doc = finding.doc
    sentence = finding.sent
    in_sentence = [s for s in sites if s.start >= sentence.start and s.end <= sentence.end]
    for site in in_sentence:
        if site.start < finding.end and finding.start < site.end:
            return site
    after = [s for s in in_sentence if finding.end <= s.start <= finding.end + _NEAR]
    for site in after:
        between = doc[finding.end : site.start]
        if all(t.lower_ in _LINKING or t.lower_ in ("left", "right", "l", "r") for t in between):
            return site
    before = [s for s in in_sentence if finding.start - _NEAR <= s.end <= finding.start]
    for site in reversed(before):
        between = doc[site.end : finding.start]
        if not any(t.is_punct for t in between):
            return site
    if not in_sentence:
        return None
    return min(in_sentence, key=lambda s: max(s.start - finding.end, finding.start - s.end))


def _side_of(finding: Span, site: Span | None, sides: list[Span]) -> Side | None:
    """The side word just before the site (or inside the finding), else the nearest one in the sentence."""
    doc = finding.doc
    sentence = finding.sent
    in_sentence = [s for s in sides if s.start >= sentence.start and s.end <= sentence.end]
    anchors = [finding] if site is None else [site, finding]
    for anchor in anchors:
        for side in in_sentence:
            between = doc[side.end : anchor.start]
            touching = side.start < anchor.end and anchor.start < side.end
            if touching or (0 <= anchor.start - side.end <= 2 and all(t.lower_ in _LINKING for t in between)):
                return _side_label(side)
    if site is not None and site.label_ in ("femoral_head", "femoral_neck", "hip") and site[-1].lower_.endswith("s"):
        return "bilateral"  # "femoral heads", "hips"
    # A bare "L" or "R" is a side only when it stands against a site ("L femoral head").
    words = [s for s in in_sentence if s.text not in ("L", "R")]
    if not words:
        return None
    nearest = min(words, key=lambda s: max(s.start - finding.end, finding.start - s.end))
    return _side_label(nearest)


def _side_label(span: Span) -> Side | None:
    label = span.label_
    if label == "left":
        return "left"
    if label == "right":
        return "right"
    if label == "bilateral":
        return "bilateral"
    return None


_SITE_NAMES: Final[frozenset[str]] = frozenset(get_args(Site))
# A joint effusion named by a bone of the joint is an effusion of that joint.
_JOINT_OF: Final[dict[str, Site]] = {
    "femoral_head": "hip",
    "femoral_neck": "hip",
    "proximal_femur": "hip",
    "acetabulum": "hip",
}


def _as_site(span: Span | None, kind: str) -> Site | None:
    if span is None or span.label_ not in _SITE_NAMES:
        return "hip" if kind == "transient_osteoporosis" else None
    site = cast(Site, span.label_)
    return _JOINT_OF.get(site, site) if kind == "effusion" else site


def _longest_first(spans: Any) -> list[Span]:
    from spacy.util import filter_spans

    return sorted(filter_spans(list(spans)), key=lambda s: s.start)


def _findings(doc: Doc) -> tuple[Finding, ...]:
    sites = _longest_first(doc.spans["anatomy"])
    sides = _longest_first(doc.spans["side"])
    findings = []
    for span in _longest_first(doc.spans["findings"]):
        kind = span.label_.lower()
        if kind not in _KINDS:
            continue
        site_span = _site_of(span, sites)
        site = _as_site(site_span, kind)
        findings.append(
            Finding(
                kind=kind,  # type: ignore[arg-type]
                negated=bool(span._.is_negated),
                uncertain=bool(span._.is_uncertain),
                site=site,
                side=_side_of(span, site_span, sides),
                hypothetical=bool(span._.is_hypothetical or span._.is_historical or span._.is_family),
            )
        )
    return tuple(findings)


def _foreign(docs: list[Doc]) -> bool:
    """Mostly letters outside ASCII (Arabic, Chinese, Cyrillic...); more stop words of another language than of
    English ("Fractura aguda del cuello femoral, sin edema": a Spanish "sin" negates nothing here); or six words
    and more with neither an English stop word nor a site or side of the vocabulary. Stop words are spaCy's lists."""
    words = [token.text.lower() for doc in docs for token in doc if any(char.isalpha() for char in token.text)]
    letters = [char for word in words for char in word if char.isalpha()]
    if len(letters) < _FOREIGN_LETTERS:
        return False  # too short to tell
    if sum(1 for char in letters if not char.isascii()) > len(letters) / 5:
        return True
    english = sum(1 for doc in docs for token in doc if token.is_stop)
    foreign = sum(1 for word in words if word in _foreign_stop_words())
    if foreign >= 2 and foreign > english:
        return True
    vocabulary = any(doc.spans["anatomy"] or doc.spans["side"] or doc.spans["findings"] for doc in docs)
    return len(words) >= _FOREIGN_WORDS and not english and not vocabulary


@cache
def _foreign_stop_words() -> frozenset[str]:
    """Stop words of the languages a report here is most often written in, less the English ones. Each list is
    loaded from its own file: importing `spacy.lang.fr` would build the whole French tokenizer (about a second)."""
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    import spacy.lang
    from spacy.lang.en.stop_words import STOP_WORDS as ENGLISH

    words: set[str] = set()
    for language in ("de", "es", "fr", "it", "nl", "pt"):
        path = Path(spacy.lang.__file__).parent / language / "stop_words.py"
        spec = spec_from_file_location(f"_toh_stop_words_{language}", path)
        if spec is None or spec.loader is None:
            continue
        module = module_from_spec(spec)
        spec.loader.exec_module(module)
        words |= set(module.STOP_WORDS)
    return frozenset(words - ENGLISH)


def _visible(text: str) -> str:
    """Format and control characters (a zero-width space, NUL) as spaces: spaCy would read "oedema.\u200bAcute" as
    one sentence, and the negation of the first would reach the second."""
    return "".join(" " if unicodedata.category(char) in ("Cf", "Cc") and char not in "\n\t" else char for char in text)


def _read(nlp: Language, pieces: list[str]) -> tuple[list[Doc], int]:
    """The pieces read, each through the pipeline (ConText only where a finding was matched: it is the costly
    step), until READ_SECONDS are spent; and how many characters were read. Pathological text ("?;" repeated) costs
    up to 0.4 ms a character: the bound is time, not length."""
    deadline = time.perf_counter() + READ_SECONDS
    docs: list[Doc] = []
    read = 0
    for piece in pieces:
        if docs and time.perf_counter() > deadline:
            break
        doc = nlp.make_doc(piece)
        for name, component in nlp.pipeline:
            if name == "medspacy_context" and not doc.spans["findings"]:
                continue
            doc = component(doc)
        docs.append(doc)
        read += len(piece) + 1
    return docs, read


_lock = threading.Lock()
_readings: OrderedDict[bytes, Reading] = OrderedDict()


def read_report(text: str) -> Reading:
    """The findings in the first MAX_CHARS characters of `text`; never raises. Cached by the text's digest."""
    bounded = text[:MAX_CHARS] if isinstance(text, str) else ""
    encoded = bounded.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(encoded).digest()
    with _lock:
        cached = _readings.get(digest)
        if cached is not None:
            _readings.move_to_end(digest)
            return cached
        nlp = _pipeline()  # a pipeline that cannot load is a broken install: that raises, at warm() at the latest
        try:
            # spaCy takes no lone surrogates (which JSON "\ud800" can carry): they become U+FFFD.
            text = _visible(encoded.decode("utf-8", "replace"))
            docs, read = _read(nlp, _pieces(_lines(text)))
            findings = tuple(finding for doc in docs for finding in _findings(doc))
            reading = Reading(
                findings,
                not_english=_foreign(docs),
                recognised=any(doc.spans["findings"] or doc.spans["anatomy"] for doc in docs),
                read_chars=None if read >= len(text) else read,
            )
        except Exception:  # a text the pipeline cannot take is a text with no findings read, never a failed hook
            reading = Reading((), recognised=False)
        _readings[digest] = reading
        if len(_readings) > _CACHE_SIZE:
            _readings.popitem(last=False)
        return reading


def warm() -> None:
    """Load the pipeline now (process start), so that the first report read does not pay for it; then move what the
    process holds (the pipeline's hundred thousand objects among it) out of the cyclic collector's full passes,
    which would otherwise walk them all again at every one (`gc.freeze`)."""
    with _lock:
        _pipeline()
        _foreign_stop_words()
    gc.freeze()
