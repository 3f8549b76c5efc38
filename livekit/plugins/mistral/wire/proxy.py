"""Which HTTP proxy the plugin's own session uses to reach Mistral.

Decisions:
- Inside a LiveKit job, the proxy the worker hands its jobs (``http_proxy`` in the worker
  options, which LiveKit itself defaults to ``HTTPS_PROXY`` / ``HTTP_PROXY``), so Mistral is
  reached the way LiveKit's own HTTP is.
- Otherwise the environment's proxy for ``base_url``'s scheme: ``HTTPS_PROXY`` or
  ``HTTP_PROXY``, either case, as the mistralai SDK and LiveKit's openai plugin do.
- A host that ``NO_PROXY`` lists is reached directly in both cases: it names hosts the network
  owner wants reached without a proxy, wherever the proxy setting came from.
- Resolved once per session, not per request: aiohttp's ``trust_env`` looks the environment
  up in a worker thread on every request and also reads ``~/.netrc``, whose credentials make
  aiohttp refuse a request that carries the plugin's bearer token.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from livekit.agents import get_job_context


def proxy_for(base_url: str) -> str | None:
    """The proxy URL to reach ``base_url`` through, or ``None`` to connect directly."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    if urllib.request.proxy_bypass(host):
        return None
    return worker_proxy() or urllib.request.getproxies().get(parts.scheme) or None


def worker_proxy() -> str | None:
    """The LiveKit worker's proxy for the job running this task, if any."""
    job = get_job_context(required=False)
    return job.proc.http_proxy if job is not None else None
