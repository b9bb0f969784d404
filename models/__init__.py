"""Offline path of scenario-serve: catalog, prepare, export, quantize, evaluate, store."""
