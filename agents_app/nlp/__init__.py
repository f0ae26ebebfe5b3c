"""The NLP agent (see agent.py) and what it returns."""

from agents_app.nlp.agent import NlpAgent
from agents_app.nlp.result import Entity, NlpResult

__all__ = ["Entity", "NlpAgent", "NlpResult"]
