/**
 * `courier/mqtt`: the MQTT 5 broker adapter. Needs the optional peer dependency `mqtt` (mqtt.js 5.x).
 */
export { mqttBroker, MqttBroker } from './mqtt-broker.js';
export type { MqttBrokerOptions } from './options.js';
export { mqttFeatures } from './features.js';
export { toPublishProperties, fromPublishProperties, ID_PROPERTY, KEY_PROPERTY, ATTEMPT_PROPERTY } from './headers.js';
