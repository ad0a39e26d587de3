"""moto's server with DynamoDB requests serialized.

moto's server handles requests on threads, and its TransactWriteItems is not isolated:
it checks conditions and writes item by item, and a canceled transaction rolls back by
restoring a copy of each whole table taken when it began, which also undoes what other
requests wrote meanwhile. DynamoDB itself isolates transactions (serializable against
other writes to the same items). Holding one lock across every DynamoDB operation gives
moto that isolation; the cost is throughput, which local tests do not need.

Usage: python moto_server.py -H 127.0.0.1 -p PORT (the same options as moto_server).
"""

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


for _name in _OPERATIONS:
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
