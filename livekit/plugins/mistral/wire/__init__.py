"""Wire layer: HTTP to Mistral and Server-Sent Events decoding."""
