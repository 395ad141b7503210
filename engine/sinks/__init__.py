"""Sinks: consumers of band events that produce the outputs of a run (PDF, HTML, JSON, ...)."""

from engine.sinks.base import AtomicFile, Sink, write_atomically

__all__ = ("AtomicFile", "Sink", "write_atomically")
