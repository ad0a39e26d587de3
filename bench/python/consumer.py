"""The Python side of the cold-start benchmark: an event consumer written the way a
Powertools user writes one, with boto3 clients for DynamoDB and EventBridge created at
module init, behind a minimal Lambda Runtime API loop (standard library urllib only).

Each invocation claims an idempotency record (a conditional PutItem), as the Rust
consumers do; against the benchmark's unused endpoint that call fails at once and the
invocation reports a function error, like the Rust functions' invocations do.
"""

import json
import os
import urllib.request

import boto3

dynamodb = boto3.client("dynamodb")
events = boto3.client("events")
TABLE = os.environ.get("IDEMPOTENCY_TABLE", "idempotency")
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"


def handler(event):
    event_id = (event.get("id") or "none") if isinstance(event, dict) else "none"
    dynamodb.put_item(
        TableName=TABLE,
        Item={"id": {"S": "python-consumer#" + event_id}, "status": {"S": "INPROGRESS"}},
        ConditionExpression="attribute_not_exists(id)",
    )
    return {"ok": True}


def post(path, body):
    req = urllib.request.Request(
        API + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req).read()


def main():
    while True:
        with urllib.request.urlopen(API + "/next") as resp:
            request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(resp.read() or b"null")
        try:
            result = handler(event)
        except Exception as e:  # noqa: BLE001 - every failure is reported to the runtime
            post(
                "/" + request_id + "/error",
                {"errorMessage": str(e), "errorType": type(e).__name__},
            )
        else:
            post("/" + request_id + "/response", result)


if __name__ == "__main__":
    main()
