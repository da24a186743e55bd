"""Running and watching the service: the `toh-cds run` supervisor, the embedded Redis, readiness."""
