"""Sends events to a leadscore server with the official Segment Python SDK
(segment-analytics-python), as a backend job would.

Usage: python3 script.py URL WRITE_KEY PREFIX
  PREFIX-a: identify (CTO) + "Demo Requested";  PREFIX-b: identify (CTO);
  PREFIX-c: identify (Intern).
"""

import sys

import segment.analytics as analytics


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: python3 script.py URL WRITE_KEY PREFIX", file=sys.stderr)
        return 2
    url, write_key, prefix = sys.argv[1:]
    failures = []
    analytics.write_key = write_key
    analytics.host = url
    analytics.max_retries = 3
    analytics.on_error = lambda error, batch: failures.append(error)

    analytics.identify(f"{prefix}-a", {"job_title": "CTO", "email": "a@acme.example"})
    analytics.identify(f"{prefix}-b", {"job_title": "CTO", "email": "b@acme.example"})
    analytics.identify(f"{prefix}-c", {"job_title": "Intern", "email": "c@acme.example"})
    analytics.track(f"{prefix}-a", "Demo Requested", {"source": "python"})

    analytics.flush()
    analytics.shutdown()
    if failures:
        print(f"segment python client failed: {failures}", file=sys.stderr)
        return 1
    print("sent with segment-analytics-python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
