/**
 * Foreign clients (Python: redis-py, pika, paho-mqtt) against Courier's adapters, both ways: a CloudEvent a
 * Python producer writes in the broker's native layout is decoded and handled by Courier's consumer
 * pipeline, and a Courier message is read by a plain Python consumer with its attributes where the broker's
 * CloudEvents binding puts them. Needs the brokers and `python3-redis python3-pika python3-paho-mqtt`
 * (scripts/brokers.sh install); COURIER_PYTHON picks the interpreter (default /usr/bin/python3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/async/broker.js';
import { amqpBroker } from '../../src/async/amqp/index.js';
import { mqttBroker } from '../../src/async/mqtt/index.js';
import { consume } from '../../src/async/pipeline/consume.js';
import { redisBroker } from '../../src/async/redis/index.js';
import { createEnvelope, encodeEnvelope, type Envelope } from '../../src/core/envelope.js';
import { brokerTarget, unique } from './support/env.js';
import { bytes, until } from './support/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.COURIER_PYTHON ?? '/usr/bin/python3';
const modules = spawnSync(python, ['-c', 'import redis, pika, paho.mqtt'], { encoding: 'utf8' });
const pythonReady = modules.status === 0;
if (!pythonReady) {
  const message = `${python} lacks redis/pika/paho-mqtt (scripts/brokers.sh install): ${modules.stderr || modules.error?.message || ''}`;
  if (process.env.CI === 'true') throw new Error(`CI: ${message}`);
  console.warn(`skipping foreign-client tests: ${message}`);
}
const [redisTarget, rabbitTarget, mqttTarget] = await Promise.all([brokerTarget('redis'), brokerTarget('rabbitmq'), brokerTarget('mosquitto')]);

/** Run a client script to completion; its stdout. */
function runPython(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(here, 'foreign', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}: ${err}`))));
  });
}

/** Start a consuming client script; resolves when it printed "ready", with a promise of its JSON line. */
async function startPythonConsumer(script: string, args: string[]): Promise<{ received: Promise<Record<string, unknown>> }> {
  const child = spawn(python, [join(here, 'foreign', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line) as Record<string, unknown>);
      else reject(new Error(`${script} exited ${code} without a message: ${err}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('close', () => reject(new Error(`${script} ended before ready: ${err}`)));
  });
  return { received: result }; // wrapped: an async function returning a promise would wait for it
}

/** Subscribe Courier's pipeline to `topic` and collect what its handler gets. */
async function handled(broker: Broker, topic: string) {
  const got: Array<{ payload: unknown; envelope: Envelope }> = [];
  const consumer = await consume(broker, topic, { group: 'courier', handler: async (payload, _ctx, consumed) => void got.push({ payload, envelope: consumed.envelope }) });
  return { got, consumer };
}

function courierMessage(id: string) {
  const envelope = createEnvelope({ id, type: 'courier.Greeting', source: '/courier', datacontenttype: 'application/json' });
  return { envelope, headers: encodeEnvelope(envelope) };
}

describe.skipIf(!pythonReady || !redisTarget.available)('redis-py ↔ Courier', () => {
  it('a message redis-py XADDs is handled by a Courier consumer', async () => {
    const broker = redisBroker({ url: redisTarget.url });
    const topic = unique('py-redis');
    const { got, consumer } = await handled(broker, topic);
    await runPython('redis_client.py', ['publish', redisTarget.url, topic, 'py-1', '{"hello":"from python"}']);
    await until(() => got.length === 1, 'the foreign message handled');
    expect(got[0]!.payload).toEqual({ hello: 'from python' });
    expect(got[0]!.envelope).toMatchObject({ id: 'py-1', type: 'foreign.Greeting', source: '/python/redis', datacontenttype: 'application/json' });
    await consumer.close();
    await broker.close();
  });

  it('a Courier message is read by a redis-py consumer group member', async () => {
    const broker = redisBroker({ url: redisTarget.url });
    const topic = unique('py-redis');
    await broker.seek(topic, 'py', { from: 'latest' }); // creates the group
    const { headers } = courierMessage('c-1');
    await broker.publish(topic, { id: 'c-1', key: 'k', headers, body: bytes('{"hello":"from courier"}') });
    const entry = JSON.parse(await runPython('redis_client.py', ['consume', redisTarget.url, topic, 'py'])) as Record<string, string>;
    expect(entry).toMatchObject({ id: 'c-1', key: 'k', 'h:ce-type': 'courier.Greeting', 'h:ce-source': '/courier', 'h:content-type': 'application/json', body: '{"hello":"from courier"}' });
    await broker.close();
  });
});

describe.skipIf(!pythonReady || !rabbitTarget.available)('pika ↔ Courier', () => {
  it('a message pika publishes to the topic exchange is handled by a Courier consumer', async () => {
    const broker = amqpBroker({ url: rabbitTarget.url });
    const topic = unique('py-amqp');
    const { got, consumer } = await handled(broker, topic);
    await runPython('amqp_client.py', ['publish', rabbitTarget.url, topic, 'py-2', '{"hello":"from pika"}']);
    await until(() => got.length === 1, 'the foreign message handled');
    expect(got[0]!.payload).toEqual({ hello: 'from pika' });
    expect(got[0]!.envelope).toMatchObject({ id: 'py-2', type: 'foreign.Greeting', source: '/python/pika', datacontenttype: 'application/json' });
    await consumer.close();
    await broker.close();
  });

  it('a Courier message is read by a pika consumer with ce_ headers and AMQP properties', async () => {
    const broker = amqpBroker({ url: rabbitTarget.url });
    const topic = unique('py-amqp');
    await broker.publish(topic, { id: 'warm-up', headers: {}, body: bytes('') }); // declares the exchange
    const { received } = await startPythonConsumer('amqp_client.py', ['consume', rabbitTarget.url, topic]);
    const { headers } = courierMessage('c-2');
    await broker.publish(topic, { id: 'c-2', key: 'k2', headers, body: bytes('{"hello":"from courier"}') });
    const m = await received;
    expect(m).toMatchObject({ routing_key: 'k2', message_id: 'c-2', content_type: 'application/json', delivery_mode: 2, body: '{"hello":"from courier"}' });
    expect(m.headers).toMatchObject({ ce_id: 'c-2', ce_type: 'courier.Greeting', ce_source: '/courier', ce_specversion: '1.0' });
    await broker.close();
  });
});

describe.skipIf(!pythonReady || !mqttTarget.available)('paho-mqtt ↔ Courier', () => {
  it('a message paho publishes (MQTT 5 user properties) is handled by a Courier consumer', async () => {
    const broker = mqttBroker({ url: mqttTarget.url, sessionExpirySeconds: 60 });
    const topic = unique('py-mqtt');
    const { got, consumer } = await handled(broker, topic);
    await runPython('mqtt_client.py', ['publish', mqttTarget.host, String(mqttTarget.port), topic, 'py-3', '{"hello":"from paho"}']);
    await until(() => got.length === 1, 'the foreign message handled');
    expect(got[0]!.payload).toEqual({ hello: 'from paho' });
    expect(got[0]!.envelope).toMatchObject({ id: 'py-3', type: 'foreign.Greeting', source: '/python/paho', datacontenttype: 'application/json' });
    await consumer.close();
    await broker.close();
  });

  it('a Courier message is read by a paho subscriber with attributes as user properties', async () => {
    const broker = mqttBroker({ url: mqttTarget.url });
    const topic = unique('py-mqtt');
    const { received } = await startPythonConsumer('mqtt_client.py', ['consume', mqttTarget.host, String(mqttTarget.port), topic]);
    const { headers } = courierMessage('c-3');
    await broker.publish(topic, { id: 'c-3', headers, body: bytes('{"hello":"from courier"}') });
    const m = await received;
    expect(m).toMatchObject({ qos: 1, content_type: 'application/json', body: '{"hello":"from courier"}' });
    expect(m.user_properties).toMatchObject({ id: 'c-3', type: 'courier.Greeting', source: '/courier', specversion: '1.0' });
    await broker.close();
  });
});
