"""Reference (c) of the CDS benchmark: HealthChain 0.16.1's CDS Hooks service, as its README builds one, answering
every patient-view with the same card (it screens nothing and verifies no JWT). Runs in .venv-healthchain:
`.venv-healthchain/bin/python -m uvicorn bench.healthchain_app:app`; its services are under /cds/cds-services/."""

from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.models import CDSRequest, CDSResponse

app = HealthChainAPI()
cds = CDSHooksService()


@cds.hook("patient-view", id="toh-patient-view")
def fixed_card(request: CDSRequest) -> CDSResponse:
    return CDSResponse(
        cards=[
            {
                "summary": "Hip pain in pregnancy or postpartum: consider transient osteoporosis of the hip.",
                "indicator": "warning",
                "source": {"label": "HealthChain fixed card"},
            }
        ]
    )


app.register_service(cds)
