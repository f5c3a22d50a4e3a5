"""How much each sentence restates what the whole corpus is about, computed once at build time."""

from __future__ import annotations

import numpy as np


def centrality(vectors: np.ndarray, block: int = 65536) -> np.ndarray:
    """Each unit vector's cosine to the normalised mean of all, minus the mean of those cosines.

    A sentence that restates what the whole corpus is about ("The departure of Jerry Tworek marks
    the end of an era") sits near every question on that subject without answering any: its
    similarity is partly shared with every sentence, the "common direction" of an embedding space
    (Mu and Viswanath, *All-but-the-Top*, 2018). Read in blocks: ``vectors`` may be memory-mapped.
    """
    n = len(vectors)
    if not n:
        return np.zeros(0, dtype=np.float32)
    total = np.zeros(vectors.shape[1], dtype=np.float64)
    for at in range(0, n, block):
        total += np.asarray(vectors[at : at + block], dtype=np.float32).sum(axis=0)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return np.zeros(n, dtype=np.float32)
    mean = (total / norm).astype(np.float32)
    out = np.concatenate(
        [np.asarray(vectors[at : at + block], dtype=np.float32) @ mean for at in range(0, n, block)]
    )
    return (out - out.mean()).astype(np.float32)
