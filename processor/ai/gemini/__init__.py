"""Gemini through the Google Gen AI SDK: the client (`client.py`), metadata and transcription.

Importing this package imports nothing: take each piece from its module.
"""
