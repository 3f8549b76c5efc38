"""Model ids known to work with this plugin; any other string is passed through as-is."""

from typing import Literal

ChatModels = Literal[
    "mistral-large-latest",
    "mistral-medium-latest",
    "mistral-small-latest",
    "magistral-medium-latest",
    "magistral-small-latest",
    "ministral-14b-latest",
    "ministral-8b-latest",
    "ministral-3b-latest",
    "open-mistral-nemo",
    "codestral-latest",
    "pixtral-large-latest",
]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]

Mode = Literal["normal", "agent"]

AgentInstructions = Literal["inline", "ignore"]

ServiceTier = Literal["auto", "standard_only"]

PromptMode = Literal["reasoning"]

AudioInput = Literal["transcript", "audio"]
ToolMismatchPolicy = Literal["warn", "raise", "ignore"]
