"""Run with .venv-healthchain's Python: HealthChain's SandboxClient calls our patient-view service twice.

1. Its own synthetic request (its prefetch keys and shapes, a random patient id, no fhirServer).
2. A request for one of our patients with our allowlisted fhirServer, so the service fetches the record.
Prints the two parsed responses as JSON ({} is how SandboxClient reports a non-2xx answer).
"""

import json
import sys

from healthchain.models.hooks.patientview import PatientViewContext
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.sandbox import SandboxClient

url, fhir_server, patient_id = sys.argv[1:4]
client = SandboxClient(url=url, workflow="patient-view")
client.load_synthetic(n=1, random_seed=7)
client.requests.append(
    CDSRequest(
        hook="patient-view",
        context=PatientViewContext(userId="Practitioner/healthchain", patientId=patient_id),
        fhirServer=fhir_server,
    )
)
synthetic, ours = client.send_requests()
print(json.dumps({"synthetic": synthetic, "ours": ours}))  # noqa: T201 - the output
