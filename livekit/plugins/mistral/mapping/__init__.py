"""Pure translations between LiveKit objects and Mistral request and response JSON."""
