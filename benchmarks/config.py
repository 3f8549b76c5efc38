"""Sizes of one benchmark run: the full run and the ``--smoke`` one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    chunks: int = 2000
    """Chunks per answer for the CPU measurement."""
    cpu_samples: int = 9
    """Answers per contender for the CPU measurement (after one warm-up answer)."""
    cpu_heavy_samples: int = 3
    """The same for the official plugin and the SDK (about 1 ms per chunk, 2 s per answer)."""
    paced_chunks: int = 500
    paced_samples: int = 5
    paced_heavy_samples: int = 2
    paced_delay: float = 0.001
    """The paced CPU measurement: one event per socket read, as from the live API."""
    ttft_calls: int = 200
    """Warm calls per contender for time to first chunk."""
    ttft_chunks: int = 5
    """Chunks per answer in the latency phases."""
    reuse_calls: int = 10
    """Warm calls per contender counting the connections the server accepted."""
    first_call_samples: int = 10
    """Fresh clients per contender for the first-call latency (with and without prewarm)."""
    cancel_samples: int = 20
    """Streams closed mid-answer per contender."""
    histories: tuple[int, ...] = (10, 100, 1000)
    """History lengths (items) for the ChatContext conversion."""
    conversion_budget: float = 0.4
    """Seconds spent timing each converter at each length."""
    concurrent_streams: int = 200
    concurrent_chunks: int = 25
    concurrent_delay: float = 0.02
    """Seconds between chunks, so every stream is open at the same time."""
    large_events_mib: tuple[int, ...] = (1, 4, 8)
    """Sizes of the single large event fed to the SSE decoder (8 MiB: the default cap)."""
    large_event_samples: int = 9
    smoke: bool = False


FULL = Config()
SMOKE = Config(
    chunks=50,
    cpu_samples=2,
    cpu_heavy_samples=1,
    paced_chunks=10,
    paced_samples=1,
    paced_heavy_samples=1,
    ttft_calls=10,
    ttft_chunks=3,
    reuse_calls=2,
    first_call_samples=1,
    cancel_samples=1,
    histories=(10,),
    conversion_budget=0.02,
    concurrent_streams=10,
    concurrent_chunks=5,
    concurrent_delay=0.002,
    large_events_mib=(1,),
    large_event_samples=1,
    smoke=True,
)
