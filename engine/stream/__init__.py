"""Scaling out over NATS JetStream: events partitioned by subject, one consumer per set of
partitions, one store per partition (docs/scale.md).

- :mod:`.partitioning`: which partition owns an event and which evaluate it;
- :mod:`.publish`: ``clauseline publish``, a log into the stream;
- :mod:`.consume`: ``clauseline consume``, the durable consumer;
- :mod:`.stores`: the partition stores; :mod:`.merge`: their decisions read back as one.

Importing this package imports no NATS client: the commands do, when they run.
"""

from .partitioning import Route, Router, partition_of

__all__ = ["Route", "Router", "partition_of"]
