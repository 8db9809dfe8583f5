"""Fake vendor model APIs only the tests use (Anthropic, Gemini, Ollama), and a stand-in
``claude`` CLI. The fakes the offline demo needs too (OpenAI, GitHub) and what every fake
shares (``FakeServer``, the scripted turns) live in ``coffee_maker.fakes``."""
