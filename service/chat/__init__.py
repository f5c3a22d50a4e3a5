"""OpenAI-compatible chat: conversation handling, extractive and generated answers."""
