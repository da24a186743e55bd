"""The literature behind each rule and recommendation (clinical.md section 2). Links are DOIs or PubMed ids where
the source gave one, else a PubMed search for the citation: never an identifier we could not check."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote_plus

__all__ = ["CITATIONS", "Citation"]


@dataclass(frozen=True)
class Citation:
    key: str
    short: str  # a link label
    text: str
    url: str


def _search(terms: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/?term={quote_plus(terms)}"


CITATIONS: dict[str, Citation] = {
    c.key: c
    for c in (
        Citation(
            "soares2024",
            "Soares et al., Images in Rheumatology 2024",
            "Soares et al. Bilateral transient osteoporosis of the hip: a neglected cause of hip pain during "
            "pregnancy. Images in Rheumatology, 2024 (the index case).",
            _search("Bilateral transient osteoporosis of the hip neglected cause of hip pain during pregnancy"),
        ),
        Citation(
            "asadipooya2017",
            "Asadipooya et al., Osteoporos Int 2017",
            "Asadipooya K et al. Transient osteoporosis of the hip. Osteoporos Int 2017;28:1805-16.",
            "https://doi.org/10.1007/s00198-017-3952-0",
        ),
        Citation(
            "radiopaedia",
            "Radiopaedia: transient osteoporosis of the hip",
            "Radiopaedia: Transient osteoporosis of the hip.",
            "https://radiopaedia.org/articles/transient-osteoporosis-of-the-hip",
        ),
        Citation(
            "acog723",
            "ACOG Committee Opinion 723 (2017)",
            "ACOG Committee Opinion 723 (2017): diagnostic imaging during pregnancy and lactation.",
            "https://pubmed.ncbi.nlm.nih.gov/28937575/",
        ),
        Citation(
            "iscd2005",
            "ISCD Official Positions 2005",
            "ISCD 2005 Official Positions: use Z-scores in premenopausal women.",
            "https://pubmed.ncbi.nlm.nih.gov/16731428/",
        ),
        Citation(
            "archosteoporos2017",
            "Arch Osteoporos 2017: fracture in pregnancy TOH",
            "Fracture in pregnancy-associated TOH, case-control study (12.1% hip fracture). Arch Osteoporos 2017.",
            "https://doi.org/10.1007/s11657-017-0310-y",
        ),
        Citation(
            "wright2021",
            "Wright et al., BMJ Case Rep 2021",
            "Wright EV et al. Bilateral femoral neck fractures at 34 weeks. BMJ Case Rep 2021;14:e238659.",
            "https://pubmed.ncbi.nlm.nih.gov/33649039/",
        ),
        Citation(
            "aldourobi2021",
            "Al-Dourobi et al., BMJ Case Rep 2021",
            "Al-Dourobi K et al. Postpartum subcapital femoral neck fracture. BMJ Case Rep 2021.",
            "https://doi.org/10.1136/bcr-2020-238477",
        ),
        Citation(
            "anzjog1997",
            "Aust N Z J Obstet Gynaecol 1997",
            "Transient osteoporosis of pregnancy: average course 6 months. Aust N Z J Obstet Gynaecol 1997;37:261-6.",
            "https://pubmed.ncbi.nlm.nih.gov/9325501/",
        ),
        Citation(
            "galanis2023",
            "Galanis et al., Medicine 2023",
            "Galanis A et al. Management of transient osteoporosis of the hip. Medicine 2023;102:e35475.",
            _search("Galanis transient osteoporosis hip Medicine 2023 e35475"),
        ),
        Citation(
            "vassalou2019",
            "Vassalou et al., Semin Musculoskelet Radiol 2019",
            "Vassalou EE et al. MRI of bone marrow oedema of the hip. Semin Musculoskelet Radiol 2019;23:276-88.",
            _search("Vassalou Semin Musculoskelet Radiol 2019 23 276"),
        ),
        Citation(
            "radiolmed1995",
            "Radiol Med 1995: differential diagnosis",
            "Transient osteoporosis of the hip: differential diagnosis. Radiol Med 1995;90:187-93.",
            _search("transient osteoporosis hip Radiol Med 1995 90 187"),
        ),
        Citation(
            "kovacs2014",
            "Kovacs, Curr Opin Endocrinol Diabetes Obes 2014",
            "Kovacs CS. Osteoporosis presenting in pregnancy, puerperium and lactation. Curr Opin Endocrinol "
            "Diabetes Obes 2014;21:468-75.",
            _search("Kovacs Curr Opin Endocrinol Diabetes Obes 2014 21 468"),
        ),
        Citation(
            "kovacs2025",
            "Kovacs, J Endocr Soc 2025",
            "Kovacs CS. Pregnancy- and lactation-associated osteoporosis, mini-review. J Endocr Soc 2025.",
            _search("Kovacs pregnancy lactation osteoporosis J Endocr Soc 2025"),
        ),
        Citation(
            "prolia",
            "Prolia (denosumab) prescribing information",
            "Prolia (denosumab) prescribing information: contraindicated in pregnancy.",
            _search("denosumab pregnancy contraindication"),
        ),
        Citation(
            "thanasa2024",
            "Thanasa et al., Cureus 2024",
            "Thanasa E et al. Bilateral transient osteoporosis of the hip in pregnancy. Cureus 2024.",
            "https://doi.org/10.7759/cureus.63509",
        ),
        Citation(
            "carsote2023",
            "Carsote et al., Diagnostics 2023",
            "Carsote M et al. Pregnancy- and lactation-associated osteoporosis. Diagnostics 2023;13:1615.",
            _search("Carsote Diagnostics 2023 13 1615"),
        ),
    )
}
