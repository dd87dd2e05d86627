"""Foreign Redis client (redis-py) speaking Courier's stream entry layout (src/async/redis/headers.ts).

publish URL TOPIC ID BODY  -- XADD one CloudEvent: id, h:<header> fields, body
consume URL TOPIC GROUP    -- read one entry as a consumer group member, XACK it, print it as JSON
"""
import json
import sys

import redis


def main():
    mode, url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    r = redis.Redis.from_url(url)
    if mode == "publish":
        msg_id, body = sys.argv[4], sys.argv[5]
        r.xadd(topic, {
            "id": msg_id,
            "h:ce-specversion": "1.0",
            "h:ce-id": msg_id,
            "h:ce-source": "/python/redis",
            "h:ce-type": "foreign.Greeting",
            "h:content-type": "application/json",
            "body": body.encode(),
        })
    else:
        group = sys.argv[4]
        reply = r.xreadgroup(group, "python", {topic: ">"}, count=1, block=10000)
        entry_id, fields = reply[0][1][0]
        r.xack(topic, group, entry_id)
        decoded = {k.decode(): v.decode() for k, v in fields.items()}
        print(json.dumps(decoded))


main()
