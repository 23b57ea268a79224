"""A bulkhead keeps a slow dependency from taking every worker thread.

Eight threads call a dependency that hangs for a while; the bulkhead lets
three in, queues two for up to 50 ms, and turns the rest away at once so
those threads stay free for other work. Run: python docs/examples/bulkhead.py
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import brace

inventory = brace.Bulkhead("inventory", max_concurrent=3, max_queue=2, max_wait=0.05)
release = threading.Event()


@inventory
def check_stock(sku: str) -> str:
    release.wait(0.2)  # the dependency is slow today
    return f"{sku}: in stock"


def attempt(sku: str) -> str:
    try:
        return check_stock(sku)
    except brace.BulkheadFullError:
        return f"{sku}: busy, try later"


if __name__ == "__main__":
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, [f"sku-{n}" for n in range(8)]))
    for line in results:
        print(line)
    print(inventory.metrics())
    if inventory.metrics().in_flight:
        raise SystemExit("a permit leaked")
