export { courier, CourierNode, type CourierOptions } from './courier.js';
export { inprocClient, NotImplementedError, Registry, type InprocClientOptions } from './inproc-client.js';
