"""Models: build from a spec or Python, summarize, draw."""

from brickwork.models.build import Graph, Sequential, build_model
from brickwork.models.model import BrickModel
from brickwork.models.summary import print_summary, summary

__all__ = ["BrickModel", "Graph", "Sequential", "build_model", "print_summary", "summary"]
