"""Foreign AMQP 0-9-1 client (pika) speaking Courier's RabbitMQ layout (src/async/amqp/headers.ts).

publish URL TOPIC ID BODY  -- publish one CloudEvent to the topic exchange: ce_ headers, message id, content type
consume URL TOPIC          -- bind a private queue to the topic exchange, print the next message as JSON
                              (prints "ready" first, once bound)
"""
import json
import sys

import pika


def main():
    mode, url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.exchange_declare(topic, exchange_type="topic", durable=True)
    if mode == "publish":
        msg_id, body = sys.argv[4], sys.argv[5]
        ch.confirm_delivery()
        ch.basic_publish(
            exchange=topic,
            routing_key="py-key",
            body=body.encode(),
            properties=pika.BasicProperties(
                message_id=msg_id,
                content_type="application/json",
                delivery_mode=2,
                headers={"ce_specversion": "1.0", "ce_id": msg_id, "ce_source": "/python/pika", "ce_type": "foreign.Greeting"},
            ),
        )
    else:
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(queue, topic, "#")
        print("ready", flush=True)
        for method, props, body in ch.consume(queue, inactivity_timeout=10):
            ch.basic_ack(method.delivery_tag)
            print(json.dumps({
                "routing_key": method.routing_key,
                "message_id": props.message_id,
                "content_type": props.content_type,
                "delivery_mode": props.delivery_mode,
                "headers": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (props.headers or {}).items()},
                "body": body.decode(),
            }))
            break
    conn.close()


main()
