"""Foreign MQTT 5 client (paho-mqtt) speaking the CloudEvents MQTT binding as Courier does (src/async/mqtt/headers.ts).

publish HOST PORT TOPIC ID BODY  -- QoS 1 PUBLISH: attributes as user properties, Content Type property
consume HOST PORT TOPIC          -- subscribe, print the next message as JSON (prints "ready" first)
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main():
    mode, host, port, topic = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = mqtt.Client(protocol=mqtt.MQTTv5)
    done = threading.Event()
    if mode == "publish":
        msg_id, body = sys.argv[5], sys.argv[6]
        client.connect(host, port)
        client.loop_start()
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.UserProperty = [("specversion", "1.0"), ("id", msg_id), ("source", "/python/paho"), ("type", "foreign.Greeting")]
        info = client.publish(topic, body.encode(), qos=1, properties=props)
        info.wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        return

    def on_connect(c, userdata, flags, rc, properties=None):
        c.subscribe(topic, qos=1)

    def on_subscribe(c, userdata, mid, granted, properties=None):
        print("ready", flush=True)

    def on_message(c, userdata, msg):
        props = msg.properties
        user = dict(getattr(props, "UserProperty", []) or [])
        print(json.dumps({
            "qos": msg.qos,
            "content_type": getattr(props, "ContentType", None),
            "user_properties": user,
            "body": msg.payload.decode(),
        }), flush=True)
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()


main()
