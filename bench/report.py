"""`make bench`'s chart and printed table, from the result it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    labels, values = ["encode (ref)"], [result["reference_encode_ms_p50"]]
    for name, r in result["indexes"].items():
        labels += [f"{name} in-proc", f"{name} HTTP"]
        values += [r["inprocess_ms"]["p50"], r["http_ms"]["p50"]]
    a.bar(labels, values, color=["#888"] + ["#2457c5", "#6b8fe0"] * len(result["indexes"]))
    a.set_ylabel("p50 latency (ms)")
    a.set_title("Query latency at concurrency 1")
    a.tick_params(axis="x", rotation=30)
    for name, r in result["indexes"].items():
        cs = [1, 4, 8, 16]
        b.plot(cs, [r["load"][f"c{c}"]["qps"] for c in cs], marker="o", label=name)
    b.set_xlabel("concurrent clients")
    b.set_ylabel("queries / s")
    b.set_title("HTTP throughput")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(r: dict[str, Any]) -> None:
    out = [
        "reference: sentence-transformers encode of one question, p50 "
        f"{r['reference_encode_ms_p50']} ms (lower of {r['reference_encode_ms_p50_start_end']}, "
        "measured at the start and after the servers; the in-process ratios below are to the encode "
        "measured in turns with each index's settings)",
        f"raw batch encoding: {r['raw_encode_passages_per_s']} passages/s (float32); the "
        f"indexer encodes in {r['build_precision']}: "
        f"{r['raw_encode_passages_per_s_build_precision']} passages/s",
        f"server: {r['indexes']['seed']['server_processes']} processes (supervisor and workers); "
        "memory is their summed peak RSS",
        "",
    ]
    out.append(
        f"{'index':<10}{'passages':>9}{'in-proc p50/p95/p99 ms':>26}{'reranker off':>22}"
        f"{'HTTP p50/p95/p99 ms':>24}{'build p/s':>11}{'server MiB':>11}{'indexer MiB':>12}"
    )
    for name, x in r["indexes"].items():
        ip, off, h = x["inprocess_ms"], x["inprocess_ms_reranker_off"], x["http_ms"]
        out.append(
            f"{name:<10}{x['passages']:>9}{ip['p50']:>10}/{ip['p95']}/{ip['p99']:<8}"
            f"{off['p50']:>10}/{off['p95']}/{off['p99']:<8}"
            f"{h['p50']:>10}/{h['p95']}/{h['p99']:<8}{x['build_passages_per_s']:>11}"
            f"{x['server_peak_rss_mib']:>11}{x['indexer_peak_rss_mib']!s:>12}"
        )
    out.append("")
    for name, x in r["indexes"].items():
        cells = "  ".join(
            f"c{c}: {x['load'][f'c{c}']['qps']} q/s p95 {x['load'][f'c{c}']['p95_ms']} ms "
            f"({x['load'][f'c{c}']['errors']} errors)"
            for c in (1, 4, 8, 16)
        )
        out.append(f"throughput {name}: {cells}")
        if "load_reranker_off" in x:
            cells = "  ".join(
                f"c{c}: {x['load_reranker_off'][f'c{c}']['qps']} q/s p95 "
                f"{x['load_reranker_off'][f'c{c}']['p95_ms']} ms"
                for c in (1, 4, 8, 16)
            )
            out.append(f"throughput {name}, reranker off: {cells}")
    threads = dict(r.get("reranker_threads", {}))
    encode = threads.pop("reference_encode_ms_p50", None)
    for config, t in threads.items():
        out.append(
            f"news in-process with the cross-encoder on {config}: p50 {t['p50']} ms "
            f"({t.get('over_encode_p50')}x the encode of {encode} ms taking turns with them)"
        )
    m = r["million"]
    out += [
        "",
        f"{m['passages']:,} synthetic passages ({m['index_type']}, nprobe {m['nprobe']}): recall@10 "
        f"{m['recall_at_10']} vs exact, search p50 {m['search_ms']['p50']} ms, build "
        f"{m['build_seconds']} s, vector index {m['vector_index_mib']} MiB, metadata lookup p50 "
        f"{m['metadata_lookup_ms_p50']} ms",
        "",
    ]
    ratio = r["ratios"]
    out.append(
        f"HTTP p50 / reference encode p50 (ONNX INT8):       {ratio['http_p50_over_encode_p50']}"
    )
    out.append(
        f"HTTP p50 / reference encode p50 (PyTorch encoder): "
        f"{ratio['http_p50_torch_encoder_over_encode_p50']}"
    )
    out.append(f"c8 QPS / c1 QPS:                                   {ratio['c8_qps_over_c1_qps']}")
    for key, value in ratio.items():
        if key.startswith("inprocess_p50_over_encode_p50_"):
            label = key.removeprefix("inprocess_p50_over_encode_p50_").replace("_", " ")
            encode = r["indexes"][label.split()[0]]["reference_encode_ms_p50"]
            out.append(f"in-process p50 / reference encode p50 ({encode} ms), {label}: {value}")
    out.append(
        f"build passages/s / raw encode passages/s:          {ratio['build_over_raw_encode']}"
    )
    print("\n".join(out))  # noqa: T201 - this is the report
