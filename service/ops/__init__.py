"""Operations: limits, metrics, logs, hot reload, and the batching query encoder."""
