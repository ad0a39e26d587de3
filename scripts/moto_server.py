"""moto's server with DynamoDB transactions made isolated and their rollback faithful.

Two faults of moto 5.2.5's TransactWriteItems, both found by this project's tests:

* Isolation. moto's server handles requests on threads, and a transaction checks
  conditions and writes item by item; a canceled one rolls back by restoring a copy of
  each whole table taken when it began, which also undoes what other requests wrote
  meanwhile. DynamoDB isolates transactions (serializable against other writes to the
  same items). Holding one lock across every DynamoDB operation gives moto that
  isolation; the cost is throughput, which local runs do not need. The copy of whole
  tables goes too: it made every transaction as slow as the tables are large.
* Streams. That rollback replaces the table object itself, and with it the table's
  stream shard: every shard iterator already handed out keeps reading the old shard
  and never sees another record. Here a canceled transaction restores the items it named
  into the same table object and drops the stream records its own writes appended, which
  DynamoDB would never have emitted.

Usage: python moto_server.py -H 127.0.0.1 -p PORT (the same options as moto_server).
"""

import copy
import functools
import threading

import moto.dynamodb.models as _models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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


class _NoTableCopies:
    """moto's `copy` as its DynamoDB backend sees it, except that a whole table is not
    copied: moto backs up every table a transaction touches, which makes each transaction
    cost as much as the tables are large (quadratic over a long run). The rollback below
    saves just the items the transaction names."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_models.copy = _NoTableCopies


def _key(table, op_type, op):
    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = (
            DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        )
    except (KeyError, TypeError):
        return None  # moto's own validation rejects the operation
    return hash_value, range_value


def _rollback_in_place(method):
    @functools.wraps(method)
    def wrapper(self, transact_items, *args, **kwargs):
        saved = []
        streams = {}
        for entry in transact_items:
            for op_type, op in entry.items():
                table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                key = _key(table, op_type, op) if table is not None else None
                if key is None:
                    continue
                saved.append((table, key, copy.deepcopy(table.get_item(*key))))
                if table.stream_shard is not None and id(table) not in streams:
                    streams[id(table)] = (table, len(table.stream_shard.items))
        try:
            return method(self, transact_items, *args, **kwargs)
        except Exception:
            for table, (hash_value, range_value), prior in reversed(saved):
                if range_value is None:
                    if prior is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = prior
                elif prior is None:
                    table.items.get(hash_value, {}).pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = prior
            for table, streamed in streams.values():
                del table.stream_shard.items[streamed:]
            raise

    return wrapper


DynamoDBBackend.transact_write_items = _rollback_in_place(DynamoDBBackend.transact_write_items)

for _name in _OPERATIONS:
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
