window.BENCHMARK_DATA = {
  "lastUpdate": 1700100000000,
  "repoUrl": "https://github.com/acme/lib",
  "entries": {
    "Python Benchmark": [
      {"commit": {"id": "a1", "message": "one", "timestamp": "2023-11-01T00:00:00Z"}, "date": 1698796800000, "tool": "pytest",
       "benches": [{"name": "test_parse[small]", "value": 1000.5, "unit": "iter/sec", "range": "stddev: 1"}]},
      {"commit": {"id": "b2", "message": "two", "timestamp": "2023-11-02T00:00:00Z"}, "date": 1698883200000, "tool": "pytest",
       "benches": [{"name": "test_parse[small]", "value": 1010.0, "unit": "iter/sec"}]}
    ]
  }
}
