"""CDS Hooks 2.0: card rendering (and, with the CDS Hooks issue, the service itself)."""
