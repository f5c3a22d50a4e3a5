"""Question answering: retrieval, fusion, sentence evidence, collapsing repeats, the answer."""
