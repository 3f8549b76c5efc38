"""A small MCP server for tests and examples, spoken to over stdio:
``python tests/mcp_servers/travel.py``.

Two tools with deterministic answers. ``get_forecast`` takes a plain string; ``plan_trip``
takes a pydantic model holding a nested model and defaulted fields, so its input schema has
``$defs``/``$ref``, ``default`` and ``title`` keys, as real MCP servers' schemas do.
"""

from __future__ import annotations

from typing import Literal

from mcp.server import MCPServer
from pydantic import BaseModel, Field

FORECASTS = {"paris": "sunny, 21 degrees", "lyon": "cloudy, 17 degrees"}

mcp = MCPServer("travel")


class Traveller(BaseModel):
    name: str = Field(description="The traveller's first name.")
    age: int | None = Field(default=None, description="Age in years, when known.")


class Trip(BaseModel):
    destination: str = Field(description="The city to visit.")
    traveller: Traveller
    nights: int = Field(default=2, ge=1, le=30, description="How many nights to stay.")
    transport: Literal["train", "plane", "car"] = "train"


@mcp.tool()
def get_forecast(city: str) -> str:
    """Tomorrow's weather forecast for a city."""
    return f"Forecast for {city}: {FORECASTS.get(city.lower(), 'clear, 20 degrees')}"


@mcp.tool()
def plan_trip(trip: Trip) -> str:
    """Plan a trip and return a one-line itinerary."""
    return (
        f"{trip.traveller.name} goes to {trip.destination} by {trip.transport} "
        f"for {trip.nights} nights"
    )


if __name__ == "__main__":
    mcp.run("stdio")
