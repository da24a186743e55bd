"""The literature behind each rule and recommendation (clinical.md sections 2.1 and 2.7).

Every article link is a DOI or a PubMed id (clinical.md 2.7, "Citations resolve"): from the clinical brief, or
confirmed with the search tool (Kovacs 2014, Kovacs 2025, Kovacs & Ralston 2015, Carsote 2023, ANZJOG 1997, Thanasa
2024, Galanis 2023, Vassalou 2019). A guideline or a safety communication has neither (RCOG Green-top 37a, FDA 2020,
both confirmed on their publisher's page with the search tool): it keeps its text citation, naming the publisher. A source
whose identifier could not be confirmed keeps its text citation and no link (`url` None): `UNVERIFIED` lists them,
and so does the README.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CITATIONS", "UNVERIFIED", "Citation"]


@dataclass(frozen=True)
class Citation:
    key: str
    short: str  # a link label: first author and year
    text: str  # authors, title, journal, year
    url: str | None  # https://doi.org/... or https://pubmed.ncbi.nlm.nih.gov/<PMID>/, None when unverified


def _doi(doi: str) -> str:
    return f"https://doi.org/{doi}"


def _pmid(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


CITATIONS: dict[str, Citation] = {
    c.key: c
    for c in (
        Citation(
            "asadipooya2017",
            "Asadipooya et al. 2017",
            "Asadipooya K, Graves L, Greene LW. Transient osteoporosis of the hip: review of the literature. "
            "Osteoporos Int 2017;28:1805-16.",
            _doi("10.1007/s00198-017-3952-0"),
        ),
        Citation(
            "acog723",
            "ACOG 723",
            "ACOG Committee Opinion No. 723: Guidelines for diagnostic imaging during pregnancy and lactation. "
            "Obstet Gynecol 2017.",
            _pmid("28937575"),
        ),
        Citation(
            "iscd2005",
            "ISCD 2005",
            "Writing Group for the ISCD Position Development Conference. Official Positions of the International "
            "Society for Clinical Densitometry. J Clin Densitom 2005.",
            _pmid("16731428"),
        ),
        Citation(
            "archosteoporos2017",
            "Arch Osteoporos 2017",
            "Risk factors for fracture in pregnancy-associated transient osteoporosis of the hip (case-control "
            "study). Arch Osteoporos 2017.",
            _doi("10.1007/s11657-017-0310-y"),
        ),
        Citation(
            "wright2021",
            "Wright et al. 2021",
            "Wright EV et al. Bilateral femoral neck fractures in pregnancy. BMJ Case Rep 2021;14:e238659.",
            _pmid("33649039"),
        ),
        Citation(
            "aldourobi2021",
            "Al-Dourobi et al. 2021",
            "Al-Dourobi K et al. Postpartum subcapital femoral neck fracture. BMJ Case Rep 2021.",
            _doi("10.1136/bcr-2020-238477"),
        ),
        Citation(
            "anzjog1997",
            "ANZJOG 1997",
            "Transient osteoporosis of the hip in pregnancy. Aust N Z J Obstet Gynaecol 1997;37:261-6.",
            _doi("10.1111/j.1479-828x.1997.tb02405.x"),
        ),
        Citation(
            "kovacs2014",
            "Kovacs 2014",
            "Kovacs CS. Osteoporosis presenting in pregnancy, puerperium, and lactation. Curr Opin Endocrinol "
            "Diabetes Obes 2014;21:468-75.",
            _doi("10.1097/MED.0000000000000102"),
        ),
        Citation(
            "kovacs2025",
            "Kovacs 2025",
            "Kovacs CS. Pregnancy and lactation associated bone fragility. J Endocr Soc 2025;9:bvaf126.",
            _doi("10.1210/jendso/bvaf126"),
        ),
        Citation(
            "kovacs_ralston2015",
            "Kovacs & Ralston 2015",
            "Kovacs CS, Ralston SH. Presentation and management of osteoporosis presenting in association with "
            "pregnancy or lactation. Osteoporos Int 2015;26:2223-41.",
            _doi("10.1007/s00198-015-3149-3"),
        ),
        Citation(
            "carsote2023",
            "Carsote et al. 2023",
            "Carsote M et al. Bridging the gap: pregnancy- and lactation-associated osteoporosis. Diagnostics "
            "2023;13:1615.",
            _doi("10.3390/diagnostics13091615"),
        ),
        Citation(
            "thanasa2024",
            "Thanasa et al. 2024",
            "Thanasa E et al. A case of bilateral transient pregnancy-related osteoporosis of the hip diagnosed late "
            "during the lactation period. Cureus 2024.",
            _doi("10.7759/cureus.63509"),
        ),
        # Not confirmed with the search tool: text only, no link.
        Citation(
            "soares2024",
            "Soares et al. 2024",
            "Soares et al. Bilateral transient osteoporosis of the hip: a neglected cause of hip pain during "
            "pregnancy. Images in Rheumatology, 2024.",
            None,
        ),
        Citation(
            "galanis2023",
            "Galanis et al. 2023",
            "Galanis A et al. The correlation between transient osteoporosis of the hip and pregnancy: a review. "
            "Medicine 2023;102:e35475.",
            _doi("10.1097/MD.0000000000035475"),
        ),
        Citation(
            "vassalou2019",
            "Vassalou et al. 2019",
            "Vassalou EE, Spanakis K, Tsifountoudis IP, Karantanas AH. MR imaging of the hip: an update on bone marrow "
            "edema. Semin Musculoskelet Radiol 2019;23:276-88.",
            _doi("10.1055/s-0039-1677872"),
        ),
        Citation(
            "radiolmed1995",
            "Radiol Med 1995",
            "Transient osteoporosis of the hip: differential diagnosis. Radiol Med 1995;90:187-93.",
            None,
        ),
        Citation(
            "radiopaedia",
            "Radiopaedia",
            "Radiopaedia: Transient osteoporosis of the hip (reference article).",
            None,
        ),
        Citation(
            "prolia",
            "Prolia label",
            "Prolia (denosumab) prescribing information: contraindicated in pregnancy.",
            None,
        ),
        Citation(
            "rcog37a",
            "RCOG Green-top 37a",
            "Royal College of Obstetricians and Gynaecologists. Reducing the risk of venous thromboembolism during "
            "pregnancy and the puerperium. Green-top Guideline No. 37a, 2015 (rcog.org.uk).",
            None,
        ),
        Citation(
            "fda2020nsaid",
            "FDA 2020",
            "US Food and Drug Administration. Drug Safety Communication, 15 October 2020: FDA recommends avoiding use "
            "of NSAIDs in pregnancy at 20 weeks or later because they can result in low amniotic fluid (fda.gov).",
            None,
        ),
        Citation(
            "scioscia2023",
            "Scioscia & Zanchetta 2023",
            "Scioscia MF, Zanchetta MB. Recent insights into pregnancy and lactation-associated osteoporosis. 2023.",
            None,
        ),
    )
}
UNVERIFIED = tuple(key for key, citation in CITATIONS.items() if citation.url is None)
