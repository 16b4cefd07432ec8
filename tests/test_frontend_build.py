"""The page's production bundle: built once (the devnet fixture or this test), measured gzipped."""

import gzip

BUDGET_GZIP = 250 * 1024


def _build():
    from scripts.devnet.page import build_frontend

    return build_frontend()


def test_bundle_is_under_250_kb_gzipped():
    dist = _build()
    files = [p for p in dist.rglob("*") if p.is_file() and p.suffix in {".js", ".css", ".html"}]
    sizes = {str(p.relative_to(dist)): len(gzip.compress(p.read_bytes(), 9)) for p in files}
    total = sum(sizes.values())
    print(
        f"\nbundle (gzip -9): {total / 1024:.1f} kB total; "
        + ", ".join(f"{k} {v / 1024:.1f} kB" for k, v in sizes.items())
    )
    assert total <= BUDGET_GZIP, f"bundle is {total / 1024:.1f} kB gzipped, budget 250 kB"
