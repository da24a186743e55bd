"""What every part of the service uses: errors, logging, metrics, middleware, rate limits, outbound HTTP."""
