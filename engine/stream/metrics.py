"""Prometheus metrics of ``clauseline consume --metrics-port``: lag, rate, what was decided."""

from __future__ import annotations


class ConsumeMetrics:
    """A registry of its own, served at http://HOST:PORT/metrics by prometheus-client."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.lag = Gauge("clauseline_consume_lag_messages", "Messages of the events stream not "
                         "yet delivered to this consumer (its lag)", registry=self.registry)
        self.seq = Gauge("clauseline_consume_stream_sequence", "The last stream sequence this "
                         "consumer applied and acknowledged", registry=self.registry)
        self.rate = Gauge("clauseline_consume_rate_messages_per_second", "Messages read per "
                          "second since the consumer started", registry=self.registry)
        self.messages = Counter("clauseline_consume_messages", "Messages read from the events "
                                "stream, by what this consumer did with them", ["action"],
                                registry=self.registry)
        self._seen = {"decided": 0, "shared_write": 0, "watermark": 0, "duplicate": 0,
                      "rejected": 0}
        start_http_server(port, addr=host, registry=self.registry)

    def update(self, c) -> None:
        self.lag.set(c.lag)
        self.seq.set(c.last_seq)
        self.rate.set(c.rate())
        for action, value in (("decided", c.evaluated), ("shared_write", c.shared),
                              ("watermark", c.watermarks),
                              ("duplicate", c.duplicates), ("rejected", c.rejected)):
            if value > self._seen[action]:
                self.messages.labels(action).inc(value - self._seen[action])
                self._seen[action] = value
