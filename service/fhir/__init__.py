"""FHIR at the edges: notification parsing, the FHIR REST client, write-back."""
