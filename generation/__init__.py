"""Generation: LLM backends behind one Generator protocol, prompts, grounded answers."""
from generation.base import Completion, Generator, Message, Usage
from generation.factory import get_generator

__all__ = ["Completion", "Generator", "Message", "Usage", "get_generator"]
