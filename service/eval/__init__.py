"""Evaluation: question files and BEIR-format datasets, scored through the full pipeline."""
