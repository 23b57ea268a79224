"""Stay under a partner API's quota: 20 calls a second, bursts of 5.

Calls over the limit wait for their slot when that takes at most 0.2 s,
otherwise they fail at once with RateLimitedError and its retry_after.
Run: python docs/examples/rate_limiting.py
"""

import brace

search_quota = brace.RateLimiter("search", rate=20, per=1.0, burst=5, max_wait=0.2)


@search_quota
def search(query: str) -> str:
    return f"results for {query!r}"


if __name__ == "__main__":
    for n in range(8):  # the first 5 go at once, the rest 50 ms apart
        print(search(f"query {n}"))
    strict = brace.RateLimiter("strict", rate=1, per=60.0)  # 1 a minute, never wait
    strict.call(search, "first")
    try:
        strict.call(search, "second")
    except brace.RateLimitedError as exc:
        print(f"refused; retry after {exc.retry_after:.0f} s")
    print(search_quota.metrics())
