"""moto's server with DynamoDB transactions made isolated and their rollback faithful.

Two faults of moto 5.2.5's TransactWriteItems, both found by this project's tests:

* Isolation. moto's server handles requests on threads, and a transaction checks
  conditions and writes item by item; a canceled one rolls back by restoring a copy of
  each whole table taken when it began, which also undoes what other requests wrote
  meanwhile. DynamoDB isolates transactions (serializable against other writes to the
  same items). Holding one lock across every DynamoDB operation gives moto that
  isolation; the cost is throughput, which local runs do not need.
* Streams. That rollback replaces the table object itself, and with it the table's
  stream shard: every shard iterator already handed out keeps reading the old shard
  and never sees another record. Here a canceled transaction restores the items into
  the same table object and drops the stream records its own writes appended, which
  DynamoDB would never have emitted.

Usage: python moto_server.py -H 127.0.0.1 -p PORT (the same options as moto_server).
"""

import copy
import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()

_OPERATIONS = [
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "transact_write_items",
    "transact_get_items",
    "batch_write_item",
    "batch_get_item",
    "query",
    "scan",
]


def _serialized(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


def _rollback_in_place(method):
    @functools.wraps(method)
    def wrapper(self, transact_items, *args, **kwargs):
        names = set()
        for item in transact_items:
            for op in item.values():
                if isinstance(op, dict) and op.get("TableName") in self.tables:
                    names.add(op["TableName"])
        tables = {name: self.tables[name] for name in names}
        saved = {
            name: (
                copy.deepcopy(table.items),
                len(table.stream_shard.items) if table.stream_shard is not None else None,
            )
            for name, table in tables.items()
        }
        try:
            return method(self, transact_items, *args, **kwargs)
        except Exception:
            for name, table in tables.items():
                items, streamed = saved[name]
                table.items = items
                if streamed is not None and table.stream_shard is not None:
                    del table.stream_shard.items[streamed:]
                self.tables[name] = table
            raise

    return wrapper


DynamoDBBackend.transact_write_items = _rollback_in_place(DynamoDBBackend.transact_write_items)

for _name in _OPERATIONS:
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
